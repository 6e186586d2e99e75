package desired

import (
	"fmt"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
)

// Claim is something on a host that only one resource may own: a
// container name, a compose project, a file path, a published host port.
// Two resources owning one thing undo each other on every push (each
// recreates the container, or rewrites the file, the other just wrote).
type Claim struct {
	Kind string // "container", "compose project", "file", "host port"
	Key  string // the name, path or "PORT/PROTO"
	// Scope narrows Key: the host IP a port is published on. An empty
	// scope overlaps every scope, 0.0.0.0 every IPv4 and :: every IPv6
	// address.
	Scope string
	Pos   stockpile.Pos // where the owning value is written
}

// Claimed is a resource with what it claims.
type Claimed struct {
	Resource Resource
	Claims   []Claim
}

// CheckClaims reports every claim of a host made by two resources, at
// the second resource's position, naming the first. Two claims of one
// resource never conflict (a resource may publish a port twice, on two
// container ports, only if the engine allows it: that is the engine's to
// refuse).
func CheckClaims(rs []Claimed) stockpile.Errors {
	var errs stockpile.Errors
	type owner struct {
		r Resource
		c Claim
	}
	seen := map[string][]owner{}
	for _, cr := range rs {
		reported := map[string]bool{}
		for _, c := range cr.Claims {
			k := c.Kind + "\x00" + c.Key
			for _, o := range seen[k] {
				if o.r.ID() == cr.Resource.ID() || !overlap(o.c.Scope, c.Scope) || reported[k+"\x00"+o.r.ID()] {
					continue
				}
				reported[k+"\x00"+o.r.ID()] = true
				errs.Addf(c.Pos, "give each one its own, or remove one of the two resources",
					"%s %s of resource %q (%s) is already owned by resource %q (%s) at %s: each push would undo the other",
					c.Kind, describe(c), cr.Resource.Name, cr.Resource.Type, o.r.ID(), o.r.Type, o.c.Pos)
			}
			seen[k] = append(seen[k], owner{cr.Resource, c})
		}
	}
	return errs
}

func describe(c Claim) string {
	if c.Kind == "host port" && c.Scope != "" {
		return fmt.Sprintf("%q on %s", c.Key, c.Scope)
	}
	return fmt.Sprintf("%q", c.Key)
}

// overlap says whether two host IPs a port is published on meet: equal,
// or one of them every address (empty: every address of both families;
// 0.0.0.0: every IPv4 address; ::, every IPv6 address).
func overlap(a, b string) bool {
	v6 := func(s string) bool { return strings.Contains(s, ":") }
	switch {
	case a == b || a == "" || b == "":
		return true
	case a == "0.0.0.0":
		return !v6(b)
	case b == "0.0.0.0":
		return !v6(a)
	case a == "::":
		return v6(b)
	case b == "::":
		return v6(a)
	}
	return false
}
