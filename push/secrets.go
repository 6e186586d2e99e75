package push

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/secrets"
)

// SecretRef is one "secret:PATH" value in a host's desired state.
type SecretRef struct {
	Path     string // the secret's path
	Resource string
	Field    string // dotted field path, e.g. environment.DATABASE_URL
	Pos      string // file:line:col of the resource
}

// SecretRefs returns the secret references of dh that the executors
// substitute, in apply order (executors.SecretRefs: never in a field
// tagged !raw, which is sent as written). A reference in any other field
// is an error naming the resource and its file:line, so that it fails as
// the stockpile mistake it is rather than as a missing secret.
func SecretRefs(dh desired.Host) ([]SecretRef, error) {
	var refs []SecretRef
	for _, r := range dh.Resources {
		rs, err := executors.SecretRefs(r)
		if err != nil {
			return nil, err
		}
		for _, x := range rs {
			refs = append(refs, SecretRef{Path: x.Path, Resource: r.Name, Field: x.Field, Pos: r.Pos.String()})
		}
	}
	return refs, nil
}

// ResolveSecrets resolves every secret reference of dh with get and hands
// each value to register (the output masker) before anything else sees
// it. It returns the values by path. The first missing secret is an error
// naming the path and the resource; the value never appears in an error.
func ResolveSecrets(ctx context.Context, dh desired.Host, get func(ctx context.Context, path string) (string, error), register func(value string)) (map[string]string, error) {
	refs, err := SecretRefs(dh)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	for _, ref := range refs {
		if _, ok := vals[ref.Path]; ok {
			continue
		}
		v, err := get(ctx, ref.Path)
		if err != nil {
			where := ""
			if ref.Pos != "" && ref.Pos != "-" {
				where = ref.Pos + ": "
			}
			if pe := (*secrets.PathError)(nil); !errors.As(err, &pe) {
				err = &secrets.PathError{Path: ref.Path, Err: err}
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

// FleetSecrets are the secret values of every selected host, resolved
// before the rollout starts.
type FleetSecrets struct {
	vals map[string]map[string]string
	errs map[string]error
}

// ResolveFleet resolves the secrets of every host (in order, with
// ResolveSecrets) and hands every value to register before it returns:
// the masker knows every value before the first host prints anything, so
// output of the first batch masks a value that only a host of a later
// batch uses. It logs into nothing. A host whose secrets do not resolve
// keeps its error: Prepare fails that host alone, when its turn comes,
// before it is touched.
func ResolveFleet(ctx context.Context, hosts []desired.Host, get func(ctx context.Context, path string) (string, error), register func(value string)) *FleetSecrets {
	fs := &FleetSecrets{vals: map[string]map[string]string{}, errs: map[string]error{}}
	for _, dh := range hosts {
		vals, err := ResolveSecrets(ctx, dh, get, register)
		if err != nil {
			fs.errs[dh.Name] = err
			continue
		}
		fs.vals[dh.Name] = vals
	}
	return fs
}

// Prepare is a Job.Prepare: the host's resolution error, if any.
func (fs *FleetSecrets) Prepare(_ context.Context, host string) error { return fs.errs[host] }

// Values returns the host's secret values by path.
func (fs *FleetSecrets) Values(host string) map[string]string { return fs.vals[host] }
