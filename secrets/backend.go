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
	seen := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return nil, fmt.Errorf("%s=%q: %q listed twice", BackendEnv, spec, name)
		}
		seen[name] = true
		switch name {
		case "env":
			c.Backends = append(c.Backends, EnvBackend{LookupEnv: env.LookupEnv})
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
