package push

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// ChangedWhen says how to tell whether a task command changed anything.
// The zero value cannot tell: the command counts as ran, neither ok nor
// changed, because vigo does not know what an operator's command did.
type ChangedWhen struct {
	// ExitCode, when set, is the exit code that means "changed": 0 then
	// means ok (nothing changed) and any other code fails the host.
	ExitCode *int
	// Output, when set, means "changed" when a line the command printed
	// (stdout or stderr) matches it, and ok otherwise.
	Output *regexp.Regexp
}

// ParseChangedWhen parses task run's --changed-when: "exit:N" (exit code
// N means changed) or "output:REGEXP" (a matching output line means
// changed). The empty string is the zero ChangedWhen.
func ParseChangedWhen(s string) (ChangedWhen, error) {
	if s == "" {
		return ChangedWhen{}, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	switch {
	case ok && kind == "exit":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > 255 {
			return ChangedWhen{}, fmt.Errorf("exit:%s: want an exit code from 1 to 255 (0 means nothing changed)", arg)
		}
		return ChangedWhen{ExitCode: &n}, nil
	case ok && kind == "output":
		if arg == "" {
			return ChangedWhen{}, errors.New("output: needs a regular expression")
		}
		re, err := regexp.Compile(arg)
		if err != nil {
			return ChangedWhen{}, fmt.Errorf("output:%s: %w", arg, err)
		}
		return ChangedWhen{Output: re}, nil
	}
	return ChangedWhen{}, fmt.Errorf("%q: want exit:N or output:REGEXP", s)
}

// TaskJob runs an operator-written shell command on each host (vigocli
// task run). Its output is streamed as CommandOutput events, one per
// line; a non-zero exit fails the host (unless it is changed.ExitCode). A
// command that ran counts as ran, not changed, unless changed says how to
// tell. The command runs once the host's lock is held.
func TaskJob[C lock.Runner](command string, timeout time.Duration, changed ChangedWhen) Job[C] {
	return Job[C]{Run: func(ctx context.Context, h Host[C]) (Outcome, error) {
		if _, err := h.Gate(ctx, time.Now()); err != nil {
			return Outcome{}, err
		}
		sink := h.Sink
		start := time.Now()
		var m *matchSink
		out := sink
		if changed.Output != nil {
			m = &matchSink{next: sink, re: changed.Output}
			out = m
		}
		err := runShell(ctx, h.Conn, command, timeout, out)
		status := event.StatusRan
		var exit *transport.ExitError
		switch {
		case err == nil && changed.ExitCode != nil:
			status = event.StatusOK
		case changed.ExitCode != nil && errors.As(err, &exit) && exit.ExitCode == *changed.ExitCode:
			status, err = event.StatusChanged, nil
		case err == nil && m != nil:
			status = event.StatusOK
			if m.matched() {
				status = event.StatusChanged
			}
		}
		ev := event.Event{Kind: event.CommandFinished, Command: command, Duration: time.Since(start), Status: status}
		if err != nil {
			ev.Status, ev.Error = event.StatusFailed, err.Error()
			sink.Emit(ev)
			return Outcome{Failed: 1}, fmt.Errorf("task %q: %w", command, err)
		}
		sink.Emit(ev)
		switch status {
		case event.StatusChanged:
			return Outcome{Changed: 1}, nil
		case event.StatusOK:
			return Outcome{OK: 1}, nil
		}
		return Outcome{Ran: 1}, nil
	}}
}

// matchSink passes events on and remembers whether an output line
// matched.
type matchSink struct {
	next event.Sink
	re   *regexp.Regexp
	mu   sync.Mutex
	hit  bool
}

func (s *matchSink) Emit(e event.Event) {
	if e.Kind == event.CommandOutput && s.re.MatchString(e.Output) {
		s.mu.Lock()
		s.hit = true
		s.mu.Unlock()
	}
	s.next.Emit(e)
}

func (s *matchSink) matched() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hit
}
