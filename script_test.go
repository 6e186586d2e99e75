package main

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vigo-sh/vigocli/executors"
)

// The CLI is tested with testscript: every testdata/script/*.txtar file is
// a script that runs the real vigocli (this test binary re-executed as
// "vigocli", see TestMain) in a fresh work directory.
//
// Each script gets these variables:
//
//	$REPO      absolute path of the repository root
//	$EXAMPLES  absolute path of examples/
//	$HOME      the script's work directory (so ~/.ssh is the script's own)
//
// and a ready-made copy of the documentation's five example files at
// $WORK/docker-stack (not the lab's inventory, role and envoy that
// examples/docker-stack also holds: scripts write their own inventory.vgo).
//
// go test -run TestScript -update rewrites cmp golden sections in place.

var updateScripts = flag.Bool("update", false, "rewrite testscript cmp files in place")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vigocli": main,
	})
}

func TestScript(t *testing.T) {
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		UpdateScripts:       *updateScripts,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("EXAMPLES", filepath.Join(repo, "examples"))
			env.Setenv("HOME", env.WorkDir)
			for _, f := range docExampleFiles {
				src := filepath.Join(repo, "examples", "docker-stack", f)
				dst := filepath.Join(env.WorkDir, "docker-stack", f)
				if err := copyFile(src, dst); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// docExampleFiles are the five files of the product documentation, kept
// verbatim in examples/docker-stack (which also holds the lab's own
// inventory, role and envoy: scripts do not get those).
var docExampleFiles = []string{
	"modules/redis.vgo",
	"modules/app-stack.vgo",
	"modules/compose-app.vgo",
	"roles/docker-app.vgo",
	"envoys/nodes.vgo",
}

// copyDir copies the regular files of src (recursively) into dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// TestStockpileDocListsEveryField keeps docs/stockpile.md's resource type
// reference in step with the executors' schemas.
func TestStockpileDocListsEveryField(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("docs", "stockpile.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	types := executors.BuiltinSchemas()
	for _, name := range types.TypeNames() {
		ts, _ := types.Schema(name)
		head := "### `" + name + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("docs/stockpile.md has no section %q", head)
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n#"); j >= 0 {
			section = section[:j]
		}
		for _, f := range ts.Fields {
			if !strings.Contains(section, "| `"+f.Name+"` |") {
				t.Errorf("docs/stockpile.md: section %s does not describe field %q", head, f.Name)
			}
		}
	}
}
