// Package shellquote is the one place vigo turns a value into a POSIX
// shell word. Every remote command line is built from words quoted here
// (transport.Quote delegates to it), so no value is ever interpreted by a
// remote shell. It must never be bypassed with string concatenation.
package shellquote

import "strings"

// Quote returns s as a single POSIX shell word: unchanged when it holds
// only characters no shell treats specially, else in single quotes.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafeWord(s) {
		return s
	}
	// Inside single quotes nothing is special but the single quote
	// itself, which is written as '\'' (close, escaped quote, reopen).
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every word of argv with Quote and joins them with spaces.
func Join(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = Quote(a)
	}
	return strings.Join(words, " ")
}

// isSafeWord reports whether s is made only of characters no POSIX shell
// treats specially anywhere in a word, so it can go unquoted (this keeps
// command lines readable in messages).
func isSafeWord(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_./:@%+,", r):
		default:
			return false
		}
	}
	return true
}
