package inventory

import (
	"fmt"
	"strings"
)

// AmbiguousNameError is returned by ResolveName when a short name or
// prefix names more than one host.
type AmbiguousNameError struct {
	Name       string
	Candidates []string
}

func (e *AmbiguousNameError) Error() string {
	return fmt.Sprintf("host %q is ambiguous: it could be %s", e.Name, strings.Join(e.Candidates, ", "))
}

// ResolveName turns a host name as typed into the inventory name it
// means: the exact name; else the one host whose short name (up to its
// first dot) it is, or whose name begins with it followed by a dot
// ("web1" and "web1.app" for web1.app.example.com, even with
// web10.app.example.com around); else the one host whose name begins with
// it. A name matching no host is returned unchanged, for the caller's own
// "not in the inventory" error (with its suggestion); one matching several
// is an *AmbiguousNameError listing them. Globs are not names: a name with
// a glob character is returned unchanged.
func ResolveName(names []string, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `*?[\`) {
		return name, nil
	}
	for _, n := range names {
		if n == name {
			return name, nil
		}
	}
	for _, match := range []func(string) bool{
		func(n string) bool { return strings.HasPrefix(n, name+".") },
		func(n string) bool { return strings.HasPrefix(n, name) },
	} {
		var found []string
		for _, n := range names {
			if match(n) {
				found = append(found, n)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		return "", &AmbiguousNameError{Name: name, Candidates: found}
	}
	return name, nil
}
