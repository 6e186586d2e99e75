package desired_test

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/stockpile/stockpiletest"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*/want.txt")

// check runs what `vigocli validate` runs on a stockpile directory: load,
// then (when the directory holds inventory.vgo) parse the inventory and
// build every host. It returns the errors and warnings, one per line, with
// file names relative to the directory.
func check(dir string) string {
	var lines []string
	sp, err := stockpile.LoadFS(os.DirFS(dir), "", stockpiletest.Types())
	if err == nil {
		data, rerr := os.ReadFile(filepath.Join(dir, "inventory.vgo"))
		if rerr == nil {
			var inv *inventory.Inventory
			inv, err = inventory.Parse("inventory.vgo", data, "/stockpile", "/home/op")
			if err == nil {
				var warns []*stockpile.Error
				_, warns, err = desired.Build(sp, inv, desired.Options{})
				for _, w := range warns {
					lines = append(lines, "warning: "+w.Error())
				}
			}
		}
	}
	if err != nil {
		var es stockpile.Errors
		if !errors.As(err, &es) {
			lines = append(lines, "unexpected error type: "+err.Error())
		} else {
			for _, e := range es {
				lines = append(lines, e.Error())
			}
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestBadStockpiles checks every testdata/bad/CASE against its want.txt
// (go test ./desired -run TestBadStockpiles -update rewrites them).
func TestBadStockpiles(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 40 {
		t.Fatalf("only %d bad stockpiles", len(dirs))
	}
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := check(dir)
			if strings.TrimSpace(got) == "" {
				t.Fatalf("no error and no warning: a bad stockpile must be reported")
			}
			want := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			w, err := os.ReadFile(want)
			if err != nil && errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("no want.txt; run with -update and review it. got:\n%s", got)
			}
			if got != string(w) {
				t.Errorf("errors differ from want.txt\n--- got\n%s--- want\n%s", got, w)
			}
		})
	}
}
