package stockpile

import (
	"fmt"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
)

// checkDuplicates reports modules and roles defined twice, and resources
// defined twice in one module.
func (l *loader) checkDuplicates() {
	mods := map[string]*Module{}
	var keep []*Module
	for _, m := range l.sp.Modules {
		if first, dup := mods[m.Name]; dup {
			l.errs.Addf(m.Pos, "", "module %q is defined twice (first at %s)", m.Name, first.Pos)
			continue
		}
		mods[m.Name] = m
		keep = append(keep, m)
		seen := map[string]*Resource{}
		var rs []*Resource
		for _, r := range m.Resources {
			if first, dup := seen[r.Name]; dup {
				l.errs.Addf(r.Pos, "", "resource %q is defined twice in module %q (first at %s)", r.Name, m.Name, first.Pos)
				continue
			}
			seen[r.Name] = r
			rs = append(rs, r)
		}
		m.Resources = rs
	}
	l.sp.Modules = keep
	roles := map[string]*Role{}
	var rkeep []*Role
	for _, r := range l.sp.Roles {
		if first, dup := roles[r.Name]; dup {
			l.errs.Addf(r.Pos, "", "role %q is defined twice (first at %s)", r.Name, first.Pos)
			continue
		}
		roles[r.Name] = r
		rkeep = append(rkeep, r)
	}
	l.sp.Roles = rkeep
}

func (l *loader) moduleNames() []string {
	var out []string
	for _, m := range l.sp.Modules {
		out = append(out, m.Name)
	}
	return out
}

// resolve checks every reference by name.
func (l *loader) resolve() {
	modNames := l.moduleNames()
	for _, m := range l.sp.Modules {
		seen := map[string]bool{}
		for _, d := range m.DependsOn {
			if l.sp.Module(d.Name) == nil {
				l.errs.Addf(d.Pos, didyoumean.Hint(d.Name, modNames), "module %q depends on unknown module %q", m.Name, d.Name)
			} else if seen[d.Name] {
				l.errs.Addf(d.Pos, "", "module %q lists %q twice in depends_on", m.Name, d.Name)
			}
			seen[d.Name] = true
		}
		for _, r := range m.Resources {
			r.DependsOn = l.resolveRefs(r, r.DependsOn, "depends on")
			r.Notify = l.resolveRefs(r, r.Notify, "notifies")
			r.Subscribes = l.resolveRefs(r, r.Subscribes, "subscribes to")
		}
	}
	for _, r := range l.sp.Roles {
		seen := map[string]bool{}
		for _, m := range r.Modules {
			if l.sp.Module(m.Name) == nil {
				l.errs.Addf(m.Pos, didyoumean.Hint(m.Name, modNames), "role %q uses unknown module %q", r.Name, m.Name)
			} else if seen[m.Name] {
				l.errs.Addf(m.Pos, "", "role %q lists module %q twice", r.Name, m.Name)
			}
			seen[m.Name] = true
		}
	}
	var roleNames []string
	for _, r := range l.sp.Roles {
		roleNames = append(roleNames, r.Name)
	}
	for _, e := range l.sp.Envoys {
		for _, r := range e.Roles {
			if l.sp.Role(r.Name) == nil {
				l.errs.Addf(r.Pos, didyoumean.Hint(r.Name, roleNames), "envoy %q uses unknown role %q", e.Match, r.Name)
			}
		}
	}
}

// resolveRefs resolves resource references: "module/name", or a bare name
// looked up in the resource's own module first, then in every module.
func (l *loader) resolveRefs(r *Resource, refs []Ref, verb string) []Ref {
	var out []Ref
	seen := map[string]bool{}
	for _, ref := range refs {
		got, ok := l.resolveRef(r, ref, verb)
		if !ok {
			continue
		}
		if got.ID() == r.ID() {
			l.errs.Addf(ref.Pos, "", "resource %q %s itself", r.Name, verb)
			continue
		}
		if seen[got.ID()] {
			continue
		}
		seen[got.ID()] = true
		out = append(out, got)
	}
	return out
}

func (l *loader) resolveRef(r *Resource, ref Ref, verb string) (Ref, bool) {
	if mod, name, ok := strings.Cut(ref.Name, "/"); ok {
		m := l.sp.Module(mod)
		if m == nil {
			l.errs.Addf(ref.Pos, didyoumean.Hint(mod, l.moduleNames()), "resource %q %s %q: there is no module %q", r.Name, verb, ref.Name, mod)
			return ref, false
		}
		for _, x := range m.Resources {
			if x.Name == name {
				return Ref{Module: mod, Name: name, Pos: ref.Pos}, true
			}
		}
		l.errs.Addf(ref.Pos, didyoumean.Hint(name, resourceNames(m)), "resource %q %s %q: module %q has no resource %q", r.Name, verb, ref.Name, mod, name)
		return ref, false
	}
	own := l.sp.Module(r.Module)
	if own != nil {
		for _, x := range own.Resources {
			if x.Name == ref.Name {
				return Ref{Module: own.Name, Name: ref.Name, Pos: ref.Pos}, true
			}
		}
	}
	var found []string
	var all []string
	for _, m := range l.sp.Modules {
		for _, x := range m.Resources {
			all = append(all, x.Name)
			if x.Name == ref.Name {
				found = append(found, m.Name)
			}
		}
	}
	switch len(found) {
	case 1:
		return Ref{Module: found[0], Name: ref.Name, Pos: ref.Pos}, true
	case 0:
		l.errs.Addf(ref.Pos, didyoumean.Hint(ref.Name, all), "resource %q %s unknown resource %q", r.Name, verb, ref.Name)
	default:
		quals := make([]string, len(found))
		for i, m := range found {
			quals[i] = fmt.Sprintf("%q", m+"/"+ref.Name)
		}
		l.errs.Addf(ref.Pos, "write "+strings.Join(quals, " or "), "resource %q %s %q, which is ambiguous: modules %s all have one", r.Name, verb, ref.Name, strings.Join(found, ", "))
	}
	return ref, false
}

func resourceNames(m *Module) []string {
	var out []string
	for _, r := range m.Resources {
		out = append(out, r.Name)
	}
	return out
}

// checkCycles reports dependency cycles among modules and among
// resources (depends_on only: notify and subscribes do not order).
func (l *loader) checkCycles() {
	var mods []string
	medges := map[string][]Ref{}
	for _, m := range l.sp.Modules {
		mods = append(mods, m.Name)
		for _, d := range m.DependsOn {
			if l.sp.Module(d.Name) != nil {
				medges[m.Name] = append(medges[m.Name], d)
			}
		}
	}
	for _, c := range findCycles(mods, medges) {
		l.errs.Addf(c.pos, "", "module dependency cycle: %s", strings.Join(c.path, " -> "))
	}
	var res []string
	redges := map[string][]Ref{}
	for _, m := range l.sp.Modules {
		for _, r := range m.Resources {
			res = append(res, r.ID())
			redges[r.ID()] = r.DependsOn
		}
	}
	for _, c := range findCycles(res, redges) {
		l.errs.Addf(c.pos, "", "resource dependency cycle: %s", strings.Join(c.path, " -> "))
	}
}

type cycle struct {
	path []string
	pos  Pos // of the reference that closes the cycle
}

// findCycles returns each cycle once, found by depth-first search in the
// given order. Nodes are IDs; edges are Refs whose ID() is a node.
func findCycles(nodes []string, edges map[string][]Ref) []cycle {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var out []cycle
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, e := range edges[n] {
			to := e.ID()
			switch color[to] {
			case white:
				visit(to)
			case grey:
				i := len(stack) - 1
				for stack[i] != to {
					i--
				}
				path := append(append([]string{}, stack[i:]...), to)
				out = append(out, cycle{path: path, pos: e.Pos})
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range nodes {
		if color[n] == white {
			visit(n)
		}
	}
	return out
}
