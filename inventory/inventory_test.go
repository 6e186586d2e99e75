package inventory

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/stockpile"
)

const sample = `defaults:
  user: root
  port: 22
  identity_file: keys/id_ed25519
  known_hosts: ~/known_hosts
  become: false
  labels: {dc: one}
  vars: {region: eu, tier: base}
hosts:
  - name: web1.app.example.com
    address: 10.77.0.11
    labels: {tier: web}
    vars: {redis_maxmemory: 1gb, tier: web}
  - name: web2.app.example.com
    port: "2222"
    user: deploy
    become: "true"
    proxy_jump: bastion
  - name: localhost
    connection: local
    identity_file: /abs/key
`

func TestParse(t *testing.T) {
	inv, err := Parse("inv.vgo", []byte(sample), "/stock", "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Names(); !reflect.DeepEqual(got, []string{"web1.app.example.com", "web2.app.example.com", "localhost"}) {
		t.Fatalf("names %v", got)
	}
	w1, w2, lo := inv.Hosts[0], inv.Hosts[1], inv.Hosts[2]
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("w1.Address", w1.Address, "10.77.0.11")
	check("w1.Port", w1.Port, 22)
	check("w1.User", w1.User, "root")
	check("w1.IdentityFile", w1.IdentityFile, "/stock/keys/id_ed25519")
	check("w1.KnownHosts", w1.KnownHosts, "/home/u/known_hosts")
	check("w1.Connection", w1.Connection, "ssh")
	check("w1.Labels", w1.Labels, map[string]string{"dc": "one", "tier": "web"})
	check("w1.Vars", w1.Vars, map[string]any{"region": "eu", "tier": "web", "redis_maxmemory": "1gb"})
	check("w1.Pos", w1.Pos, stockpile.Pos{File: "inv.vgo", Line: 10, Col: 5})
	check("w2.Port", w2.Port, 2222)
	check("w2.User", w2.User, "deploy")
	check("w2.Become", w2.Become, true)
	check("w2.ProxyJump", w2.ProxyJump, "bastion")
	check("w2.Address", w2.Address, "")
	check("w2.Labels", w2.Labels, map[string]string{"dc": "one"})
	check("w2.Vars", w2.Vars, map[string]any{"region": "eu", "tier": "base"})
	check("lo.Connection", lo.Connection, "local")
	check("lo.IdentityFile", lo.IdentityFile, "/abs/key")
	// Hosts do not share maps with the defaults or each other.
	w2.Labels["x"] = "y"
	if _, ok := inv.Hosts[2].Labels["x"]; ok {
		t.Error("labels map shared between hosts")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"no hosts", "defaults: {user: root}\n", []string{"inv.vgo:1:1: inventory has no hosts: list"}},
		{"unknown top", "hostz: []\n", []string{`inv.vgo:1:1: unknown field "hostz" in inventory (hint: did you mean "hosts"?)`, "inventory has no hosts"}},
		{"unknown host field", "hosts:\n  - name: a\n    adress: x\n", []string{`inv.vgo:3:5: unknown field "adress" in host "a" (hint: did you mean "address"?)`}},
		{"no name", "hosts:\n  - address: x\n", []string{"inv.vgo:2:5: host has no name"}},
		{"dup host", "hosts:\n  - name: a\n  - name: a\n", []string{`inv.vgo:3:5: host "a" is listed twice (first at line 2)`}},
		{"bad port", "hosts:\n  - name: a\n    port: 70000\n", []string{`inv.vgo:3:11: port of host "a" must be a number from 1 to 65535, not "70000"`}},
		{"bad connection", "hosts:\n  - name: a\n    connection: lokal\n", []string{`connection of host "a" must be ssh or local, not "lokal" (hint: did you mean "local"?)`}},
		{"bad become", "hosts:\n  - name: a\n    become: maybe\n", []string{`become of host "a" must be true or false`}},
		{"bad var name", "hosts:\n  - name: a\n    vars: {redis-port: 1}\n", []string{`inv.vgo:3:12: invalid variable name "redis-port"`}},
		{"glob in name", "hosts:\n  - name: web*\n", []string{`invalid host name "web*"`}},
		{"address in defaults", "defaults: {address: x}\nhosts: [{name: a}]\n", []string{`unknown field "address" in defaults (hint: set it on each host)`}},
		{"yaml error", "hosts: [\n", []string{"inv.vgo:1:1: invalid YAML: did not find expected node content"}},
		{"empty", "", []string{"inv.vgo:1:1: empty file"}},
		{"hosts not list", "hosts: {a: 1}\n", []string{"hosts must be a list, not a map"}},
		{"labels nested", "hosts:\n  - name: a\n    labels: {x: [1]}\n", []string{`label "x" of host "a" must be a single value, not a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("inv.vgo", []byte(tc.in), "/", "/home")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func hosts(names ...string) []Host {
	var out []Host
	for _, n := range names {
		out = append(out, Host{Name: n})
	}
	return out
}

func names(hs []Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestAssign(t *testing.T) {
	hs := hosts("web1.app.example.com", "web2.app.example.com", "db1.example.com", "lonely")
	e1 := &stockpile.Envoy{Match: "*.app.example.com", Environment: "production", Pos: stockpile.Pos{File: "envoys/y.vgo", Line: 2, Col: 5}}
	e2 := &stockpile.Envoy{Match: "web2.*", Environment: "canary", Pos: stockpile.Pos{File: "envoys/y.vgo", Line: 5, Col: 5}}
	e3 := &stockpile.Envoy{Match: "db?.example.com"}
	e4 := &stockpile.Envoy{Match: "nothing-*", MatchPos: stockpile.Pos{File: "envoys/x.vgo", Line: 3, Col: 12}}
	got, warns := Assign(hs, []*stockpile.Envoy{e1, e2, e3, e4})
	if len(got) != 3 {
		t.Fatalf("assigned %d hosts, want 3 (lonely has no envoy)", len(got))
	}
	// Envoys that disagree on web2's environment are a conflict (the
	// first one sets it), not "the last envoy wins".
	conflict := `envoys/y.vgo:5:5: envoy "web2.*" puts the host in environment "canary", but envoy "*.app.example.com" (envoys/y.vgo:2:5) puts it in "production"`
	want := []struct {
		name, env string
		envoys    []*stockpile.Envoy
		conflicts string
	}{
		{"web1.app.example.com", "production", []*stockpile.Envoy{e1}, ""},
		{"web2.app.example.com", "production", []*stockpile.Envoy{e1, e2}, conflict},
		{"db1.example.com", "", []*stockpile.Envoy{e3}, ""},
	}
	for i, w := range want {
		if got[i].Host.Name != w.name || got[i].Host.Environment != w.env || !reflect.DeepEqual(got[i].Envoys, w.envoys) {
			t.Errorf("assignment %d = %s/%s/%v, want %s/%s/%v", i, got[i].Host.Name, got[i].Host.Environment, got[i].Envoys, w.name, w.env, w.envoys)
		}
		gotc := ""
		if err := got[i].Conflicts.Err(); err != nil {
			gotc = err.Error()
		}
		if gotc != w.conflicts {
			t.Errorf("%s: conflicts %q, want %q", w.name, gotc, w.conflicts)
		}
	}
	if len(warns) != 1 || warns[0].Error() != `envoys/x.vgo:3:12: envoy "nothing-*" matches no host in the inventory` {
		t.Errorf("warnings %v", warns)
	}
}

func TestSelect(t *testing.T) {
	hs := hosts("web1.app.example.com", "web2.app.example.com", "db1.example.com")
	hs[0].Environment, hs[1].Environment, hs[2].Environment = "production", "staging", "production"
	for _, tc := range []struct {
		name    string
		targets []string
		env     string
		all     bool
		want    []string
		err     string
	}{
		{name: "all", all: true, want: []string{"web1.app.example.com", "web2.app.example.com", "db1.example.com"}},
		{name: "glob", targets: []string{"*.app.example.com"}, want: []string{"web1.app.example.com", "web2.app.example.com"}},
		{name: "union keeps inventory order", targets: []string{"db*", "web1*"}, want: []string{"web1.app.example.com", "db1.example.com"}},
		{name: "exact", targets: []string{"db1.example.com"}, want: []string{"db1.example.com"}},
		{name: "env only", env: "production", want: []string{"web1.app.example.com", "db1.example.com"}},
		{name: "glob and env", targets: []string{"web*"}, env: "staging", want: []string{"web2.app.example.com"}},
		{name: "all and env", all: true, env: "staging", want: []string{"web2.app.example.com"}},
		{name: "nothing said", err: "say which hosts"},
		{name: "all and target", all: true, targets: []string{"x"}, err: "exclude each other"},
		{name: "target selects nothing", targets: []string{"web1*", "web3.app.example.com"}, err: `--target "web3.app.example.com" selects no host (hint: did you mean "web1.app.example.com"?)`},
		{name: "bad glob", targets: []string{"web[1"}, err: "bad glob"},
		{name: "env selects nothing", targets: []string{"db*"}, env: "staging", err: `no host in environment "staging" among the selected hosts (environments: production)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(hs, tc.targets, tc.env, tc.all)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("got %v, want %v", names(got), tc.want)
			}
		})
	}
}
