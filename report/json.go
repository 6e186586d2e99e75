package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// SchemaVersion is the "version" of the JSON document; report/schema.json
// describes it.
// Version 2: a resource's diff is a list of change objects (field,
// subject, from, to, note), no longer of text lines.
const SchemaVersion = 2

type jsonDoc struct {
	Version    int        `json:"version"`
	Command    string     `json:"command"`
	DryRun     bool       `json:"dry_run"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	DurationMS int64      `json:"duration_ms"`
	Batches    int        `json:"batches"`
	Halted     string     `json:"halted"`
	ExitCode   int        `json:"exit_code"`
	Summary    jsonSum    `json:"summary"`
	Hosts      []jsonHost `json:"hosts"`
	Warnings   []string   `json:"warnings"`
}

type jsonSum struct {
	Hosts    int    `json:"hosts"`
	ByStatus Counts `json:"hosts_by_status"`
	Steps    Counts `json:"steps"`
}

type jsonHost struct {
	Name       string         `json:"name"`
	Batch      int            `json:"batch"`
	Status     string         `json:"status"`
	Started    *time.Time     `json:"started"`
	DurationMS int64          `json:"duration_ms"`
	Error      string         `json:"error"`
	Reason     string         `json:"reason"`
	Counts     Counts         `json:"counts"`
	Resources  []jsonResource `json:"resources"`
	Health     []jsonHealth   `json:"health"`
	Output     []OutputLine   `json:"output"`
	Lock       []string       `json:"lock"`
	// PhasesMS: where the host's time went, in milliseconds with
	// microsecond precision (a no-op's phases often take less than 1 ms).
	PhasesMS map[string]float64 `json:"phases_ms"`
}

type jsonResource struct {
	Resource
	Diff       []event.Change `json:"diff"`
	DurationMS int64          `json:"duration_ms"`
}

type jsonHealth struct {
	HealthAttempt
	DurationMS int64 `json:"duration_ms"`
}

// WriteJSON writes the run as one JSON document (schema: report/schema.json).
func WriteJSON(w io.Writer, run *Run, exitCode int) error {
	steps, hosts := run.Summary()
	doc := jsonDoc{
		Version: SchemaVersion, Command: run.Command, DryRun: run.DryRun,
		Started: run.Started.UTC(), Finished: run.Finished.UTC(), DurationMS: run.Duration.Milliseconds(),
		Batches: run.Batches, Halted: run.Halted, ExitCode: exitCode,
		Summary:  jsonSum{Hosts: len(run.Hosts), ByStatus: hosts, Steps: steps},
		Hosts:    []jsonHost{},
		Warnings: append([]string{}, run.Warnings...),
	}
	for _, h := range run.Hosts {
		jh := jsonHost{Name: h.Name, Batch: h.Batch, Status: h.Status, DurationMS: h.Duration.Milliseconds(),
			Error: h.Error, Reason: h.Reason, Counts: h.Counts(),
			Resources: []jsonResource{}, Health: []jsonHealth{}, Output: []OutputLine{}, Lock: []string{},
			PhasesMS: make(map[string]float64, len(h.Phases))}
		for k, v := range h.Phases {
			jh.PhasesMS[k] = float64(v.Microseconds()) / 1000
		}
		if !h.Started.IsZero() {
			t := h.Started.UTC()
			jh.Started = &t
		}
		for _, r := range h.Resources {
			jr := jsonResource{Resource: *r, Diff: r.Diff, DurationMS: r.Duration.Milliseconds()}
			if jr.Diff == nil {
				jr.Diff = []event.Change{}
			}
			jh.Resources = append(jh.Resources, jr)
		}
		for _, a := range h.Health {
			jh.Health = append(jh.Health, jsonHealth{HealthAttempt: a, DurationMS: a.Duration.Milliseconds()})
		}
		jh.Output = append(jh.Output, h.Output...)
		jh.Lock = append(jh.Lock, h.Lock...)
		doc.Hosts = append(doc.Hosts, jh)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := w.Write(escapeC1(buf.Bytes()))
	return err
}

// escapeC1 writes the C1 control characters (U+0080..U+009F, which some
// terminals obey: U+009B is CSI) that encoding/json leaves raw as \u00XX,
// so that the document shown on a terminal is as inert as the other
// outputs. They can only occur inside strings, where \u00XX means the same.
func escapeC1(b []byte) []byte {
	if !bytes.Contains(b, []byte{0xc2}) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			out = fmt.Appendf(out, `\u%04x`, b[i+1])
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
}
