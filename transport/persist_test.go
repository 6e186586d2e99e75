package transport

import (
	"bytes"
	"context"
	"crypto/fips140"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Warm connections: a holder started in the test process, real sshd on
// loopback behind a counting proxy (the proof that a second run opens no
// TCP connection).

type persistFixture struct {
	env   *testEnv
	sshd  *testSSHD
	proxy *countingProxy
	dir   string // the holder's runtime directory
	done  chan error
	stop  context.CancelFunc
	tg    Target
}

func startPersist(t *testing.T, ho HolderOptions) *persistFixture {
	t.Helper()
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	proxy := newCountingProxy(t, s.Addr(), 0)
	if err := os.WriteFile(env.KnownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", proxy.Port(), ssh.MarshalAuthorizedKey(s.HostKey.Pub))), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &persistFixture{env: env, sshd: s, proxy: proxy, dir: filepath.Join(t.TempDir(), "run"), done: make(chan error, 1)}
	f.tg = env.target(s)
	f.tg.Port = proxy.Port()
	ho.Dir = f.dir
	if ho.Linger == 0 {
		ho.Linger = time.Minute
	}
	if ho.Tick == 0 {
		ho.Tick = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- RunHolder(ctx, ho) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			t.Error("holder did not stop")
		}
	})
	waitFor(t, "holder socket", func() bool {
		_, err := ListHeld(context.Background(), f.dir)
		return err == nil
	})
	return f
}

// run is one controller run: a pool with Persist, one host, closed after.
func (f *persistFixture) run(t *testing.T, idle time.Duration, work func(*Conn)) error {
	t.Helper()
	o := f.env.options()
	o.Persist = PersistOptions{Idle: idle, Dir: f.dir}
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Get(context.Background(), f.tg)
	if err != nil {
		return err
	}
	if st := p.Stats(); st.Dials != 0 {
		t.Errorf("the run dialled %d TCP connections itself, want 0 (through the holder)", st.Dials)
	}
	work(c)
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exercise runs what the push needs from a connection through the
// holder: stdout, stderr, stdin, exit status, an upload, a cancel.
func exercise(t *testing.T, c *Conn) {
	t.Helper()
	ctx := context.Background()
	res, err := c.Exec(ctx, Cmd{Shell: "cat; echo out; echo err >&2", Stdin: strings.NewReader("in\n")})
	if err != nil || string(res.Stdout) != "in\nout\n" || string(res.Stderr) != "err\n" {
		t.Errorf("exec through the holder: %q %q %v", res.Stdout, res.Stderr, err)
	}
	_, err = c.Exec(ctx, Cmd{Shell: "echo bad >&2; exit 3"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 3 || ee.Stderr != "bad" {
		t.Errorf("exit status through the holder: %v", err)
	}
	f := filepath.Join(t.TempDir(), "f")
	if _, err := c.WriteFile(ctx, f, []byte("data"), FileOptions{Mode: 0o600}); err != nil {
		t.Errorf("upload through the holder: %v", err)
	} else if b, _ := os.ReadFile(f); string(b) != "data" {
		t.Errorf("uploaded %q", b)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	marker := filepath.Join(t.TempDir(), "killed")
	_, err = c.Exec(cctx, Cmd{Shell: "trap 'touch " + marker + "; exit 1' TERM; sleep 600 & wait"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled exec: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("cancelled command was not signalled through the holder: %v", err)
	}
}

// TestPersistSecondRunOpensNoConnection: the second run reaches the host
// through the held connection: 0 new TCP connections, and everything a
// push does works through the relay.
func TestPersistSecondRunOpensNoConnection(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	for i := 0; i < 2; i++ {
		if err := f.run(t, time.Minute, func(c *Conn) { exercise(t, c) }); err != nil {
			t.Fatalf("run %d: %v\nsshd:\n%s", i+1, err, f.sshd.Log())
		}
	}
	if n := f.proxy.accepted.Load(); n != 1 {
		t.Errorf("%d TCP connections to the host over two runs, want 1", n)
	}
	var held []HeldConn
	waitFor(t, "the run detached", func() bool {
		held, _ = ListHeld(context.Background(), f.dir)
		return len(held) == 1 && held[0].Clients == 0
	})
	if len(held) != 1 || held[0].Name != "h" || held[0].Host != fmt.Sprintf("root@127.0.0.1:%d", f.proxy.Port()) {
		t.Fatalf("held: %+v", held)
	}
	if held[0].Idle != time.Minute || held[0].Since.IsZero() {
		t.Errorf("held entry %+v", held[0])
	}
}

// TestPersistRuntimeDirModes: the directory is 0700, the socket and the
// pinned key 0600; directories others can enter or replace are refused.
func TestPersistRuntimeDirModes(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	for name, want := range map[string]os.FileMode{"": 0o700, holderSocket: 0o600, holderPub: 0o600} {
		fi, err := os.Lstat(filepath.Join(f.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", filepath.Join(f.dir, name), fi.Mode().Perm(), want)
		}
	}
	base := t.TempDir()
	wide := filepath.Join(base, "wide")
	os.Mkdir(wide, 0o755)
	os.Chmod(wide, 0o755)
	other := filepath.Join(base, "other")
	os.Mkdir(other, 0o700)
	os.Chown(other, 65534, 65534)
	link := filepath.Join(base, "link")
	os.Symlink(f.dir, link)
	theirs := filepath.Join(other, "sub")
	for _, dir := range []string{wide, other, link, theirs} {
		if err := prepareRuntimeDir(dir); err == nil {
			t.Errorf("runtime directory %s accepted", dir)
		}
	}
	if err := prepareRuntimeDir(filepath.Join(base, "a", "b")); err != nil {
		t.Errorf("fresh runtime directory: %v", err)
	}
}

// peerScript connects to the socket as whoever runs it and asks for the
// list: REPLY when the holder answered, EOF when it hung up.
const peerScript = `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("DENIED", e)
    sys.exit(0)
try:
    b = b'{"op":"list"}'
    s.sendall(struct.pack(">I", len(b)) + b)
    print("REPLY" if s.recv(4) else "EOF")
except OSError:
    print("EOF")
`

// TestPersistRefusesOtherUser: a connection from another uid is refused
// by SO_PEERCRED even when the socket's directory and mode let it in
// (here opened on purpose): the directory is one fence, the uid check the
// other.
func TestPersistRefusesOtherUser(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3 for the other user's client")
	}
	f := startPersist(t, HolderOptions{})
	for d := f.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(f.dir, holderSocket)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", peerScript, sock).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "REPLY" {
		t.Fatalf("the holder's own user: %s %v", out, err)
	}
	out, err = exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", py, "-c", peerScript, sock).CombinedOutput()
	if err != nil || strings.HasPrefix(string(out), "DENIED") {
		t.Fatalf("nobody could not even connect (the test would prove nothing): %s %v", out, err)
	}
	if got := strings.TrimSpace(string(out)); got != "EOF" {
		t.Errorf("nobody asked the holder and got %s, want EOF (refused)", got)
	}
}

// TestPersistChangedHostKeyRefused: the holder checks host keys when it
// dials, like a pool: a host that comes back with another key at redial
// is refused with the *HostKeyError a direct dial gives.
func TestPersistChangedHostKeyRefused(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	if err := f.run(t, time.Minute, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	if n, err := CloseHeld(context.Background(), f.dir, nil, true); err != nil || n != 1 {
		t.Fatalf("close all: %d %v", n, err)
	}
	// Another server behind the same address: its key is not the one on
	// record.
	other := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{f.env.Client.Pub}})
	f.proxy.backend = other.Addr()
	err := f.run(t, time.Minute, func(*Conn) { t.Error("connected to a host with a changed key") })
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Unknown() || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want a changed-key *HostKeyError, got %v", err)
	}
	if !strings.Contains(err.Error(), "CHANGED") || hke.Got != ssh.FingerprintSHA256(other.HostKey.Pub) {
		t.Errorf("error %v", err)
	}
	if held, _ := ListHeld(context.Background(), f.dir); len(held) != 0 {
		t.Errorf("held after a refused key: %+v", held)
	}
}

// TestPersistIdleTimeout: a connection unused for its idle time is
// closed (the next run dials again), and a holder that holds nothing
// exits and removes its socket.
func TestPersistIdleTimeout(t *testing.T) {
	f := startPersist(t, HolderOptions{Linger: 300 * time.Millisecond})
	if err := f.run(t, 200*time.Millisecond, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle connection closed", func() bool {
		held, err := ListHeld(context.Background(), f.dir)
		return err != nil || len(held) == 0
	})
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
		f.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("a holder holding nothing did not exit")
	}
	if _, err := os.Lstat(filepath.Join(f.dir, holderSocket)); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := ListHeld(context.Background(), f.dir); !errors.Is(err, ErrNoHolder) {
		t.Errorf("list without a holder: %v", err)
	}
	// No holder: the run dials directly, as without Persist.
	o := f.env.options()
	o.Persist = PersistOptions{Idle: time.Minute, Dir: f.dir}
	p := f.env.pool(t, o)
	c, err := p.Get(context.Background(), f.tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Errorf("without a holder: %d dials, want 1", st.Dials)
	}
}

// TestPersistCloseAndDeadUpstream: `connections close` ends a held
// connection, and one whose host stopped answering is dropped; either
// way the next run dials a new one.
func TestPersistCloseAndDeadUpstream(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	if err := f.run(t, time.Minute, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	if n, err := CloseHeld(context.Background(), f.dir, []string{"nosuchhost"}, false); err != nil || n != 0 {
		t.Errorf("close of another host: %d %v", n, err)
	}
	if n, err := CloseHeld(context.Background(), f.dir, []string{"h"}, false); err != nil || n != 1 {
		t.Fatalf("close h: %d %v", n, err)
	}
	if held, _ := ListHeld(context.Background(), f.dir); len(held) != 0 {
		t.Errorf("held after close: %+v", held)
	}
	// Keepalives every 100ms: the holder notices a dead host quickly.
	o := f.env.options()
	o.KeepAlive = 100 * time.Millisecond
	o.Persist = PersistOptions{Idle: time.Minute, Dir: f.dir}
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(context.Background(), f.tg); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if n := f.proxy.accepted.Load(); n != 2 {
		t.Errorf("%d TCP connections, want 2 (closed, then dialled again)", n)
	}
	f.proxy.frozen.Store(true)
	waitFor(t, "dead host dropped", func() bool {
		held, _ := ListHeld(context.Background(), f.dir)
		return len(held) == 0
	})
	f.proxy.frozen.Store(false)
	if err := f.run(t, time.Minute, func(c *Conn) {
		if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n := f.proxy.accepted.Load(); n != 3 {
		t.Errorf("%d TCP connections, want 3 (the dead one redialled)", n)
	}
}

// TestPersistWireErrors: errors keep their types across the socket.
func TestPersistWireErrors(t *testing.T) {
	hke := &HostKeyError{Host: "h:22", Want: []string{"x"}, Got: "SHA256:y", KeyType: "ssh-ed25519", wantFiles: []string{"/k"}}
	back := toWire(fmt.Errorf("connect h: %w", hke)).err()
	var got *HostKeyError
	if !errors.As(back, &got) || got.Unknown() || !errors.Is(back, ErrUnreachable) || back.Error() != "connect h: "+hke.Error() {
		t.Errorf("host key error: %v", back)
	}
	ae := unreachable(fmt.Errorf("connect h: %w", &AuthError{Offered: 2, Err: errors.New("no")}))
	back = toWire(ae).err()
	var gotAE *AuthError
	if !errors.As(back, &gotAE) || gotAE.Offered != 2 || !errors.Is(back, ErrUnreachable) {
		t.Errorf("auth error: %v", back)
	}
	to := unreachable(fmt.Errorf("connect h: timed out: %w", context.DeadlineExceeded))
	if back = toWire(to).err(); !errors.Is(back, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", back)
	}
	var buf bytes.Buffer
	buf.Write([]byte{0x7f, 0, 0, 0})
	if err := readFrame(&buf, &holdRequest{}); err == nil {
		t.Error("an oversized frame was read")
	}
}

// BenchmarkPersistConnectExec: a fresh pool whose host is held by a
// holder, one `true`: BenchmarkConnectHandshakeExec's work on a warm
// connection (compare the two).
func BenchmarkPersistConnectExec(b *testing.B) {
	env := newEnv(b)
	s := startSSHD(b, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(b, s)
	dir := filepath.Join(b.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunHolder(ctx, HolderOptions{Dir: dir, Linger: time.Minute}) }()
	defer func() { cancel(); <-done }()
	o := env.options()
	o.Persist = PersistOptions{Idle: time.Minute, Dir: dir}
	for i := 0; i < 200; i++ {
		if _, err := ListHeld(ctx, dir); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := NewPool(o)
		if err != nil {
			b.Fatal(err)
		}
		c, err := p.Get(ctx, env.target(s))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// TestSpawnHolderEnvironment: the holder, a long-lived process, does not
// inherit the run's secrets from its environment.
func TestSpawnHolderEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	out := filepath.Join(t.TempDir(), "env")
	t.Setenv("VIGO_SECRET_DB_PASSWORD", "hunter2")
	t.Setenv("HOME", "/home/someone")
	if err := spawnHolder(dir, []string{"/bin/sh", "-c", "env > " + out}); err != nil {
		t.Fatal(err)
	}
	var b []byte
	waitFor(t, "the holder's environment", func() bool {
		b, _ = os.ReadFile(out)
		return bytes.Contains(b, []byte("HOME="))
	})
	if bytes.Contains(b, []byte("hunter2")) || !bytes.Contains(b, []byte("HOME=/home/someone")) {
		t.Errorf("holder environment:\n%s", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, holderLog)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("holder log: %v %v", fi, err)
	}
}

// TestPersistProxyJump: the holder resolves and holds the ProxyJump chain
// with the run's ssh_config; a second run reaches the target through
// the held connection, opening nothing to the bastion or the target.
func TestPersistProxyJump(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	env := f.env
	auth := sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}}
	bastion, target := startSSHD(t, auth), startSSHD(t, auth)
	bp, tp := newCountingProxy(t, bastion.Addr(), 0), newCountingProxy(t, target.Addr(), 0)
	line := func(port int, s *testSSHD) string {
		return fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(s.HostKey.Pub))
	}
	os.WriteFile(env.KnownHosts, []byte(line(bp.Port(), bastion)+line(tp.Port(), target)), 0o600)
	cfg := filepath.Join(env.Home, ".ssh", "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host bastion\n  HostName 127.0.0.1\n  Port %d\nHost t1\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump bastion\nHost *\n  User root\n  IdentityFile ~/client_ed25519\n", bp.Port(), tp.Port())), 0o600)
	o := env.options()
	o.SSHConfigPath = cfg
	o.Persist = PersistOptions{Idle: time.Minute, Dir: f.dir}
	for i := 0; i < 2; i++ {
		p, err := NewPool(o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Get(context.Background(), Target{Name: "t1"})
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	if a, b := bp.accepted.Load(), tp.accepted.Load(); a != 1 || b != 1 {
		t.Errorf("TCP connections: bastion %d, target %d; want 1 each over two runs", a, b)
	}
	held, err := ListHeld(context.Background(), f.dir)
	if err != nil || len(held) != 1 || held[0].Name != "t1" || len(held[0].Via) != 1 || held[0].Via[0] != "bastion" {
		t.Errorf("held: %+v %v", held, err)
	}
}

// TestRuntimeDirDefault: $XDG_RUNTIME_DIR/vigo when it is the user's,
// else ~/.vigo/run (sudo may leave another user's XDG_RUNTIME_DIR).
func TestRuntimeDirDefault(t *testing.T) {
	home, mine, theirs := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Skip("needs root to make another user's directory")
	}
	t.Setenv("HOME", home)
	for x, want := range map[string]string{mine: filepath.Join(mine, "vigo"), theirs: filepath.Join(home, ".vigo", "run"), "": filepath.Join(home, ".vigo", "run")} {
		t.Setenv("XDG_RUNTIME_DIR", x)
		if got, err := RuntimeDir(); err != nil || got != want {
			t.Errorf("XDG_RUNTIME_DIR=%q: %q %v, want %q", x, got, err, want)
		}
	}
}

// TestHolderRelaySkipsBigCopyBuffers: the holder copies each relayed
// channel's four streams with growingCopy, so a command's few lines cost
// small buffers, not io.Copy's 32 KiB each: 128 KiB per channel of every
// held host, the holder's largest allocation in a warm run. The bytes
// counted are the whole process's (run and holder). (A size, not a time.)
func TestHolderRelaySkipsBigCopyBuffers(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	err := f.run(t, time.Minute, func(c *Conn) {
		ctx := context.Background()
		if _, err := c.Exec(ctx, Cmd{Shell: "true"}); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 10
		for range runs {
			if res, err := c.Exec(ctx, Cmd{Shell: "echo ok"}); err != nil || string(res.Stdout) != "ok\n" {
				t.Fatalf("exec through the holder: %q %v", res.Stdout, err)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per >= 64<<10 {
			t.Errorf("%d bytes allocated per command through the holder, want under 64 KiB", per)
		}
		t.Logf("%d bytes allocated per command", (after.TotalAlloc-before.TotalAlloc)/runs)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPersistUnderFIPS140: in FIPS 140 mode x/crypto offers no X25519
// key exchange, so a run-holder link that asked for curve25519-sha256
// alone failed its handshake and every run dialled its hosts directly
// (after the holder had dialled them too). The test runs itself again
// with GODEBUG=fips140=on and checks there that a second run goes
// through the holder.
func TestPersistUnderFIPS140(t *testing.T) {
	const child = "VIGO_TEST_FIPS_CHILD"
	if os.Getenv(child) != "" && !fips140.Enabled() {
		t.Fatal("run again with GODEBUG=fips140=on, but FIPS 140 mode is off")
	}
	if !fips140.Enabled() {
		if testing.Short() {
			t.Skip("runs the test binary again")
		}
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if dl, ok := t.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, self, "-test.run=^TestPersistUnderFIPS140$", "-test.v", "-test.count=1")
		godebug := "fips140=on"
		if g := os.Getenv("GODEBUG"); g != "" {
			godebug = g + "," + godebug
		}
		cmd.Env = append(os.Environ(), "GODEBUG="+godebug, child+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil && bytes.Contains(out, []byte("fips140")) && !bytes.Contains(out, []byte("--- FAIL")) {
			t.Skipf("this build cannot run in FIPS 140 mode: %s", bytes.SplitN(out, []byte("\n"), 2)[0])
		}
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestPersistUnderFIPS140")) {
			t.Fatalf("under GODEBUG=%s: %v\n%s", godebug, err, out)
		}
		return
	}
	f := startPersist(t, HolderOptions{})
	for i := range 2 {
		if err := f.run(t, time.Minute, func(c *Conn) { exercise(t, c) }); err != nil {
			t.Fatalf("run %d: %v\nsshd:\n%s", i+1, err, f.sshd.Log())
		}
	}
	if n := f.proxy.accepted.Load(); n != 1 {
		t.Errorf("%d TCP connections to the host over two runs in FIPS mode, want 1", n)
	}
}
