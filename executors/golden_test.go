package executors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

var update = flag.Bool("update", false, "rewrite the golden plan files")

// The key and the secret value the fixtures were recorded with (see
// record_test.go): the recorded spec hashes depend on them.
var (
	goldenSecrets = map[string]string{"vigo/webapp/database_url": "postgres://app:golden@db.example.com/app"}
)

// fixture reads one recorded engine answer from testdata/inspect.
func fixture[T any](t *testing.T, name string) *T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inspect", name+".json"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return &v
}

const (
	redisRef = "redis:7-alpine"
	web21    = "myregistry.example.com/webapp:v2.1.0"
	web22    = "myregistry.example.com/webapp:v2.2.0"
)

// recorded builds the observed state of a host after the documentation's
// stack was pushed with app_tag v2.1.0 (recorded from a lab host).
func recorded(t *testing.T) *State {
	st := NewState()
	st.Containers["redis"] = fixture[Container](t, "container-redis")
	st.Containers["webapp"] = fixture[Container](t, "container-webapp")
	for ref, name := range map[string]string{redisRef: "image-redis", web21: "image-webapp-v2.1.0", web22: "image-webapp-v2.2.0"} {
		img := fixture[Image](t, name)
		st.Images[ref] = img
		st.ImagesByID[img.ID] = img
	}
	st.List = *fixture[[]ContainerSummary](t, "list")
	return st
}

func redisFields() map[string]any {
	return map[string]any{"container": "redis", "image": "redis:7-alpine", "state": "running",
		"ports": []any{"6379:6379"}, "command": "redis-server --maxmemory 512mb", "restart_policy": "unless-stopped"}
}

func webFields(tag string) map[string]any {
	return map[string]any{"container": "webapp", "image": "myregistry.example.com/webapp:" + tag, "state": "running",
		"ports": []any{"8080:8080"}, "restart_policy": "unless-stopped",
		"environment": map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "secret:vigo/webapp/database_url"}}
}

type goldenCase struct {
	name   string
	typ    string
	fields map[string]any
	// state changes the recorded state (nil: as recorded).
	state   func(t *testing.T, st *State)
	secrets map[string]string
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func goldenCases() []goldenCase {
	env := func(kv ...any) map[string]any {
		return with(webFields("v2.1.0")["environment"].(map[string]any), kv...)
	}
	return []goldenCase{
		// docker_container lifecycle
		{name: "container-matches", typ: "docker_container", fields: webFields("v2.1.0")},
		{name: "container-redis-matches", typ: "docker_container", fields: redisFields()},
		{name: "container-missing", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) { st.Containers["webapp"] = nil }},
		{name: "container-missing-image-missing", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) { st.Containers["webapp"] = nil; st.Images[web21] = nil }},
		{name: "container-stopped", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) {
				st.Containers["webapp"] = fixture[Container](t, "container-webapp-stopped")
			}},
		{name: "container-want-stopped", typ: "docker_container", fields: with(webFields("v2.1.0"), "state", "stopped")},
		{name: "container-want-absent", typ: "docker_container", fields: with(webFields("v2.1.0"), "state", "absent")},
		{name: "container-absent-missing", typ: "docker_container", fields: with(webFields("v2.1.0"), "state", "absent"),
			state: func(t *testing.T, st *State) { st.Containers["webapp"] = nil }},
		{name: "container-leftover-temp", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) {
				st.Containers["webapp"] = nil
				st.List = append(st.List, ContainerSummary{ID: "f00", Names: []string{"/webapp-vigo-new"}, State: "created"})
			}},
		// a leftover next to a container that is right: only the leftover goes
		{name: "container-leftover-matches", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) {
				st.List = append(st.List, ContainerSummary{ID: "f00", Names: []string{"/webapp-vigo-new"}, State: "created"})
			}},
		{name: "container-leftover-absent", typ: "docker_container", fields: with(webFields("v2.1.0"), "state", "absent"),
			state: func(t *testing.T, st *State) {
				st.Containers["webapp"] = nil
				st.List = append(st.List, ContainerSummary{ID: "f00", Names: []string{"/webapp-vigo-new"}, State: "created"})
			}},
		// a declared healthcheck inherits the image's interval, retries...
		{name: "container-healthcheck-inherits", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"healthcheck", map[string]any{"test": "wget -qO- http://localhost:8080/health"}),
			state: func(t *testing.T, st *State) {
				img := *st.Images[web21]
				img.Config.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "true"}, Interval: 7 * time.Second, Retries: 4}
				st.Images[web21], st.ImagesByID[img.ID] = &img, &img
				c := *st.Containers["webapp"]
				c.Config.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "wget -qO- http://localhost:8080/health"}, Interval: 7 * time.Second, Retries: 4}
				st.Containers["webapp"] = &c
			}},
		// entrypoint: [] is recorded as [""]
		{name: "container-entrypoint-empty", typ: "docker_container", fields: with(webFields("v2.1.0"), "entrypoint", []any{}, "command", []any{"webapp"}),
			state: func(t *testing.T, st *State) {
				c := *st.Containers["webapp"]
				c.Config.Entrypoint = []string{""}
				st.Containers["webapp"] = &c
			}},
		// command: [] without an entrypoint is the image's command
		{name: "container-command-empty", typ: "docker_container", fields: with(webFields("v2.1.0"), "command", []any{})},
		// networks: [default] is the bridge network
		{name: "container-network-default", typ: "docker_container", fields: with(webFields("v2.1.0"), "networks", []any{"default"})},
		// an image without PATH: the daemon's default PATH is not a difference
		{name: "container-path-not-in-image", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) {
				img := *st.Images[web21]
				img.Config.Env = []string{"APP_NAME=webapp", "APP_VERSION=2.1.0"}
				st.Images[web21], st.ImagesByID[img.ID] = &img, &img
			}},
		// an explicit host IP is kept as written and recorded as sent
		{name: "container-port-explicit-ip", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", []any{"0.0.0.0:8080:8080", "[::1]:9090:9090"}),
			state: func(t *testing.T, st *State) {
				c := *st.Containers["webapp"]
				c.HostConfig.PortBindings = map[string][]PortBinding{"8080/tcp": {{HostIP: "0.0.0.0", HostPort: "8080"}}, "9090/tcp": {{HostIP: "::1", HostPort: "9090"}}}
				st.Containers["webapp"] = &c
			}},
		// image by ID
		{name: "container-new-tag", typ: "docker_container", fields: webFields("v2.2.0")},
		{name: "container-new-tag-not-pulled", typ: "docker_container", fields: webFields("v2.2.0"),
			state: func(t *testing.T, st *State) { st.Images[web22] = nil }},
		{name: "container-same-tag-new-id", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) { st.Images[web21] = st.Images[web22] }},
		// ports
		{name: "container-port-changed", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", []any{"8081:8080"})},
		{name: "container-port-removed", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", nil)},
		{name: "container-port-added", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", []any{"8080:8080", "127.0.0.1:9090:9090/udp"})},
		{name: "container-no-ports-matches", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", nil),
			state: func(t *testing.T, st *State) {
				c := *st.Containers["webapp"]
				c.HostConfig.PortBindings = map[string][]PortBinding{}
				st.Containers["webapp"] = &c
			}},
		{name: "container-port-normalised", typ: "docker_container", fields: with(webFields("v2.1.0"), "ports", []any{"0.0.0.0:8080:8080/tcp"})},
		// environment
		{name: "container-env-changed", typ: "docker_container", fields: with(webFields("v2.1.0"), "environment", env("REDIS_URL", "redis://localhost:6380"))},
		{name: "container-env-removed", typ: "docker_container", fields: with(webFields("v2.1.0"), "environment", env("REDIS_URL", nil))},
		{name: "container-env-added", typ: "docker_container", fields: with(webFields("v2.1.0"), "environment", env("LOG_LEVEL", "debug"))},
		{name: "container-env-image-only-var-declared-same", typ: "docker_container", fields: with(webFields("v2.1.0"), "environment", env("APP_VERSION", "2.1.0"))},
		{name: "container-secret-changed", typ: "docker_container", fields: webFields("v2.1.0"),
			secrets: map[string]string{"vigo/webapp/database_url": "postgres://app:rotated@db.example.com/app"}},
		// command, restart policy, the rest
		{name: "container-command-changed", typ: "docker_container", fields: with(redisFields(), "command", "redis-server --maxmemory 256mb")},
		{name: "container-command-removed", typ: "docker_container", fields: with(redisFields(), "command", nil)},
		{name: "container-command-list-same", typ: "docker_container", fields: with(redisFields(), "command", []any{"redis-server", "--maxmemory", "512mb"})},
		{name: "container-restart-changed", typ: "docker_container", fields: with(webFields("v2.1.0"), "restart_policy", "always")},
		{name: "container-restart-drift", typ: "docker_container", fields: webFields("v2.1.0"),
			state: func(t *testing.T, st *State) {
				st.Containers["webapp"] = fixture[Container](t, "container-webapp-updated")
			}},
		{name: "container-handmade", typ: "docker_container", fields: redisFields(),
			state: func(t *testing.T, st *State) { st.Containers["redis"] = fixture[Container](t, "container-handmade") }},
		{name: "container-labels-volumes-user", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"labels", map[string]any{"team": "web"}, "volumes", []any{"/srv/data:/data:ro"}, "user", "1000", "working_dir", "/srv")},
		{name: "container-hostname-added", typ: "docker_container", fields: with(webFields("v2.1.0"), "hostname", "web")},
		{name: "container-healthcheck-added", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"healthcheck", map[string]any{"test": "wget -qO- http://localhost:8080/health", "interval": "5s", "retries": "3"})},
		{name: "container-networks-changed", typ: "docker_container", fields: with(webFields("v2.1.0"), "networks", []any{"backend"})},
		// networks by name with aliases, volumes by name
		{name: "container-network-aliases-added", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"networks", []any{map[string]any{"name": "backend", "aliases": []any{"web", "app"}}}),
			state: attached("webapp", "backend")},
		{name: "container-network-aliases-match", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"networks", []any{map[string]any{"name": "backend", "aliases": []any{"web"}}}),
			state: attached("webapp", "backend", "web", "webapp", "d483bda2a0bb")},
		{name: "container-network-alias-changed", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"networks", []any{map[string]any{"name": "backend", "aliases": []any{"cache"}}}),
			state: attached("webapp", "backend", "web")},
		{name: "container-network-renamed", typ: "docker_container", fields: with(webFields("v2.1.0"),
			"networks", []any{"backend2"}), state: attached("webapp", "backend")},
		{name: "container-named-volume-changed", typ: "docker_container", fields: with(webFields("v2.1.0"), "volumes", []any{"appdata2:/data"}),
			state: func(t *testing.T, st *State) {
				c := *st.Containers["webapp"]
				c.HostConfig.Binds = []string{"appdata:/data"}
				st.Containers["webapp"] = &c
			}},
		// docker_network
		{name: "network-missing", typ: "docker_network", fields: netFields()},
		{name: "network-matches", typ: "docker_network", fields: netFields(), state: withNetwork(true)},
		{name: "network-not-vigos-matches", typ: "docker_network", fields: netFields(), state: withNetwork(false)},
		{name: "network-option-changed", typ: "docker_network", fields: with(netFields(), "options", map[string]any{"com.docker.network.driver.mtu": "1400"}),
			state: withNetwork(true)},
		{name: "network-option-changed-in-use", typ: "docker_network", fields: with(netFields(), "options", map[string]any{"com.docker.network.driver.mtu": "1400"}),
			state: chain(withNetwork(true), listAttached("redis", "backend"), listAttached("webapp", "backend"))},
		{name: "network-not-vigos-differs", typ: "docker_network", fields: with(netFields(), "internal", "true"), state: withNetwork(false)},
		{name: "network-not-vigos-differs-take-over", typ: "docker_network", fields: with(netFields(), "internal", "true", "take_over", "true"), state: withNetwork(false)},
		{name: "network-subnet-changed", typ: "docker_network", fields: with(netFields(), "subnet", "172.31.0.0/24", "gateway", nil), state: withNetwork(true)},
		{name: "network-undeclared-subnet", typ: "docker_network", fields: with(netFields(), "subnet", nil, "gateway", nil), state: withNetwork(true)},
		{name: "network-absent", typ: "docker_network", fields: with(netFields(), "state", "absent"), state: withNetwork(true)},
		{name: "network-absent-in-use", typ: "docker_network", fields: with(netFields(), "state", "absent"),
			state: chain(withNetwork(true), listAttached("webapp", "backend"))},
		{name: "network-absent-gone", typ: "docker_network", fields: with(netFields(), "state", "absent")},
		// docker_volume
		{name: "volume-missing", typ: "docker_volume", fields: volFields()},
		{name: "volume-matches", typ: "docker_volume", fields: volFields(), state: withVolume(true)},
		{name: "volume-not-vigos-matches", typ: "docker_volume", fields: with(volFields(), "labels", nil), state: withVolume(false)},
		{name: "volume-label-changed", typ: "docker_volume", fields: with(volFields(), "labels", map[string]any{"backup": "weekly"}), state: withVolume(true)},
		{name: "volume-label-changed-recreate", typ: "docker_volume", fields: with(volFields(), "labels", map[string]any{"backup": "weekly"}, "recreate", "true"),
			state: withVolume(true)},
		{name: "volume-recreate-in-use", typ: "docker_volume", fields: with(volFields(), "driver_opts", map[string]any{"type": "tmpfs", "device": "tmpfs"}, "recreate", "true"),
			state: chain(withVolume(true), listMount("webapp", "appdata"))},
		{name: "volume-absent", typ: "docker_volume", fields: with(volFields(), "state", "absent"), state: withVolume(true)},
		{name: "volume-absent-in-use", typ: "docker_volume", fields: with(volFields(), "state", "absent"), state: chain(withVolume(true), listMount("redis", "appdata"))},
		{name: "volume-absent-not-vigos", typ: "docker_volume", fields: with(volFields(), "state", "absent"), state: withVolume(false)},
		// docker_image
		{name: "image-present", typ: "docker_image", fields: map[string]any{"image": "redis", "tag": "7-alpine", "state": "present"}},
		{name: "image-missing", typ: "docker_image", fields: map[string]any{"image": "myregistry.example.com/webapp", "tag": "v2.3.0"}},
		{name: "image-pull-always", typ: "docker_image", fields: map[string]any{"image": "redis", "tag": "7-alpine", "pull": "always"}},
		{name: "image-absent-in-use", typ: "docker_image", fields: map[string]any{"image": "redis", "tag": "7-alpine", "state": "absent"}},
		{name: "image-absent-gone", typ: "docker_image", fields: map[string]any{"image": "nginx", "state": "absent"}},
		// docker_compose
		{name: "compose-up-all-running", typ: "docker_compose", fields: composeFields(), state: composeState("compose-list")},
		{name: "compose-service-removed", typ: "docker_compose", fields: composeFields(), state: composeState("compose-list-api-removed")},
		{name: "compose-service-exited", typ: "docker_compose", fields: composeFields(), state: composeState("compose-list-web-exited")},
		{name: "compose-nothing-yet", typ: "docker_compose", fields: composeFields(), state: composeState("")},
		{name: "compose-orphan", typ: "docker_compose", fields: composeFields(), state: composeState("compose-list", "old")},
		{name: "compose-down", typ: "docker_compose", fields: with(composeFields(), "state", "down"), state: composeState("compose-list")},
		// file
		{name: "file-missing", typ: "file", fields: fileFields("hello\n"), state: func(t *testing.T, st *State) { st.Files["/opt/myapp/app.conf"] = nil }},
		{name: "file-same", typ: "file", fields: fileFields("hello\n"), state: fileState("hello\n", "0644")},
		{name: "file-content-differs", typ: "file", fields: fileFields("hello again\n"), state: fileState("hello\n", "0644")},
		{name: "file-mode-drift", typ: "file", fields: with(fileFields("hello\n"), "mode", "0600"), state: fileState("hello\n", "0644")},
		{name: "file-secret-missing", typ: "file", fields: fileFields("secret:vigo/webapp/database_url"), state: func(t *testing.T, st *State) { st.Files["/opt/myapp/app.conf"] = nil }},
		{name: "file-secret-differs", typ: "file", fields: fileFields("secret:vigo/webapp/database_url"), state: fileState("hello\n", "0644")},
		{name: "file-secret-same", typ: "file", fields: fileFields("secret:vigo/webapp/database_url"), state: fileState(goldenSecrets["vigo/webapp/database_url"], "0644")},
		{name: "file-setuid-same", typ: "file", fields: with(fileFields("hello\n"), "mode", "4755"), state: fileState("hello\n", "4755")},
		{name: "file-sticky-drift", typ: "file", fields: with(fileFields("hello\n"), "mode", "1777"), state: fileState("hello\n", "0777")},
		{name: "file-absent", typ: "file", fields: with(fileFields("hello\n"), "state", "absent"), state: fileState("hello\n", "0644")},
	}
}

func netFields() map[string]any {
	return map[string]any{"network": "backend", "subnet": "172.30.0.0/24", "gateway": "172.30.0.1", "labels": map[string]any{"team": "web"}}
}

func volFields() map[string]any {
	return map[string]any{"volume": "appdata", "labels": map[string]any{"team": "web"}}
}

func chain(fs ...func(t *testing.T, st *State)) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		for _, f := range fs {
			f(t, st)
		}
	}
}

// withNetwork installs the network "backend" as the engine reports it
// after vigo (or someone else: vigos false) created it from netFields.
func withNetwork(vigos bool) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		nw := &Network{ID: "5e1f0c2b7a9d8e6f5e1f0c2b7a9d8e6f", Name: "backend", Driver: "bridge", Options: map[string]string{},
			Labels: map[string]string{"team": "web"}}
		if vigos {
			nw.Labels[LabelManaged], nw.Labels[LabelResource] = "true", "backend-net"
		}
		nw.IPAM.Config = []IPAMConfig{{Subnet: "172.30.0.0/24", Gateway: "172.30.0.1"}}
		st.Networks["backend"] = nw
	}
}

// withVolume installs the volume "appdata" as the engine reports it.
func withVolume(vigos bool) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		v := &Volume{Name: "appdata", Driver: "local", Labels: map[string]string{}}
		if vigos {
			v.Labels = map[string]string{LabelManaged: "true", LabelResource: "appdata", "team": "web"}
		}
		st.Volumes["appdata"] = v
	}
}

// attached moves the recorded container to network net with the given
// aliases (as the engine reports them: the container's name and short ID
// among them on API < 1.45).
func attached(name, net string, aliases ...string) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		c := *st.Containers[name]
		c.HostConfig.NetworkMode = net
		c.NetworkSettings.Networks = map[string]*EndpointSettings{net: {Aliases: aliases}}
		st.Containers[name] = &c
	}
}

// listAttached puts container name on network net in the container list.
func listAttached(name, net string) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		for i := range st.List {
			if st.List[i].Name() == name {
				st.List[i].NetworkSettings.Networks = map[string]json.RawMessage{net: json.RawMessage(`{}`)}
				return
			}
		}
		t.Fatalf("no container %s in the list", name)
	}
}

// listMount makes container name mount volume vol in the container list.
func listMount(name, vol string) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		for i := range st.List {
			if st.List[i].Name() == name {
				st.List[i].Mounts = append(st.List[i].Mounts, struct {
					Type string `json:"Type"`
					Name string `json:"Name"`
				}{Type: "volume", Name: vol})
				return
			}
		}
		t.Fatalf("no container %s in the list", name)
	}
}

func composeFields() map[string]any {
	return map[string]any{"compose_file": "/opt/myapp/docker-compose.yml", "pull": "always", "remove_orphans": "true"}
}

// composeState installs what observe learns of the documentation's
// compose project: its services from the file, its containers from a
// recorded container list.
func composeState(list string, extraServices ...string) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		cs := &ComposeState{Project: "myapp", Services: []string{"api", "redis", "web"}}
		if list != "" {
			for _, c := range *fixture[[]ContainerSummary](t, list) {
				if c.Labels["com.docker.compose.project"] == "myapp" {
					cs.Containers = append(cs.Containers, c)
				}
			}
		}
		for _, svc := range extraServices {
			cs.Containers = append(cs.Containers, ContainerSummary{ID: "0ld", Names: []string{"/myapp-" + svc + "-1"}, State: "running",
				Labels: map[string]string{"com.docker.compose.project": "myapp", "com.docker.compose.service": svc}})
		}
		st.Compose["/opt/myapp/docker-compose.yml"] = cs
	}
}

func fileFields(content string) map[string]any {
	return map[string]any{"target_path": "/opt/myapp/app.conf", "content": content}
}

func fileState(content, mode string) func(t *testing.T, st *State) {
	return func(t *testing.T, st *State) {
		s, _ := decodeFile(fields{r: desired.Resource{Fields: map[string]any{"target_path": "/x", "content": content}}, schema: &fileType.Schema}, Env{})
		st.Files["/opt/myapp/app.conf"] = &FileInfo{SHA256: s.(*fileSpec).SHA256, Mode: mode, Owner: "root", Group: "root"}
	}
}

// TestGoldenPlans plans every rule against state recorded from a lab host
// and compares the plan text with testdata/golden/NAME.txt (-update
// rewrites them).
func TestGoldenPlans(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			st := recorded(t)
			if c.state != nil {
				c.state(t, st)
			}
			sec := goldenSecrets
			if c.secrets != nil {
				sec = c.secrets
			}
			r := desired.Resource{Name: c.name, Type: c.typ, Module: "golden", Fields: c.fields, Pos: stockpile.Pos{File: "golden.vgo", Line: 1, Col: 1}}
			sp, err := Decode(r, Env{Secrets: sec})
			if err != nil {
				t.Fatal(err)
			}
			got := Plan(sp, st).String()
			for _, v := range sec {
				sum := sha256.Sum256([]byte(v))
				if strings.Contains(got, v) || strings.Contains(got, hex.EncodeToString(sum[:])[:12]) {
					t.Fatalf("plan shows a secret value or its unkeyed hash:\n%s", got)
				}
			}
			path := filepath.Join("testdata", "golden", c.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}
