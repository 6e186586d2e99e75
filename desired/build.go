package desired

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
	"github.com/vigo-sh/vigocli/template"
)

// Options are the command line's say in a build.
type Options struct {
	// Vars are --var k=v overrides, the highest precedence.
	Vars map[string]string
}

// Build computes the desired state of every inventory host that an envoy
// matches, in inventory order. Warnings (an envoy matching no host, a host
// matched by no envoy) are returned, not printed. The error, when not nil,
// is a stockpile.Errors holding every problem of every host; the hosts
// returned with it are incomplete, for further checking only.
func Build(sp *stockpile.Stockpile, inv *inventory.Inventory, opts Options) ([]Host, []*stockpile.Error, error) {
	assigned, warns := inventory.Assign(inv.Hosts, sp.Envoys)
	matched := map[string]bool{}
	for _, a := range assigned {
		matched[a.Host.Name] = true
	}
	for _, h := range inv.Hosts {
		if !matched[h.Name] {
			warns = append(warns, &stockpile.Error{Pos: h.Pos, Msg: fmt.Sprintf("host %q is matched by no envoy: it gets nothing", h.Name)})
		}
	}
	var c Collector
	var out []Host
	r := &template.Renderer{}
	for _, a := range assigned {
		h, errs := buildOne(sp, a, opts, r)
		c.Add(a.Host.Name, errs)
		out = append(out, h)
	}
	ws := stockpile.Errors(warns)
	ws.Sort()
	return out, ws, c.Err()
}

// BuildHost computes the desired state of one host.
func BuildHost(sp *stockpile.Stockpile, inv *inventory.Inventory, name string, opts Options) (Host, []*stockpile.Error, error) {
	h, ok := inv.Host(name)
	if !ok {
		msg := fmt.Sprintf("host %q is not in the inventory %s", name, inv.File)
		if h := didyoumean.Hint(name, inv.Names()); h != "" {
			msg += " (hint: " + h + ")"
		}
		return Host{}, nil, fmt.Errorf("%s", msg)
	}
	assigned, _ := inventory.Assign([]inventory.Host{h}, sp.Envoys)
	if len(assigned) == 0 {
		return Host{}, nil, fmt.Errorf("host %q is matched by no envoy: it gets nothing", name)
	}
	dh, errs := buildOne(sp, assigned[0], opts, &template.Renderer{})
	var c Collector
	c.Add(name, errs)
	if err := c.Err(); err != nil {
		return Host{}, nil, err
	}
	return dh, nil, nil
}

// AssignErr is the error of assigned (inventory.Assign) that forbids
// acting on its hosts, each problem naming its hosts as Build's do: the
// environment conflicts. For a command that reads the envoys without
// building the desired state (task run --environment).
func AssignErr(assigned []inventory.Assignment) error {
	var c Collector
	for _, a := range assigned {
		c.Add(a.Host.Name, a.Conflicts)
	}
	return c.Err()
}

// Collector merges identical errors of several hosts into one line that
// names the hosts.
type Collector struct {
	order []string
	hosts map[string][]string
	errs  map[string]*stockpile.Error
}

// Add records the errors of one host (errors that do not name it).
func (c *Collector) Add(host string, errs stockpile.Errors) {
	if c.errs == nil {
		c.hosts, c.errs = map[string][]string{}, map[string]*stockpile.Error{}
	}
	for _, e := range errs {
		key := e.Pos.String() + "\x00" + e.Msg + "\x00" + e.Hint
		if _, ok := c.errs[key]; !ok {
			c.order = append(c.order, key)
			c.errs[key] = e
		}
		c.hosts[key] = append(c.hosts[key], host)
	}
}

// Err returns every error recorded, each naming its hosts, or nil.
func (c *Collector) Err() error {
	var out stockpile.Errors
	for _, key := range c.order {
		e := *c.errs[key]
		hs := c.hosts[key]
		switch {
		case len(hs) == 1:
			e.Msg += fmt.Sprintf(" (host %s)", hs[0])
		case len(hs) <= 3:
			e.Msg += fmt.Sprintf(" (hosts %s)", strings.Join(hs, ", "))
		default:
			e.Msg += fmt.Sprintf(" (hosts %s and %d more)", strings.Join(hs[:2], ", "), len(hs)-2)
		}
		out = append(out, &e)
	}
	return out.Err()
}

// buildOne builds one host; errors do not name the host (the Collector
// adds it). With errors the host is still returned, without the values
// that failed, so that later checks can find the other problems; a caller
// must never act on it.
func buildOne(sp *stockpile.Stockpile, a inventory.Assignment, opts Options, tr *template.Renderer) (Host, stockpile.Errors) {
	var errs stockpile.Errors
	ih := a.Host
	// The environment is inventory.Assign's decision.
	h := Host{Name: ih.Name, Environment: ih.Environment, Inventory: ih}
	errs = append(errs, a.Conflicts...)

	// Roles: union in envoy order.
	var roles []*stockpile.Role
	seenRole := map[string]bool{}
	for _, e := range a.Envoys {
		for _, r := range e.Roles {
			if seenRole[r.Name] {
				continue
			}
			seenRole[r.Name] = true
			if role := sp.Role(r.Name); role != nil {
				roles = append(roles, role)
				h.Roles = append(h.Roles, role.Name)
			}
		}
	}
	if h.Roles == nil {
		h.Roles = []string{}
	}

	mods := moduleOrder(sp, roles)
	h.Modules = []string{}
	for _, m := range mods {
		h.Modules = append(h.Modules, m.Name)
	}

	vars, verrs := mergeVars(mods, roles, a.Envoys, ih, opts)
	errs = append(errs, verrs...)
	h.Vars = vars

	res, rerrs := resourceOrder(mods, h)
	errs = append(errs, rerrs...)

	data := template.Data{Vars: vars, Host: hostData(ih), Environment: h.Environment}
	h.Resources = []Resource{}
	for _, r := range res {
		dr := Resource{Name: r.Name, Type: r.Type, Module: r.Module, Fields: map[string]any{}, Pos: r.Pos,
			FieldPos: map[string]stockpile.Pos{}, Invalid: r.Invalid}
		for _, f := range r.Fields {
			dr.FieldPos[f.Key] = f.Value.Pos
			if f.Value.Raw {
				if dr.Raw == nil {
					dr.Raw = map[string]bool{}
				}
				dr.Raw[f.Key] = true
			}
			v, err := render(tr, f.Value, data, func(v *stockpile.Value, err error) {
				dr.Invalid = true
				e := &stockpile.Error{Pos: v.Pos, Msg: fmt.Sprintf("%s of resource %q (module %s): %v", f.Key, r.Name, r.Module, err)}
				if me, ok := err.(*template.MissingError); ok {
					e.Hint = me.Hint
				}
				errs = append(errs, e)
			})
			if err != nil {
				continue
			}
			// A templated scalar is checked against its kind once rendered.
			if sf, ok := r.SchemaField(f.Key); ok && f.Value.Kind == stockpile.Scalar && !f.Value.Raw && template.HasAction(f.Value.Str) {
				if str, isStr := v.(string); isStr {
					norm, problem, hint := stockpile.CheckValue(sf, str)
					if problem != "" {
						errs = append(errs, &stockpile.Error{Pos: f.Value.Pos, Hint: hint,
							Msg: fmt.Sprintf("%s of resource %q (module %s) %s (rendered from %q)", f.Key, r.Name, r.Module, problem, f.Value.Str)})
						dr.Invalid = true
						continue
					}
					v = norm
				}
			}
			dr.Fields[f.Key] = v
		}
		dr.DependsOn = present(r.DependsOn, h)
		dr.Notify = present(r.Notify, h)
		dr.Subscribes = present(r.Subscribes, h)
		h.Resources = append(h.Resources, dr)
	}
	if len(errs) == 0 {
		errs = append(errs, implicitUses(&h, res)...)
	}
	return h, errs
}

// hostData is what templates see as .Host.
func hostData(h inventory.Host) map[string]any {
	labels := map[string]any{}
	for k, v := range h.Labels {
		labels[k] = v
	}
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	port := ""
	if h.Port != 0 {
		port = strconv.Itoa(h.Port)
	}
	return map[string]any{
		"Name":    h.Name,
		"Address": addr,
		"User":    h.User,
		"Port":    port,
		"Labels":  labels,
	}
}

// moduleOrder returns the modules of the roles, with the modules they
// depend on (pulled in even when no role names them), topologically sorted
// by depends_on; ties keep role order.
func moduleOrder(sp *stockpile.Stockpile, roles []*stockpile.Role) []*stockpile.Module {
	var list []*stockpile.Module
	in := map[string]bool{}
	add := func(name string) {
		if in[name] {
			return
		}
		m := sp.Module(name)
		if m == nil {
			return
		}
		in[name] = true
		list = append(list, m)
	}
	for _, r := range roles {
		for _, m := range r.Modules {
			add(m.Name)
		}
	}
	for i := 0; i < len(list); i++ { // list grows while walked
		for _, d := range list[i].DependsOn {
			add(d.Name)
		}
	}
	index := map[string]int{}
	for i, m := range list {
		index[m.Name] = i
	}
	order, _ := stableOrder(len(list), func(i int) []int { // a cycle: the loader refuses them
		var ds []int
		for _, d := range list[i].DependsOn {
			if j, ok := index[d.Name]; ok {
				ds = append(ds, j)
			}
		}
		return ds
	})
	out := make([]*stockpile.Module, len(order))
	for k, i := range order {
		out[k] = list[i]
	}
	return out
}

// mergeVars merges variables, lowest precedence first: module defaults,
// role vars, envoy vars, inventory host vars, --var.
func mergeVars(mods []*stockpile.Module, roles []*stockpile.Role, envoys []*stockpile.Envoy, ih inventory.Host, opts Options) (map[string]any, stockpile.Errors) {
	var errs stockpile.Errors
	vars := map[string]any{}
	defaultFrom := map[string]*stockpile.Var{}
	defaultMod := map[string]string{}
	for _, m := range mods {
		for _, v := range m.Vars {
			val := v.Value.Plain()
			if first, ok := defaultFrom[v.Name]; ok {
				if !reflect.DeepEqual(first.Value.Plain(), val) {
					errs.Addf(v.Pos, "give the variable one default, or set it in a role, an envoy or the inventory",
						"variable %q has default %s in module %s, but default %s in module %s (%s)",
						v.Name, show(val), m.Name, show(first.Value.Plain()), defaultMod[v.Name], first.Pos)
				}
				continue
			}
			defaultFrom[v.Name] = v
			defaultMod[v.Name] = m.Name
			vars[v.Name] = val
		}
	}
	for _, r := range roles {
		for _, v := range r.Vars {
			vars[v.Name] = v.Value.Plain()
		}
	}
	for _, e := range envoys {
		for _, v := range e.Vars {
			vars[v.Name] = v.Value.Plain()
		}
	}
	for k, v := range ih.Vars {
		vars[k] = v
	}
	keys := make([]string, 0, len(opts.Vars))
	for k := range opts.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !stockpile.IsIdent(k) {
			errs = append(errs, &stockpile.Error{Msg: fmt.Sprintf("--var %s: invalid variable name", k), Hint: "use letters, digits and _"})
			continue
		}
		vars[k] = opts.Vars[k]
	}
	return vars, errs
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// resourceOrder lists the modules' resources in module order and file
// order, then moves each resource after the resources it depends on
// (a stable topological sort: nothing moves that does not have to).
func resourceOrder(mods []*stockpile.Module, h Host) ([]*stockpile.Resource, stockpile.Errors) {
	var errs stockpile.Errors
	var list []*stockpile.Resource
	have := map[string]bool{}
	inHost := map[string]bool{}
	for _, m := range mods {
		inHost[m.Name] = true
		for _, r := range m.Resources {
			list = append(list, r)
			have[r.ID()] = true
		}
	}
	deps := map[string][]string{}
	for _, r := range list {
		for _, d := range r.DependsOn {
			if !have[d.ID()] {
				errs.Addf(d.Pos, fmt.Sprintf("add module %s to one of the host's roles (%s), or to module %s's depends_on", d.Module, strings.Join(h.Roles, ", "), r.Module),
					"resource %q depends on %s, but module %s is not applied to this host", r.Name, d.ID(), d.Module)
				continue
			}
			deps[r.ID()] = append(deps[r.ID()], d.ID())
		}
	}
	index := map[string]int{}
	for i, r := range list {
		index[r.ID()] = i
	}
	order, _ := stableOrder(len(list), func(i int) []int { // a cycle: the loader refuses them
		var ds []int
		for _, d := range deps[list[i].ID()] {
			ds = append(ds, index[d])
		}
		return ds
	})
	out := make([]*stockpile.Resource, len(order))
	for k, i := range order {
		out[k] = list[i]
	}
	return out, errs
}

// present keeps the references to resources the host has, as IDs. A
// notify or subscribes naming a resource of a module the host does not get
// is dropped: there is nothing to trigger there.
func present(refs []stockpile.Ref, h Host) []string {
	var out []string
	for _, r := range refs {
		for _, m := range h.Modules {
			if m == r.Module {
				out = append(out, r.ID())
				break
			}
		}
	}
	return out
}

// render renders every string leaf of v (unless tagged !raw). Errors are
// reported through fail, with the leaf's position.
func render(tr *template.Renderer, v *stockpile.Value, data template.Data, fail func(*stockpile.Value, error)) (any, error) {
	switch v.Kind {
	case stockpile.List:
		out := make([]any, 0, len(v.Items))
		var firstErr error
		for _, it := range v.Items {
			x, err := render(tr, it, data, fail)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out = append(out, x)
		}
		return out, firstErr
	case stockpile.Map:
		out := make(map[string]any, len(v.Entries))
		var firstErr error
		for _, e := range v.Entries {
			x, err := render(tr, e.Value, data, fail)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[e.Key] = x
		}
		return out, firstErr
	}
	if v.Raw {
		return v.Str, nil
	}
	s, err := tr.Render(v.Str, data)
	if err != nil {
		fail(v, err)
		return nil, err
	}
	return s, nil
}
