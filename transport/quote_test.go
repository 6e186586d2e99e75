package transport

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/shellquote"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/usr/bin/docker", "/usr/bin/docker"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$(id)", "'$(id)'"},
		{"`id`", "'`id`'"},
		{"a=b", "'a=b'"},
		{"~", "'~'"},
		{"*", "'*'"},
		{"'; touch /tmp/pwned; '", `''\''; touch /tmp/pwned; '\'''`},
		{"line\nbreak", "'line\nbreak'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestQuoteRoundTrip feeds quoted words to a real sh and checks each
// arrives as one literal argument.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"", " ", "'", "''", `"`, `\`, "$HOME", "$(id)", "`id`", "a;b", "a|b", "a&b",
		"'; touch /tmp/pwned; '", "*", "?", "[a]", "~root", "x\ny", "\t", "-n", "!", "#c", "{a,b}", "é ü"}
	line := "printf '%s\\0' " + QuoteArgv(words)
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(words) {
		t.Fatalf("got %d words, want %d: %q", len(got), len(words), got)
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("word %d: got %q, want %q", i, got[i], words[i])
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		cmd    Cmd
		become bool
		want   string
	}{
		{Cmd{Argv: []string{"docker", "ps", "-a"}}, false, "docker ps -a"},
		{Cmd{Argv: []string{"echo", "$(id)"}}, true, "sudo -n -- echo '$(id)'"},
		{Cmd{Shell: "curl -f localhost || exit 1"}, false, "sh -c 'curl -f localhost || exit 1'"},
		{Cmd{Shell: "echo 'x'"}, true, `sudo -n -- sh -c 'echo '\''x'\'''`},
	}
	for _, tt := range tests {
		got, err := commandLine(tt.cmd, tt.become)
		if err != nil || got != tt.want {
			t.Errorf("commandLine(%+v, %v) = %q, %v; want %q", tt.cmd, tt.become, got, err, tt.want)
		}
	}
	if _, err := commandLine(Cmd{}, false); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := commandLine(Cmd{Argv: []string{"a"}, Shell: "b"}, false); err == nil {
		t.Error("argv and shell both accepted")
	}
}

// TestPidWriter: the pid line is removed from stdout however the bytes
// arrive, and lines a noisy rc file prints before it are kept.
func TestPidWriter(t *testing.T) {
	tests := []struct {
		chunks  []string
		pid     int
		visible string
	}{
		{[]string{"vigo-pid:42\nhello\n"}, 42, "hello\n"},
		{[]string{"vig", "o-pid:4", "2\nhel", "lo"}, 42, "hello"},
		{[]string{"rc noise\n", "vigo-pid:7\n", "out"}, 7, "rc noise\nout"},
		{[]string{"vigo-pid:9\n"}, 9, ""},
	}
	for _, tt := range tests {
		var out strings.Builder
		w := &pidWriter{dst: &out, got: make(chan struct{})}
		for _, c := range tt.chunks {
			w.Write([]byte(c))
		}
		if w.value() != tt.pid || out.String() != tt.visible {
			t.Errorf("%q: pid %d output %q, want %d %q", tt.chunks, w.value(), out.String(), tt.pid, tt.visible)
		}
	}
}

// TestOneQuotingFunction: transport quotes through shellquote and keeps no
// quoting code of its own that could drift from it.
func TestOneQuotingFunction(t *testing.T) {
	for _, w := range []string{"", "a b", "it's", "$(id)", "plain-word_1.2:3@x%+,"} {
		if Quote(w) != shellquote.Quote(w) {
			t.Errorf("Quote(%q) = %s, shellquote says %s", w, Quote(w), shellquote.Quote(w))
		}
	}
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && (fd.Name.Name == "isSafeWord" || fd.Name.Name == "quoteWord") {
					t.Errorf("%s: transport has its own %s; use shellquote", name, fd.Name.Name)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && strings.Contains(lit.Value, `'\''`) {
					t.Errorf("%s: single-quote escaping outside shellquote: %s", fset.Position(lit.Pos()), lit.Value)
				}
				return true
			})
		}
	}
}
