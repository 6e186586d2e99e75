// Package secrets resolves "secret:PATH" references at push time, keeps
// the encrypted store, and masks every resolved value in output. It must
// never print or log a value.
package secrets

import (
	"context"
	"errors"
	"strings"
)

// Prefix marks a value that is a secret reference.
const Prefix = "secret:"

// Ref returns the path of a secret reference and whether s is one.
// A reference is a string that is exactly "secret:PATH".
func Ref(s string) (path string, ok bool) {
	if !strings.HasPrefix(s, Prefix) || len(s) == len(Prefix) {
		return "", false
	}
	p := s[len(Prefix):]
	if strings.ContainsAny(p, " \t\n") {
		return "", false
	}
	return p, true
}

// Backend is a secret store that can look a path up.
type Backend interface {
	// Get returns the value at path, or an error wrapping ErrNotFound.
	Get(ctx context.Context, path string) (string, error)
}

// ErrNotFound is wrapped by Backend.Get when a path has no value.
var ErrNotFound = errors.New("secret not found")
