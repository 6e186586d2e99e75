package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors/executorstest"
	"github.com/vigo-sh/vigocli/stockpile"
)

// The database URL the bench gives vigo as a secret, and the floor as
// plain environment.
const databaseURL = "postgres://bench:bench@db.internal/webapp"

func fake() *executorstest.Host {
	h := executorstest.New("web1.app.example.com")
	h.AddImage(redisImage, "sha256:"+strings.Repeat("a", 64), true, nil, []string{"redis-server"})
	h.AddImage(appImage+":"+oldTag, "sha256:"+strings.Repeat("b", 64), true, nil, []string{"webapp"})
	h.AddImage(appImage+":"+newTag, "sha256:"+strings.Repeat("c", 64), true, nil, []string{"webapp"})
	return h
}

// docStack is the documentation's docker-app stack as the bench's
// stockpile renders it for a host (examples/docker-stack, redis_maxmemory
// 512mb).
func docStack(tag string) desired.Host {
	r := func(module, name, typ string, fields map[string]any) desired.Resource {
		return desired.Resource{Name: name, Type: typ, Module: module, Fields: fields, Pos: stockpile.Pos{File: module + ".vgo", Line: 1, Col: 1}}
	}
	return desired.Host{Name: "web1.app.example.com", Resources: []desired.Resource{
		r("redis", "redis-image", "docker_image", map[string]any{"image": "redis", "tag": "7-alpine", "state": "present"}),
		r("redis", "redis-container", "docker_container", map[string]any{"container": "redis", "image": redisImage, "state": "running",
			"ports": []any{"6379:6379"}, "command": "redis-server --maxmemory 512mb", "restart_policy": "unless-stopped"}),
		r("app-stack", "app-image", "docker_image", map[string]any{"image": appImage, "tag": tag, "state": "present"}),
		r("app-stack", "app-container", "docker_container", map[string]any{"container": "webapp", "image": appImage + ":" + tag, "state": "running",
			"ports": []any{"8080:8080"}, "restart_policy": "unless-stopped",
			"environment": map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "secret:vigo/webapp/database_url"}},
		),
	}}
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// calls is the sequence of engine calls that change state, ids elided.
func calls(h *executorstest.Host) []string {
	var out []string
	for _, m := range h.Mutating() {
		out = append(out, hexID.ReplaceAllString(m, "ID"))
	}
	h.Reset()
	return out
}

// TestFloorMakesVigosEngineCalls: for create and for retag (images
// present), the floor makes the same state-changing engine calls, in the
// same order, as vigo's converge of the documentation's stack, and
// creates containers of the same shape (image, command, environment,
// restart policy, network, exposed port). If vigo's executors change
// what they send, this fails and the floor must follow.
func TestFloorMakesVigosEngineCalls(t *testing.T) {
	ctx := context.Background()
	vigo, floor := fake(), fake()
	st := stack{Prefix: "floor", RedisPort: 6381, AppPort: 8082}
	e := newEngine(floor.DialDocker)
	defer e.close()

	push := func(tag string) {
		t.Helper()
		r, err := converge.Run(ctx, vigo, docStack(tag), converge.Options{Secrets: map[string]string{"vigo/webapp/database_url": databaseURL}})
		if err != nil || r.Err != nil {
			t.Fatalf("converge %s: %v %v\n%s", tag, err, r.Err, r.Plan)
		}
	}
	for _, p := range []struct {
		name string
		tag  string
		work func(context.Context, *engine) error
	}{{"create", oldTag, st.createPhase}, {"retag", newTag, st.retagPhase}} {
		push(p.tag)
		if err := p.work(ctx, e); err != nil {
			t.Fatalf("floor %s: %v", p.name, err)
		}
		want, got := calls(vigo), calls(floor)
		if len(want) == 0 {
			t.Fatalf("%s: vigo made no engine call", p.name)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the floor's engine calls\n  %s\nvigo's\n  %s", p.name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}

	for _, pair := range [][2]string{{"redis", st.redis()}, {"webapp", st.app()}} {
		v, f := vigo.ContainerByName(pair[0]), floor.ContainerByName(pair[1])
		if v == nil || f == nil || !v.Running || !f.Running {
			t.Fatalf("%s: vigo's %v, the floor's %v: want both running", pair[0], v, f)
		}
		if v.ImageID != f.ImageID {
			t.Errorf("%s: image %s, vigo's %s", pair[1], f.ImageID, v.ImageID)
		}
		for _, k := range []string{"Image", "Cmd", "Env", "ExposedPorts"} {
			if a, b := js(t, f.Created[k]), js(t, v.Created[k]); a != b {
				t.Errorf("%s: %s %s, vigo's %s", pair[1], k, a, b)
			}
		}
		fh, _ := f.Created["HostConfig"].(map[string]any)
		vh, _ := v.Created["HostConfig"].(map[string]any)
		for _, k := range []string{"RestartPolicy", "NetworkMode"} {
			if a, b := js(t, fh[k]), js(t, vh[k]); a != b {
				t.Errorf("%s: HostConfig.%s %s, vigo's %s", pair[1], k, a, b)
			}
		}
	}
	if floor.ContainerByName(st.app()+"-vigo-new") != nil {
		t.Errorf("the floor's temporary container is left")
	}

	if err := st.cleanPhase(ctx, e); err != nil {
		t.Fatal(err)
	}
	if floor.ContainerByName(st.app()) != nil || floor.ContainerByName(st.redis()) != nil {
		t.Errorf("clean left containers")
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunRefusesBadArguments(t *testing.T) {
	ctx := context.Background()
	var out strings.Builder
	for _, args := range [][]string{
		{"create", "10.0.0.1:22"},                                // no key
		{"-i", "k", "-known-hosts", "kh", "create"},              // no host
		{"-i", "k", "-known-hosts", "kh", "noop", "10.0.0.1:22"}, // unknown phase
	} {
		if err := run(ctx, args, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}
