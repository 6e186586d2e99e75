package converge_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors/executorstest"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

const canary = "postgres://vigo:CANARY-s3cret@db/app"

var secretsMap = map[string]string{"vigo/webapp/database_url": canary}

type sink struct {
	mu sync.Mutex
	ev []event.Event
}

func (s *sink) Emit(e event.Event) { s.mu.Lock(); s.ev = append(s.ev, e); s.mu.Unlock() }

func (s *sink) summary() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.ev {
		out = append(out, string(e.Kind)+" "+e.Resource+" "+e.Action)
	}
	return out
}

func res(module, name, typ string, fields map[string]any) desired.Resource {
	return desired.Resource{Name: name, Type: typ, Module: module, Fields: fields, Pos: stockpile.Pos{File: "modules/" + module + ".vgo", Line: 3, Col: 5}}
}

// docStack is the documentation's redis + app-stack modules, rendered for
// a host with app_tag v2.1.0 and redis_maxmemory 512mb.
func docStack(tag string) desired.Host {
	return desired.Host{Name: "web2.app.example.com", Resources: []desired.Resource{
		res("redis", "redis-image", "docker_image", map[string]any{"image": "redis", "tag": "7-alpine", "state": "present"}),
		res("redis", "redis-container", "docker_container", map[string]any{"container": "redis", "image": "redis:7-alpine", "state": "running",
			"ports": []any{"6379:6379"}, "command": "redis-server --maxmemory 512mb", "restart_policy": "unless-stopped"}),
		res("app-stack", "app-image", "docker_image", map[string]any{"image": "myregistry.example.com/webapp", "tag": tag, "state": "present"}),
		res("app-stack", "app-container", "docker_container", map[string]any{"container": "webapp", "image": "myregistry.example.com/webapp:" + tag, "state": "running",
			"ports": []any{"8080:8080"}, "restart_policy": "unless-stopped",
			"environment": map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "secret:vigo/webapp/database_url"}}),
	}}
}

func fakeHost() *executorstest.Host {
	h := executorstest.New("web2.app.example.com")
	h.AddImage("redis:7-alpine", "sha256:"+strings.Repeat("a", 64), false, []string{"PATH=/usr/bin", "REDIS_VERSION=7.4"}, []string{"redis-server"})
	h.AddImage("myregistry.example.com/webapp:v2.1.0", "sha256:"+strings.Repeat("b", 64), false, []string{"PATH=/usr/bin", "APP_VERSION=2.1.0"}, []string{"/webapp"})
	h.AddImage("myregistry.example.com/webapp:v2.2.0", "sha256:"+strings.Repeat("c", 64), false, []string{"PATH=/usr/bin", "APP_VERSION=2.2.0"}, []string{"/webapp"})
	return h
}

func run(t *testing.T, h *executorstest.Host, dh desired.Host, dry bool) (converge.Result, *sink) {
	t.Helper()
	s := &sink{}
	r, err := converge.Run(context.Background(), h, dh, converge.Options{DryRun: dry, Secrets: secretsMap, Sink: s})
	if err != nil {
		t.Fatalf("converge: %v\n%s", err, r.Plan)
	}
	assertNoSecret(t, r, s)
	return r, s
}

func assertNoSecret(t *testing.T, r converge.Result, s *sink) {
	t.Helper()
	b, _ := json.Marshal(s.ev)
	if strings.Contains(string(b), "CANARY") || strings.Contains(r.Plan, "CANARY") {
		t.Fatalf("secret value in events or plan")
	}
	if r.Err != nil && strings.Contains(r.Err.Error(), "CANARY") {
		t.Fatalf("secret value in error")
	}
}

func TestFreshThenNoop(t *testing.T) {
	h := fakeHost()
	r, _ := run(t, h, docStack("v2.1.0"), false)
	if r.Changed != 4 || r.OK != 0 {
		t.Fatalf("fresh push: changed %d ok %d, want 4 and 0\n%s", r.Changed, r.OK, r.Plan)
	}
	web := h.ContainerByName("webapp")
	if web == nil || !web.Running {
		t.Fatalf("webapp not running")
	}
	env, _ := json.Marshal(web.Created["Env"])
	if !strings.Contains(string(env), "DATABASE_URL="+canary) {
		t.Fatalf("secret did not reach the container: %s", env)
	}
	for _, c := range h.Commands {
		if strings.Contains(c, "CANARY") {
			t.Fatalf("secret on a command line: %s", c)
		}
	}

	h.Reset()
	d0 := h.Dials.Load()
	r, s := run(t, h, docStack("v2.1.0"), false)
	if r.Changed != 0 || r.OK != 4 {
		t.Fatalf("second push: changed %d ok %d, want 0 and 4\n%s", r.Changed, r.OK, r.Plan)
	}
	if m := h.Mutating(); len(m) != 0 {
		t.Fatalf("no-op push changed things: %v", m)
	}
	if n := len(h.Commands); n != 0 {
		t.Fatalf("no-op push of containers ran %d commands, want 0: %v", n, h.Commands)
	}
	if got := len(h.Requests); got != 5 { // list + 2 container inspects + 2 image inspects
		t.Fatalf("no-op push made %d API requests, want 5: %v", got, h.Requests)
	}
	// One stream per concurrent request; net/http may dial one spare
	// when a request finds an idle stream before its own dial completes.
	if d := h.Dials.Load() - d0; d > 6 {
		t.Fatalf("no-op push opened %d streams", d)
	}
	for _, e := range s.ev {
		if e.Kind != event.ResourceOK {
			t.Errorf("second push event %s %s, want resource_ok", e.Kind, e.Resource)
		}
	}
}

func TestNewTagRecreatesOnlyWebapp(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	redisID := h.ContainerByName("redis").ID
	oldWeb := h.ContainerByName("webapp").ID
	r, s := run(t, h, docStack("v2.2.0"), false)
	if h.ContainerByName("redis").ID != redisID {
		t.Fatalf("redis was recreated")
	}
	if h.ContainerByName("webapp").ID == oldWeb {
		t.Fatalf("webapp was not recreated")
	}
	if h.ContainerByName("webapp"+"-vigo-new") != nil {
		t.Fatalf("temporary container left behind")
	}
	want := []string{
		"resource_ok redis-image none",
		"resource_ok redis-container none",
		"resource_changed app-image pull",
		"resource_changed app-container recreate",
	}
	if got := s.summary(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s\nplan:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.Plan)
	}
	if !strings.Contains(r.Plan, "image: myregistry.example.com/webapp v2.1.0 -> v2.2.0") {
		t.Fatalf("plan does not name the image change:\n%s", r.Plan)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	h.Reset()
	r, s := run(t, h, docStack("v2.2.0"), true)
	if m := h.Mutating(); len(m) != 0 {
		t.Fatalf("dry-run changed things: %v", m)
	}
	for _, e := range s.ev {
		if e.Kind != event.ResourcePlanned {
			t.Fatalf("dry-run emitted %s", e.Kind)
		}
	}
	if !strings.Contains(r.Plan, "app-image (docker_image): pull") || !strings.Contains(r.Plan, "app-container (docker_container): recreate") {
		t.Fatalf("dry-run plan:\n%s", r.Plan)
	}
}

func TestFailureSkipsTheRest(t *testing.T) {
	h := fakeHost()
	dh := docStack("v9.9.9") // not in the registry
	s := &sink{}
	r, err := converge.Run(context.Background(), h, dh, converge.Options{Secrets: secretsMap, Sink: s})
	if err == nil {
		t.Fatalf("pull of a missing image succeeded")
	}
	if !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "app-image") || !strings.Contains(err.Error(), "modules/app-stack.vgo:3:5") {
		t.Fatalf("error does not say what failed where: %v", err)
	}
	if r.Changed != 2 || r.Failed != 1 || r.Skipped != 1 {
		t.Fatalf("changed %d failed %d skipped %d, want 2 1 1", r.Changed, r.Failed, r.Skipped)
	}
	got := s.summary()
	if got[2] != "resource_failed app-image pull" || got[3] != "resource_skipped app-container create" {
		t.Fatalf("events: %v", got)
	}
	if h.ContainerByName("webapp") != nil {
		t.Fatalf("webapp created after a failure")
	}
}

func TestMissingSecretFailsBeforeAnyChange(t *testing.T) {
	h := fakeHost()
	s := &sink{}
	_, err := converge.Run(context.Background(), h, docStack("v2.1.0"), converge.Options{Secrets: map[string]string{}, Sink: s})
	if err == nil || !strings.Contains(err.Error(), `"vigo/webapp/database_url"`) || !strings.Contains(err.Error(), "app-container") {
		t.Fatalf("want an error naming the path and the resource, got %v", err)
	}
	if len(h.Requests) != 0 || len(h.Commands) != 0 {
		t.Fatalf("host touched: %v %v", h.Requests, h.Commands)
	}
}

func composeStack(content string) desired.Host {
	return desired.Host{Name: "svc1.compose.example.com", Resources: []desired.Resource{
		withNotify(res("compose-app", "compose-file", "file", map[string]any{"target_path": "/opt/myapp/docker-compose.yml", "content": content}), "compose-app/app-stack", ""),
		withNotify(res("compose-app", "app-stack", "docker_compose", map[string]any{"compose_file": "/opt/myapp/docker-compose.yml", "pull": "always", "remove_orphans": "true"}), "", "compose-app/compose-file"),
	}}
}

func withNotify(r desired.Resource, notify, subscribes string) desired.Resource {
	if notify != "" {
		r.Notify = []string{notify}
	}
	if subscribes != "" {
		r.Subscribes = []string{subscribes}
	}
	return r
}

// composeHook makes `docker compose up` create one running container per
// service of the file, like compose does.
func composeHook(h *executorstest.Host, services ...string) func([]string) (transport.ExecResult, bool, error) {
	return func(argv []string) (transport.ExecResult, bool, error) {
		if len(argv) < 2 || argv[0] != "docker" || argv[1] != "compose" {
			return transport.ExecResult{}, false, nil
		}
		for _, svc := range services {
			name := "myapp-" + svc + "-1"
			if c := h.ContainerByName(name); c != nil && c.Running {
				continue
			}
			h.RemoveContainer(name)
			h.AddContainer(name, "redis:7-alpine", map[string]string{"com.docker.compose.project": "myapp", "com.docker.compose.service": svc}, true)
		}
		return transport.ExecResult{}, true, nil
	}
}

func TestNotifyReupsOnceAndOrder(t *testing.T) {
	h := fakeHost()
	h.ExecHook = composeHook(h, "redis")
	content := "services:\n  redis:\n    image: redis:7-alpine\n"
	r, s := run(t, h, composeStack(content), false)
	// The compose project has no containers in the fake: up runs, and the
	// re-up it was notified for is the same single up.
	ups := 0
	for _, c := range h.Commands {
		if strings.Contains(c, " up -d") {
			ups++
		}
	}
	if ups != 1 {
		t.Fatalf("compose up ran %d times, want once: %v\n%s", ups, h.Commands, r.Plan)
	}
	if got := s.summary(); got[0] != "resource_changed compose-file write" {
		t.Fatalf("events: %v", got)
	}

	// Same file, all running: no-op.
	h.Reset()
	r, _ = run(t, h, composeStack(content), false)
	if r.Changed != 0 || len(h.Mutating()) != 0 {
		t.Fatalf("unchanged stack: changed %d, %v\n%s", r.Changed, h.Mutating(), r.Plan)
	}
	// A changed file: re-up although every service runs.
	h.Reset()
	_, s = run(t, h, composeStack(content+"    restart: always\n"), false)
	want := []string{"resource_changed compose-file write", "resource_ok app-stack reup"}
	if got := s.summary(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events %v, want %v", got, want)
	}
	if m := h.Mutating(); len(m) != 2 || !strings.Contains(m[1], "up -d --pull always --remove-orphans") {
		t.Fatalf("commands: %v", m)
	}
	// A service container removed by hand comes back.
	h.RemoveContainer("myapp-redis-1")
	h.Reset()
	_, s = run(t, h, composeStack(content+"    restart: always\n"), false)
	if got := s.summary(); got[1] != "resource_changed app-stack up" {
		t.Fatalf("events %v", got)
	}
}

func TestListenerBeforeSourceRunsAtEnd(t *testing.T) {
	h := fakeHost()
	dh := docStack("v2.1.0")
	run(t, h, dh, false)
	// The redis container subscribes to a file that comes after it.
	dh.Resources[1].Subscribes = []string{"redis/conf"}
	dh.Resources = append(dh.Resources, res("redis", "conf", "file", map[string]any{"target_path": "/etc/redis.conf", "content": "maxmemory 512mb\n"}))
	// And webapp is notified by the same file twice (notify + subscribes).
	dh.Resources[4].Notify = []string{"app-stack/app-container", "redis/redis-container"}
	dh.Resources[3].Subscribes = []string{"redis/conf"}
	_, s := run(t, h, dh, false)
	want := []string{
		"resource_ok redis-image none",
		"resource_ok redis-container none",
		"resource_ok app-image none",
		"resource_ok app-container none",
		"resource_changed conf write",
		"resource_changed redis-container restart",
		"resource_changed app-container restart",
	}
	if got := s.summary(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	restarts := 0
	for _, r := range h.Requests {
		if strings.HasSuffix(r, "/restart") {
			restarts++
		}
	}
	if restarts != 2 {
		t.Fatalf("%d restarts, want 2 (one per listener)", restarts)
	}
}

func TestListenerAfterSourceRunsAtItsPosition(t *testing.T) {
	h := fakeHost()
	dh := docStack("v2.1.0")
	run(t, h, dh, false)
	conf := res("app-stack", "conf", "file", map[string]any{"target_path": "/etc/app.conf", "content": "x\n"})
	conf.Notify = []string{"app-stack/app-container"}
	dh.Resources = append(dh.Resources[:3], append([]desired.Resource{conf}, dh.Resources[3:]...)...)
	_, s := run(t, h, dh, false)
	want := []string{
		"resource_ok redis-image none",
		"resource_ok redis-container none",
		"resource_ok app-image none",
		"resource_changed conf write",
		"resource_changed app-container restart",
	}
	if got := s.summary(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A listener that changes anyway is not restarted on top.
	h.Reset()
	dh.Resources[3].Fields["content"] = "y\n"
	dh.Resources[4].Fields["restart_policy"] = "always"
	_, s = run(t, h, dh, false)
	if got := s.summary(); got[4] != "resource_changed app-container recreate" {
		t.Fatalf("events: %v", got)
	}
	for _, r := range h.Requests {
		if strings.HasSuffix(r, "/restart") {
			t.Fatalf("recreated container also restarted")
		}
	}
}

func TestUnknownNotifyTarget(t *testing.T) {
	h := fakeHost()
	dh := docStack("v2.1.0")
	dh.Resources[0].Notify = []string{"redis/nope"}
	_, err := converge.Run(context.Background(), h, dh, converge.Options{Secrets: secretsMap})
	if err == nil || !strings.Contains(err.Error(), `no resource "redis/nope"`) {
		t.Fatalf("got %v", err)
	}
}

func TestRecreateOrderAndInterruptedRepair(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	h.Reset()
	run(t, h, docStack("v2.2.0"), false)
	var seq []string
	for _, m := range h.Mutating() {
		if strings.Contains(m, "/containers/") {
			seq = append(seq, m[:strings.Index(m, " ")]+" "+m[strings.LastIndex(m, "/")+1:])
		}
	}
	// The new container is created (under a temporary name) before the old
	// one is stopped and removed, then renamed and started.
	want := "POST create,POST stop,DELETE " + strings.Repeat("0", 63) + "2,POST rename,POST start"
	if got := strings.Join(seq, ","); got != want {
		t.Fatalf("recreate sequence %s\nwant %s", got, want)
	}

	// An interrupted recreate left the temporary container and no webapp:
	// the next push removes the leftover and creates webapp.
	h.RemoveContainer("webapp")
	h.AddContainer("webapp-vigo-new", "myregistry.example.com/webapp:v2.2.0", nil, false)
	r, s := run(t, h, docStack("v2.2.0"), false)
	if got := s.summary()[3]; got != "resource_changed app-container create" || !strings.Contains(r.Plan, "leftover: webapp-vigo-new") {
		t.Fatalf("repair: %s\n%s", got, r.Plan)
	}
	if h.ContainerByName("webapp-vigo-new") != nil || h.ContainerByName("webapp") == nil {
		t.Fatal("leftover not cleaned or webapp not created")
	}
	r, _ = run(t, h, docStack("v2.2.0"), false)
	if r.Changed != 0 {
		t.Fatalf("not converged after repair:\n%s", r.Plan)
	}
}

func TestImageInUseAndComposeEnvFile(t *testing.T) {
	h := fakeHost()
	run(t, h, docStack("v2.1.0"), false)
	dh := docStack("v2.1.0")
	dh.Resources[0].Fields["state"] = "absent"
	_, err := converge.Run(context.Background(), h, dh, converge.Options{Secrets: secretsMap})
	if err == nil || !strings.Contains(err.Error(), "image redis:7-alpine is used by container(s) redis") {
		t.Fatalf("got %v", err)
	}

	h.ExecHook = composeHook(h, "redis")
	cs := composeStack("services:\n  redis:\n    image: redis:7-alpine\n")
	cs.Resources[1].Fields["env"] = map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url", "MODE": "it's"}
	run(t, h, cs, false)
	// Values reach compose through its environment: a 0600 file sourced
	// by the wrapper, never a command line, never --env-file.
	for _, c := range h.Commands {
		if strings.Contains(c, "CANARY") || strings.Contains(c, "--env-file") {
			t.Errorf("command: %s", c)
		}
	}
	if len(h.EnvFiles) != 1 || !strings.Contains(h.EnvFiles[0], "DATABASE_URL="+transport.Quote(canary)) {
		t.Fatalf("env files: %d", len(h.EnvFiles))
	}
	for p := range h.Files {
		if strings.HasPrefix(p, "/var/lib/vigo/compose-env/") {
			t.Fatal("env file left on the host")
		}
	}
}

// Every point where a recreate can be interrupted leaves a state the next
// push repairs.
func TestInterruptedRecreateRepairs(t *testing.T) {
	for _, stopAt := range []string{"POST /containers/%s/stop", "DELETE /containers/%s", "POST /containers/%s/rename", "POST /containers/%s/start"} {
		name := map[string]string{"POST /containers/%s/stop": "stop old", "DELETE /containers/%s": "remove old",
			"POST /containers/%s/rename": "rename new", "POST /containers/%s/start": "start new"}[stopAt]
		t.Run(name, func(t *testing.T) {
			h := fakeHost()
			run(t, h, docStack("v2.1.0"), false)
			old := h.ContainerByName("webapp").ID
			newID := ""
			h.FailRequest = func(method, path string) bool {
				if method == "POST" && path == "/containers/create" {
					return false
				}
				id := old
				if !strings.HasPrefix(stopAt, "POST /containers/%s/stop") && !strings.HasPrefix(stopAt, "DELETE") {
					if c := h.ByNameLocked("webapp-vigo-new"); c != nil {
						newID = c.ID
					}
					id = newID
				}
				return method+" "+path == strings.Replace(stopAt, "%s", id, 1)
			}
			_, err := converge.Run(context.Background(), h, docStack("v2.2.0"), converge.Options{Secrets: secretsMap})
			if err == nil {
				t.Fatal("interruption not reported")
			}
			h.FailRequest = nil
			run(t, h, docStack("v2.2.0"), false)
			r, _ := run(t, h, docStack("v2.2.0"), false)
			web := h.ContainerByName("webapp")
			if r.Changed != 0 || web == nil || !web.Running || web.ImageID != "sha256:"+strings.Repeat("c", 64) || h.ContainerByName("webapp-vigo-new") != nil {
				t.Fatalf("not repaired: changed %d, webapp %+v\n%s", r.Changed, web, r.Plan)
			}
		})
	}
}
