package executors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/shellquote"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// dockerComposeType: a compose project brought up (all its services
// running) or down, with docker compose on the host.
var dockerComposeType = Type{
	Schema: stockpile.TypeSchema{
		Type: "docker_compose",
		Doc:  "a docker compose project up (all services running) or down",
		Fields: []stockpile.Field{
			{Name: "compose_file", Kind: stockpile.KindString, Required: true, Doc: "absolute path of the compose file on the host"},
			{Name: "project_name", Kind: stockpile.KindString, Doc: "project name (default: compose's own, the file's directory name)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"up", "down"}, Default: "up", Doc: "up: every service running; down: the stack removed"},
			{Name: "pull", Kind: stockpile.KindString, Enum: []string{"always", "missing", "never"}, Default: "missing", Doc: "pull policy of the up vigo runs"},
			{Name: "remove_orphans", Kind: stockpile.KindBool, Default: "false", Doc: "remove containers of services no longer in the file"},
			{Name: "services", Kind: stockpile.KindList, Doc: "only these services (default all)"},
			{Name: "wait", Kind: stockpile.KindBool, Default: "false", Doc: "wait until services are running/healthy"},
			{Name: "wait_timeout", Kind: stockpile.KindDuration, Default: "120s", Doc: "how long wait waits"},
			{Name: "env", Kind: stockpile.KindMap, Secret: true, Doc: "variables for compose's interpolation, passed through its environment (never a command line; the project's .env stays in effect)"},
		},
	},
	Decode: decodeCompose,
}

// composeSpec is a decoded docker_compose resource.
type composeSpec struct {
	res           desired.Resource
	File          string
	Project       string
	State         string // up | down
	Pull          string // always | missing | never
	RemoveOrphans bool
	Services      []string
	Wait          bool
	WaitTimeout   time.Duration
	Env           map[string]string // declared; secrets as references
	envVals       map[string]string // resolved (never printed)
	content       []byte            // desired content of File when a file resource writes it
}

func decodeCompose(f fields, env Env) (Spec, error) {
	s := &composeSpec{res: f.r}
	var err error
	if s.File, err = f.str("compose_file"); err != nil {
		return nil, err
	}
	if s.File == "" || !path.IsAbs(s.File) {
		return nil, f.errorf("compose_file", "want an absolute path on the host, got %q", s.File)
	}
	if s.Project, err = f.str("project_name"); err != nil {
		return nil, err
	}
	if s.Project != "" && !projectNameRE.MatchString(s.Project) {
		return nil, f.errorf("project_name", "%q is not a compose project name ([a-z0-9][a-z0-9_-]*)", s.Project)
	}
	if s.State, err = f.enum("state"); err != nil {
		return nil, err
	}
	if s.Pull, err = f.enum("pull"); err != nil {
		return nil, err
	}
	if s.RemoveOrphans, err = f.boolean("remove_orphans"); err != nil {
		return nil, err
	}
	if s.Services, err = f.list("services"); err != nil {
		return nil, err
	}
	for i, svc := range s.Services {
		if !serviceNameRE.MatchString(svc) {
			return nil, f.errorf(fmt.Sprintf("services[%d]", i), "%q is not a compose service name ([a-zA-Z0-9][a-zA-Z0-9._-]*)", svc)
		}
	}
	sort.Strings(s.Services)
	if s.Wait, err = f.boolean("wait"); err != nil {
		return nil, err
	}
	if s.WaitTimeout, err = f.duration("wait_timeout"); err != nil {
		return nil, err
	}
	if s.Env, err = f.strMap("env"); err != nil {
		return nil, err
	}
	s.envVals = map[string]string{}
	for k, v := range s.Env {
		if !envNameRE.MatchString(k) {
			return nil, f.errorf("env."+k, "%q is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", k)
		}
		v, _, err := env.secretValue(f, "env."+k, v)
		if err != nil {
			return nil, err
		}
		if strings.ContainsRune(v, 0) {
			return nil, f.errorf("env."+k, "a value cannot hold a NUL byte")
		}
		s.envVals[k] = v
	}
	return s, nil
}

// SetFileContent tells the resource the compose file's desired content,
// when a file resource of the same host writes it: observe then reads the
// services from it instead of asking compose on the host.
func (s *composeSpec) SetFileContent(b []byte) { s.content = b }

// ComposeFile is the compose file the resource uses.
func (s *composeSpec) ComposeFile() string { return s.File }

func (s *composeSpec) Resource() desired.Resource { return s.res }
func (s *composeSpec) Needs(n *Needs) {
	n.init()
	n.List = true
	n.Compose[s.File] = ComposeNeed{File: s.File, Project: s.Project, Content: s.content, Env: s.envVals}
}
func (s *composeSpec) Keys() []string        { return []string{"compose:" + s.File, "file:" + s.File} }
func (s *composeSpec) Touches() []string     { return []string{"compose:" + s.File} }
func (s *composeSpec) RefreshAction() Action { return ActionReup }

// Plan checks the project's containers, found by compose's own labels
// (what `docker compose ps` reads too), against the services compose
// would start.
func (s *composeSpec) Plan(o *State) Step {
	cs := o.Compose[s.File]
	if cs == nil {
		cs = &ComposeState{Project: s.Project}
	}
	var live []ContainerSummary
	for _, c := range cs.Containers {
		if c.Labels["com.docker.compose.oneoff"] == "True" {
			continue
		}
		live = append(live, c)
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name() < live[j].Name() })
	if s.State == "down" {
		if len(live) == 0 {
			return Step{Action: ActionNone, Reason: "down"}
		}
		st := Step{Action: ActionDown, Reason: fmt.Sprintf("project %s has %d container(s)", cs.Project, len(live))}
		for _, c := range live {
			st.Diff = append(st.Diff, Change{Field: "container " + c.Name(), From: c.State, To: "removed"})
		}
		return st
	}
	services := s.Services
	if len(services) == 0 {
		services = cs.Services
	}
	if len(services) == 0 {
		reason := "compose configuration unknown"
		if cs.Err != "" {
			reason += " (" + firstLine(cs.Err) + ")"
		}
		return Step{Action: ActionUp, Reason: reason}
	}
	var diff []Change
	running := 0
	for _, svc := range services {
		var cs []ContainerSummary
		for _, c := range live {
			if c.Labels["com.docker.compose.service"] == svc {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			diff = append(diff, Change{Field: "service " + svc, To: "missing"})
			continue
		}
		for _, c := range cs {
			if c.State != "running" {
				diff = append(diff, Change{Field: "service " + svc, Subject: "container " + c.Name(), To: c.State})
			} else {
				running++
			}
		}
	}
	if s.RemoveOrphans && len(s.Services) == 0 {
		known := map[string]bool{}
		for _, svc := range cs.Services {
			known[svc] = true
		}
		for _, c := range live {
			if svc := c.Labels["com.docker.compose.service"]; !known[svc] {
				diff = append(diff, Change{Field: "orphan", Subject: "container " + c.Name(), Note: "service " + svc})
			}
		}
	}
	if len(diff) > 0 {
		return Step{Action: ActionUp, Reason: "not all services running", Diff: diff}
	}
	return Step{Action: ActionNone, Reason: fmt.Sprintf("%d service(s) running", len(services))}
}

func (s *composeSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	switch st.Action {
	case ActionUp:
		return s.up(ctx, h)
	case ActionDown:
		args := s.baseArgs()
		args = append(args, "down")
		if s.RemoveOrphans {
			args = append(args, "--remove-orphans")
		}
		ce := &composeEnv{h: h, vals: s.envVals}
		if _, err := composeExec(ctx, ce, args); err != nil {
			return Outcome{Warnings: ce.warnings}, err
		}
		return Outcome{Changed: true, Warnings: ce.warnings}, nil
	}
	return Outcome{}, fmt.Errorf("docker_compose: unexpected action %s", st.Action)
}

// Refresh re-ups the project: compose recreates the services whose
// configuration changed and leaves the others alone.
func (s *composeSpec) Refresh(ctx context.Context, h Host, _ *State) (Outcome, error) {
	if s.State != "up" {
		return Outcome{}, nil
	}
	return s.up(ctx, h)
}

func (s *composeSpec) baseArgs() []string {
	args := []string{"-f", s.File}
	if s.Project != "" {
		args = append(args, "-p", s.Project)
	}
	return args
}

// up runs `up -d` and reports a change only when the project's containers
// (IDs and states) differ before and after.
func (s *composeSpec) up(ctx context.Context, h Host) (Outcome, error) {
	api := newDockerAPI(h)
	defer api.Close()
	project := s.Project
	if project == "" {
		project = s.projectFromLabels(ctx, api)
	}
	before, err := projectContainers(ctx, api, project)
	if err != nil {
		return Outcome{}, err
	}
	args := s.baseArgs()
	args = append(args, "up", "-d")
	if s.Pull != "" {
		args = append(args, "--pull", s.Pull)
	}
	if s.RemoveOrphans {
		args = append(args, "--remove-orphans")
	}
	if s.Wait {
		args = append(args, "--wait", "--wait-timeout", strconv.Itoa(int(s.WaitTimeout.Seconds())))
	}
	if len(s.Services) > 0 {
		// "--": service names are operands, never options.
		args = append(append(args, "--"), s.Services...)
	}
	ce := &composeEnv{h: h, vals: s.envVals}
	_, err = composeExec(ctx, ce, args)
	if err != nil {
		return Outcome{Warnings: ce.warnings}, err
	}
	if project == "" {
		project = s.projectFromLabels(ctx, api)
	}
	after, err := projectContainers(ctx, api, project)
	if err != nil {
		return Outcome{Warnings: ce.warnings}, err
	}
	if before == after {
		return Outcome{Changed: false, Detail: "up: nothing changed", Warnings: ce.warnings}, nil
	}
	return Outcome{Changed: true, Warnings: ce.warnings}, nil
}

// projectFromLabels finds the project of the compose file among the
// containers' compose labels (compose's default name is not always the
// directory's: a name: key or COMPOSE_PROJECT_NAME may set it).
func (s *composeSpec) projectFromLabels(ctx context.Context, api *dockerAPI) string {
	if list, err := api.ListContainers(ctx, "com.docker.compose.project.config_files"); err == nil {
		for _, c := range list {
			for _, f := range strings.Split(c.Labels["com.docker.compose.project.config_files"], ",") {
				if f == s.File {
					return c.Labels["com.docker.compose.project"]
				}
			}
		}
	}
	if s.content != nil {
		if name, _, err := parseComposeServices(s.content); err == nil && name != "" {
			return name
		}
	}
	return defaultProjectName(s.File)
}

// projectContainers is a fingerprint of the project's containers: sorted
// "id state" lines.
func projectContainers(ctx context.Context, api *dockerAPI, project string) (string, error) {
	list, err := api.ListContainers(ctx, "com.docker.compose.project="+project)
	if err != nil {
		return "", fmt.Errorf("list containers of project %s: %w", project, err)
	}
	lines := make([]string, 0, len(list))
	for _, c := range list {
		lines = append(lines, c.ID+" "+c.State)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// envScript passes compose's variables through the environment of the
// compose process: it exports every assignment of the 0600 file given as
// its first argument (values quoted with shellquote, so the shell assigns
// them literally), removes the file, and execs the rest of its arguments.
// It is constant: the file and the command are positional parameters.
// Unlike compose's --env-file, this keeps the project's own .env in effect
// (variables from the environment take precedence over it).
const envScript = `set -a; . "$1"; rm -f -- "$1"; shift; exec "$@"`

// composeEnv runs compose commands with a resource's variables and
// collects what the operator must be told (an env file left behind).
type composeEnv struct {
	h        Host
	vals     map[string]string
	warnings []string
}

// envFileContent is the file envScript sources: NAME='value' lines.
func envFileContent(vals map[string]string) []byte {
	var b strings.Builder
	for _, k := range sortedKeys(vals) {
		b.WriteString(k + "=" + shellquote.Quote(vals[k]) + "\n")
	}
	return []byte(b.String())
}

// composeEnvDir holds compose env files on a host: a root-only directory
// (created 0700; the write refuses it if anyone but root owns or can
// write it or a directory above it), never a shared one like /tmp.
const composeEnvDir = "/var/lib/vigo/compose-env"

// run runs argv, with the variables when there are any. Variables reach
// the host in a file (in composeEnvDir) created with mode 0600 that the wrapper removes
// before compose starts, and vigo removes again on a fresh context: never
// on a command line. A removal that fails is a warning naming the host
// and the file.
func (e *composeEnv) run(ctx context.Context, argv []string) (transport.ExecResult, error) {
	if len(e.vals) == 0 {
		return runArgv(ctx, e.h, argv)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	file := composeEnvDir + "/" + hex.EncodeToString(rnd[:]) + ".env"
	defer e.remove(ctx, file)
	if _, err := e.h.WriteFile(ctx, file, envFileContent(e.vals), transport.FileOptions{Mode: 0o600, DirMode: 0o700}); err != nil {
		return transport.ExecResult{}, fmt.Errorf("write compose env file %s: %w", file, err)
	}
	wrapped := append([]string{"sh", "-c", envScript, "vigo-env", file}, argv...)
	return runArgvShown(ctx, e.h, wrapped, transport.QuoteArgv(argv)+" (variables from "+file+")")
}

func (e *composeEnv) remove(ctx context.Context, file string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := e.h.RemoveFile(rctx, file); err != nil {
		e.warnings = append(e.warnings, fmt.Sprintf("%s: compose env file %s (mode 0600, holds the compose variables) may be left on the host: remove it by hand: %v",
			e.h.Name(), file, err))
	}
}

// composeExec runs `docker compose ARGS` (v2), falling back to the v1
// `docker-compose` where the plugin is missing. v1 lacks some of v2's
// flags: `up --pull always` becomes a `pull` before `up`, `--wait` is
// dropped, and `config --format json` becomes `config --services`.
func composeExec(ctx context.Context, e *composeEnv, args []string) (transport.ExecResult, error) {
	res, err := e.run(ctx, append([]string{"docker", "compose"}, args...))
	if err == nil || !composeMissing(err) {
		return res, err
	}
	v1, pull := composeV1Args(args)
	if pull != nil {
		if res, err := e.run(ctx, append([]string{"docker-compose"}, pull...)); err != nil {
			return res, err
		}
	}
	return e.run(ctx, append([]string{"docker-compose"}, v1...))
}

// composeMissing says whether docker has no compose plugin.
func composeMissing(err error) bool {
	var ee *transport.ExitError
	if !asExit(err, &ee) {
		return false
	}
	s := ee.Stderr
	return strings.Contains(s, "'compose' is not a docker command") ||
		strings.Contains(s, "unknown command: docker compose") ||
		strings.Contains(s, `unknown command "compose"`) ||
		// docker's own usage (not compose's): it did not know "compose"
		strings.Contains(s, "Usage:  docker [OPTIONS] COMMAND")
}

// composeV1Args translates v2 arguments for docker-compose v1; pull is the
// pull command to run first (nil: none).
func composeV1Args(args []string) (v1, pull []string) {
	var global []string
	i := 0
	for ; i < len(args); i++ {
		if args[i] == "-f" || args[i] == "-p" {
			global = append(global, args[i], args[i+1])
			i++
			continue
		}
		break
	}
	if i >= len(args) {
		return args, nil
	}
	sub, rest := args[i], args[i+1:]
	out := append(append([]string(nil), global...), sub)
	var services []string
	switch sub {
	case "config":
		return append(out, "--services"), nil
	case "up":
		for j := 0; j < len(rest); j++ {
			if rest[j] == "--" {
				// Everything after is a service. Older v1 releases do not
				// take "--"; service names are validated at decode (they
				// start with a letter or digit), so they are passed bare.
				services = append(services, rest[j+1:]...)
				out = append(out, rest[j+1:]...)
				break
			}
			switch rest[j] {
			case "--pull":
				if rest[j+1] == "always" {
					pull = append(append([]string(nil), global...), "pull")
				}
				j++
			case "--wait":
			case "--wait-timeout":
				j++
			default:
				out = append(out, rest[j])
				if !strings.HasPrefix(rest[j], "-") {
					services = append(services, rest[j])
				}
			}
		}
		if pull != nil {
			pull = append(pull, services...)
		}
		return out, pull
	}
	return args, nil
}

// runArgv runs argv and turns a non-zero exit into an *transport.ExitError.
func runArgv(ctx context.Context, h Host, argv []string) (transport.ExecResult, error) {
	return runArgvShown(ctx, h, argv, transport.QuoteArgv(argv))
}

// runArgvShown is runArgv with the command as errors show it.
func runArgvShown(ctx context.Context, h Host, argv []string, shown string) (transport.ExecResult, error) {
	cmd := transport.Cmd{Argv: argv}
	if longCommand(argv) {
		cmd.Timeout = boundsOf(h).Long
	}
	res, err := h.Exec(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, &transport.ExitError{Host: h.Name(), Cmd: shown, ExitCode: res.ExitCode, Stderr: tail(string(res.Stderr), 5)}
	}
	return res, nil
}

// longCommand says whether argv is a compose command that pulls images or
// waits for containers (up, pull, down, restart), which gets
// Bounds.Long instead of the per-request limit.
func longCommand(argv []string) bool {
	compose, long := false, false
	for _, a := range argv {
		switch a {
		case "compose", "docker-compose":
			compose = true
		case "up", "pull", "down", "restart":
			long = long || compose
		}
	}
	return long
}

// tail is the last n lines of stderr, cut between lines only (never a
// part of a line, which could be part of a secret).
func tail(s string, n int) string {
	return transport.TailLines(strings.TrimSpace(s), n, 2048)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseComposeServices reads the project name and the services compose
// starts by default (services with profiles are not) from a compose file.
func parseComposeServices(content []byte) (string, []string, error) {
	var doc struct {
		Name     string `yaml:"name"`
		Services map[string]struct {
			Profiles []string `yaml:"profiles"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return "", nil, fmt.Errorf("parse compose file: %w", err)
	}
	var services []string
	for name, svc := range doc.Services {
		if len(svc.Profiles) == 0 {
			services = append(services, name)
		}
	}
	sort.Strings(services)
	if strings.Contains(doc.Name, "$") {
		doc.Name = ""
	}
	return doc.Name, services, nil
}

// defaultProjectName is compose's default: the compose file's directory
// name, lower-cased, keeping only [a-z0-9_-].
func defaultProjectName(file string) string {
	dir := path.Base(path.Dir(file))
	var b strings.Builder
	for _, r := range strings.ToLower(dir) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}
