package executors

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// fields reads the rendered fields of one resource, with its type's
// schema: defaults and enums come from there, so a decoder never
// restates them. Every error names the resource and its position so that
// a user can find the line to fix.
type fields struct {
	r      desired.Resource
	schema *stockpile.TypeSchema // nil for a nested map (a healthcheck)
	// seen, when not nil, records every field read (tests check that a
	// decoder reads exactly its schema's fields).
	seen map[string]bool
}

// errorf returns a *FieldError; format works like fmt.Errorf's (a %w
// keeps the cause).
func (f fields) errorf(field, format string, args ...any) error {
	return &FieldError{Pos: f.r.PosOf(topField(field)), Resource: f.r.Name, Module: f.r.Module, Type: f.r.Type,
		Field: field, Err: fmt.Errorf(format, args...)}
}

// topField is the top-level field of a field path: "environment" of
// "environment.FOO", "ports" of "ports[1]".
func topField(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return field
}

// get returns a field's value (nil when absent or null).
func (f fields) get(name string) any {
	if f.seen != nil {
		f.seen[name] = true
	}
	return f.r.Fields[name]
}

// def is the schema's default of a field ("" when none).
func (f fields) def(name string) string {
	sf, _ := schemaField(f.schema, name)
	return sf.Default
}

func (f fields) has(name string) bool {
	return f.get(name) != nil
}

// str returns a scalar field as text ("" when absent).
func (f fields) str(name string) (string, error) {
	v := f.get(name)
	if v == nil {
		return "", nil
	}
	if s, ok := scalarText(v); ok {
		return s, nil
	}
	return "", f.errorf(name, "want a scalar, got %T", v)
}

// text returns a scalar field as text, or its default when absent or
// empty.
func (f fields) text(name string) (string, error) {
	s, err := f.str(name)
	if s == "" && err == nil {
		s = f.def(name)
	}
	return s, err
}

// enum returns a scalar field that must be one of the schema's values
// (its default when absent).
func (f fields) enum(name string) (string, error) {
	s, err := f.str(name)
	if err != nil {
		return "", err
	}
	sf, _ := schemaField(f.schema, name)
	if s == "" {
		return sf.Default, nil
	}
	if slices.Contains(sf.Enum, s) {
		return s, nil
	}
	return "", f.errorf(name, "%q is not one of %s", s, strings.Join(sf.Enum, ", "))
}

// boolean accepts true/false in the spellings YAML users write; absent,
// it is the schema's default (false when none).
func (f fields) boolean(name string) (bool, error) {
	def, _ := strconv.ParseBool(f.def(name))
	v := f.get(name)
	if v == nil {
		return def, nil
	}
	if b, ok := v.(bool); ok {
		return b, nil
	}
	s, err := f.str(name)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	case "":
		return def, nil
	}
	return false, f.errorf(name, "%q is not a boolean (true or false)", s)
}

// duration returns a duration field (a bare number is seconds), or the
// schema's default when absent.
func (f fields) duration(name string) (time.Duration, error) {
	return f.durationOr(name, f.def(name))
}

// durationOr is duration with the default given, for nested maps.
func (f fields) durationOr(name, def string) (time.Duration, error) {
	s, err := f.str(name)
	if err != nil {
		return 0, err
	}
	if s == "" {
		s = def
	}
	if s == "" {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, f.errorf(name, "%v", err)
	}
	return d, nil
}

// list returns a list of scalars; a single scalar is a list of one.
func (f fields) list(name string) ([]string, error) {
	v := f.get(name)
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...), nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := scalarText(e)
			if !ok {
				return nil, f.errorf(fmt.Sprintf("%s[%d]", name, i), "want a scalar, got %T", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	if s, ok := scalarText(v); ok {
		return []string{s}, nil
	}
	return nil, f.errorf(name, "want a list, got %T", v)
}

// strMap returns a map of scalar values.
func (f fields) strMap(name string) (map[string]string, error) {
	v := f.get(name)
	if v == nil {
		return nil, nil
	}
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]string:
		for k, e := range x {
			out[k] = e
		}
	case map[string]any:
		for k, e := range x {
			if e == nil {
				out[k] = ""
				continue
			}
			s, ok := scalarText(e)
			if !ok {
				return nil, f.errorf(name+"."+k, "want a scalar, got %T", e)
			}
			out[k] = s
		}
	case []any:
		// KEY=VALUE list form, as compose and docker run accept.
		for i, e := range x {
			s, ok := scalarText(e)
			k, val, found := strings.Cut(s, "=")
			if !ok || !found || k == "" {
				return nil, f.errorf(fmt.Sprintf("%s[%d]", name, i), "want KEY=VALUE")
			}
			out[k] = val
		}
	default:
		return nil, f.errorf(name, "want a map, got %T", v)
	}
	return out, nil
}

// argv returns a command-like field: a list is taken as is, a string is
// split like a shell splits words (quotes and backslashes), with no
// expansion of any kind.
func (f fields) argv(name string) ([]string, bool, error) {
	v := f.get(name)
	if v == nil {
		return nil, false, nil
	}
	if _, isList := v.([]any); isList {
		l, err := f.list(name)
		return l, true, err
	}
	s, err := f.str(name)
	if err != nil {
		return nil, false, err
	}
	words, err := splitWords(s)
	if err != nil {
		return nil, false, f.errorf(name, "%v", err)
	}
	return words, true, nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// splitWords splits s into words the way a POSIX shell does for quoting
// only: single quotes, double quotes (with \" \\ \$ \` escapes) and
// backslashes. Nothing is expanded.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					cur.WriteByte(s[i])
				}
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated double quote in %q", s)
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
