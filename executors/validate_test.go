package executors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// A file source is read only from inside the stockpile, after symlinks:
// a link to /proc/self/environ would send the controller's VIGO_* secrets
// to a host. The operator may opt in to links out; a FIFO or a device is
// never read (it would block or never end).
func TestReadSource(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside.txt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(outside, []byte("outside"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "files", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "files", "in.txt"), []byte("inside"), 0o644))
	must(os.Symlink("in.txt", filepath.Join(dir, "files", "link-in")))
	must(os.Symlink("../in.txt", filepath.Join(dir, "files", "sub", "up-in")))
	must(os.Symlink("/proc/self/environ", filepath.Join(dir, "files", "environ")))
	must(os.Symlink(outside, filepath.Join(dir, "files", "abs-out")))
	must(os.Symlink("../../"+filepath.Base(filepath.Dir(outside))+"/outside.txt", filepath.Join(dir, "files", "rel-out")))
	must(os.Symlink("/etc", filepath.Join(dir, "files", "etcdir")))
	must(syscall.Mkfifo(filepath.Join(dir, "files", "fifo"), 0o644))

	for _, tc := range []struct {
		src     string
		outside bool
		want    string // content, or "error: piece of the message"
	}{
		{"files/in.txt", false, "inside"},
		{"files/link-in", false, "inside"},
		{"files/sub/up-in", false, "inside"},
		{"files/environ", false, "error: outside the stockpile: refused"},
		{"files/abs-out", false, "error: leads to " + outside + ", outside the stockpile"},
		{"files/etcdir/hostname", false, "error: outside the stockpile"},
		{"files/abs-out", true, "outside"},
		{"files/fifo", false, "error: is not a regular file"},
		{"files/fifo", true, "error: is not a regular file"},
		{"files/missing", false, "error: no such file"},
	} {
		b, err := readSource(Env{StockpileDir: dir, SourceOutside: tc.outside}, tc.src)
		got := string(b)
		if err != nil {
			got = "error: " + err.Error()
		}
		if want, isErr := strings.CutPrefix(tc.want, "error: "); isErr {
			if err == nil || !strings.Contains(got, want) {
				t.Errorf("%s (outside %v): got %q, want an error saying %q", tc.src, tc.outside, got, want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s (outside %v): got %q, want %q", tc.src, tc.outside, got, tc.want)
		}
	}
	if _, err := readSource(Env{StockpileDir: dir}, "files/rel-out"); err == nil || !strings.Contains(err.Error(), "outside the stockpile") {
		t.Errorf("relative link out: %v", err)
	}
}

// Check decodes every resource offline (a secret reference stands for a
// set value) and reports each refused value at the value's position.
func TestCheckOffline(t *testing.T) {
	pos := func(l int) stockpile.Pos { return stockpile.Pos{File: "m.vgo", Line: l, Col: 3} }
	h := desired.Host{Name: "h1", Resources: []desired.Resource{
		{Name: "a", Module: "m", Type: "docker_container", Pos: pos(1),
			Fields:   map[string]any{"container": "a1", "image": "nginx", "environment": map[string]any{"PASSWORD": "secret:app/pw"}},
			FieldPos: map[string]stockpile.Pos{"image": pos(2)}},
		{Name: "b", Module: "m", Type: "docker_container", Pos: pos(5),
			Fields:   map[string]any{"container": "b1", "image": "--privileged"},
			FieldPos: map[string]stockpile.Pos{"image": pos(7)}},
		{Name: "c", Module: "m", Type: "file", Pos: pos(9), Fields: map[string]any{"target_path": "rel", "content": "secret:x"}, Invalid: true},
	}}
	err := Check([]desired.Host{h}, CheckOptions{StockpileDir: t.TempDir()})
	var es stockpile.Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("want one error (b; c was reported already), got %v", err)
	}
	if want := `m.vgo:7:3: image of resource "b" (module m): "--privileged" is not an image reference`; !strings.HasPrefix(es[0].Error(), want) {
		t.Errorf("got %q, want it to start with %q", es[0].Error(), want)
	}
}
