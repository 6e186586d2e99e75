package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestWrongClientKeyNamesUserHostPort(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	wrong := newKey(t, t.TempDir(), "wrong", "")
	p := env.pool(t, env.options())
	tg := env.target(s)
	tg.IdentityFile = wrong.Path
	_, err := p.Get(context.Background(), tg)
	if err == nil {
		t.Fatal("connected with a key the host does not authorize")
	}
	if want := fmt.Sprintf("root@127.0.0.1:%d", s.Port); !strings.Contains(err.Error(), want) {
		t.Errorf("error does not name %s: %v", want, err)
	}
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("want an unreachable authentication error, got %v", err)
	}
	// Known as an authentication failure by type (every method the
	// server allows was tried), not by the ssh package's wording.
	var ae *AuthError
	var ex *authExhausted
	if !errors.As(err, &ae) || ae.Offered != 1 || !errors.As(err, &ex) || !slices.Contains(ex.Tried, "publickey") {
		t.Errorf("want an AuthError (1 key offered) over authExhausted, got %#v", err)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Errorf("authentication failure was retried: %d dials", st.Dials)
	}
}

// startAgent runs a real ssh-agent holding keys and returns its socket.
func startAgent(t *testing.T, keys ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("needs ssh-agent and ssh-add (openssh-client)")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range keys {
		add := exec.Command("ssh-add", k)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v %s", err, out)
		}
	}
	return sock
}

func TestAgentAuthWithNoKeyFile(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	sock := startAgent(t, env.Client.Path)
	// The key file is gone: only the agent holds the key.
	os.Remove(env.Client.Path)
	os.Remove(env.Client.Path + ".pub")
	o := env.options()
	o.AgentSocket = sock
	p := env.pool(t, o)
	tg := env.target(s)
	tg.IdentityFile = ""
	c, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatalf("agent auth: %v", err)
	}
	res, err := c.Exec(context.Background(), Cmd{Argv: []string{"echo", "via agent"}})
	if err != nil || string(res.Stdout) != "via agent\n" {
		t.Fatalf("exec: %q %v", res.Stdout, err)
	}
	// Without the agent the same target has no key at all.
	p2 := env.pool(t, env.options())
	if _, err := p2.Get(context.Background(), tg); err == nil || !strings.Contains(err.Error(), "no usable key") {
		t.Errorf("without agent: want no usable key, got %v", err)
	}
}

func TestPassphraseKeyWithoutAgentNamesFile(t *testing.T) {
	env := newEnv(t)
	locked := newKey(t, env.Home, "locked", "s3cret")
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{locked.Pub}})
	env.trust(t, s)
	p := env.pool(t, env.options())
	tg := env.target(s)
	tg.IdentityFile = locked.Path
	_, err := p.Get(context.Background(), tg)
	if err == nil {
		t.Fatal("connected with a locked key and no agent")
	}
	for _, want := range []string{locked.Path, "passphrase", "ssh-add"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("passphrase in error")
	}

	// The same key unlocked in the agent is used for that identity file,
	// even with IdentitiesOnly.
	sock := startAgentWithPassphrase(t, locked.Path, "s3cret")
	o := env.options()
	o.AgentSocket = sock
	p2 := env.pool(t, o)
	if _, err := p2.Get(context.Background(), tg); err != nil {
		t.Fatalf("locked key through agent: %v", err)
	}
}

// startAgentWithPassphrase loads a passphrase-protected key through
// SSH_ASKPASS, as a user typing it would.
func startAgentWithPassphrase(t *testing.T, key, pass string) string {
	t.Helper()
	sock := startAgent(t)
	askpass := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho "+Quote(pass)+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	return sock
}

func TestIdentityFromSSHConfig(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	other := newKey(t, env.Home, "other", "")
	sock := startAgent(t, other.Path) // an agent key the host refuses
	cfg := filepath.Join(env.Home, ".ssh", "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Host web*
  HostName 127.0.0.1
  Port %d
  User root
  IdentityFile ~/client_ed25519
  IdentitiesOnly yes
  ConnectTimeout 3
`, s.Port)), 0o600)
	o := env.options()
	o.SSHConfigPath = cfg
	o.AgentSocket = sock
	p := env.pool(t, o)
	c, err := p.Get(context.Background(), Target{Name: "web7"})
	if err != nil {
		t.Fatalf("ssh_config target: %v", err)
	}
	if got := c.String(); got != fmt.Sprintf("root@127.0.0.1:%d", s.Port) {
		t.Errorf("resolved to %s", got)
	}
	if c.ep.ConnectTimeout != 3*time.Second {
		t.Errorf("ConnectTimeout not read: %v", c.ep.ConnectTimeout)
	}
	plan := p.keys.plan(c.ep)
	if len(plan.signers) != 1 {
		t.Errorf("IdentitiesOnly offered %d keys, want 1", len(plan.signers))
	}
}
