package push

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newTestLocker(t *testing.T, path, command string) *Locker {
	o := NewOwner(command)
	return &Locker{Path: path, Owner: o, Poll: 10 * time.Millisecond, Heartbeat: 20 * time.Millisecond}
}

func TestLockExcludesSecondRun(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	a := newTestLocker(t, path, "push A")
	b := newTestLocker(t, path, "push B")
	r := localRunner{name: "web4"}

	held, err := a.Acquire(ctx, r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Acquire(ctx, r, nil, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "push A") {
		t.Fatalf("second acquire: %v, want ErrLocked naming push A", err)
	}
	st, err := b.Status(ctx, r)
	if err != nil || !st.Held || st.Owner.Command != "push A" || st.Owner.PID != os.Getpid() || st.Stale != "" {
		t.Fatalf("status %+v, %v", st, err)
	}
	// B's release attempt must not remove A's lock.
	if err := b.Remove(ctx, r, b.Owner.Token); err == nil {
		t.Error("removed a lock held by another run")
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Status(ctx, r); st.Held {
		t.Errorf("still held after release: %+v", st)
	}
}

func TestLockWaitsForHolder(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	a := newTestLocker(t, path, "push A")
	b := newTestLocker(t, path, "push B")
	b.Wait = 5 * time.Second
	r := localRunner{}
	held, err := a.Acquire(ctx, r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan LockState, 10)
	hb, err := b.Acquire(ctx, r, func(st LockState) {
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
}

func TestLegacyLockDeadPID(t *testing.T) {
	// A lock written by vigo before lock sessions (no session file) by a
	// pid of this controller that is gone is stale at once.
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	o := NewOwner("push killed")
	o.PID = 999999 // no such pid on this controller
	b, _ := json.Marshal(o)
	if err := os.WriteFile(path+"/owner", b, 0o644); err != nil {
		t.Fatal(err)
	}
	next := newTestLocker(t, path, "push next")
	var broken LockState
	held, err := next.Acquire(ctx, localRunner{}, nil, func(st LockState) { broken = st })
	if err != nil {
		t.Fatalf("acquire over a dead owner: %v", err)
	}
	defer held.Release(ctx)
	if !strings.Contains(broken.Stale, "pid 999999 is no longer running") {
		t.Errorf("stale reason %q", broken.Stale)
	}
}

// holder returns the pid of the shell holding the lock at path.
func holder(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path + "/session")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestLockHolderKilledHardIsStale(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	killed := newTestLocker(t, path, "push killed")
	held, err := killed.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	next := newTestLocker(t, path, "push next")
	if st, _ := next.Status(ctx, localRunner{}); !st.Held || st.Stale != "" || !st.Session {
		t.Fatalf("live holder: %+v", st)
	}
	pid := holder(t, path)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil { // no trap runs
		t.Fatal(err)
	}
	waitFor(t, func() bool { return syscall.Kill(pid, 0) != nil })
	st, err := next.Status(ctx, localRunner{})
	if err != nil || !strings.Contains(st.Stale, "holding shell") {
		t.Fatalf("status after the holder died: %+v %v", st, err)
	}
	var broken LockState
	h2, err := next.Acquire(ctx, localRunner{}, nil, func(st LockState) { broken = st })
	if err != nil {
		t.Fatalf("acquire over a dead holder: %v", err)
	}
	if broken.Owner.Command != "push killed" {
		t.Errorf("broke %+v", broken)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock left after release: %v", err)
	}
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

func TestLockRemovedWhenHolderSignalled(t *testing.T) {
	// The transport sends TERM to a cancelled command's process group;
	// HUP and INT come from a dying terminal or sshd.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		ctx := context.Background()
		path := t.TempDir() + "/vigo.lock"
		held, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(holder(t, path), sig); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, err := os.Stat(path); return os.IsNotExist(err) })
		_ = held.Release(ctx)
	}
}

func TestLockRemovedWhenStdinCloses(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	held, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	held.stdin.Close() // what a dropped connection does to the session
	waitFor(t, func() bool { _, err := os.Stat(path); return os.IsNotExist(err) })
	if err := held.Release(ctx); err != nil {
		t.Errorf("release after the session ended: %v", err)
	}
	if err := held.Release(ctx); err != nil { // twice: no panic, same answer
		t.Errorf("second release: %v", err)
	}
}

func TestLockOfAnotherTokenNotRemoved(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	held, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Someone broke our lock and took it meanwhile.
	if err := os.WriteFile(path+"/token", []byte("someone-else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := held.Release(ctx); err == nil || !strings.Contains(err.Error(), "changed hands") {
		t.Errorf("release of a lock that changed hands: %v", err)
	}
	if _, err := os.Stat(path + "/token"); err != nil {
		t.Errorf("the other run's lock was removed: %v", err)
	}
}

func TestConcurrentAcquirersOneWins(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*Held
	lost := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
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
		path := t.TempDir() + "/vigo.lock"
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(after, cancel)
		held, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
		if err == nil {
			held.Release(context.Background())
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("after %s: %v", after, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("cancelled after %s: lock left behind (%v)", after, err)
		}
		cancel()
	}
}

func TestCoversObservationsOnlyWithoutAnotherHolder(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	a, err := newTestLocker(t, path, "push A").Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	observed := time.Now() // B reads the host while A still holds the lock
	time.Sleep(20 * time.Millisecond)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := newTestLocker(t, path, "push B").Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(ctx)
	if b.Covers(observed) {
		t.Error("reads made while another run held the lock are covered")
	}
	if !b.Covers(time.Now()) {
		t.Error("reads made after taking the lock are not covered")
	}
}

func TestDeadPIDOfAnotherBootIsNotStale(t *testing.T) {
	// Same hostname, another machine (or boot): its pid means nothing here.
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	other := newTestLocker(t, path, "push elsewhere")
	other.Owner.PID = 999999
	other.Owner.Boot = "another-boot"
	other.Heartbeat = time.Hour
	oh, err := other.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oh.Release(ctx)
	st, err := newTestLocker(t, path, "push").Status(ctx, localRunner{})
	if err != nil || st.Stale != "" {
		t.Errorf("lock of another boot judged stale: %+v %v", st, err)
	}
}

func TestStaleLockNoHeartbeat(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	other := newTestLocker(t, path, "push elsewhere")
	other.Owner.Host = "another-controller" // pid cannot be checked from here
	other.Heartbeat = time.Hour             // it died: no more heartbeats
	oh, err := other.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oh.Release(ctx)
	next := newTestLocker(t, path, "push next")
	next.TTL = time.Minute
	if _, err := next.Acquire(ctx, localRunner{}, nil, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("fresh lock of another controller: %v, want ErrLocked", err)
	}
	old := time.Now().Add(-5 * time.Minute)
	if err := os.Chtimes(path+"/owner", old, old); err != nil {
		t.Fatal(err)
	}
	st, _ := next.Status(ctx, localRunner{})
	if !strings.Contains(st.Stale, "no heartbeat") {
		t.Fatalf("status of an old lock: %+v", st)
	}
	held, err := next.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatalf("acquire over a stale lock: %v", err)
	}
	held.Release(ctx)
}

func TestHeartbeatRefreshesLock(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	l := newTestLocker(t, path, "push long")
	held, err := l.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path+"/owner", old, old); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		fi, err := os.Stat(path + "/owner")
		if err == nil && time.Since(fi.ModTime()) < time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("heartbeat never refreshed the owner file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	held.Release(ctx)
}

func TestLockValuesNeverSpliced(t *testing.T) {
	// A lock path with shell metacharacters is passed as a positional
	// parameter and taken literally.
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("VIGO_PWNED", dir+"/pwned")
	path := dir + `/x; touch "$VIGO_PWNED"; $(touch "$VIGO_PWNED") '`
	l := newTestLocker(t, path, "push")
	held, err := l.Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "/owner"); err != nil {
		t.Errorf("lock not at the literal path: %v", err)
	}
	held.Release(ctx)
	if _, err := os.Stat(dir + "/pwned"); err == nil {
		t.Error("the path was interpreted by the shell")
	}
}

func TestReleaseMarkerNeverFollowsSymlink(t *testing.T) {
	// PATH.released sits in a shared directory such as /var/lock: a
	// symlink planted there must not redirect the write.
	ctx := context.Background()
	dir := t.TempDir()
	path := dir + "/vigo.lock"
	victim := dir + "/victim"
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path+".released"); err != nil {
		t.Fatal(err)
	}
	held, err := newTestLocker(t, path, "push").Acquire(ctx, localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("the release wrote through the symlink: %q", b)
	}
	if fi, err := os.Lstat(path + ".released"); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("marker not replaced by a file: %v %v", fi, err)
	}
}
