package template

import (
	"fmt"
	"strings"
)

// segment is a piece of a value: literal text, or the inside of an action
// (without delimiters and trim markers).
type segment struct {
	text   string
	action bool
}

// keywords and function names that may start a << action. A << followed
// by anything else (EOF, 'EOF', -EOF, a word, a number) is literal text,
// which is what a shell heredoc or a << b needs.
var actionWords = map[string]bool{
	// text/template keywords
	"if": true, "else": true, "end": true, "range": true, "with": true,
	"break": true, "continue": true, "nil": true,
	// text/template builtins
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"print": true, "printf": true, "println": true, "eq": true, "ne": true,
	"lt": true, "le": true, "gt": true, "ge": true, "html": true, "js": true,
	"urlquery": true, "call": true,
}

func init() {
	for name := range funcs(Data{}) {
		actionWords[name] = true
	}
}

// scan splits s into literal text and actions.
//
//   - "{{" always opens an action, closed by the next "}}" outside a quoted
//     string (it may span lines); an unclosed "{{" is an error.
//   - "<<" opens an action only when, after an optional "-" trim marker and
//     blanks, it continues with ".", "$", "(" or a template keyword or
//     function name, and a ">>" closes it on the same line. Otherwise the
//     "<<" is literal text.
//   - "{{- " / "<<- " trim the blanks before the action, " -}}" / " ->>"
//     the blanks after it, as text/template does.
func scan(s string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	trimNext := false
	flush := func(trimRight bool) {
		t := lit.String()
		if trimRight {
			t = strings.TrimRight(t, " \t\r\n")
		}
		if t != "" {
			segs = append(segs, segment{text: t})
		}
		lit.Reset()
	}
	i := 0
	for i < len(s) {
		var closeDelim string
		sameLine := false
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			closeDelim = "}}"
		case strings.HasPrefix(s[i:], "<<") && startsAction(s[i+2:]):
			closeDelim, sameLine = ">>", true
		}
		if closeDelim == "" {
			if trimNext && strings.ContainsRune(" \t\r\n", rune(s[i])) {
				i++
				continue
			}
			trimNext = false
			lit.WriteByte(s[i])
			i++
			continue
		}
		end := findClose(s, i+2, closeDelim, sameLine)
		if end < 0 {
			if sameLine {
				// No ">>" on this line: a heredoc-like "<<", keep it.
				trimNext = false
				lit.WriteString("<<")
				i += 2
				continue
			}
			line, col := lineCol(s, i)
			return nil, &SyntaxError{Msg: fmt.Sprintf("unclosed action %q at line %d, column %d", clip(s[i:]), line, col)}
		}
		inner := s[i+2 : end]
		trimLeft, trimRight := false, false
		if len(inner) >= 2 && inner[0] == '-' && isBlank(inner[1]) {
			trimLeft, inner = true, inner[1:]
		}
		if n := len(inner); n >= 2 && inner[n-1] == '-' && isBlank(inner[n-2]) {
			trimRight, inner = true, inner[:n-1]
		}
		flush(trimLeft)
		if t := strings.TrimSpace(inner); strings.HasPrefix(t, "/*") {
			// A comment renders to nothing; text/template wants it right
			// after the delimiter, which trim markers may have moved.
			if !strings.HasSuffix(t, "*/") {
				return nil, &SyntaxError{Msg: fmt.Sprintf("unclosed comment %q", clip(s[i:]))}
			}
			segs = append(segs, segment{text: "/*" + strings.TrimSuffix(strings.TrimPrefix(t, "/*"), "*/") + "*/", action: true})
		} else {
			segs = append(segs, segment{text: inner, action: true})
		}
		trimNext = trimRight
		i = end + 2
	}
	flush(false)
	return segs, nil
}

// startsAction reports whether the text after "<<" looks like a template
// action rather than a heredoc delimiter or a shift.
func startsAction(rest string) bool {
	if len(rest) >= 2 && rest[0] == '-' && isBlank(rest[1]) {
		rest = rest[1:]
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return false
	}
	switch rest[0] {
	case '.', '$', '(':
		return true
	}
	j := 0
	for j < len(rest) && (rest[j] == '_' || rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z' || j > 0 && rest[j] >= '0' && rest[j] <= '9') {
		j++
	}
	if j == 0 || !actionWords[rest[:j]] {
		return false
	}
	// The word must end there: "<< endpoint" is not "end".
	return j == len(rest) || rest[j] == ' ' || rest[j] == '\t' || rest[j] == '>' || rest[j] == '-'
}

// findClose returns the index of delim closing an action whose inside
// starts at from, skipping quoted strings; -1 if there is none (or, with
// sameLine, none before the end of the line).
func findClose(s string, from int, delim string, sameLine bool) int {
	// A comment ({{/* ... */}}, {{- /* ... */ -}}) may hold quotes.
	start := from
	if strings.HasPrefix(s[start:], "- ") {
		start += 2
	}
	if strings.HasPrefix(s[start:], "/*") {
		end := strings.Index(s[start+2:], "*/")
		if end < 0 {
			return -1
		}
		from = start + 2 + end + 2
	}
	for k := from; k < len(s); k++ {
		c := s[k]
		switch {
		case c == '\n' && sameLine:
			return -1
		case c == '"' || c == '\'':
			for k++; k < len(s) && s[k] != c; k++ {
				if s[k] == '\\' {
					k++
				} else if s[k] == '\n' {
					return -1
				}
			}
			if k >= len(s) {
				return -1
			}
		case c == '`':
			for k++; k < len(s) && s[k] != '`'; k++ {
				if s[k] == '\n' && sameLine {
					return -1
				}
			}
			if k >= len(s) {
				return -1
			}
		case strings.HasPrefix(s[k:], delim):
			return k
		}
	}
	return -1
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func lineCol(s string, i int) (int, int) {
	line := 1 + strings.Count(s[:i], "\n")
	col := i - strings.LastIndex(s[:i], "\n")
	return line, col
}

func clip(s string) string {
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	if len(s) > 30 {
		s = s[:30] + "..."
	}
	return s
}
