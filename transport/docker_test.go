package transport

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// fakeEngine serves a tiny Docker engine API on a unix socket: enough to
// prove the stream carries HTTP both ways.
func fakeEngine(t *testing.T) string { return fakeEngineB(t) }

func fakeEngineB(t testing.TB) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"Version": "fake-27.0", "ApiVersion": "1.47"})
	})
	mux.HandleFunc("/containers/json", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// dockerHTTP is an HTTP client whose every connection is a DialDocker
// stream.
func dockerHTTP(h interface {
	DialDocker(context.Context) (net.Conn, error)
}) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return h.DialDocker(ctx) },
	}}
}

func getText(t *testing.T, hc *http.Client, path string) string {
	t.Helper()
	resp, err := hc.Get("http://docker" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, b, err)
	}
	return string(b)
}

func TestDialDockerStreamlocalAndFallback(t *testing.T) {
	sock := fakeEngine(t)
	for _, tc := range []struct {
		name, sshd, via string
		env             []string
	}{
		{"direct-streamlocal", "", "streamlocal", nil},
		// sshd refuses socket forwarding: docker system dial-stdio on the
		// host speaks to the engine instead.
		{"dial-stdio fallback", "AllowStreamLocalForwarding no", "dial-stdio", []string{"DOCKER_HOST=unix://" + sock}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.via == "dial-stdio" {
				if _, err := exec.LookPath("docker"); err != nil {
					t.Skip("dial-stdio fallback needs the docker CLI on the host")
				}
			}
			env := newEnv(t)
			s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}, extra: tc.sshd, env: tc.env})
			env.trust(t, s)
			o := env.options()
			o.DockerSocket = sock
			p := env.pool(t, o)
			c, err := p.Get(context.Background(), env.target(s))
			if err != nil {
				t.Fatal(err)
			}
			hc := dockerHTTP(c)
			if got := getText(t, hc, "/_ping"); got != "OK" {
				t.Errorf("/_ping = %q", got)
			}
			var v struct{ Version string }
			json.Unmarshal([]byte(getText(t, hc, "/version")), &v)
			if v.Version != "fake-27.0" {
				t.Errorf("/version = %+v", v)
			}
			hc.CloseIdleConnections()
			if c.dockerVia != tc.via {
				t.Errorf("went via %q, want %q", c.dockerVia, tc.via)
			}
			if st := c.Stats(); st.Streams < 1 || st.Dials != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestLocalTransport(t *testing.T) {
	env := newEnv(t)
	o := env.options()
	o.DockerSocket = fakeEngine(t)
	p := env.pool(t, o)
	c, err := p.Get(context.Background(), Target{Name: "controller", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.Exec(ctx, Cmd{Argv: []string{"printf", "%s", "'; touch /tmp/pwned; '$(id)"}})
	if err != nil || string(res.Stdout) != "'; touch /tmp/pwned; '$(id)" {
		t.Fatalf("local exec: %q %v", res.Stdout, err)
	}
	_, err = c.Exec(ctx, Cmd{Shell: "echo bad >&2; exit 4"})
	if ee, ok := err.(*ExitError); !ok || ee.ExitCode != 4 || ee.Stderr != "bad" {
		t.Fatalf("local exit: %v", err)
	}
	p1 := filepath.Join(t.TempDir(), "a", "b.txt")
	if ch, err := c.WriteFile(ctx, p1, []byte("x"), FileOptions{Mode: 0o600}); err != nil || !ch {
		t.Fatal(ch, err)
	}
	if ch, err := c.WriteFile(ctx, p1, []byte("x"), FileOptions{Mode: 0o600}); err != nil || ch {
		t.Fatal("identical local write changed", err)
	}
	sums, err := c.FileSHA256(ctx, []string{p1, p1 + "x"})
	if err != nil || len(sums) != 1 || sums[p1] != sha([]byte("x")) {
		t.Fatal(sums, err)
	}
	if got := getText(t, dockerHTTP(c), "/_ping"); got != "OK" {
		t.Errorf("local docker ping %q", got)
	}
	testCancel(t, c, Cmd{Argv: []string{"sleep", "600"}})
}
