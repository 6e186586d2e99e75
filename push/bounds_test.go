package push

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// A host whose job never returns by itself (a hung engine, a command that
// never ends) fails at the host deadline; the other hosts of the batch
// and of later batches converge.
func TestHostTimeoutFailsOnlyTheHungHost(t *testing.T) {
	rec := &recorder{}
	job := Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		if host == "h1" {
			<-ctx.Done() // hung until something ends it
			return Outcome{}, errors.New("docker api GET /containers/json: " + ctx.Err().Error())
		}
		return Outcome{Changed: 1}, nil
	})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := Run(ctx, []string{"h1", "h2", "h3"}, ConnectorFunc[lock.Runner](func(_ context.Context, h string) (lock.Runner, error) { return localRunner{h}, nil }), job, Options{
		BatchSize: Size{N: 2}, MaxFail: Size{N: 1}, HostTimeout: 300 * time.Millisecond,
		Sink: rec,
	})
	st := statusOf(t, res)
	if st["h1"] != event.StatusFailed || st["h2"] != event.StatusChanged || st["h3"] != event.StatusChanged {
		t.Fatalf("statuses %v", st)
	}
	err := res.Hosts[0].Err
	var te *transport.TimeoutError
	if !errors.As(err, &te) || te.Limit != 300*time.Millisecond {
		t.Fatalf("h1 error %v: want the host deadline's TimeoutError", err)
	}
	for _, want := range []string{"h1: host: time limit 300ms exceeded (--host-timeout)", "docker api GET /containers/json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("h1 error %q does not say %q", err, want)
		}
	}
	if ctx.Err() != nil {
		t.Error("the run's own context ended first")
	}
}
