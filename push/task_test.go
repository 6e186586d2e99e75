package push

import (
	"context"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
)

func TestTaskOutcomeFollowsChangedWhen(t *testing.T) {
	conn := ConnectorFunc[lock.Runner](func(ctx context.Context, host string) (lock.Runner, error) { return localRunner{name: host}, nil })
	for _, tc := range []struct {
		cmd, when string
		host      string // the host's status
		cmdStatus string // the CommandFinished event's status
	}{
		{"true", "", event.StatusRan, event.StatusRan},
		{"exit 1", "", event.StatusFailed, event.StatusFailed},
		{"true", "exit:3", event.StatusOK, event.StatusOK},
		{"exit 3", "exit:3", event.StatusChanged, event.StatusChanged},
		{"exit 1", "exit:3", event.StatusFailed, event.StatusFailed},
		{"echo 'Status: Downloaded newer image for x'", "output:Downloaded newer", event.StatusChanged, event.StatusChanged},
		{"echo 'Status: Image is up to date for x'", "output:Downloaded newer", event.StatusOK, event.StatusOK},
		{"echo changed >&2", "output:^changed$", event.StatusChanged, event.StatusChanged},
		{"echo Downloaded newer; exit 1", "output:Downloaded newer", event.StatusFailed, event.StatusFailed},
	} {
		cw, err := ParseChangedWhen(tc.when)
		if err != nil {
			t.Fatalf("%q: %v", tc.when, err)
		}
		rec := &recorder{}
		res := Run(context.Background(), []string{"h1"}, conn, TaskJob[lock.Runner](tc.cmd, 0, cw), Options{Sink: event.Serial(rec)})
		if got := res.Hosts[0].Status; got != tc.host {
			t.Errorf("%q --changed-when %q: host %s, want %s", tc.cmd, tc.when, got, tc.host)
		}
		ev, ok := rec.find(event.CommandFinished, "h1")
		if !ok || ev.Status != tc.cmdStatus {
			t.Errorf("%q --changed-when %q: command_finished status %q, want %q", tc.cmd, tc.when, ev.Status, tc.cmdStatus)
		}
	}
}

func TestParseChangedWhenRefusesNonsense(t *testing.T) {
	for _, s := range []string{"exit", "exit:0", "exit:x", "exit:256", "output:", "output:(", "stdout:x", "changed"} {
		if _, err := ParseChangedWhen(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestHostHealthOverridesHealth: a host with its own health check (an
// envoy's rollout policy) runs that one; the others run Options.Health.
func TestHostHealthOverridesHealth(t *testing.T) {
	var mu sync.Mutex
	ran := map[string]string{}
	fleet := &fakeFleet{health: func(host, cmd string) int {
		if cmd == "job" {
			return 0
		}
		mu.Lock()
		ran[host] = cmd
		mu.Unlock()
		return 0
	}}
	job := TaskJob[lock.Runner]("job", 0, ChangedWhen{})
	res := Run(context.Background(), []string{"h1", "h2"}, fleet, job, Options{
		Health:     Health{Cmd: "default-check"},
		HostHealth: map[string]Health{"h2": {Cmd: "policy-check"}}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if ran["h1"] != "default-check" || ran["h2"] != "policy-check" {
		t.Errorf("health checks run: %v", ran)
	}
}
