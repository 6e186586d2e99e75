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
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*/want.txt")

// check runs what `vigocli validate` runs on a stockpile directory, in
// one pass: load, then (when the directory holds inventory.vgo) parse the
// inventory, build every host and run the executors' checks, collecting
// every error of every stage (see loadFleet in load.go). It
// returns the errors and warnings, one per line, with file names relative
// to the directory.
func check(dir string) string {
	var lines []string
	var all stockpile.Errors
	collect := func(err error) {
		if err == nil {
			return
		}
		var es stockpile.Errors
		if !errors.As(err, &es) {
			lines = append(lines, "unexpected error type: "+err.Error())
			return
		}
		all = append(all, es...)
	}
	sp, err := stockpile.LoadFS(os.DirFS(dir), "", executors.BuiltinSchemas())
	collect(err)
	if sp != nil {
		data, rerr := os.ReadFile(filepath.Join(dir, "inventory.vgo"))
		if rerr == nil {
			inv, err := inventory.Parse("inventory.vgo", data, "/stockpile", "/home/op")
			collect(err)
			if inv != nil {
				clean := len(all) == 0
				hosts, warns, err := desired.Build(sp, inv, desired.Options{})
				if clean {
					for _, w := range warns {
						lines = append(lines, "warning: "+w.Error())
					}
				}
				collect(err)
				collect(executors.Check(hosts, executors.CheckOptions{StockpileDir: dir}))
			}
		}
	}
	all.Sort()
	for _, e := range all {
		lines = append(lines, e.Error())
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
