package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// checkRun is a dry run over four hosts: web13 in sync (a pull: always
// image only), web14 with a stopped redis (and webapp notified by it),
// web15 unreachable, web16 failed before planning.
func checkRun() *Run {
	c := NewCollector()
	evs := []event.Event{
		{Time: t0, Kind: event.RunStarted, Hosts: []string{"web13", "web14", "web15", "web16"}, Batches: 1, Command: "check", DryRun: true},
		{Kind: event.ResourcePlanned, Host: "web13", Resource: "redis-image", Type: "docker_image", Action: "pull", Reason: "pull always (a change only if the image ID changes)"},
		{Kind: event.ResourcePlanned, Host: "web13", Resource: "redis-container", Type: "docker_container", Action: "none", Reason: "matches"},
		{Kind: event.HostFinished, Host: "web13", Status: "changed"},
		{Kind: event.ResourcePlanned, Host: "web14", Resource: "redis-image", Type: "docker_image", Action: "none"},
		{Kind: event.ResourcePlanned, Host: "web14", Resource: "redis-container", Type: "docker_container", Action: "start", Reason: "exited", Diff: []event.Change{{Field: "state", From: "exited", To: "running"}}},
		{Kind: event.ResourcePlanned, Host: "web14", Resource: "app-container", Type: "docker_container", Action: "restart", Reason: "notified [notified by redis-container]"},
		{Kind: event.ResourcePlanned, Host: "web14", Resource: "app-image", Type: "docker_image", Action: "pull", Reason: "not present", Diff: []event.Change{{Field: "image", Subject: "webapp:v2", From: "absent", To: "present"}}},
		{Kind: event.HostFinished, Host: "web14", Status: "changed"},
		{Kind: event.HostUnreachable, Host: "web15", Error: "dial tcp 127.0.0.1:1: connect: connection refused: unreachable"},
		{Kind: event.ResourceFailed, Host: "web16", Resource: "app-container", Type: "docker_container", Error: "secret \"x\" is not set"},
		{Kind: event.HostFinished, Host: "web16", Status: "failed", Error: "secret \"x\" is not set"},
		{Kind: event.RunFinished, Duration: time.Second, DryRun: true},
	}
	for _, e := range evs {
		c.Emit(e)
	}
	return c.Run()
}

func TestCheckClassifiesDrift(t *testing.T) {
	hosts := Check(checkRun())
	want := map[string]struct {
		status  string
		drifted []string
	}{
		"web13": {CheckInSync, nil},
		"web14": {CheckDrifted, []string{"redis-container", "app-image"}},
		"web15": {event.StatusUnreachable, nil},
		"web16": {event.StatusFailed, nil},
	}
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts", len(hosts))
	}
	for _, h := range hosts {
		w := want[h.Name]
		var names []string
		for _, d := range h.Drifted {
			names = append(names, d.Resource)
		}
		if h.Status != w.status || len(names) != len(w.drifted) {
			t.Errorf("%s: status %s drifted %v, want %s %v", h.Name, h.Status, names, w.status, w.drifted)
			continue
		}
		for i := range names {
			if names[i] != w.drifted[i] {
				t.Errorf("%s: drifted %v, want %v", h.Name, names, w.drifted)
			}
		}
	}
}

func TestCheckText(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCheckText(&buf, Check(checkRun())); err != nil {
		t.Fatal(err)
	}
	want := "web14 redis-container (docker_container): start: exited; state: exited -> running\n" +
		"web14 app-image (docker_image): pull: not present; image: webapp:v2 absent -> present\n" +
		"web15 unreachable: dial tcp 127.0.0.1:1: connect: connection refused: unreachable\n" +
		"web16 failed: secret \"x\" is not set\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestCheckJSON(t *testing.T) {
	var buf bytes.Buffer
	hosts := Check(checkRun())
	if err := WriteCheckJSON(&buf, checkRun(), hosts, 2); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Command  string
		ExitCode int            `json:"exit_code"`
		ByStatus map[string]int `json:"hosts_by_status"`
		Hosts    []CheckHost
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	if doc.Command != "check" || doc.ExitCode != 2 || doc.ByStatus[CheckDrifted] != 1 || doc.ByStatus[CheckInSync] != 1 || doc.ByStatus["unreachable"] != 1 {
		t.Errorf("document %+v", doc)
	}
	d := doc.Hosts[1].Drifted[0]
	if d.Resource != "redis-container" || d.Action != "start" || d.Reason != "exited" || len(d.Diff) != 1 {
		t.Errorf("drift %+v", d)
	}
	if doc.Hosts[0].Drifted == nil {
		t.Error("drifted is null for a host in sync: want []")
	}
}

func TestCheckJUnitFailsDrift(t *testing.T) {
	run := checkRun()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, DriftAsFailures(run)); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		if c.Failure != nil {
			failed[c.Classname+" "+c.Name] = true
		}
	}
	// web14's two drifted resources and web16's failure; not the pull
	// always of web13 nor web14's notified restart.
	want := []string{"web14 redis-container", "web14 app-image", "web16 app-container"}
	if len(failed) != len(want) {
		t.Errorf("failures %v, want %v", failed, want)
	}
	for _, w := range want {
		if !failed[w] {
			t.Errorf("no failure for %s (have %v)", w, failed)
		}
	}
	if run.Hosts[1].Resources[1].Status != event.StatusChanged {
		t.Error("DriftAsFailures changed the run it was given")
	}
}
