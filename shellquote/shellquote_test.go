package shellquote

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"redis", "redis"},
		{"--maxmemory", "--maxmemory"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$(id)", "'$(id)'"},
		{"~root", "'~root'"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestQuoteThroughShell hands quoted words to a real sh and checks that
// each arrives as exactly one literal argument.
func TestQuoteThroughShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	for _, in := range []string{
		"", "plain", "a b", "'; touch /tmp/pwned; '", "$(id)", "`id`", "${HOME}", "a\nb", "*", "~",
		`back\slash`, `"dq"`, "tab\there", "semi;colon", "pipe|amp&", "!bang", "#hash", "-n",
	} {
		out, err := exec.Command(sh, "-c", `printf '%s\0' `+Join([]string{in, "end"})).Output()
		if err != nil {
			t.Fatalf("sh with %q: %v", in, err)
		}
		if want := in + "\x00end\x00"; string(out) != want {
			t.Errorf("through sh: %q arrived as %q", in, out)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "'", "$(x)", "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if q == "" {
			t.Fatal("empty quoting")
		}
		if isSafeWord(s) && s != "" && q != s {
			t.Fatalf("safe word %q changed to %q", s, q)
		}
	})
}
