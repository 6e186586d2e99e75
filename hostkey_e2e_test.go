package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestRefusedHostKeyE2E: a lab host whose key differs from the one on
// record is its own outcome, "refused", not "unreachable": its own recap
// column, the error with both fingerprints and the fix, JSON status
// refused, exit code 5; the one rollout-stopped line names the refused
// and the unreachable host apart. Nothing is changed on the host (the
// handshake is refused), so it uses the canary's host, web10.
func TestRefusedHostKeyE2E(t *testing.T) {
	const host = "web10.app.example.com"
	lab := labtest.Require(t, host)
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	sp := filepath.Join(dir, "stockpile")
	for _, sub := range []string{"modules", "roles"} {
		if err := copyDir(filepath.Join("examples", "docker-stack", sub), filepath.Join(sp, sub)); err != nil {
			t.Fatal(err)
		}
	}
	envoys := "envoys:\n  - match: \"*\"\n    roles: [docker-app]\n    vars: {app_tag: v2.1.0}\n"
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	h := lab.Host(host)
	knownHosts := filepath.Join(dir, "known_hosts")
	record := fmt.Sprintf("%s,%s %s", h.Name, h.Address, ssh.MarshalAuthorizedKey(other))
	inv := fmt.Sprintf("defaults: {user: root, identity_file: %s, known_hosts: %s}\nhosts:\n"+
		"  - name: %s\n    address: %s\n"+
		"  - name: down.example.com\n    address: 127.0.0.1\n    port: 1\n"+
		"  - name: later.example.com\n    address: 127.0.0.1\n    port: 1\n",
		lab.Key, knownHosts, h.Name, h.Address)
	for path, data := range map[string]string{
		filepath.Join(sp, "envoys", "all.vgo"): envoys,
		filepath.Join(sp, "inventory.vgo"):     inv,
		knownHosts:                             record,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vigo := func(args ...string) (string, string, int) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "VIGO_STOCKPILE=" + sp,
			"VIGO_SECRETS_BACKEND=env", "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://unused-0123456789"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	out, errOut, code := vigo("envoys", "push", "--target", "web10", "--target", "down", "--target", "later", "--batch-size", "2")
	if code != 5 {
		t.Errorf("exit %d, want 5 (a host key refused, none failed)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		h.Name + " | REFUSED: ",
		h.Name + " : ok=0   changed=0   failed=0   unreachable=0   refused=1   skipped=0",
		"failed=0   unreachable=1   refused=0   skipped=0", // down.example.com
		h.Name + ": REFUSED: ",
		"CHANGED",
		"ssh-keygen -R",
		ssh.FingerprintSHA256(other),
		"rollout stopped: after batch 1/2: 1 unreachable (down.example.com), 1 refused (host key) (" + h.Name + "), more than --max-fail 0 allows (0); 1 host(s) not started",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out+errOut, "rollout stopped:"); n != 1 {
		t.Errorf("rollout stopped said %d times, want once:\n%s%s", n, out, errOut)
	}

	out, _, code = vigo("envoys", "push", "--target", "web10", "--output", "json")
	var doc struct {
		ExitCode int `json:"exit_code"`
		Hosts    []struct{ Name, Status, Error string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != 5 || doc.ExitCode != 5 || len(doc.Hosts) != 1 || doc.Hosts[0].Status != "refused" || !strings.Contains(doc.Hosts[0].Error, "ssh-keygen -R") {
		t.Errorf("JSON (exit %d): %s", code, out)
	}

	// No key on record: refused too, with the other fix.
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = vigo("envoys", "push", "--target", "web10", "--dry-run")
	if code != 5 || !strings.Contains(out, "refused=1") || !strings.Contains(out, "--accept-new-host-keys") {
		t.Errorf("unknown key: exit %d\n%s", code, out)
	}
}
