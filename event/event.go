// Package event is the vocabulary the core uses to say what happens during
// a push or a task. The core emits events; renderers in report/ print them.
// An event never carries a secret value: secrets appear only as references,
// and every string is masked before a renderer sees it.
package event

import "time"

type Kind string

const (
	RunStarted      Kind = "run_started"
	RunFinished     Kind = "run_finished"
	BatchStarted    Kind = "batch_started"
	BatchFinished   Kind = "batch_finished"
	HostStarted     Kind = "host_started"
	HostFinished    Kind = "host_finished"
	HostUnreachable Kind = "host_unreachable"
	HostSkipped     Kind = "host_skipped"
	ResourcePlanned Kind = "resource_planned" // dry-run and pre-apply plan
	ResourceOK      Kind = "resource_ok"      // matched, nothing done
	ResourceChanged Kind = "resource_changed"
	ResourceFailed  Kind = "resource_failed"
	ResourceSkipped Kind = "resource_skipped" // not run (earlier failure)
	CommandOutput   Kind = "command_output"   // a line of task output
	HealthCheck     Kind = "health_check"
	LockWaiting     Kind = "lock_waiting"
	Warning         Kind = "warning"
)

// Event is one thing that happened. Fields that do not apply are empty.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     Kind          `json:"kind"`
	Host     string        `json:"host,omitempty"`
	Batch    int           `json:"batch,omitempty"` // 1-based
	Resource string        `json:"resource,omitempty"`
	Type     string        `json:"type,omitempty"`
	Action   string        `json:"action,omitempty"` // none, create, start, recreate, pull, ...
	Reason   string        `json:"reason,omitempty"`
	Diff     []string      `json:"diff,omitempty"` // one line per differing field
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
	Stream   string        `json:"stream,omitempty"` // stdout/stderr for CommandOutput
	OK       *bool         `json:"ok,omitempty"`     // health check result
}

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }
