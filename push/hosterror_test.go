package push

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors/executorstest"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// A failure deep in a host (a command the transport ran, through the
// executor that ran it and converge) reaches the rollout's result as one
// event.HostError: the host named once, by push, and every layer's typed
// error still reachable with errors.As. Events carry the cause alone; the
// host is Event.Host.
func TestHostErrorThroughTheLayers(t *testing.T) {
	const host = "web4.app.example.com"
	fake := executorstest.New(host)
	dh := desired.Host{Name: host, Resources: []desired.Resource{{
		Name: "redis-image", Module: "m", Type: "docker_image", Pos: stockpile.Pos{File: "m.vgo", Line: 3, Col: 5},
		Fields: map[string]any{"image": "redis:9"}, // not in the fake registry: the pull fails
	}}}
	job := Job[lock.Runner]{Run: func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		res, err := converge.Run(ctx, fake, dh, converge.Options{Sink: h.Sink, Batch: h.Batch, Gate: h.Gate})
		return Outcome{OK: res.OK, Changed: res.Changed, Failed: res.Failed, Skipped: res.Skipped}, err
	}}
	rec := &recorder{}
	res := Run(context.Background(), []string{host}, &fakeFleet{}, job, Options{Sink: event.Serial(rec)})

	var he *event.HostError
	if !errors.As(res.Err, &he) || he.Host != host {
		t.Fatalf("result error %v: want an event.HostError for %s", res.Err, host)
	}
	var ee *transport.ExitError
	if !errors.As(res.Err, &ee) || ee.ExitCode == 0 {
		t.Fatalf("result error %v: the transport's ExitError is lost", res.Err)
	}
	if n := strings.Count(res.Err.Error(), host); n != 1 || !strings.HasPrefix(res.Err.Error(), host+": ") {
		t.Errorf("result error names the host %d times (want once, first): %v", n, res.Err)
	}
	if hr := res.Hosts[0]; hr.Err != error(he) || hr.Status != event.StatusFailed {
		t.Errorf("host result %+v", hr)
	}
	var finished, failed *event.Event
	for _, e := range rec.all() {
		switch e.Kind {
		case event.HostFinished:
			finished = &e
		case event.ResourceFailed:
			failed = &e
		}
	}
	if finished == nil || failed == nil {
		t.Fatalf("events: %+v", rec.all())
	}
	for _, e := range []*event.Event{finished, failed} {
		if e.Host != host || e.Error == "" || strings.Contains(e.Error, host) {
			t.Errorf("%s event: host %q, error %q: want the host as data and the cause alone", e.Kind, e.Host, e.Error)
		}
	}
	if finished.Error != he.Cause() {
		t.Errorf("host_finished error %q, want the HostError's cause %q", finished.Error, he.Cause())
	}
	// Rendered, the host appears once, as the line's prefix.
	for _, l := range report.Lines(*finished) {
		if l.Host != host || strings.Count(l.Text(), host) != 1 {
			t.Errorf("plain line %q", l.Text())
		}
	}
}
