package converge_test

import (
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
)

const web14 = "web14.app.example.com"

// TestLabNetworkVolumeLifecycle proves on web14's real dockerd what the
// golden plans say of docker_network and docker_volume: created with
// vigo's labels and a container attached by name with an alias; a change
// to a network or volume in use refused (nothing replaced); a volume
// recreated (its data gone) only with recreate: true; a network vigo did
// not create used as is, replaced only with take_over: true; and a
// container, its network and its volume removed in one push, the network
// and the volume planned again once the container is gone.
func TestLabNetworkVolumeLifecycle(t *testing.T) {
	l := requireLab(t, web14)
	clean := func() {
		_, _ = l.try(web14, "docker", "rm", "-f", "nv-c", "nv-c-vigo-new")
		_, _ = l.try(web14, "docker", "network", "rm", "nv-net", "nv-foreign")
		_, _ = l.try(web14, "docker", "volume", "rm", "nv-vol")
	}
	clean()
	t.Cleanup(clean)

	net := func(kv ...any) desired.Resource {
		return desired.Resource{Name: "nv-net", Type: "docker_network", Module: "e2e", Fields: with(map[string]any{
			"network": "nv-net", "subnet": "172.29.5.0/24", "labels": map[string]any{"team": "e2e"}}, kv...)}
	}
	vol := func(kv ...any) desired.Resource {
		return desired.Resource{Name: "nv-vol", Type: "docker_volume", Module: "e2e", Fields: with(map[string]any{
			"volume": "nv-vol", "labels": map[string]any{"team": "e2e"}}, kv...)}
	}
	ctr := func(kv ...any) desired.Resource {
		return desired.Resource{Name: "nv-c", Type: "docker_container", Module: "e2e", Fields: with(map[string]any{
			"container": "nv-c", "image": "redis:7-alpine",
			"networks": []any{map[string]any{"name": "nv-net", "aliases": []any{"kv"}}}, "volumes": []any{"nv-vol:/data"}}, kv...)}
	}
	host := func(rs ...desired.Resource) desired.Host { return desired.Host{Name: web14, Resources: rs} }

	r, _ := l.push(t, host(net(), vol(), ctr()), false)
	if r.Changed != 3 {
		t.Fatalf("first push:\n%s", r.Plan)
	}
	if got := l.inspect(t, web14, `{{index .Labels "io.vigo.managed"}} {{index .Labels "team"}} {{range .IPAM.Config}}{{.Subnet}}{{end}}`, "nv-net"); got != "true e2e 172.29.5.0/24" {
		t.Errorf("network: %s", got)
	}
	if got := l.run(t, web14, "docker", "volume", "inspect", "--format", `{{index .Labels "io.vigo.managed"}} {{index .Labels "team"}}`, "nv-vol"); got != "true e2e" {
		t.Errorf("volume: %s", got)
	}
	if got := l.inspect(t, web14, `{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{range $v.Aliases}}{{.}},{{end}}{{end}} {{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}`, "nv-c"); !strings.HasPrefix(got, "nv-net=kv,") || !strings.HasSuffix(got, " nv-vol:/data") {
		t.Errorf("container attachments: %s", got)
	}
	if r, _ = l.push(t, host(net(), vol(), ctr()), false); r.Changed != 0 {
		t.Fatalf("second push not a no-op:\n%s", r.Plan)
	}
	netID := l.inspect(t, web14, "{{.Id}}", "nv-net")
	ctrID := l.inspect(t, web14, "{{.Id}}", "nv-c")

	// Changes to a network or a volume in use are refused.
	for _, c := range []struct {
		res  desired.Resource
		want string
	}{
		{net("internal", "true"), "network nv-net: internal false -> true; refused: in use by container(s) nv-c"},
		{vol("labels", map[string]any{"team": "ops"}), "volume nv-vol: labels.team e2e -> ops; refused: a volume's data is never deleted silently"},
		{vol("labels", map[string]any{"team": "ops"}, "recreate", "true"), "volume nv-vol: labels.team e2e -> ops; refused: in use by container(s) nv-c"},
	} {
		r, _, err := l.pushErr(host(c.res), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q\n%s", c.res.Name, err, c.want, r.Plan)
		}
	}
	if l.inspect(t, web14, "{{.Id}}", "nv-net") != netID || l.inspect(t, web14, "{{.Id}}", "nv-c") != ctrID {
		t.Fatal("a refused change replaced the network or the container")
	}

	// Container, network and volume removed in one push: the network and
	// the volume come after the container (depends_on) and are planned
	// again once it is gone.
	gone := host(ctr("state", "absent"), net("state", "absent"), vol("state", "absent"))
	if r, _ = l.push(t, gone, false); r.Changed != 3 {
		t.Fatalf("removal push:\n%s", r.Plan)
	}
	if out, err := l.try(web14, "docker", "network", "inspect", "nv-net"); err == nil {
		t.Errorf("nv-net still there: %s", out)
	}
	if out, err := l.try(web14, "docker", "volume", "inspect", "nv-vol"); err == nil {
		t.Errorf("nv-vol still there: %s", out)
	}

	// recreate: true deletes the volume's data, and says so.
	l.push(t, host(vol()), false)
	l.run(t, web14, "docker", "run", "--rm", "-v", "nv-vol:/d", "redis:7-alpine", "sh", "-c", "echo kept > /d/f")
	r, _ = l.push(t, host(vol("labels", map[string]any{"team": "ops"}, "recreate", "true")), false)
	if r.Changed != 1 || !strings.Contains(r.Plan, "data: deleted (recreate: true)") {
		t.Fatalf("volume recreate:\n%s", r.Plan)
	}
	if out, err := l.try(web14, "docker", "run", "--rm", "-v", "nv-vol:/d", "redis:7-alpine", "cat", "/d/f"); err == nil {
		t.Errorf("the recreated volume still holds the old data: %s", out)
	}

	// A network vigo did not create: used as is, replaced only with
	// take_over: true.
	l.run(t, web14, "docker", "network", "create", "nv-foreign")
	foreign := func(kv ...any) desired.Resource {
		return desired.Resource{Name: "nv-foreign", Type: "docker_network", Module: "e2e", Fields: with(map[string]any{"network": "nv-foreign"}, kv...)}
	}
	if r, _ = l.push(t, host(foreign()), false); r.Changed != 0 || !strings.Contains(r.Plan, "not created by vigo, used as is") {
		t.Fatalf("foreign network as is:\n%s", r.Plan)
	}
	if r, _, err := l.pushErr(host(foreign("internal", "true")), false); err == nil || !strings.Contains(err.Error(), "not created by vigo (take_over: true") {
		t.Fatalf("foreign network changed without take_over: %v\n%s", err, r.Plan)
	}
	if r, _ = l.push(t, host(foreign("internal", "true", "take_over", "true")), false); r.Changed != 1 {
		t.Fatalf("take_over:\n%s", r.Plan)
	}
	if got := l.inspect(t, web14, `{{.Internal}} {{index .Labels "io.vigo.managed"}}`, "nv-foreign"); got != "true true" {
		t.Errorf("taken-over network: %s", got)
	}
}

// with copies m with key/value pairs set (a nil value deletes the key).
func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}
