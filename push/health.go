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
	"github.com/vigo-sh/vigocli/transport"
)

// healthCheck runs h.Cmd on the host until it exits 0, at most
// 1+h.Retries times, and emits one HealthCheck event per attempt.
func healthCheck(ctx context.Context, r Remote, h Health, sink event.Sink) error {
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
func runShell(ctx context.Context, r Remote, shell string, timeout time.Duration, sink event.Sink) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := transport.Cmd{Shell: shell}
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
		err = &transport.ExitError{Cmd: shell, ExitCode: res.ExitCode, Stderr: lastLine(res.Stderr)}
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded && timeout > 0 {
		return fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// lineWriter turns a byte stream into one CommandOutput event per line,
// so that a line (and a secret in it) is never split across two events.
type lineWriter struct {
	mu     sync.Mutex
	sink   event.Sink
	stream string
	buf    []byte
}

func newLineWriter(s event.Sink, stream string) *lineWriter {
	return &lineWriter{sink: s, stream: stream}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	w.sink.Emit(event.Event{Kind: event.CommandOutput, Stream: w.stream, Output: strings.TrimRight(line, "\r")})
}

// Flush emits a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}
