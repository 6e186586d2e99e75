package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/secrets"
)

var update = flag.Bool("update", false, "rewrite golden files")

const canary = "s3cr3t-CANARY-value"

var t0 = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// sampleRun is a push over four hosts in two batches: web4 changes, web5
// is unreachable, web6's health check fails and halts the rollout, web7
// is skipped. A secret value leaks into an error and a diff line, where
// the masker must catch it.
func sampleRun() []event.Event {
	const w4, w5, w6, w7 = "web4.app.example.com", "web5.app.example.com", "web6.app.example.com", "web7.app.example.com"
	return []event.Event{
		{Time: at(0), Kind: event.RunStarted, Hosts: []string{w4, w5, w6, w7}, Batches: 2, Command: "push"},
		{Time: at(0), Kind: event.BatchStarted, Batch: 1, Batches: 2, Hosts: []string{w4, w5}},
		{Time: at(0), Kind: event.HostStarted, Host: w4, Batch: 1},
		{Time: at(0), Kind: event.HostStarted, Host: w5, Batch: 1},
		{Time: at(0.1), Kind: event.LockAcquired, Host: w4, Batch: 1},
		{Time: at(0.3), Kind: event.HostUnreachable, Host: w5, Batch: 1, Status: "unreachable", Duration: 300 * time.Millisecond, Error: "dial tcp 10.77.0.15:22: connect: no route to host: unreachable"},
		{Time: at(0.4), Kind: event.ResourceOK, Host: w4, Batch: 1, Resource: "redis-image", Type: "docker_image", Action: "none"},
		{Time: at(1.6), Kind: event.ResourceChanged, Host: w4, Batch: 1, Resource: "app-container", Type: "docker_container", Action: "recreate",
			Reason: "image myregistry.example.com/webapp v2.1.0 -> v2.2.0", Diff: []event.Change{{Field: "image", From: "v2.1.0", To: "v2.2.0"}, {Field: "environment.DATABASE_URL", From: canary, To: "secret:vigo/webapp/database_url", Note: "changed"}}, Duration: 1200 * time.Millisecond},
		{Time: at(1.7), Kind: event.HealthCheck, Host: w4, Batch: 1, Command: "curl -sf http://localhost:8080/health", Attempt: 1, OK: event.Bool(true), Duration: 50 * time.Millisecond},
		{Time: at(1.8), Kind: event.LockReleased, Host: w4, Batch: 1},
		{Time: at(1.8), Kind: event.HostFinished, Host: w4, Batch: 1, Status: "changed", Duration: 1800 * time.Millisecond},
		{Time: at(1.8), Kind: event.BatchFinished, Batch: 1, Batches: 2, Duration: 1800 * time.Millisecond},
		{Time: at(1.8), Kind: event.BatchStarted, Batch: 2, Batches: 2, Hosts: []string{w6}},
		{Time: at(1.8), Kind: event.HostStarted, Host: w6, Batch: 2},
		{Time: at(1.9), Kind: event.LockWaiting, Host: w6, Batch: 2, Reason: "held by alice@laptop pid 42 since 2026-11-26T00:59:00Z (push)"},
		{Time: at(2.0), Kind: event.ResourceFailed, Host: w6, Batch: 2, Resource: "app-container", Type: "docker_container", Action: "recreate", Error: "docker run: exit status 125: password " + canary},
		{Time: at(2.0), Kind: event.ResourceSkipped, Host: w6, Batch: 2, Resource: "compose-file", Type: "file", Reason: "an earlier resource failed"},
		{Time: at(2.5), Kind: event.HostFinished, Host: w6, Batch: 2, Status: "failed", Duration: 700 * time.Millisecond, Error: "1 resource(s) failed"},
		{Time: at(2.5), Kind: event.BatchFinished, Batch: 2, Batches: 2, Duration: 700 * time.Millisecond},
		{Time: at(2.5), Kind: event.HostSkipped, Host: w7, Reason: "1 host(s) failed by batch 2, more than --max-fail 0 allows (0)"},
		{Time: at(2.5), Kind: event.RunFinished, Duration: 2500 * time.Millisecond, Reason: "1 host(s) failed by batch 2, more than --max-fail 0 allows (0)"},
	}
}

func feed(sinks ...event.Sink) {
	m := secrets.NewMasker()
	m.Add(canary)
	s := m.Sink(event.Tee(sinks...))
	for _, e := range sampleRun() {
		s.Emit(e)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func noCanary(t *testing.T, what string, b []byte) {
	t.Helper()
	if bytes.Contains(b, []byte(canary)) {
		t.Errorf("%s shows the secret value", what)
	}
}

func TestPlainGolden(t *testing.T) {
	var buf bytes.Buffer
	c := NewCollector()
	feed(NewPlain(&buf), c)
	WriteRecap(&buf, c.Run(), false)
	noCanary(t, "plain output", buf.Bytes())
	if bytes.Contains(buf.Bytes(), []byte("\x1b")) {
		t.Error("plain output has escape codes")
	}
	golden(t, "plain.golden", buf.Bytes())
}

func TestRecapCounts(t *testing.T) {
	c := NewCollector()
	feed(c)
	run := c.Run()
	want := map[string]Counts{
		"web4.app.example.com": {OK: 1, Changed: 1},
		"web5.app.example.com": {Unreachable: 1},
		"web6.app.example.com": {Failed: 1, Skipped: 1},
		"web7.app.example.com": {Skipped: 1},
	}
	for _, h := range run.Hosts {
		if got := h.Counts(); got != want[h.Name] {
			t.Errorf("%s: %+v, want %+v", h.Name, got, want[h.Name])
		}
	}
	_, hosts := run.Summary()
	if hosts != (Counts{Changed: 1, Failed: 1, Unreachable: 1, Skipped: 1}) {
		t.Errorf("hosts by status %+v", hosts)
	}
}

func TestJSONValidatesAgainstSchema(t *testing.T) {
	var buf bytes.Buffer
	c := NewCollector()
	feed(c)
	// web4's end again, with where its time went.
	c.Emit(event.Event{Time: at(1.8), Kind: event.HostFinished, Host: "web4.app.example.com", Batch: 1, Status: "changed", Duration: 1800 * time.Millisecond,
		Phases: map[string]time.Duration{"connect": 120 * time.Millisecond, "lock": 1500 * time.Microsecond, "observe": 412 * time.Microsecond, "apply": 1200 * time.Millisecond}})
	if err := WriteJSON(&buf, c.Run(), 2); err != nil {
		t.Fatal(err)
	}
	noCanary(t, "JSON output", buf.Bytes())
	validate(t, buf.Bytes())

	var doc struct {
		Hosts []struct {
			Name      string
			Status    string
			Resources []struct {
				Name, Action, Reason, Status string
				Diff                         []event.Change
			}
			PhasesMS map[string]float64 `json:"phases_ms"`
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Hosts) != 4 || doc.Hosts[0].Resources[1].Action != "recreate" || doc.Hosts[1].Status != "unreachable" {
		t.Errorf("unexpected document: %+v", doc)
	}
	// A diff is shipped as objects, never as text to parse back.
	wantDiff := []event.Change{{Field: "image", From: "v2.1.0", To: "v2.2.0"}, {Field: "environment.DATABASE_URL", From: secrets.Masked, To: "secret:vigo/webapp/database_url", Note: "changed"}}
	if got := doc.Hosts[0].Resources[1].Diff; !slices.Equal(got, wantDiff) {
		t.Errorf("diff %+v, want %+v", got, wantDiff)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`{
              "field": "image",
              "from": "v2.1.0",
              "to": "v2.2.0"
            }`)) {
		t.Errorf("diff not shipped as an object:\n%s", buf.Bytes())
	}
	wantPhases := map[string]float64{"connect": 120, "lock": 1.5, "observe": 0.412, "apply": 1200}
	if !maps.Equal(doc.Hosts[0].PhasesMS, wantPhases) || len(doc.Hosts[1].PhasesMS) != 0 {
		t.Errorf("phases_ms %v and %v, want %v and none", doc.Hosts[0].PhasesMS, doc.Hosts[1].PhasesMS, wantPhases)
	}
	// The schema must reject what it should.
	bad := bytes.Replace(buf.Bytes(), []byte(`"status": "unreachable"`), []byte(`"status": "lost"`), 1)
	if err := compileSchema(t).Validate(mustJSON(t, bad)); err == nil {
		t.Error("schema accepted an unknown host status")
	}
	bad = bytes.Replace(buf.Bytes(), []byte(`"field": "image",`), []byte(``), 1)
	if err := compileSchema(t).Validate(mustJSON(t, bad)); err == nil {
		t.Error("schema accepted a change without a field")
	}
	bad = bytes.Replace(buf.Bytes(), []byte(`"diff": [
`), []byte(`"diff": ["image: v2.1.0 -> v2.2.0",
`), 1)
	if err := compileSchema(t).Validate(mustJSON(t, bad)); err == nil {
		t.Error("schema accepted a diff line as text")
	}
	bad = bytes.Replace(buf.Bytes(), []byte(`"observe": 0.412`), []byte(`"observ": 0.412`), 1)
	if err := compileSchema(t).Validate(mustJSON(t, bad)); err == nil {
		t.Error("schema accepted an unknown phase")
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustJSON(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func validate(t *testing.T, b []byte) {
	t.Helper()
	if err := compileSchema(t).Validate(mustJSON(t, b)); err != nil {
		t.Errorf("JSON output does not validate: %v\n%s", err, b)
	}
}

func TestJSONOfEmptyRunValidates(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, NewCollector().Run(), 0); err != nil {
		t.Fatal(err)
	}
	validate(t, buf.Bytes())
}

func TestJUnitParses(t *testing.T) {
	var buf bytes.Buffer
	c := NewCollector()
	feed(c)
	if err := WriteJUnit(&buf, c.Run()); err != nil {
		t.Fatal(err)
	}
	noCanary(t, "JUnit report", buf.Bytes())
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.Bytes())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	// web4: 2 resources + host; web5: host; web6: 2 resources + host; web7: host.
	if s.Tests != 8 || s.Failures != 1 || s.Errors != 1 || s.Skipped != 2 || doc.Tests != 8 {
		t.Errorf("counts tests=%d failures=%d errors=%d skipped=%d", s.Tests, s.Failures, s.Errors, s.Skipped)
	}
	found := false
	for _, c := range s.Cases {
		if c.Classname == "web6.app.example.com" && c.Name == "app-container" {
			found = c.Failure != nil && strings.Contains(c.Failure.Message, "exit status 125")
		}
	}
	if !found {
		t.Error("no failing test case for web6 app-container")
	}
	golden(t, "junit.golden", buf.Bytes())
}
