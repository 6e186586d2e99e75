package stockpile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
	"github.com/vigo-sh/vigocli/template"
)

// Common resource fields, besides the type's own.
var commonFields = []string{"name", "type", "depends_on", "notify", "subscribes"}

var (
	moduleFields = []string{"name", "vars", "depends_on", "resources"}
	roleFields   = []string{"name", "modules", "vars"}
	envoyFields  = []string{"match", "environment", "roles", "vars", "rollout"}
)

// DefaultDir is the stockpile's directory, relative to the current one,
// when the current directory is not a stockpile itself and none is named.
const DefaultDir = "stockpile"

// stockpileDirs are the directories that make a directory a stockpile.
var stockpileDirs = []string{"modules", "roles", "envoys"}

// IsStockpile reports whether dir holds one of modules/, roles/ or envoys/.
func IsStockpile(dir string) bool {
	for _, sub := range stockpileDirs {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// searchHint says where vigo looks for a stockpile when none is named.
const searchHint = "without --stockpile DIR or VIGO_STOCKPILE, vigo uses the current directory when it holds modules/, roles/ or envoys/, else ./stockpile"

// Load loads the stockpile in dir and checks it against the resource
// types. Errors are returned as Errors, every one found, sorted; file
// names in positions are dir joined with the file's path. With Errors,
// the Stockpile returned (when not nil) holds what could be read, for
// further checking only.
func Load(dir string, types Types) (*Stockpile, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Errors{{Msg: fmt.Sprintf("stockpile directory %s does not exist", dir), Hint: searchHint}}
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, Errors{{Msg: fmt.Sprintf("stockpile %s is not a directory", dir)}}
	}
	return LoadFS(os.DirFS(dir), dir, types)
}

// LoadFS loads a stockpile from fsys; prefix is joined to file names in
// positions (the directory as the user gave it).
func LoadFS(fsys fs.FS, prefix string, types Types) (*Stockpile, error) {
	l := &loader{fsys: fsys, prefix: prefix, types: types, sp: &Stockpile{Dir: prefix}}
	found := 0
	for _, sub := range stockpileDirs {
		files, err := fs.Glob(fsys, sub+"/*.vgo")
		if err != nil {
			return nil, err
		}
		if st, err := fs.Stat(fsys, sub); err == nil && st.IsDir() {
			found++
		}
		sort.Strings(files)
		for _, f := range files {
			l.file(sub, f)
		}
	}
	if found == 0 {
		return nil, Errors{{Msg: fmt.Sprintf("%s is not a stockpile: it has no modules/, roles/ or envoys/ directory", displayDir(prefix)), Hint: searchHint}}
	}
	l.checkDuplicates()
	l.resolve()
	l.checkCycles()
	// With errors the stockpile is still returned: what could be read,
	// bad resources marked Invalid, so that a caller can go on building
	// hosts and report every mistake in one pass. It must never be
	// applied.
	return l.sp, l.errs.Err()
}

func displayDir(d string) string {
	if d == "" {
		return "."
	}
	return d
}

type loader struct {
	fsys   fs.FS
	prefix string
	types  Types
	sp     *Stockpile
	errs   Errors
}

func (l *loader) display(f string) string {
	if l.prefix == "" {
		return f
	}
	return filepath.Join(l.prefix, filepath.FromSlash(f))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// file parses one .vgo file and decodes it by its directory.
func (l *loader) file(sub, name string) {
	disp := l.display(name)
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.errs.Addf(Pos{File: disp, Line: 1, Col: 1}, "", "%v", err)
		return
	}
	root, ok := l.parse(disp, data)
	if !ok {
		return
	}
	c := &converter{file: disp, errs: &l.errs}
	switch sub {
	case "modules":
		l.module(c, root)
	case "roles":
		l.role(c, root)
	case "envoys":
		l.envoys(c, root)
	}
}

// parse returns the top mapping of a one-document YAML file.
func (l *loader) parse(disp string, data []byte) (*yaml.Node, bool) {
	return parseDoc(disp, data, &l.errs)
}

func parseDoc(disp string, data []byte, errs *Errors) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.Addf(Pos{File: disp, Line: 1, Col: 1}, "", "empty file")
			return nil, false
		}
		*errs = append(*errs, yamlError(disp, err))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs.Addf(Pos{File: disp, Line: extra.Line, Col: extra.Column}, "split the file in two", "more than one YAML document in one file")
	} else if !errors.Is(err, io.EOF) {
		*errs = append(*errs, yamlError(disp, err))
		return nil, false
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		errs.Addf(Pos{File: disp, Line: 1, Col: 1}, "", "empty file")
		return nil, false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		errs.Addf(Pos{File: disp, Line: root.Line, Col: root.Column}, "", "the file must be a YAML map, not %s", kindOf(root))
		return nil, false
	}
	return root, true
}

// ParseFile parses a one-document YAML file (an inventory, say) whose top
// level is a map into a Value, with the same rules as stockpile files:
// positions named after file, !raw known, other tags, nulls and merge keys
// refused. The Value is nil when errs is not empty.
func ParseFile(file string, data []byte) (*Value, Errors) {
	var errs Errors
	root, ok := parseDoc(file, data, &errs)
	if !ok {
		return nil, errs
	}
	c := &converter{file: file, errs: &errs}
	v := c.value(root, false, "")
	if len(errs) > 0 {
		return nil, errs
	}
	return v, nil
}

// IsIdent reports whether s can be a variable name (reachable as
// {{ .Vars.s }}).
func IsIdent(s string) bool { return identRE.MatchString(s) }

// yamlError turns a yaml.v3 syntax error into a positioned Error.
func yamlError(disp string, err error) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	hint := ""
	if strings.HasPrefix(msg, "did not find expected") {
		// yaml.v3 points at the start of the enclosing block, not at the
		// offending line.
		hint = "the block starting here is malformed: check the indentation of the lines below"
	}
	return &Error{Pos: Pos{File: disp, Line: line, Col: 1}, Msg: "invalid YAML: " + msg, Hint: hint}
}

// fields walks a mapping's keys, reporting unknown ones with a
// suggestion, and returns known keys to their nodes.
type field struct {
	key    *yaml.Node
	val    *yaml.Node
	keyPos Pos
}

func (l *loader) fields(c *converter, m *yaml.Node, what string, known []string) (map[string]field, []string) {
	out := map[string]field{}
	var order []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		for depth := 0; v.Kind == yaml.AliasNode && v.Alias != nil && depth < 100; depth++ {
			v = v.Alias
		}
		key, ok := c.key(k, what)
		if !ok {
			continue
		}
		if prev, dup := out[key]; dup {
			l.errs.Addf(c.pos(k), "", "duplicate field %q in %s (first at line %d)", key, what, prev.keyPos.Line)
			continue
		}
		if known != nil && !slices.Contains(known, key) {
			l.errs.Addf(c.pos(k), didyoumean.Hint(key, known), "unknown field %q in %s", key, what)
			continue
		}
		out[key] = field{key: k, val: v, keyPos: c.pos(k)}
		order = append(order, key)
	}
	return out, order
}

func suggestOr(name string, known []string, fallback string) string {
	if s := didyoumean.Hint(name, known); s != "" {
		return s
	}
	return fallback
}

// scalar returns a scalar field's text; ok is false (after an error) when
// the node is not a scalar.
func (l *loader) scalar(c *converter, n *yaml.Node, what string) (string, Pos, bool) {
	v := c.value(n, false, what)
	if v == nil {
		return "", c.pos(n), false
	}
	if v.Kind != Scalar {
		l.errs.Addf(v.Pos, "", "%s must be a single value, not %s", say(what), v.Kind)
		return "", v.Pos, false
	}
	return v.Str, v.Pos, true
}

// name checks an entity name.
func (l *loader) name(c *converter, f map[string]field, what string, parent Pos) (string, Pos, bool) {
	nf, ok := f["name"]
	if !ok {
		l.errs.Addf(parent, "", "%s has no name", what)
		return "", parent, false
	}
	s, p, ok := l.scalar(c, nf.val, mk("name", what))
	if !ok {
		return "", p, false
	}
	if !nameRE.MatchString(s) {
		l.errs.Addf(p, "use letters, digits, '.', '_' and '-', starting with a letter or digit", "invalid %s name %q", what, s)
		return "", p, false
	}
	return s, p, true
}

// refs reads a name or a list of names.
func (l *loader) refs(c *converter, n *yaml.Node, what string) []Ref {
	v := c.value(n, false, what)
	if v == nil {
		return nil
	}
	var items []*Value
	switch v.Kind {
	case Scalar:
		items = []*Value{v}
	case List:
		items = v.Items
	default:
		l.errs.Addf(v.Pos, "", "%s must be a name or a list of names, not a map", say(what))
		return nil
	}
	var out []Ref
	for _, it := range items {
		if it.Kind != Scalar {
			l.errs.Addf(it.Pos, "", "%s must be a name or a list of names, not a list of %ss", say(what), strings.TrimPrefix(it.Kind.String(), "a "))
			continue
		}
		if it.Str == "" {
			l.errs.Addf(it.Pos, "", "empty name in %s", say(what))
			continue
		}
		out = append(out, Ref{Name: it.Str, Pos: it.Pos})
	}
	return out
}

// vars reads a vars map.
func (l *loader) vars(c *converter, n *yaml.Node, what string) []*Var {
	v := c.value(n, false, what)
	if v == nil {
		return nil
	}
	if v.Kind != Map {
		l.errs.Addf(v.Pos, "", "%s must be a map of name: value, not %s", say(what), v.Kind)
		return nil
	}
	var out []*Var
	for _, e := range v.Entries {
		if !identRE.MatchString(e.Key) {
			hint := "use letters, digits and _ so that {{ .Vars.NAME }} can reach it"
			if s := strings.ReplaceAll(e.Key, "-", "_"); identRE.MatchString(s) {
				hint = fmt.Sprintf("did you mean %q? %s", s, hint)
			}
			l.errs.Addf(e.KeyPos, hint, "invalid variable name %q", e.Key)
			continue
		}
		if p, ok := TemplateInVar(e.Value); ok {
			l.errs.Addf(p, "variables are data: use the template where the variable is used, or tag the value !raw to keep the braces", "variable %q holds a template action, which is never rendered", e.Key)
			continue
		}
		out = append(out, &Var{Name: e.Key, Value: e.Value, Pos: e.KeyPos})
	}
	return out
}

// TemplateInVar returns the position of the first scalar of a variable's
// value that holds a template action (not tagged !raw). Variable values
// are inserted as they are, never rendered, so an action in one is almost
// always a mistake.
func TemplateInVar(v *Value) (Pos, bool) {
	switch v.Kind {
	case List:
		for _, it := range v.Items {
			if p, ok := TemplateInVar(it); ok {
				return p, true
			}
		}
	case Map:
		for _, e := range v.Entries {
			if p, ok := TemplateInVar(e.Value); ok {
				return p, true
			}
		}
	default:
		if !v.Raw && template.HasAction(v.Str) {
			return v.Pos, true
		}
	}
	return Pos{}, false
}

func (l *loader) module(c *converter, root *yaml.Node) {
	f, _ := l.fields(c, root, "module", moduleFields)
	name, pos, ok := l.name(c, f, "module", c.pos(root))
	if !ok {
		return
	}
	m := &Module{Name: name, Pos: pos}
	if v, ok := f["vars"]; ok {
		m.Vars = l.vars(c, v.val, mk("vars", "module "+name))
	}
	if v, ok := f["depends_on"]; ok {
		m.DependsOn = l.refs(c, v.val, mk("depends_on", "module "+name))
	}
	rf, ok := f["resources"]
	if !ok {
		l.errs.Addf(pos, "", "module %q has no resources", name)
	} else if rf.val.Kind != yaml.SequenceNode {
		l.errs.Addf(c.pos(rf.val), "", "resources of module %q must be a list, not %s", name, kindOf(rf.val))
	} else {
		for _, rn := range rf.val.Content {
			if r := l.resource(c, rn, name); r != nil {
				m.Resources = append(m.Resources, r)
			}
		}
	}
	l.sp.Modules = append(l.sp.Modules, m)
}

func (l *loader) resource(c *converter, n *yaml.Node, module string) *Resource {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		l.errs.Addf(c.pos(n), "", "a resource of module %q must be a map with name and type, not %s", module, kindOf(n))
		return nil
	}
	before := len(l.errs)
	label := "resource"
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			label = fmt.Sprintf("resource %q", v.Value)
			break
		}
	}
	all, order := l.fields(c, n, label, nil)
	name, _, nameOK := l.name(c, all, "resource", c.pos(n))
	what := "resource"
	if nameOK {
		what = fmt.Sprintf("resource %q", name)
	}
	r := &Resource{Name: name, Module: module, Pos: c.pos(n)}
	var schema TypeSchema
	haveSchema := false
	if tf, ok := all["type"]; !ok {
		l.errs.Addf(c.pos(n), "types: "+strings.Join(l.types.TypeNames(), ", "), "%s has no type", what)
	} else if typ, p, ok := l.scalar(c, tf.val, mk("type", what)); ok {
		r.Type = typ
		schema, haveSchema = l.types.Schema(typ)
		if haveSchema {
			r.Schema = &schema
		} else {
			l.errs.Addf(p, suggestOr(typ, l.types.TypeNames(), "types: "+strings.Join(l.types.TypeNames(), ", ")), "unknown resource type %q", typ)
		}
	}
	var known []string
	known = append(known, commonFields...)
	for _, sf := range schema.Fields {
		known = append(known, sf.Name)
	}
	for _, key := range order {
		f := all[key]
		switch key {
		case "name", "type":
			continue
		case "depends_on":
			r.DependsOn = l.refs(c, f.val, mk("depends_on", what))
			continue
		case "notify":
			r.Notify = l.refs(c, f.val, mk("notify", what))
			continue
		case "subscribes":
			r.Subscribes = l.refs(c, f.val, mk("subscribes", what))
			continue
		}
		if !haveSchema {
			// Unknown type: its fields cannot be checked, keep them as they are.
			if v := c.value(f.val, false, mk(key, what)); v != nil {
				r.Fields = append(r.Fields, Entry{Key: key, KeyPos: f.keyPos, Value: v})
			}
			continue
		}
		sf, ok := schemaField(schema, key)
		if !ok {
			l.errs.Addf(f.keyPos, didyoumean.Hint(key, known), "unknown field %q in %s (%s)", key, what, schema.Type)
			continue
		}
		v := c.value(f.val, false, mk(key, what))
		if v == nil {
			continue
		}
		if v = l.checkKind(v, sf, what); v != nil {
			r.Fields = append(r.Fields, Entry{Key: key, KeyPos: f.keyPos, Value: v})
		}
	}
	if haveSchema {
		for _, sf := range schema.Fields {
			if sf.Required {
				if _, ok := all[sf.Name]; !ok {
					l.errs.Addf(c.pos(n), "", "%s (%s) is missing required field %q", what, schema.Type, sf.Name)
				}
			}
		}
	}
	if !nameOK {
		return nil
	}
	r.Invalid = len(l.errs) > before
	return r
}

func schemaField(s TypeSchema, name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// checkKind checks a field value against its Kind and Enum and returns the
// value to keep (lists given as a single scalar become one-item lists;
// literal booleans become "true" or "false").
func (l *loader) checkKind(v *Value, f Field, what string) *Value {
	where := mk(f.Name, what)
	switch f.Kind {
	case KindString, KindBool, KindInt, KindDuration:
		if v.Kind != Scalar {
			l.errs.Addf(v.Pos, "", "%s must be %s, not %s", say(where), kindWord(f.Kind), v.Kind)
			return nil
		}
		if !l.checkScalar(v, f, where) {
			return nil
		}
	case KindList:
		if v.Kind == Map {
			l.errs.Addf(v.Pos, "", "%s must be a list, not a map", say(where))
			return nil
		}
		if v.Kind == Scalar {
			v = &Value{Kind: List, Items: []*Value{v}, Raw: v.Raw, Pos: v.Pos}
		}
		ok := true
		for i, it := range v.Items {
			if it.Kind != Scalar {
				l.errs.Addf(it.Pos, "", "%s must be a single value, not %s", say(idx(where, i)), it.Kind)
				ok = false
				continue
			}
			ok = l.checkTemplate(it, where) && ok
		}
		if !ok {
			return nil
		}
	case KindMap:
		if v.Kind != Map {
			l.errs.Addf(v.Pos, "", "%s must be a map of name: value, not %s", say(where), v.Kind)
			return nil
		}
		ok := true
		for _, e := range v.Entries {
			if e.Value.Kind != Scalar {
				l.errs.Addf(e.Value.Pos, "", "%s must be a single value, not %s", say(joinWhat(where, e.Key)), e.Value.Kind)
				ok = false
				continue
			}
			ok = l.checkTemplate(e.Value, joinWhat(where, e.Key)) && ok
		}
		if !ok {
			return nil
		}
	case KindAny:
		if !l.checkTemplates(v, where) {
			return nil
		}
	}
	return v
}

// checkTemplates checks the template syntax of every scalar in v.
func (l *loader) checkTemplates(v *Value, where string) bool {
	switch v.Kind {
	case List:
		ok := true
		for _, it := range v.Items {
			ok = l.checkTemplates(it, where) && ok
		}
		return ok
	case Map:
		ok := true
		for _, e := range v.Entries {
			ok = l.checkTemplates(e.Value, joinWhat(where, e.Key)) && ok
		}
		return ok
	}
	return l.checkTemplate(v, where)
}

func (l *loader) checkTemplate(v *Value, where string) bool {
	if v.Raw {
		return true
	}
	if err := template.Check(v.Str); err != nil {
		l.errs.Addf(v.Pos, "tag the value !raw if it is not a vigo template", "%s: %v", say(where), err)
		return false
	}
	return true
}

func kindWord(k Kind) string {
	switch k {
	case KindBool:
		return "true or false"
	case KindInt:
		return "a whole number"
	case KindDuration:
		return "a duration"
	}
	return "a single value"
}

// checkScalar checks a literal scalar against the field's kind and enum.
// Values holding a template action are checked after rendering, by the
// executor.
func (l *loader) checkScalar(v *Value, f Field, where string) bool {
	if !v.Raw && template.HasAction(v.Str) {
		return l.checkTemplate(v, where)
	}
	norm, problem, hint := CheckValue(f, v.Str)
	if problem != "" {
		l.errs.Addf(v.Pos, hint, "%s %s", say(where), problem)
		return false
	}
	v.Str = norm
	return true
}

// CheckValue checks a scalar (literal, or a template once rendered)
// against a field's kind and enum. It returns the value to keep (booleans
// become "true" or "false"), or a problem ("must be true or false, not
// \"x\"") and a hint.
func CheckValue(f Field, s string) (norm, problem, hint string) {
	norm = s
	switch f.Kind {
	case KindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return s, fmt.Sprintf("must be true or false, not %q", s), ""
		}
		norm = strconv.FormatBool(b)
	case KindInt:
		if _, err := strconv.Atoi(s); err != nil {
			return s, fmt.Sprintf("must be a whole number, not %q", s), ""
		}
	case KindDuration:
		if _, err := time.ParseDuration(s); err != nil {
			return s, fmt.Sprintf("must be a duration, not %q", s), "a number with a unit: 30s, 2m, 1h30m"
		}
	}
	if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
		return s, fmt.Sprintf("must be one of %s, not %q", strings.Join(f.Enum, ", "), s), suggestOr(s, f.Enum, "")
	}
	return norm, "", ""
}

func (l *loader) role(c *converter, root *yaml.Node) {
	f, _ := l.fields(c, root, "role", roleFields)
	name, pos, ok := l.name(c, f, "role", c.pos(root))
	if !ok {
		return
	}
	r := &Role{Name: name, Pos: pos}
	if v, ok := f["modules"]; ok {
		r.Modules = l.refs(c, v.val, mk("modules", "role "+name))
	}
	if len(r.Modules) == 0 {
		if _, ok := f["modules"]; !ok {
			l.errs.Addf(pos, "", "role %q has no modules", name)
		}
	}
	if v, ok := f["vars"]; ok {
		r.Vars = l.vars(c, v.val, mk("vars", "role "+name))
	}
	l.sp.Roles = append(l.sp.Roles, r)
}

func (l *loader) envoys(c *converter, root *yaml.Node) {
	f, _ := l.fields(c, root, "envoys file", []string{"envoys"})
	ef, ok := f["envoys"]
	if !ok {
		l.errs.Addf(c.pos(root), "start the file with envoys: and list entries as - match: GLOB", "envoys file has no envoys: list")
		return
	}
	if ef.val.Kind != yaml.SequenceNode {
		l.errs.Addf(c.pos(ef.val), "", "envoys must be a list, not %s", kindOf(ef.val))
		return
	}
	for _, en := range ef.val.Content {
		if en.Kind == yaml.AliasNode && en.Alias != nil {
			en = en.Alias
		}
		if en.Kind != yaml.MappingNode {
			l.errs.Addf(c.pos(en), "", "an envoy must be a map with match, environment, roles and vars, not %s", kindOf(en))
			continue
		}
		ff, _ := l.fields(c, en, "envoy", envoyFields)
		e := &Envoy{Pos: c.pos(en)}
		mf, ok := ff["match"]
		if !ok {
			l.errs.Addf(e.Pos, "", "envoy has no match glob")
			continue
		}
		s, p, ok := l.scalar(c, mf.val, mk("match", "envoy"))
		if !ok {
			continue
		}
		e.Match, e.MatchPos = s, p
		if s == "" {
			l.errs.Addf(p, `"*" matches every host`, "empty match glob")
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			l.errs.Addf(p, "globs use *, ?, [abc] and [a-z]", "bad glob %q: %v", s, err)
			continue
		}
		if v, ok := ff["environment"]; ok {
			if s, _, ok := l.scalar(c, v.val, mk("environment", "envoy "+strconv.Quote(e.Match))); ok {
				e.Environment = s
			}
		}
		if v, ok := ff["roles"]; ok {
			e.Roles = l.refs(c, v.val, mk("roles", "envoy "+strconv.Quote(e.Match)))
		}
		if v, ok := ff["vars"]; ok {
			e.Vars = l.vars(c, v.val, mk("vars", "envoy "+strconv.Quote(e.Match)))
		}
		if v, ok := ff["rollout"]; ok {
			e.Rollout = l.rollout(c, v.val, mk("rollout", "envoy "+strconv.Quote(e.Match)))
		}
		l.sp.Envoys = append(l.sp.Envoys, e)
	}
}
