package executors

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
)

// How a container attaches to networks (by name, with aliases) and mounts
// volumes (by name). The networks and volumes themselves are resources of
// their own (docker_network, docker_volume); a container names them, and
// desired applies the resources declaring them first (containerUses).

// decodeAttachments reads a container's networks: each entry is a network
// name, or a map {name: NAME, aliases: [ALIAS...]}.
func decodeAttachments(f fields) ([]string, map[string][]string, error) {
	v := f.get("networks")
	if v == nil {
		return nil, nil, nil
	}
	items, isList := v.([]any)
	if !isList {
		items = []any{v}
	}
	var names []string
	var aliases map[string][]string
	for i, it := range items {
		where := fmt.Sprintf("networks[%d]", i)
		var name string
		var as []string
		switch x := it.(type) {
		case map[string]any:
			for k := range x {
				if k != "name" && k != "aliases" {
					return nil, nil, f.errorf(where+"."+k, "unknown field (want name, aliases)")
				}
			}
			n, ok := scalarText(x["name"])
			if !ok || n == "" {
				return nil, nil, f.errorf(where+".name", "required")
			}
			name = n
			switch al := x["aliases"].(type) {
			case nil:
			case []any:
				for j, a := range al {
					s, ok := scalarText(a)
					if !ok || s == "" {
						return nil, nil, f.errorf(fmt.Sprintf("%s.aliases[%d]", where, j), "want a name")
					}
					as = append(as, s)
				}
			default:
				s, ok := scalarText(al)
				if !ok {
					return nil, nil, f.errorf(where+".aliases", "want a list of names")
				}
				as = []string{s}
			}
		default:
			n, ok := scalarText(it)
			if !ok || n == "" {
				return nil, nil, f.errorf(where, "want a network name or {name, aliases}")
			}
			name = n
		}
		if name == "default" { // the engine's name for bridge; it records bridge
			name = "bridge"
		}
		if why := checkObjectName("network name", name); why != "" {
			return nil, nil, f.errorf(where, "%s", why)
		}
		if slices.Contains(names, name) {
			return nil, nil, f.errorf(where, "network %q is listed twice", name)
		}
		for j, a := range as {
			if why := checkObjectName("alias", a); why != "" {
				return nil, nil, f.errorf(fmt.Sprintf("%s.aliases[%d]", where, j), "%s", why)
			}
		}
		names = append(names, name)
		if len(as) > 0 {
			if isBuiltinNetwork(name) {
				return nil, nil, f.errorf(where+".aliases", "the %s network takes no aliases (only user-defined networks resolve names)", name)
			}
			sort.Strings(as)
			if aliases == nil {
				aliases = map[string][]string{}
			}
			aliases[name] = slices.Compact(as)
		}
	}
	return names, aliases, nil
}

func isBuiltinNetwork(n string) bool {
	return n == "bridge" || n == "host" || n == "none" || strings.HasPrefix(n, "container:")
}

// aliasDiff compares the declared aliases of every network the container
// is attached to. The engine also answers to the container's name and ID
// on a user network; those are not declared aliases.
func (s *containerSpec) aliasDiff(c *Container) []Change {
	var d []Change
	for _, n := range s.Networks {
		ep := c.NetworkSettings.Networks[n]
		var got []string
		if ep != nil {
			for _, a := range ep.Aliases {
				if a == s.Name || a == strings.TrimPrefix(c.Name, "/") || len(a) >= 12 && strings.HasPrefix(c.ID, a) {
					continue
				}
				got = append(got, a)
			}
		}
		sort.Strings(got)
		got = slices.Compact(got)
		want := s.Aliases[n]
		if !slices.Equal(got, want) {
			d = append(d, Change{Field: "networks." + n + ".aliases", From: bracketList(got), To: bracketList(want)})
		}
	}
	return d
}

// checkObjectName says why name is not a network, volume or alias name
// that can safely reach the engine ("" when it is): Docker's rule for
// names, so nothing in it can be read as an option or change an API path.
func checkObjectName(what, name string) string {
	if strings.HasPrefix(name, "container:") && what == "network name" {
		if why := checkContainerName(strings.TrimPrefix(name, "container:")); why != "" {
			return why
		}
		return ""
	}
	if !objectNameRE.MatchString(name) {
		return fmt.Sprintf("%q is not a valid %s (letters, digits and _.-, starting with a letter or digit)", name, what)
	}
	return ""
}

// volumeSource returns the named volume a mount SOURCE:TARGET[:ro] uses
// ("" for a host path), or why the source is neither.
func volumeSource(mount string) (string, string) {
	src, _, _ := strings.Cut(mount, ":")
	if strings.HasPrefix(src, "/") {
		return "", ""
	}
	if !volumeNameRE.MatchString(src) {
		return "", fmt.Sprintf("%q: the source is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)", mount)
	}
	return src, ""
}

// containerUses lists the networks and volumes a container's rendered
// fields name, for desired's ordering (stockpile.TypeSchema.Uses). It is
// lenient: a malformed entry is left to decode to report. A container
// that is to be absent uses nothing (it may be removed before them).
func containerUses(fields map[string]any) []stockpile.Use {
	if st, _ := fields["state"].(string); st == "absent" {
		return nil
	}
	var uses []stockpile.Use
	nets, _ := fields["networks"].([]any)
	if one, ok := fields["networks"].(string); ok {
		nets = []any{one}
	}
	for _, it := range nets {
		name, _ := it.(string)
		if m, ok := it.(map[string]any); ok {
			name, _ = m["name"].(string)
		}
		if name != "" && !isBuiltinNetwork(name) && name != "default" {
			uses = append(uses, stockpile.Use{Type: "docker_network", Name: name})
		}
	}
	vols, _ := fields["volumes"].([]any)
	for _, it := range vols {
		m, _ := it.(string)
		if name, why := volumeSource(m); name != "" && why == "" {
			uses = append(uses, stockpile.Use{Type: "docker_volume", Name: name})
		}
	}
	return uses
}
