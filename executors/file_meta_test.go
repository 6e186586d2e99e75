package executors

import (
	"os"
	"testing"
)

// TestFileNumericOwnerConverges: owner "0" and group "0" are ids and
// match a file stat reports as root:root (uid 0, gid 0); a name is
// compared with the name; a number with another id differs.
func TestFileNumericOwnerConverges(t *testing.T) {
	spec := &fileSpec{Path: "/etc/app.conf", Content: []byte("x"), SHA256: "h", Mode: 0o644, State: "present"}
	on := &FileInfo{SHA256: "h", Mode: "0644", Owner: "root", Group: "root", UID: "0", GID: "0"}
	for _, tc := range []struct {
		owner, group string
		want         Action
	}{
		{"0", "0", ActionNone},
		{"root", "root", ActionNone},
		{"0", "root", ActionNone},
		{"1000", "", ActionChattr},
		{"app", "", ActionChattr},
		{"", "1000", ActionChattr},
	} {
		s := *spec
		s.Owner, s.Group = tc.owner, tc.group
		st := NewState()
		st.Files[s.Path] = on
		if got := s.Plan(st); got.Action != tc.want {
			t.Errorf("owner %q group %q: %s %v, want %s", tc.owner, tc.group, got.Action, got.Diff, tc.want)
		}
	}
	// Setuid with an owner: the planned mode is the one written (4755).
	s := *spec
	s.Mode, s.Owner = os.ModeSetuid|0o755, "0"
	st := NewState()
	st.Files[s.Path] = &FileInfo{SHA256: "h", Mode: "4755", Owner: "root", Group: "root", UID: "0", GID: "0"}
	if got := s.Plan(st); got.Action != ActionNone {
		t.Errorf("setuid file already right: %s %v", got.Action, got.Diff)
	}
}
