package stockpile

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ValueKind is the shape of a loaded YAML value.
type ValueKind int

const (
	Scalar ValueKind = iota
	List
	Map
)

func (k ValueKind) String() string {
	switch k {
	case List:
		return "a list"
	case Map:
		return "a map"
	}
	return "a scalar"
}

// Value is a YAML value with its position. Scalars are kept as the text
// written in the file (6379, "6379", 512mb, true, 0644 are all text); the
// executor owning a field parses it after templates are rendered.
type Value struct {
	Kind    ValueKind
	Str     string   // Scalar
	Items   []*Value // List
	Entries []Entry  // Map, in file order
	// Raw is set when the value (or a parent) was tagged !raw: it is not
	// rendered as a template.
	Raw bool
	Pos Pos
}

// Entry is one key of a Map value.
type Entry struct {
	Key    string
	KeyPos Pos
	Value  *Value
}

// Get returns the value of a Map's key, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Map {
		return nil
	}
	for _, e := range v.Entries {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// Plain returns the value as plain Go data: string, []any or
// map[string]any (the form desired.Resource.Fields and .Vars use).
func (v *Value) Plain() any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case List:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			out[i] = it.Plain()
		}
		return out
	case Map:
		out := make(map[string]any, len(v.Entries))
		for _, e := range v.Entries {
			out[e.Key] = e.Value.Plain()
		}
		return out
	}
	return v.Str
}

// Strings returns a scalar as a one-item list, a list of scalars as is.
func (v *Value) Strings() []string {
	if v == nil {
		return nil
	}
	if v.Kind == Scalar {
		return []string{v.Str}
	}
	var out []string
	for _, it := range v.Items {
		out = append(out, it.Str)
	}
	return out
}

// maxNodes bounds the work done for one file, so a small file full of
// aliases cannot expand into millions of nodes.
const maxNodes = 200000

// maxDepth bounds nesting: the description of a value ("vars.a[0][0]")
// grows with its depth, so unbounded depth is quadratic work.
const maxDepth = 100

// converter turns yaml.Nodes of one file into Values, collecting errors.
type converter struct {
	file  string
	errs  *Errors
	nodes int
	depth int
	// expanding holds the anchors whose alias is being expanded: an alias
	// met again inside its own anchor (a: &x [*x]) would never end.
	expanding map[*yaml.Node]bool
}

func (c *converter) pos(n *yaml.Node) Pos {
	return Pos{File: c.file, Line: n.Line, Col: n.Column}
}

// isNull reports whether n is a YAML null (~, null, or nothing at all).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// value converts n. It returns nil (after recording an error) for nodes
// that cannot be represented: nulls, unknown tags, merge keys.
func (c *converter) value(n *yaml.Node, raw bool, what string) *Value {
	c.nodes++
	if c.nodes > maxNodes {
		if c.nodes == maxNodes+1 {
			c.errs.Addf(c.pos(n), "", "file too large: more than %d values after expanding aliases", maxNodes)
		}
		return nil
	}
	if c.depth >= maxDepth {
		if c.depth == maxDepth {
			c.errs.Addf(c.pos(n), "", "%s is nested more than %d levels deep", say(what), maxDepth)
		}
		return nil
	}
	c.depth++
	defer func() { c.depth-- }()
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil
		}
		if c.expanding[n.Alias] {
			c.errs.Addf(c.pos(n), "", "alias *%s in %s refers to a value that contains it", n.Value, say(what))
			return nil
		}
		return c.value(n.Alias, raw, what)
	}
	if n.Anchor != "" {
		if c.expanding == nil {
			c.expanding = map[*yaml.Node]bool{}
		}
		c.expanding[n] = true
		defer delete(c.expanding, n)
	}
	switch {
	case n.Tag == "!raw":
		raw = true
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		c.errs.Addf(c.pos(n), "the only tag vigo knows is !raw (do not render as a template)", "unknown tag %s on %s", n.Tag, say(what))
		return nil
	}
	p := c.pos(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			c.errs.Addf(p, `write "" for an empty string`, "%s has no value", say(what))
			return nil
		}
		return &Value{Kind: Scalar, Str: n.Value, Raw: raw, Pos: p}
	case yaml.SequenceNode:
		v := &Value{Kind: List, Raw: raw, Pos: p, Items: []*Value{}}
		for i, it := range n.Content {
			if x := c.value(it, raw, idx(what, i)); x != nil {
				v.Items = append(v.Items, x)
			}
		}
		return v
	case yaml.MappingNode:
		v := &Value{Kind: Map, Raw: raw, Pos: p, Entries: []Entry{}}
		seen := map[string]Pos{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key, ok := c.key(k, what)
			if !ok {
				continue
			}
			if first, dup := seen[key]; dup {
				c.errs.Addf(c.pos(k), "", "duplicate key %q in %s (first at line %d)", key, say(what), first.Line)
				continue
			}
			seen[key] = c.pos(k)
			if x := c.value(val, raw, joinWhat(what, key)); x != nil {
				v.Entries = append(v.Entries, Entry{Key: key, KeyPos: c.pos(k), Value: x})
			}
		}
		return v
	}
	c.errs.Addf(p, "", "unsupported YAML in %s", say(what))
	return nil
}

// key returns a mapping key as a string.
func (c *converter) key(k *yaml.Node, what string) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		c.errs.Addf(c.pos(k), "", "a key in %s must be a plain word, not %s", say(what), kindOf(k))
		return "", false
	}
	if k.Tag == "!!merge" {
		c.errs.Addf(c.pos(k), "repeat the keys, or use an alias as a whole value", "merge keys (<<) are not supported")
		return "", false
	}
	if isNull(k) {
		c.errs.Addf(c.pos(k), "", "empty key in %s", say(what))
		return "", false
	}
	return k.Value, true
}

func kindOf(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	if isNull(n) {
		return "empty"
	}
	return "a scalar"
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// A "what" names a value in messages: a path inside the entity, and the
// entity ("environment.BAD" of "resource \"app\""), kept apart so that
// nested values read "environment.BAD of resource "app"".
func mk(path, of string) string { return path + "\x00" + of }

func say(w string) string {
	p, o, _ := strings.Cut(w, "\x00")
	if o == "" {
		return p
	}
	if p == "" {
		return o
	}
	return p + " of " + o
}

func joinWhat(what, key string) string {
	p, o, _ := strings.Cut(what, "\x00")
	if p != "" {
		key = p + "." + key
	}
	return mk(key, o)
}

func idx(what string, i int) string {
	p, o, _ := strings.Cut(what, "\x00")
	return mk(fmt.Sprintf("%s[%d]", p, i), o)
}
