package transport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// fakeSudo puts a `sudo` first on the remote PATH: "ok" runs its command
// like passwordless sudo (recording each call), "password" answers like
// sudo -n does when it wants a password.
func fakeSudo(t *testing.T, mode string) (binDir, calls string) {
	t.Helper()
	binDir = t.TempDir()
	calls = filepath.Join(binDir, "calls")
	script := `#!/bin/sh
echo "$*" >> ` + Quote(calls) + `
[ "$1" = -n ] || { echo "sudo: expected -n" >&2; exit 1; }
shift
[ "$1" = -- ] && shift
`
	if mode == "password" {
		script += "echo 'sudo: a password is required' >&2\nexit 1\n"
	} else {
		script += `exec "$@"` + "\n"
	}
	if err := os.WriteFile(filepath.Join(binDir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binDir, calls
}

func becomeConn(t *testing.T, mode string, extraEnv ...string) (*Conn, string) {
	t.Helper()
	bin, calls := fakeSudo(t, mode)
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub},
		env: append([]string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin"}, extraEnv...)})
	env.trust(t, s)
	o := env.options()
	o.DockerSocket = fakeEngine(t)
	p := env.pool(t, o)
	tg := env.target(s)
	tg.Become = true
	c, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	return c, calls
}

func TestBecomeRunsEverythingThroughSudo(t *testing.T) {
	sock := fakeEngine(t)
	c, calls := becomeConn(t, "ok", "DOCKER_HOST=unix://"+sock)
	ctx := context.Background()
	res, err := c.Exec(ctx, Cmd{Argv: []string{"echo", "$(id)"}})
	if err != nil || string(res.Stdout) != "$(id)\n" {
		t.Fatalf("%q %v", res.Stdout, err)
	}
	p := filepath.Join(t.TempDir(), "etc", "app.conf")
	if ch, err := c.WriteFile(ctx, p, []byte("secret-free"), FileOptions{Mode: 0o600, Owner: "root"}); err != nil || !ch {
		t.Fatalf("write via sudo: %v %v", ch, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret-free" {
		t.Fatalf("content %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if ch, err := c.WriteFile(ctx, p, []byte("secret-free"), FileOptions{Mode: 0o600, Owner: "root"}); err != nil || ch {
		t.Fatalf("identical write via sudo: %v %v", ch, err)
	}
	if err := c.RemoveFile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := getText(t, dockerHTTP(c), "/_ping"); got != "OK" {
		t.Fatalf("docker via sudo dial-stdio: %q", got)
	}
	b, _ := os.ReadFile(calls)
	log := string(b)
	for _, want := range []string{"-n -- echo $(id)", "-n -- sh -c", "vigo-write", "vigo-remove", "-n -- docker -H unix://", " system dial-stdio"} {
		if !strings.Contains(log, want) {
			t.Errorf("sudo never ran %q; calls:\n%s", want, log)
		}
	}
}

func TestBecomeSudoWantsPassword(t *testing.T) {
	c, _ := becomeConn(t, "password")
	_, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}})
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "passwordless sudo") {
		t.Fatalf("want a clear sudo error, got %v", err)
	}
	t.Log(err)
}
