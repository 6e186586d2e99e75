package push

import (
	"context"
	"errors"
	"os"
	"strings"
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

func TestStaleLockDeadPID(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	killed := newTestLocker(t, path, "push killed")
	killed.Owner.PID = 999999 // no such pid on this controller
	if _, err := killed.Acquire(ctx, localRunner{}, nil, nil); err != nil {
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

func TestDeadPIDOfAnotherBootIsNotStale(t *testing.T) {
	// Same hostname, another machine (or boot): its pid means nothing here.
	ctx := context.Background()
	path := t.TempDir() + "/vigo.lock"
	other := newTestLocker(t, path, "push elsewhere")
	other.Owner.PID = 999999
	other.Owner.Boot = "another-boot"
	other.Heartbeat = time.Hour
	if _, err := other.Acquire(ctx, localRunner{}, nil, nil); err != nil {
		t.Fatal(err)
	}
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
	if _, err := other.Acquire(ctx, localRunner{}, nil, nil); err != nil {
		t.Fatal(err)
	}
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
