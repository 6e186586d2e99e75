package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/vigo-sh/vigocli/event"
)

// IsTerminal reports whether f is a terminal (and not CI, where logs are
// files even when a pty is attached).
func IsTerminal(f *os.File) bool {
	if os.Getenv("CI") == "true" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Colour reports whether output to f may be coloured: only on a terminal
// and only when NO_COLOR is unset or empty (https://no-color.org).
func Colour(f *os.File) bool {
	return os.Getenv("NO_COLOR") == "" && IsTerminal(f)
}

func paintTone(t Tone, s string) string {
	code := ""
	switch t {
	case ToneOK:
		code = "32"
	case ToneChanged:
		code = "33"
	case ToneFailed:
		code = "31"
	case ToneUnreachable:
		code = "35"
	case ToneSkipped:
		code = "2"
	case ToneHeader:
		code = "1"
	}
	if code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// TTY is the live view on a terminal: what matters (changes, failures,
// task output) scrolls as lines, and below them one status line per host
// of the current batch is redrawn in place.
type TTY struct {
	mu     sync.Mutex
	w      io.Writer
	colour bool
	width  int

	active []string
	state  map[string]hostState
	drawn  int // status lines currently on screen
}

type hostState struct {
	tone Tone
	mark string
	text string
}

// NewTTY renders to w, a terminal width columns wide (0: 80).
func NewTTY(w io.Writer, colour bool, width int) *TTY {
	if width <= 0 {
		width = 80
	}
	return &TTY{w: w, colour: colour, width: width, state: map[string]hostState{}}
}

// NewTTYFile renders to the terminal f, sized from it.
func NewTTYFile(f *os.File) *TTY {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		w = 80
	}
	return NewTTY(f, os.Getenv("NO_COLOR") == "", w)
}

func (t *TTY) paint(tone Tone, s string) string {
	if !t.colour {
		return s
	}
	return paintTone(tone, s)
}

// scrolls says which events leave a line in the scrollback; the others
// only update a host's status line.
func scrolls(e event.Event) bool {
	switch e.Kind {
	case event.RunStarted, event.BatchStarted, event.HostUnreachable, event.HostSkipped,
		event.ResourceChanged, event.ResourceFailed, event.CommandOutput, event.LockWaiting, event.LockBroken, event.Warning, event.RollbackStarted:
		return true
	case event.ResourcePlanned:
		return e.Action != "" && e.Action != "none"
	case event.HealthCheck:
		return e.OK == nil || !*e.OK
	case event.HostFinished:
		return e.Status == event.StatusFailed || e.Status == event.StatusRefused || e.Status == event.StatusRolledBack
	}
	return false
}

func (t *TTY) update(e event.Event) {
	h := e.Host
	st := t.state[h]
	switch e.Kind {
	case event.BatchStarted:
		t.active = append([]string(nil), e.Hosts...)
		for _, x := range e.Hosts {
			t.state[x] = hostState{mark: "·", text: "waiting"}
		}
		return
	case event.HostStarted:
		st = hostState{mark: "›", text: "connecting"}
	case event.LockWaiting:
		st.text = "waiting for lock"
	case event.LockAcquired:
		st.text = "locked"
	case event.ResourcePlanned, event.ResourceOK, event.ResourceChanged:
		st.text = e.Resource + ": " + map[bool]string{true: "ok", false: e.Action}[e.Kind == event.ResourceOK || e.Action == "none" || e.Action == ""]
	case event.ResourceFailed:
		st.text, st.tone = e.Resource+": failed", ToneFailed
	case event.CommandOutput:
		st.text = "running"
	case event.HealthCheck:
		st.text = fmt.Sprintf("health check (attempt %d)", e.Attempt)
	case event.RollbackStarted:
		st.text, st.tone = "rolling back", ToneFailed
	case event.HostFinished, event.HostUnreachable:
		status := e.Status
		if e.Kind == event.HostUnreachable {
			status = event.StatusUnreachable
		}
		st.tone = toneOf(status)
		st.mark = map[string]string{event.StatusOK: "✓", event.StatusChanged: "✓", event.StatusRan: "✓", event.StatusFailed: "✗", event.StatusRolledBack: "↶", event.StatusUnreachable: "!", event.StatusRefused: "!"}[status]
		st.text = status + " in " + Dur(e.Duration)
	case event.HostSkipped:
		st = hostState{tone: ToneSkipped, mark: "-", text: withReason("skipped", e.Reason)}
	default:
		return
	}
	if h != "" {
		t.state[h] = st
	}
}

func (t *TTY) fit(s string) string {
	if utf8.RuneCountInString(s) < t.width {
		return s
	}
	r := []rune(s)
	return string(r[:t.width-2]) + "…"
}

func (t *TTY) statusLines() []string {
	wd := 0
	for _, h := range t.active {
		wd = max(wd, len(h))
	}
	var out []string
	for _, h := range t.active {
		st := t.state[h]
		out = append(out, t.paint(st.tone, t.fit(Clean(fmt.Sprintf("  %s %-*s  %s", st.mark, wd, h, st.text)))))
	}
	return out
}

func (t *TTY) Emit(e event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if t.drawn > 0 { // back to the top of the status block, and clear it
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", t.drawn)
		t.drawn = 0
	}
	if e.Kind == event.BatchFinished {
		// The batch's final statuses stay in the scrollback.
		for _, l := range t.statusLines() {
			b.WriteString(l + "\n")
		}
		t.active = nil
	}
	if scrolls(e) {
		for _, l := range Lines(e) {
			b.WriteString(t.paint(l.Tone, l.Text()) + "\n")
		}
	}
	t.update(e)
	for _, l := range t.statusLines() {
		b.WriteString(l + "\n")
		t.drawn++
	}
	io.WriteString(t.w, b.String())
}
