package push

import (
	"context"
	"fmt"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// TaskJob runs an operator-written shell command on each host (vigocli
// task run). Its output is streamed as CommandOutput events, one per
// line; a non-zero exit fails the host. A command that ran counts as one
// changed step, as Ansible counts a shell task.
func TaskJob(command string, timeout time.Duration) Job {
	return Job{Run: func(ctx context.Context, host string, batch int, r Remote, sink event.Sink) (Outcome, error) {
		start := time.Now()
		err := runShell(ctx, r, command, timeout, sink)
		ev := event.Event{Kind: event.CommandFinished, Command: command, Duration: time.Since(start)}
		if err != nil {
			ev.Error = err.Error()
			sink.Emit(ev)
			return Outcome{Failed: 1}, fmt.Errorf("task %q: %w", command, err)
		}
		sink.Emit(ev)
		return Outcome{Changed: 1}, nil
	}}
}
