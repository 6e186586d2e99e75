package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vigo-sh/vigocli/event"
)

// Masked replaces every occurrence of a registered value.
const Masked = "***"

// maxPending bounds how much of an unfinished line a masking writer keeps
// before it flushes the part that provably holds no partial value.
const maxPending = 64 << 10

// A Masker hides registered values in output. It is safe for concurrent
// use; the zero value and a nil *Masker are ready to use (a nil Masker
// masks nothing).
//
// For each value added it masks these forms:
//   - the raw value;
//   - its JSON-escaped form (with and without HTML escaping), so a value
//     holding quotes, backslashes or newlines is masked in JSON output;
//   - its Go-quoted form and its URL query/path-escaped forms;
//   - each line of a multi-line value that is at least MinValueLen bytes
//     long, because line-buffered output never holds the value whole.
//
// Values are masked whatever their length; the Resolver refuses values
// shorter than MinValueLen before they reach the Masker. Base64 and other
// re-encodings are not masked.
type Masker struct {
	mu       sync.RWMutex
	seen     map[string]bool
	patterns []string // longest first
}

// NewMasker returns an empty Masker.
func NewMasker() *Masker { return &Masker{} }

// Add registers a value (and its encoded forms). Empty values are ignored.
func (m *Masker) Add(value string) {
	if value == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	var added []string
	for _, f := range forms(value) {
		if f == "" || m.seen[f] {
			continue
		}
		m.seen[f] = true
		added = append(added, f)
	}
	if len(added) == 0 {
		return
	}
	// A new slice each time: snapshot() hands the old one to readers
	// without holding the lock.
	ps := make([]string, 0, len(m.patterns)+len(added))
	ps = append(append(ps, m.patterns...), added...)
	sort.SliceStable(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	m.patterns = ps
}

// forms lists the encodings of value that are masked.
func forms(value string) []string {
	fs := []string{value}
	var b bytes.Buffer
	for _, html := range []bool{false, true} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(value); err == nil {
			s := strings.TrimSuffix(b.String(), "\n")
			fs = append(fs, s[1:len(s)-1])
		}
	}
	q := strconv.Quote(value)
	fs = append(fs, q[1:len(q)-1], url.QueryEscape(value), url.PathEscape(value))
	if strings.ContainsAny(value, "\r\n") {
		for _, line := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if len(line) >= MinValueLen {
				fs = append(fs, line)
			}
		}
	}
	return fs
}

// Len returns how many patterns (values and their forms) are registered.
func (m *Masker) Len() int {
	if m == nil {
		return 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.patterns)
}

func (m *Masker) snapshot() []string {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.patterns
}

// String returns s with every occurrence of every registered form replaced
// by Masked. Overlapping occurrences are masked together, so no part of
// any value survives.
func (m *Masker) String(s string) string {
	return maskWith(m.snapshot(), s)
}

// Bytes is String for a byte slice.
func (m *Masker) Bytes(b []byte) []byte {
	return []byte(m.String(string(b)))
}

type interval struct{ start, end int }

// matches returns the merged intervals of s covered by any pattern.
func matches(patterns []string, s string) []interval {
	var iv []interval
	for _, p := range patterns {
		if len(p) > len(s) {
			continue
		}
		for i := 0; i <= len(s)-len(p); {
			j := strings.Index(s[i:], p)
			if j < 0 {
				break
			}
			iv = append(iv, interval{i + j, i + j + len(p)})
			i += j + 1
		}
	}
	return mergeIntervals(iv)
}

// MinFragmentLen is the shortest part of a value that is masked where
// text was cut (see edgeFragments).
const MinFragmentLen = MinValueLen

// edgeFragments returns the parts of s, at the places where text is
// cut, that are a proper part of a pattern: at the start of s or of a
// line, or right after "...", a suffix of a pattern; at the end of s or
// of a line, or right before "...", a prefix. A limit that cuts text
// (a stderr tail, a length cap, a host that stopped mid-line) can leave
// the end or the start of a value, which no whole-value match finds.
// Fragments shorter than MinFragmentLen are left.
func edgeFragments(patterns []string, s string) []interval {
	var starts, ends []int
	starts = append(starts, 0)
	ends = append(ends, len(s))
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\n' || s[i] == '\r':
			ends = append(ends, i)
			starts = append(starts, i+1)
		case strings.HasPrefix(s[i:], "..."):
			ends = append(ends, i)
			starts = append(starts, i+3)
		}
	}
	var iv []interval
	for _, p := range patterns {
		if len(p) <= MinFragmentLen {
			continue
		}
		for _, at := range starts {
			if k := suffixAt(p, s[at:]); k > 0 {
				iv = append(iv, interval{at, at + k})
			}
		}
		for _, at := range ends {
			if k := prefixBefore(p, s[:at]); k > 0 {
				iv = append(iv, interval{at - k, at})
			}
		}
	}
	return iv
}

// suffixAt returns the length of the longest proper suffix of p (at
// least MinFragmentLen long) that text starts with, 0 if none.
func suffixAt(p, text string) int {
	if len(text) < MinFragmentLen {
		return 0
	}
	head := text[:MinFragmentLen]
	for i := 1; i+MinFragmentLen <= len(p); i++ {
		j := strings.Index(p[i:], head)
		if j < 0 {
			return 0
		}
		i += j
		if strings.HasPrefix(text, p[i:]) {
			return len(p) - i
		}
	}
	return 0
}

// prefixBefore returns the length of the longest proper prefix of p (at
// least MinFragmentLen long) that text ends with, 0 if none.
func prefixBefore(p, text string) int {
	if len(text) < MinFragmentLen {
		return 0
	}
	tail := text[len(text)-MinFragmentLen:]
	for end := len(p) - 1; end >= MinFragmentLen; end-- {
		j := strings.LastIndex(p[:end], tail)
		if j < 0 {
			return 0
		}
		end = j + MinFragmentLen
		if strings.HasSuffix(text, p[:end]) {
			return end
		}
	}
	return 0
}

func mergeIntervals(iv []interval) []interval {
	if len(iv) < 2 {
		return iv
	}
	sort.Slice(iv, func(a, b int) bool { return iv[a].start < iv[b].start })
	merged := iv[:1]
	for _, x := range iv[1:] {
		last := &merged[len(merged)-1]
		if x.start <= last.end {
			if x.end > last.end {
				last.end = x.end
			}
			continue
		}
		merged = append(merged, x)
	}
	return merged
}

func maskWith(patterns []string, s string) string {
	if len(patterns) == 0 || s == "" {
		return s
	}
	iv := matches(patterns, s)
	if frags := edgeFragments(patterns, s); len(frags) > 0 {
		iv = mergeIntervals(append(iv, frags...))
	}
	if len(iv) == 0 {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, x := range iv {
		b.WriteString(s[prev:x.start])
		b.WriteString(Masked)
		prev = x.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

// Error returns err with its message masked. errors.Is and errors.As still
// see the wrapped chain; code that prints a wrapped error's fields itself
// must mask them too.
func (m *Masker) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if masked := m.String(msg); masked != msg {
		return &maskedError{msg: masked, err: err}
	}
	return err
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// Event returns e with every free-text string field masked (all fields of
// type string or []string, and every string of a plan's changes; Kind,
// Status and Stream are vocabulary, not text, and are left alone).
func (m *Masker) Event(e event.Event) event.Event {
	patterns := m.snapshot()
	if len(patterns) == 0 {
		return e
	}
	v := reflect.ValueOf(&e).Elem()
	t := v.Type()
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), t.Field(i)
		if !sf.IsExported() || sf.Name == "Status" || sf.Name == "Stream" {
			continue
		}
		switch {
		case sf.Type == reflect.TypeFor[string]():
			f.SetString(maskWith(patterns, f.String()))
		case sf.Type == reflect.TypeFor[[]string]() && !f.IsNil():
			old := f.Interface().([]string)
			out := make([]string, len(old))
			for j, s := range old {
				out[j] = maskWith(patterns, s)
			}
			f.Set(reflect.ValueOf(out))
		case sf.Type == reflect.TypeFor[[]event.Change]() && !f.IsNil():
			old := f.Interface().([]event.Change)
			out := make([]event.Change, len(old))
			for j, c := range old {
				out[j] = event.Change{Field: maskWith(patterns, c.Field), Subject: maskWith(patterns, c.Subject),
					From: maskWith(patterns, c.From), To: maskWith(patterns, c.To), Note: maskWith(patterns, c.Note)}
			}
			f.Set(reflect.ValueOf(out))
		}
	}
	return e
}

// Sink returns a sink that masks each event before handing it to s. The
// push engine wraps its sink with it, so no renderer sees a value.
func (m *Masker) Sink(s event.Sink) event.Sink {
	return event.SinkFunc(func(e event.Event) { s.Emit(m.Event(e)) })
}

// ErrWriterClosed is returned by Write after Close.
var ErrWriterClosed = errors.New("masking writer closed")

// Writer returns a writer that masks whole lines before writing them to
// w: a value split across two Write calls is still masked. A partial line
// is held until its newline arrives or Close is called (lines longer than
// 64 KiB are flushed early, never cutting through a possible value).
// Close flushes and does not close w. The writer is safe for concurrent
// use; it masks with the values registered at the time a line is flushed.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return &maskWriter{m: m, w: w}
}

type maskWriter struct {
	m      *Masker
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
	err    error
	closed bool
}

func (mw *maskWriter) Write(p []byte) (int, error) {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.closed {
		return 0, ErrWriterClosed
	}
	if mw.err != nil {
		return 0, mw.err
	}
	mw.buf = append(mw.buf, p...)
	if i := bytes.LastIndexByte(mw.buf, '\n'); i >= 0 {
		mw.emit(i + 1)
	}
	if len(mw.buf) > maxPending {
		mw.emitSafePrefix()
	}
	if mw.err != nil {
		return 0, mw.err
	}
	return len(p), nil
}

// emit masks and writes buf[:n] and keeps the rest.
func (mw *maskWriter) emit(n int) {
	if n <= 0 {
		return
	}
	out := mw.m.String(string(mw.buf[:n]))
	if _, err := io.WriteString(mw.w, out); err != nil && mw.err == nil {
		mw.err = err
	}
	mw.buf = append(mw.buf[:0], mw.buf[n:]...)
}

// emitSafePrefix writes the longest prefix of an unfinished line that
// cannot hold the beginning of a value: everything but the last
// (longest pattern - 1) bytes, moved back before any match it would cut.
func (mw *maskWriter) emitSafePrefix() {
	patterns := mw.m.snapshot()
	longest := 1
	if len(patterns) > 0 {
		longest = len(patterns[0])
	}
	cut := len(mw.buf) - (longest - 1)
	if cut <= 0 {
		return
	}
	for _, x := range matches(patterns, string(mw.buf)) {
		if x.start < cut && cut < x.end {
			cut = x.start
			break
		}
	}
	mw.emit(cut)
}

func (mw *maskWriter) Close() error {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.closed {
		return mw.err
	}
	mw.closed = true
	mw.emit(len(mw.buf))
	return mw.err
}
