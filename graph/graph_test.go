package graph

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// exampleHosts builds examples/docker-stack for the hosts matching glob.
func exampleHosts(t *testing.T, glob string) ([]desired.Host, map[string][]string) {
	t.Helper()
	dir := filepath.Join("..", "examples", "docker-stack")
	sp, err := stockpile.Load(dir, executors.BuiltinSchemas())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(filepath.Join(dir, "inventory.vgo"))
	if err != nil {
		t.Fatal(err)
	}
	hosts, _, err := desired.Build(sp, inv, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []desired.Host
	for _, h := range hosts {
		if ok, _ := filepath.Match(glob, h.Name); ok {
			out = append(out, h)
		}
	}
	deps := map[string][]string{}
	for _, m := range sp.Modules {
		for _, d := range m.DependsOn {
			deps[m.Name] = append(deps[m.Name], d.Name)
		}
	}
	return out, deps
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./graph -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./graph -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var cases = []struct{ golden, glob string }{
	{"web1.dot", "web1.app.example.com"},
	{"union.dot", "*"},
}

func dotOf(t *testing.T, glob string) []byte {
	t.Helper()
	hosts, deps := exampleHosts(t, glob)
	if len(hosts) == 0 {
		t.Fatalf("no host matches %s", glob)
	}
	var buf bytes.Buffer
	if err := Build(hosts, deps).WriteDOT(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDOTGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) { golden(t, c.golden, dotOf(t, c.glob)) })
	}
}

func TestUnionCountsHosts(t *testing.T) {
	hosts, deps := exampleHosts(t, "*")
	g := Build(hosts, deps)
	byID := map[string]Node{}
	for _, n := range g.Nodes {
		byID[n.ID] = n
	}
	// web1..3 get redis and app-stack, svc1 gets compose-app.
	if n := byID["redis/redis-container"]; n.Hosts != 3 || n.Order != 2 {
		t.Errorf("redis-container: %+v", n)
	}
	if n := byID["compose-app/app-stack"]; n.Hosts != 1 {
		t.Errorf("compose-app/app-stack: %+v", n)
	}
	want := []Edge{
		{From: "redis/redis-container", To: "app-stack/app-container", Kind: DependsOn},
		{From: "compose-app/compose-file", To: "compose-app/app-stack", Kind: Notify},
		{From: "compose-app/compose-file", To: "compose-app/app-stack", Kind: Subscribes},
		{From: "redis", To: "app-stack", Kind: ModuleDep},
	}
	for _, e := range want {
		found := false
		for _, x := range g.Edges {
			found = found || x == e
		}
		if !found {
			t.Errorf("no edge %+v in %+v", e, g.Edges)
		}
	}
}

// TestDOTQuotesNames: a name cannot end the quoted string or become a DOT
// escape.
func TestDOTQuotesNames(t *testing.T) {
	h := desired.Host{Name: `h"1\N`, Modules: []string{`m"`}, Resources: []desired.Resource{
		{Name: "a\"];evil->x[\\l", Type: "file", Module: `m"`},
	}}
	var buf bytes.Buffer
	if err := Build([]desired.Host{h}, nil).WriteDOT(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if strings.Contains(s, `a"];evil`) || !strings.Contains(s, `a\"];evil->x[\\l`) || !strings.Contains(s, `h\"1\\N`) {
		t.Errorf("names not quoted:\n%s", s)
	}
	if dot, err := exec.LookPath("dot"); err == nil {
		svg := runDot(t, dot, buf.Bytes())
		if !strings.Contains(string(svg), "evil") {
			t.Errorf("the quoted name did not survive Graphviz:\n%s", svg)
		}
	}
}

// TestDOTRendersWithGraphviz runs Graphviz on the golden graphs.
func TestDOTRendersWithGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot not on PATH (apt-get install graphviz): DOT output not rendered")
	}
	for _, c := range cases {
		svg := string(runDot(t, dot, dotOf(t, c.glob)))
		if !strings.Contains(svg, "<svg") {
			t.Fatalf("%s: not SVG:\n%s", c.golden, svg)
		}
		for _, want := range []string{"redis&#45;container", "app&#45;container", "module 1: redis"} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s: the SVG lacks %q", c.golden, want)
			}
		}
	}
}

func runDot(t *testing.T, dot string, in []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dot, "-Tsvg")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s\n%s", err, stderr.Bytes(), in)
	}
	return out
}
