package executors

import (
	"fmt"
	"maps"
	"slices"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/secrets"
)

// SecretRef is one secret reference in a resource's rendered fields.
type SecretRef struct {
	Field string // dotted field path: environment.DATABASE_URL, content
	Path  string // the secret's path
}

// SecretRefs returns the secret references of r that the executors
// substitute (SecretRefAllowed: environment of a container, env of a
// compose project, content of a file), in field order. A field tagged
// !raw is sent as written and holds no reference. A reference in any
// other field is an error (a *FieldError naming the field): it would
// reach the host as the literal text "secret:PATH".
//
// This is the one check of where references may be: validate (Check)
// and push (which resolves exactly the references it returns) call it;
// decoding and converge trust their result.
func SecretRefs(r desired.Resource) ([]SecretRef, error) {
	var refs []SecretRef
	for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
		if r.Raw[k] {
			continue
		}
		allowed := SecretRefAllowed(r.Type, k)
		misplaced := ""
		secrets.Inspect(k, r.Fields[k], func(field, path string) bool {
			if !allowed {
				misplaced = field
				return false
			}
			refs = append(refs, SecretRef{Field: field, Path: path})
			return true
		})
		if misplaced != "" {
			return nil, fields{r: r}.errorf(misplaced, "secret references are only allowed in environment (docker_container), env (docker_compose) and content (file); tag the field !raw to keep the text literally")
		}
	}
	return refs, nil
}

// UnsetSecretError is a secret reference whose value the push did not
// resolve (decoding outside a push, or a caller that skipped it).
type UnsetSecretError struct {
	Path string
}

func (e *UnsetSecretError) Error() string { return fmt.Sprintf("secret %q is not set", e.Path) }

// secretValue is the one place a decoder turns a rendered value into
// what reaches the host: v, the value of field (a top-level field or an
// entry of one), is returned as it is unless it is a secret reference in
// a field not tagged !raw; then it returns the resolved value and the
// secret's path. A reference with no resolved value is an
// *UnsetSecretError, except offline (validate), where it stands for a
// value that is set ("").
func (env Env) secretValue(f fields, field, v string) (val, path string, err error) {
	p, ok := secrets.Ref(v)
	if !ok || f.r.Raw[topField(field)] {
		return v, "", nil
	}
	if val, found := env.Secrets[p]; found {
		return val, p, nil
	}
	if env.Offline {
		return "", p, nil
	}
	return "", "", f.errorf(field, "%w", &UnsetSecretError{Path: p})
}
