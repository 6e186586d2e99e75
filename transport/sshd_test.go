package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// These helpers run a real OpenSSH sshd on 127.0.0.1 with generated keys,
// so that transport behaviour is proven against the server it will meet,
// with no lab and no network beyond loopback.

const sshdPath = "/usr/sbin/sshd"

func requireSSHD(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("real sshd tests need %s (apt-get install openssh-server): %v", sshdPath, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("real sshd tests run sshd as root (privilege separation needs it)")
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd privilege separation directory: %v", err)
	}
}

// testKey is an ed25519 key pair written as an OpenSSH private key file.
type testKey struct {
	Path   string
	Signer ssh.Signer
	Pub    ssh.PublicKey
}

func newKey(t testing.TB, dir, name, passphrase string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "vigo-test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "vigo-test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return testKey{Path: p, Signer: signer, Pub: signer.PublicKey()}
}

type sshdOptions struct {
	authorized []ssh.PublicKey
	hostKey    *testKey // nil: generate
	extra      string   // more sshd_config lines
	env        []string // more SetEnv variables (sshd reads only the first SetEnv line)
}

// testSSHD is one running sshd.
type testSSHD struct {
	Dir     string
	Port    int
	HostKey testKey
	log     *syncBuffer
}

func (s *testSSHD) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// KnownHostsLine is the known_hosts line for this server.
func (s *testSSHD) KnownHostsLine() string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey.Pub))))
}

// Log is what sshd wrote so far.
func (s *testSSHD) Log() string { return s.log.String() }

func startSSHD(t testing.TB, o sshdOptions) *testSSHD {
	t.Helper()
	requireSSHD(t)
	dir := t.TempDir()
	s := &testSSHD{Dir: dir, log: &syncBuffer{}}
	if o.hostKey != nil {
		s.HostKey = *o.hostKey
	} else {
		s.HostKey = newKey(t, dir, "host_ed25519", "")
	}
	var ak bytes.Buffer
	for _, k := range o.authorized {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ak.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = freePort(t)
		cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile none
UsePAM no
StrictModes no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
Subsystem sftp internal-sftp
# bash sources ~/.bashrc for ssh commands only when SHLVL < 2: keep
# the controller's own rc files (pyenv...) out of test timings.
SetEnv SHLVL=1 %s
%s
`, s.Port, s.HostKey.Path, filepath.Join(dir, "authorized_keys"), strings.Join(o.env, " "), o.extra)
		cfgPath := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		if waitListening(s.Addr(), exited) {
			return s
		}
	}
	t.Fatalf("sshd did not start: %s", s.Log())
	return nil
}

func waitListening(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countingProxy forwards TCP connections to a backend and counts them: the
// proof of "one TCP connection per host". dropFirst connections are
// closed at once, like sshd's MaxStartups does under a burst.
type countingProxy struct {
	l         net.Listener
	backend   string
	accepted  atomic.Int64
	dropFirst int64
	frozen    atomic.Bool // stop forwarding, keep sockets open: a dead host
}

func newCountingProxy(t testing.TB, backend string, dropFirst int64) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l, backend: backend, dropFirst: dropFirst}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := p.accepted.Add(1)
			if n <= p.dropFirst {
				c.Close()
				continue
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *countingProxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

func (p *countingProxy) forward(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { p.copy(b, c); done <- struct{}{} }()
	go func() { p.copy(c, b); done <- struct{}{} }()
	<-done
}

func (p *countingProxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// testEnv is an isolated controller: own HOME, known_hosts, no agent, no
// ssh_config, unless a test sets them.
type testEnv struct {
	Home       string
	KnownHosts string
	Client     testKey
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	return &testEnv{
		Home:       home,
		KnownHosts: filepath.Join(home, ".ssh", "known_hosts"),
		Client:     newKey(t, home, "client_ed25519", ""),
	}
}

func (e *testEnv) trust(t testing.TB, servers ...*testSSHD) {
	t.Helper()
	f, err := os.OpenFile(e.KnownHosts, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range servers {
		fmt.Fprintln(f, s.KnownHostsLine())
	}
}

// options returns pool options isolated from the machine's ~/.ssh.
func (e *testEnv) options() PoolOptions {
	return PoolOptions{
		HomeDir:       e.Home,
		LocalUser:     "root",
		SSHConfigPath: "none",
		AgentSocket:   "none",
		// The machine's /etc/ssh/ssh_known_hosts stays out of tests.
		GlobalKnownHostsFiles: []string{"none"},
		Logger:                slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func (e *testEnv) pool(t testing.TB, o PoolOptions) *Pool {
	t.Helper()
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// target points at s with the env's client key.
func (e *testEnv) target(s *testSSHD) Target {
	return Target{Name: "h", Address: "127.0.0.1", Port: s.Port, User: "root", IdentityFile: e.Client.Path}
}

// up starts one sshd trusted by a fresh env and returns a connection.
func up(t testing.TB) (*testEnv, *testSSHD, *Conn) {
	t.Helper()
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	p := env.pool(t, env.options())
	c, err := p.Get(context.Background(), env.target(s))
	if err != nil {
		t.Fatalf("connect: %v\nsshd log:\n%s", err, s.Log())
	}
	return env, s, c
}
