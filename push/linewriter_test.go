package push

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/event"
)

type lineRec struct{ lines []string }

func (r *lineRec) Emit(e event.Event) { r.lines = append(r.lines, e.Output) }

// Output becomes one event per line, however it is chunked; a line too
// long to keep is replaced by its length, never cut in pieces (a secret
// in it could straddle two events and escape the masker).
func TestLineWriter(t *testing.T) {
	rec := &lineRec{}
	w := newLineWriter(rec, "stdout")
	for _, chunk := range []string{"one\r\ntw", "o\n", "", "thr", "ee\nlast"} {
		w.Write([]byte(chunk))
	}
	huge := bytes.Repeat([]byte("x"), maxLine+10)
	w.Write([]byte("\n"))
	w.Write(huge[:maxLine-5])
	w.Write(huge[maxLine-5:])
	w.Write([]byte("\nafter\n"))
	w.Write(huge) // no newline: Flush ends it
	w.Flush()
	want := []string{"one", "two", "three", "last",
		"(a line of 1048586 bytes, longer than 1048576, not shown)", "after",
		"(a line of 1048586 bytes, longer than 1048576, not shown)"}
	if strings.Join(rec.lines, "|") != strings.Join(want, "|") {
		got := rec.lines
		for i := range got {
			if len(got[i]) > 80 {
				got[i] = got[i][:80] + "..."
			}
		}
		t.Errorf("lines %q, want %q", got, want)
	}
	if cap(w.buf) > 2*maxLine {
		t.Errorf("buffer grew to %d", cap(w.buf))
	}
}
