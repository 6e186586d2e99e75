package executors

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/stockpile"
)

// The docs' field tables are generated from the registry: each sits
// between two markers naming its type. TestDocsTables fails when a table
// differs from the registry, and rewrites them with -update.
const docsMarkerHelp = "generated from the executors' type registry: go test ./executors -run TestDocsTables -update"

var fieldsMarkerRE = regexp.MustCompile(`(?s)<!-- fields ([a-z_]+): [^>]*-->\n.*?<!-- end fields ([a-z_]+) -->`)

var kindWords = map[stockpile.Kind]string{
	stockpile.KindString:   "string",
	stockpile.KindBool:     "bool",
	stockpile.KindInt:      "int",
	stockpile.KindDuration: "duration",
	stockpile.KindList:     "list",
	stockpile.KindMap:      "map",
	stockpile.KindAny:      "any",
}

// fieldTable renders a type's fields as a Markdown table.
func fieldTable(s stockpile.TypeSchema) string {
	var b strings.Builder
	b.WriteString("| field | kind | required | default | values | meaning |\n|---|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, f := range s.Fields {
		req, def, values := "", "", ""
		if f.Required {
			req = "yes"
		}
		if f.Default != "" {
			def = "`" + f.Default + "`"
		}
		if len(f.Enum) > 0 {
			values = "`" + strings.Join(f.Enum, "`, `") + "`"
		}
		doc := f.Doc
		if f.Secret {
			doc += "; values may be `secret:PATH`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, kindWords[f.Kind], req, def, values, cell(doc))
	}
	return b.String()
}

// rewriteFieldTables replaces every marked table of doc with the
// registry's, and says which types have no table.
func rewriteFieldTables(doc string, reg *Registry) (string, []string, error) {
	var errs []string
	seen := map[string]bool{}
	out := fieldsMarkerRE.ReplaceAllStringFunc(doc, func(m string) string {
		sub := fieldsMarkerRE.FindStringSubmatch(m)
		typ := sub[1]
		if sub[2] != typ {
			errs = append(errs, fmt.Sprintf("table of %s ends with the marker of %s", typ, sub[2]))
			return m
		}
		s, ok := reg.Schema(typ)
		if !ok {
			errs = append(errs, fmt.Sprintf("table of unknown type %s", typ))
			return m
		}
		if seen[typ] {
			errs = append(errs, fmt.Sprintf("two tables of %s", typ))
		}
		seen[typ] = true
		return fmt.Sprintf("<!-- fields %s: %s -->\n%s<!-- end fields %s -->", typ, docsMarkerHelp, fieldTable(s), typ)
	})
	var missing []string
	for _, n := range reg.TypeNames() {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	if len(errs) > 0 {
		return "", nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, missing, nil
}

func TestDocsTables(t *testing.T) {
	for _, name := range []string{"README.md", "docs/executors.md", "docs/stockpile.md"} {
		path := filepath.Join("..", filepath.FromSlash(name))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, missing, err := rewriteFieldTables(string(data), BuiltinSchemas())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, typ := range missing {
			t.Errorf("%s has no field table of %s: add the markers <!-- fields %s: --> and <!-- end fields %s --> and run with -update", name, typ, typ, typ)
		}
		if got == string(data) {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: a field table differs from the registry; run go test ./executors -run TestDocsTables -update and review the diff", name)
	}
}

// TestRewriteFieldTables checks that a drifted table is found and
// rewritten, and a missing one reported.
func TestRewriteFieldTables(t *testing.T) {
	reg, err := NewRegistry(dockerImageType, fileType)
	if err != nil {
		t.Fatal(err)
	}
	doc := "# x\n<!-- fields file: old -->\n| `target_path` | string |\n<!-- end fields file -->\ntext\n"
	got, missing, err := rewriteFieldTables(doc, reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "docker_image" {
		t.Errorf("missing = %v, want [docker_image]", missing)
	}
	if !strings.Contains(got, "| `mode` | string |  | `0644` |  |") || !strings.HasSuffix(got, "<!-- end fields file -->\ntext\n") {
		t.Errorf("rewritten:\n%s", got)
	}
	if _, _, err := rewriteFieldTables("<!-- fields nope: x -->\n<!-- end fields nope -->", reg); err == nil {
		t.Error("a table of an unknown type was accepted")
	}
}
