package converge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/transport"
)

var record = flag.Bool("record", false, "record the engine answers the executors' golden tests plan against (needs the lab)")

// The key and secret the golden tests use (executors/golden_test.go).
var (
	goldenSecrets = map[string]string{"vigo/webapp/database_url": "postgres://app:golden@db.example.com/app"}
)

// engineGet returns the raw answer of GET path from the host's engine,
// over the same Docker stream vigo uses.
func engineGet(t *testing.T, c *transport.Conn, path string) []byte {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.DialDocker(ctx) }}}
	resp, err := cl.Get("http://docker" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var out bytes.Buffer
	_ = json.Indent(&out, b, "", "  ")
	out.WriteByte('\n')
	return out.Bytes()
}

func save(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := filepath.Join("..", "executors", "testdata", "inspect")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644))
}

// TestLabRecordFixtures records, from lab hosts, the inspect answers
// behind executors' golden plan tests: go test ./converge -run Record -record.
func TestLabRecordFixtures(t *testing.T) {
	if !*record {
		t.Skip("run with -record to re-record executors/testdata/inspect from the lab")
	}
	l := requireLab(t, web3, svc1)
	l.cleanHost(t, web3)
	dh := l.desiredHost(t, web3, nil)
	ctx := context.Background()
	push := func() {
		if r, err := converge.Run(ctx, l.conns[web3], dh, converge.Options{Secrets: goldenSecrets}); err != nil {
			t.Fatalf("%v\n%s", err, r.Plan)
		}
	}
	push()
	c := l.conns[web3]
	l.run(t, web3, "docker", "pull", "myregistry.example.com/webapp:v2.2.0")
	save(t, "container-redis", engineGet(t, c, "/containers/redis/json"))
	save(t, "container-webapp", engineGet(t, c, "/containers/webapp/json"))
	save(t, "image-redis", engineGet(t, c, "/images/redis:7-alpine/json"))
	save(t, "image-webapp-v2.1.0", engineGet(t, c, "/images/myregistry.example.com/webapp:v2.1.0/json"))
	save(t, "image-webapp-v2.2.0", engineGet(t, c, "/images/myregistry.example.com/webapp:v2.2.0/json"))
	save(t, "list", engineGet(t, c, "/containers/json?all=1"))

	l.run(t, web3, "docker", "stop", "webapp")
	save(t, "container-webapp-stopped", engineGet(t, c, "/containers/webapp/json"))
	l.run(t, web3, "docker", "start", "webapp")
	l.run(t, web3, "docker", "update", "--restart", "always", "webapp")
	save(t, "container-webapp-updated", engineGet(t, c, "/containers/webapp/json"))
	l.run(t, web3, "docker", "rm", "-f", "redis")
	l.run(t, web3, "docker", "run", "-d", "--name", "redis", "-p", "6379:6379", "--restart", "unless-stopped", "redis:7-alpine", "redis-server", "--maxmemory", "512mb")
	save(t, "container-handmade", engineGet(t, c, "/containers/redis/json"))
	l.run(t, web3, "docker", "rm", "-f", "redis", "webapp")
	push()

	// The documentation's compose project, up, then damaged by hand.
	l.cleanHost(t, svc1)
	dc := l.desiredHost(t, svc1, nil)
	if r, err := converge.Run(ctx, l.conns[svc1], dc, converge.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, r.Plan)
	}
	s := l.conns[svc1]
	save(t, "compose-list", engineGet(t, s, "/containers/json?all=1"))
	byService := func(svc string) string {
		return l.run(t, svc1, "docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.service="+svc)
	}
	l.run(t, svc1, "docker", "rm", "-f", byService("api"))
	save(t, "compose-list-api-removed", engineGet(t, s, "/containers/json?all=1"))
	if r, err := converge.Run(ctx, l.conns[svc1], dc, converge.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, r.Plan)
	}
	l.run(t, svc1, "docker", "stop", byService("web"))
	save(t, "compose-list-web-exited", engineGet(t, s, "/containers/json?all=1"))
	if r, err := converge.Run(ctx, l.conns[svc1], dc, converge.Options{}); err != nil {
		t.Fatalf("%v\n%s", err, r.Plan)
	}
}
