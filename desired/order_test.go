package desired_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

// buildWith builds web1 from files with the executors' own schemas (their
// Uses functions say what a container uses).
func buildWith(t *testing.T, files map[string]string) (desired.Host, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	sp, err := stockpile.LoadFS(fsys, "", executors.BuiltinSchemas())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	inv, err := inventory.Parse("inventory.vgo", []byte("hosts:\n  - name: web1.example.com\n"), "/", "/home")
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := desired.BuildHost(sp, inv, "web1.example.com", desired.Options{})
	return h, err
}

const usesApp = `name: app
resources:
  - name: web
    type: docker_container
    container: web
    image: nginx
    networks:
      - name: "{{ .Vars.net }}"
        aliases: [www]
    volumes: ["appdata:/data", "/srv:/srv"]
  - name: other
    type: docker_container
    container: other
    image: nginx
vars:
  net: backend
`

const usesNet = `name: net
resources:
  - name: data
    type: docker_volume
    volume: appdata
  - name: backend-net
    type: docker_network
    network: backend
`

// A container is applied after the networks and volumes it names, even
// when their module comes later and nothing says depends_on (the names
// are compared once rendered).
func TestImplicitUsesOrder(t *testing.T) {
	h, err := buildWith(t, map[string]string{"modules/app.vgo": usesApp, "modules/net.vgo": usesNet,
		"roles/r.vgo": "name: r\nmodules: [app, net]\n", "envoys/e.vgo": "envoys:\n  - match: \"*\"\n    roles: [r]\n"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range h.Resources {
		order = append(order, r.ID())
	}
	// The same stable sort as depends_on: the first resource that is ready
	// goes first.
	if got := strings.Join(order, " "); got != "app/other net/data net/backend-net app/web" {
		t.Fatalf("order %s", got)
	}
	if got := strings.Join(h.Resources[3].DependsOn, " "); got != "net/backend-net net/data" {
		t.Fatalf("web depends_on %q, want the network and the volume", got)
	}
	if len(h.Resources[0].DependsOn) != 0 {
		t.Fatalf("other depends on %v", h.Resources[0].DependsOn)
	}
}

// A network that depends on the container using it is a cycle: refused
// with the resources named, not silently ordered.
func TestImplicitUsesCycle(t *testing.T) {
	net := strings.Replace(usesNet, "    network: backend\n", "    network: backend\n    depends_on: [app/web]\n", 1)
	_, err := buildWith(t, map[string]string{"modules/app.vgo": usesApp, "modules/net.vgo": net,
		"roles/r.vgo": "name: r\nmodules: [app, net]\n", "envoys/e.vgo": "envoys:\n  - match: \"*\"\n    roles: [r]\n"})
	if err == nil || !strings.Contains(err.Error(), "depend on each other through the networks and volumes they use") ||
		!strings.Contains(err.Error(), "app/web") || !strings.Contains(err.Error(), "net/backend-net") {
		t.Fatalf("cycle: %v", err)
	}
}
