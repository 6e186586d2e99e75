package transport

import "strings"

// Quote returns s quoted for a POSIX shell: one word, no expansion of any
// kind. It is the only way a value reaches a remote command line.
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

// QuoteArgv quotes every word of argv with Quote and joins them with
// spaces.
func QuoteArgv(argv []string) string {
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
