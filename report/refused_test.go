package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// refusedRun: one host converged, one whose host key changed.
func refusedRun() []event.Event {
	const w1, w2 = "web1.app.example.com", "web2.app.example.com"
	keyErr := "connect root@" + w2 + ":22: host key of " + w2 + ":22 CHANGED: known_hosts has SHA256:old (/root/.ssh/known_hosts:3), " +
		"host offered ssh-ed25519 SHA256:new: refusing to connect (someone may be intercepting the connection; " +
		"if the change is expected, remove the old key with `ssh-keygen -R " + w2 + "`)"
	return []event.Event{
		{Time: at(0), Kind: event.RunStarted, Hosts: []string{w1, w2}, Batches: 1, Command: "push"},
		{Time: at(0), Kind: event.BatchStarted, Batch: 1, Batches: 1, Hosts: []string{w1, w2}},
		{Time: at(0), Kind: event.HostStarted, Host: w1, Batch: 1},
		{Time: at(0), Kind: event.HostStarted, Host: w2, Batch: 1},
		{Time: at(0.1), Kind: event.HostFinished, Host: w2, Batch: 1, Status: event.StatusRefused, Duration: 100 * time.Millisecond, Error: keyErr},
		{Time: at(0.2), Kind: event.ResourceOK, Host: w1, Batch: 1, Resource: "redis-image", Type: "docker_image", Action: "none"},
		{Time: at(0.3), Kind: event.HostFinished, Host: w1, Batch: 1, Status: event.StatusOK, Duration: 300 * time.Millisecond},
		{Time: at(0.3), Kind: event.BatchFinished, Batch: 1, Batches: 1, Duration: 300 * time.Millisecond},
		{Time: at(0.3), Kind: event.RunFinished, Duration: 300 * time.Millisecond},
	}
}

// TestRefusedHostKey: a refused host key is its own outcome in the live
// lines, the recap (with the fix), JSON and JUnit; not "unreachable".
func TestRefusedHostKey(t *testing.T) {
	var live bytes.Buffer
	col := NewCollector()
	p := NewPlain(&live)
	for _, e := range refusedRun() {
		col.Emit(e)
		p.Emit(e)
	}
	if !strings.Contains(live.String(), "web2.app.example.com | REFUSED: connect root@web2.app.example.com:22: host key of web2.app.example.com:22 CHANGED") {
		t.Errorf("live output:\n%s", live.String())
	}
	run := col.Run()
	var recap bytes.Buffer
	WriteRecap(&recap, run, false)
	for _, want := range []string{
		"web2.app.example.com : ok=0   changed=0   failed=0   unreachable=0   refused=1   skipped=0   100ms",
		"web1.app.example.com : ok=1   changed=0   failed=0   unreachable=0   refused=0   skipped=0   300ms",
		"2 hosts: 1 ok, 1 refused;",
		"web2.app.example.com: REFUSED: connect root@web2.app.example.com:22: host key of web2.app.example.com:22 CHANGED",
		"remove the old key with `ssh-keygen -R web2.app.example.com`",
	} {
		if !strings.Contains(recap.String(), want) {
			t.Errorf("recap lacks %q:\n%s", want, recap.String())
		}
	}
	if strings.Contains(recap.String(), "unreachable=1") {
		t.Errorf("a refused key counted as unreachable:\n%s", recap.String())
	}

	var doc bytes.Buffer
	if err := WriteJSON(&doc, run, 5); err != nil {
		t.Fatal(err)
	}
	validate(t, doc.Bytes())
	var d struct {
		Summary struct {
			ByStatus map[string]int `json:"hosts_by_status"`
		}
		Hosts []struct{ Name, Status, Error string }
	}
	if err := json.Unmarshal(doc.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Summary.ByStatus["refused"] != 1 || d.Summary.ByStatus["unreachable"] != 0 || d.Hosts[1].Status != "refused" || !strings.Contains(d.Hosts[1].Error, "ssh-keygen -R") {
		t.Errorf("JSON: %s", doc.String())
	}

	var junit bytes.Buffer
	if err := WriteJUnit(&junit, run); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(junit.String(), `type="refused"`) {
		t.Errorf("JUnit: %s", junit.String())
	}

	// A run without a refused host keeps the usual columns.
	var plain bytes.Buffer
	c2 := NewCollector()
	feed(c2)
	WriteRecap(&plain, c2.Run(), false)
	if strings.Contains(plain.String(), "refused") {
		t.Errorf("recap shows refused= without a refused host:\n%s", plain.String())
	}
}
