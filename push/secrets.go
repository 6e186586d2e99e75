package push

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/secrets"
)

// SecretRef is one "secret:PATH" value in a host's desired state.
type SecretRef struct {
	Path     string // the secret's path
	Resource string
	Field    string // dotted field path, e.g. environment.DATABASE_URL
	Pos      string // file:line:col of the resource
}

// SecretRefs walks every resource field of dh, in apply order, and
// returns the secret references it holds.
func SecretRefs(dh desired.Host) []SecretRef {
	var refs []SecretRef
	for _, r := range dh.Resources {
		keys := make([]string, 0, len(r.Fields))
		for k := range r.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkSecrets(r.Fields[k], k, func(field, path string) {
				refs = append(refs, SecretRef{Path: path, Resource: r.Name, Field: field, Pos: r.Pos.String()})
			})
		}
	}
	return refs
}

func walkSecrets(v any, field string, found func(field, path string)) {
	switch v := v.(type) {
	case string:
		if p, ok := secrets.Ref(v); ok {
			found(field, p)
		}
	case []any:
		for i, e := range v {
			walkSecrets(e, fmt.Sprintf("%s[%d]", field, i), found)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkSecrets(v[k], field+"."+k, found)
		}
	}
}

// ResolveSecrets resolves every secret reference of dh with get and hands
// each value to register (the output masker) before anything else sees
// it. It returns the values by path. The first missing secret is an error
// naming the path and the resource; the value never appears in an error.
func ResolveSecrets(ctx context.Context, dh desired.Host, get func(ctx context.Context, path string) (string, error), register func(value string)) (map[string]string, error) {
	vals := map[string]string{}
	for _, ref := range SecretRefs(dh) {
		if _, ok := vals[ref.Path]; ok {
			continue
		}
		v, err := get(ctx, ref.Path)
		if err != nil {
			where := ""
			if ref.Pos != "" && ref.Pos != "-" {
				where = ref.Pos + ": "
			}
			if !strings.Contains(err.Error(), ref.Path) {
				err = fmt.Errorf("secret %s: %w", ref.Path, err)
			}
			return nil, fmt.Errorf("%sresource %s field %s: %w", where, ref.Resource, ref.Field, err)
		}
		if register != nil {
			register(v)
		}
		vals[ref.Path] = v
	}
	return vals, nil
}
