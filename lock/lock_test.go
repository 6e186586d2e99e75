package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/transport"
)

// localRunner runs commands on this machine, as the transport's local
// connection would: the lock scripts are tested for real.
type localRunner struct{}

func (localRunner) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	c := exec.CommandContext(ctx, cmd.Argv[0], cmd.Argv[1:]...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if cmd.Stdout != nil {
		c.Stdout = io.MultiWriter(&out, cmd.Stdout)
	}
	if cmd.Stdin != nil {
		// Not waited for, as over SSH: a script that exits without
		// reading its stdin must not hang Exec.
		w, err := c.StdinPipe()
		if err != nil {
			return transport.ExecResult{}, err
		}
		go func() { _, _ = io.Copy(w, cmd.Stdin); w.Close() }()
	}
	err := c.Run()
	res := transport.ExecResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, &transport.ExitError{Host: "local", Cmd: transport.QuoteArgv(cmd.Argv), ExitCode: res.ExitCode, Stderr: transport.LastLine(string(res.Stderr))}
	}
	return res, err
}

// lockDir is a fresh lock directory path (not yet created) in a
// directory only root can write.
func lockDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "lock")
}

func newTestLocker(dir, command string) *Locker {
	return &Locker{Dir: dir, Owner: NewOwner(command), Poll: 10 * time.Millisecond, Heartbeat: 20 * time.Millisecond}
}

func acquire(t *testing.T, l *Locker) *Held {
	t.Helper()
	h, err := l.Acquire(context.Background(), localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Release(context.Background()) })
	return h
}

func status(t *testing.T, dir string) State {
	t.Helper()
	st, err := (&Locker{Dir: dir}).Status(context.Background(), localRunner{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLockExcludesSecondRun(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	a := newTestLocker(dir, "push A")
	b := newTestLocker(dir, "push B")
	held := acquire(t, a)
	_, err := b.Acquire(ctx, localRunner{}, nil, nil)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Holder.Command != "push A" || !strings.Contains(err.Error(), "--lock-wait") {
		t.Fatalf("second acquire: %v, want ErrLocked naming push A and --lock-wait", err)
	}
	st := status(t, dir)
	if !st.Held || st.Owner.Command != "push A" || st.Owner.PID != os.Getpid() || st.Stale != "" || st.Dir != dir {
		t.Fatalf("status %+v", st)
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("lock directory %v %v, want a 0700 directory", fi.Mode(), err)
	}
	// B cannot end A's holder with its own token.
	if err := b.Break(ctx, localRunner{}, b.Owner.Token, true); !errors.Is(err, ErrChangedHands) {
		t.Errorf("break with another token: %v", err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st := status(t, dir); st.Held {
		t.Errorf("still held after release: %+v", st)
	}
	acquire(t, b)
}

func TestLockWaitsForHolder(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	a := newTestLocker(dir, "push A")
	b := newTestLocker(dir, "push B")
	b.Wait = 5 * time.Second
	held := acquire(t, a)
	waited := make(chan State, 10)
	hb, err := b.Acquire(ctx, localRunner{}, func(st State) {
		waited <- st
		go held.Release(ctx) // the holder finishes while B waits
	}, nil)
	if err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	defer hb.Release(ctx)
	select {
	case st := <-waited:
		if st.Owner.Command != "push A" {
			t.Errorf("waited on %+v", st.Owner)
		}
	default:
		t.Error("acquire never reported waiting")
	}
	if hb.Covers(time.Now().Add(-time.Second)) {
		t.Error("a lock taken after waiting covers earlier reads")
	}
}

func TestLockOfItsOwnRunIsWaitedFor(t *testing.T) {
	// Two inventory names for one host (connection: local twice): the
	// second host of a run waits for the first one's release, whatever
	// --lock-wait says; it is not refused as "locked".
	ctx := context.Background()
	dir := lockDir(t)
	first := newTestLocker(dir, "task run")
	second := *first // same run: same token
	h1 := acquire(t, first)
	observed := time.Now() // the second host reads while the first one holds the lock
	time.AfterFunc(100*time.Millisecond, func() { h1.Release(ctx) })
	h2, err := second.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatalf("second host of the same run: %v", err)
	}
	if h2.Covers(observed) {
		t.Error("a lock taken after our own other host held it covers earlier reads")
	}
	h2.Release(ctx)
}

// holder returns the pid of the shell holding the lock in dir.
func holder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(dir + "/owner")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 {
		t.Fatalf("owner record %q", b)
	}
	pid, err := strconv.Atoi(strings.Fields(lines[2])[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition never met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockOfHolderKilledHardIsFree(t *testing.T) {
	// SIGKILL: no trap runs, the kernel drops the flock; nothing stale
	// is left to break.
	ctx := context.Background()
	dir := lockDir(t)
	acquire(t, newTestLocker(dir, "push killed"))
	pid := holder(t, dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
	if st := status(t, dir); st.Held {
		t.Fatalf("status after the holder died: %+v", st)
	}
	broke := false
	h, err := newTestLocker(dir, "push next").Acquire(ctx, localRunner{}, nil, func(State) { broke = true })
	if err != nil || broke {
		t.Fatalf("acquire after a dead holder: %v (broke %v)", err, broke)
	}
	h.Release(ctx)
}

func TestLockFreedWhenHolderSignalled(t *testing.T) {
	// The transport sends TERM to a cancelled command's process group;
	// HUP and INT come from a dying terminal or sshd.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		dir := lockDir(t)
		held := acquire(t, newTestLocker(dir, "push"))
		pid := holder(t, dir)
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
		if st := status(t, dir); st.Held {
			t.Errorf("%v: still held: %+v", sig, st)
		}
		if b, err := os.ReadFile(dir + "/released"); err != nil || len(b) == 0 {
			t.Errorf("%v: no release recorded: %v", sig, err)
		}
		_ = held.Release(context.Background())
	}
}

func TestLockFreedWhenStdinCloses(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	held := acquire(t, newTestLocker(dir, "push"))
	pid := holder(t, dir)
	held.stdin.Close() // what a dropped connection does to the session
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
	if err := held.Release(ctx); err != nil {
		t.Errorf("release after the session ended: %v", err)
	}
	if err := held.Release(ctx); err != nil { // twice: no panic, same answer
		t.Errorf("second release: %v", err)
	}
	acquire(t, newTestLocker(dir, "next"))
}

func TestConcurrentAcquirersOneWins(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*Held
	lost := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := newTestLocker(dir, "push").Acquire(ctx, localRunner{}, nil, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, h)
			case errors.Is(err, ErrLocked):
				lost++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || lost != 7 {
		t.Fatalf("%d won, %d lost; want 1 and 7", len(won), lost)
	}
	won[0].Release(ctx)
}

func TestInterruptedAcquireLeavesNoLock(t *testing.T) {
	for _, after := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond} {
		dir := lockDir(t)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(after, cancel)
		held, err := newTestLocker(dir, "push").Acquire(ctx, localRunner{}, nil, nil)
		if err == nil {
			held.Release(context.Background())
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("after %s: %v", after, err)
		}
		h, err := newTestLocker(dir, "next").Acquire(context.Background(), localRunner{}, nil, nil)
		if err != nil {
			t.Errorf("cancelled after %s: lock left behind (%v)", after, err)
			continue
		}
		h.Release(context.Background())
		cancel()
	}
}

func TestCoversObservationsOnlyWithoutAnotherHolder(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	a := acquire(t, newTestLocker(dir, "push A"))
	observed := time.Now() // B reads the host while A still holds the lock
	time.Sleep(20 * time.Millisecond)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b := acquire(t, newTestLocker(dir, "push B"))
	if b.Covers(observed) {
		t.Error("reads made while another run held the lock are covered")
	}
	if !b.Covers(time.Now()) {
		t.Error("reads made after taking the lock are not covered")
	}
}

// A holder killed outright (SIGKILL, the OOM killer) records no release:
// when it ended is not known, so observations made before the next run
// took the lock are not covered, however old the last recorded release.
func TestHolderKilledHardCoversNothing(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	if err := acquire(t, newTestLocker(dir, "push old")).Release(ctx); err != nil {
		t.Fatal(err) // an old release on record
	}
	time.Sleep(50 * time.Millisecond)
	acquire(t, newTestLocker(dir, "push killed"))
	observed := time.Now() // B reads the host while the killed run still works
	pid := holder(t, dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
	b := acquire(t, newTestLocker(dir, "push B"))
	if b.Covers(observed) {
		t.Error("reads made while a holder killed outright still held the lock are covered")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// That run recorded its release: the next one is covered again.
	time.Sleep(50 * time.Millisecond)
	c := acquire(t, newTestLocker(dir, "push C"))
	defer c.Release(ctx)
	if !c.Covers(time.Now()) {
		t.Error("after a recorded release, reads made since are not covered")
	}
}

// ageHeartbeat makes the holder's last heartbeat look old by the host's
// uptime clock.
func ageHeartbeat(t *testing.T, dir string, by time.Duration) {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	cs := int64(up*100) - int64(by/(10*time.Millisecond))
	if err := os.WriteFile(dir+"/beat", []byte(strconv.FormatInt(cs, 10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStaleHolderNoHeartbeatIsEnded(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	other := newTestLocker(dir, "push elsewhere")
	other.Heartbeat = time.Hour // it hangs: no more heartbeats
	oh := acquire(t, other)
	next := newTestLocker(dir, "push next")
	next.TTL = time.Minute
	if _, err := next.Acquire(ctx, localRunner{}, nil, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("fresh lock of another run: %v, want ErrLocked", err)
	}
	// A stale verdict made earlier does not end a holder that has sent
	// a heartbeat since.
	if err := next.Break(ctx, localRunner{}, other.Owner.Token, false); err == nil || !strings.Contains(err.Error(), "heartbeat") {
		t.Errorf("break of a fresh holder: %v", err)
	}
	pid := holder(t, dir)
	ageHeartbeat(t, dir, 5*time.Minute)
	st, _ := next.Status(ctx, localRunner{})
	if !strings.Contains(st.Stale, "no heartbeat") {
		t.Fatalf("status of an old lock: %+v", st)
	}
	var broken State
	held, err := next.Acquire(ctx, localRunner{}, nil, func(st State) { broken = st })
	if err != nil {
		t.Fatalf("acquire over a stale holder: %v", err)
	}
	if broken.Owner.Command != "push elsewhere" || syscall.Kill(pid, 0) == nil {
		t.Errorf("stale holder not ended: broke %+v", broken)
	}
	held.Release(ctx)
	oh.Release(ctx)
}

func TestHeartbeatRefreshesLock(t *testing.T) {
	dir := lockDir(t)
	l := newTestLocker(dir, "push long")
	l.TTL = time.Minute
	acquire(t, l)
	ageHeartbeat(t, dir, time.Hour)
	waitFor(t, func() bool { st := status(t, dir); return st.Held && st.Age < time.Minute })
}

func TestForceBreakEndsLiveHolder(t *testing.T) {
	ctx := context.Background()
	dir := lockDir(t)
	a := newTestLocker(dir, "push A")
	acquire(t, a)
	pid := holder(t, dir)
	if err := (&Locker{Dir: dir}).Break(ctx, localRunner{}, a.Owner.Token, false); err == nil {
		t.Error("a live holder was ended without force")
	}
	if err := (&Locker{Dir: dir}).Break(ctx, localRunner{}, a.Owner.Token, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
	acquire(t, newTestLocker(dir, "push B"))
}

func TestLockValuesNeverSpliced(t *testing.T) {
	// Values are positional parameters, taken literally.
	ctx := context.Background()
	base := t.TempDir()
	t.Setenv("VIGO_PWNED", base+"/pwned")
	dir := base + `/x;touch${IFS}"$VIGO_PWNED";$(touch${IFS}"$VIGO_PWNED")'`
	l := newTestLocker(dir, `push $(touch "$VIGO_PWNED") '; touch "$VIGO_PWNED"`)
	held := acquire(t, l)
	if _, err := os.Stat(dir + "/owner"); err != nil {
		t.Errorf("lock not at the literal path: %v", err)
	}
	if st := status(t, dir); st.Owner.Command != l.Owner.Command {
		t.Errorf("owner read back %+v", st.Owner)
	}
	held.Release(ctx)
	if _, err := os.Stat(base + "/pwned"); err == nil {
		t.Error("a value was interpreted by the shell")
	}
}

// TestUnsafeLockDirRefused: the lock directory and every directory above
// it must be real directories that only root or the lock's user can
// change; the lock directory itself 0700. Nothing is written otherwise.
func TestUnsafeLockDirRefused(t *testing.T) {
	nobody := 65534
	cases := map[string]func(t *testing.T, base string) string{
		"symlink to a root-only dir": func(t *testing.T, base string) string {
			real := base + "/real"
			must(t, os.Mkdir(real, 0o700))
			must(t, os.Symlink(real, base+"/lock"))
			return base + "/lock"
		},
		"symlink above": func(t *testing.T, base string) string {
			must(t, os.Mkdir(base+"/real", 0o755))
			must(t, os.Symlink(base+"/real", base+"/link"))
			return base + "/link/lock"
		},
		"owned by another user": func(t *testing.T, base string) string {
			must(t, os.Mkdir(base+"/lock", 0o700))
			must(t, os.Chown(base+"/lock", nobody, nobody))
			return base + "/lock"
		},
		"open to others": func(t *testing.T, base string) string {
			must(t, os.Mkdir(base+"/lock", 0o700))
			must(t, os.Chmod(base+"/lock", 0o755))
			return base + "/lock"
		},
		"parent owned by another user": func(t *testing.T, base string) string {
			must(t, os.Mkdir(base+"/home", 0o755))
			must(t, os.Chown(base+"/home", nobody, nobody))
			return base + "/home/lock"
		},
		"parent writable by others": func(t *testing.T, base string) string {
			must(t, os.Mkdir(base+"/shared", 0o777))
			must(t, os.Chmod(base+"/shared", 0o777))
			return base + "/shared/lock"
		},
		"a file": func(t *testing.T, base string) string {
			must(t, os.WriteFile(base+"/lock", nil, 0o600))
			return base + "/lock"
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := setup(t, base)
			before := tree(t, base)
			_, err := newTestLocker(dir, "push").Acquire(context.Background(), localRunner{}, nil, nil)
			if !errors.Is(err, ErrUnsafeDir) {
				t.Fatalf("acquire in %s: %v, want ErrUnsafeDir", dir, err)
			}
			t.Log(err)
			if err := (&Locker{Dir: dir}).Break(context.Background(), localRunner{}, "", true); !errors.Is(err, ErrUnsafeDir) {
				t.Errorf("break in %s: %v, want ErrUnsafeDir", dir, err)
			}
			if after := tree(t, base); after != before {
				t.Errorf("something was written:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tree lists every entry under base with its mode and size.
func tree(t *testing.T, base string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String() + " " + strconv.FormatInt(fi.Size(), 10) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCheckDir(t *testing.T) {
	for _, ok := range []string{"", "/var/lib/vigo-lock", "/home/ops/.vigo-lock"} {
		if err := CheckDir(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"relative", "/a/../b", "/a/", "/", "/a b", "/a\nb"} {
		if err := CheckDir(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// cutRunner takes the lock, then loses its connection when the session's
// stdin closes, failing the way the transport does: with the command
// line in the error.
type cutRunner struct{}

func (cutRunner) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	if cmd.Stdout != nil {
		_, _ = cmd.Stdout.Write([]byte("acquired /run/vigo none 0\n"))
	}
	if cmd.Stdin != nil {
		_, _ = io.Copy(io.Discard, cmd.Stdin)
	}
	return transport.ExecResult{ExitCode: -1}, fmt.Errorf("web4: %s: %w", transport.QuoteArgv(cmd.Argv), io.ErrUnexpectedEOF)
}

func TestReleaseErrorNeverPrintsTheScript(t *testing.T) {
	held, err := newTestLocker("", "push").Acquire(context.Background(), cutRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = held.Release(context.Background())
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("release over a cut connection: %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "verify") || len(msg) > 200 {
		t.Errorf("the release error prints the lock script (%d bytes, %d lines):\n%s", len(msg), strings.Count(msg, "\n")+1, msg)
	} else {
		t.Log(msg)
	}
}
