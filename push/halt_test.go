package push

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// TestHaltNamesHostsByOutcome: the one rollout-stopped message names the
// failed, unreachable and refused hosts apart, and a refused host key is
// its own status (not unreachable, though the error also is
// ErrUnreachable).
func TestHaltNamesHostsByOutcome(t *testing.T) {
	f := &fakeFleet{unreachable: map[string]bool{"h2": true}}
	connect := ConnectorFunc[lock.Runner](func(ctx context.Context, host string) (lock.Runner, error) {
		if host == "h3" {
			return nil, fmt.Errorf("connect h3:22: %w", &transport.HostKeyError{Host: "h3:22", Want: []string{"SHA256:old (known_hosts:1)"}, Got: "SHA256:new", KeyType: "ssh-ed25519"})
		}
		return f.Connect(ctx, host)
	})
	bs, _ := ParseSize("3")
	rec := &recorder{}
	res := Run(context.Background(), hostNames(6), connect, convergeJob(map[string]bool{"h1": true}, 0),
		Options{BatchSize: bs, Sink: event.Serial(rec)})
	want := map[string]string{"h1": "failed", "h2": "unreachable", "h3": "refused", "h4": "skipped", "h5": "skipped", "h6": "skipped"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	wantHalt := "after batch 1/2: 1 failed (h1), 1 unreachable (h2), 1 refused (host key) (h3), more than --max-fail 0 allows (0); 3 host(s) not started"
	if res.Halted != wantHalt {
		t.Errorf("halted\n got  %q\n want %q", res.Halted, wantHalt)
	}
	e, ok := rec.find(event.HostFinished, "h3")
	if !ok || e.Status != event.StatusRefused || !strings.Contains(e.Error, "CHANGED") || !strings.Contains(e.Error, "ssh-keygen -R") {
		t.Errorf("h3 finished event %+v: want status refused with the changed key and the fix", e)
	}
	if e, ok := rec.find(event.HostSkipped, "h4"); !ok || e.Reason != "rollout stopped after batch 1: more than --max-fail 0" {
		t.Errorf("h4 skipped event %+v", e)
	}
}

func TestBadHostsListsAFew(t *testing.T) {
	got := badHosts(map[string][]string{event.StatusUnreachable: {"e", "d", "c", "b", "a"}})
	if want := "5 unreachable (a, b, c and 2 more)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
