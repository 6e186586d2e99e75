package secrets

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"

	"golang.org/x/crypto/scrypt"
)

// Walk lists the secret paths referenced anywhere in rendered fields
// (strings that are exactly "secret:PATH" inside maps, slices, pointers
// and exported struct fields; map keys are not references), sorted and
// without duplicates.
func Walk(fields map[string]any) []string {
	seen := map[string]bool{}
	walk(reflect.ValueOf(fields), func(p string) { seen[p] = true })
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

func walk(v reflect.Value, found func(string)) {
	switch v.Kind() {
	case reflect.String:
		if p, ok := Ref(v.String()); ok {
			found(p)
		}
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem(), found)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walk(it.Value(), found)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), found)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				walk(v.Field(i), found)
			}
		}
	}
}

// A Resolver resolves the secrets of a push. It caches each value for its
// lifetime (one push), registers every value with its Masker before
// returning it, and fingerprints values for idempotence. It is safe for
// concurrent use by the hosts of a push.
type Resolver struct {
	backend Backend
	masker  *Masker

	mu      sync.Mutex
	values  map[string]resolved
	key     []byte
	keyDone bool
}

type resolved struct{ value string }

// NewResolver returns a Resolver over b that registers values with m.
func NewResolver(b Backend, m *Masker) *Resolver {
	return &Resolver{backend: b, masker: m, values: map[string]resolved{}}
}

// Masker returns the masker values are registered with.
func (r *Resolver) Masker() *Masker { return r.masker }

// Resolve looks every path up. The error lists every path that failed,
// each named (`secret "PATH": ...`), wraps ErrNotFound when one is unknown,
// and never holds a value; the caller adds the host and the resource.
func (r *Resolver) Resolve(ctx context.Context, paths []string) (*Values, error) {
	out := &Values{m: map[string]resolved{}, key: r.Key}
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
		return resolved{}, err
	}
	value, err := r.backend.Get(ctx, path)
	if err != nil {
		return resolved{}, fmt.Errorf("secret %q: %w", path, err)
	}
	if why := valueProblem(value); why != "" {
		return resolved{}, fmt.Errorf("secret %q: %s", path, why)
	}
	r.masker.Add(value)
	return resolved{value: value}, nil
}

// Fingerprint returns a string that changes when a secret's value changes
// and lets no one who reads it (a container label on a host) recover the
// value:
//
//   - with a key (the age store's random 32-byte salt, kept inside the
//     encryption, or VIGO_SECRETS_HASH_KEY): "hmac-sha256:" and 32 hex
//     digits of HMAC-SHA256(key, path NUL value);
//   - without one (environment backend only, no hash key): "scrypt:" and
//     32 hex digits of scrypt(value, salt=path, N=2^15, r=8, p=1), which
//     makes guessing expensive but cannot save a guessable value.
//
// Fingerprints of one value differ between key sources: switching a
// pipeline from the age store to the environment backend recreates the
// containers that use secrets once, unless both set the same
// VIGO_SECRETS_HASH_KEY.
func Fingerprint(key []byte, path, value string) (string, error) {
	if len(key) > 0 {
		h := hmac.New(sha256.New, key)
		io.WriteString(h, "vigo secret fingerprint v1\x00"+path+"\x00")
		io.WriteString(h, value)
		return "hmac-sha256:" + hex.EncodeToString(h.Sum(nil)[:16]), nil
	}
	k, err := scrypt.Key([]byte(value), []byte("vigo secret fingerprint v1\x00"+path), 1<<15, 8, 1, 16)
	if err != nil {
		return "", err
	}
	return "scrypt:" + hex.EncodeToString(k), nil
}

// Values are the resolved secrets of a push. Printing a Values with any
// fmt verb shows only how many paths it holds.
type Values struct {
	m   map[string]resolved
	key func() []byte // the resolver's fingerprint key, derived on first use

	mu  sync.Mutex
	fps map[string]string
}

// Value returns the value of path.
func (v *Values) Value(path string) (string, bool) {
	r, ok := v.m[path]
	return r.value, ok
}

// Fingerprint returns the fingerprint of path's value (see Fingerprint).
//
// Fingerprints are computed on first use, not when values are resolved: a
// keyless fingerprint (scrypt) costs a noticeable fraction of a second, and
// a push that never asks for one must not pay for it.
func (v *Values) Fingerprint(path string) (string, bool) {
	r, ok := v.m[path]
	if !ok {
		return "", false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if fp, ok := v.fps[path]; ok {
		return fp, true
	}
	var key []byte
	if v.key != nil {
		key = v.key()
	}
	fp, err := Fingerprint(key, path, r.value)
	if err != nil {
		return "", false
	}
	if v.fps == nil {
		v.fps = map[string]string{}
	}
	v.fps[path] = fp
	return fp, true
}

// Map returns a copy of the values by path (what executors.Env.Secrets
// takes). Whoever holds it must never print it.
func (v *Values) Map() map[string]string {
	m := make(map[string]string, len(v.m))
	for p, r := range v.m {
		m[p] = r.value
	}
	return m
}

// Key returns the key the Resolver fingerprints with (see
// Chain.FingerprintKey), or nil when no key exists. It is derived on the
// first call (deriving it may cost an scrypt), never by Resolve.
func (r *Resolver) Key() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.keyDone {
		r.keyDone = true
		if k, ok := r.backend.(keyer); ok {
			r.key, _ = k.FingerprintKey(context.Background()) // nil key: slow unkeyed fingerprints
		}
	}
	return r.key
}

// Paths lists the resolved paths, sorted.
func (v *Values) Paths() []string {
	ps := make([]string, 0, len(v.m))
	for p := range v.m {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// Expand returns the value s refers to when s is a reference, and s itself
// otherwise. A reference that was not resolved is an error naming it.
func (v *Values) Expand(s string) (string, error) {
	p, ok := Ref(s)
	if !ok {
		return s, nil
	}
	r, ok := v.m[p]
	if !ok {
		return "", fmt.Errorf("secret %q: not resolved", p)
	}
	return r.value, nil
}

// HashForm returns s with a reference replaced by "secret:PATH@FINGERPRINT":
// what a desired-spec hash should include so that a changed value changes
// the hash while the hash reveals nothing. Other strings are returned as is.
func (v *Values) HashForm(s string) string {
	p, ok := Ref(s)
	if !ok {
		return s
	}
	if fp, ok := v.Fingerprint(p); ok {
		return s + "@" + fp
	}
	return s
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
