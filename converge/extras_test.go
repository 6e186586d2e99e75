package converge_test

import (
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
)

// TestLabExecutorExtras proves on real sshd and dockerd what the
// documentation's stack does not exercise: networks, volumes, labels,
// user, working_dir, hostname, healthcheck with wait_healthy, stopped
// state, file modes, the repair of an interrupted recreate, a failed pull,
// and compose variables carrying a secret.
func TestLabExecutorExtras(t *testing.T) {
	l := requireLab(t, web3, svc1)
	l.cleanHost(t, web3)
	_, _ = l.try(web3, "docker", "network", "rm", "vigo-e2e-net")
	_, _ = l.try(web3, "rm", "-rf", "/srv/vigo-e2e", "/etc/vigo-e2e")

	extras := desired.Resource{Name: "extras", Type: "docker_container", Module: "e2e", Fields: map[string]any{
		"container": "extras", "image": "redis:7-alpine", "state": "running",
		"networks": []any{"vigo-e2e-net"}, "volumes": []any{"/srv/vigo-e2e:/data"},
		"labels": map[string]any{"team": "e2e"}, "user": "65534:65534", "working_dir": "/data", "hostname": "extras",
		"command":      []any{"redis-server", "--port", "6390"},
		"healthcheck":  map[string]any{"test": "redis-cli -p 6390 ping | grep -q PONG", "interval": "1s", "retries": "30"},
		"wait_healthy": "true", "wait_timeout": "60s",
	}}
	conf := desired.Resource{Name: "conf", Type: "file", Module: "e2e", Fields: map[string]any{
		"target_path": "/etc/vigo-e2e/app.conf", "content": "level = debug\n", "mode": "0600", "owner": "root", "group": "root"}}
	dh := desired.Host{Name: web3, Resources: []desired.Resource{conf, extras}}

	r, _ := l.push(t, dh, false)
	if r.Changed != 2 {
		t.Fatalf("first push: %s", r.Plan)
	}
	if got := l.inspect(t, web3, "{{.State.Health.Status}} {{.Config.Hostname}} {{.Config.User}} {{.Config.WorkingDir}} {{index .Config.Labels \"team\"}}", "extras"); got != "healthy extras 65534:65534 /data e2e" {
		t.Fatalf("extras: %s (wait_healthy returned before healthy?)", got)
	}
	if got := l.inspect(t, web3, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}} {{json .HostConfig.Binds}}", "extras"); got != `vigo-e2e-net ["/srv/vigo-e2e:/data"]` {
		t.Fatalf("extras network/binds: %s", got)
	}
	if got := l.run(t, web3, "stat", "-c", "%a %U", "/etc/vigo-e2e/app.conf"); got != "600 root" {
		t.Fatalf("file mode: %s", got)
	}
	r, s := l.push(t, dh, false)
	if kinds(s)[event.ResourceChanged] != 0 {
		t.Fatalf("second push not a no-op: %+v\n%s", s.summary(), r.Plan)
	}

	// Mode drift is noticed and fixed without rewriting.
	l.run(t, web3, "chmod", "0644", "/etc/vigo-e2e/app.conf")
	_, s = l.push(t, dh, false)
	if e := eventFor(s, "conf"); e.Action != "chattr" || !strings.Contains(strings.Join(event.Lines(e.Diff), " "), "mode: 0644 -> 0600") {
		t.Fatalf("mode drift: %+v", e)
	}

	// What an interrupted recreate leaves (the new container made, the
	// old one removed) is repaired by the next push.
	id := l.inspect(t, web3, "{{.Id}}", "extras")
	l.run(t, web3, "docker", "rename", "extras", "extras-vigo-new")
	l.run(t, web3, "docker", "stop", "extras-vigo-new")
	r, s = l.push(t, dh, false)
	if e := eventFor(s, "extras"); e.Action != "create" || !strings.Contains(r.Plan, "leftover: extras-vigo-new") {
		t.Fatalf("repair: %+v\n%s", e, r.Plan)
	}
	if out, _ := l.try(web3, "docker", "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "vigo-new") || !strings.Contains(out, "extras") {
		t.Fatalf("after repair: %s", out)
	}
	if l.inspect(t, web3, "{{.Id}}", "extras") == id {
		t.Fatal("leftover reused instead of replaced")
	}

	// state: stopped stops it, running starts the same container again.
	stopped := copyHost(dh)
	stopped.Resources[1].Fields["state"] = "stopped"
	_, s = l.push(t, stopped, false)
	if e := eventFor(s, "extras"); e.Action != "stop" || l.inspect(t, web3, "{{.State.Running}}", "extras") != "false" {
		t.Fatalf("stop: %+v", e)
	}

	// A pull of an image the registry does not have fails clearly, and
	// the resources after it are skipped.
	bad := copyHost(dh)
	bad.Resources = append([]desired.Resource{{Name: "bad-image", Type: "docker_image", Module: "e2e",
		Fields: map[string]any{"image": "myregistry.example.com/webapp", "tag": "v9.9.9"}}}, bad.Resources...)
	r, _, err := l.pushErr(bad, false)
	if err == nil || !strings.Contains(err.Error(), "not found in the registry") || r.Skipped != 2 {
		t.Fatalf("missing image: %v (skipped %d)", err, r.Skipped)
	}

	// pull: always pulls on every push and reports a change only when the
	// image ID changed.
	always := desired.Host{Name: web3, Resources: []desired.Resource{{Name: "redis-image", Type: "docker_image", Module: "e2e",
		Fields: map[string]any{"image": "redis", "tag": "7-alpine", "pull": "always"}}}}
	_, s = l.push(t, always, false)
	if e := eventFor(s, "redis-image"); e.Kind != event.ResourceOK || e.Action != "pull" {
		t.Fatalf("pull always, same image: %+v", e)
	}

	// A healthcheck that never passes: wait_healthy fails after its timeout.
	sick := desired.Host{Name: web3, Resources: []desired.Resource{{Name: "sick", Type: "docker_container", Module: "e2e", Fields: map[string]any{
		"container": "sick", "image": "redis:7-alpine", "healthcheck": map[string]any{"test": "exit 1", "interval": "1s", "retries": "100"},
		"wait_healthy": true, "wait_timeout": "3s"}}}}
	if _, _, err := l.pushErr(sick, false); err == nil || !strings.Contains(err.Error(), "not healthy after 3s") {
		t.Fatalf("unhealthy container: %v", err)
	}
	_, _ = l.try(web3, "docker", "rm", "-f", "sick")

	// Compose variables carrying a secret reach compose through a 0600
	// env file that is gone afterwards.
	dc := l.desiredHost(t, svc1, nil)
	withEnv := copyHost(dc)
	for i := range withEnv.Resources {
		if withEnv.Resources[i].Type == "docker_compose" {
			withEnv.Resources[i].Fields["env"] = map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url"}
			withEnv.Resources[i].Fields["wait"] = "true"
		}
	}
	l.push(t, withEnv, false)
	// The variable changes the api service's configuration: re-up it.
	_, _ = l.try(svc1, "sh", "-c", "docker rm -f $(docker ps -aq --filter label=com.docker.compose.service=api)")
	l.push(t, withEnv, false)
	env := l.run(t, svc1, "sh", "-c", "docker inspect --format '{{json .Config.Env}}' $(docker ps -q --filter label=com.docker.compose.service=api)")
	if !strings.Contains(env, "DATABASE_URL="+labSecrets["vigo/webapp/database_url"]) {
		t.Fatalf("api env: %s", env)
	}
	if left, _ := l.try(svc1, "sh", "-c", "ls /var/lib/vigo/compose-env/ 2>/dev/null"); left != "" {
		t.Fatalf("env file left behind: %s", left)
	}
	l.push(t, dc, false)
}
