package executors

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// createBody is the exact configuration the container is created with.
// Secret values go in the request body over the Docker API stream (an
// SSH channel): never on a command line, never in a file. history is
// what ran before (see nextHistory); it and the run's ID and time go in
// labels.
func (s *containerSpec) createBody(history []Deployment, now time.Time) createBody {
	env := make([]string, 0, len(s.Env))
	for _, k := range sortedKeys(s.Env) {
		v := s.Env[k]
		if sv, ok := s.secretVals[k]; ok {
			v = sv
		}
		env = append(env, k+"="+v)
	}
	extra := []string{LabelSpecHash, s.hash, LabelDeployed, now.UTC().Format(time.RFC3339)}
	if s.run != "" {
		extra = append(extra, LabelRun, s.run)
	}
	if h := EncodeHistory(history); h != "" {
		extra = append(extra, LabelHistory, h)
	}
	labels := ownLabels(s.res.Name, s.Labels, extra...)
	b := createBody{ContainerConfig: ContainerConfig{
		Image:       s.Image,
		Env:         env,
		Labels:      labels,
		User:        s.User,
		WorkingDir:  s.WorkingDir,
		Hostname:    s.Hostname,
		Healthcheck: s.Healthcheck,
	}}
	if s.HasCommand {
		b.Cmd = nonNil(s.Command)
	}
	if s.HasEntrypoint {
		b.Entrypoint = s.Entrypoint
		if len(b.Entrypoint) == 0 {
			// What `docker run --entrypoint=` sends: no entrypoint at all,
			// not the image's (an empty list would mean "the image's").
			b.Entrypoint = []string{""}
		}
	}
	b.HostConfig.RestartPolicy = restartPolicy(s.RestartPolicy)
	b.HostConfig.Binds = s.Volumes
	b.HostConfig.NetworkMode = "bridge"
	if len(s.Networks) > 0 {
		first := s.Networks[0]
		b.HostConfig.NetworkMode = first
		if a := s.Aliases[first]; len(a) > 0 {
			b.NetworkingConfig = &struct {
				EndpointsConfig map[string]*EndpointSettings `json:"EndpointsConfig"`
			}{EndpointsConfig: map[string]*EndpointSettings{first: {Aliases: a}}}
		}
	}
	if len(s.Ports) > 0 {
		b.ExposedPorts = map[string]struct{}{}
		b.HostConfig.PortBindings = map[string][]PortBinding{}
		for _, p := range s.Ports {
			ip, host, ctr := splitPort(p)
			b.ExposedPorts[ctr] = struct{}{}
			b.HostConfig.PortBindings[ctr] = append(b.HostConfig.PortBindings[ctr], PortBinding{HostIP: ip, HostPort: host})
		}
	}
	return b
}

// Apply carries the step out through the engine API. A recreate builds the
// new container under a temporary name first (so a configuration the
// engine refuses leaves the old one running), then stops and removes the
// old one, renames the new one and starts it. Each state an interruption
// can leave is repaired by the next push: a leftover temporary container
// is removed, a missing container is created, a stopped one is started.
func (s *containerSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	api := newDockerAPI(h)
	defer api.Close()
	o := st.obs
	c := o.Containers[s.Name]
	if lo, loID := s.leftoverID(o); lo != "" {
		if err := api.RemoveContainer(ctx, loID); err != nil {
			return Outcome{}, fmt.Errorf("remove leftover %s: %w", lo, err)
		}
	}
	switch st.Action {
	case ActionNone:
		return Outcome{}, nil
	case ActionCleanup:
		// Only the leftover was wrong; the container itself is kept.
		return Outcome{Changed: true}, nil
	case ActionRemove:
		if s.State != "absent" {
			return Outcome{}, fmt.Errorf("docker_container %s: remove planned but state is %s (refusing)", s.Name, s.State)
		}
		if c != nil {
			if err := api.StopContainer(ctx, c.ID); err != nil {
				return Outcome{}, err
			}
			if err := api.RemoveContainer(ctx, c.ID); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{Changed: true}, nil
	case ActionStart:
		return Outcome{Changed: true}, s.start(ctx, api, c.ID)
	case ActionStop:
		return Outcome{Changed: true}, api.StopContainer(ctx, c.ID)
	case ActionCreate, ActionRecreate:
		var imageID string
		if img := o.Images[s.Image]; img != nil {
			imageID = img.ID
		} else {
			id, err := pullImage(ctx, h, s.Image)
			if err != nil {
				return Outcome{}, err
			}
			imageID = id
		}
		if err := ensureNetworks(ctx, api, s.Networks); err != nil {
			return Outcome{}, err
		}
		name := s.Name
		if c != nil {
			name = s.Name + tempSuffix
		}
		createdID, err := api.CreateContainer(ctx, name, s.createBody(nextHistory(c, Deployment{ImageID: imageID, Spec: s.hash}), time.Now()))
		if err != nil {
			if c != nil {
				return Outcome{}, fmt.Errorf("create container %s: %w (the old container %s is untouched)", name, err, shortID(c.ID))
			}
			return Outcome{}, fmt.Errorf("create container %s: %w", s.Name, err)
		}
		if c == nil {
			if err := s.connect(ctx, api, createdID); err != nil {
				return Outcome{}, fmt.Errorf("%w; container %s was created but not started; the next push repairs it", err, s.Name)
			}
			if s.State == "running" {
				if err := s.start(ctx, api, createdID); err != nil {
					return Outcome{}, err
				}
			}
			return Outcome{Changed: true, Detail: "container " + shortID(createdID)}, nil
		}
		if err := s.swap(ctx, h, api, c.ID, createdID); err != nil {
			return Outcome{}, err
		}
		if s.State == "running" && s.WaitHealthy {
			if err := s.waitHealthy(ctx, api, createdID); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{Changed: true, Detail: "container " + shortID(createdID)}, nil
	}
	return Outcome{}, fmt.Errorf("docker_container: unexpected action %s", st.Action)
}

// swapRequests is how many engine requests the part of a recreate that
// must not be abandoned halfway makes (stop old, remove old, rename new,
// start new): it is bounded by that many request limits
// (--request-timeout), each request also by one.
const swapRequests = 4

// swap replaces the old container with the new one made under the
// temporary name. Once the old one is being stopped the swap is finished
// even when the push is interrupted (on a context detached from its
// cancellation, bounded by swapRequests request limits), so that Ctrl-C does not leave the
// service down. Any error says exactly what was left behind.
func (s *containerSpec) swap(ctx context.Context, h Host, api *dockerAPI, oldID, newID string) error {
	temp := s.Name + tempSuffix
	state := "untouched"
	left := func(err error) error {
		return fmt.Errorf("recreate of container %s interrupted: old container %s %s; new one left as %s (not started); the next push repairs it: %w",
			s.Name, shortID(oldID), state, temp, err)
	}
	if err := s.connect(ctx, api, newID); err != nil {
		return left(err)
	}
	if err := ctx.Err(); err != nil {
		return left(err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), swapRequests*api.bounds.Request)
	defer cancel()
	if err := api.StopContainer(sctx, oldID); err != nil {
		return left(err)
	}
	state = "stopped"
	if err := api.RemoveContainer(sctx, oldID); err != nil {
		return left(err)
	}
	state = "removed"
	if err := api.RenameContainer(sctx, newID, s.Name); err != nil {
		return left(fmt.Errorf("rename %s to %s: %w", temp, s.Name, err))
	}
	if s.State != "running" {
		return nil
	}
	if err := api.StartContainer(sctx, newID); err != nil {
		return fmt.Errorf("recreate of container %s interrupted: old container %s removed; new one renamed to %s but not started; the next push repairs it: start: %w",
			s.Name, shortID(oldID), s.Name, err)
	}
	return nil
}

// connect attaches the container to the declared networks after the
// first (which is its network mode).
func (s *containerSpec) connect(ctx context.Context, api *dockerAPI, id string) error {
	for _, n := range s.Networks[min(1, len(s.Networks)):] {
		if err := api.ConnectNetwork(ctx, n, id, s.Aliases[n]); err != nil {
			return fmt.Errorf("connect container %s to network %s: %w", s.Name, n, err)
		}
	}
	return nil
}

func (s *containerSpec) start(ctx context.Context, api *dockerAPI, id string) error {
	if err := api.StartContainer(ctx, id); err != nil {
		return fmt.Errorf("start container %s: %w", s.Name, err)
	}
	if s.WaitHealthy {
		return s.waitHealthy(ctx, api, id)
	}
	return nil
}

// waitHealthy polls the container until its healthcheck passes (or, with
// no healthcheck, until it is running) or the timeout expires.
func (s *containerSpec) waitHealthy(ctx context.Context, api *dockerAPI, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	defer cancel()
	last := "unknown"
	for {
		c, err := api.InspectContainer(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("wait for container %s: %w", s.Name, err)
		}
		if c == nil {
			return fmt.Errorf("wait for container %s: it was removed", s.Name)
		}
		switch {
		case !c.State.Running && c.State.Status != "created" && c.State.Status != "restarting":
			return fmt.Errorf("container %s is %s (exit code %d) instead of healthy", s.Name, c.State.Status, c.State.ExitCode)
		case c.State.Health == nil && c.State.Running:
			return nil
		case c.State.Health != nil:
			last = c.State.Health.Status
			if last == "healthy" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	return fmt.Errorf("container %s not healthy after %s (last status %s)", s.Name, s.WaitTimeout, last)
}

// Refresh restarts the container (a notification's refresh).
func (s *containerSpec) Refresh(ctx context.Context, h Host, o *State) (Outcome, error) {
	c := o.Containers[s.Name]
	if s.State != "running" || c == nil {
		return Outcome{}, nil
	}
	api := newDockerAPI(h)
	defer api.Close()
	if err := api.RestartContainer(ctx, c.ID); err != nil {
		return Outcome{}, fmt.Errorf("restart container %s: %w", s.Name, err)
	}
	if s.WaitHealthy {
		if err := s.waitHealthy(ctx, api, c.ID); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Changed: true, Detail: "restarted"}, nil
}

func ensureNetworks(ctx context.Context, api *dockerAPI, names []string) error {
	for _, n := range names {
		switch n {
		case "bridge", "host", "none", "default":
			continue
		}
		if strings.HasPrefix(n, "container:") {
			continue
		}
		nw, err := api.InspectNetwork(ctx, n)
		if err != nil {
			return fmt.Errorf("inspect network %s: %w", n, err)
		}
		if nw != nil {
			continue
		}
		body := networkCreate{Name: n, Labels: map[string]string{LabelManaged: "true"}}
		if _, err := api.CreateNetwork(ctx, body); err != nil && !isStatus(err, 409) {
			return fmt.Errorf("create network %s: %w", n, err)
		}
	}
	return nil
}
