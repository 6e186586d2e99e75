package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestOneTCPConnectionPerHost: many concurrent commands, uploads and
// checks on one host share one TCP connection, counted by a proxy.
func TestOneTCPConnectionPerHost(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	proxy := newCountingProxy(t, s.Addr(), 0)
	// The proxy's port is what known_hosts names.
	os.WriteFile(env.KnownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", proxy.Port(), ssh.MarshalAuthorizedKey(s.HostKey.Pub))), 0o600)
	p := env.pool(t, env.options())
	tg := env.target(s)
	tg.Port = proxy.Port()
	dir := t.TempDir()

	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			c, err := p.Get(ctx, tg)
			if err != nil {
				errs <- err
				return
			}
			_, err = c.Exec(ctx, Cmd{Argv: []string{"true"}})
			errs <- err
			f := filepath.Join(dir, fmt.Sprint("f", i))
			_, err = c.WriteFile(ctx, f, []byte(f), FileOptions{Mode: 0o640})
			errs <- err
			_, err = c.FileSHA256(ctx, []string{f})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := proxy.accepted.Load(); n != 1 {
		t.Errorf("%d TCP connections to the host, want 1", n)
	}
	if st := p.Stats(); st.Dials != 1 || st.Handshakes != 1 {
		t.Errorf("pool stats %+v, want 1 dial and 1 handshake", st)
	}
}

// TestTransientDialErrorRetried: a connection dropped before the handshake
// (sshd's MaxStartups under a burst) is retried.
func TestTransientDialErrorRetried(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	proxy := newCountingProxy(t, s.Addr(), 1)
	os.WriteFile(env.KnownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", proxy.Port(), ssh.MarshalAuthorizedKey(s.HostKey.Pub))), 0o600)
	p := env.pool(t, env.options())
	tg := env.target(s)
	tg.Port = proxy.Port()
	if _, err := p.Get(context.Background(), tg); err != nil {
		t.Fatalf("not retried: %v", err)
	}
	if n := proxy.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one dropped, one retried)", n)
	}
}

// TestHandshakeHonoursDeadline: a host that accepts TCP and says nothing
// fails when the context's deadline passes.
func TestHandshakeHonoursDeadline(t *testing.T) {
	env := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	p := env.pool(t, env.options())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	tg := Target{Name: "silent", Address: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, User: "root"}
	_, err = p.Get(ctx, tg)
	if err == nil || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want unreachable, got %v", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("root@127.0.0.1:%d", tg.Port)) {
		t.Errorf("error does not name the host: %v", err)
	}
	// ConnectTimeout alone bounds it too (no context deadline).
	o := env.options()
	o.ConnectTimeout = 200 * time.Millisecond
	o.DialAttempts = 2
	p2 := env.pool(t, o)
	_, err = p2.Get(context.Background(), tg)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("want handshake timeout, got %v", err)
	}
	if st := p2.Stats(); st.Dials != 2 {
		t.Errorf("timeouts are transient: want 2 attempts, got %d", st.Dials)
	}
}

func TestUnreachableNamesHost(t *testing.T) {
	env := newEnv(t)
	o := env.options()
	o.DialAttempts = 2
	p := env.pool(t, o)
	port := freePort(t) // nothing listens
	_, err := p.Get(context.Background(), Target{Name: "gone", Address: "127.0.0.1", Port: port, User: "deploy"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), fmt.Sprintf("deploy@127.0.0.1:%d", port)) ||
		!strings.Contains(err.Error(), "refused") {
		t.Fatalf("got %v", err)
	}
}

// TestDialFailuresLoggedAtInfo: --verbose (the Info level) shows every
// failed dial attempt with its error, so that a host found unreachable in a
// big run says why.
func TestDialFailuresLoggedAtInfo(t *testing.T) {
	env := newEnv(t)
	var buf bytes.Buffer
	o := env.options()
	o.DialAttempts = 2
	o.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := env.pool(t, o)
	port := freePort(t) // nothing listens
	if _, err := p.Get(context.Background(), Target{Name: "gone", Address: "127.0.0.1", Port: port, User: "deploy"}); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	log := buf.String()
	for _, want := range []string{"dial failed, retrying", "attempt=1", "dial failed\"", "attempts=2", "refused", fmt.Sprintf("deploy@127.0.0.1:%d", port)} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestProxyJumpChain: targets behind a chain of two bastions, configured
// in ssh_config; each bastion is one connection shared by the targets,
// and every hop's host key is verified.
func TestProxyJumpChain(t *testing.T) {
	env := newEnv(t)
	auth := sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}}
	outer, inner := startSSHD(t, auth), startSSHD(t, auth)
	t1, t2 := startSSHD(t, auth), startSSHD(t, auth)
	outerProxy := newCountingProxy(t, outer.Addr(), 0)
	innerProxy := newCountingProxy(t, inner.Addr(), 0)
	t1Proxy := newCountingProxy(t, t1.Addr(), 0)
	line := func(port int, s *testSSHD) string {
		return fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(s.HostKey.Pub))
	}
	known := line(outerProxy.Port(), outer) + line(innerProxy.Port(), inner) + line(t1Proxy.Port(), t1) + t2.KnownHostsLine() + "\n"
	os.WriteFile(env.KnownHosts, []byte(known), 0o600)
	cfg := filepath.Join(env.Home, ".ssh", "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Host outer
  HostName 127.0.0.1
  Port %d
Host inner
  HostName 127.0.0.1
  Port %d
Host t1
  HostName 127.0.0.1
  Port %d
  ProxyJump outer,inner
Host t2
  HostName 127.0.0.1
  Port %d
  ProxyJump outer,inner
Host *
  User root
  IdentityFile ~/client_ed25519
`, outerProxy.Port(), innerProxy.Port(), t1Proxy.Port(), t2.Port)), 0o600)
	o := env.options()
	o.SSHConfigPath = cfg
	p := env.pool(t, o)
	ctx := context.Background()
	for _, name := range []string{"t1", "t2", "t1"} {
		c, err := p.Get(ctx, Target{Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The target sees the connection coming from the bastion, not us:
		// sshd logs it, and the target's proxy counts one.
		if _, err := c.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b, c := outerProxy.accepted.Load(), innerProxy.accepted.Load(), t1Proxy.accepted.Load(); a != 1 || b != 1 || c != 1 {
		t.Errorf("connections: outer %d, inner %d, t1 %d; want 1 each", a, b, c)
	}
	if st := p.Stats(); st.Handshakes != 4 {
		t.Errorf("%d handshakes, want 4 (2 bastions, 2 targets)", st.Handshakes)
	}

	// A bastion with an unknown host key stops the chain.
	os.WriteFile(env.KnownHosts, []byte(line(outerProxy.Port(), outer)+line(t1Proxy.Port(), t1)), 0o600)
	p2 := env.pool(t, o)
	_, err := p2.Get(ctx, Target{Name: "t1"})
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Unknown() || hke.Host != fmt.Sprintf("127.0.0.1:%d", innerProxy.Port()) {
		t.Fatalf("want the inner bastion's unknown key, got %v", err)
	}
}

func TestResolveFromSSHConfig(t *testing.T) {
	cfg, err := loadSSHConfig(writeTemp(t, `Host web1.app.example.com web1
  HostName 10.77.0.11
  HostKeyAlias web1.app.example.com
Host *.lab.example.com web* 10.77.*
  User deploy
  Port 2222
  IdentityFile ~/.ssh/lab_%r
  IdentitiesOnly yes
  UserKnownHostsFile ~/lab_known_hosts /etc/other
  ProxyJump bastion.lab.example.com
  ConnectTimeout 5
Host bastion.lab.example.com
  ProxyJump none
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := resolve(Target{Name: "web1"}, cfg, "me", "/home/me")
	if err != nil {
		t.Fatal(err)
	}
	want := endpoint{Alias: "web1", Host: "10.77.0.11", Port: 2222, KeyAlias: "web1.app.example.com", User: "deploy",
		IdentityFiles: []string{"/home/me/.ssh/lab_deploy"}, IdentitiesOnly: true,
		KnownHosts: []string{"/home/me/lab_known_hosts", "/etc/other"}, Jumps: []string{"bastion.lab.example.com"},
		ConnectTimeout: 5 * time.Second}
	if fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", want) {
		t.Errorf("resolved\n %+v\nwant\n %+v", e, want)
	}
	if e.KnownHostsName() != "web1.app.example.com:2222" {
		t.Errorf("known_hosts name %s", e.KnownHostsName())
	}
	// The inventory wins over ssh_config.
	e, _ = resolve(Target{Name: "web1", Address: "10.0.0.5", Port: 22, User: "ops", ProxyJump: "none"}, cfg, "me", "/home/me")
	if e.String() != "ops@10.0.0.5:22" || len(e.Jumps) != 0 {
		t.Errorf("inventory values lost: %s via %v", e, e.Jumps)
	}
	// No config at all: OpenSSH defaults.
	e, _ = resolve(Target{Name: "plain"}, &sshConfig{}, "me", "/home/me")
	if e.String() != "me@plain:22" {
		t.Errorf("defaults: %s", e)
	}
	hop, err := parseJump("admin@bastion:2200")
	if err != nil || hop.User != "admin" || hop.Name != "bastion" || hop.Port != 2200 {
		t.Errorf("parseJump: %+v %v", hop, err)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Two inventory names for one machine share its connection, each keeping
// its own name and become setting.
func TestTargetsShareConnectionKeepNames(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	p := env.pool(t, env.options())
	a := env.target(s)
	a.Name = "app"
	b := env.target(s)
	b.Name, b.Become = "db", true
	ca, err := p.Get(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := p.Get(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Name() != "app" || cb.Name() != "db" || ca.becomes() || !cb.becomes() {
		t.Errorf("views mixed up: %s/%v %s/%v", ca.Name(), ca.becomes(), cb.Name(), cb.becomes())
	}
	if ca.link != cb.link || p.Stats().Dials != 1 {
		t.Errorf("same host, two connections")
	}
}

// TestKeepAliveDropsDeadConnection: a host that stops answering is
// detected by keepalives, and the next Get dials again.
func TestKeepAliveDropsDeadConnection(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	proxy := newCountingProxy(t, s.Addr(), 0)
	os.WriteFile(env.KnownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", proxy.Port(), ssh.MarshalAuthorizedKey(s.HostKey.Pub))), 0o600)
	o := env.options()
	o.KeepAlive = 100 * time.Millisecond
	p := env.pool(t, o)
	tg := env.target(s)
	tg.Port = proxy.Port()
	c, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	proxy.frozen.Store(true)
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("dead connection never detected")
	}
	proxy.frozen.Store(false)
	c2, err := p.Get(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if n := proxy.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (dead one, then a new one)", n)
	}
	if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("exec on the dead connection: want unreachable, got %v", err)
	}
}

// TestMaxConnectingCapsHandshakesInFlight: with MaxConnecting 2, six
// silent hosts are dialled two at a time: while two handshakes hang, no
// third connection is opened.
func TestMaxConnectingCapsHandshakesInFlight(t *testing.T) {
	env := newEnv(t)
	hosts := newSilentHosts(t, 6)
	targets, accepted := hosts.targets, &hosts.accepted
	o := env.options()
	o.MaxConnecting, o.ConnectTimeout, o.DialAttempts = 2, time.Second, 1
	p := env.pool(t, o)
	var wg sync.WaitGroup
	for _, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Get(context.Background(), tg)
		}()
	}
	for accepted.Load() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // well inside the 1 s handshake timeout
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections opened while 2 handshakes hang, want 2", n)
	}
	wg.Wait()
	if n := accepted.Load(); n != 6 {
		t.Errorf("%d hosts dialled in all, want 6", n)
	}
}

// TestProxyCommandRefused: a ProxyCommand vigo would ignore is an error
// naming the file and host, not a silent direct connection.
func TestProxyCommandRefused(t *testing.T) {
	path := writeTemp(t, `Host gw-*
  ProxyCommand ssh -W %h:%p jump
Host gw-direct
  ProxyCommand none
`)
	cfg, err := loadSSHConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = resolve(Target{Name: "gw-1"}, cfg, "me", "/home/me")
	want := "ssh config " + path + ": host gw-1 uses ProxyCommand, which vigo does not support; use ProxyJump"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := resolve(Target{Name: "gw-1", ProxyJump: "bastion"}, cfg, "me", "/home/me"); err != nil {
		t.Errorf("inventory ProxyJump should win over ProxyCommand: %v", err)
	}
	if _, err := resolve(Target{Name: "other"}, cfg, "me", "/home/me"); err != nil {
		t.Errorf("host without ProxyCommand: %v", err)
	}
	// Through the pool: Get fails before dialling anything.
	o := newEnv(t).options()
	o.SSHConfigPath = path
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Get(context.Background(), Target{Name: "gw-2"}); err == nil || !strings.Contains(err.Error(), "ProxyCommand") || p.Stats().Dials != 0 {
		t.Fatalf("pool: %v (dials %d)", err, p.Stats().Dials)
	}
}

// TestUnsupportedMatchSkippedWithOneWarning: a ~/.ssh/config with Match
// criteria vigo cannot evaluate still works: those blocks never match,
// and the pool returns one warning naming them.
func TestUnsupportedMatchSkippedWithOneWarning(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh", "conf.d"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "conf.d", "work.conf"), []byte(`Match user deploy host web*
  Port 2200
`), 0o600)
	cfgPath := filepath.Join(home, ".ssh", "config")
	os.WriteFile(cfgPath, []byte(`Include conf.d/*.conf
Match exec "test -e /etc/corp-vpn"
  User vpnuser
  ProxyCommand nc -X 5 %h %p
Match host web*,!web9
  User deploy
Match canonical host db*
  User canonical
Match !host web* final
  Port 2201
Match originalhost web1
  Port 2202
Match all
  ConnectTimeout 7
Host *
  User = fallback # trailing comment
`), 0o600)
	o := PoolOptions{HomeDir: home, LocalUser: "me", AgentSocket: "none", SystemSSHConfigPath: "none"}
	p, err := NewPool(o)
	if err != nil {
		t.Fatalf("NewPool with Match exec: %v", err)
	}
	defer p.Close()
	w := p.Warnings()
	if len(w) != 1 {
		t.Fatalf("want one warning, got %q", w)
	}
	for _, want := range []string{cfgPath + ":2 Match exec", "work.conf:1 Match user deploy host web*", "not applied"} {
		if !strings.Contains(w[0], want) {
			t.Errorf("warning lacks %q: %s", want, w[0])
		}
	}
	tests := []struct{ name, want string }{
		{"web1", "deploy@web1:2202"}, // Match host, originalhost; not the skipped blocks
		{"web9", "fallback@web9:22"}, // negated in the Match host list
		{"db1", "fallback@db1:2201"}, // never canonical; !host with final; Host * with "=" and a comment
	}
	for _, tt := range tests {
		e, err := resolve(Target{Name: tt.name}, p.cfg, "me", home)
		if err != nil || e.String() != tt.want || e.ConnectTimeout != 7*time.Second {
			t.Errorf("%s: %s (timeout %s) %v, want %s", tt.name, e, e.ConnectTimeout, err, tt.want)
		}
	}
	// A file without unsupported blocks: no warning.
	os.WriteFile(cfgPath, []byte("Host *\n  User x\n"), 0o600)
	os.RemoveAll(filepath.Join(home, ".ssh", "conf.d"))
	if p2, err := NewPool(o); err != nil || len(p2.Warnings()) != 0 {
		t.Errorf("clean config: %v %q", err, p2.Warnings())
	}
}

// TestSystemSSHConfigReadAfterUser: /etc/ssh/ssh_config fills what
// ~/.ssh/config leaves unset; an explicit config path reads only that file,
// like ssh -F.
func TestSystemSSHConfigReadAfterUser(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host web1\n  User alice\n"), 0o600)
	etc := t.TempDir()
	os.WriteFile(filepath.Join(etc, "extra.conf"), []byte("Host *\n  Port 2022\n"), 0o600)
	system := writeTemp(t, "Include "+filepath.Join(etc, "*.conf")+"\nHost *\n  User bob\n  Port 2222\n")
	p, err := NewPool(PoolOptions{HomeDir: home, LocalUser: "me", AgentSocket: "none", SystemSSHConfigPath: system})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for name, want := range map[string]string{"web1": "alice@web1:2022", "db1": "bob@db1:2022"} {
		if e, err := resolve(Target{Name: name}, p.cfg, "me", home); err != nil || e.String() != want {
			t.Errorf("%s: %s %v, want %s", name, e, err, want)
		}
	}
	p2, err := NewPool(PoolOptions{HomeDir: home, LocalUser: "me", AgentSocket: "none", SystemSSHConfigPath: system,
		SSHConfigPath: filepath.Join(home, ".ssh", "config")})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if e, _ := resolve(Target{Name: "db1"}, p2.cfg, "me", home); e.String() != "me@db1:22" {
		t.Errorf("explicit config path also read the system file: %s", e)
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "web1", true}, {"web?", "web1", true}, {"web?", "web12", false},
		{"*.example.com", "a.b.example.com", true}, {"*.example.com", "example.com", false},
		{"w*b*1", "wxbyb1", true}, {"10.77.*", "10.77.0.11", true}, {"a*", "b", false}, {"[ab]", "a", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pat, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tt.pat, tt.s, got)
		}
	}
}

// TestMatchFinalIsALastPass: as in ssh, "Match final" blocks apply in a
// second pass, so they only fill what the first pass left unset.
func TestMatchFinalIsALastPass(t *testing.T) {
	cfg, err := loadSSHConfig(writeTemp(t, `Match final all
  User finaluser
  Port 2022
  IdentityFile ~/.ssh/final
Match !final host web*
  IdentityFile ~/.ssh/first
Host *
  User b
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := resolve(Target{Name: "web1"}, cfg, "me", "/home/me")
	if err != nil || e.String() != "b@web1:2022" || strings.Join(e.IdentityFiles, ",") != "/home/me/.ssh/first,/home/me/.ssh/final" {
		t.Fatalf("%s %v %v", e, e.IdentityFiles, err)
	}
	if len(cfg.warnings) != 0 {
		t.Errorf("warnings: %q", cfg.warnings)
	}
}
