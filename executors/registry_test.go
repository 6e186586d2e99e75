package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors/executorstest"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// A trivial resource type, declared only here, to show what adding a
// type takes: one Type value (schema and decoder) and a Spec; nothing
// else in the package changes. test_marker writes a one-line marker file.
var testMarkerType = Type{
	Schema: stockpile.TypeSchema{
		Type: "test_marker",
		Doc:  "a marker file holding one line",
		Fields: []stockpile.Field{
			{Name: "path", Kind: stockpile.KindString, Required: true, Doc: "absolute path on the host"},
			{Name: "text", Kind: stockpile.KindString, Default: "hello", Doc: "the line"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Default: "present", Doc: "absent removes the marker"},
		},
	},
	Decode: func(f fields, _ Env) (Spec, error) {
		s := &markerSpec{res: f.r}
		var err error
		if s.path, err = f.str("path"); err != nil {
			return nil, err
		}
		if !filepath.IsAbs(s.path) {
			return nil, f.errorf("path", "want an absolute path, got %q", s.path)
		}
		if s.text, err = f.text("text"); err != nil {
			return nil, err
		}
		if s.state, err = f.enum("state"); err != nil {
			return nil, err
		}
		return s, nil
	},
}

type markerSpec struct {
	res               desired.Resource
	path, text, state string
}

func (s *markerSpec) Resource() desired.Resource { return s.res }
func (s *markerSpec) Needs(n *Needs)             { n.file(s.path) }
func (s *markerSpec) Keys() []string             { return []string{"file:" + s.path} }
func (s *markerSpec) Touches() []string          { return []string{"file:" + s.path} }
func (s *markerSpec) RefreshAction() Action      { return ActionNone }
func (s *markerSpec) Refresh(context.Context, Host, *State) (Outcome, error) {
	return Outcome{}, nil
}

func (s *markerSpec) Plan(o *State) Step {
	fi := o.Files[s.path]
	sum := sha256.Sum256([]byte(s.text + "\n"))
	switch {
	case s.state == "absent" && fi == nil, s.state == "present" && fi != nil && fi.SHA256 == hex.EncodeToString(sum[:]):
		return Step{Action: ActionNone, Reason: s.state}
	case s.state == "absent":
		return Step{Action: ActionRemove, Reason: "present, absent wanted"}
	}
	return Step{Action: ActionWrite, Reason: "missing or different"}
}

func (s *markerSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	if st.Action == ActionRemove {
		return Outcome{Changed: true}, h.RemoveFile(ctx, s.path)
	}
	changed, err := h.WriteFile(ctx, s.path, []byte(s.text+"\n"), transport.FileOptions{Mode: 0o644})
	return Outcome{Changed: changed}, err
}

func withMarker(t *testing.T) *Registry {
	t.Helper()
	reg, err := NewRegistry(dockerImageType, dockerContainerType, dockerComposeType, fileType, dockerNetworkType, dockerVolumeType, testMarkerType)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestTestOnlyTypeEndToEnd registers test_marker beside the built-in
// types and takes it through the loader's checks, decode (defaults and
// enum from its schema), observe, plan and apply on the fake host.
func TestTestOnlyTypeEndToEnd(t *testing.T) {
	reg := withMarker(t)

	// The loader checks the new type's fields with its schema.
	fsys := fstest.MapFS{"modules/m.vgo": {Data: []byte("name: m\nresources:\n  - name: mark\n    type: test_marker\n    path: /etc/mark\n    stat: absent\n  - name: mark2\n    type: test_marker\n    path: /etc/mark2\n    state: gone\n")}}
	_, err := stockpile.LoadFS(fsys, "", reg)
	var errs stockpile.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("load: %v", err)
	}
	if got := errs[0].Error(); !strings.Contains(got, `m.vgo:6:5: unknown field "stat" in resource "mark" (test_marker)`) || !strings.Contains(got, `did you mean "state"?`) {
		t.Errorf("unknown field: %s", got)
	}
	if got := errs[1].Error(); !strings.Contains(got, `m.vgo:10:12: state of resource "mark2" must be one of present, absent, not "gone"`) {
		t.Errorf("enum: %s", got)
	}

	ctx := context.Background()
	h := executorstest.New("web2.app.example.com")
	res := desired.Resource{Name: "mark", Module: "m", Type: "test_marker", Fields: map[string]any{"path": "/etc/mark"}}
	sp, err := reg.Decode(res, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if m := sp.(*markerSpec); m.text != "hello" || m.state != "present" {
		t.Fatalf("defaults not taken from the schema: %+v", m)
	}
	plan := func() Step {
		var n Needs
		sp.Needs(&n)
		st, err := Observe(ctx, h, n)
		if err != nil {
			t.Fatal(err)
		}
		return Plan(sp, st)
	}
	st := plan()
	if st.Action != ActionWrite {
		t.Fatalf("first plan: %s", st)
	}
	if out, err := Apply(ctx, h, st); err != nil || !out.Changed {
		t.Fatalf("apply: %+v, %v", out, err)
	}
	if f := h.Files["/etc/mark"]; f == nil || string(f.Data) != "hello\n" {
		t.Fatalf("file on the fake host: %+v", f)
	}
	if st := plan(); st.Action != ActionNone {
		t.Errorf("second plan: %s", st)
	}

	res.Fields["state"] = "gone"
	if _, err := reg.Decode(res, Env{}); err == nil || !strings.Contains(err.Error(), `field state: "gone" is not one of present, absent`) {
		t.Errorf("enum at decode: %v", err)
	}
	// The built-in table does not know the test type.
	if _, err := Decode(res, Env{}); err == nil || !strings.Contains(err.Error(), `unknown type "test_marker"`) {
		t.Errorf("built-in Decode: %v", err)
	}
}

func TestNewRegistryRefusesMalformedTypes(t *testing.T) {
	dec := testMarkerType.Decode
	field := func(f stockpile.Field) Type {
		return Type{Schema: stockpile.TypeSchema{Type: "t", Fields: []stockpile.Field{f}}, Decode: dec}
	}
	for name, types := range map[string][]Type{
		"twice":             {testMarkerType, testMarkerType},
		"no decoder":        {{Schema: stockpile.TypeSchema{Type: "t"}}},
		"no name":           {{Decode: dec}},
		"default not enum":  {field(stockpile.Field{Name: "s", Enum: []string{"a", "b"}, Default: "c"})},
		"bad bool default":  {field(stockpile.Field{Name: "b", Kind: stockpile.KindBool, Default: "maybe"})},
		"bad duration":      {field(stockpile.Field{Name: "d", Kind: stockpile.KindDuration, Default: "soon"})},
		"required defaults": {field(stockpile.Field{Name: "r", Required: true, Default: "x"})},
		"field twice":       {{Schema: stockpile.TypeSchema{Type: "t", Fields: []stockpile.Field{{Name: "a"}, {Name: "a"}}}, Decode: dec}},
		"key not a field":   {{Schema: stockpile.TypeSchema{Type: "t", Key: "k"}, Decode: dec}},
	} {
		if _, err := NewRegistry(types...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSecretFieldsFromSchema: the fields push resolves secrets in are
// the ones the schemas mark, and only those.
func TestSecretFieldsFromSchema(t *testing.T) {
	var got []string
	for _, n := range BuiltinSchemas().TypeNames() {
		s, _ := BuiltinSchemas().Schema(n)
		for _, f := range s.Fields {
			if SecretRefAllowed(n, f.Name) != f.Secret {
				t.Errorf("SecretRefAllowed(%s, %s) = %v, schema says %v", n, f.Name, !f.Secret, f.Secret)
			}
			if f.Secret {
				got = append(got, n+"."+f.Name)
			}
		}
	}
	want := []string{"docker_compose.env", "docker_container.environment", "file.content"}
	if !slices.Equal(got, want) {
		t.Errorf("secret-bearing fields %v, want %v", got, want)
	}
}

// fullExamples set every field of each built-in type, across one or more
// resources (file's content and source exclude each other).
var fullExamples = map[string][]map[string]any{
	"docker_image": {{"image": "redis", "tag": "7", "state": "present", "pull": "always"}},
	"docker_container": {{
		"container": "app", "image": "nginx:1", "state": "running", "ports": []any{"8080:80"}, "command": "nginx -g x",
		"entrypoint": []any{"/bin/sh"}, "environment": map[string]any{"A": "1"}, "restart_policy": "always",
		"volumes": []any{"data:/data"}, "networks": []any{"app-net"}, "labels": map[string]any{"x": "y"}, "user": "1000",
		"working_dir": "/app", "hostname": "app", "healthcheck": map[string]any{"test": "true", "retries": "3"},
		"wait_healthy": "true", "wait_timeout": "30s",
	}},
	"docker_compose": {{
		"compose_file": "/srv/app/compose.yml", "project_name": "app", "state": "up", "pull": "never", "remove_orphans": "true",
		"services": []any{"web"}, "wait": "true", "wait_timeout": "1m", "env": map[string]any{"A": "b"},
	}},
	"file": {
		{"target_path": "/etc/x", "content": "x", "mode": "0600", "owner": "root", "group": "root", "state": "present"},
		{"target_path": "/etc/y", "source": "src.txt"},
	},
	"docker_network": {{
		"network": "app-net", "driver": "bridge", "options": map[string]any{"a": "b"}, "labels": map[string]any{"x": "y"},
		"internal": "true", "attachable": "false", "subnet": "172.30.0.0/24", "gateway": "172.30.0.1", "state": "present", "take_over": "true",
	}},
	"docker_volume": {{
		"volume": "data", "driver": "local", "driver_opts": map[string]any{"type": "tmpfs"}, "labels": map[string]any{"x": "y"},
		"state": "present", "recreate": "true", "take_over": "true",
	}},
}

// TestDecodersReadTheirSchema checks that each type's decoder reads
// every field of its schema and no other: a field declared but never
// read, or read but never declared, is a mistake the loader cannot see.
func TestDecodersReadTheirSchema(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "src.txt"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := BuiltinSchemas()
	for _, n := range reg.TypeNames() {
		examples, ok := fullExamples[n]
		if !ok {
			t.Errorf("%s: no full example in fullExamples", n)
			continue
		}
		typ := reg.types[n]
		seen := map[string]bool{}
		for _, ex := range examples {
			r := desired.Resource{Name: "r", Type: n, Fields: ex}
			if _, err := typ.Decode(fields{r: r, schema: &typ.Schema, seen: seen}, Env{StockpileDir: dir, Offline: true}); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
		var declared []string
		for _, f := range typ.Schema.Fields {
			declared = append(declared, f.Name)
			if !seen[f.Name] {
				t.Errorf("%s: field %s is declared but its decoder never reads it", n, f.Name)
			}
		}
		for f := range seen {
			if !slices.Contains(declared, f) {
				t.Errorf("%s: the decoder reads field %s, which its schema does not declare", n, f)
			}
		}
	}
}
