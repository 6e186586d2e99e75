package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestHungEngineFailsOnlyItsHost: web11's Docker socket is replaced (in
// web11's own mount namespace) by a socket that accepts and never
// answers, while web12's engine is healthy. A push of both exits 2:
// web11 fails with an error naming the call and the limit that ended it,
// web12 converges. Once with the per-request limit ending it, once with
// only the host deadline (--host-timeout) able to.
func TestHungEngineFailsOnlyItsHost(t *testing.T) {
	const hung, healthy = "web11.app.example.com", "web12.app.example.com"
	lab := labtest.Require(t, hung, healthy)
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	dir := t.TempDir()
	sp := filepath.Join(dir, "stockpile")
	files := map[string]string{
		"modules/bounds.vgo": "name: bounds\nresources:\n" +
			"  - name: bounds-container\n    type: docker_container\n    container: vigo-bounds-e2e\n" +
			"    image: \"redis:7-alpine\"\n    state: running\n",
		"roles/bounds.vgo":  "name: bounds\nmodules:\n  - bounds\n",
		"envoys/bounds.vgo": "envoys:\n  - match: \"*.app.example.com\"\n    roles: [bounds]\n",
	}
	var inv strings.Builder
	inv.WriteString("hosts:\n")
	for _, n := range []string{hung, healthy} {
		h := lab.Host(n)
		fmt.Fprintf(&inv, "  - name: %s\n    address: %s\n    user: root\n    identity_file: %s\n    known_hosts: %s\n", h.Name, h.Address, lab.Key, lab.KnownHosts)
	}
	files["inventory.vgo"] = inv.String()
	for name, content := range files {
		p := filepath.Join(sp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{hung, healthy} {
		if _, err := lab.Docker(ctx, n, "rm", "-f", "vigo-bounds-e2e"); err != nil {
			t.Fatalf("clean %s: %v", n, err)
		}
	}

	hangEngine(t, lab, hung)

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "VIGO_STOCKPILE=" + sp, "LANG=C"}
	push := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"envoys", "push", "--all"}, args...)...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("vigocli push: %v\n%s", err, out.String())
		}
		return out.String(), 0
	}

	for _, tc := range []struct {
		name  string
		args  []string
		limit string
	}{
		{"request timeout", []string{"--request-timeout", "3s", "--host-timeout", "10m"}, "time limit 3s exceeded (--request-timeout)"},
		{"host deadline", []string{"--request-timeout", "10m", "--host-timeout", "5s"}, "time limit 5s exceeded (--host-timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := push(tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, out)
			}
			failed := ""
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, hung) && strings.Contains(line, tc.limit) {
					failed = line
				}
			}
			t.Logf("exit %d; %s", code, strings.TrimSpace(failed))
			if failed == "" || !strings.Contains(failed, "docker api GET") {
				t.Errorf("no line says %s failed on a docker api call with %q:\n%s", hung, tc.limit, out)
			}
			state, err := lab.Docker(ctx, healthy, "inspect", "-f", "{{.State.Running}}", "vigo-bounds-e2e")
			if err != nil || strings.TrimSpace(state) != "true" {
				t.Errorf("%s did not converge: running=%q %v\n%s", healthy, state, err, out)
			}
		})
	}
	_, _ = lab.Docker(context.Background(), healthy, "rm", "-f", "vigo-bounds-e2e")
}

// hangEngine serves, until the test ends, a socket that accepts and
// never answers, and mounts it over host's /run/docker.sock inside the
// host's mount namespace (the host's dockerd keeps running; only the path
// vigo reaches is hidden). The mount is undone at cleanup and the real
// engine checked again.
func hangEngine(t *testing.T, lab *labtest.Lab, host string) {
	t.Helper()
	short := strings.SplitN(host, ".", 2)[0]
	hdir := filepath.Join(lab.Dir, "hosts", short)
	pid, err := os.ReadFile(filepath.Join(hdir, "anchor.pid"))
	if err != nil {
		t.Skipf("%s: no anchor pid (lab layout changed?): %v", host, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "vigo-hung-" + hex.EncodeToString(rnd[:]) + ".sock"
	l, err := net.Listen("unix", filepath.Join(hdir, "tmp", name)) // the host's /tmp
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered, never closed
			mu.Unlock()
		}
	}()
	ns := func(args ...string) error {
		out, err := exec.Command("nsenter", append([]string{"-t", strings.TrimSpace(string(pid)), "-m", "--"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := ns("chmod", "0660", "/tmp/"+name); err != nil {
		t.Fatal(err)
	}
	if err := ns("mount", "--bind", "/tmp/"+name, "/run/docker.sock"); err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns("umount", "/run/docker.sock"); err != nil {
			t.Errorf("restore %s's docker socket: %v (repair: lab/lab up)", host, err)
		}
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := lab.Docker(ctx, host, "version"); err != nil {
			t.Errorf("%s's engine after the test: %v", host, err)
		}
	})
}
