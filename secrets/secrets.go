// Package secrets resolves "secret:PATH" references at push time, keeps
// the encrypted store, and masks every resolved value in output. It must
// never print or log a value: the only code that writes a value anywhere
// is the age store (encrypted) and `vigocli secrets get`.
//
// The pieces:
//
//   - Ref, ValidatePath and Inspect find references in rendered fields;
//   - Backend is a store that looks a path up: AgeStore (the encrypted file
//     in the stockpile), EnvBackend (VIGO_SECRET_* variables for CI) and
//     Chain (several, in order), built from the environment by NewBackend;
//   - Resolver resolves the paths one push needs and registers every
//     value with a Masker (nothing derived from a value is kept: no hash,
//     no fingerprint);
//   - Masker masks values in strings, line-buffered writers, events and
//     errors.
//
// See docs/secrets.md for the operator's view.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a value that is a secret reference.
const Prefix = "secret:"

// Ref returns the path of a secret reference and whether s is one.
// A reference is a string that is exactly "secret:PATH".
// Ref does not check the path's syntax: a string that looks like a
// reference but has an invalid path is still a reference (so that it is
// reported by ValidatePath instead of silently used as a literal value).
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
var ErrNotFound = errors.New("not found")

// ErrInvalidPath is wrapped by ValidatePath.
var ErrInvalidPath = errors.New("invalid secret path")

// MaxPathLen bounds a path's length.
const MaxPathLen = 256

// MinValueLen is the shortest value vigo accepts. A shorter value cannot
// be masked in output without destroying it (masking "on" would mangle
// every "json" and "container"), and a value that short is no secret: it
// is refused by `secrets set` and by the Resolver, whatever the backend.
const MinValueLen = 4

// MaxValueLen bounds a value's size (1 MiB).
const MaxValueLen = 1 << 20

// ValidatePath checks a path's syntax: segments of [A-Za-z0-9_.-]
// separated by single slashes, no leading or trailing slash, no "." or
// ".." segment, at most MaxPathLen bytes. The error names the path (a
// path is not a secret).
func ValidatePath(path string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidPath, path, why)
	}
	if path == "" {
		return bad("empty")
	}
	if len(path) > MaxPathLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxPathLen))
	}
	for _, seg := range strings.Split(path, "/") {
		switch seg {
		case "":
			return bad("empty segment (leading, trailing or double slash)")
		case ".", "..":
			return bad(`"." and ".." segments are not allowed`)
		}
		for _, r := range seg {
			if !pathRune(r) {
				return bad(fmt.Sprintf("character %q not allowed (use letters, digits, _ . - and /)", r))
			}
		}
	}
	return nil
}

func pathRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '.' || r == '-'
}

// checkValue enforces MinValueLen and MaxValueLen. The error names the
// path and the rule, never the value.
func checkValue(path, value string) error {
	if why := valueProblem(value); why != "" {
		return fmt.Errorf("secret %q: %s", path, why)
	}
	return nil
}

func valueProblem(value string) string {
	switch {
	case value == "":
		return "value is empty"
	case len(value) < MinValueLen:
		return fmt.Sprintf("value is shorter than %d characters; vigo refuses values it cannot mask in output without destroying it", MinValueLen)
	case len(value) > MaxValueLen:
		return fmt.Sprintf("value is larger than %d bytes", MaxValueLen)
	}
	return ""
}
