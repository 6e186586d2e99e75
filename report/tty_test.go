package report

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ttyOutput renders the sample run to a real pseudo-terminal and returns
// what the terminal received.
func ttyOutput(t *testing.T, noColor string) string {
	t.Helper()
	t.Setenv("NO_COLOR", noColor)
	t.Setenv("CI", "")
	t.Setenv("TERM", "xterm")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	if !IsTerminal(tty) {
		t.Fatal("IsTerminal(pty) = false")
	}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&got, ptmx)
		close(done)
	}()
	r := NewTTYFile(tty)
	if r.width != 100 {
		t.Errorf("width %d, want the pty's 100", r.width)
	}
	feed(r)
	tty.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("pty reader stuck")
	}
	return got.String()
}

func TestTTYRedrawsInPlace(t *testing.T) {
	out := ttyOutput(t, "")
	noCanary(t, "terminal output", []byte(out))
	if !strings.Contains(out, "\x1b[2A\r\x1b[J") {
		t.Error("no cursor-up-and-clear: the status block is not redrawn in place")
	}
	if !strings.Contains(out, "\x1b[33m") || !strings.Contains(out, "\x1b[31m") {
		t.Error("no colours on a terminal")
	}
	for _, want := range []string{"✓ web4.app.example.com  changed in 1.8s", "! web5.app.example.com  unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	// Why the rollout stopped is the recap's to say, once.
	if strings.Contains(out, "rollout stopped") {
		t.Errorf("the live view says why the rollout stopped; the recap does:\n%q", out)
	}
}

func TestTTYRespectsNoColor(t *testing.T) {
	out := ttyOutput(t, "1")
	if strings.Contains(out, "\x1b[31m") || strings.Contains(out, "\x1b[33m") || strings.Contains(out, "\x1b[1m") {
		t.Errorf("colours despite NO_COLOR:\n%q", out)
	}
	if !strings.Contains(out, "\x1b[J") {
		t.Error("NO_COLOR must not stop the in-place redraw")
	}
}

func TestNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	t.Setenv("CI", "")
	if IsTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	t.Setenv("CI", "true")
	if IsTerminal(tty) {
		t.Error("CI=true must give plain output even on a terminal")
	}
}
