package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// A host that push --rollback-on-failure rolled back: its status is
// rolled_back in the JSON (valid against the schema, counted in
// hosts_by_status) and the recap says so.
func TestRolledBackHost(t *testing.T) {
	c := NewCollector()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := "web11.app.example.com"
	for _, e := range []event.Event{
		{Time: t0, Kind: event.RunStarted, Hosts: []string{h}, Batches: 1, Command: "push"},
		{Time: t0, Kind: event.BatchStarted, Batch: 1, Batches: 1, Hosts: []string{h}},
		{Time: t0, Kind: event.HostStarted, Host: h, Batch: 1},
		{Time: t0, Kind: event.ResourceChanged, Host: h, Batch: 1, Resource: "app-container", Type: "docker_container", Action: "recreate"},
		{Time: t0, Kind: event.HealthCheck, Host: h, Batch: 1, Attempt: 1, OK: event.Bool(false), Error: "exit status 1"},
		{Time: t0, Kind: event.RollbackStarted, Host: h, Batch: 1, Reason: "health check failed"},
		{Time: t0, Kind: event.ResourceChanged, Host: h, Batch: 1, Resource: "app-container", Type: "docker_container", Action: "recreate"},
		{Time: t0, Kind: event.HealthCheck, Host: h, Batch: 1, Attempt: 1, OK: event.Bool(true)},
		{Time: t0.Add(time.Second), Kind: event.HostFinished, Host: h, Batch: 1, Status: event.StatusRolledBack, Duration: time.Second,
			Error: h + ": health check failed; rolled back to what ran before"},
		{Time: t0.Add(time.Second), Kind: event.RunFinished, Duration: time.Second},
	} {
		c.Emit(e)
	}
	run := c.Run()
	var js bytes.Buffer
	if err := WriteJSON(&js, run, 2); err != nil {
		t.Fatal(err)
	}
	validate(t, js.Bytes())
	var doc struct {
		Summary struct {
			ByStatus Counts `json:"hosts_by_status"`
		} `json:"summary"`
		Hosts []struct{ Status string } `json:"hosts"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.ByStatus.RolledBack != 1 || doc.Hosts[0].Status != event.StatusRolledBack {
		t.Errorf("JSON: %d rolled back, host %q; want 1 and rolled_back\n%s", doc.Summary.ByStatus.RolledBack, doc.Hosts[0].Status, js.String())
	}
	var recap bytes.Buffer
	WriteRecap(&recap, run, false)
	for _, want := range []string{"rolled back\n", "1 host: 1 rolled back;"} {
		if !strings.Contains(recap.String(), want) {
			t.Errorf("recap lacks %q:\n%s", want, recap.String())
		}
	}
	var plain bytes.Buffer
	p := NewPlain(&plain)
	p.Emit(event.Event{Time: t0, Kind: event.RollbackStarted, Host: h, Reason: "health check failed"})
	if !strings.Contains(plain.String(), "rolling back (health check failed)") {
		t.Errorf("plain output: %q", plain.String())
	}
}
