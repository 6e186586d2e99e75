package converge_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/lab/labtest"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// The lab hosts this package's end-to-end tests use (shared out by
// package; see lab/README.md).
const (
	web2 = "web2.app.example.com"
	web3 = "web3.app.example.com"
	svc1 = "svc1.compose.example.com"
)

// labSecrets is what push would resolve for the documentation's stack.
var labSecrets = map[string]string{"vigo/webapp/database_url": "postgres://webapp:e2e-CANARY-pw@db.example.com/webapp"}

type lab struct {
	lt    *labtest.Lab
	pool  *transport.Pool
	conns map[string]*transport.Conn
	dir   string // the stockpile copy
}

// requireLab skips (saying why; under CI it fails) unless the lab runs the
// given hosts, and connects to them with vigo's own transport.
func requireLab(tb testing.TB, names ...string) *lab {
	tb.Helper()
	lt := labtest.Require(tb, names...)
	pool := newPool(tb, lt)
	tb.Cleanup(func() { pool.Close() })
	l := &lab{lt: lt, pool: pool, conns: map[string]*transport.Conn{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		c, err := pool.Get(ctx, l.target(n))
		if err != nil {
			tb.Fatalf("connect %s: %v", n, err)
		}
		l.conns[n] = c
	}
	l.dir = stockpileCopy(tb, lt)
	return l
}

func newPool(tb testing.TB, lt *labtest.Lab) *transport.Pool {
	tb.Helper()
	pool, err := transport.NewPool(transport.PoolOptions{SSHConfigPath: "none", AgentSocket: "none",
		KnownHostsFiles: []string{lt.KnownHosts}})
	if err != nil {
		tb.Fatal(err)
	}
	return pool
}

func (l *lab) target(name string) transport.Target {
	h := l.lt.Host(name)
	return transport.Target{Name: name, Address: h.Address, Port: h.Port, User: "root",
		IdentityFile: l.lt.Key, KnownHostsFile: l.lt.KnownHosts}
}

// sh runs argv on the host (never a shell string unless argv says sh -c).
func (l *lab) run(tb testing.TB, host string, argv ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := l.conns[host].Exec(ctx, transport.Cmd{Argv: argv})
	if err != nil {
		tb.Fatalf("%s: %v: %v", host, argv, err)
	}
	return strings.TrimSpace(string(res.Stdout))
}

// try runs argv and returns its output and error.
func (l *lab) try(host string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := l.conns[host].Exec(ctx, transport.Cmd{Argv: argv})
	return strings.TrimSpace(string(res.Stdout)), err
}

func (l *lab) inspect(tb testing.TB, host, format, name string) string {
	tb.Helper()
	return l.run(tb, host, "docker", "inspect", "--format", format, name)
}

// stockpileCopy copies the documentation's example stockpile verbatim and
// adds a role and an envoys file applying compose-app to the compose hosts
// (the documentation puts compose-app in no role).
func stockpileCopy(tb testing.TB, lt *labtest.Lab) string {
	tb.Helper()
	src := filepath.Join("..", "examples", "docker-stack")
	dst := tb.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatal(err)
	}
	if !hasComposeEnvoy(dst) {
		must(tb, os.WriteFile(filepath.Join(dst, "roles", "e2e-compose.vgo"), []byte("name: e2e-compose\nmodules:\n  - compose-app\n"), 0o644))
		must(tb, os.WriteFile(filepath.Join(dst, "envoys", "e2e-compose.vgo"), []byte("envoys:\n  - match: \"*.compose.example.com\"\n    environment: staging\n    roles: [e2e-compose]\n"), 0o644))
	}
	inv := "defaults:\n  user: root\n  port: 22\n  identity_file: " + lt.Key + "\n  known_hosts: " + lt.KnownHosts + "\nhosts:\n"
	for _, h := range lt.Hosts {
		if h.Name == web2 || h.Name == web3 || h.Name == svc1 {
			inv += "  - name: " + h.Name + "\n    address: " + h.Address + "\n"
		}
	}
	must(tb, os.WriteFile(filepath.Join(dst, "e2e-inventory.vgo"), []byte(inv), 0o644))
	return dst
}

func hasComposeEnvoy(dir string) bool {
	matches, _ := filepath.Glob(filepath.Join(dir, "envoys", "*.vgo"))
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		if strings.Contains(string(b), "compose.example.com") {
			return true
		}
	}
	return false
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// desiredHost builds a host's desired state from the stockpile copy, like
// push does, with --var overrides.
func (l *lab) desiredHost(tb testing.TB, name string, vars map[string]string) desired.Host {
	tb.Helper()
	sp, err := stockpile.Load(l.dir, executors.BuiltinSchemas())
	if err != nil {
		tb.Fatalf("load stockpile: %v", err)
	}
	inv, err := inventory.Load(filepath.Join(l.dir, "e2e-inventory.vgo"))
	if err != nil {
		tb.Fatalf("inventory: %v", err)
	}
	dh, _, err := desired.BuildHost(sp, inv, name, desired.Options{Vars: vars})
	if err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	return dh
}

// push converges one host and fails the test on error.
func (l *lab) push(tb testing.TB, dh desired.Host, dry bool) (converge.Result, *sink) {
	tb.Helper()
	r, s, err := l.pushErr(dh, dry)
	if err != nil {
		tb.Fatalf("push %s: %v\n%s", dh.Name, err, r.Plan)
	}
	return r, s
}

func (l *lab) pushErr(dh desired.Host, dry bool) (converge.Result, *sink, error) {
	s := &sink{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := converge.Run(ctx, l.conns[dh.Name], dh, converge.Options{DryRun: dry, Secrets: labSecrets,
		StockpileDir: l.dir, Sink: s})
	return r, s, err
}

func resourceByName(dh desired.Host, name string) *desired.Resource {
	for i := range dh.Resources {
		if dh.Resources[i].Name == name {
			return &dh.Resources[i]
		}
	}
	return nil
}

// copyHost deep-copies the fields of a desired host so a test can change
// one resource.
func copyHost(dh desired.Host) desired.Host {
	b, _ := json.Marshal(dh)
	var out desired.Host
	_ = json.Unmarshal(b, &out)
	for i := range out.Resources {
		out.Resources[i].Raw = dh.Resources[i].Raw
	}
	return out
}
