package converge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/event"
)

// gateRun converges with a gate that records its calls.
func gateRun(t *testing.T, tag string, dry bool, gate func(context.Context, time.Time) (bool, error)) (*sink, converge.Result, int, error) {
	t.Helper()
	h := fakeHost()
	if _, err := converge.Run(context.Background(), h, docStack("v2.1.0"), converge.Options{Secrets: secretsMap}); err != nil {
		t.Fatal(err)
	}
	h.Reset()
	s := &sink{}
	r, err := converge.Run(context.Background(), h, docStack(tag), converge.Options{DryRun: dry, Secrets: secretsMap, Sink: s, Gate: gate})
	return s, r, len(h.Mutating()), err
}

func TestGateErrorStopsBeforeAnyChangeOrEvent(t *testing.T) {
	locked := errors.New("locked by someone")
	s, r, mutated, err := gateRun(t, "v2.2.0", false, func(context.Context, time.Time) (bool, error) { return false, locked })
	if !errors.Is(err, locked) || !errors.Is(r.Err, locked) {
		t.Fatalf("err %v", err)
	}
	if mutated != 0 || len(s.ev) != 0 || r.OK+r.Changed+r.Failed+r.Skipped != 0 {
		t.Errorf("gate refused, yet %d changes, events %v, result %+v", mutated, s.summary(), r)
	}
}

// The gate (push's lock) is called once before the first change, and
// never when the plan changes nothing: a no-op host is not locked.
func TestGateCalledBeforeChangesOnly(t *testing.T) {
	for _, tc := range []struct {
		tag   string
		calls int
	}{{"v2.1.0", 0}, {"v2.2.0", 1}} {
		calls := 0
		var observed time.Time
		before := time.Now()
		s, r, mutated, err := gateRun(t, tc.tag, false, func(_ context.Context, at time.Time) (bool, error) {
			calls++
			observed = at
			return false, nil
		})
		if err != nil || calls != tc.calls {
			t.Fatalf("%s: err %v, gate called %d times, want %d", tc.tag, err, calls, tc.calls)
		}
		if r.Phases["observe"] <= 0 {
			t.Errorf("%s: phases %v", tc.tag, r.Phases)
		}
		if tc.calls == 0 {
			if _, ok := r.Phases["gate"]; ok || r.Changed != 0 || r.OK != 4 || mutated != 0 {
				t.Errorf("%s: no-op gated or changed: phases %v, %v", tc.tag, r.Phases, s.summary())
			}
			continue
		}
		if observed.Before(before) || observed.After(time.Now()) {
			t.Errorf("%s: observed at %v", tc.tag, observed)
		}
		if r.Changed == 0 || r.Phases["gate"] <= 0 {
			t.Errorf("%s: no change after the gate, or no gate phase: %v %v", tc.tag, r.Phases, s.summary())
		}
	}
}

func TestGateReplanObservesAgain(t *testing.T) {
	h := fakeHost()
	if _, err := converge.Run(context.Background(), h, docStack("v2.1.0"), converge.Options{Secrets: secretsMap}); err != nil {
		t.Fatal(err)
	}
	h.Reset()
	// While we wait for the lock, another run removes the redis
	// container, which the plan made before found in place: that plan
	// must not be used.
	s := &sink{}
	r, err := converge.Run(context.Background(), h, docStack("v2.2.0"), converge.Options{Secrets: secretsMap, Sink: s,
		Gate: func(context.Context, time.Time) (bool, error) {
			h.RemoveContainer("redis")
			return true, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if h.ContainerByName("redis") == nil {
		t.Errorf("the container removed meanwhile was not created again: %v", s.summary())
	}
	if r.Changed < 2 {
		t.Errorf("after replanning: changed %d, want the redis container and the app: %v", r.Changed, s.summary())
	}
}

func TestDryRunNeverCallsGate(t *testing.T) {
	s, _, mutated, err := gateRun(t, "v2.2.0", true, func(context.Context, time.Time) (bool, error) {
		t.Error("gate called in a dry run")
		return false, nil
	})
	if err != nil || mutated != 0 {
		t.Fatalf("err %v, %d changes", err, mutated)
	}
	for _, e := range s.ev {
		if e.Kind != event.ResourcePlanned {
			t.Errorf("dry run event %s", e.Kind)
		}
	}
}
