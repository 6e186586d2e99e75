package desired

import (
	"slices"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
)

// stableOrder sorts n items topologically by deps (item -> the items it
// comes after), stably: an item moves only when it has to, ties keep the
// given order. Items on a cycle are appended in the given order and
// returned as cycle (the loader refuses explicit cycles; implicit uses can
// still close one).
func stableOrder(n int, deps func(i int) []int) (order []int, cycle []int) {
	placed := make([]bool, n)
	for len(order) < n {
		progress := false
		for i := 0; i < n; i++ {
			if placed[i] {
				continue
			}
			ready := true
			for _, d := range deps(i) {
				if !placed[d] {
					ready = false
					break
				}
			}
			if ready {
				placed[i] = true
				order = append(order, i)
				progress = true
				break // restart from the first: ties keep the given order
			}
		}
		if !progress {
			for i := 0; i < n; i++ {
				if !placed[i] {
					placed[i] = true
					order = append(order, i)
					cycle = append(cycle, i)
				}
			}
		}
	}
	return order, cycle
}

// implicitUses adds to each resource the resources of the host declaring
// the objects it uses by name (a container's networks and volumes: see
// stockpile.TypeSchema.Uses), as depends_on, and reorders the host's
// resources so that those come first. res[i] is the stockpile resource
// h.Resources[i] was rendered from.
func implicitUses(h *Host, res []*stockpile.Resource) stockpile.Errors {
	var errs stockpile.Errors
	type obj struct{ typ, name string }
	declared := map[obj]int{}
	for i, r := range res {
		if r.Schema == nil || r.Schema.Key == "" {
			continue
		}
		if name, ok := h.Resources[i].Fields[r.Schema.Key].(string); ok && name != "" {
			o := obj{r.Type, name}
			if j, dup := declared[o]; dup {
				errs.Addf(r.Pos, "declare each object once per host", "resource %q (module %s) declares %s %q, like resource %q (module %s, %s)",
					r.Name, r.Module, strings.TrimPrefix(r.Type, "docker_"), name, res[j].Name, res[j].Module, res[j].Pos)
				continue
			}
			declared[o] = i
		}
	}
	added := false
	for i, r := range res {
		if r.Schema == nil || r.Schema.Uses == nil {
			continue
		}
		for _, u := range r.Schema.Uses(h.Resources[i].Fields) {
			j, ok := declared[obj{u.Type, u.Name}]
			if !ok || j == i {
				continue
			}
			id := h.Resources[j].ID()
			if !slices.Contains(h.Resources[i].DependsOn, id) {
				h.Resources[i].DependsOn = append(h.Resources[i].DependsOn, id)
				added = true
			}
		}
	}
	if !added || len(errs) > 0 {
		return errs
	}
	index := map[string]int{}
	for i, r := range h.Resources {
		index[r.ID()] = i
	}
	order, cycle := stableOrder(len(h.Resources), func(i int) []int {
		var ds []int
		for _, d := range h.Resources[i].DependsOn {
			if j, ok := index[d]; ok {
				ds = append(ds, j)
			}
		}
		return ds
	})
	if len(cycle) > 0 {
		var names []string
		for _, i := range cycle {
			names = append(names, h.Resources[i].ID())
		}
		r := res[cycle[0]]
		errs.Addf(r.Pos, "a container that uses a network or volume is applied after it: remove the depends_on that orders it the other way",
			"resources %s depend on each other through the networks and volumes they use", strings.Join(names, ", "))
		return errs
	}
	out := make([]Resource, len(order))
	for k, i := range order {
		out[k] = h.Resources[i]
	}
	h.Resources = out
	return nil
}
