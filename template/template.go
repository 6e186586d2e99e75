// Package template renders stockpile values: Go text/template actions over
// .Vars, .Host and .Environment, written either as {{ ... }} (the
// documentation's form) or << ... >> (the design card's form).
//
// Everything that is not an action passes through untouched, byte for
// byte: a shell heredoc (cat <<EOF), ${DATABASE_URL} in a compose file,
// >> redirections, a << b. The value is split into literal text and
// actions by this package's own scanner; literal text is then emitted as
// quoted string constants of one text/template, so neither the literal
// text nor a variable's value is ever interpreted as a template.
//
// A missing variable is an error (*MissingError), never an empty string.
// The package never sees secrets: "secret:PATH" is plain text here.
package template

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
)

// Data is what a template sees.
type Data struct {
	Vars        map[string]any // .Vars
	Host        map[string]any // .Host: Name, Address, User, Port, Labels
	Environment string         // .Environment
}

// MissingError says a template used a variable (or a host field) that is
// not defined.
type MissingError struct {
	Expr string // the template expression, e.g. ".Vars.redis_port"
	Name string // the missing key, e.g. "redis_port"
	Hint string // e.g. `did you mean "redis_port"?`, may be empty
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("missing variable %s", e.Expr)
}

// SyntaxError says a value holds a malformed action.
type SyntaxError struct {
	Msg string
}

func (e *SyntaxError) Error() string { return "bad template: " + e.Msg }

// HasAction reports whether s contains at least one template action; a
// value without one is rendered as itself.
func HasAction(s string) bool {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "<<") {
		return false
	}
	segs, err := scan(s)
	if err != nil {
		return true // malformed {{ is still meant as an action
	}
	for _, sg := range segs {
		if sg.action {
			return true
		}
	}
	return false
}

// Check parses s without executing it and reports syntax errors.
func Check(s string) error {
	if !HasAction(s) {
		return nil
	}
	_, err := parse(s, Data{})
	return err
}

// Render renders one value. A value without actions is returned as is.
func Render(s string, data Data) (string, error) {
	return (&Renderer{}).Render(s, data)
}

// Renderer renders values, parsing each distinct value once: a fleet's
// hosts share their stockpile's values, only the data differs. The zero
// value is ready to use; it is safe for concurrent use.
type Renderer struct {
	mu    sync.Mutex
	cache map[string]*template.Template
}

// Render renders one value. A value without actions is returned as is.
func (r *Renderer) Render(s string, data Data) (string, error) {
	if !strings.Contains(s, "{{") && !strings.Contains(s, "<<") {
		return s, nil
	}
	t, err := r.parsed(s)
	if err != nil {
		return "", err
	}
	if t == nil {
		return s, nil // "<<" without an action
	}
	// The functions close over this host's data: set them on a copy.
	t, err = t.Clone()
	if err != nil {
		return "", err
	}
	t.Funcs(funcs(data))
	root := map[string]any{
		"Vars":        orEmpty(data.Vars),
		"Host":        orEmpty(data.Host),
		"Environment": data.Environment,
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, root); err != nil {
		return "", execError(err, data)
	}
	return buf.String(), nil
}

// parsed returns the parsed template of s, nil when s has no action.
func (r *Renderer) parsed(s string) (*template.Template, error) {
	r.mu.Lock()
	t, ok := r.cache[s]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	if !HasAction(s) {
		t = nil
	} else {
		var err error
		if t, err = parse(s, Data{}); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]*template.Template{}
	}
	r.cache[s] = t
	r.mu.Unlock()
	return t, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// parse builds the single text/template for s.
func parse(s string, data Data) (*template.Template, error) {
	segs, err := scan(s)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, sg := range segs {
		if sg.action {
			b.WriteString("{{")
			b.WriteString(sg.text)
			b.WriteString("}}")
			continue
		}
		if sg.text == "" {
			continue
		}
		// Literal text as a string constant: printed verbatim, never parsed.
		b.WriteString("{{")
		b.WriteString(strconv.Quote(sg.text))
		b.WriteString("}}")
	}
	t := template.New("value").Option("missingkey=error").Funcs(funcs(data))
	t, err = t.Parse(b.String())
	if err != nil {
		return nil, &SyntaxError{Msg: cleanMsg(err.Error())}
	}
	return t, nil
}

var tmplPrefix = regexp.MustCompile(`^template: value:\d+(:\d+)?: `)

func cleanMsg(m string) string {
	m = tmplPrefix.ReplaceAllString(m, "")
	m = strings.TrimPrefix(m, "executing \"value\" ")
	return m
}

var missingKey = regexp.MustCompile(`at <([^>]*)>: map has no entry for key "([^"]*)"`)

func execError(err error, data Data) error {
	var me *MissingError
	if errors.As(err, &me) {
		return me
	}
	msg := err.Error()
	if m := missingKey.FindStringSubmatch(msg); m != nil {
		e := &MissingError{Expr: m[1], Name: m[2]}
		if strings.HasPrefix(m[1], ".Vars.") {
			e.Hint = didyoumean.Hint(m[2], keys(data.Vars))
		} else if strings.HasPrefix(m[1], ".Host.") {
			e.Hint = "host fields: " + strings.Join(keys(data.Host), ", ")
		}
		return e
	}
	return errors.New(cleanMsg(msg))
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
