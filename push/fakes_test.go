package push

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/transport"
)

// localRunner runs commands on this machine, as the transport's local
// connection would: the lock scripts are tested for real.
type localRunner struct{ name string }

func (l localRunner) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	var c *exec.Cmd
	if cmd.Shell != "" {
		c = exec.CommandContext(ctx, "sh", "-c", cmd.Shell)
	} else {
		c = exec.CommandContext(ctx, cmd.Argv[0], cmd.Argv[1:]...)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if cmd.Stdout != nil {
		c.Stdout = io.MultiWriter(&out, cmd.Stdout)
	}
	if cmd.Stderr != nil {
		c.Stderr = io.MultiWriter(&errb, cmd.Stderr)
	}
	c.Stdin = cmd.Stdin
	err := c.Run()
	res := transport.ExecResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, &transport.ExitError{Host: l.name, Cmd: strings.Join(c.Args, " "), ExitCode: res.ExitCode, Stderr: transport.LastLine(string(res.Stderr))}
	}
	return res, err
}

// recorder is a sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

func (r *recorder) find(kind event.Kind, host string) (event.Event, bool) {
	for _, e := range r.all() {
		if e.Kind == kind && e.Host == host {
			return e, true
		}
	}
	return event.Event{}, false
}

func hostNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, "h"+string(rune('0'+i)))
	}
	return out
}

func statusOf(t *testing.T, r Result) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range r.Hosts {
		m[h.Host] = h.Status
	}
	return m
}
