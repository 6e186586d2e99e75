package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// healthCheck runs h.Cmd on the host until it exits 0, at most
// 1+h.Retries times, and emits one HealthCheck event per attempt.
func healthCheck(ctx context.Context, r lock.Runner, h Health, sink event.Sink) error {
	var last error
	for attempt := 1; attempt <= 1+max(h.Retries, 0); attempt++ {
		if attempt > 1 && h.Interval > 0 {
			t := time.NewTimer(h.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("health check %q: %w", h.Cmd, ctx.Err())
			case <-t.C:
			}
		}
		start := time.Now()
		err := runShell(ctx, r, h.Cmd, h.Timeout, nil)
		ev := event.Event{Kind: event.HealthCheck, Command: h.Cmd, Attempt: attempt, OK: event.Bool(err == nil), Duration: time.Since(start)}
		if err != nil {
			ev.Error = err.Error()
		}
		sink.Emit(ev)
		if err == nil {
			return nil
		}
		if errors.Is(err, transport.ErrUnreachable) || ctx.Err() != nil {
			return fmt.Errorf("health check %q: %w", h.Cmd, err)
		}
		last = err
	}
	return fmt.Errorf("health check %q failed after %d attempt(s): %w", h.Cmd, 1+max(h.Retries, 0), last)
}

// runShell runs an operator-written shell command with an optional
// timeout; output lines go to sink as CommandOutput events when sink is
// not nil. A non-zero exit is an error.
func runShell(ctx context.Context, r lock.Runner, shell string, timeout time.Duration, sink event.Sink) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// Timeout -1: an operator's command is bounded by its own timeout
	// (--timeout, --health-timeout) and the host deadline, not by the
	// transport's per-command limit.
	cmd := transport.Cmd{Shell: shell, Timeout: -1}
	var stdout, stderr *lineWriter
	if sink != nil {
		stdout, stderr = newLineWriter(sink, "stdout"), newLineWriter(sink, "stderr")
		cmd.Stdout, cmd.Stderr = stdout, stderr
	}
	res, err := r.Exec(ctx, cmd)
	if sink != nil {
		stdout.Flush()
		stderr.Flush()
	}
	if err == nil && res.ExitCode != 0 {
		err = &transport.ExitError{Cmd: shell, ExitCode: res.ExitCode, Stderr: transport.LastLine(string(res.Stderr))}
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded && timeout > 0 {
		return fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

// maxLine is the longest output line kept. A longer one (a host printing
// megabytes without a newline) is not shown at all, only its length: cut
// in pieces, a secret in it could straddle two events and escape the
// masker, which sees one event at a time.
const maxLine = 1 << 20

// lineWriter turns a byte stream into one CommandOutput event per line,
// so that a line (and a secret in it) is never split across two events.
type lineWriter struct {
	mu      sync.Mutex
	sink    event.Sink
	stream  string
	buf     []byte
	dropped int // bytes of an over-long line dropped so far
}

func newLineWriter(s event.Sink, stream string) *lineWriter {
	return &lineWriter{sink: s, stream: stream}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.add(p)
			break
		}
		w.add(p[:i])
		w.end()
		p = p[i+1:]
	}
	return n, nil
}

// add appends to the current line, or counts it once it is too long.
func (w *lineWriter) add(p []byte) {
	if w.dropped == 0 && len(w.buf)+len(p) <= maxLine {
		w.buf = append(w.buf, p...)
		return
	}
	w.dropped += len(w.buf) + len(p)
	w.buf = w.buf[:0]
}

// end emits the current line.
func (w *lineWriter) end() {
	if w.dropped > 0 {
		w.sink.Emit(event.Event{Kind: event.CommandOutput, Stream: w.stream,
			Output: fmt.Sprintf("(a line of %d bytes, longer than %d, not shown)", w.dropped, maxLine)})
		w.dropped = 0
		return
	}
	w.sink.Emit(event.Event{Kind: event.CommandOutput, Stream: w.stream, Output: strings.TrimRight(string(w.buf), "\r")})
	w.buf = w.buf[:0]
}

// Flush emits a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 || w.dropped > 0 {
		w.end()
	}
}
