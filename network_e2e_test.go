package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestNetworkExampleE2E pushes examples/docker-stack-network to web13 and
// web14 from a clean slate: the network and the volume are created before
// the containers that use them, webapp reaches redis by the name in its
// REDIS_URL (and by redis's alias), a second push changes nothing, and a
// changed network option is noticed: planned as a refusal naming the
// containers that use the network, reported by check, and refused by a
// real push, which leaves the network as it was.
func TestNetworkExampleE2E(t *testing.T) {
	const w13, w14 = "web13.app.example.com", "web14.app.example.com"
	lab := labtest.Require(t, w13, w14)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	v := newLabVigoFrom(t, ctx, lab, "docker-stack-network", []string{w13, w14}, "")
	both := []string{"--target", w13, "--target", w14}
	docker := func(host string, args ...string) string {
		t.Helper()
		out, err := lab.Docker(ctx, host, args...)
		if err != nil {
			t.Fatalf("%s: docker %v: %v\n%s", host, args, err, out)
		}
		return strings.TrimSpace(out)
	}
	for _, h := range []string{w13, w14} { // a clean slate (errors: already gone)
		_, _ = lab.Docker(ctx, h, "rm", "-f", "webapp", "redis", "webapp-vigo-new", "redis-vigo-new")
		_, _ = lab.Docker(ctx, h, "network", "rm", "app-net")
		_, _ = lab.Docker(ctx, h, "volume", "rm", "redis-data")
	}

	out := v.want(0, append([]string{"envoys", "push"}, both...)...)
	for _, want := range []string{w13 + " | app-network: create (missing", w14 + " | redis-data: create (missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("first push lacks %q:\n%s", want, out)
		}
	}
	netID := map[string]string{}
	for _, h := range []string{w13, w14} {
		if got := docker(h, "network", "inspect", "--format", `{{index .Labels "io.vigo.managed"}} {{index .Options "com.docker.network.driver.mtu"}}`, "app-net"); got != "true 1500" {
			t.Errorf("%s: network app-net labels/options %q", h, got)
		}
		netID[h] = docker(h, "network", "inspect", "--format", "{{.Id}}", "app-net")
		if got := docker(h, "inspect", "--format", `{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}`, "redis"); got != "redis-data:/data" {
			t.Errorf("%s: redis mounts %q", h, got)
		}
		// webapp reaches redis by the name in its REDIS_URL, and by alias.
		ping := `h=${REDIS_URL#redis://}; printf 'PING\r\n' | nc -w 3 "${h%:*}" "${h##*:}"; printf 'PING\r\n' | nc -w 3 cache 6379`
		if got := docker(h, "exec", "webapp", "sh", "-c", ping); got != "+PONG\r\n+PONG" && strings.ReplaceAll(got, "\r", "") != "+PONG\n+PONG" {
			t.Errorf("%s: webapp -> redis by name and alias: %q", h, got)
		}
		if got := docker(h, "exec", "webapp", "sh", "-c", "echo $REDIS_URL"); got != "redis://redis:6379" {
			t.Errorf("%s: REDIS_URL %q", h, got)
		}
	}
	ids := func(h string) string { return docker(h, "inspect", "--format", "{{.Id}}", "redis", "webapp") }
	before := ids(w13) + ids(w14)

	// A second push is a no-op, and check agrees.
	out = v.want(0, append([]string{"envoys", "push"}, both...)...)
	if !strings.Contains(out, "2 hosts: 2 ok") {
		t.Errorf("second push is not a no-op:\n%s", out)
	}
	if out := v.want(0, append([]string{"envoys", "check"}, both...)...); strings.TrimSpace(out) != "2 hosts in sync" {
		t.Errorf("check after the push: %q", out)
	}
	if after := ids(w13) + ids(w14); after != before {
		t.Error("the second push replaced a container")
	}

	// A changed network option is noticed: the plan refuses (containers
	// use the network), check reports drift, a real push fails and leaves
	// the network alone.
	mtu := []string{"--var", "network_mtu=1400"}
	out = v.want(0, append(append([]string{"envoys", "push", "--dry-run"}, mtu...), both...)...)
	for _, h := range []string{w13, w14} {
		for _, want := range []string{
			h + " | app-network: would refuse (options.com.docker.network.driver.mtu 1500 -> 1400; refused: in use by container(s) redis, webapp",
			h + " |     options.com.docker.network.driver.mtu: 1500 -> 1400",
			h + " |     used by: redis, webapp",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("dry run with a changed option lacks %q:\n%s", want, out)
			}
		}
	}
	out = v.want(2, append(append([]string{"envoys", "check"}, mtu...), both...)...)
	if strings.Count(out, "app-network (docker_network): refuse: options.com.docker.network.driver.mtu 1500 -> 1400") != 2 {
		t.Errorf("check with a changed option:\n%s", out)
	}
	stdout, stderr, code := v.run(append([]string{"envoys", "push", "--target", w14}, mtu...)...)
	if code == 0 || !strings.Contains(stdout+stderr, "network app-net: options.com.docker.network.driver.mtu 1500 -> 1400; refused: in use by container(s) redis, webapp") {
		t.Errorf("push with a changed option: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := docker(w14, "network", "inspect", "--format", "{{.Id}}", "app-net"); got != netID[w14] {
		t.Errorf("the refused push replaced the network: %s -> %s", netID[w14], got)
	}
	if after := ids(w13) + ids(w14); after != before {
		t.Error("the refused push replaced a container")
	}
}
