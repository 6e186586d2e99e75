package executors

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// Type is one resource type, declared once in its own file: its schema
// (field names, kinds, enums, defaults, which fields are required and
// which may carry secret references, and the docs' one-liners) and its
// decoder. The decoder reads defaults and enums from the schema, and the
// Spec it returns says what it needs observed, plans and applies. The
// loader's checks (stockpile.Types), validate, secret resolution and the
// docs' field tables all read the same Type.
type Type struct {
	Schema stockpile.TypeSchema
	// Decode turns a rendered resource of this type into its spec. The
	// fields it is given carry the schema.
	Decode func(f fields, env Env) (Spec, error)
}

// Registry is a read-only table of resource types, looked up by name.
// It is what stockpile.Load is given (it satisfies stockpile.Types).
type Registry struct {
	types map[string]*Type
	names []string // sorted
}

// builtin is the table of the built-in resource types. It is built once
// and never changed. A new type is a Type value in its own file and one
// entry here.
var builtin = mustRegistry(
	dockerImageType,
	dockerContainerType,
	dockerComposeType,
	fileType,
	dockerNetworkType,
	dockerVolumeType,
)

// BuiltinSchemas returns the table of the built-in resource types: what
// the CLI gives stockpile.Load, and what Decode decodes with.
func BuiltinSchemas() *Registry { return builtin }

func mustRegistry(types ...Type) *Registry {
	r, err := NewRegistry(types...)
	if err != nil {
		panic(err) // a built-in type is malformed: a bug, caught by any test
	}
	return r
}

// NewRegistry builds a table of types, checking that each schema is
// consistent (unique names, defaults in their enum and of their kind, a
// Key that is a field).
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{types: map[string]*Type{}}
	for i := range types {
		t := types[i]
		if err := checkType(t); err != nil {
			return nil, err
		}
		if _, dup := r.types[t.Schema.Type]; dup {
			return nil, fmt.Errorf("resource type %q registered twice", t.Schema.Type)
		}
		r.types[t.Schema.Type] = &t
		r.names = append(r.names, t.Schema.Type)
	}
	slices.Sort(r.names)
	return r, nil
}

func checkType(t Type) error {
	s := t.Schema
	if s.Type == "" || t.Decode == nil {
		return fmt.Errorf("resource type %q: a type needs a name and a decoder", s.Type)
	}
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if f.Name == "" || seen[f.Name] {
			return fmt.Errorf("resource type %q: field %q is empty or declared twice", s.Type, f.Name)
		}
		seen[f.Name] = true
		if f.Default == "" {
			continue
		}
		if f.Required {
			return fmt.Errorf("resource type %q: required field %q has a default", s.Type, f.Name)
		}
		if _, problem, _ := stockpile.CheckValue(f, f.Default); problem != "" {
			return fmt.Errorf("resource type %q: default of field %q %s", s.Type, f.Name, problem)
		}
		if f.Kind == stockpile.KindDuration {
			if _, err := parseDuration(f.Default); err != nil {
				return fmt.Errorf("resource type %q: default of field %q: %w", s.Type, f.Name, err)
			}
		}
	}
	if s.Key != "" && !seen[s.Key] {
		return fmt.Errorf("resource type %q: key %q is not a field", s.Type, s.Key)
	}
	return nil
}

// Schema returns the schema of a type (stockpile.Types).
func (r *Registry) Schema(typ string) (stockpile.TypeSchema, bool) {
	t, ok := r.types[typ]
	if !ok {
		return stockpile.TypeSchema{}, false
	}
	return t.Schema, true
}

// TypeNames returns the names of the types, sorted (stockpile.Types).
func (r *Registry) TypeNames() []string { return slices.Clone(r.names) }

// Decode turns a rendered resource of a built-in type into its typed spec.
func Decode(res desired.Resource, env Env) (Spec, error) { return builtin.Decode(res, env) }

// Decode turns a rendered resource into its typed spec.
// Where secret references may be is checked before, once per path
// (SecretRefs: by validate, and by push as it resolves them).
func (r *Registry) Decode(res desired.Resource, env Env) (Spec, error) {
	t, ok := r.types[res.Type]
	if !ok {
		return nil, fmt.Errorf("%s: resource %q: unknown type %q", res.Pos, res.Name, res.Type)
	}
	return t.Decode(fields{r: res, schema: &t.Schema}, env)
}

// secretField says whether field of type typ is one in which the type
// substitutes secret references.
func (r *Registry) secretField(typ, field string) bool {
	t, ok := r.types[typ]
	if !ok {
		return false
	}
	f, ok := schemaField(&t.Schema, field)
	return ok && f.Secret
}

func schemaField(s *stockpile.TypeSchema, name string) (stockpile.Field, bool) {
	if s == nil {
		return stockpile.Field{}, false
	}
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return stockpile.Field{}, false
}

// parseDuration reads a duration as the decoders do: a bare number is
// seconds, otherwise Go's syntax (30s, 2m); never negative.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 2m)", s)
	}
	return d, nil
}
