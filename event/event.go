// Package event is the vocabulary the core uses to say what happens during
// a push or a task. The core emits events; renderers in report/ print them.
// An event never carries a secret value: secrets appear only as references,
// and every string is masked (secrets.Masker.Sink) before a renderer sees it.
package event

import (
	"strings"
	"sync"
	"time"
)

type Kind string

const (
	RunStarted      Kind = "run_started"
	RunFinished     Kind = "run_finished"
	BatchStarted    Kind = "batch_started"
	BatchFinished   Kind = "batch_finished"
	HostStarted     Kind = "host_started"
	HostFinished    Kind = "host_finished" // Status says how it ended
	HostUnreachable Kind = "host_unreachable"
	HostSkipped     Kind = "host_skipped"     // never started (rollout halted, interrupted, fail-fast)
	ResourcePlanned Kind = "resource_planned" // dry-run and pre-apply plan
	ResourceOK      Kind = "resource_ok"      // matched, nothing done
	ResourceChanged Kind = "resource_changed"
	ResourceFailed  Kind = "resource_failed"
	ResourceSkipped Kind = "resource_skipped" // not run (earlier failure)
	CommandOutput   Kind = "command_output"   // a line of task output
	CommandFinished Kind = "command_finished" // a task command ended: Status ran, changed or ok; Error set when it failed
	HealthCheck     Kind = "health_check"     // one attempt; OK says how it went
	LockWaiting     Kind = "lock_waiting"     // Reason names the holder
	LockAcquired    Kind = "lock_acquired"
	LockReleased    Kind = "lock_released"
	LockBroken      Kind = "lock_broken" // a stale lock was removed; Reason says why
	Warning         Kind = "warning"
	RollbackStarted Kind = "rollback_started" // push --rollback-on-failure: the host goes back; Reason says why
)

// Host statuses carried by HostFinished (and implied by HostUnreachable
// and HostSkipped).
const (
	StatusOK          = "ok"          // reachable, every resource matched
	StatusChanged     = "changed"     // reachable, something changed
	StatusFailed      = "failed"      // a resource, the command, the lock or the health check failed
	StatusUnreachable = "unreachable" // could not connect
	StatusRefused     = "refused"     // its host key was refused: changed, or unknown (HostFinished's Error says which, and the fix)
	StatusSkipped     = "skipped"     // not started
	StatusRan         = "ran"         // a task command ran; whether it changed anything is unknown (see task run --changed-when)
	StatusRolledBack  = "rolled_back" // push --rollback-on-failure: the health check failed and the host went back to what it ran before
)

// Event is one thing that happened. Fields that do not apply are empty.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     Kind          `json:"kind"`
	Host     string        `json:"host,omitempty"`
	Batch    int           `json:"batch,omitempty"` // 1-based
	Batches  int           `json:"batches,omitempty"`
	Hosts    []string      `json:"hosts,omitempty"` // BatchStarted, RunStarted
	Resource string        `json:"resource,omitempty"`
	Type     string        `json:"type,omitempty"`
	Action   string        `json:"action,omitempty"` // none, create, start, recreate, pull, ...
	Reason   string        `json:"reason,omitempty"`
	Diff     []Change      `json:"diff,omitempty"` // one per differing field
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
	Stream   string        `json:"stream,omitempty"` // stdout/stderr for CommandOutput
	OK       *bool         `json:"ok,omitempty"`     // health check result
	Attempt  int           `json:"attempt,omitempty"`
	Status   string        `json:"status,omitempty"` // HostFinished, CommandFinished: one of the Status constants
	Command  string        `json:"command,omitempty"`
	DryRun   bool          `json:"dry_run,omitempty"`
	// Phases: HostFinished says where the host's time went (connect,
	// lock, observe, plan, gate, apply, health, release).
	Phases map[string]time.Duration `json:"phases_ns,omitempty"`
}

// Bool returns a pointer to b, for Event.OK.
func Bool(b bool) *bool { return &b }

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Sink = SinkFunc(func(Event) {})

// Tee sends each event to every sink in order.
func Tee(sinks ...Sink) Sink {
	return SinkFunc(func(e Event) {
		for _, s := range sinks {
			s.Emit(e)
		}
	})
}

// Serial wraps a sink so that Emit calls never overlap: renderers can be
// written as if single-threaded, and events keep the order they were
// emitted in.
func Serial(s Sink) Sink {
	var mu sync.Mutex
	return SinkFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		s.Emit(e)
	})
}

// Change is one difference a plan found between what a resource declares
// and what the host has: the field, and the values before and after as
// the plan shows them. It is data: renderers format it (String is the
// text form every text renderer uses), the JSON report ships it as an
// object, and nothing parses a rendered change back. A value that may be
// a secret is never put in From or To: a secret is shown as its
// reference (secret:PATH), and an observed value that may have been one
// is left out (Note says "changed").
type Change struct {
	Field string `json:"field"` // e.g. image, environment.DATABASE_URL, labels.tier
	// Subject names what From and To are of, when the field alone does
	// not (an image reference whose tag changes, a network's name).
	Subject string `json:"subject,omitempty"`
	From    string `json:"from,omitempty"` // the observed value ("": not shown)
	To      string `json:"to,omitempty"`   // the declared value ("": none)
	// Note qualifies the change: added, changed, removed, or why.
	Note string `json:"note,omitempty"`
}

// Value is the change without its field: "SUBJECT FROM -> TO (NOTE)",
// each part only when set.
func (c Change) Value() string {
	var parts []string
	if c.Subject != "" {
		parts = append(parts, c.Subject)
	}
	if c.From != "" {
		parts = append(parts, c.From, "->")
	}
	if c.To != "" {
		parts = append(parts, c.To)
	}
	if c.Note != "" {
		parts = append(parts, "("+c.Note+")")
	}
	return strings.Join(parts, " ")
}

// String is the change's text form: "FIELD: VALUE".
func (c Change) String() string {
	if v := c.Value(); v != "" {
		return c.Field + ": " + v
	}
	return c.Field + ":"
}

// Lines are the text forms of changes, one per change.
func Lines(cs []Change) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}
