package push

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
)

// releasingRunner is a connection the engine must give back: it records
// each Release and whether the host's lock was still held then (its
// release not yet reported: the engine reports it once done).
type releasingRunner struct {
	localRunner
	locked bool
	rec    *recorder
	mu     *sync.Mutex
	got    map[string][]bool // host -> lock held at each Release
}

func (r releasingRunner) Release() {
	held := false
	if r.locked {
		_, released := r.rec.find(event.LockReleased, r.name)
		held = !released
	}
	r.mu.Lock()
	r.got[r.name] = append(r.got[r.name], held)
	r.mu.Unlock()
}

// TestConnectionReleasedAfterLock: every host's connection is given back
// exactly once, after its lock is released, whatever the host's end (ok,
// failed job, dry run); an unreachable host has none to give back.
func TestConnectionReleasedAfterLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dry    bool
		fail   bool
		locked bool
	}{
		{name: "ok"}, {name: "failed", fail: true}, {name: "dry run", dry: true},
		{name: "ok locked", locked: true}, {name: "failed locked", fail: true, locked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() + "/lock"
			var mu sync.Mutex
			got := map[string][]bool{}
			rec := &recorder{}
			conn := ConnectorFunc[lock.Runner](func(ctx context.Context, host string) (lock.Runner, error) {
				if host == "h3" {
					return nil, errUnreachableForTest
				}
				return releasingRunner{localRunner: localRunner{name: host}, locked: tc.locked, rec: rec, mu: &mu, got: got}, nil
			})
			job := convergeJob(map[string]bool{"h2": tc.fail}, 0)
			opts := Options{Parallel: 1, Sink: event.Serial(rec), DryRun: tc.dry}
			if tc.locked {
				opts.Lock = &lock.Locker{Dir: dir, Owner: lock.NewOwner("test")}
			}
			Run(context.Background(), []string{"h1", "h2", "h3"}, conn, job, opts)
			mu.Lock()
			defer mu.Unlock()
			for _, h := range []string{"h1", "h2"} {
				if len(got[h]) != 1 {
					t.Errorf("%s released %d times, want once", h, len(got[h]))
				} else if got[h][0] {
					t.Errorf("%s released while its lock was held", h)
				}
			}
			if len(got["h3"]) != 0 {
				t.Errorf("unreachable h3 released %d times", len(got["h3"]))
			}
		})
	}
}

var errUnreachableForTest = errors.New("unreachable")
