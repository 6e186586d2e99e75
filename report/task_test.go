package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// taskRun is a task that ran on h1 (no way to tell), changed h2 and left
// h3 as it was (both told by --changed-when).
func taskRun(statuses ...string) *Run {
	c := NewCollector()
	var hosts []string
	for i := range statuses {
		hosts = append(hosts, "h"+string(rune('1'+i)))
	}
	c.Emit(event.Event{Time: at(0), Kind: event.RunStarted, Hosts: hosts, Batches: 1, Command: "task run: docker pull x"})
	for i, st := range statuses {
		h := hosts[i]
		c.Emit(event.Event{Time: at(0.1), Kind: event.HostStarted, Host: h, Batch: 1})
		c.Emit(event.Event{Time: at(0.2), Kind: event.CommandFinished, Host: h, Batch: 1, Command: "docker pull x", Status: st})
		c.Emit(event.Event{Time: at(0.3), Kind: event.HostFinished, Host: h, Batch: 1, Status: st, Duration: 200 * time.Millisecond})
	}
	c.Emit(event.Event{Time: at(1), Kind: event.RunFinished, Duration: time.Second})
	return c.Run()
}

func TestTaskThatRanIsNotCountedAsChanged(t *testing.T) {
	run := taskRun(event.StatusRan, event.StatusChanged, event.StatusOK)
	steps, hosts := run.Summary()
	if steps != (Counts{Ran: 1, Changed: 1, OK: 1}) || hosts != (Counts{Ran: 1, Changed: 1, OK: 1}) {
		t.Errorf("steps %+v hosts %+v", steps, hosts)
	}
	var recap bytes.Buffer
	WriteRecap(&recap, run, false)
	for _, want := range []string{
		"h1 : ok=0   changed=0   ran=1   failed=0",
		"h2 : ok=0   changed=1   ran=0   failed=0",
		"3 hosts: 1 ok, 1 changed, 1 ran; ran: whether the command changed anything is unknown (task run --changed-when tells); wall time 1s",
	} {
		if !strings.Contains(recap.String(), want) {
			t.Errorf("recap lacks %q:\n%s", want, recap.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, run, 0); err != nil {
		t.Fatal(err)
	}
	validate(t, js.Bytes())
	if !strings.Contains(js.String(), `"status": "ran"`) || !strings.Contains(js.String(), `"ran": 1`) {
		t.Errorf("JSON does not say ran:\n%s", js.String())
	}
}

func TestRecapSaysNothingChanged(t *testing.T) {
	var recap bytes.Buffer
	WriteRecap(&recap, taskRun(event.StatusOK, event.StatusOK), false)
	if !strings.Contains(recap.String(), "\n2 hosts: 2 ok; nothing changed; wall time 1s\n") {
		t.Errorf("recap:\n%s", recap.String())
	}
	if strings.Contains(recap.String(), "ran=") {
		t.Errorf("ran column without a ran step:\n%s", recap.String())
	}
	recap.Reset()
	WriteRecap(&recap, taskRun(event.StatusOK, event.StatusChanged), false)
	if strings.Contains(recap.String(), "nothing changed") {
		t.Errorf("a run that changed a host says nothing changed:\n%s", recap.String())
	}
}
