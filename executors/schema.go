package executors

import (
	"sort"

	"github.com/vigo-sh/vigocli/stockpile"
)

// The field schemas of the built-in resource types. The loader checks
// stockpiles against them; each executor decodes its rendered fields with
// the same names. Keep the README's field reference in step with this file.
var (
	dockerImageSchema = stockpile.TypeSchema{
		Type: "docker_image",
		Doc:  "an image present (pulled) or absent on the host",
		Fields: []stockpile.Field{
			{Name: "image", Kind: stockpile.KindString, Required: true, Doc: "repository, e.g. redis or myregistry.example.com/webapp"},
			{Name: "tag", Kind: stockpile.KindString, Doc: "tag (default latest)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Doc: "present (default) or absent"},
			{Name: "pull", Kind: stockpile.KindString, Enum: []string{"missing", "always"}, Doc: "missing (default): pull only when absent; always: pull every push, changed only when the image ID changes"},
		},
	}
	dockerContainerSchema = stockpile.TypeSchema{
		Type: "docker_container",
		Doc:  "a container created, running, stopped or absent, recreated when its configuration differs",
		Fields: []stockpile.Field{
			{Name: "container", Kind: stockpile.KindString, Required: true, Doc: "container name"},
			{Name: "image", Kind: stockpile.KindString, Doc: "image reference (required unless state is absent)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"running", "stopped", "absent"}, Doc: "running (default), stopped or absent"},
			{Name: "ports", Kind: stockpile.KindList, Doc: "published ports: [IP:]HOST:CONTAINER[/PROTO] (an explicit IP is kept as written)"},
			{Name: "command", Kind: stockpile.KindAny, Doc: "command: a string (split like a shell would, without expansion) or a list"},
			{Name: "entrypoint", Kind: stockpile.KindAny, Doc: "entrypoint: a string or a list"},
			{Name: "environment", Kind: stockpile.KindMap, Doc: "environment variables; values may be secret:PATH"},
			{Name: "restart_policy", Kind: stockpile.KindString, Doc: "no, always, unless-stopped, on-failure[:N]"},
			{Name: "volumes", Kind: stockpile.KindList, Doc: "mounts: SOURCE:TARGET[:ro] (volume name, applied after its docker_volume, or absolute host path)"},
			{Name: "networks", Kind: stockpile.KindAny, Doc: "networks to attach: NAME or {name: NAME, aliases: [ALIAS...]} (applied after their docker_network; an undeclared one is created if missing)"},
			{Name: "labels", Kind: stockpile.KindMap, Doc: "container labels (no secret references)"},
			{Name: "user", Kind: stockpile.KindString, Doc: "user[:group] to run as"},
			{Name: "working_dir", Kind: stockpile.KindString, Doc: "working directory"},
			{Name: "hostname", Kind: stockpile.KindString, Doc: "container hostname"},
			{Name: "healthcheck", Kind: stockpile.KindAny, Doc: "map: test, interval, timeout, retries, start_period"},
			{Name: "wait_healthy", Kind: stockpile.KindBool, Doc: "after start, wait until the healthcheck passes"},
			{Name: "wait_timeout", Kind: stockpile.KindDuration, Doc: "how long wait_healthy waits (default 60s)"},
		},
		Uses: containerUses,
	}
	dockerComposeSchema = stockpile.TypeSchema{
		Type: "docker_compose",
		Doc:  "a docker compose project up (all services running) or down",
		Fields: []stockpile.Field{
			{Name: "compose_file", Kind: stockpile.KindString, Required: true, Doc: "path of the compose file on the host"},
			{Name: "project_name", Kind: stockpile.KindString, Doc: "project name (default: compose's own, the file's directory name)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"up", "down"}, Doc: "up (default) or down"},
			{Name: "pull", Kind: stockpile.KindString, Enum: []string{"always", "missing", "never"}, Doc: "pull policy for up (default missing)"},
			{Name: "remove_orphans", Kind: stockpile.KindBool, Doc: "remove containers of services no longer in the file"},
			{Name: "services", Kind: stockpile.KindList, Doc: "only these services (default all)"},
			{Name: "wait", Kind: stockpile.KindBool, Doc: "wait until services are running/healthy"},
			{Name: "wait_timeout", Kind: stockpile.KindDuration, Doc: "how long wait waits (default 120s)"},
			{Name: "env", Kind: stockpile.KindMap, Doc: "variables for compose's interpolation, passed through its environment (never a command line; the project's .env stays in effect); values may be secret:PATH"},
		},
	}
	fileSchema = stockpile.TypeSchema{
		Type: "file",
		Doc:  "a file on the host, written atomically and compared by sha256",
		Fields: []stockpile.Field{
			{Name: "target_path", Kind: stockpile.KindString, Required: true, Doc: "absolute path on the host"},
			{Name: "content", Kind: stockpile.KindString, Doc: "file content (templated unless tagged !raw)"},
			{Name: "source", Kind: stockpile.KindString, Doc: "a file in the stockpile (relative to the stockpile directory; must stay inside it after symlinks), sent as is"},
			{Name: "mode", Kind: stockpile.KindString, Doc: "octal mode, e.g. \"0644\" (default 0644)"},
			{Name: "owner", Kind: stockpile.KindString, Doc: "owner user name"},
			{Name: "group", Kind: stockpile.KindString, Doc: "group name"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Doc: "present (default) or absent"},
		},
	}
)

// Schemas returns the schemas of the built-in types. It satisfies
// stockpile.Types.
type Schemas map[string]stockpile.TypeSchema

// BuiltinSchemas is what stockpile.Load is given by the CLI.
func BuiltinSchemas() Schemas {
	s := Schemas{}
	for _, t := range []stockpile.TypeSchema{dockerImageSchema, dockerContainerSchema, dockerComposeSchema, fileSchema, dockerNetworkSchema, dockerVolumeSchema} {
		s[t.Type] = t
	}
	return s
}

func (s Schemas) Schema(typ string) (stockpile.TypeSchema, bool) {
	t, ok := s[typ]
	return t, ok
}

func (s Schemas) TypeNames() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
