package desired_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

func setup(t *testing.T, files map[string]string, inv string) (*stockpile.Stockpile, *inventory.Inventory) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	sp, err := stockpile.LoadFS(fsys, "", executors.BuiltinSchemas())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	in, err := inventory.Parse("inventory.vgo", []byte(inv), "/", "/home")
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return sp, in
}

func exampleFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, f := range []string{"modules/redis.vgo", "modules/app-stack.vgo", "modules/compose-app.vgo", "roles/docker-app.vgo", "envoys/nodes.vgo"} {
		data, err := readExample(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = data
	}
	return files
}

const threeHosts = `hosts:
  - name: web1.app.example.com
  - name: web2.app.example.com
    vars: {redis_maxmemory: 1gb}
  - name: web3.app.example.com
`

func TestBuildExample(t *testing.T) {
	sp, inv := setup(t, exampleFiles(t), threeHosts)
	hosts, warns, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if len(hosts) != 3 {
		t.Fatalf("%d hosts", len(hosts))
	}
	h := hosts[0]
	if h.Name != "web1.app.example.com" || h.Environment != "production" || !reflect.DeepEqual(h.Roles, []string{"docker-app"}) {
		t.Errorf("host %s %s %v", h.Name, h.Environment, h.Roles)
	}
	if !reflect.DeepEqual(h.Modules, []string{"redis", "app-stack"}) {
		t.Errorf("modules %v, want redis before app-stack", h.Modules)
	}
	var ids []string
	for _, r := range h.Resources {
		ids = append(ids, r.ID())
	}
	if want := []string{"redis/redis-image", "redis/redis-container", "app-stack/app-image", "app-stack/app-container"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("resources %v, want %v", ids, want)
	}
	rc, ac := h.Resources[1].Fields, h.Resources[3].Fields
	for _, c := range []struct{ got, want any }{
		{h.Resources[0].Fields["tag"], "7-alpine"},
		{rc["image"], "redis:7-alpine"},
		{rc["command"], "redis-server --maxmemory 512mb"},
		{rc["ports"], []any{"6379:6379"}},
		{ac["image"], "myregistry.example.com/webapp:v2.1.0"},
		{ac["environment"], map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "secret:vigo/webapp/database_url"}},
		{h.Resources[3].DependsOn, []string{"redis/redis-container"}},
		{hosts[1].Resources[1].Fields["command"], "redis-server --maxmemory 1gb"}, // inventory host var beats envoy var
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %#v, want %#v", c.got, c.want)
		}
	}
	// Deterministic: a second build is identical.
	again, _, _ := desired.Build(sp, inv, desired.Options{})
	a, _ := json.Marshal(hosts)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Error("two builds differ")
	}
	one, _, err := desired.BuildHost(sp, inv, "web2.app.example.com", desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := json.Marshal(one)
	d, _ := json.Marshal(hosts[1])
	if string(c) != string(d) {
		t.Error("BuildHost differs from Build")
	}
	if _, _, err := desired.BuildHost(sp, inv, "web4.app.example.com", desired.Options{}); err == nil || !strings.Contains(err.Error(), `did you mean "web1.app.example.com"?`) {
		t.Errorf("unknown host: %v", err)
	}
}

// Precedence, lowest first: module defaults, role vars, envoy vars,
// inventory host vars, --var.
func TestVarPrecedence(t *testing.T) {
	files := map[string]string{
		"modules/m.vgo": `name: m
vars: {a: module, b: module, c: module, d: module, e: module}
resources:
  - name: f
    type: file
    target_path: /f
    content: "{{ .Vars.a }} {{ .Vars.b }} {{ .Vars.c }} {{ .Vars.d }} {{ .Vars.e }}"
`,
		"roles/r.vgo":  "name: r\nmodules: [m]\nvars: {b: role, c: role, d: role, e: role}\n",
		"roles/r2.vgo": "name: r2\nmodules: [m]\nvars: {b: role2}\n",
		"envoys/e.vgo": "envoys:\n  - match: '*'\n    roles: [r, r2]\n    vars: {c: envoy, d: envoy, e: envoy}\n  - match: 'h*'\n    vars: {c: envoy2}\n",
	}
	sp, inv := setup(t, files, "defaults:\n  vars: {d: defaults}\nhosts:\n  - name: h1\n    vars: {e: host}\n  - name: h2\n")
	hosts, _, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hosts[0].Resources[0].Fields["content"]; got != "module role2 envoy2 defaults host" {
		t.Errorf("h1 content %q", got)
	}
	if got := hosts[1].Resources[0].Fields["content"]; got != "module role2 envoy2 defaults envoy" {
		t.Errorf("h2 content %q", got)
	}
	hosts, _, err = desired.Build(sp, inv, desired.Options{Vars: map[string]string{"e": "cli", "a": "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := hosts[0].Resources[0].Fields["content"]; got != "cli role2 envoy2 defaults cli" {
		t.Errorf("--var content %q", got)
	}
	if !reflect.DeepEqual(hosts[0].Roles, []string{"r", "r2"}) || !reflect.DeepEqual(hosts[0].Modules, []string{"m"}) {
		t.Errorf("roles %v modules %v", hosts[0].Roles, hosts[0].Modules)
	}
	_, _, err = desired.Build(sp, inv, desired.Options{Vars: map[string]string{"bad-name": "x"}})
	if err == nil || !strings.Contains(err.Error(), "--var bad-name: invalid variable name") {
		t.Errorf("bad --var: %v", err)
	}
}

func TestOrder(t *testing.T) {
	img := func(name string, extra string) string {
		return "  - {name: " + name + ", type: docker_image, image: x" + extra + "}\n"
	}
	files := map[string]string{
		// Role order: web, db, cache; web depends on db; cache is pulled in
		// by db without any role naming it.
		"modules/web.vgo":   "name: web\ndepends_on: [db]\nresources:\n" + img("w1", ", depends_on: [c1]") + img("w2", ""),
		"modules/db.vgo":    "name: db\ndepends_on: [cache]\nresources:\n" + img("d1", ", depends_on: [d2]") + img("d2", "") + img("d3", ""),
		"modules/cache.vgo": "name: cache\nresources:\n" + img("c1", ""),
		"modules/mon.vgo":   "name: mon\nresources:\n" + img("m1", ", notify: [w2, other/o1]"),
		"modules/other.vgo": "name: other\nresources:\n" + img("o1", ""),
		"roles/r.vgo":       "name: r\nmodules: [web, mon, db]\n",
		"envoys/e.vgo":      "envoys:\n  - match: '*'\n    roles: [r]\n",
	}
	sp, inv := setup(t, files, "hosts:\n  - name: h\n")
	hosts, _, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := hosts[0]
	if want := []string{"mon", "cache", "db", "web"}; !reflect.DeepEqual(h.Modules, want) {
		t.Errorf("modules %v, want %v", h.Modules, want)
	}
	var ids []string
	for _, r := range h.Resources {
		ids = append(ids, r.ID())
	}
	if want := []string{"mon/m1", "cache/c1", "db/d2", "db/d1", "db/d3", "web/w1", "web/w2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("resources %v, want %v", ids, want)
	}
	// notify of a resource whose module the host does not get is dropped.
	if got := h.Resources[0].Notify; !reflect.DeepEqual(got, []string{"web/w2"}) {
		t.Errorf("notify %v", got)
	}
}

func TestRawAndSecrets(t *testing.T) {
	files := map[string]string{
		"modules/m.vgo": `name: m
vars: {env_name: prod}
resources:
  - name: f
    type: file
    target_path: "/etc/{{ .Vars.env_name }}.conf"
    content: !raw |
      {{ .Values.image }} << .Chart >>
  - name: c
    type: docker_container
    container: c
    image: x
    environment:
      DB: "secret:db/{{ .Environment }}/url"
      RAW: !raw "{{ keep }}"
      SHELL: "${HOME} $(id) << EOF"
`,
		"roles/r.vgo":  "name: r\nmodules: [m]\n",
		"envoys/e.vgo": "envoys:\n  - match: '*'\n    environment: staging\n    roles: [r]\n",
	}
	sp, inv := setup(t, files, "hosts:\n  - name: h\n")
	hosts, _, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, c := hosts[0].Resources[0], hosts[0].Resources[1]
	if f.Fields["target_path"] != "/etc/prod.conf" || f.Fields["content"] != "{{ .Values.image }} << .Chart >>\n" || !f.Raw["content"] {
		t.Errorf("file %#v raw %v", f.Fields, f.Raw)
	}
	want := map[string]any{"DB": "secret:db/staging/url", "RAW": "{{ keep }}", "SHELL": "${HOME} $(id) << EOF"}
	if !reflect.DeepEqual(c.Fields["environment"], want) {
		t.Errorf("environment %#v", c.Fields["environment"])
	}
}

func TestHostData(t *testing.T) {
	files := map[string]string{
		"modules/m.vgo": "name: m\nresources:\n  - {name: f, type: file, target_path: /f, content: '{{ .Host.Name }} {{ .Host.Address }} {{ .Host.Port }} {{ .Host.User }} {{ .Host.Labels.tier }} {{ .Environment }}'}\n",
		"roles/r.vgo":   "name: r\nmodules: [m]\n",
		"envoys/e.vgo":  "envoys:\n  - match: '*'\n    roles: [r]\n",
	}
	sp, inv := setup(t, files, "hosts:\n  - {name: h1, address: 10.0.0.1, port: 2222, user: deploy, labels: {tier: web}}\n  - {name: h2, labels: {tier: db}}\n")
	hosts, _, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hosts[0].Resources[0].Fields["content"]; got != "h1 10.0.0.1 2222 deploy web " {
		t.Errorf("h1: %q", got)
	}
	if got := hosts[1].Resources[0].Fields["content"]; got != "h2 h2   db " {
		t.Errorf("h2: %q", got)
	}
}
