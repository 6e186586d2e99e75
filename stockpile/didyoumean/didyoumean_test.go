package didyoumean

import "testing"

func TestSuggest(t *testing.T) {
	fields := []string{"container", "image", "state", "ports", "restart_policy", "environment", "command"}
	for _, tc := range []struct {
		in, want string
	}{
		{"restart_polcy", "restart_policy"},
		{"restart_polciy", "restart_policy"},
		{"restartpolicy", "restart_policy"},
		{"imgae", "image"},
		{"Image", "image"},
		{"port", "ports"},
		{"enviroment", "environment"},
		{"xyz", ""},
		{"volumes", ""},
		{"", ""},
		{"image", ""}, // an exact match is not a suggestion
	} {
		if got := Suggest(tc.in, fields); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"abc", "abc", 0},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q,%q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHint(t *testing.T) {
	known := []string{"defaults", "hosts"}
	for in, want := range map[string]string{
		"hots":     `did you mean "hosts"?`,
		"hosts":    "", // a known name needs no hint, even with a close neighbour
		"zzzzzzzz": "",
	} {
		if got := Hint(in, known); got != want {
			t.Errorf("Hint(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Hint("host", []string{"host", "hosts"}); got != "" {
		t.Errorf("Hint of a known name = %q, want none", got)
	}
}
