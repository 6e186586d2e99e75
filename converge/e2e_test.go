package converge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// cleanHost removes what the documentation's stacks leave on a host, so
// that the first push meets a fresh host.
func (l *lab) cleanHost(t *testing.T, host string) {
	t.Helper()
	ids, _ := l.try(host, "docker", "ps", "-aq")
	if ids != "" {
		l.run(t, host, append([]string{"docker", "rm", "-f"}, strings.Fields(ids)...)...)
	}
	for _, img := range []string{"redis:7-alpine", "myregistry.example.com/webapp:v2.1.0", "myregistry.example.com/webapp:v2.2.0", "nginx:latest", "myregistry.example.com/api:v2.1.0"} {
		_, _ = l.try(host, "docker", "image", "rm", "-f", img)
	}
	_, _ = l.try(host, "rm", "-rf", "/opt/myapp")
}

func kinds(s *sink) map[event.Kind]int {
	m := map[event.Kind]int{}
	for _, e := range s.ev {
		m[e.Kind]++
	}
	return m
}

func eventFor(s *sink, resource string) event.Event {
	for _, e := range s.ev {
		if e.Resource == resource {
			return e
		}
	}
	return event.Event{}
}

func noSecretIn(t *testing.T, r interface{ String() string }, s *sink, plan string) {
	t.Helper()
	b, _ := json.Marshal(s.ev)
	if strings.Contains(string(b)+plan, "CANARY") {
		t.Fatal("a secret value reached the events or the plan")
	}
}

// samplePS samples the host's process list while a push runs and fails
// the test if a secret value shows up in it; stop returns the number of
// samples taken.
func (l *lab) samplePS(t *testing.T, host string) (stop func() int) {
	done := make(chan struct{})
	count := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				count <- n
				return
			default:
			}
			out, err := l.try(host, "ps", "-eo", "args")
			if err == nil {
				n++
				if strings.Contains(out, "CANARY") {
					t.Errorf("secret value in %s's process list:\n%s", host, out)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() int { close(done); return <-count }
}

// waitHTTP asks the host for url until it answers (the app needs a moment
// after start).
func (l *lab) waitHTTP(t *testing.T, host, url string) string {
	t.Helper()
	var last error
	for i := 0; i < 40; i++ {
		out, err := l.try(host, "curl", "-sf", "--max-time", "2", url)
		if err == nil {
			return out
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: %s never answered: %v", host, url, last)
	return ""
}

// TestLabDocStack walks issue 6's done-when list on real sshd and dockerd.
func TestLabDocStack(t *testing.T) {
	l := requireLab(t, web2, web3, svc1)
	for _, h := range []string{web2, web3, svc1} {
		l.cleanHost(t, h)
	}

	// 1. Fresh hosts, one push.
	for _, h := range []string{web2, web3} {
		r, s := l.push(t, l.desiredHost(t, h, nil), false)
		if r.Changed != 4 || r.Failed != 0 {
			t.Fatalf("%s: fresh push changed %d failed %d\n%s", h, r.Changed, r.Failed, r.Plan)
		}
		noSecretIn(t, nil, s, r.Plan)
		cmd := l.inspect(t, h, "{{json .Config.Cmd}}", "redis")
		if !strings.Contains(cmd, `"--maxmemory","512mb"`) {
			t.Fatalf("%s: redis command %s", h, cmd)
		}
		if pong := l.run(t, h, "docker", "exec", "redis", "redis-cli", "-h", l.lt.Host(h).Address, "-p", "6379", "ping"); pong != "PONG" {
			t.Fatalf("%s: redis at %s:6379 answered %q", h, l.lt.Host(h).Address, pong)
		}
		env := l.inspect(t, h, "{{json .Config.Env}}", "webapp")
		if !strings.Contains(env, "REDIS_URL=redis://localhost:6379") || !strings.Contains(env, "DATABASE_URL="+labSecrets["vigo/webapp/database_url"]) {
			t.Fatalf("%s: webapp env %s", h, env)
		}
		if img := l.inspect(t, h, "{{.Config.Image}}", "webapp"); img != "myregistry.example.com/webapp:v2.1.0" {
			t.Fatalf("%s: webapp image %s", h, img)
		}
		l.waitHTTP(t, h, "http://"+l.lt.Host(h).Address+":8080/health")
	}
	rc, sc := l.push(t, l.desiredHost(t, svc1, nil), false)
	if rc.Changed != 2 || rc.Failed != 0 {
		t.Fatalf("compose host: changed %d failed %d\n%s", rc.Changed, rc.Failed, rc.Plan)
	}
	if n := strings.Count(l.run(t, svc1, "docker", "ps", "--filter", "label=com.docker.compose.project=myapp", "--filter", "status=running", "-q"), "\n") + 1; n != 3 {
		t.Fatalf("compose project runs %d containers, want 3", n)
	}
	_ = sc

	// 2. A second push changes nothing and says so for every resource.
	for _, h := range []string{web2, web3, svc1} {
		r, s := l.push(t, l.desiredHost(t, h, nil), false)
		if r.Changed != 0 || r.OK != len(s.ev) || kinds(s)[event.ResourceOK] != len(s.ev) {
			t.Fatalf("%s: second push not a no-op: %+v\n%s", h, kinds(s), r.Plan)
		}
	}

	// 3. app_tag v2.2.0: only webapp is recreated.
	redisID := l.inspect(t, web2, "{{.Id}}", "redis")
	webID := l.inspect(t, web2, "{{.Id}}", "webapp")
	stop := l.samplePS(t, web2)
	r, s := l.push(t, l.desiredHost(t, web2, map[string]string{"app_tag": "v2.2.0"}), false)
	if n := stop(); n < 2 {
		t.Fatalf("process list sampled %d times during the push", n)
	}
	if e := eventFor(s, "app-container"); e.Kind != event.ResourceChanged || e.Action != "recreate" || !strings.Contains(strings.Join(event.Lines(e.Diff), "\n"), "image: myregistry.example.com/webapp v2.1.0 -> v2.2.0") {
		t.Fatalf("v2.2.0: app-container event %+v\n%s", e, r.Plan)
	}
	if got := l.inspect(t, web2, "{{.Id}}", "redis"); got != redisID {
		t.Fatal("redis was recreated by an app_tag change")
	}
	if got := l.inspect(t, web2, "{{.Id}}", "webapp"); got == webID {
		t.Fatal("webapp was not recreated")
	}
	if v := l.waitHTTP(t, web2, "http://"+l.lt.Host(web2).Address+":8080/version"); !strings.Contains(v, "2.2.0") {
		t.Fatalf("/version says %q", v)
	}
	v22 := l.desiredHost(t, web2, map[string]string{"app_tag": "v2.2.0"})

	// 4. webapp stopped by hand: started, same container ID.
	webID = l.inspect(t, web2, "{{.Id}}", "webapp")
	l.run(t, web2, "docker", "stop", "webapp")
	_, s = l.push(t, v22, false)
	if e := eventFor(s, "app-container"); e.Action != "start" || e.Kind != event.ResourceChanged {
		t.Fatalf("stopped webapp: %+v", e)
	}
	if got := l.inspect(t, web2, "{{.Id}} {{.State.Running}}", "webapp"); got != webID+" true" {
		t.Fatalf("after start: %s, want %s true", got, webID)
	}

	// 5. Each field change recreates and the plan names the field.
	for _, c := range []struct {
		name, resource, want string
		change               func(f map[string]any)
	}{
		{"port", "app-container", "ports: [8080:8080/tcp] -> [8081:8080/tcp]", func(f map[string]any) { f["ports"] = []any{"8081:8080"} }},
		{"env value", "app-container", "environment.REDIS_URL: redis://localhost:6380 (changed)", func(f map[string]any) {
			f["environment"].(map[string]any)["REDIS_URL"] = "redis://localhost:6380"
		}},
		{"env removed", "app-container", "environment.REDIS_URL: (removed)", func(f map[string]any) { delete(f["environment"].(map[string]any), "REDIS_URL") }},
		{"command", "redis-container", `command: ["redis-server","--maxmemory","512mb"] -> ["redis-server","--maxmemory","256mb"]`, func(f map[string]any) {
			f["command"] = "redis-server --maxmemory 256mb"
		}},
		{"restart policy", "app-container", "restart_policy: unless-stopped -> always", func(f map[string]any) { f["restart_policy"] = "always" }},
	} {
		dh := copyHost(v22)
		c.change(resourceByName(dh, c.resource).Fields)
		r, s := l.push(t, dh, false)
		e := eventFor(s, c.resource)
		if e.Action != "recreate" || !strings.Contains(strings.Join(event.Lines(e.Diff), "\n"), c.want) {
			t.Fatalf("%s: event %+v, want recreate naming %q\n%s", c.name, e, c.want, r.Plan)
		}
		if _, s := l.push(t, dh, false); kinds(s)[event.ResourceChanged] != 0 {
			t.Fatalf("%s: the push after the change was not a no-op", c.name)
		}
	}
	// An env var set only by the image is no difference: the image sets
	// some (checked so that this cannot pass vacuously), and the no-op
	// pushes above did not recreate.
	imgEnv := l.run(t, web2, "docker", "image", "inspect", "--format", "{{json .Config.Env}}", "myregistry.example.com/webapp:v2.2.0")
	if !strings.Contains(imgEnv, "APP_") && strings.Count(imgEnv, "=") < 2 {
		t.Fatalf("the webapp image sets no env var of its own (%s): the rule is not exercised", imgEnv)
	}
	r, s = l.push(t, v22, false) // back to the stockpile's spec
	if kinds(s)[event.ResourceFailed] != 0 {
		t.Fatalf("back to spec: %s", r.Plan)
	}

	// 6. Removed by hand: recreated. state absent: removed. Image absent: removed.
	l.run(t, web2, "docker", "rm", "-f", "webapp")
	_, s = l.push(t, v22, false)
	if e := eventFor(s, "app-container"); e.Action != "create" || e.Kind != event.ResourceChanged {
		t.Fatalf("removed webapp: %+v", e)
	}
	absent := copyHost(v22)
	resourceByName(absent, "app-container").Fields["state"] = "absent"
	_, s = l.push(t, absent, false)
	if e := eventFor(s, "app-container"); e.Action != "remove" {
		t.Fatalf("state absent: %+v", e)
	}
	if out, _ := l.try(web2, "docker", "ps", "-a", "--filter", "name=^webapp$", "-q"); out != "" {
		t.Fatal("webapp still exists")
	}
	resourceByName(absent, "app-image").Fields["state"] = "absent"
	_, s = l.push(t, absent, false)
	if e := eventFor(s, "app-image"); e.Action != "remove" || e.Kind != event.ResourceChanged {
		t.Fatalf("image absent: %+v", e)
	}
	if _, err := l.try(web2, "docker", "image", "inspect", "myregistry.example.com/webapp:v2.2.0"); err == nil {
		t.Fatal("image still present")
	}
	// An image a container uses: a clear error.
	inUse := copyHost(v22)
	resourceByName(inUse, "redis-image").Fields["state"] = "absent"
	_, _, err := l.pushErr(inUse, false)
	if err == nil || !strings.Contains(err.Error(), "used by container(s) redis") {
		t.Fatalf("removing an image in use: %v", err)
	}
	l.push(t, v22, false)

	// 7. The compose file's content changes: file changed, stack re-upped,
	// then a no-op.
	dc := l.desiredHost(t, svc1, nil)
	changed := copyHost(dc)
	f := resourceByName(changed, "compose-file").Fields
	f["content"] = strings.Replace(f["content"].(string), "image: redis:7-alpine", "image: redis:7-alpine\n    command: redis-server --maxmemory 64mb", 1)
	redisBefore := l.run(t, svc1, "docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.service=redis")
	r, s = l.push(t, changed, false)
	if e := eventFor(s, "compose-file"); e.Kind != event.ResourceChanged {
		t.Fatalf("compose file: %+v", e)
	}
	if e := eventFor(s, "app-stack"); e.Kind != event.ResourceChanged || e.Action != "reup" {
		t.Fatalf("app-stack after file change: %+v\n%s", e, r.Plan)
	}
	if got := l.run(t, svc1, "docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.service=redis"); got == redisBefore {
		t.Fatal("re-up did not recreate the changed service")
	}
	if _, s := l.push(t, changed, false); kinds(s)[event.ResourceChanged] != 0 {
		t.Fatal("push after the re-up was not a no-op")
	}

	// 8. A compose service's container removed by hand comes back.
	webName := l.run(t, svc1, "docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.service=web")
	l.run(t, svc1, "docker", "rm", "-f", webName)
	_, s = l.push(t, changed, false)
	if e := eventFor(s, "app-stack"); e.Action != "up" || e.Kind != event.ResourceChanged {
		t.Fatalf("removed service: %+v", e)
	}
	if got := l.run(t, svc1, "docker", "ps", "--format", "{{.State}}", "--filter", "label=com.docker.compose.service=web"); got != "running" {
		t.Fatal("web service not back")
	}
	l.push(t, dc, false)

	// 9. --dry-run after a change: the plan, and Docker state byte for byte.
	snapshot := func(h string) string {
		ids := l.run(t, h, "docker", "ps", "-aq")
		out := l.run(t, h, append([]string{"docker", "inspect"}, strings.Fields(ids)...)...)
		return out + l.run(t, h, "docker", "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	}
	before := snapshot(web2)
	dry := l.desiredHost(t, web2, map[string]string{"app_tag": "v2.1.0"})
	r, s = l.push(t, dry, true)
	if after := snapshot(web2); after != before {
		t.Fatal("dry-run changed the Docker state")
	}
	if !strings.Contains(r.Plan, "app-container (docker_container): recreate: image myregistry.example.com/webapp v2.2.0 -> v2.1.0") || kinds(s)[event.ResourcePlanned] != len(s.ev) {
		t.Fatalf("dry-run plan:\n%s", r.Plan)
	}
	noSecretIn(t, nil, s, r.Plan)
	if ps := l.run(t, web2, "ps", "-eo", "args"); strings.Contains(ps, "CANARY") {
		t.Fatal("secret in the host's process list")
	}
}
