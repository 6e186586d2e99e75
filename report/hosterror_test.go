package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// hostErrorRun: each way a host can fail, as push emits it: the host in
// Event.Host, the cause alone in Event.Error (event.HostError.Cause).
func hostErrorRun() []event.Event {
	ok := false
	return []event.Event{
		{Time: at(0), Kind: event.RunStarted, Hosts: []string{"web6", "web7", "web8", "web9"}, Batches: 1, Command: "push"},
		{Time: at(0), Kind: event.BatchStarted, Batch: 1, Batches: 1, Hosts: []string{"web6", "web7", "web8", "web9"}},
		{Time: at(0.1), Kind: event.ResourceFailed, Host: "web6", Batch: 1, Resource: "app", Type: "docker_container", Action: "recreate", Error: "boom 6"},
		{Time: at(0.2), Kind: event.HostFinished, Host: "web6", Batch: 1, Status: event.StatusFailed, Duration: time.Second, Error: "boom 6"},
		{Time: at(0.2), Kind: event.HostUnreachable, Host: "web7", Batch: 1, Status: event.StatusUnreachable, Error: "boom 7"},
		{Time: at(0.2), Kind: event.HostFinished, Host: "web8", Batch: 1, Status: event.StatusRefused, Error: "boom 8"},
		{Time: at(0.3), Kind: event.HealthCheck, Host: "web9", Batch: 1, Attempt: 1, OK: &ok, Error: "boom 9"},
		{Time: at(0.4), Kind: event.HostFinished, Host: "web9", Batch: 1, Status: event.StatusFailed, Duration: time.Second, Error: "boom 9"},
		{Time: at(0.4), Kind: event.BatchFinished, Batch: 1, Batches: 1},
		{Time: at(0.4), Kind: event.RunFinished},
	}
}

// Every renderer formats a host's error from the event's fields: the
// cause is shown, with its host, and no line says the host twice.
func TestRenderersFormatHostErrors(t *testing.T) {
	render := map[string]func(evs []event.Event) string{
		"plain": func(evs []event.Event) string {
			var b bytes.Buffer
			p := NewPlain(&b)
			for _, e := range evs {
				p.Emit(e)
			}
			return b.String()
		},
		"tty": func(evs []event.Event) string {
			var b bytes.Buffer
			tty := NewTTY(&b, false, 200)
			for _, e := range evs {
				tty.Emit(e)
			}
			return b.String()
		},
		"recap": func(evs []event.Event) string {
			var b bytes.Buffer
			WriteRecap(&b, collect(evs), false)
			return b.String()
		},
		"json": func(evs []event.Event) string {
			var b bytes.Buffer
			if err := WriteJSON(&b, collect(evs), 2); err != nil {
				t.Fatal(err)
			}
			return b.String()
		},
		"junit": func(evs []event.Event) string {
			var b bytes.Buffer
			if err := WriteJUnit(&b, collect(evs)); err != nil {
				t.Fatal(err)
			}
			return b.String()
		},
		"html": func(evs []event.Event) string {
			var b bytes.Buffer
			if err := WriteHTML(&b, collect(evs), 2); err != nil {
				t.Fatal(err)
			}
			return b.String()
		},
		"check": func(evs []event.Event) string {
			var b bytes.Buffer
			if err := WriteCheckText(&b, Check(collect(evs))); err != nil {
				t.Fatal(err)
			}
			return b.String()
		},
	}
	for name, r := range render {
		t.Run(name, func(t *testing.T) {
			out := r(hostErrorRun())
			for _, h := range []string{"web6", "web7", "web8", "web9"} {
				cause := "boom " + h[len("web"):]
				if name != "recap" || h == "web8" { // the recap repeats only refused hosts' errors
					if !strings.Contains(out, cause) {
						t.Errorf("%s's cause missing:\n%s", h, out)
					}
				}
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, cause) && strings.Count(l, h) > 1 {
						t.Errorf("host said twice: %q", l)
					}
				}
			}
		})
	}
	// The plain form, exactly: host prefix, then the cause.
	got := render["plain"](hostErrorRun())
	for _, want := range []string{
		"web6 | app: recreate FAILED: boom 6\n",
		"web6 | failed in 1s: boom 6\n",
		"web7 | UNREACHABLE: boom 7\n",
		"web8 | REFUSED: boom 8\n",
		"web9 | health check failed (attempt 1): boom 9\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plain lacks %q:\n%s", want, got)
		}
	}
}

func collect(evs []event.Event) *Run {
	c := NewCollector()
	for _, e := range evs {
		c.Emit(e)
	}
	return c.Run()
}
