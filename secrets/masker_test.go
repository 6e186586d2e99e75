package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/event"
)

func TestMaskerString(t *testing.T) {
	m := NewMasker()
	m.Add("hunter2-pass")
	m.Add(`p"w\d<&>`)
	m.Add("line-one\nline-two\nab")
	m.Add("abcdef")
	m.Add("cdefgh") // overlaps abcdef
	m.Add("p@ss w/rd")
	tests := []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"pw=hunter2-pass end", "pw=*** end"},
		{"hunter2-passhunter2-pass", "***"},
		{`{"v":"p\"w\\d<&>"}`, `{"v":"***"}`},                // JSON-escaped, no HTML escaping
		{`{"v":"p\"w\\d\u003c\u0026\u003e"}`, `{"v":"***"}`}, // JSON-escaped, HTML escaping
		{`raw p"w\d<&> too`, `raw *** too`},                  // raw
		{"x line-one y", "x *** y"},                          // a line of a multi-line value
		{"x line-two y ab", "x *** y ab"},                    // short lines are not masked
		{`"line-one\nline-two\nab"`, `"***"`},                // multi-line value, JSON-escaped
		{"xabcdefghx", "x***x"},                              // overlapping values masked together
		{"q=hunter2-pass&x", "q=***&x"},
		{"https://h/?pw=p%40ss+w%2Frd&a=1", "https://h/?pw=***&a=1"}, // query-escaped
		{"https://u:p@ss%20w%2Frd@h/", "https://u:***@h/"},           // path-escaped
	}
	for _, tt := range tests {
		if got := m.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskerJSONOutput(t *testing.T) {
	m := NewMasker()
	value := "multi\nline \"quoted\" <value> & tab\t!"
	m.Add(value)
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(map[string]string{"error": "failed: " + value}); err != nil {
			t.Fatal(err)
		}
		got := m.String(b.String())
		if strings.Contains(got, "quoted") || !strings.Contains(got, Masked) {
			t.Errorf("html=%v: JSON not masked: %s", html, got)
		}
	}
}

func TestNilAndEmptyMasker(t *testing.T) {
	var m *Masker
	if got := m.String("abc"); got != "abc" {
		t.Errorf("nil masker changed %q", got)
	}
	m2 := NewMasker()
	m2.Add("")
	if m2.Len() != 0 {
		t.Errorf("empty value registered")
	}
}

// chunkedWrites writes s to a masking writer in chunks of every size from
// 1 to len(s) and returns what came out for each size.
func TestMaskerWriterSplitChunks(t *testing.T) {
	m := NewMasker()
	secret := "s3cr3t-v4lue"
	m.Add(secret)
	input := "start\nthe value is " + secret + " ok\n" + secret + "\npartial " + secret
	want := m.String(input)
	if strings.Contains(want, secret) {
		t.Fatal("String did not mask")
	}
	for size := 1; size <= len(input); size++ {
		var out bytes.Buffer
		w := m.Writer(&out)
		for i := 0; i < len(input); i += size {
			end := min(i+size, len(input))
			if _, err := w.Write([]byte(input[i:end])); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("chunk size %d: got %q; want %q", size, out.String(), want)
		}
	}
}

func TestMaskerWriterHoldsPartialLine(t *testing.T) {
	m := NewMasker()
	m.Add("s3cr3t-v4lue")
	var out bytes.Buffer
	w := m.Writer(&out)
	io.WriteString(w, "a s3cr3t")
	if out.Len() != 0 {
		t.Fatalf("partial line written early: %q", out.String())
	}
	io.WriteString(w, "-v4lue b\nc")
	if got := out.String(); got != "a *** b\n" {
		t.Fatalf("after newline: %q", got)
	}
	w.Close()
	if got := out.String(); got != "a *** b\nc" {
		t.Fatalf("after close: %q", got)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("write after close: %v", err)
	}
}

func TestMaskerWriterLongLine(t *testing.T) {
	m := NewMasker()
	secret := "s3cr3t-v4lue"
	m.Add(secret)
	var out bytes.Buffer
	w := m.Writer(&out)
	// A line far longer than maxPending, with values everywhere, written
	// in odd chunks so that some chunk boundaries cut a value.
	line := strings.Repeat("xx"+secret+"yyy", maxPending/8)
	for i := 0; i < len(line); i += 997 {
		w.Write([]byte(line[i:min(i+997, len(line))]))
	}
	if out.Len() == 0 {
		t.Error("a long line was never flushed early")
	}
	w.Close()
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), "s3cr3t") || strings.Contains(out.String(), "v4lue") {
		t.Fatal("value or part of it escaped")
	}
	if out.String() != m.String(line) {
		t.Fatal("long line masked differently than String")
	}
}

func TestMaskerConcurrent(t *testing.T) {
	m := NewMasker()
	var out syncBuffer
	w := m.Writer(&out)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.Add(fmt.Sprintf("value-number-%d", i))
		}()
		go func() {
			defer wg.Done()
			for j := range 50 {
				fmt.Fprintf(w, "line %d %d\n", i, j)
				_ = m.String(fmt.Sprintf("value-number-%d", j))
			}
		}()
	}
	wg.Wait()
	w.Close()
	for i := range 8 {
		if got := m.String(fmt.Sprintf("[value-number-%d]", i)); got != "[***]" {
			t.Errorf("value %d not masked after concurrent adds: %q", i, got)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 8*50 {
		t.Errorf("concurrent writer lost lines: %d", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestMaskerErrorAndEvent(t *testing.T) {
	m := NewMasker()
	m.Add("p4ssw0rd!")
	base := errors.New("docker: invalid env DATABASE_URL=p4ssw0rd!")
	err := fmt.Errorf("host web1: resource webapp: %w", base)
	masked := m.Error(err)
	if strings.Contains(masked.Error(), "p4ssw0rd!") || !strings.Contains(masked.Error(), "DATABASE_URL=***") {
		t.Errorf("error not masked: %v", masked)
	}
	if !errors.Is(masked, base) {
		t.Error("masked error lost its chain")
	}
	if clean := errors.New("fine"); m.Error(clean) != clean {
		t.Error("an error without values should be returned as is")
	}

	var got []event.Event
	sink := m.Sink(event.SinkFunc(func(e event.Event) { got = append(got, e) }))
	diff := []event.Change{{Field: "DATABASE_URL", From: "p4ssw0rd!", To: "x"}, {Field: "p4ssw0rd!", Subject: "p4ssw0rd!", To: "p4ssw0rd!", Note: "p4ssw0rd!"}}
	sink.Emit(event.Event{Kind: event.ResourceFailed, Host: "web1", Error: "x p4ssw0rd!", Output: "p4ssw0rd!", Reason: "p4ssw0rd!", Diff: diff})
	e := got[0]
	if e.Error != "x ***" || e.Output != "***" || e.Reason != "***" || e.Diff[0].String() != "DATABASE_URL: *** -> x" || e.Diff[1].String() != "***: *** *** (***)" || e.Host != "web1" || e.Kind != event.ResourceFailed {
		t.Errorf("event not masked: %+v", e)
	}
	if diff[0].From != "p4ssw0rd!" {
		t.Error("masking modified the caller's slice")
	}
	js, _ := json.Marshal(e)
	if strings.Contains(string(js), "p4ssw0rd") {
		t.Errorf("value in JSON of masked event: %s", js)
	}
}

// BenchmarkMaskerWriter measures masking a typical stream (80-byte lines)
// with ten registered values.
func BenchmarkMaskerWriter(b *testing.B) {
	m := NewMasker()
	for i := range 10 {
		m.Add(fmt.Sprintf("secret-value-%02d-abcdefgh", i))
	}
	line := []byte(strings.Repeat("docker: pulling layer 0123456789abcdef ", 2) + "\n")
	w := m.Writer(io.Discard)
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for range b.N {
		w.Write(line)
	}
}

// A limit that cuts text can leave the start or the end of a value: the
// masker hides such a fragment where text was cut (start or end of the
// text or of a line, next to "..."), not only whole values.
func TestMaskerFragmentsAtCuts(t *testing.T) {
	m := NewMasker()
	m.Add("s3cr3t-VALUE-0123456789")
	tests := []struct{ in, want string }{
		{"3456789 rest of the line", "*** rest of the line"},                 // a tail cut inside the value
		{"...VALUE-0123456789 and more", "...*** and more"},                  // after a cut marker
		{"error: first\n-0123456789 tail", "error: first\n*** tail"},         // at a line start
		{"output ended: s3cr3t-VA", "output ended: ***"},                     // a head cut inside the value
		{"long line s3cr3t-VALUE-01...", "long line ***..."},                 // before a cut marker
		{"pw s3cr3t-VALUE-0123456789 ok", "pw *** ok"},                       // whole, as before
		{"789 too short to be a fragment", "789 too short to be a fragment"}, // < MinFragmentLen
		{"in the middle 3456789 of a line", "in the middle 3456789 of a line"},
	}
	for _, tt := range tests {
		if got := m.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	// Whatever the cut, no part of four bytes or more survives at it.
	v := "s3cr3t-VALUE-0123456789"
	for i := 1; i < len(v); i++ {
		for _, s := range []string{"..." + v[i:] + " end", "start " + v[:i] + "\nnext"} {
			got := m.String(s)
			for k := MinFragmentLen; k < len(v); k++ {
				for j := 0; j+k <= len(v); j++ {
					if strings.Contains(got, v[j:j+k]) {
						t.Fatalf("String(%q) = %q shows %q", s, got, v[j:j+k])
					}
				}
			}
		}
	}
}
