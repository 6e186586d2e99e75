package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// PathError is a secret path that did not resolve: invalid, unknown to
// every backend, refused by one, or a value vigo refuses. It never holds
// a value.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string {
	if errors.Is(e.Err, ErrInvalidPath) { // that message names the path already
		return e.Err.Error()
	}
	return fmt.Sprintf("secret %q: %v", e.Path, e.Err)
}

func (e *PathError) Unwrap() error { return e.Err }

// A Resolver resolves the secrets of a push. It caches each value for its
// lifetime (one push), registers every value with its Masker before
// returning it. It is safe for
// concurrent use by the hosts of a push.
type Resolver struct {
	backend Backend
	masker  *Masker

	mu     sync.Mutex
	values map[string]resolved
}

type resolved struct{ value string }

// NewResolver returns a Resolver over b that registers values with m.
func NewResolver(b Backend, m *Masker) *Resolver {
	return &Resolver{backend: b, masker: m, values: map[string]resolved{}}
}

// Masker returns the masker values are registered with.
func (r *Resolver) Masker() *Masker { return r.masker }

// Resolve looks every path up. The error lists every path that failed,
// each a *PathError (`secret "PATH": ...`), wraps ErrNotFound when one is unknown,
// and never holds a value; the caller adds the host and the resource.
func (r *Resolver) Resolve(ctx context.Context, paths []string) (*Values, error) {
	out := &Values{m: map[string]resolved{}}
	var errs []error
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, path := range paths {
		if _, ok := out.m[path]; ok {
			continue
		}
		if v, ok := r.values[path]; ok {
			out.m[path] = v
			continue
		}
		v, err := r.resolve(ctx, path)
		if err != nil {
			errs = append(errs, r.masker.Error(err))
			continue
		}
		r.values[path] = v
		out.m[path] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (r *Resolver) resolve(ctx context.Context, path string) (resolved, error) {
	if err := ValidatePath(path); err != nil {
		return resolved{}, &PathError{Path: path, Err: err}
	}
	value, err := r.backend.Get(ctx, path)
	if err != nil {
		return resolved{}, &PathError{Path: path, Err: err}
	}
	if why := valueProblem(value); why != "" {
		return resolved{}, &PathError{Path: path, Err: errors.New(why)}
	}
	r.masker.Add(value)
	return resolved{value: value}, nil
}

// Values are the resolved secrets of a push. Printing a Values with any
// fmt verb shows only how many paths it holds.
type Values struct {
	m map[string]resolved
}

// Value returns the value of path.
func (v *Values) Value(path string) (string, bool) {
	r, ok := v.m[path]
	return r.value, ok
}

func (v *Values) String() string {
	if v == nil {
		return "secrets.Values(nil)"
	}
	return fmt.Sprintf("secrets.Values(%d paths)", len(v.m))
}

// GoString keeps %#v from printing values.
func (v *Values) GoString() string { return v.String() }

// Format keeps every verb from printing values.
func (v *Values) Format(f fmt.State, _ rune) { io.WriteString(f, v.String()) }
