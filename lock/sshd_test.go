package lock

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigo-sh/vigocli/transport"
)

// These tests run the lock scripts through a real OpenSSH sshd on
// 127.0.0.1 as root, against this machine's own /run and /var/lock, with
// other users (nobody through setpriv, a throwaway login user) as the
// attackers and the second operator.

const sshdPath = "/usr/sbin/sshd"

// testUser is the throwaway non-root login user these tests create.
const testUser = "vigolocktest"

func requireRootSSHD(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("real sshd tests need %s (apt-get install openssh-server): %v", sshdPath, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("these tests run sshd as root and act as other users")
	}
	for _, p := range []string{"/usr/bin/setpriv", "/usr/sbin/useradd", "/usr/bin/flock"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("need %s: %v", p, err)
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd privilege separation directory: %v", err)
	}
}

// sshHost is one sshd that root and testUser may log in to with one key.
type sshHost struct {
	base, key, knownHosts string
	port                  int
}

// newSSHHost starts sshd. Its files live in a directory every user can
// read (sshd reads authorized_keys as the login user); bin is first on
// the sessions' PATH.
func newSSHHost(t *testing.T, bin string) *sshHost {
	t.Helper()
	requireRootSSHD(t)
	base, err := os.MkdirTemp("", "vigo-lock-sshd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	h := &sshHost{base: base}
	hostKey := writeKey(t, base, "host_ed25519")
	client := writeKey(t, base, "client_ed25519")
	h.key = filepath.Join(base, "client_ed25519")
	must(t, os.WriteFile(filepath.Join(base, "authorized_keys"), ssh.MarshalAuthorizedKey(client.PublicKey()), 0o644))
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if bin != "" {
		path = bin + ":" + path
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
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
SetEnv SHLVL=1 PATH=%s
`, h.port, filepath.Join(base, "host_ed25519"), filepath.Join(base, "authorized_keys"), path)
	cfgPath := filepath.Join(base, "sshd_config")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	out := &syncWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", h.port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	home := filepath.Join(base, "home")
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	h.knownHosts = filepath.Join(home, ".ssh", "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", h.port, ssh.MarshalAuthorizedKey(hostKey.PublicKey()))
	must(t, os.WriteFile(h.knownHosts, []byte(line), 0o600))
	return h
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func writeKey(t *testing.T, dir, name string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "vigo-lock-test")
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600))
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// conn logs in as login (through sudo -n when become).
func (h *sshHost) conn(t *testing.T, login string, become bool) Runner {
	t.Helper()
	p, err := transport.NewPool(transport.PoolOptions{
		HomeDir: filepath.Dir(filepath.Dir(h.knownHosts)), LocalUser: "root",
		SSHConfigPath: "none", AgentSocket: "none", GlobalKnownHostsFiles: []string{"none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Get(context.Background(), transport.Target{Name: login + "@loopback", Address: "127.0.0.1", Port: h.port,
		User: login, IdentityFile: h.key, Become: become})
	if err != nil {
		t.Fatalf("log in as %s: %v", login, err)
	}
	return c
}

// asNobody runs a shell script as nobody:nogroup.
func asNobody(t *testing.T, script string) (string, error) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", script).CombinedOutput()
	return string(out), err
}

// addTestUser creates testUser (a login shell and a home, no password) for
// this test; its uid and gid.
func addTestUser(t *testing.T) (uid, gid int) {
	t.Helper()
	if _, err := user.Lookup(testUser); err != nil {
		if out, err := exec.Command("useradd", "-m", "-d", filepath.Join(os.TempDir(), testUser+".home"), "-s", "/bin/sh", "-p", "*", testUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", "-r", testUser).Run() })
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// fakeSudo is a directory holding a `sudo` that does what passwordless
// `sudo -n -- CMD` does for testUser: it runs CMD as root, with root's
// USER, LOGNAME and HOME. Only testUser's group may run its setuid
// helper (a copy of setpriv), and only while the test runs.
func fakeSudo(t *testing.T, gid int) string {
	t.Helper()
	bin, err := os.MkdirTemp("", "vigo-lock-sudo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	must(t, os.Chmod(bin, 0o755))
	b, err := os.ReadFile("/usr/bin/setpriv")
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(bin, "setpriv-root")
	must(t, os.WriteFile(helper, b, 0o700))
	must(t, os.Chown(helper, 0, gid))
	must(t, os.Chmod(helper, 0o750|os.ModeSetuid))
	script := `#!/bin/sh
[ "$1" = -n ] || { echo "sudo: expected -n" >&2; exit 1; }
shift; [ "$1" = -- ] && shift
USER=root LOGNAME=root HOME=/root exec ` + helper + ` --reuid=0 --regid=0 --clear-groups -- "$@"
`
	must(t, os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755))
	return bin
}

// rootLocker is what push and task use: the default directory. Other
// tests on this machine may hold that lock for a moment: wait for them.
func rootLocker(command string) *Locker {
	return &Locker{Owner: NewOwner(command), Wait: 30 * time.Second, Poll: 50 * time.Millisecond}
}

// plantVarLock waits until no vigo of an older version holds
// /var/lock/vigo.lock, then plants a lock there as nobody; removed at
// the end of the test.
func plantVarLock(t *testing.T, script string) {
	t.Helper()
	const old = "/var/lock/vigo.lock"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Lstat(old); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Skipf("%s is in use by something else", old)
		}
	}
	if out, err := asNobody(t, "l=/var/lock/vigo.lock\nmkdir \"$l\" || exit 1\n"+script); err != nil {
		t.Fatalf("planting as nobody: %v %s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(old); os.Remove(old + ".released"); os.RemoveAll(old + ".guard") })
}

// victim is a root-only scratch file standing for /etc/shadow.
func victim(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	must(t, os.WriteFile(p, []byte("root:precious:\n"), 0o640))
	return p
}

func intact(t *testing.T, p string) {
	t.Helper()
	if b, _ := os.ReadFile(p); string(b) != "root:precious:\n" {
		t.Errorf("%s was overwritten as root: %q", p, b)
	}
}

// TestPlantedVarLockSymlinkNeverFollowed: a stale-looking lock planted by
// nobody in /var/lock (mode 1777) with released -> a root-only file must
// not make push/task (Acquire) or `lock release --force` (Status, then
// Break) write through the link.
func TestPlantedVarLockSymlinkNeverFollowed(t *testing.T) {
	h := newSSHHost(t, "")
	target := victim(t)
	owner := `{"user":"ops","host":"elsewhere","pid":1,"started":"2020-01-01T00:00:00Z","command":"push","token":"planted"}`
	plantVarLock(t, `echo planted >"$l/token"
echo '1 1 another-boot pidns' >"$l/session"
echo '`+owner+`' >"$l/owner"
ln -s `+target+` "$l/released"
ln -s `+target+` "$l.released" 2>/dev/null
mkdir "$l.guard" && ln -s `+target+` "$l.guard/x"
rmdir "$l.guard" 2>/dev/null; true`)
	ctx := context.Background()
	r := h.conn(t, "root", false)

	l := rootLocker("push after the plant")
	held, err := l.Acquire(ctx, r, nil, nil)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	intact(t, target)

	// lock release --force: status, then break whatever holds it.
	st, err := l.Status(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if st.Held {
		_ = l.Break(ctx, r, st.Owner.Token, true)
	}
	if err := l.Break(ctx, r, "planted", true); err != nil {
		t.Fatalf("break: %v", err)
	}
	intact(t, target)
}

// TestForgedLiveLockDoesNotBlock: nobody forges a lock that looks alive
// (held by pid 1 of this boot, fresh heartbeat) where older versions
// looked; pushes are not blocked, and nobody cannot plant anything in
// the lock directory vigo uses.
func TestForgedLiveLockDoesNotBlock(t *testing.T) {
	h := newSSHHost(t, "")
	b, err := os.ReadFile("/proc/1/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, _ := os.Readlink("/proc/self/ns/pid")
	session := fmt.Sprintf("1 %s %s %s", f[19], strings.TrimSpace(string(boot)), ns)
	owner := `{"user":"root","host":"ops","pid":1,"started":"2030-01-01T00:00:00Z","command":"push","token":"forged"}`
	plantVarLock(t, `echo forged >"$l/token"
echo '`+session+`' >"$l/session"
echo '`+owner+`' >"$l/owner"`)
	ctx := context.Background()
	r := h.conn(t, "root", false)
	l := rootLocker("push after the forgery")
	l.Wait = 0
	var held *Held
	for i := 0; ; i++ { // another test of this machine may hold the real lock for a moment
		held, err = l.Acquire(ctx, r, nil, nil)
		var le *LockedError
		if err == nil || !errors.As(err, &le) || le.Holder.Token == "forged" || i == 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("a lock forged by nobody blocks the push: %v", err)
	}
	defer held.Release(ctx)
	if out, err := asNobody(t, `for p in owner beat released lock x; do
  if { echo forged >`+DefaultDir+`/$p; } 2>/dev/null || ln -s /etc/passwd `+DefaultDir+`/$p.l 2>/dev/null || mkdir `+DefaultDir+`/$p.d 2>/dev/null; then echo "planted $p"; fi
done`); err != nil || out != "" {
		t.Errorf("nobody could plant in %s: %v %s", DefaultDir, err, out)
	}
	fi, err := os.Lstat(DefaultDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s: %v %v, want a root-owned 0700 directory", DefaultDir, fi.Mode(), err)
	}
}

// TestOneLockForEveryLoginUser: root and a non-root login with become
// contend for the same lock; a non-root login without become gets no lock
// of its own beside root's (it is refused, with the way out), and one in
// a --lock-dir it owns.
func TestOneLockForEveryLoginUser(t *testing.T) {
	uid, gid := addTestUser(t)
	h := newSSHHost(t, fakeSudo(t, gid))
	ctx := context.Background()
	asRoot := h.conn(t, "root", false)
	asUserBecome := h.conn(t, testUser, true)
	asUser := h.conn(t, testUser, false)

	rl := rootLocker("push as root")
	held, err := rl.Acquire(ctx, asRoot, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The non-root login with become meets root's lock.
	_, err = (&Locker{Owner: NewOwner("push with become")}).Acquire(ctx, asUserBecome, nil, nil)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Command != "push as root" {
		t.Errorf("become login while root holds the lock: %v, want locked by push as root", err)
	}
	// Without become: refused, never a lock of its own beside root's.
	_, err = (&Locker{Owner: NewOwner("push as user")}).Acquire(ctx, asUser, nil, nil)
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "become") {
		t.Errorf("non-root login without become while root holds the lock: %v, want a refusal naming become", err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// And the other way round.
	bl := &Locker{Owner: NewOwner("push with become"), Wait: 30 * time.Second, Poll: 50 * time.Millisecond}
	held, err = bl.Acquire(ctx, asUserBecome, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&Locker{}).Status(ctx, asRoot)
	if err != nil || !st.Held || st.Owner.Command != "push with become" {
		t.Errorf("root sees %+v %v, want the become login's lock", st, err)
	}
	if _, err := (&Locker{Owner: NewOwner("push as root")}).Acquire(ctx, asRoot, nil, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("root while the become login holds the lock: %v", err)
	}
	held.Release(ctx)

	// A --lock-dir the user owns: a lock of that user's own.
	own, err := os.MkdirTemp("", "vigo-lock-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(own) })
	must(t, os.Chown(own, uid, gid))
	ul := &Locker{Dir: own + "/lock", Owner: NewOwner("push as user")}
	uh, err := ul.Acquire(ctx, asUser, nil, nil)
	if err != nil {
		t.Fatalf("--lock-dir owned by the user: %v", err)
	}
	if fi, err := os.Stat(own + "/lock"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("user's lock directory: %v", err)
	}
	uh.Release(ctx)
}
