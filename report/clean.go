package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that reaches the renderers often comes from hosts: stderr tails,
// a task's output lines, lock owner fields, error strings. Written raw to
// a terminal, an escape sequence in it would move the cursor, rewrite
// earlier lines, retitle the window or worse. Clean makes such text
// inert and visible: C0 control characters other than tab (ESC, NUL,
// CR...) and DEL become \xNN, C1 control characters (U+0080..U+009F) and
// every bidirectional control (marks, embeddings, overrides, isolates:
// they reorder what is shown) become \uNNNN, and a byte that is not UTF-8 becomes \xNN.
func Clean(s string) string { return clean(s, false) }

// CleanLines is Clean that keeps newlines (for multi-line text such as a
// JUnit report's system-out).
func CleanLines(s string) string { return clean(s, true) }

func clean(s string, keepNewlines bool) string {
	if !needsClean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepNewlines, r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isInvisibleControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsClean(s string, keepNewlines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && !(c == '\n' && keepNewlines) || c == 0x7f {
			return true
		}
		if c >= 0x80 { // slow path for anything not ASCII
			for _, r := range s[i:] {
				if r == utf8.RuneError || isInvisibleControl(r) || r < 0x20 && r != '\t' && !(r == '\n' && keepNewlines) || r == 0x7f {
					return true
				}
			}
			return false
		}
	}
	return false
}

// isInvisibleControl: C1 controls (0x9b is CSI on terminals that read
// them) and every Unicode bidirectional formatting character (UAX #9):
// the marks LRM U+200E, RLM U+200F and ALM U+061C, the embeddings and
// overrides U+202A..U+202E, the isolates U+2066..U+2069. Each can make
// a host's text read differently from what it holds.
func isInvisibleControl(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
