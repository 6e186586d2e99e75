package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestUnknownHostRefused(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	p := env.pool(t, env.options())
	_, err := p.Get(context.Background(), env.target(s))
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Unknown() {
		t.Fatalf("want unknown host key error, got %v", err)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("host key error does not wrap ErrUnreachable: %v", err)
	}
	fp := ssh.FingerprintSHA256(s.HostKey.Pub)
	for _, want := range []string{"--accept-new-host-keys", fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1", s.Port), fp, "unknown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, statErr := os.Stat(env.KnownHosts); !os.IsNotExist(statErr) {
		t.Errorf("known_hosts written without accept-new: %v", statErr)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Errorf("host key failure retried: %d dials", st.Dials)
	}
}

func TestAcceptNewHostKeyRecordedThenTrusted(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	o := env.options()
	o.AcceptNewHostKeys = true
	p := env.pool(t, o)
	c, err := p.Get(context.Background(), env.target(s))
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(env.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), s.KnownHostsLine(); got != want {
		t.Fatalf("known_hosts:\n%s\nwant:\n%s", got, want)
	}
	// A new run without the flag trusts the recorded key.
	p2 := env.pool(t, env.options())
	if _, err := p2.Get(context.Background(), env.target(s)); err != nil {
		t.Fatalf("recorded key not trusted: %v", err)
	}
}

func TestAcceptNewRecordsIntoTargetKnownHostsFile(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	o := env.options()
	o.AcceptNewHostKeys = true
	p := env.pool(t, o)
	tg := env.target(s)
	tg.KnownHostsFile = t.TempDir() + "/inventory_known_hosts"
	if _, err := p.Get(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tg.KnownHostsFile)
	if err != nil || !strings.Contains(string(b), ssh.FingerprintSHA256(s.HostKey.Pub)[:0]+strings.Fields(s.KnownHostsLine())[2]) {
		t.Fatalf("key not recorded in the target's known_hosts file: %q %v", b, err)
	}
	if _, err := os.Stat(env.KnownHosts); !os.IsNotExist(err) {
		t.Errorf("~/.ssh/known_hosts written although the target names its own file")
	}
}

func TestChangedHostKeyRefusedWithBothFingerprints(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	old := newKey(t, t.TempDir(), "old_host", "")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(old.Pub))
	if err := os.WriteFile(env.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	o := env.options()
	o.AcceptNewHostKeys = true // never overrides a changed key
	p := env.pool(t, o)
	_, err := p.Get(context.Background(), env.target(s))
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Unknown() {
		t.Fatalf("want changed host key error, got %v", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(old.Pub), ssh.FingerprintSHA256(s.HostKey.Pub), "CHANGED", env.KnownHosts + ":1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	b, _ := os.ReadFile(env.KnownHosts)
	if string(b) != line {
		t.Errorf("known_hosts modified on a changed key:\n%s", b)
	}
}

func TestHashedKnownHostsEntry(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	// ssh-keygen -H hashes the file in place, as HashKnownHosts does.
	if out, err := runCmd("ssh-keygen", "-H", "-f", env.KnownHosts); err != nil {
		t.Skipf("ssh-keygen -H: %v %s", err, out)
	}
	b, _ := os.ReadFile(env.KnownHosts)
	if !strings.HasPrefix(string(b), "|1|") {
		t.Fatalf("not hashed: %s", b)
	}
	p := env.pool(t, env.options())
	if _, err := p.Get(context.Background(), env.target(s)); err != nil {
		t.Fatalf("hashed entry not honoured: %v", err)
	}
}

// TestHostKeyHintsQuoteHost: the commands suggested in host key errors are
// pasted into a shell, so the host in them is quoted.
func TestHostKeyHintsQuoteHost(t *testing.T) {
	unknown := (&HostKeyError{Host: "evil;touch /tmp/x:2222", KeyType: "ssh-ed25519", Got: "SHA256:x"}).Error()
	if want := "ssh-keyscan -p 2222 'evil;touch /tmp/x' >>"; !strings.Contains(unknown, want) {
		t.Errorf("unknown-host hint lacks %q: %s", want, unknown)
	}
	changed := (&HostKeyError{Host: "web1.example.com:2222", Want: []string{"ssh-ed25519 SHA256:a (f:1)"}, KeyType: "ssh-ed25519", Got: "SHA256:b"}).Error()
	if want := "ssh-keygen -R '[web1.example.com]:2222'"; !strings.Contains(changed, want) {
		t.Errorf("changed-key hint lacks %q: %s", want, changed)
	}
	plain := (&HostKeyError{Host: "web1.example.com:22", Want: []string{"x"}}).Error()
	if want := "ssh-keygen -R web1.example.com`"; !strings.Contains(plain, want) {
		t.Errorf("changed-key hint lacks %q: %s", want, plain)
	}
}
