package template

import (
	"fmt"
	"github.com/vigo-sh/vigocli/shellquote"
	"strings"
	"text/template"
)

// funcs are the functions a template may call besides text/template's
// builtins. They are deliberately few.
//
//	var "name"            the variable's value; an error when it is missing
//	var "name" "fallback" the variable's value, or fallback when it is missing
//	has "name"            whether the variable is defined
//	quote VALUE           VALUE as one POSIX shell word ('...')
//	lower, upper, trim    string helpers
//	join SEP LIST         LIST's items joined with SEP
//	replace OLD NEW S     S with every OLD replaced by NEW
//
// There is no "default": with {{ .Vars.x | default "y" }} the missing
// .Vars.x is an error before default runs, and silently defaulting is what
// this package refuses to do unless asked by name (var "x" "y").
func funcs(data Data) template.FuncMap {
	return template.FuncMap{
		"var": func(name string, fallback ...any) (any, error) {
			if v, ok := data.Vars[name]; ok {
				return v, nil
			}
			if len(fallback) > 0 {
				return fallback[0], nil
			}
			return nil, &MissingError{Expr: fmt.Sprintf("var %q", name), Name: name}
		},
		"has": func(name string) bool {
			_, ok := data.Vars[name]
			return ok
		},
		"quote": func(v any) string { return shellquote.Quote(fmt.Sprint(v)) },
		"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
		"upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
		"trim":  func(v any) string { return strings.TrimSpace(fmt.Sprint(v)) },
		"join": func(sep string, list any) (string, error) {
			switch l := list.(type) {
			case []any:
				parts := make([]string, len(l))
				for i, x := range l {
					parts[i] = fmt.Sprint(x)
				}
				return strings.Join(parts, sep), nil
			case []string:
				return strings.Join(l, sep), nil
			case string:
				return l, nil
			}
			return "", fmt.Errorf("join: want a list, got %T", list)
		},
		"replace": func(old, new string, v any) string { return strings.ReplaceAll(fmt.Sprint(v), old, new) },
	}
}
