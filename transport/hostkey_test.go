package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skeema/knownhosts"
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

// TestSystemKnownHostsConsulted: a host whose old key is recorded only in a
// system-wide file or ~/.ssh/known_hosts2 is refused as CHANGED, even with
// accept-new, and nothing is recorded; the right key there is trusted.
func TestSystemKnownHostsConsulted(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	old := newKey(t, t.TempDir(), "old_host", "")
	oldLine := fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(old.Pub))
	etc := t.TempDir()
	global, global2 := etc+"/ssh_known_hosts", etc+"/ssh_known_hosts2"
	home2 := env.Home + "/.ssh/known_hosts2"

	tests := []struct {
		name   string
		file   string // where the old key is
		config string // ssh_config text
		opts   func(*PoolOptions)
	}{
		{"ssh_known_hosts", global, "", func(o *PoolOptions) { o.GlobalKnownHostsFiles = []string{global, global2} }},
		{"ssh_known_hosts2", global2, "", func(o *PoolOptions) { o.GlobalKnownHostsFiles = []string{global, global2} }},
		{"~/.ssh/known_hosts2", home2, "", func(o *PoolOptions) {}},
		{"ssh_config GlobalKnownHostsFile", global2, "Host *\n  GlobalKnownHostsFile " + global2 + "\n", func(o *PoolOptions) { o.GlobalKnownHostsFiles = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []string{global, global2, home2, env.KnownHosts} {
				os.Remove(f)
			}
			if err := os.WriteFile(tt.file, []byte(oldLine), 0o644); err != nil {
				t.Fatal(err)
			}
			o := env.options()
			o.AcceptNewHostKeys = true
			if tt.config != "" {
				o.SSHConfigPath = writeTemp(t, tt.config)
			}
			tt.opts(&o)
			p := env.pool(t, o)
			_, err := p.Get(context.Background(), env.target(s))
			var hke *HostKeyError
			if !errors.As(err, &hke) || hke.Unknown() || !strings.Contains(err.Error(), "CHANGED") ||
				!strings.Contains(err.Error(), tt.file+":1") {
				t.Fatalf("want CHANGED naming %s:1, got %v", tt.file, err)
			}
			if want := fmt.Sprintf("`ssh-keygen -R '[127.0.0.1]:%d' -f %s`", s.Port, tt.file); !strings.Contains(err.Error(), want) {
				t.Errorf("hint lacks %s: %v", want, err)
			}
			if b, _ := os.ReadFile(tt.file); string(b) != oldLine {
				t.Errorf("%s modified:\n%s", tt.file, b)
			}
			if _, err := os.Stat(env.KnownHosts); !os.IsNotExist(err) {
				t.Errorf("~/.ssh/known_hosts written for a changed key")
			}

			// The right key there: trusted, recorded nowhere.
			if err := os.WriteFile(tt.file, []byte(s.KnownHostsLine()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			o.AcceptNewHostKeys = false
			if _, err := env.pool(t, o).Get(context.Background(), env.target(s)); err != nil {
				t.Fatalf("key in %s not trusted: %v", tt.file, err)
			}
		})
	}
}

// TestAppendKnownHostLocksAndRechecks: recording waits for another
// process's lock on known_hosts, then rechecks: a host recorded meanwhile
// is not written twice, and a file without a final newline is not glued.
func TestAppendKnownHostLocksAndRechecks(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/known_hosts"
	key := newKey(t, dir, "k", "").Pub
	if err := os.WriteFile(file, []byte("other.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := &hostKeys{acceptNew: true}
	kf := knownHostsFiles{user: []string{file}, record: file}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}

	// "Another process": a separate open file description holding the lock.
	other, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hk.callback(kf)("web1.example.com:2222", remote, key) }()
	// Give the callback every chance to write without the lock.
	select {
	case err := <-done:
		t.Fatalf("recorded while another process held the lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// The other process records the same host, then lets go.
	other.Write([]byte("\n" + knownhosts.Line([]string{"web1.example.com:2222"}, key)))
	syscall.Flock(int(other.Fd()), syscall.LOCK_UN)
	if err := <-done; err != nil {
		t.Fatalf("callback: %v", err)
	}
	b, _ := os.ReadFile(file)
	if n := strings.Count(string(b), "[web1.example.com]:2222"); n != 1 {
		t.Fatalf("host recorded %d times:\n%s", n, b)
	}

	// Unlocked, still absent: one line appended after the missing newline.
	if err := hk.callback(kf)("web2.example.com:22", remote, key); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(file)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "web2.example.com ssh-ed25519 ") || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("known_hosts now:\n%s", b)
	}
	if _, err := knownhosts.New(file); err != nil {
		t.Fatalf("known_hosts no longer parses: %v", err)
	}
}

const hostsPerProcess = 50

// TestAcceptNewAcrossProcesses: several vigo processes accepting new keys
// into one known_hosts at once record every host exactly once, in a file
// that still parses.
func TestAcceptNewAcrossProcesses(t *testing.T) {
	if file := os.Getenv("VIGO_TEST_KNOWN_HOSTS"); file != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(os.Getenv("VIGO_TEST_KEY")))
		if err != nil {
			t.Fatal(err)
		}
		hk := &hostKeys{acceptNew: true}
		kf := knownHostsFiles{user: []string{file}, record: file}
		// Start together: wait for the go file.
		for start := time.Now(); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(file + ".go"); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatal("never told to start")
			}
		}
		for i := 0; i < hostsPerProcess; i++ {
			if err := hk.callback(kf)(fmt.Sprintf("h%d.example.com:22", i), &net.TCPAddr{}, key); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := t.TempDir()
	file := dir + "/known_hosts"
	key := newKey(t, dir, "k", "")
	var procs []*exec.Cmd
	for i := 0; i < 8; i++ {
		x := exec.Command(os.Args[0], "-test.run=^TestAcceptNewAcrossProcesses$")
		x.Env = append(os.Environ(), "VIGO_TEST_KNOWN_HOSTS="+file, "VIGO_TEST_KEY="+string(ssh.MarshalAuthorizedKey(key.Pub)))
		if err := x.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, x)
	}
	time.Sleep(200 * time.Millisecond) // let them all start
	os.WriteFile(file+".go", nil, 0o600)
	for _, x := range procs {
		if err := x.Wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	b, _ := os.ReadFile(file)
	for i := 0; i < hostsPerProcess; i++ {
		if n := strings.Count(string(b), fmt.Sprintf("h%d.example.com ", i)); n != 1 {
			t.Errorf("h%d recorded %d times", i, n)
		}
	}
	if lines := strings.Count(string(b), "\n"); lines != hostsPerProcess {
		t.Errorf("%d lines, want %d", lines, hostsPerProcess)
	}
	if _, err := knownhosts.New(file); err != nil {
		t.Fatalf("known_hosts no longer parses: %v", err)
	}
}
