package secrets

import (
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	for _, c := range []struct {
		name  string
		field string
		v     any
		want  string // field=path pairs in walk order
	}{
		{"plain string", "image", "redis:7", ""},
		{"reference", "content", "secret:vigo/token", "content=vigo/token"},
		{"not a whole-value reference", "url", "postgres://secret:x@db", ""},
		{"prefix alone", "x", "secret:", ""},
		{"space in path", "x", "secret: spaced", ""},
		{"invalid path is still a reference", "x", "secret:bad!path", "x=bad!path"},
		{"dot-dot path is still a reference", "x", "secret:../up", "x=../up"},
		{"number", "port", 3, ""},
		{"nil", "x", nil, ""},
		{"map by sorted key", "environment", map[string]any{
			"Z": "secret:z", "A": "secret:a", "M": "plain", "secret:key": "plain",
		}, "environment.A=a,environment.Z=z"},
		{"string map", "env", map[string]string{"B": "secret:b", "A": "x"}, "env.B=b"},
		{"list", "command", []any{"--pw", "secret:a/z", 7}, "command[1]=a/z"},
		{"string list", "list", []string{"secret:c", "d"}, "list[0]=c"},
		{"nested maps and lists", "healthcheck", map[string]any{
			"test": []any{"CMD", map[string]any{"deep": []any{"secret:d/1"}}},
			"env":  map[string]any{"X": map[string]any{"Y": "secret:d/2"}},
		}, "healthcheck.env.X.Y=d/2,healthcheck.test[1].deep[0]=d/1"},
		{"top level without a name", "", map[string]any{"a": "secret:p"}, "a=p"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			if !Inspect(c.field, c.v, func(field, path string) bool {
				got = append(got, field+"="+path)
				return true
			}) {
				t.Fatal("Inspect stopped without being asked")
			}
			if s := strings.Join(got, ","); s != c.want {
				t.Errorf("got %q, want %q", s, c.want)
			}
		})
	}
}

// Returning false from found stops the walk at once.
func TestInspectStops(t *testing.T) {
	v := map[string]any{"a": "secret:1", "b": []any{"secret:2", "secret:3"}, "c": "secret:4"}
	var got []string
	done := Inspect("f", v, func(field, path string) bool {
		got = append(got, path)
		return path != "2"
	})
	if done || strings.Join(got, ",") != "1,2" {
		t.Fatalf("done %v, visited %v; want stopped after 1,2", done, got)
	}
}
