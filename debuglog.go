package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/secrets"
	"github.com/vigo-sh/vigocli/transport"
)

// The --verbose/--debug log. Everything it writes goes through the run's
// secrets masker on whole lines (secrets.Masker.Writer), and the events it
// logs have been masked already (it sits behind masker.Sink like every
// renderer): a value resolved for a host is masked in the log from the
// moment it is resolved, before it can reach any line.
//
//	--verbose: connections (and dial retries), batches, and each host's end
//	           with its phase timings (connect, lock, observe, plan, apply,
//	           health, ...)
//	--debug:   also every event, every remote command (its first line),
//	           file operation and Docker engine API request

// openDebugLog returns the logger the flags ask for (a discarding one when
// neither --verbose nor --debug is given) and a function that flushes and
// closes it.
func openDebugLog(c *cli.Context, masker *secrets.Masker) (*slog.Logger, func() error, error) {
	level := slog.LevelInfo
	switch {
	case c.Bool("debug"):
		level = slog.LevelDebug
	case c.Bool("verbose"):
	default:
		if c.String("log-file") != "" {
			level = slog.LevelDebug // a log file alone asks for the log
			break
		}
		return slog.New(slog.DiscardHandler), func() error { return nil }, nil
	}
	var dest io.Writer = c.App.ErrWriter
	closeFile := func() error { return nil }
	if path := c.String("log-file"); path != "" {
		f, err := openLogFile(path)
		if err != nil {
			return nil, nil, withCode(exitInvalid, fmt.Errorf("--log-file: %w", err))
		}
		dest, closeFile = f, f.Close
	}
	// Masked twice: each value before the handler quotes it (a value
	// that a host already escaped, as JSON in docker inspect, would be
	// escaped once more by the quoting, into a form the masker does not
	// know), then each whole line.
	mw := masker.Writer(dest)
	log := slog.New(slog.NewTextHandler(mw, &slog.HandlerOptions{Level: level, ReplaceAttr: maskAttr(masker)}))
	return log, func() error {
		err := mw.Close()
		if cerr := closeFile(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// maskAttr masks an attribute's text (strings, errors, anything printed
// with %v) before the handler formats it.
func maskAttr(masker *secrets.Masker) func([]string, slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(masker.String(a.Value.String()))
		case slog.KindAny:
			a.Value = slog.StringValue(masker.String(fmt.Sprint(a.Value.Any())))
		}
		return a
	}
}

// openLogFile opens path for appending, created 0600; an existing file is
// narrowed to 0600 through its descriptor. A symbolic link is refused (a
// log written as root must not follow a link another user planted).
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// logSink logs events: batches and host ends (with phases) at info, the
// rest at debug.
func logSink(log *slog.Logger) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		ctx := context.Background()
		attrs := []any{"kind", string(e.Kind)}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, k, v)
			}
		}
		add("host", e.Host)
		add("resource", e.Resource)
		add("action", e.Action)
		add("status", e.Status)
		add("reason", e.Reason)
		add("error", e.Error)
		if e.Batch > 0 {
			attrs = append(attrs, "batch", e.Batch)
		}
		if e.Duration > 0 {
			attrs = append(attrs, "took", e.Duration.Round(time.Millisecond))
		}
		for _, p := range []string{"connect", "lock", "observe", "plan", "gate", "apply", "health", "release"} {
			if d, ok := e.Phases[p]; ok {
				attrs = append(attrs, "phase_"+p, d.Round(time.Millisecond))
			}
		}
		switch e.Kind {
		case event.RunStarted, event.RunFinished, event.BatchStarted, event.BatchFinished,
			event.HostFinished, event.HostUnreachable, event.HostSkipped:
			log.Log(ctx, slog.LevelInfo, "event", attrs...)
		default:
			log.Log(ctx, slog.LevelDebug, "event", attrs...)
		}
	})
}

// loggedConnector logs each connection and wraps what it returns so that
// remote commands, file operations and Docker engine requests are logged.
func loggedConnector(next push.Connector[executors.Host], log *slog.Logger) push.Connector[executors.Host] {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return next
	}
	return push.ConnectorFunc[executors.Host](func(ctx context.Context, host string) (executors.Host, error) {
		t := time.Now()
		r, err := next.Connect(ctx, host)
		if err != nil {
			log.Debug("connect failed", "host", host, "took", time.Since(t).Round(time.Millisecond), "error", err.Error())
			return nil, err
		}
		log.Debug("connection ready", "host", host, "took", time.Since(t).Round(time.Millisecond))
		return &loggedHost{Host: r, log: log.With("host", host)}, nil
	})
}

// loggedHost is an executors.Host that logs what it is asked to do.
// File contents are never logged, only paths and sizes.
type loggedHost struct {
	executors.Host
	log *slog.Logger
}

// Release passes push's release on to the connection.
func (h *loggedHost) Release() {
	if r, ok := h.Host.(push.Releaser); ok {
		r.Release()
	}
}

func (h *loggedHost) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	t := time.Now()
	res, err := h.Host.Exec(ctx, cmd)
	h.log.Debug("exec", "cmd", commandSummary(cmd), "exit", res.ExitCode, "took", time.Since(t).Round(time.Millisecond), errAttr(err))
	return res, err
}

func (h *loggedHost) WriteFile(ctx context.Context, path string, data []byte, opts transport.FileOptions) (bool, error) {
	t := time.Now()
	changed, err := h.Host.WriteFile(ctx, path, data, opts)
	h.log.Debug("write file", "path", path, "bytes", len(data), "changed", changed, "took", time.Since(t).Round(time.Millisecond), errAttr(err))
	return changed, err
}

func (h *loggedHost) RemoveFile(ctx context.Context, path string) error {
	err := h.Host.RemoveFile(ctx, path)
	h.log.Debug("remove file", "path", path, errAttr(err))
	return err
}

func (h *loggedHost) DialDocker(ctx context.Context) (net.Conn, error) {
	t := time.Now()
	c, err := h.Host.DialDocker(ctx)
	h.log.Debug("docker stream", "took", time.Since(t).Round(time.Millisecond), errAttr(err))
	if err != nil {
		return nil, err
	}
	return &engineConn{Conn: c, log: h.log}, nil
}

// engineConn logs the request line of each HTTP request written to the
// Docker engine (method and path, e.g. GET /v1.47/containers/json): one
// line per request; headers and bodies are never logged.
type engineConn struct {
	net.Conn
	log *slog.Logger
	mu  sync.Mutex
}

func (c *engineConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if line, ok := requestLine(p); ok {
		c.log.Debug("engine request", "request", line)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// requestLine is "METHOD PATH" when p begins an HTTP/1.x request.
func requestLine(p []byte) (string, bool) {
	line, _, _ := bytes.Cut(p, []byte("\r\n"))
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !bytes.HasSuffix(rest, []byte(" HTTP/1.1")) && !bytes.HasSuffix(rest, []byte(" HTTP/1.0")) {
		return "", false
	}
	switch string(method) {
	case "GET", "POST", "PUT", "DELETE", "HEAD":
	default:
		return "", false
	}
	return string(method) + " " + string(rest[:len(rest)-len(" HTTP/1.1")]), true
}

// commandSummary is what the log says of a remote command: the operator's
// shell command or the argv, first line only and at most 200 bytes (the
// lock's own script is long).
func commandSummary(cmd transport.Cmd) string {
	s := cmd.Shell
	if s == "" {
		s = strings.Join(cmd.Argv, " ")
	}
	first, _, multi := strings.Cut(s, "\n")
	if len(first) > 200 {
		first = first[:200] + "…"
	}
	if multi {
		first += fmt.Sprintf(" … (%d lines)", strings.Count(strings.TrimRight(s, "\n"), "\n")+1)
	}
	return first
}

// errAttr is the error of an operation, or nothing (an empty Attr is
// left out by slog's handlers).
func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String("error", err.Error())
}
