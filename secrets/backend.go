package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Chain looks a path up in each backend in order; the first that has it
// wins. It refuses values shorter than MinValueLen (or empty, or larger
// than MaxValueLen) whichever backend holds them. A backend error other than ErrNotFound stops the search (a store
// that cannot be decrypted is an error, not a miss).
type Chain struct {
	Backends []Backend
	// HashKey, when set (VIGO_SECRETS_HASH_KEY), keys fingerprints
	// instead of the age store's salt.
	HashKey []byte
}

// Get implements Backend.
func (c *Chain) Get(ctx context.Context, path string) (string, error) {
	var misses []string
	for _, b := range c.Backends {
		v, err := b.Get(ctx, path)
		if err == nil {
			// Every consumer gets only values the Masker can mask.
			if why := valueProblem(v); why != "" {
				return "", fmt.Errorf("%v: %s", b, why)
			}
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
		if w, ok := b.(interface{ Where(string) string }); ok {
			misses = append(misses, w.Where(path))
		}
	}
	return "", fmt.Errorf("%w (%s)", ErrNotFound, strings.Join(misses, "; "))
}

func (c *Chain) String() string {
	names := make([]string, len(c.Backends))
	for i, b := range c.Backends {
		names[i] = fmt.Sprint(b)
	}
	return strings.Join(names, ",")
}

// FingerprintKey returns the key for fingerprints (and for any hash of a
// secret value that leaves the operator's machine, such as the spec-hash
// label of a container), in this order: VIGO_SECRETS_HASH_KEY; the age
// store's random salt (when the store exists and the identity decrypts
// it); a key derived from the VIGO_SECRET_* variables (env backend). It
// fails only when none of these exists.
func (c *Chain) FingerprintKey(ctx context.Context) ([]byte, error) {
	if len(c.HashKey) > 0 {
		return c.HashKey, nil
	}
	var errs []error
	ordered := make([]Backend, 0, len(c.Backends))
	for _, b := range c.Backends { // stable keys first
		if _, ok := b.(*AgeStore); ok {
			ordered = append(ordered, b)
		}
	}
	for _, b := range c.Backends {
		if _, ok := b.(*AgeStore); !ok {
			ordered = append(ordered, b)
		}
	}
	for _, b := range ordered {
		if k, ok := b.(keyer); ok {
			key, err := k.FingerprintKey(ctx)
			if err == nil {
				return key, nil
			}
			errs = append(errs, fmt.Errorf("%v: %w", b, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no backend holds a fingerprint key"))
	}
	return nil, fmt.Errorf("no fingerprint key (set %s): %w", HashKeyEnv, errors.Join(errs...))
}

// keyer is a backend that holds a fingerprint key.
type keyer interface {
	FingerprintKey(context.Context) ([]byte, error)
}

// DefaultBackends is the chain used when VIGO_SECRETS_BACKEND is unset:
// the environment first (CI sets VIGO_SECRET_* variables and needs no
// key), then the stockpile's age store (opened only for paths the
// environment lacks).
const DefaultBackends = "env,age"

// NewBackend builds the backend chain for a stockpile from the
// environment: VIGO_SECRETS_BACKEND is a comma-separated, ordered list of
// "env", "age" and "vault" (default DefaultBackends).
func NewBackend(stockpile string, env Env) (*Chain, error) {
	spec := env.get(BackendEnv)
	if strings.TrimSpace(spec) == "" {
		spec = DefaultBackends
	}
	c := &Chain{}
	if k := env.get(HashKeyEnv); k != "" {
		c.HashKey = []byte(k)
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return nil, fmt.Errorf("%s=%q: %q listed twice", BackendEnv, spec, name)
		}
		seen[name] = true
		switch name {
		case "env":
			c.Backends = append(c.Backends, EnvBackend{LookupEnv: env.LookupEnv, Environ: env.Environ})
		case "age":
			c.Backends = append(c.Backends, NewAgeStore(stockpile, env.LoadIdentity))
		case "vault":
			v, err := NewVaultBackend(env)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", BackendEnv, spec, err)
			}
			c.Backends = append(c.Backends, v)
		default:
			return nil, fmt.Errorf("%s=%q: unknown backend %q (known: env, age, vault)", BackendEnv, spec, name)
		}
	}
	return c, nil
}
