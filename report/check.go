package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vigo-sh/vigocli/event"
)

// A drift check is a dry run read differently: a host has drifted when
// its plan would change something that differs on the host. Two kinds of
// planned action are not drift, because nothing on the host differs from
// the stockpile:
//
//   - a refresh that a notification would trigger (restart, repull,
//     reup): the listener itself matches; the resource that notified it
//     is the drift and is listed;
//   - a pull of a present image with pull: always: only the registry can
//     tell whether it would change anything, and a check never pulls.
//     Such a step has no differing field (an absent image says
//     "image: ... absent -> present").

// Check statuses of a host.
const (
	CheckInSync  = "in_sync"
	CheckDrifted = "drifted"
)

// Drift is one resource whose plan would change the host.
type Drift struct {
	Resource string         `json:"resource"`
	Type     string         `json:"type"`
	Action   string         `json:"action"`
	Reason   string         `json:"reason"`
	Diff     []event.Change `json:"diff"`
}

// CheckHost is one host of a drift check.
type CheckHost struct {
	Name string `json:"name"`
	// Status: in_sync, drifted, or the host's push status when it could
	// not be checked (unreachable, failed, skipped).
	Status  string  `json:"status"`
	Error   string  `json:"error,omitempty"`
	Drifted []Drift `json:"drifted"`
}

// refreshActions are planned only because a notification triggered them.
var refreshActions = map[string]bool{"restart": true, "repull": true, "reup": true}

// Drifted says whether a planned resource is drift (see above).
func Drifted(r *Resource) bool {
	switch {
	case r.Action == "" || r.Action == "none":
		return false
	case refreshActions[r.Action]:
		return false
	case r.Action == "pull" && len(r.Diff) == 0:
		return false
	}
	return true
}

// Check reads a dry run as a drift check, host by host in run order.
func Check(run *Run) []CheckHost {
	out := []CheckHost{}
	for _, h := range run.Hosts {
		ch := CheckHost{Name: h.Name, Status: h.Status, Error: h.Error, Drifted: []Drift{}}
		for _, r := range h.Resources {
			if Drifted(r) {
				d := Drift{Resource: r.Name, Type: r.Type, Action: r.Action, Reason: r.Reason, Diff: r.Diff}
				if d.Diff == nil {
					d.Diff = []event.Change{}
				}
				ch.Drifted = append(ch.Drifted, d)
			}
		}
		switch {
		case h.Status != event.StatusOK && h.Status != event.StatusChanged:
			// unreachable, failed, skipped: not checked, whatever it planned
		case len(ch.Drifted) > 0:
			ch.Status = CheckDrifted
		default:
			ch.Status = CheckInSync
		}
		out = append(out, ch)
	}
	return out
}

// CheckCounts counts hosts by check status.
func CheckCounts(hosts []CheckHost) map[string]int {
	n := map[string]int{}
	for _, h := range hosts {
		n[h.Status]++
	}
	return n
}

// WriteCheckText prints one line per drifted resource and one per host
// that could not be checked; nothing for a host in sync. Each line starts
// with the host name, so that the output greps and sorts.
func WriteCheckText(w io.Writer, hosts []CheckHost) error {
	var b strings.Builder
	for _, h := range hosts {
		name := Clean(h.Name)
		switch h.Status {
		case CheckInSync:
		case CheckDrifted:
			for _, d := range h.Drifted {
				line := fmt.Sprintf("%s %s (%s): %s", name, d.Resource, d.Type, d.Action)
				if d.Reason != "" {
					line += ": " + d.Reason
				}
				if len(d.Diff) > 0 {
					line += "; " + strings.Join(event.Lines(d.Diff), "; ")
				}
				b.WriteString(Clean(line) + "\n")
			}
		default:
			line := name + " " + h.Status
			if h.Error != "" {
				line += ": " + h.Error
			}
			b.WriteString(Clean(line) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type checkDoc struct {
	Version    int            `json:"version"`
	Command    string         `json:"command"`
	DurationMS int64          `json:"duration_ms"`
	ExitCode   int            `json:"exit_code"`
	Summary    map[string]int `json:"hosts_by_status"`
	Hosts      []CheckHost    `json:"hosts"`
	Warnings   []string       `json:"warnings"`
}

// WriteCheckJSON writes the check as one JSON document: every host with
// its status and every drifted resource with the plan's action, reason and
// differing fields.
func WriteCheckJSON(w io.Writer, run *Run, hosts []CheckHost, exitCode int) error {
	doc := checkDoc{Version: SchemaVersion, Command: "check", DurationMS: run.Duration.Milliseconds(),
		ExitCode: exitCode, Summary: CheckCounts(hosts), Hosts: hosts, Warnings: append([]string{}, run.Warnings...)}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := w.Write(escapeC1(buf.Bytes()))
	return err
}

// DriftAsFailures returns a copy of a check's run in which every drifted
// resource is failed (its error says what drifted), for the JUnit report
// of a check: CI test views then show drift as failing tests.
func DriftAsFailures(run *Run) *Run {
	out := *run
	out.Hosts = nil
	for _, h := range run.Hosts {
		hc := *h
		hc.Resources = nil
		for _, r := range h.Resources {
			rc := *r
			if Drifted(r) {
				rc.Status = event.StatusFailed
				rc.Error = withReason("drifted: would "+r.Action, r.Reason)
			}
			hc.Resources = append(hc.Resources, &rc)
		}
		out.Hosts = append(out.Hosts, &hc)
	}
	return &out
}
