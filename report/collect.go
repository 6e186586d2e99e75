// Package report turns the events of a push or a task into what people
// and CI systems read: live terminal progress, plain lines, a JSON
// document, a JUnit XML report and an Ansible-like recap. It only reads
// events; it never changes state, and it only ever sees masked strings
// (the caller puts secrets.Masker.Sink in front of it).
package report

import (
	"sync"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// Counts are the recap's numbers for one host (or, summed, for a run).
type Counts struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Unreachable int `json:"unreachable"`
	Refused     int `json:"refused"` // host key refused (changed, or unknown)
	Skipped     int `json:"skipped"`
	// Ran: task commands that ran without a way to tell whether they
	// changed anything (task run --changed-when gives one).
	Ran int `json:"ran"`
	// RolledBack: hosts that failed their health check and went back to
	// what they ran before (push --rollback-on-failure).
	RolledBack int `json:"rolled_back"`
}

func (c *Counts) add(o Counts) {
	c.OK += o.OK
	c.Changed += o.Changed
	c.Failed += o.Failed
	c.Unreachable += o.Unreachable
	c.Refused += o.Refused
	c.Skipped += o.Skipped
	c.Ran += o.Ran
	c.RolledBack += o.RolledBack
}

// Resource is one resource (or one task command) on one host.
type Resource struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Status   string         `json:"status"` // ok, changed, ran, failed, skipped
	Action   string         `json:"action"`
	Reason   string         `json:"reason,omitempty"`
	Diff     []event.Change `json:"diff,omitempty"`
	Duration time.Duration  `json:"-"`
	Error    string         `json:"error,omitempty"`
}

// HealthAttempt is one run of the health check.
type HealthAttempt struct {
	Attempt  int           `json:"attempt"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"-"`
	Error    string        `json:"error,omitempty"`
}

// OutputLine is one line a task command printed.
type OutputLine struct {
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// Host is everything that happened on one host.
type Host struct {
	Name      string
	Batch     int
	Status    string // event.Status*, "pending" until it ends
	Started   time.Time
	Duration  time.Duration
	Error     string
	Reason    string // why it was skipped
	Resources []*Resource
	Health    []HealthAttempt
	Output    []OutputLine
	Lock      []string // lock waits and broken stale locks
	// Phases: where the host's time went (connect, lock, observe, plan,
	// gate, apply, health), from its HostFinished event.
	Phases map[string]time.Duration
}

// Counts are the host's recap numbers: resources by outcome, plus one
// failed step when the host failed outside its resources (lock, secret,
// health check), one unreachable, refused or skipped for the host itself.
func (h *Host) Counts() Counts {
	var c Counts
	resFailed := 0
	for _, r := range h.Resources {
		switch r.Status {
		case event.StatusOK:
			c.OK++
		case event.StatusChanged:
			c.Changed++
		case event.StatusFailed:
			c.Failed++
			resFailed++
		case event.StatusSkipped:
			c.Skipped++
		case event.StatusRan:
			c.Ran++
		}
	}
	switch h.Status {
	case event.StatusFailed:
		if resFailed == 0 {
			c.Failed++
		}
	case event.StatusUnreachable:
		c.Unreachable++
	case event.StatusRefused:
		c.Refused++
	case event.StatusSkipped:
		c.Skipped++
	}
	return c
}

// Run is the whole push or task as the events told it.
type Run struct {
	Command  string
	DryRun   bool
	Started  time.Time
	Finished time.Time
	Duration time.Duration
	Batches  int
	Halted   string
	Hosts    []*Host
	Warnings []string // warning events, a host's prefixed with "HOST: "
}

// Summary sums the hosts' counts; Hosts counts hosts by final status.
func (r *Run) Summary() (steps Counts, hosts Counts) {
	for _, h := range r.Hosts {
		steps.add(h.Counts())
		switch h.Status {
		case event.StatusOK:
			hosts.OK++
		case event.StatusChanged:
			hosts.Changed++
		case event.StatusFailed:
			hosts.Failed++
		case event.StatusUnreachable:
			hosts.Unreachable++
		case event.StatusRefused:
			hosts.Refused++
		case event.StatusSkipped:
			hosts.Skipped++
		case event.StatusRan:
			hosts.Ran++
		case event.StatusRolledBack:
			hosts.RolledBack++
		}
	}
	return steps, hosts
}

// Collector is a Sink that builds a Run from events.
type Collector struct {
	mu    sync.Mutex
	run   Run
	index map[string]*Host
}

func NewCollector() *Collector { return &Collector{index: map[string]*Host{}} }

// Run returns what was collected so far (do not use it concurrently with
// Emit).
func (c *Collector) Run() *Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &c.run
}

func (c *Collector) host(name string) *Host {
	h := c.index[name]
	if h == nil {
		h = &Host{Name: name, Status: "pending"}
		c.index[name] = h
		c.run.Hosts = append(c.run.Hosts, h)
	}
	return h
}

func resourceStatus(e event.Event) string {
	switch e.Kind {
	case event.ResourceOK:
		return event.StatusOK
	case event.ResourceChanged:
		return event.StatusChanged
	case event.ResourceFailed:
		return event.StatusFailed
	case event.ResourceSkipped:
		return event.StatusSkipped
	case event.ResourcePlanned: // dry-run: what would happen
		if e.Action == "" || e.Action == "none" {
			return event.StatusOK
		}
		return event.StatusChanged
	}
	return ""
}

func (c *Collector) Emit(e event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case event.RunStarted:
		c.run.Command, c.run.DryRun, c.run.Started, c.run.Batches = e.Command, e.DryRun, e.Time, e.Batches
		for _, h := range e.Hosts {
			c.host(h)
		}
		return
	case event.RunFinished:
		c.run.Finished, c.run.Duration, c.run.Halted = e.Time, e.Duration, e.Reason
		return
	case event.Warning:
		w := e.Error + e.Reason
		if e.Host != "" {
			w = e.Host + ": " + w
		}
		c.run.Warnings = append(c.run.Warnings, w)
		return
	}
	if e.Host == "" {
		return
	}
	h := c.host(e.Host)
	if e.Batch != 0 {
		h.Batch = e.Batch
	}
	switch e.Kind {
	case event.HostStarted:
		h.Started, h.Status = e.Time, "running"
	case event.HostFinished, event.HostUnreachable:
		h.Status, h.Duration, h.Error, h.Phases = e.Status, e.Duration, e.Error, e.Phases
		if e.Kind == event.HostUnreachable {
			h.Status = event.StatusUnreachable
		}
	case event.HostSkipped:
		h.Status, h.Reason = event.StatusSkipped, e.Reason
	case event.ResourcePlanned, event.ResourceOK, event.ResourceChanged, event.ResourceFailed, event.ResourceSkipped:
		r := &Resource{Name: e.Resource, Type: e.Type, Status: resourceStatus(e), Action: e.Action, Reason: e.Reason, Diff: e.Diff, Duration: e.Duration, Error: e.Error}
		if r.Action == "" {
			r.Action = "none"
		}
		// A later event about the same resource (planned, then changed)
		// replaces the earlier one.
		for i, old := range h.Resources {
			if old.Name == r.Name {
				h.Resources[i] = r
				return
			}
		}
		h.Resources = append(h.Resources, r)
	case event.CommandFinished:
		r := &Resource{Name: "command", Type: "task", Status: e.Status, Action: "run", Reason: e.Command, Duration: e.Duration, Error: e.Error}
		switch {
		case e.Error != "":
			r.Status = event.StatusFailed
		case r.Status == "":
			r.Status = event.StatusRan
		}
		h.Resources = append(h.Resources, r)
	case event.CommandOutput:
		h.Output = append(h.Output, OutputLine{Stream: e.Stream, Line: e.Output})
	case event.HealthCheck:
		h.Health = append(h.Health, HealthAttempt{Attempt: e.Attempt, OK: e.OK != nil && *e.OK, Duration: e.Duration, Error: e.Error})
	case event.LockWaiting:
		h.Lock = append(h.Lock, "waiting: "+e.Reason)
	case event.LockBroken:
		h.Lock = append(h.Lock, "broke stale lock: "+e.Reason)
	}
}
