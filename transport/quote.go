package transport

import "github.com/vigo-sh/vigocli/shellquote"

// Quote returns s quoted for a POSIX shell: one word, no expansion of any
// kind. It is shellquote.Quote, the only quoting function in vigo; every
// value reaches a remote command line through it.
func Quote(s string) string { return shellquote.Quote(s) }

// QuoteArgv quotes every word of argv with Quote and joins them with
// spaces (shellquote.Join).
func QuoteArgv(argv []string) string { return shellquote.Join(argv) }
