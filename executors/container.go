package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/secrets"
)

// The labels vigo stamps on every container it creates.
const (
	LabelManaged  = "io.vigo.managed"
	LabelSpecHash = "io.vigo.spec-hash"
	LabelResource = "io.vigo.resource"
	// tempSuffix names the container a recreate builds before it swaps it
	// in; one left behind by an interrupted push is removed by the next.
	tempSuffix = "-vigo-new"
)

// containerSpec is a decoded docker_container resource. Its exported
// fields are the canonical desired spec the spec hash is computed from.
type containerSpec struct {
	res desired.Resource

	Name          string              `json:"name"`
	Image         string              `json:"image"`
	State         string              `json:"-"`
	Ports         []string            `json:"ports"` // normalised: IP:HOST:CONTAINER/PROTO
	Command       []string            `json:"command"`
	HasCommand    bool                `json:"has_command"`
	Entrypoint    []string            `json:"entrypoint"`
	HasEntrypoint bool                `json:"has_entrypoint"`
	Env           map[string]string   `json:"env"`               // declared; secrets as references (never values)
	RestartPolicy string              `json:"restart"`           // no, always, unless-stopped, on-failure[:N]
	Volumes       []string            `json:"volumes"`           // normalised SOURCE:TARGET[:ro]
	Networks      []string            `json:"networks"`          // declared, in order
	Aliases       map[string][]string `json:"aliases,omitempty"` // network -> sorted aliases
	Labels        map[string]string   `json:"labels"`            // declared
	User          string              `json:"user"`              //
	WorkingDir    string              `json:"working_dir"`       //
	Hostname      string              `json:"hostname"`          //
	Healthcheck   *Healthcheck        `json:"healthcheck"`       //
	WaitHealthy   bool                `json:"-"`
	WaitTimeout   time.Duration       `json:"-"`

	secretVals map[string]string // env key -> resolved value (never printed)
	hash       string
	run        string // the run's ID, recorded in LabelRun
}

func decodeContainer(f fields, env Env) (Spec, error) {
	s := &containerSpec{res: f.r, run: env.Run}
	var err error
	if s.Name, err = f.str("container"); err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, f.errorf("container", "required")
	}
	if why := checkContainerName(s.Name); why != "" {
		return nil, f.errorf("container", "%s", why)
	}
	if s.State, err = f.enum("state", "running", "running", "stopped", "absent"); err != nil {
		return nil, err
	}
	img, err := f.str("image")
	if err != nil {
		return nil, err
	}
	if img == "" && s.State != "absent" {
		return nil, f.errorf("image", "required unless state is absent")
	}
	if img != "" {
		if why := checkImageRef(img); why != "" {
			return nil, f.errorf("image", "%s", why)
		}
		s.Image = normalizeRef(img)
	}
	ports, err := f.list("ports")
	if err != nil {
		return nil, err
	}
	for i, p := range ports {
		ps, err := parsePort(p)
		if err != nil {
			return nil, f.errorf(fmt.Sprintf("ports[%d]", i), "%v", err)
		}
		s.Ports = append(s.Ports, ps...)
	}
	sort.Strings(s.Ports)
	s.Ports = uniq(s.Ports)
	if s.Command, s.HasCommand, err = f.argv("command"); err != nil {
		return nil, err
	}
	if s.Entrypoint, s.HasEntrypoint, err = f.argv("entrypoint"); err != nil {
		return nil, err
	}
	if s.Env, err = f.strMap("environment"); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(s.Env) {
		// The engine takes NAME=VALUE strings: a key with "=" would split
		// elsewhere than written and never match what the engine reports.
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, f.errorf("environment."+k, "%q is not a variable name (no \"=\", not empty)", k)
		}
		if strings.ContainsRune(s.Env[k], 0) {
			return nil, f.errorf("environment."+k, "a value cannot hold a NUL byte")
		}
		path, ok := secrets.Ref(s.Env[k])
		if !ok {
			continue
		}
		val, found := env.Secrets[path]
		if !found && env.Offline {
			continue
		}
		if !found {
			return nil, f.errorf("environment."+k, "secret %q is not set", path)
		}
		if s.secretVals == nil {
			s.secretVals = map[string]string{}
		}
		s.secretVals[k] = val
	}
	rp, err := f.str("restart_policy")
	if err != nil {
		return nil, err
	}
	if s.RestartPolicy, err = normalizeRestart(rp); err != nil {
		return nil, f.errorf("restart_policy", "%v", err)
	}
	vols, err := f.list("volumes")
	if err != nil {
		return nil, err
	}
	for i, v := range vols {
		nv, err := normalizeVolume(v)
		if err != nil {
			return nil, f.errorf(fmt.Sprintf("volumes[%d]", i), "%v", err)
		}
		if _, why := volumeSource(nv); why != "" {
			return nil, f.errorf(fmt.Sprintf("volumes[%d]", i), "%s", why)
		}
		s.Volumes = append(s.Volumes, nv)
	}
	sort.Strings(s.Volumes)
	if s.Networks, s.Aliases, err = decodeAttachments(f); err != nil {
		return nil, err
	}
	if s.Labels, err = userLabels(f, "labels"); err != nil {
		return nil, err
	}
	if s.User, err = f.str("user"); err != nil {
		return nil, err
	}
	if s.WorkingDir, err = f.str("working_dir"); err != nil {
		return nil, err
	}
	if s.Hostname, err = f.str("hostname"); err != nil {
		return nil, err
	}
	if s.Healthcheck, err = decodeHealthcheck(f); err != nil {
		return nil, err
	}
	if s.WaitHealthy, err = f.boolean("wait_healthy", false); err != nil {
		return nil, err
	}
	if s.WaitTimeout, err = f.duration("wait_timeout", 60*time.Second); err != nil {
		return nil, err
	}
	s.hash = s.specHash()
	return s, nil
}

// specHash is the sha256 of the canonical desired spec (JSON with sorted
// map keys). Secret values take no part in it: a secret environment
// variable enters as its reference (secret:PATH), and its value is compared
// with the running container's by the field comparison, so nothing derived
// from a value is ever stored in a label on the host.
func (s *containerSpec) specHash() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // only strings, lists and maps: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func decodeHealthcheck(f fields) (*Healthcheck, error) {
	v, ok := f.r.Fields["healthcheck"]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, f.errorf("healthcheck", "want a map with test, interval, timeout, retries, start_period")
	}
	sub := fields{r: desired.Resource{Name: f.r.Name, Type: f.r.Type, Pos: f.r.Pos, Fields: m}}
	hc := &Healthcheck{}
	for k := range m {
		switch k {
		case "test", "interval", "timeout", "retries", "start_period":
		default:
			return nil, f.errorf("healthcheck."+k, "unknown field")
		}
	}
	if _, isList := m["test"].([]any); isList {
		l, err := sub.list("test")
		if err != nil {
			return nil, err
		}
		hc.Test = l
	} else {
		t, err := sub.str("test")
		if err != nil {
			return nil, err
		}
		if t == "" {
			return nil, f.errorf("healthcheck.test", "required")
		}
		hc.Test = []string{"CMD-SHELL", t}
	}
	if len(hc.Test) > 0 && hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" && hc.Test[0] != "NONE" {
		hc.Test = append([]string{"CMD"}, hc.Test...)
	}
	var err error
	if hc.Interval, err = sub.duration("interval", 0); err != nil {
		return nil, err
	}
	if hc.Timeout, err = sub.duration("timeout", 0); err != nil {
		return nil, err
	}
	if hc.StartPeriod, err = sub.duration("start_period", 0); err != nil {
		return nil, err
	}
	if r, err := sub.str("retries"); err != nil {
		return nil, err
	} else if r != "" {
		if hc.Retries, err = strconv.Atoi(r); err != nil || hc.Retries < 0 {
			return nil, f.errorf("healthcheck.retries", "%q is not a count", r)
		}
	}
	return hc, nil
}

// parsePort normalises [IP:]HOST:CONTAINER[/PROTO] and CONTAINER[/PROTO]
// (ranges allowed) into IP:HOST:CONTAINER/PROTO. An undeclared host IP is
// "" (the engine's default: every address); an explicit one is kept as
// written, because 0.0.0.0 (IPv4 only) and :: bind differently from the
// default. The engine records the binding exactly as it was sent.
func parsePort(p string) ([]string, error) {
	proto := "tcp"
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		proto = strings.ToLower(p[i+1:])
		p = p[:i]
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("protocol %q is not tcp, udp or sctp", proto)
		}
	}
	var ip, hostPart, ctrPart string
	if strings.HasPrefix(p, "[") { // [IPv6]:HOST:CONTAINER
		end := strings.Index(p, "]:")
		if end < 0 {
			return nil, fmt.Errorf("%q: bad IPv6 address", p)
		}
		ip = p[1:end]
		p = p[end+2:]
		hostPart, ctrPart, _ = strings.Cut(p, ":")
		if ctrPart == "" {
			return nil, fmt.Errorf("want [IP]:HOST:CONTAINER")
		}
	} else {
		parts := strings.Split(p, ":")
		switch len(parts) {
		case 1:
			ctrPart = parts[0]
		case 2:
			hostPart, ctrPart = parts[0], parts[1]
		case 3:
			ip, hostPart, ctrPart = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("%q: want [IP:]HOST:CONTAINER[/PROTO]", p)
		}
	}
	clo, chi, err := portRange(ctrPart)
	if err != nil {
		return nil, err
	}
	var hlo, hhi int
	if hostPart != "" {
		if hlo, hhi, err = portRange(hostPart); err != nil {
			return nil, err
		}
		if hhi-hlo != chi-clo {
			return nil, fmt.Errorf("host range %s and container range %s differ in size", hostPart, ctrPart)
		}
	}
	var out []string
	for i := 0; i <= chi-clo; i++ {
		h := ""
		if hostPart != "" {
			h = strconv.Itoa(hlo + i)
		}
		out = append(out, fmt.Sprintf("%s:%s:%d/%s", ip, h, clo+i, proto))
	}
	return out, nil
}

func portRange(s string) (int, int, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 1 || a > 65535 {
		return 0, 0, fmt.Errorf("%q is not a port", s)
	}
	if !isRange {
		return a, a, nil
	}
	b, err := strconv.Atoi(hi)
	if err != nil || b < a || b > 65535 {
		return 0, 0, fmt.Errorf("%q is not a port range", s)
	}
	return a, b, nil
}

func observedPorts(c *Container) []string {
	var out []string
	for key, bs := range c.HostConfig.PortBindings {
		port, proto, _ := strings.Cut(key, "/")
		if proto == "" {
			proto = "tcp"
		}
		for _, b := range bs {
			ip := b.HostIP
			out = append(out, fmt.Sprintf("%s:%s:%s/%s", ip, b.HostPort, port, proto))
		}
	}
	sort.Strings(out)
	return uniq(out)
}

// splitPort splits a normalised IP:HOST:CONTAINER/PROTO from the right
// (an IPv6 address holds colons).
func splitPort(p string) (ip, host, ctr string) {
	i := strings.LastIndexByte(p, ':')
	ctr = p[i+1:]
	rest := p[:max(i, 0)]
	j := strings.LastIndexByte(rest, ':')
	return rest[:max(j, 0)], rest[j+1:], ctr
}

// portText shows a normalised port the way users write it.
func portText(p string) string {
	ip, host, ctr := splitPort(p)
	switch {
	case ip != "" && strings.Contains(ip, ":"):
		return "[" + ip + "]:" + host + ":" + ctr
	case ip != "":
		return ip + ":" + host + ":" + ctr
	case host != "":
		return host + ":" + ctr
	}
	return ctr
}

func normalizeRestart(s string) (string, error) {
	switch {
	case s == "" || s == "no":
		return "no", nil
	case s == "always" || s == "unless-stopped" || s == "on-failure":
		return s, nil
	case strings.HasPrefix(s, "on-failure:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "on-failure:"))
		if err != nil || n < 0 {
			return "", fmt.Errorf("%q: want on-failure:N", s)
		}
		if n == 0 {
			return "on-failure", nil
		}
		return "on-failure:" + strconv.Itoa(n), nil
	}
	return "", fmt.Errorf("%q is not no, always, unless-stopped or on-failure[:N]", s)
}

func observedRestart(rp RestartPolicy) string {
	switch rp.Name {
	case "", "no":
		return "no"
	case "on-failure":
		if rp.MaximumRetryCount > 0 {
			return "on-failure:" + strconv.Itoa(rp.MaximumRetryCount)
		}
		return "on-failure"
	}
	return rp.Name
}

func restartPolicy(s string) RestartPolicy {
	name, n, _ := strings.Cut(s, ":")
	rp := RestartPolicy{Name: name}
	if n != "" {
		rp.MaximumRetryCount, _ = strconv.Atoi(n)
	}
	return rp
}

func normalizeVolume(v string) (string, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("%q: want SOURCE:TARGET[:ro|rw]", v)
	}
	if !strings.HasPrefix(parts[1], "/") {
		return "", fmt.Errorf("%q: the target must be an absolute path", v)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "rw":
			parts = parts[:2]
		case "ro":
		default:
			return "", fmt.Errorf("%q: mode %q is not ro or rw", v, parts[2])
		}
	}
	return strings.Join(parts, ":"), nil
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func (s *containerSpec) Resource() desired.Resource { return s.res }
func (s *containerSpec) Needs(n *Needs) {
	n.container(s.Name)
	n.List = true // leftovers of interrupted recreates
	if s.Image != "" && s.State != "absent" {
		n.image(s.Image)
	}
}
func (s *containerSpec) Keys() []string {
	k := []string{"container:" + s.Name}
	if s.Image != "" {
		k = append(k, "image:"+s.Image)
	}
	return k
}
func (s *containerSpec) Touches() []string {
	return []string{"container:" + s.Name, "image:" + s.Image, keyContainers}
}
func (s *containerSpec) RefreshAction() Action { return ActionRestart }

// Plan decides the container's step from what was observed.
func (s *containerSpec) Plan(o *State) Step {
	c := o.Containers[s.Name]
	leftover := s.leftover(o)
	if s.State == "absent" {
		if c == nil {
			if leftover != "" {
				return Step{Action: ActionCleanup, Reason: "absent; leftover " + leftover + " of an interrupted push",
					Diff: []string{"leftover: " + leftover + " of an interrupted push (removed)"}}
			}
			return Step{Action: ActionNone, Reason: "absent"}
		}
		return Step{Action: ActionRemove, Reason: "exists, absent wanted", Diff: []string{"state: " + c.State.Status + " -> absent"}}
	}
	img := o.Images[s.Image]
	if c == nil {
		st := Step{Action: ActionCreate, Reason: "missing"}
		if s.State == "stopped" {
			st.Reason = "missing (created, not started)"
		}
		if img == nil {
			st.Diff = append(st.Diff, "image: "+s.Image+" (not present on the host: pulled first)")
		}
		if leftover != "" {
			st.Diff = append(st.Diff, "leftover: "+leftover+" of an interrupted push (removed)")
		}
		return st
	}
	diff := s.diff(c, img, o)
	if len(diff) > 0 {
		st := Step{Action: ActionRecreate, Reason: diffReason(diff), Diff: diff}
		if leftover != "" {
			st.Diff = append(st.Diff, "leftover: "+leftover+" of an interrupted push (removed)")
		}
		return st
	}
	switch {
	case s.State == "running" && !c.State.Running:
		return Step{Action: ActionStart, Reason: c.State.Status, Diff: []string{"state: " + c.State.Status + " -> running"}}
	case s.State == "stopped" && c.State.Running:
		return Step{Action: ActionStop, Reason: "running, stopped wanted", Diff: []string{"state: running -> stopped"}}
	case leftover != "":
		// The container itself is right: only the leftover goes.
		return Step{Action: ActionCleanup, Reason: "matches " + shortID(c.ID) + "; leftover " + leftover + " of an interrupted push",
			Diff: []string{"leftover: " + leftover + " of an interrupted push (removed)"}}
	}
	reason := "matches, " + c.State.Status + " " + shortID(c.ID)
	if h := c.Config.Labels[LabelSpecHash]; h != s.hash {
		// Declared differently, configured the same (e.g. an env var now
		// declared with the image's own value): nothing to recreate.
		reason += fmt.Sprintf("; spec written differently (%s %s -> %s), configuration equal", LabelSpecHash, short(h), short(s.hash))
	}
	return Step{Action: ActionNone, Reason: reason}
}

func (s *containerSpec) leftover(o *State) string {
	name, _ := s.leftoverID(o)
	return name
}

// leftoverID finds the temporary container of an interrupted recreate in
// the container list (by exact name) and returns its name and ID.
func (s *containerSpec) leftoverID(o *State) (string, string) {
	for _, c := range o.List {
		if c.Name() == s.Name+tempSuffix {
			return c.Name(), c.ID
		}
	}
	return "", ""
}

// diff lists the fields in which the container differs from the spec.
// Undeclared fields are compared with the defaults of the image the
// container was created from, so that what only the image sets is not a
// difference, and a field removed from the spec is.
func (s *containerSpec) diff(c *Container, img *Image, o *State) []string {
	var d []string
	base := o.ImagesByID[c.Image] // the container's own image
	if base == nil {
		base = img
	}
	if base == nil {
		base = &Image{}
	}
	// image, by ID
	switch {
	case img == nil && normalizeRef(c.Config.Image) != s.Image:
		d = append(d, "image: "+imageChange(c.Config.Image, c.Image, s.Image, "")+" (not present on the host: pulled first)")
	case img == nil:
		d = append(d, fmt.Sprintf("image: %s (not present on the host: pulled first)", s.Image))
	case img.ID != c.Image:
		d = append(d, "image: "+imageChange(c.Config.Image, c.Image, s.Image, img.ID))
	}
	// ports
	if got := observedPorts(c); !sameStrings(got, s.Ports) {
		d = append(d, fmt.Sprintf("ports: %s -> %s", portList(got), portList(s.Ports)))
	}
	// command and entrypoint
	wantEntry := base.Config.Entrypoint
	if s.HasEntrypoint {
		wantEntry = s.Entrypoint
	}
	// The engine's rule: without an entrypoint (nil, not [""]), an empty
	// command is the image's; a declared entrypoint drops the image's
	// command.
	wantCmd := base.Config.Cmd
	switch {
	case s.HasCommand && (len(s.Command) > 0 || s.HasEntrypoint):
		wantCmd = s.Command
	case s.HasEntrypoint:
		wantCmd = nil
	}
	if !sameStrings(c.Config.Entrypoint, wantEntry) {
		d = append(d, fmt.Sprintf("entrypoint: %s -> %s", argvText(c.Config.Entrypoint), argvText(wantEntry)))
	}
	if !sameStrings(c.Config.Cmd, wantCmd) {
		d = append(d, fmt.Sprintf("command: %s -> %s", argvText(c.Config.Cmd), argvText(wantCmd)))
	}
	// environment
	d = append(d, s.envDiff(c, base)...)
	// restart policy
	if got := observedRestart(c.HostConfig.RestartPolicy); got != s.RestartPolicy {
		d = append(d, fmt.Sprintf("restart_policy: %s -> %s", got, s.RestartPolicy))
	}
	// volumes
	var binds []string
	for _, b := range c.HostConfig.Binds {
		if nb, err := normalizeVolume(b); err == nil {
			binds = append(binds, nb)
		} else {
			binds = append(binds, b)
		}
	}
	sort.Strings(binds)
	if !reflect.DeepEqual(nonNil(binds), nonNil(s.Volumes)) {
		d = append(d, fmt.Sprintf("volumes: [%s] -> [%s]", strings.Join(binds, " "), strings.Join(s.Volumes, " ")))
	}
	// networks
	gotNets := sortedKeys(c.NetworkSettings.Networks)
	wantNets := append([]string(nil), s.Networks...)
	if len(wantNets) == 0 {
		wantNets = []string{"bridge"}
	}
	sort.Strings(wantNets)
	if len(gotNets) > 0 && !reflect.DeepEqual(gotNets, uniq(wantNets)) {
		d = append(d, fmt.Sprintf("networks: [%s] -> [%s]", strings.Join(gotNets, " "), strings.Join(wantNets, " ")))
	} else {
		d = append(d, s.aliasDiff(c)...)
	}
	// labels
	d = append(d, labelDiff("labels", s.Labels, c.Config.Labels, func(k, v string) bool {
		iv, ok := base.Config.Labels[k]
		return ok && iv == v
	})...)
	// user, working_dir, hostname
	if want := orDefault(s.User, base.Config.User); c.Config.User != want {
		d = append(d, fmt.Sprintf("user: %q -> %q", c.Config.User, want))
	}
	if want := orDefault(s.WorkingDir, base.Config.WorkingDir); c.Config.WorkingDir != want {
		d = append(d, fmt.Sprintf("working_dir: %q -> %q", c.Config.WorkingDir, want))
	}
	// An undeclared hostname is the engine's default: the short container ID
	// (on the host network, the host's own name: not compared).
	wantHost := s.Hostname
	if wantHost == "" && len(c.ID) >= 12 && c.HostConfig.NetworkMode != "host" {
		wantHost = c.ID[:12]
	}
	if wantHost != "" && c.Config.Hostname != wantHost {
		d = append(d, fmt.Sprintf("hostname: %q -> %q", c.Config.Hostname, wantHost))
	}
	// healthcheck
	wantHC := base.Config.Healthcheck
	if s.Healthcheck != nil {
		wantHC = inheritHealthcheck(s.Healthcheck, base.Config.Healthcheck)
	}
	if !sameHealthcheck(c.Config.Healthcheck, wantHC) {
		d = append(d, fmt.Sprintf("healthcheck: %s -> %s", hcText(c.Config.Healthcheck), hcText(wantHC)))
	}
	// Ownership: a container vigo did not create is replaced, even when it
	// looks right (its history is unknown: e.g. made with other flags).
	if !owned(c.Config.Labels) {
		d = append(d, "labels."+LabelManaged+": (missing: container not created by vigo)")
	}
	return d
}

// envDiff compares the environment. Observed values are never printed:
// a variable's old value may have been a secret.
func (s *containerSpec) envDiff(c *Container, base *Image) []string {
	got := envMap(c.Config.Env)
	img := envMap(base.Config.Env)
	var d []string
	for _, k := range sortedKeys(s.Env) {
		want := s.Env[k]
		if path, ok := secrets.Ref(want); ok {
			v, has := got[k]
			switch {
			case !has:
				d = append(d, fmt.Sprintf("environment.%s: secret:%s (added)", k, path))
			case v != s.secretVals[k]:
				d = append(d, fmt.Sprintf("environment.%s: secret:%s (changed)", k, path))
			}
			continue
		}
		v, has := got[k]
		switch {
		case !has:
			d = append(d, fmt.Sprintf("environment.%s: %s (added)", k, want))
		case v != want:
			d = append(d, fmt.Sprintf("environment.%s: %s (changed)", k, want))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, declared := s.Env[k]; declared {
			continue
		}
		if v, ok := img[k]; ok && v == got[k] {
			continue // the image's own default
		}
		if _, imageHas := img["PATH"]; k == "PATH" && !imageHas {
			continue // the daemon's default PATH for an image without one
		}
		if v, ok := img[k]; ok {
			d = append(d, fmt.Sprintf("environment.%s: %s (image default restored)", k, v))
			continue
		}
		d = append(d, fmt.Sprintf("environment.%s: (removed)", k))
	}
	return d
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// imageChange describes an image difference: a tag change on the same
// repository as "REPO OLD -> NEW", the same reference now pointing at
// another image by IDs.
func imageChange(oldRef, oldID, newRef, newID string) string {
	oldRef = normalizeRef(oldRef)
	if oldRef == newRef {
		return fmt.Sprintf("%s %s -> %s", newRef, shortID(oldID), shortID(newID))
	}
	or, ot := splitRef(oldRef)
	nr, nt := splitRef(newRef)
	if or == nr {
		return fmt.Sprintf("%s %s -> %s", nr, ot, nt)
	}
	return fmt.Sprintf("%s -> %s", oldRef, newRef)
}

func splitRef(ref string) (string, string) {
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if hasTag(ref) {
		i := strings.LastIndexByte(ref, ':')
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func portList(ps []string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = portText(p)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// sameStrings compares argv-like lists; nil, [] and [""] (how an empty
// entrypoint is sent and recorded) are all empty.
func sameStrings(a, b []string) bool {
	if isEmptyArgv(a) && isEmptyArgv(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func isEmptyArgv(a []string) bool {
	return len(a) == 0 || len(a) == 1 && a[0] == ""
}

// inheritHealthcheck is what the engine records for a declared
// healthcheck: zero interval, timeout, start period, start interval and
// retries are taken from the image's healthcheck.
func inheritHealthcheck(want, image *Healthcheck) *Healthcheck {
	hc := *want
	if image == nil {
		return &hc
	}
	if hc.Interval == 0 {
		hc.Interval = image.Interval
	}
	if hc.Timeout == 0 {
		hc.Timeout = image.Timeout
	}
	if hc.StartPeriod == 0 {
		hc.StartPeriod = image.StartPeriod
	}
	if hc.StartInterval == 0 {
		hc.StartInterval = image.StartInterval
	}
	if hc.Retries == 0 {
		hc.Retries = image.Retries
	}
	return &hc
}

func argvText(a []string) string {
	if a == nil {
		return "(none)"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func sameHealthcheck(a, b *Healthcheck) bool {
	if a == nil || len(a.Test) == 0 {
		return b == nil || len(b.Test) == 0
	}
	if b == nil {
		return false
	}
	return reflect.DeepEqual(*a, *b)
}

func hcText(h *Healthcheck) string {
	if h == nil || len(h.Test) == 0 {
		return "(none)"
	}
	s := argvText(h.Test)
	if h.Interval > 0 {
		s += " interval " + h.Interval.String()
	}
	if h.Timeout > 0 {
		s += " timeout " + h.Timeout.String()
	}
	if h.Retries > 0 {
		s += " retries " + strconv.Itoa(h.Retries)
	}
	if h.StartPeriod > 0 {
		s += " start_period " + h.StartPeriod.String()
	}
	if h.StartInterval > 0 {
		s += " start_interval " + h.StartInterval.String()
	}
	return s
}

func short(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

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
		if err := removeContainer(ctx, api, loID); err != nil {
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
			if err := stopContainer(ctx, api, c.ID); err != nil {
				return Outcome{}, err
			}
			if err := removeContainer(ctx, api, c.ID); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{Changed: true}, nil
	case ActionStart:
		return Outcome{Changed: true}, s.start(ctx, api, c.ID)
	case ActionStop:
		return Outcome{Changed: true}, stopContainer(ctx, api, c.ID)
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
		var created struct {
			ID string `json:"Id"`
		}
		if err := api.do(ctx, "POST", "/containers/create", url.Values{"name": {name}},
			s.createBody(nextHistory(c, Deployment{ImageID: imageID, Spec: s.hash}), time.Now()), &created); err != nil {
			if c != nil {
				return Outcome{}, fmt.Errorf("create container %s: %w (the old container %s is untouched)", name, err, shortID(c.ID))
			}
			return Outcome{}, fmt.Errorf("create container %s: %w", s.Name, err)
		}
		if c == nil {
			if err := s.connect(ctx, api, created.ID); err != nil {
				return Outcome{}, fmt.Errorf("%w; container %s was created but not started; the next push repairs it", err, s.Name)
			}
			if s.State == "running" {
				if err := s.start(ctx, api, created.ID); err != nil {
					return Outcome{}, err
				}
			}
			return Outcome{Changed: true, Detail: "container " + shortID(created.ID)}, nil
		}
		if err := s.swap(ctx, h, api, c.ID, created.ID); err != nil {
			return Outcome{}, err
		}
		if s.State == "running" && s.WaitHealthy {
			if err := s.waitHealthy(ctx, api, created.ID); err != nil {
				return Outcome{}, err
			}
		}
		return Outcome{Changed: true, Detail: "container " + shortID(created.ID)}, nil
	}
	return Outcome{}, fmt.Errorf("docker_container: unexpected action %s", st.Action)
}

// swapTimeout bounds the part of a recreate that must not be abandoned
// halfway (stop old, remove old, rename new, start new).
const swapTimeout = 60 * time.Second

// swap replaces the old container with the new one made under the
// temporary name. Once the old one is being stopped the swap is finished
// even when the push is interrupted (on a context detached from its
// cancellation, bounded by swapTimeout), so that Ctrl-C does not leave the
// service down. Any error says exactly what was left behind.
func (s *containerSpec) swap(ctx context.Context, h Host, api *dockerAPI, oldID, newID string) error {
	temp := s.Name + tempSuffix
	state := "untouched"
	left := func(err error) error {
		return fmt.Errorf("%s: recreate of container %s interrupted: old container %s %s; new one left as %s (not started); the next push repairs it: %w",
			h.Name(), s.Name, shortID(oldID), state, temp, err)
	}
	if err := s.connect(ctx, api, newID); err != nil {
		return left(err)
	}
	if err := ctx.Err(); err != nil {
		return left(err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), swapTimeout)
	defer cancel()
	if err := stopContainer(sctx, api, oldID); err != nil {
		return left(err)
	}
	state = "stopped"
	if err := removeContainer(sctx, api, oldID); err != nil {
		return left(err)
	}
	state = "removed"
	if err := api.do(sctx, "POST", "/containers/"+url.PathEscape(newID)+"/rename", url.Values{"name": {s.Name}}, nil, nil); err != nil {
		return left(fmt.Errorf("rename %s to %s: %w", temp, s.Name, err))
	}
	if s.State != "running" {
		return nil
	}
	if err := api.do(sctx, "POST", "/containers/"+url.PathEscape(newID)+"/start", nil, nil, nil); err != nil && !isStatus(err, 304) {
		return fmt.Errorf("%s: recreate of container %s interrupted: old container %s removed; new one renamed to %s but not started; the next push repairs it: start: %w",
			h.Name(), s.Name, shortID(oldID), s.Name, err)
	}
	return nil
}

// connect attaches the container to the declared networks after the
// first (which is its network mode).
func (s *containerSpec) connect(ctx context.Context, api *dockerAPI, id string) error {
	for _, n := range s.Networks[min(1, len(s.Networks)):] {
		body := map[string]any{"Container": id}
		if a := s.Aliases[n]; len(a) > 0 {
			body["EndpointConfig"] = EndpointSettings{Aliases: a}
		}
		if err := api.do(ctx, "POST", "/networks/"+url.PathEscape(n)+"/connect", nil, body, nil); err != nil {
			return fmt.Errorf("connect container %s to network %s: %w", s.Name, n, err)
		}
	}
	return nil
}

func (s *containerSpec) start(ctx context.Context, api *dockerAPI, id string) error {
	if err := api.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/start", nil, nil, nil); err != nil && !isStatus(err, 304) {
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
		var c Container
		if err := api.do(ctx, "GET", "/containers/"+url.PathEscape(id)+"/json", nil, nil, &c); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("wait for container %s: %w", s.Name, err)
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
	if err := api.do(ctx, "POST", "/containers/"+url.PathEscape(c.ID)+"/restart", nil, nil, nil); err != nil {
		return Outcome{}, fmt.Errorf("restart container %s: %w", s.Name, err)
	}
	if s.WaitHealthy {
		if err := s.waitHealthy(ctx, api, c.ID); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Changed: true, Detail: "restarted"}, nil
}

// stopContainer stops a container gracefully (the engine's stop timeout:
// SIGTERM, then SIGKILL after the container's StopTimeout, 10s by default).
func stopContainer(ctx context.Context, api *dockerAPI, id string) error {
	err := api.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/stop", nil, nil, nil)
	if err != nil && !isStatus(err, 304) && !isStatus(err, 404) {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	return nil
}

func removeContainer(ctx context.Context, api *dockerAPI, id string) error {
	err := api.do(ctx, "DELETE", "/containers/"+url.PathEscape(id), url.Values{"force": {"1"}}, nil, nil)
	if err != nil && !isStatus(err, 404) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
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
		err := api.do(ctx, "GET", "/networks/"+url.PathEscape(n), nil, nil, nil)
		if err == nil {
			continue
		}
		if !isStatus(err, 404) {
			return fmt.Errorf("inspect network %s: %w", n, err)
		}
		body := map[string]any{"Name": n, "Labels": map[string]string{LabelManaged: "true"}}
		if err := api.do(ctx, "POST", "/networks/create", nil, body, nil); err != nil && !isStatus(err, 409) {
			return fmt.Errorf("create network %s: %w", n, err)
		}
	}
	return nil
}
