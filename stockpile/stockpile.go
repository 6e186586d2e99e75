// Package stockpile loads and validates a stockpile: the directory of .vgo
// files that says what a fleet must look like.
//
//	modules/*.vgo  one module per file: name, vars, depends_on, resources
//	roles/*.vgo    one role per file: name, modules, vars
//	envoys/*.vgo   envoys: a list of match (host glob), environment, roles, vars, rollout
//
// Load reports every problem at once, each with file:line:col, what is
// wrong and, where it can, a hint. Every entity keeps its position so that
// later errors (a missing variable at render time) can point at the file.
// The package reads files and nothing else: no network, no secrets.
package stockpile

// Stockpile is a loaded, validated stockpile.
type Stockpile struct {
	Dir     string
	Modules []*Module // by file name
	Roles   []*Role   // by file name
	Envoys  []*Envoy  // by file name, then file order
}

// Module is one modules/*.vgo file.
type Module struct {
	Name      string
	Vars      []*Var // defaults, lowest precedence
	DependsOn []Ref  // module names
	Resources []*Resource
	Pos       Pos // of the module's name
}

// Var is one variable definition.
type Var struct {
	Name  string
	Value *Value
	Pos   Pos // of the key
}

// Ref is a reference to another entity by name. For resources, Module and
// Name are filled when the reference is resolved (a bare name written in
// the file is resolved in the same module first, then in all modules).
type Ref struct {
	Module string // resources only: the resolved module
	Name   string
	Pos    Pos
}

// ID is "module/name" for a resource reference, else the name.
func (r Ref) ID() string {
	if r.Module == "" {
		return r.Name
	}
	return r.Module + "/" + r.Name
}

// Resource is one entry of a module's resources.
type Resource struct {
	Name       string
	Type       string
	Module     string
	Fields     []Entry // type fields, in file order
	DependsOn  []Ref
	Notify     []Ref
	Subscribes []Ref
	Pos        Pos         // of the resource's mapping
	Schema     *TypeSchema // the type's schema (nil only while loading fails)
	// Invalid says the loader reported a problem in the resource (only in
	// a stockpile returned with errors).
	Invalid bool
}

// SchemaField returns the schema of one of the resource's type fields.
func (r *Resource) SchemaField(name string) (Field, bool) {
	if r.Schema == nil {
		return Field{}, false
	}
	return schemaField(*r.Schema, name)
}

// ID is "module/name", unique in a stockpile.
func (r *Resource) ID() string { return r.Module + "/" + r.Name }

// Field returns the value of a type field, or nil.
func (r *Resource) Field(name string) *Value {
	for _, f := range r.Fields {
		if f.Key == name {
			return f.Value
		}
	}
	return nil
}

// Role is one roles/*.vgo file.
type Role struct {
	Name    string
	Modules []Ref
	Vars    []*Var
	Pos     Pos
}

// Envoy is one entry of an envoys file: the hosts whose name matches
// Match get Roles and Vars, in Environment.
type Envoy struct {
	Match       string // path.Match glob on host names
	Environment string
	Roles       []Ref
	Vars        []*Var
	Rollout     *Rollout // nil: none
	Pos         Pos      // of the entry
	MatchPos    Pos
}

// Module returns the module called name, or nil.
func (s *Stockpile) Module(name string) *Module {
	for _, m := range s.Modules {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Role returns the role called name, or nil.
func (s *Stockpile) Role(name string) *Role {
	for _, r := range s.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Resource returns the resource with the given ID ("module/name"), or nil.
func (s *Stockpile) Resource(id string) *Resource {
	for _, m := range s.Modules {
		for _, r := range m.Resources {
			if r.ID() == id {
				return r
			}
		}
	}
	return nil
}
