package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// Plain prints one line per event, each prefixed with its host, with no
// escape codes: what CI logs and pipes get.
type Plain struct {
	mu sync.Mutex
	w  io.Writer
}

func NewPlain(w io.Writer) *Plain { return &Plain{w: w} }

func (p *Plain) Emit(e event.Event) {
	lines := Lines(e)
	if len(lines) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(p.w, l.Text())
	}
}

// Line is one printed line: an optional host prefix, a tone (for
// colour) and the text.
type Line struct {
	Host string
	Tone Tone
	Msg  string
}

func (l Line) Text() string {
	if l.Host == "" {
		return l.Msg
	}
	return l.Host + " | " + l.Msg
}

// Tone says how a line is coloured on a terminal.
type Tone int

const (
	ToneNone Tone = iota
	ToneOK
	ToneChanged
	ToneFailed
	ToneUnreachable
	ToneSkipped
	ToneHeader
)

func toneOf(status string) Tone {
	switch status {
	case event.StatusOK:
		return ToneOK
	case event.StatusChanged, event.StatusRan:
		return ToneChanged
	case event.StatusFailed, event.StatusRefused, event.StatusRolledBack:
		return ToneFailed
	case event.StatusUnreachable:
		return ToneUnreachable
	case event.StatusSkipped:
		return ToneSkipped
	}
	return ToneNone
}

// Dur formats a duration for people: 850ms, 1.2s, 2m3s.
func Dur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// Plural is "1 host", "2 hosts", "2 batches": a count and its noun, for
// every summary line (the CLI's too).
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	if strings.HasSuffix(word, "ch") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func withReason(s, reason string) string {
	if reason != "" {
		return s + " (" + reason + ")"
	}
	return s
}

// Lines is how one event reads as text (none for events that only feed
// the live view, such as lock_acquired). Text from hosts is made inert
// (Clean), and a message of several lines becomes several lines, each with
// the host prefix, so that no host can draw a line that looks like
// another host's.
func Lines(e event.Event) []Line {
	var out []Line
	for _, l := range lines(e) {
		l.Host = Clean(l.Host)
		for _, part := range strings.Split(strings.TrimRight(l.Msg, "\n"), "\n") {
			out = append(out, Line{Host: l.Host, Tone: l.Tone, Msg: Clean(part)})
		}
	}
	return out
}

func lines(e event.Event) []Line {
	h := e.Host
	one := func(t Tone, msg string) []Line { return []Line{{Host: h, Tone: t, Msg: msg}} }
	switch e.Kind {
	case event.RunStarted:
		what := "push"
		if e.Command != "" {
			what = e.Command
		}
		if e.DryRun {
			what += " (dry run: nothing will change)"
		}
		return one(ToneHeader, fmt.Sprintf("%s: %s in %s", what, Plural(len(e.Hosts), "host"), Plural(e.Batches, "batch")))
	case event.BatchStarted:
		return one(ToneHeader, fmt.Sprintf("batch %d/%d: %s", e.Batch, e.Batches, strings.Join(e.Hosts, ", ")))
	case event.BatchFinished:
		return one(ToneNone, fmt.Sprintf("batch %d/%d done in %s", e.Batch, e.Batches, Dur(e.Duration)))
	case event.RunFinished:
		// Why the rollout stopped is said once, by the recap.
	case event.HostStarted:
		return one(ToneNone, "started")
	case event.HostFinished:
		if e.Status == event.StatusRefused {
			return one(ToneFailed, "REFUSED: "+e.Error)
		}
		msg := e.Status + " in " + Dur(e.Duration)
		if e.Error != "" {
			msg += ": " + e.Error
		}
		return one(toneOf(e.Status), msg)
	case event.HostUnreachable:
		return one(ToneUnreachable, "UNREACHABLE: "+e.Error)
	case event.HostSkipped:
		return one(ToneSkipped, withReason("skipped", e.Reason))
	case event.ResourcePlanned:
		if e.Action == "" || e.Action == "none" {
			return one(ToneOK, withReason(e.Resource+": no change", e.Reason))
		}
		return append(one(ToneChanged, withReason(e.Resource+": would "+e.Action, e.Reason)), diffLines(h, e.Diff)...)
	case event.ResourceOK:
		return one(ToneOK, withReason(e.Resource+": ok", e.Reason))
	case event.ResourceChanged:
		msg := withReason(e.Resource+": "+e.Action, e.Reason)
		if e.Duration > 0 {
			msg += " in " + Dur(e.Duration)
		}
		return append(one(ToneChanged, msg), diffLines(h, e.Diff)...)
	case event.ResourceFailed:
		msg := e.Resource + ": FAILED"
		if e.Action != "" && e.Action != "none" {
			msg = e.Resource + ": " + e.Action + " FAILED"
		}
		return one(ToneFailed, msg+": "+e.Error)
	case event.ResourceSkipped:
		return one(ToneSkipped, withReason(e.Resource+": skipped", e.Reason))
	case event.CommandOutput:
		return one(ToneNone, e.Stream+": "+e.Output)
	case event.CommandFinished:
		if e.Error != "" {
			return one(ToneFailed, "command FAILED: "+e.Error)
		}
		switch e.Status {
		case event.StatusOK:
			return one(ToneOK, "command done in "+Dur(e.Duration)+", nothing changed")
		case event.StatusChanged:
			return one(ToneChanged, "command done in "+Dur(e.Duration)+", changed")
		}
		return one(ToneChanged, "command done in "+Dur(e.Duration))
	case event.HealthCheck:
		if e.OK != nil && *e.OK {
			return one(ToneOK, fmt.Sprintf("health check passed (attempt %d)", e.Attempt))
		}
		return one(ToneFailed, fmt.Sprintf("health check failed (attempt %d): %s", e.Attempt, e.Error))
	case event.RollbackStarted:
		return one(ToneFailed, withReason("rolling back", e.Reason))
	case event.LockWaiting:
		return one(ToneNone, "waiting for lock: "+e.Reason)
	case event.LockBroken:
		return one(ToneChanged, "broke stale lock: "+e.Reason)
	case event.Warning:
		return one(ToneChanged, "warning: "+e.Error+e.Reason)
	}
	return nil
}

func diffLines(host string, diff []event.Change) []Line {
	var out []Line
	for _, c := range diff {
		out = append(out, Line{Host: host, Tone: ToneChanged, Msg: "    " + c.String()})
	}
	return out
}
