package stockpile

// Kind is the shape a resource field takes in YAML. Scalars are kept as
// strings after loading (a YAML user writes 6379, "6379", 512mb and true
// and means text); the executor that owns a field parses it after
// templates are rendered. Literal (template-free) values are still checked
// at load time against Kind and Enum so mistakes are reported with file:line.
type Kind int

const (
	KindString   Kind = iota // any scalar, kept as text
	KindBool                 // true/false/"true"/"false"/yes/no
	KindInt                  // integer, given as number or string
	KindDuration             // Go duration: 30s, 2m
	KindList                 // list of scalars
	KindMap                  // map of scalar -> scalar
	KindAny                  // any YAML (nested maps/lists), e.g. healthcheck
)

// Field describes one field of a resource type. It is declared once, in
// the executors' type registry: the loader checks literal values against
// it, the executor that owns the type decodes with its default and enum,
// and the docs' field tables are generated from it.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
	Enum     []string // allowed literal values, if restricted
	// Default is the value an absent field takes, as a user would write
	// it ("" when there is none, or when it depends on other fields: Doc
	// says how).
	Default string
	// Secret says the executor substitutes a secret:PATH value given in
	// this field (in a map field, in its values); a reference in any other
	// field would reach the host literally and is refused.
	Secret bool
	Doc    string // one line for the docs' field tables
}

// TypeSchema describes a resource type. The executors' registry declares
// one per type; the loader checks resources against it. Common fields
// (name, type, depends_on, notify, subscribes) are not listed here.
type TypeSchema struct {
	Type   string
	Doc    string
	Fields []Field
	// Key is the field that names the object a resource of this type
	// manages on the host (e.g. network for docker_network), when other
	// resources can use that object by name.
	Key string
	// Uses lists, from a resource's rendered fields, the objects of other
	// types it uses by name (a container's networks and volumes). desired
	// applies the resources declaring them (by their type's Key) first.
	Uses func(fields map[string]any) []Use
}

// Use is one object a resource uses: a resource of type Type whose Key
// field is Name.
type Use struct {
	Type string
	Name string
}

// Types is what the loader needs to know about resource types: a lookup
// filled by the executors registry (the stockpile never imports executors).
type Types interface {
	Schema(typ string) (TypeSchema, bool)
	TypeNames() []string
}
