package executors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// dockerContainerType: a container created, started, stopped, recreated
// or removed through the engine API.
var dockerContainerType = Type{
	Schema: stockpile.TypeSchema{
		Type: "docker_container",
		Doc:  "a container created, running, stopped or absent, recreated when its configuration differs",
		Fields: []stockpile.Field{
			{Name: "container", Kind: stockpile.KindString, Required: true, Doc: "container name"},
			{Name: "image", Kind: stockpile.KindString, Doc: "image reference (required unless state is absent); pulled when missing"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"running", "stopped", "absent"}, Default: "running", Doc: "running, stopped (created, not started) or absent (removed)"},
			{Name: "ports", Kind: stockpile.KindList, Doc: "published ports: [IP:]HOST:CONTAINER[/PROTO] (an explicit IP is kept as written)"},
			{Name: "command", Kind: stockpile.KindAny, Doc: "command: a string (split like a shell would, without expansion) or a list"},
			{Name: "entrypoint", Kind: stockpile.KindAny, Doc: "entrypoint: a string or a list ([] means none)"},
			{Name: "environment", Kind: stockpile.KindMap, Secret: true, Doc: "environment variables"},
			{Name: "restart_policy", Kind: stockpile.KindString, Default: "no", Doc: "no, always, unless-stopped, on-failure[:N]"},
			{Name: "volumes", Kind: stockpile.KindList, Doc: "mounts: SOURCE:TARGET[:ro] (volume name, applied after its docker_volume, or absolute host path)"},
			{Name: "networks", Kind: stockpile.KindAny, Doc: "networks to attach: NAME or {name: NAME, aliases: [ALIAS...]}; the first is the network mode, the others are connected before start (applied after their docker_network; an undeclared one is created if missing)"},
			{Name: "labels", Kind: stockpile.KindMap, Doc: "container labels (no secret references)"},
			{Name: "user", Kind: stockpile.KindString, Doc: "user[:group] to run as"},
			{Name: "working_dir", Kind: stockpile.KindString, Doc: "working directory"},
			{Name: "hostname", Kind: stockpile.KindString, Doc: "container hostname"},
			{Name: "healthcheck", Kind: stockpile.KindAny, Doc: "map: test, interval, timeout, retries, start_period"},
			{Name: "wait_healthy", Kind: stockpile.KindBool, Default: "false", Doc: "after start, wait until the healthcheck passes (without one, until the container runs)"},
			{Name: "wait_timeout", Kind: stockpile.KindDuration, Default: "60s", Doc: "how long wait_healthy waits"},
		},
		Uses: containerUses,
	},
	Decode: decodeContainer,
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
	if s.State, err = f.enum("state"); err != nil {
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
		val, path, err := env.secretValue(f, "environment."+k, s.Env[k])
		if err != nil {
			return nil, err
		}
		if path == "" {
			continue
		}
		if s.secretVals == nil {
			s.secretVals = map[string]string{}
		}
		s.secretVals[k] = val
	}
	rp, err := f.text("restart_policy")
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
	if s.WaitHealthy, err = f.boolean("wait_healthy"); err != nil {
		return nil, err
	}
	if s.WaitTimeout, err = f.duration("wait_timeout"); err != nil {
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
	v := f.get("healthcheck")
	if v == nil {
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
	if hc.Interval, err = sub.durationOr("interval", ""); err != nil {
		return nil, err
	}
	if hc.Timeout, err = sub.durationOr("timeout", ""); err != nil {
		return nil, err
	}
	if hc.StartPeriod, err = sub.durationOr("start_period", ""); err != nil {
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
