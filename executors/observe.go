package executors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Needs is what the resources of one host need observed. Observe reads all
// of it in one concurrent round trip over the host's one connection.
type Needs struct {
	Containers map[string]bool // by name
	Images     map[string]bool // by reference, e.g. redis:7-alpine
	Files      map[string]bool // by absolute path
	Networks   map[string]bool // by name
	Volumes    map[string]bool // by name
	Compose    map[string]ComposeNeed
	// List asks for the list of all containers (compose labels, leftovers,
	// image users).
	List bool
}

// ComposeNeed says what one docker_compose resource needs.
type ComposeNeed struct {
	File    string
	Project string // declared project name, "" = compose's default
	// Content is the compose file's desired content when a file resource
	// of the same host writes it; nil means ask compose on the host.
	Content []byte
	Env     map[string]string
}

func (n *Needs) init() {
	if n.Containers == nil {
		n.Containers = map[string]bool{}
		n.Images = map[string]bool{}
		n.Files = map[string]bool{}
		n.Networks = map[string]bool{}
		n.Volumes = map[string]bool{}
		n.Compose = map[string]ComposeNeed{}
	}
}

func (n *Needs) container(name string) { n.init(); n.Containers[name] = true }
func (n *Needs) image(ref string)      { n.init(); n.Images[ref] = true }
func (n *Needs) file(path string)      { n.init(); n.Files[path] = true }
func (n *Needs) network(name string)   { n.init(); n.Networks[name] = true }
func (n *Needs) volume(name string)    { n.init(); n.Volumes[name] = true }

// Empty says whether nothing needs to be observed.
func (n *Needs) Empty() bool {
	return len(n.Containers) == 0 && len(n.Images) == 0 && len(n.Files) == 0 && len(n.Networks) == 0 && len(n.Volumes) == 0 &&
		len(n.Compose) == 0 && !n.List
}

// FileInfo is what observe learnt of one file.
type FileInfo struct {
	SHA256 string
	Mode   string // octal, e.g. 0644 ("" when stat failed)
	Owner  string
	Group  string
	UID    string // numeric owner and group ("" when not known)
	GID    string
}

// ComposeState is what observe learnt of one compose project.
type ComposeState struct {
	Project    string
	Services   []string // services compose would start ("" unknown)
	Containers []ContainerSummary
	Err        string // why the project's configuration could not be read
}

// State is the observed state of one host, as far as its resources need it.
// A nil map entry means absent.
type State struct {
	Containers map[string]*Container
	Images     map[string]*Image // by reference
	ImagesByID map[string]*Image // images of existing containers that differ from their spec
	List       []ContainerSummary
	Files      map[string]*FileInfo
	Networks   map[string]*Network      // by name
	Volumes    map[string]*Volume       // by name
	Compose    map[string]*ComposeState // by compose file
	// Warnings are things observing left behind that the operator must
	// know (an env file that could not be removed), naming host and path.
	Warnings []string
}

// NewState returns an empty state (everything absent).
func NewState() *State {
	return &State{
		Containers: map[string]*Container{},
		Images:     map[string]*Image{},
		ImagesByID: map[string]*Image{},
		Files:      map[string]*FileInfo{},
		Networks:   map[string]*Network{},
		Volumes:    map[string]*Volume{},
		Compose:    map[string]*ComposeState{},
	}
}

// Merge copies what o observed over s (used after re-observing a subset).
func (s *State) Merge(o *State) {
	for k, v := range o.Containers {
		s.Containers[k] = v
	}
	for k, v := range o.Images {
		s.Images[k] = v
	}
	for k, v := range o.ImagesByID {
		s.ImagesByID[k] = v
	}
	for k, v := range o.Files {
		s.Files[k] = v
	}
	for k, v := range o.Networks {
		s.Networks[k] = v
	}
	for k, v := range o.Volumes {
		s.Volumes[k] = v
	}
	for k, v := range o.Compose {
		s.Compose[k] = v
	}
	if o.List != nil {
		s.List = o.List
	}
	s.Warnings = append(s.Warnings, o.Warnings...)
}

// Observe reads everything n asks for, concurrently: container and image
// inspects and the container list over the Docker API stream, file hashes
// and file modes over the same SSH connection. Only when an existing
// container runs another image than its spec's (a change is coming anyway)
// is that image inspected in a second round, so that the plan can tell
// the image's defaults from declared values.
func Observe(ctx context.Context, h Host, n Needs) (*State, error) {
	st := NewState()
	if n.Empty() {
		return st, nil
	}
	api := newDockerAPI(h)
	defer api.Close()
	return st, observeWith(ctx, h, api, n, st)
}

func observeWith(ctx context.Context, h Host, api *dockerAPI, n Needs, st *State) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)

	needList := n.List || len(n.Compose) > 0
	if needList {
		g.Go(func() error {
			list, err := api.ListContainers(gctx)
			if err != nil {
				return fmt.Errorf("list containers: %w", err)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
			mu.Lock()
			st.List = list
			mu.Unlock()
			return nil
		})
	}
	for name := range n.Containers {
		g.Go(func() error {
			c, err := api.InspectContainer(gctx, name)
			if err != nil {
				return fmt.Errorf("inspect container %s: %w", name, err)
			}
			if c == nil || strings.TrimPrefix(c.Name, "/") != name {
				// The engine resolved the name as a prefix of another
				// container's ID: no container has this name.
				mu.Lock()
				st.Containers[name] = nil
				mu.Unlock()
				return nil
			}
			mu.Lock()
			st.Containers[name] = c
			mu.Unlock()
			return nil
		})
	}
	for name := range n.Networks {
		g.Go(func() error {
			nw, err := api.InspectNetwork(gctx, name)
			if err != nil {
				return fmt.Errorf("inspect network %s: %w", name, err)
			}
			mu.Lock()
			st.Networks[name] = nw
			mu.Unlock()
			return nil
		})
	}
	for name := range n.Volumes {
		g.Go(func() error {
			v, err := api.InspectVolume(gctx, name)
			if err != nil {
				return fmt.Errorf("inspect volume %s: %w", name, err)
			}
			mu.Lock()
			st.Volumes[name] = v
			mu.Unlock()
			return nil
		})
	}
	for ref := range n.Images {
		g.Go(func() error {
			img, err := api.InspectImage(gctx, ref)
			if err != nil {
				return fmt.Errorf("inspect image %s: %w", ref, err)
			}
			mu.Lock()
			st.Images[ref] = img
			mu.Unlock()
			return nil
		})
	}
	if len(n.Files) > 0 {
		g.Go(func() error {
			files, err := observeFiles(gctx, h, sortedKeys(n.Files))
			if err != nil {
				return err
			}
			mu.Lock()
			for p, fi := range files {
				st.Files[p] = fi
			}
			mu.Unlock()
			return nil
		})
	}
	composeCfg := map[string]*ComposeState{}
	for file, cn := range n.Compose {
		cs := &ComposeState{Project: cn.Project}
		composeCfg[file] = cs
		if cn.Content != nil {
			name, services, err := parseComposeServices(cn.Content)
			if err != nil {
				cs.Err = err.Error()
			}
			if cs.Project == "" {
				cs.Project = name
			}
			cs.Services = services
			continue
		}
		g.Go(func() error {
			name, services, warnings, err := composeConfig(gctx, h, cn)
			if len(warnings) > 0 {
				mu.Lock()
				st.Warnings = append(st.Warnings, warnings...)
				mu.Unlock()
			}
			if err != nil {
				cs.Err = err.Error()
				return nil
			}
			if cs.Project == "" {
				cs.Project = name
			}
			cs.Services = services
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for file, cs := range composeCfg {
		if cs.Project == "" {
			cs.Project = defaultProjectName(file)
		}
		for _, c := range st.List {
			if c.Labels["com.docker.compose.project"] == cs.Project {
				cs.Containers = append(cs.Containers, c)
			}
		}
		st.Compose[file] = cs
	}

	// Second round, only on the way to a change: the old image of a
	// container whose image differs from the spec's.
	var old []string
	for _, c := range st.Containers {
		if c == nil {
			continue
		}
		if img := st.Images[normalizeRef(c.Config.Image)]; img != nil && img.ID == c.Image {
			continue
		}
		if _, seen := st.ImagesByID[c.Image]; !seen {
			old = append(old, c.Image)
			st.ImagesByID[c.Image] = nil
		}
	}
	for _, img := range st.Images {
		if img != nil {
			st.ImagesByID[img.ID] = img
		}
	}
	if len(old) == 0 {
		return nil
	}
	g2, gctx2 := errgroup.WithContext(ctx)
	for _, id := range old {
		g2.Go(func() error {
			img, err := api.InspectImage(gctx2, id)
			if err != nil {
				return fmt.Errorf("inspect image %s: %w", id, err)
			}
			mu.Lock()
			st.ImagesByID[id] = img
			mu.Unlock()
			return nil
		})
	}
	return g2.Wait()
}

// fileScript prints, for each path argument, one line: the mode, owner,
// group and sha256 of the regular file, then uid and gid, or "-" when it
// is absent or a symlink (which a write replaces, never follows). The
// script is constant and the paths are arguments: nothing is spliced into
// it, and no file name is parsed back.
const fileScript = `for p; do
  if [ -f "$p" ] && [ ! -L "$p" ] && m=$(stat -c '%a %U %G' -- "$p") && i=$(stat -c '%u %g' -- "$p") && h=$(sha256sum < "$p"); then echo "$m ${h%% *} $i"; else echo -; fi
done`

// observeFiles reads content hash, mode, owner and group of the paths in
// one command.
func observeFiles(ctx context.Context, h Host, paths []string) (map[string]*FileInfo, error) {
	argv := append([]string{"sh", "-c", fileScript, "vigo-observe"}, paths...)
	res, err := runArgv(ctx, h, argv)
	if err != nil {
		return nil, fmt.Errorf("observe files: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(res.Stdout), "\n"), "\n")
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("observe %d files: got %d lines", len(paths), len(lines))
	}
	out := make(map[string]*FileInfo, len(paths))
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 && len(f) != 6 {
			out[paths[i]] = nil
			continue
		}
		m, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("observe %s: bad mode %q", paths[i], f[0])
		}
		fi := &FileInfo{Mode: fmt.Sprintf("%04o", m), Owner: f[1], Group: f[2], SHA256: f[3]}
		if len(f) == 6 {
			fi.UID, fi.GID = f[4], f[5]
		}
		out[paths[i]] = fi
	}
	return out, nil
}

// composeConfig asks compose on the host for the project's name and
// services, when vigo does not write the compose file itself. It runs with
// the resource's variables, exactly as `up` will (interpolation such as
// ${X:?} or a variable in profiles must see the same values).
func composeConfig(ctx context.Context, h Host, cn ComposeNeed) (string, []string, []string, error) {
	args := []string{"-f", cn.File}
	if cn.Project != "" {
		args = append(args, "-p", cn.Project)
	}
	args = append(args, "config", "--format", "json")
	ce := &composeEnv{h: h, vals: cn.Env}
	res, err := composeExec(ctx, ce, args)
	if err != nil {
		return "", nil, ce.warnings, err
	}
	out := bytes.TrimSpace(res.Stdout)
	if !bytes.HasPrefix(out, []byte("{")) { // v1: config --services
		services := strings.Fields(string(out))
		sort.Strings(services)
		return "", services, ce.warnings, nil
	}
	var cfg struct {
		Name     string                     `json:"name"`
		Services map[string]json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return "", nil, ce.warnings, fmt.Errorf("compose config: %w", err)
	}
	return cfg.Name, sortedKeys(cfg.Services), ce.warnings, nil
}
