package converge_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/transport"
)

// A leftover of an interrupted recreate next to a container that matches
// its spec: the leftover is removed, the live container is kept.
func TestLeftoverCleanupKeepsLiveContainer(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	live := h.ContainerByName("webapp").ID
	h.AddContainer("webapp-vigo-new", "myregistry.example.com/webapp:v2.1.0", nil, false)
	h.Reset()
	r, s := run(t, h, docStack("v2.1.0"), false)
	if e := s.summary()[3]; e != "resource_changed app-container cleanup" {
		t.Fatalf("event %s\n%s", e, r.Plan)
	}
	web := h.ContainerByName("webapp")
	if web == nil || web.ID != live || !web.Running || h.ContainerByName("webapp-vigo-new") != nil {
		t.Fatalf("after cleanup: webapp %+v, requests %v", web, h.Mutating())
	}
	for _, m := range h.Mutating() {
		if strings.Contains(m, live) {
			t.Fatalf("the live container was touched: %v", h.Mutating())
		}
	}
}

// A container name that is a prefix of another container's ID is not
// that container (the engine resolves a path's name as an ID prefix too).
func TestInspectByNameIgnoresIDPrefix(t *testing.T) {
	h := fakeHost()
	other := h.AddContainer("other", "redis:7-alpine", nil, true) // ID 000…001
	dh := desired.Host{Name: "web2.app.example.com", Resources: []desired.Resource{
		res("m", "gone", "docker_container", map[string]any{"container": "0000", "state": "absent"}),
	}}
	r, _ := run(t, h, dh, false)
	if r.Changed != 0 || h.ContainerByName("other") == nil || h.ContainerByName("other").ID != other.ID {
		t.Fatalf("an unrelated container was taken for %q:\n%s\n%v", "0000", r.Plan, h.Mutating())
	}
}

// Once the old container is being stopped, an interruption does not stop
// the swap halfway: the service is not left down.
func TestRecreateFinishesSwapAfterCancel(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	old := h.ContainerByName("webapp").ID
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.FailRequest = func(method, path string) bool {
		if method == "POST" && path == "/containers/"+old+"/stop" {
			cancel() // Ctrl-C while the old container stops
		}
		return false
	}
	_, _ = converge.Run(ctx, h, docStack("v2.2.0"), converge.Options{Secrets: secretsMap})
	h.FailRequest = nil
	web := h.ContainerByName("webapp")
	if web == nil || !web.Running || web.ImageID != "sha256:"+strings.Repeat("c", 64) || h.ContainerByName("webapp-vigo-new") != nil {
		t.Fatalf("swap abandoned: webapp %+v, temp %v, requests %v", web, h.ContainerByName("webapp-vigo-new") != nil, h.Mutating())
	}
}

// An error after the temporary container exists says what was left behind
// and that the next push repairs it.
func TestRecreateErrorSaysWhatWasLeft(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	old := h.ContainerByName("webapp").ID
	h.FailRequest = func(method, path string) bool { return method == "DELETE" && path == "/containers/"+old }
	_, err := converge.Run(context.Background(), h, docStack("v2.2.0"), converge.Options{Secrets: secretsMap})
	want := "(docker_container): recreate: recreate of container webapp interrupted: old container " + old[:12] + " stopped; new one left as webapp-vigo-new (not started); the next push repairs it: "
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "web2.app.example.com") {
		t.Fatalf("error %v\nwant it to contain %q, and no host name (push adds it)", err, want)
	}
	h.FailRequest = nil
	run(t, h, docStack("v2.2.0"), false)
	if r, _ := run(t, h, docStack("v2.2.0"), false); r.Changed != 0 {
		t.Fatalf("not repaired:\n%s", r.Plan)
	}
}

// Compose variables reach compose through the environment (a 0600 file
// sourced by a constant wrapper), for `config` in observe and for `up`
// alike; the project's .env stays in effect (no --env-file); a file that
// cannot be removed is reported as a warning naming the host and path.
func TestComposeEnvThroughEnvironment(t *testing.T) {
	h := fakeHost()
	dh := desired.Host{Name: "svc1.compose.example.com", Resources: []desired.Resource{
		res("compose-app", "app-stack", "docker_compose", map[string]any{"compose_file": "/opt/myapp/docker-compose.yml",
			"env": map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url", "MODE": "it's"}}),
	}}
	up := composeHook(h, "redis")
	h.ExecHook = func(argv []string) (transport.ExecResult, bool, error) {
		if len(argv) > 2 && argv[0] == "docker" && argv[len(argv)-3] == "config" {
			return transport.ExecResult{Stdout: []byte(`{"name":"myapp","services":{"redis":{}}}`)}, true, nil
		}
		return up(argv)
	}
	h.FailRemove = func(p string) error {
		if strings.HasPrefix(p, "/var/lib/vigo/compose-env/") {
			return errors.New("connection lost")
		}
		return nil
	}
	r, s := run(t, h, dh, false)
	if r.Changed != 1 {
		t.Fatalf("plan:\n%s", r.Plan)
	}
	var wrapped int
	for _, c := range h.Commands {
		if strings.Contains(c, "--env-file") || strings.Contains(c, "CANARY") {
			t.Fatalf("command: %s", c)
		}
		if strings.HasPrefix(c, "sh -c ") && strings.Contains(c, " vigo-env /var/lib/vigo/compose-env/") && strings.Contains(c, " docker compose -f /opt/myapp/docker-compose.yml ") {
			wrapped++
		}
	}
	if wrapped != 2 || len(h.EnvFiles) != 2 {
		t.Fatalf("want config and up through the wrapper: %v", h.Commands)
	}
	for _, f := range h.EnvFiles {
		if f != "DATABASE_URL="+transport.Quote(canary)+"\nMODE='it'\\''s'\n" {
			t.Fatalf("env file %q", f)
		}
	}
	var warnings []event.Event
	for _, e := range s.ev {
		if e.Kind == event.Warning {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0].Reason, "web2.app.example.com: compose env file /var/lib/vigo/compose-env/") ||
		warnings[1].Resource != "app-stack" {
		t.Fatalf("warnings: %+v", warnings)
	}
}

// A secret reference in a field tagged !raw is literal text. (A
// reference in a field executors do not substitute, untagged, is refused
// by validate and by push before converge runs: executors.SecretRefs.)
// A reference push did not resolve fails the host before anything is read.
func TestSecretRefOnlyWhereSubstituted(t *testing.T) {
	h := fakeHost()
	env := res("m", "c", "docker_container", map[string]any{"container": "web", "image": "redis:7-alpine",
		"environment": map[string]any{"DB": "secret:not/resolved"}})
	_, err := converge.Run(context.Background(), h, desired.Host{Name: "web2.app.example.com", Resources: []desired.Resource{env}}, converge.Options{Secrets: secretsMap})
	var ue *executors.UnsetSecretError
	if !errors.As(err, &ue) || ue.Path != "not/resolved" || len(h.Requests) != 0 {
		t.Fatalf("error %v, requests %v", err, h.Requests)
	}
	lbl := res("m", "c", "docker_container", map[string]any{"container": "web", "image": "redis:7-alpine",
		"labels": map[string]any{"db": "secret:vigo/webapp/database_url"}})
	lbl.Raw = map[string]bool{"labels": true}
	run(t, h, desired.Host{Name: "web2.app.example.com", Resources: []desired.Resource{lbl}}, false)
	if c := h.ContainerByName("web"); c == nil || c.Labels["db"] != "secret:vigo/webapp/database_url" {
		t.Fatalf("raw label: %+v", c)
	}
}

// setuid, setgid and sticky bits are written and compared as such: a
// second push of a 4755 file changes nothing.
func TestFileSpecialModeBitsConverge(t *testing.T) {
	h := fakeHost()
	dh := desired.Host{Name: "web2.app.example.com", Resources: []desired.Resource{
		res("m", "tool", "file", map[string]any{"target_path": "/usr/local/bin/tool", "content": "#!/bin/sh\n", "mode": "4755"}),
		res("m", "shared", "file", map[string]any{"target_path": "/srv/shared/x", "content": "x\n", "mode": "3775"}),
	}}
	run(t, h, dh, false)
	if r, _ := run(t, h, dh, false); r.Changed != 0 {
		t.Fatalf("second push:\n%s", r.Plan)
	}
}
