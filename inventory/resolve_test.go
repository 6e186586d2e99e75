package inventory

import (
	"errors"
	"slices"
	"testing"
)

func TestResolveName(t *testing.T) {
	names := []string{"web1.app.example.com", "web10.app.example.com", "web2.app.example.com", "db1.example.com", "db1.example.org"}
	for _, tc := range []struct {
		in, want  string
		ambiguous []string
	}{
		{in: "web1.app.example.com", want: "web1.app.example.com"},
		{in: "web1", want: "web1.app.example.com"}, // short name, though web10 shares the prefix
		{in: "web1.app", want: "web1.app.example.com"},
		{in: "web10", want: "web10.app.example.com"},
		{in: "web2.app.ex", want: "web2.app.example.com"}, // plain prefix
		{in: "web", ambiguous: []string{"web1.app.example.com", "web10.app.example.com", "web2.app.example.com"}},
		{in: "db1", ambiguous: []string{"db1.example.com", "db1.example.org"}},
		{in: "db1.example.c", want: "db1.example.com"},
		{in: "mail", want: "mail"},   // unknown: unchanged, the caller says so
		{in: "web*", want: "web*"},   // a glob is not a name
		{in: "web1?", want: "web1?"}, // nor is this
		{in: "", want: ""},
	} {
		got, err := ResolveName(names, tc.in)
		var ae *AmbiguousNameError
		if tc.ambiguous != nil {
			if !errors.As(err, &ae) || !slices.Equal(ae.Candidates, tc.ambiguous) {
				t.Errorf("ResolveName(%q) = %q, %v; want ambiguous %v", tc.in, got, err, tc.ambiguous)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolveName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
