package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want, lines string }{
		{"plain text, tab\there", "plain text, tab\there", ""},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`, ""},
		{"nul\x00 del\x7f cr\r", `nul\x00 del\x7f cr\x0d`, ""},
		{"two\nlines", `two\x0alines`, "two\nlines"},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`, ""},
		{"not utf-8 \xff\x9b", `not utf-8 \xff\x9b`, ""},
		{"bidi \u202eevil\u2066", `bidi \u202eevil\u2066`, ""},
		// Every bidi control: marks (LRM, RLM, ALM), embeddings and
		// overrides, isolates.
		{"marks \u200e\u200f\u061c.", `marks \u200e\u200f\u061c.`, ""},
		{"\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`, ""},
		{"\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`, ""},
		{"unicode ✓ é \ufffd ok", "unicode ✓ é \ufffd ok", ""},
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
		wantLines := tc.lines
		if wantLines == "" {
			wantLines = tc.want
		}
		if got := CleanLines(tc.in); got != wantLines {
			t.Errorf("CleanLines(%q) = %q, want %q", tc.in, got, wantLines)
		}
	}
}

// hostileRun is a task whose host prints escape sequences and NULs, and
// fails with an error that holds more of them over two lines.
func hostileRun() []event.Event {
	const h = "web4.app.example.com"
	return []event.Event{
		{Time: at(0), Kind: event.RunStarted, Hosts: []string{h}, Batches: 1, Command: "task run: cat /etc/motd"},
		{Time: at(0), Kind: event.BatchStarted, Batch: 1, Batches: 1, Hosts: []string{h}},
		{Time: at(0), Kind: event.HostStarted, Host: h, Batch: 1},
		{Time: at(0.1), Kind: event.LockWaiting, Host: h, Batch: 1, Reason: "held by \x1b[2Jmallory@box pid 1"},
		{Time: at(0.2), Kind: event.CommandOutput, Host: h, Batch: 1, Stream: "stdout", Output: "\x1b]0;pwned\x07title \x00nul"},
		{Time: at(0.3), Kind: event.CommandFinished, Host: h, Batch: 1, Command: "cat /etc/motd", Error: "exit status 1: \x1b[31mred\x1b[0m\nweb5.app.example.com | ok"},
		{Time: at(0.3), Kind: event.HostFinished, Host: h, Batch: 1, Status: "failed", Duration: 300 * time.Millisecond, Error: h + ": task: exit status 1: \x1b[31mred\x00"},
		{Time: at(0.3), Kind: event.BatchFinished, Batch: 1, Batches: 1, Duration: 300 * time.Millisecond},
		{Time: at(0.3), Kind: event.RunFinished, Duration: 300 * time.Millisecond, Reason: "1 host(s) failed \x1b[2J"},
	}
}

func TestHostTextIsInert(t *testing.T) {
	var plain, tty bytes.Buffer
	c := NewCollector()
	sink := event.Tee(NewPlain(&plain), NewTTY(&tty, false, 200), c)
	for _, e := range hostileRun() {
		sink.Emit(e)
	}
	WriteRecap(&plain, c.Run(), false)

	// Plain: no escape or NUL byte at all; what was sent is visible.
	for _, bad := range []string{"\x1b", "\x00", "\x07"} {
		if strings.Contains(plain.String(), bad) {
			t.Errorf("plain output holds %q:\n%s", bad, plain.String())
		}
	}
	for _, want := range []string{
		`web4.app.example.com | stdout: \x1b]0;pwned\x07title \x00nul`,
		`web4.app.example.com | waiting for lock: held by \x1b[2Jmallory@box pid 1`,
		`web4.app.example.com | command FAILED: exit status 1: \x1b[31mred\x1b[0m`,
		"\nweb4.app.example.com | web5.app.example.com | ok\n", // a second line keeps its real host
		`rollout stopped: 1 host(s) failed \x1b[2J`,
	} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("plain output lacks %q:\n%s", want, plain.String())
		}
	}
	// TTY: only its own cursor movements (ESC [ N A, ESC [ J), nothing
	// the host sent.
	rest := tty.String()
	for _, own := range []string{"\x1b[1A\r\x1b[J", "\x1b[2A\r\x1b[J"} {
		rest = strings.ReplaceAll(rest, own, "")
	}
	for _, bad := range []string{"\x1b", "\x00", "\x07"} {
		if strings.Contains(rest, bad) {
			t.Errorf("tty output holds %q from the host:\n%q", bad, rest)
		}
	}
	if !strings.Contains(rest, `\x1b]0;pwned`) {
		t.Errorf("tty output does not show the escape:\n%q", rest)
	}

	// JUnit: parseable XML 1.0, the escapes visible rather than lost.
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, c.Run()); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(junit.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit report does not parse: %v\n%s", err, junit.String())
	}
	if strings.ContainsAny(junit.String(), "\x1b\x00\ufffd") {
		t.Errorf("JUnit report holds raw or replaced control characters:\n%s", junit.String())
	}
	if !strings.Contains(junit.String(), `exit status 1: \x1b[31mred\x1b[0m`) || !strings.Contains(junit.String(), `stdout: \x1b]0;pwned\x07title \x00nul`) {
		t.Errorf("JUnit report does not show the escapes:\n%s", junit.String())
	}
}

// Warnings (the transport's, about ssh_config) are in the JSON document
// and the plain output.
func TestWarnings(t *testing.T) {
	var plain, js bytes.Buffer
	c := NewCollector()
	sink := event.Tee(NewPlain(&plain), c)
	const w = "ssh config: ignoring Match blocks vigo cannot evaluate; their settings are not applied: /home/u/.ssh/config:12 Match exec \"x\""
	sink.Emit(event.Event{Time: at(0), Kind: event.Warning, Error: w})
	for _, e := range hostileRun() {
		sink.Emit(e)
	}
	if !strings.HasPrefix(plain.String(), "warning: "+w+"\n") {
		t.Errorf("plain output does not start with the warning:\n%s", plain.String())
	}
	if err := WriteJSON(&js, c.Run(), 2); err != nil {
		t.Fatal(err)
	}
	validate(t, js.Bytes())
	var doc struct{ Warnings []string }
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Warnings) != 1 || doc.Warnings[0] != w {
		t.Errorf("JSON warnings %q (%v)", doc.Warnings, err)
	}
}

// The JSON document escapes C1 controls too (encoding/json leaves them
// raw) and still decodes to the original text.
func TestJSONEscapesC1(t *testing.T) {
	c := NewCollector()
	for _, e := range hostileRun() {
		c.Emit(e)
	}
	c.Emit(event.Event{Kind: event.CommandOutput, Host: "web4.app.example.com", Stream: "stdout", Output: "csi \u009b2J é"})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, c.Run(), 2); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("\u009b")) || bytes.ContainsAny(buf.Bytes(), "\x1b\x00") {
		t.Errorf("JSON holds raw control characters:\n%s", buf.String())
	}
	validate(t, buf.Bytes())
	var doc struct {
		Hosts []struct{ Output []OutputLine }
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	out := doc.Hosts[0].Output
	if got := out[len(out)-1].Line; got != "csi \u009b2J é" {
		t.Errorf("decoded line %q", got)
	}
}
