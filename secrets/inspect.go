package secrets

import (
	"maps"
	"slices"
	"strconv"
)

// Inspect walks a rendered field value, like go/ast.Inspect walks a
// syntax tree, and calls found for every secret reference in it (a string
// that is exactly "secret:PATH", see Ref) with the reference's field path
// and its secret path. field names v itself; an element of a list is
// field[i], an entry of a map field.KEY (map keys are never references).
// Lists are walked by index and maps by sorted key, so the order is
// stable. The rendered forms are string, []string, []any, map[string]any
// and map[string]string; anything else (numbers, booleans, nil) holds no
// reference. found returns false to stop the walk; Inspect returns false
// when it was stopped.
//
// Inspect is the one walker over secret references: which fields may
// hold them, and what a field tagged !raw means, is decided by its
// callers (executors.SecretRefs).
func Inspect(field string, v any, found func(field, path string) bool) bool {
	switch x := v.(type) {
	case string:
		if p, ok := Ref(x); ok {
			return found(field, p)
		}
	case []string:
		for i, e := range x {
			if !Inspect(index(field, i), e, found) {
				return false
			}
		}
	case []any:
		for i, e := range x {
			if !Inspect(index(field, i), e, found) {
				return false
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !Inspect(member(field, k), x[k], found) {
				return false
			}
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !Inspect(member(field, k), x[k], found) {
				return false
			}
		}
	}
	return true
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func member(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
