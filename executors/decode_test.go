package executors

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

func TestParsePort(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"6379:6379", []string{":6379:6379/tcp"}, false},
		{"6379:6379/TCP", []string{":6379:6379/tcp"}, false},
		{"127.0.0.1:80:8080/udp", []string{"127.0.0.1:80:8080/udp"}, false},
		{"[::1]:80:80", []string{"::1:80:80/tcp"}, false},
		{"8080", []string{"::8080/tcp"}, false},
		{"8000-8001:9000-9001", []string{":8000:9000/tcp", ":8001:9001/tcp"}, false},
		{"0.0.0.0:80:80", []string{"0.0.0.0:80:80/tcp"}, false},
		{"[::]:80:80", []string{":::80:80/tcp"}, false},
		{"80:80/icmp", nil, true},
		{"a:b", nil, true},
		{"8000-8002:9000-9001", nil, true},
		{"70000:80", nil, true},
	} {
		got, err := parsePort(c.in)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parsePort(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"redis-server --maxmemory 512mb", []string{"redis-server", "--maxmemory", "512mb"}, false},
		{`sh -c 'echo $HOME; ls'`, []string{"sh", "-c", "echo $HOME; ls"}, false},
		{`echo "a \"b\" $c" d\ e`, []string{"echo", `a "b" $c`, "d e"}, false},
		{`echo ''`, []string{"echo", ""}, false},
		{`echo 'x`, nil, true},
		{`echo "x`, nil, true},
	} {
		got, err := splitWords(c.in)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNormalizeRestartAndRefs(t *testing.T) {
	for in, want := range map[string]string{"": "no", "no": "no", "always": "always", "on-failure:0": "on-failure", "on-failure:3": "on-failure:3", "unless-stopped": "unless-stopped"} {
		if got, err := normalizeRestart(in); err != nil || got != want {
			t.Errorf("normalizeRestart(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := normalizeRestart("sometimes"); err == nil {
		t.Error("normalizeRestart accepted sometimes")
	}
	for in, want := range map[string]string{"redis": "redis:latest", "redis:7": "redis:7", "reg:5000/app": "reg:5000/app:latest", "reg:5000/app:v1": "reg:5000/app:v1", "app@sha256:ab": "app@sha256:ab"} {
		if got := normalizeRef(in); got != want {
			t.Errorf("normalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func decodeT(typ string, f map[string]any, sec map[string]string) (Spec, error) {
	return Decode(desired.Resource{Name: "r1", Type: typ, Fields: f, Pos: stockpile.Pos{File: "m.vgo", Line: 7, Col: 3}}, Env{Secrets: sec})
}

func TestDecodeErrorsNamePosition(t *testing.T) {
	for _, c := range []struct {
		typ    string
		fields map[string]any
		want   string
	}{
		{"docker_container", map[string]any{"container": "web", "image": "i", "ports": []any{"x:y"}}, "field ports[0]"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "restart_policy": "sometimes"}, "field restart_policy"},
		{"docker_container", map[string]any{"container": "web"}, "field image: required"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "wait_healthy": "maybe"}, "is not a boolean"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "environment": map[string]any{"A": "secret:no/such"}}, `secret "no/such" is not set`},
		{"docker_container", map[string]any{"container": "web", "image": "i", "wait_timeout": "soon"}, "is not a duration"},
		{"docker_compose", map[string]any{"compose_file": "rel/dc.yml"}, "absolute path"},
		{"docker_compose", map[string]any{"compose_file": "/a/dc.yml", "remove_orphans": "perhaps"}, "is not a boolean"},
		{"file", map[string]any{"target_path": "/a", "content": "x", "mode": "0999"}, "octal mode"},
		{"file", map[string]any{"target_path": "/a"}, "content or source is required"},
		{"docker_image", map[string]any{"image": "redis", "state": "gone"}, `"gone" is not one of present, absent`},
		{"docker_network", map[string]any{}, "field network: required"},
		{"docker_network", map[string]any{"network": "-x"}, `"-x" is not a valid network name`},
		{"docker_network", map[string]any{"network": "bridge"}, "the engine's own network"},
		{"docker_network", map[string]any{"network": "backend", "subnet": "172.30.0.1/24"}, "field subnet: \"172.30.0.1/24\" is not a network in CIDR"},
		{"docker_network", map[string]any{"network": "backend", "gateway": "10.0.0.1"}, "field gateway: needs a subnet"},
		{"docker_network", map[string]any{"network": "backend", "subnet": "172.30.0.0/24", "gateway": "10.0.0.1"}, "is not in subnet"},
		{"docker_network", map[string]any{"network": "backend", "labels": map[string]any{"io.vigo.managed": "false"}}, "labels io.vigo.* are vigo's own"},
		{"docker_network", map[string]any{"network": "backend", "internal": "maybe"}, "field internal"},
		{"docker_network", map[string]any{"network": "backend", "driver": "--rm"}, "is not a driver name"},
		{"docker_volume", map[string]any{}, "field volume: required"},
		{"docker_volume", map[string]any{"volume": "a"}, "is not a volume name"},
		{"docker_volume", map[string]any{"volume": "data", "recreate": "perhaps"}, "field recreate"},
		{"docker_volume", map[string]any{"volume": "data", "state": "gone"}, `"gone" is not one of present, absent`},
		{"docker_container", map[string]any{"container": "web", "image": "i", "volumes": []any{"./data:/data"}}, "field volumes[0]: \"./data:/data\": the source is neither"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{map[string]any{"aliases": []any{"x"}}}}, "field networks[0].name: required"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{map[string]any{"name": "b", "alias": "x"}}}, "field networks[0].alias: unknown field"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{"b", "b"}}, "listed twice"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{map[string]any{"name": "bridge", "aliases": []any{"x"}}}}, "takes no aliases"},
		{"docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{map[string]any{"name": "b", "aliases": []any{"-x"}}}}, "is not a valid alias"},
	} {
		_, err := decodeT(c.typ, c.fields, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "m.vgo:7:3: resource \"r1\"") {
			t.Errorf("%s %v: error %v, want one containing %q at m.vgo:7:3", c.typ, c.fields, err, c.want)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	sp, err := decodeT("docker_compose", map[string]any{"compose_file": "/opt/a/dc.yml", "remove_orphans": "true", "wait": true, "wait_timeout": "90"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := sp.(*composeSpec)
	if !c.RemoveOrphans || !c.Wait || c.WaitTimeout != 90*time.Second || c.Pull != "missing" {
		t.Fatalf("decoded %+v", c)
	}
	sp, err = decodeT("file", map[string]any{"target_path": "/a", "content": "x", "mode": "600"}, nil)
	if err != nil || sp.(*fileSpec).Mode != 0o600 {
		t.Fatalf("mode: %v %v", sp, err)
	}
}

// The spec hash takes no part of a secret's value (not even a hash of it:
// the env backend has no key), and does not change with state or wait
// settings.
func TestSpecHash(t *testing.T) {
	f := webFields("v2.1.0")
	h := func(sec string, extra ...any) string {
		sp, err := Decode(desired.Resource{Name: "w", Type: "docker_container", Fields: with(f, extra...)},
			Env{Secrets: map[string]string{"vigo/webapp/database_url": sec}})
		if err != nil {
			t.Fatal(err)
		}
		return sp.(*containerSpec).hash
	}
	a, b := h("one"), h("two")
	if a != b {
		t.Fatal("hash depends on the secret value (it sits in a label on the host: only the reference may enter it)")
	}
	if h("one", "state", "stopped") != a || h("one", "wait_healthy", "true") != a {
		t.Fatal("hash depends on state or wait_healthy")
	}
	if h("one", "restart_policy", "always") == a {
		t.Fatal("hash does not depend on restart_policy")
	}
}

func TestComposeV1Args(t *testing.T) {
	v1, pull := composeV1Args([]string{"-f", "/a/dc.yml", "up", "-d", "--pull", "always", "--remove-orphans", "--wait", "--wait-timeout", "60", "web"})
	if strings.Join(v1, " ") != "-f /a/dc.yml up -d --remove-orphans web" || strings.Join(pull, " ") != "-f /a/dc.yml pull web" {
		t.Fatalf("v1 %q pull %q", v1, pull)
	}
	v1, pull = composeV1Args([]string{"-f", "/a/dc.yml", "-p", "x", "config", "--format", "json"})
	if strings.Join(v1, " ") != "-f /a/dc.yml -p x config --services" || pull != nil {
		t.Fatalf("v1 %q pull %q", v1, pull)
	}
	v1, _ = composeV1Args([]string{"-f", "/a/dc.yml", "up", "-d", "--pull", "missing"})
	if strings.Join(v1, " ") != "-f /a/dc.yml up -d" {
		t.Fatalf("v1 %q", v1)
	}
}

func TestDecodeNetworksAndVolumes(t *testing.T) {
	sp, err := decodeT("docker_container", map[string]any{"container": "web", "image": "i",
		"networks": []any{"default", map[string]any{"name": "backend", "aliases": []any{"web", "app", "web"}}, map[string]any{"name": "front", "aliases": "www"}},
		"volumes":  []any{"appdata:/data:ro", "/srv:/srv:rw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := sp.(*containerSpec)
	if !reflect.DeepEqual(c.Networks, []string{"bridge", "backend", "front"}) ||
		!reflect.DeepEqual(c.Aliases, map[string][]string{"backend": {"app", "web"}, "front": {"www"}}) ||
		!reflect.DeepEqual(c.Volumes, []string{"/srv:/srv", "appdata:/data:ro"}) {
		t.Fatalf("decoded networks %q aliases %q volumes %q", c.Networks, c.Aliases, c.Volumes)
	}
	b := c.createBody(nil, time.Time{})
	if b.HostConfig.NetworkMode != "bridge" || b.NetworkingConfig != nil {
		t.Fatalf("bridge first: mode %q networking %+v", b.HostConfig.NetworkMode, b.NetworkingConfig)
	}
	sp, _ = decodeT("docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{map[string]any{"name": "backend", "aliases": []any{"web"}}}}, nil)
	b = sp.(*containerSpec).createBody(nil, time.Time{})
	if b.HostConfig.NetworkMode != "backend" || b.NetworkingConfig == nil || !reflect.DeepEqual(b.NetworkingConfig.EndpointsConfig["backend"].Aliases, []string{"web"}) {
		t.Fatalf("aliases of the first network not in the create body: %+v", b.NetworkingConfig)
	}
	// Aliases are part of the spec hash; without them it is what it was
	// before aliases existed (omitted: the golden container-matches plan,
	// recorded with the old hash, has no "written differently" note).
	plain, _ := decodeT("docker_container", map[string]any{"container": "web", "image": "i", "networks": []any{"backend"}}, nil)
	if h := plain.(*containerSpec).hash; h == sp.(*containerSpec).hash {
		t.Fatal("aliases take no part in the spec hash")
	}

	n, err := decodeT("docker_network", map[string]any{"network": "backend"}, nil)
	if err != nil || n.(*networkSpec).Driver != "bridge" || n.(*networkSpec).State != "present" {
		t.Fatalf("network defaults: %+v %v", n, err)
	}
	v, err := decodeT("docker_volume", map[string]any{"volume": "appdata"}, nil)
	if err != nil || v.(*volumeSpec).Driver != "local" || v.(*volumeSpec).Recreate {
		t.Fatalf("volume defaults: %+v %v", v, err)
	}
}

func TestContainerUses(t *testing.T) {
	got := containerUses(map[string]any{"networks": []any{"default", "bridge", "backend", map[string]any{"name": "front"}},
		"volumes": []any{"/srv:/srv", "appdata:/data:ro", "x"}})
	want := []stockpile.Use{{Type: "docker_network", Name: "backend"}, {Type: "docker_network", Name: "front"}, {Type: "docker_volume", Name: "appdata"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("uses %v, want %v", got, want)
	}
	if got := containerUses(map[string]any{"networks": "backend"}); !reflect.DeepEqual(got, []stockpile.Use{{Type: "docker_network", Name: "backend"}}) {
		t.Fatalf("a single network: uses %v", got)
	}
	if got := containerUses(map[string]any{"state": "absent", "networks": []any{"backend"}}); got != nil {
		t.Fatalf("an absent container uses %v", got)
	}
}
