// Package stockpiletest gives tests a fixed set of resource types.
package stockpiletest

import (
	"sort"

	"github.com/vigo-sh/vigocli/stockpile"
)

// testTypes mirrors the shape of the executors' built-in schemas (the
// stockpile package never imports executors, and its tests must not break
// while executors change). Kinds and enums match executors/schema.go.
type testTypes map[string]stockpile.TypeSchema

func (t testTypes) Schema(typ string) (stockpile.TypeSchema, bool) { s, ok := t[typ]; return s, ok }
func (t testTypes) TypeNames() []string {
	var out []string
	for n := range t {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Types returns the test resource types.
func Types() stockpile.Types {
	S, B, D, L, M, A := stockpile.KindString, stockpile.KindBool, stockpile.KindDuration, stockpile.KindList, stockpile.KindMap, stockpile.KindAny
	f := func(name string, k stockpile.Kind, req bool, enum ...string) stockpile.Field {
		return stockpile.Field{Name: name, Kind: k, Required: req, Enum: enum}
	}
	return testTypes{
		"docker_image": {Type: "docker_image", Fields: []stockpile.Field{
			f("image", S, true), f("tag", S, false), f("state", S, false, "present", "absent"), f("pull", S, false, "missing", "always"),
		}},
		"docker_container": {Type: "docker_container", Fields: []stockpile.Field{
			f("container", S, true), f("image", S, false), f("state", S, false, "running", "stopped", "absent"),
			f("ports", L, false), f("command", A, false), f("entrypoint", A, false), f("environment", M, false),
			f("restart_policy", S, false), f("volumes", L, false), f("networks", A, false), f("labels", M, false),
			f("user", S, false), f("working_dir", S, false), f("hostname", S, false), f("healthcheck", A, false),
			f("wait_healthy", B, false), f("wait_timeout", D, false), f("stop_timeout", stockpile.KindInt, false),
		}},
		"docker_compose": {Type: "docker_compose", Fields: []stockpile.Field{
			f("compose_file", S, true), f("project_name", S, false), f("state", S, false, "up", "down"),
			f("pull", S, false, "always", "missing", "never"), f("remove_orphans", B, false), f("services", L, false),
			f("wait", B, false), f("wait_timeout", D, false), f("env", M, false),
		}},
		"docker_network": {Type: "docker_network", Key: "network", Fields: []stockpile.Field{
			f("network", S, true), f("driver", S, false), f("options", M, false), f("labels", M, false),
			f("internal", B, false), f("attachable", B, false), f("subnet", S, false), f("gateway", S, false),
			f("state", S, false, "present", "absent"), f("take_over", B, false),
		}},
		"docker_volume": {Type: "docker_volume", Key: "volume", Fields: []stockpile.Field{
			f("volume", S, true), f("driver", S, false), f("driver_opts", M, false), f("labels", M, false),
			f("state", S, false, "present", "absent"), f("recreate", B, false), f("take_over", B, false),
		}},
		"file": {Type: "file", Fields: []stockpile.Field{
			f("target_path", S, true), f("content", S, false), f("source", S, false), f("mode", S, false),
			f("owner", S, false), f("group", S, false), f("state", S, false, "present", "absent"),
		}},
	}
}
