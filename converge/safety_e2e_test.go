package converge_test

import (
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
)

// TestLabSafetyReview proves on real sshd and dockerd the fixes of safety
// review 1 that depend on the engine's or compose's own behaviour.
func TestLabSafetyReview(t *testing.T) {
	l := requireLab(t, web3, svc1)
	l.cleanHost(t, web3)

	// entrypoint: [] (sent as [""]), explicit host IPs kept as written,
	// networks: [default]: converged in one push, a no-op the next.
	safety := desired.Resource{Name: "safety", Type: "docker_container", Module: "e2e", Fields: map[string]any{
		"container": "safety", "image": "redis:7-alpine",
		"entrypoint": []any{}, "command": []any{"redis-server", "--port", "6393"},
		"ports":    []any{"0.0.0.0:6393:6393", "127.0.0.1:6394:6394"},
		"networks": []any{"default"},
	}}
	dh := desired.Host{Name: web3, Resources: []desired.Resource{safety}}
	if r, _ := l.push(t, dh, false); r.Changed != 1 {
		t.Fatalf("first push:\n%s", r.Plan)
	}
	if got := l.inspect(t, web3, `{{.State.Running}} {{json .Config.Entrypoint}} {{json .HostConfig.PortBindings}}`, "safety"); got !=
		`true null {"6393/tcp":[{"HostIp":"0.0.0.0","HostPort":"6393"}],"6394/tcp":[{"HostIp":"127.0.0.1","HostPort":"6394"}]}` {
		t.Fatalf("safety: %s", got)
	}
	if r, s := l.push(t, dh, false); r.Changed != 0 {
		t.Fatalf("second push not a no-op: %v\n%s", s.summary(), r.Plan)
	}

	// A leftover of an interrupted recreate next to the right container:
	// only the leftover goes.
	id := l.inspect(t, web3, "{{.Id}}", "safety")
	l.run(t, web3, "docker", "create", "--name", "safety-vigo-new", "redis:7-alpine")
	_, s := l.push(t, dh, false)
	if e := eventFor(s, "safety"); e.Kind != event.ResourceChanged || e.Action != "cleanup" {
		t.Fatalf("leftover: %+v", e)
	}
	if got := l.inspect(t, web3, "{{.Id}} {{.State.Running}}", "safety"); got != id+" true" {
		t.Fatalf("the live container was touched: %s (was %s)", got, id)
	}
	if _, err := l.try(web3, "docker", "inspect", "safety-vigo-new"); err == nil {
		t.Fatal("leftover still there")
	}

	// A container name that is a prefix of another container's ID is not
	// that container: state absent leaves "safety" alone.
	prefix := desired.Resource{Name: "prefix", Type: "docker_container", Module: "e2e", Fields: map[string]any{
		"container": id[:6], "state": "absent"}}
	if r, _ := l.push(t, desired.Host{Name: web3, Resources: []desired.Resource{prefix}}, false); r.Changed != 0 {
		t.Fatalf("name %s taken for container %s:\n%s", id[:6], id[:12], r.Plan)
	}
	if got := l.inspect(t, web3, "{{.Id}}", "safety"); got != id {
		t.Fatalf("safety removed through its ID prefix")
	}

	// A healthcheck declared with only its test inherits the image's
	// interval and retries: no recreate on the next push.
	l.run(t, web3, "sh", "-c", `printf '%s\n' 'FROM redis:7-alpine' 'HEALTHCHECK --interval=7s --retries=4 CMD redis-cli ping' | DOCKER_BUILDKIT=0 docker build -q -t vigo-e2e-hc:1 - >/dev/null`)
	hc := desired.Resource{Name: "hc", Type: "docker_container", Module: "e2e", Fields: map[string]any{
		"container": "safety-hc", "image": "vigo-e2e-hc:1", "healthcheck": map[string]any{"test": "redis-cli ping | grep -q PONG"}}}
	hcHost := desired.Host{Name: web3, Resources: []desired.Resource{hc}}
	l.push(t, hcHost, false)
	if got := l.inspect(t, web3, `{{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}`, "safety-hc"); got != "7s 4" {
		t.Fatalf("healthcheck as recorded: %s", got)
	}
	if r, s := l.push(t, hcHost, false); r.Changed != 0 {
		t.Fatalf("healthcheck recreated every push: %v\n%s", s.summary(), r.Plan)
	}
	_, _ = l.try(web3, "docker", "rm", "-f", "safety-hc")
	_, _ = l.try(web3, "docker", "image", "rm", "vigo-e2e-hc:1")

	// Compose variables reach compose through its environment: the
	// project's own .env stays in effect, `config` in observe sees the
	// same variables as `up` (so a ${X:?} does not make every push an
	// up), "--" before the services works, nothing is left in /tmp.
	removeEnvStack := func() {
		_, _ = l.try(svc1, "sh", "-c", "docker rm -f $(docker ps -aq --filter label=com.docker.compose.project=vigo-e2e-env) 2>/dev/null; rm -rf /opt/vigo-e2e-env")
	}
	removeEnvStack()
	l.run(t, svc1, "mkdir", "-p", "/opt/vigo-e2e-env")
	l.run(t, svc1, "sh", "-c", `printf '%s\n' 'services:' '  app:' '    image: redis:7-alpine' '    environment:' '      FROM_DOTENV: ${FROM_DOTENV:?}' '      FROM_VIGO: ${FROM_VIGO:?}' '  other:' '    image: redis:7-alpine' > /opt/vigo-e2e-env/docker-compose.yml && echo FROM_DOTENV=from-dotenv > /opt/vigo-e2e-env/.env`)
	stack := desired.Host{Name: svc1, Resources: []desired.Resource{{Name: "env-stack", Type: "docker_compose", Module: "e2e", Fields: map[string]any{
		"compose_file": "/opt/vigo-e2e-env/docker-compose.yml", "services": []any{"app"}, "wait": true,
		"env": map[string]any{"FROM_VIGO": "secret:vigo/webapp/database_url"}}}}}
	if r, s := l.push(t, stack, false); r.Changed != 1 {
		t.Fatalf("compose up: %v\n%s", s.summary(), r.Plan)
	}
	env := l.run(t, svc1, "sh", "-c", "docker inspect --format '{{json .Config.Env}}' $(docker ps -q --filter label=com.docker.compose.project=vigo-e2e-env --filter label=com.docker.compose.service=app)")
	if !strings.Contains(env, "FROM_DOTENV=from-dotenv") || !strings.Contains(env, "FROM_VIGO="+labSecrets["vigo/webapp/database_url"]) {
		t.Fatalf("app env: %s", env)
	}
	if other, _ := l.try(svc1, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.service=other", "--filter", "label=com.docker.compose.project=vigo-e2e-env"); other != "" {
		t.Fatalf("services subset not respected: other runs")
	}
	if r, s := l.push(t, stack, false); r.Changed != 0 {
		t.Fatalf("second compose push not a no-op: %v\n%s", s.summary(), r.Plan)
	}
	if left, _ := l.try(svc1, "sh", "-c", "ls /var/lib/vigo/compose-env/ 2>/dev/null"); left != "" {
		t.Fatalf("env file left behind: %s", left)
	}
	removeEnvStack()
	l.cleanHost(t, web3)
}
