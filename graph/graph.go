// Package graph draws the shape of a push before it runs: the modules and
// resources of the selected hosts in apply order, with their depends_on,
// notify and subscribes links, as Graphviz DOT. It reads desired state
// only (secrets stay references and are never drawn: a node shows a
// resource's name and type, not its fields); it never touches a host and
// never runs Graphviz itself.
//
// Several hosts are drawn as one graph, their union: a resource is one
// node whatever the number of hosts that get it, and a node that not every
// selected host gets says on how many it is. Numbers are the union's apply
// order: hosts are walked in order and each resource is numbered when it
// is first seen, which is every host's own order when the hosts share
// their modules (the usual case: a role per kind of host).
package graph

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
)

// Edge kinds.
const (
	DependsOn  = "depends_on" // From is applied before To
	Notify     = "notify"     // a change of From triggers To
	Subscribes = "subscribes" // To subscribes to From: a change of From triggers To
	ModuleDep  = "module"     // module From is applied before module To
)

// Module is one module of the graph.
type Module struct {
	Name      string
	DependsOn []string // module names
	Hosts     int      // how many of the selected hosts get it
}

// Node is one resource.
type Node struct {
	ID     string // module/name
	Module string
	Name   string
	Type   string
	Order  int // 1-based, in the union's apply order
	Hosts  int // how many of the selected hosts get it
}

// Edge is one link between two resources (or two modules, ModuleDep).
type Edge struct {
	From, To string
	Kind     string
}

// Graph is the union of the plans' shapes over some hosts.
type Graph struct {
	Hosts   []string
	Modules []Module // in apply order
	Nodes   []Node   // in apply order
	Edges   []Edge   // in the order found, deduplicated
}

// Build draws hosts; moduleDeps gives each module's depends_on (from the
// stockpile: a host's desired state keeps only the resulting order).
func Build(hosts []desired.Host, moduleDeps map[string][]string) *Graph {
	g := &Graph{}
	modIdx := map[string]int{}
	nodeIdx := map[string]int{}
	seen := map[Edge]bool{}
	addEdge := func(e Edge) {
		if !seen[e] {
			seen[e] = true
			g.Edges = append(g.Edges, e)
		}
	}
	for _, h := range hosts {
		g.Hosts = append(g.Hosts, h.Name)
		for _, m := range h.Modules {
			i, ok := modIdx[m]
			if !ok {
				i = len(g.Modules)
				modIdx[m] = i
				g.Modules = append(g.Modules, Module{Name: m, DependsOn: moduleDeps[m]})
			}
			g.Modules[i].Hosts++
		}
		for _, r := range h.Resources {
			id := r.ID()
			i, ok := nodeIdx[id]
			if !ok {
				i = len(g.Nodes)
				nodeIdx[id] = i
				g.Nodes = append(g.Nodes, Node{ID: id, Module: r.Module, Name: r.Name, Type: r.Type, Order: i + 1})
			}
			g.Nodes[i].Hosts++
			for _, d := range r.DependsOn {
				addEdge(Edge{From: d, To: id, Kind: DependsOn})
			}
			for _, n := range r.Notify {
				addEdge(Edge{From: id, To: n, Kind: Notify})
			}
			for _, s := range r.Subscribes {
				addEdge(Edge{From: s, To: id, Kind: Subscribes})
			}
		}
	}
	for _, m := range g.Modules {
		for _, d := range m.DependsOn {
			if _, ok := modIdx[d]; ok {
				addEdge(Edge{From: d, To: m.Name, Kind: ModuleDep})
			}
		}
	}
	return g
}

// quote is a DOT double-quoted string: backslashes and quotes escaped (so
// that no value becomes a DOT escape such as \N or \l), newlines as \n.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

var edgeStyle = map[string]string{
	DependsOn:  `color="#333333"`,
	Notify:     `color="#d97706", fontcolor="#d97706", style=dashed, label="notify"`,
	Subscribes: `color="#2563eb", fontcolor="#2563eb", style=dashed, label="subscribes"`,
}

// WriteDOT writes the graph in Graphviz's DOT language: one cluster per
// module (in apply order), one node per resource labelled with its apply
// order, name and type; depends_on edges solid (from the resource applied
// first), notify and subscribes edges dashed from the resource whose
// change triggers to the one triggered; module depends_on edges bold grey
// between the modules' clusters (drawn from the last resource of one to the
// first of the other, so that a module sits below those it depends on).
func (g *Graph) WriteDOT(w io.Writer) error {
	var b strings.Builder
	title := "vigo plan: " + strings.Join(g.Hosts, ", ")
	if len(g.Hosts) > 1 {
		title = fmt.Sprintf("vigo plan: union of %d hosts (%s)", len(g.Hosts), strings.Join(g.Hosts, ", "))
	}
	b.WriteString("digraph vigo {\n")
	fmt.Fprintf(&b, "  label=%s;\n", quote(title))
	b.WriteString("  labelloc=t;\n  compound=true;\n  rankdir=TB;\n  newrank=true;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f8fafc\", fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	first := map[string]string{} // module -> its first node
	last := map[string]string{}  // module -> its last node
	for mi, m := range g.Modules {
		fmt.Fprintf(&b, "  subgraph %s {\n", quote(fmt.Sprintf("cluster_%d", mi+1)))
		label := fmt.Sprintf("module %d: %s", mi+1, m.Name)
		if m.Hosts < len(g.Hosts) {
			label += fmt.Sprintf(" (%d of %d hosts)", m.Hosts, len(g.Hosts))
		}
		fmt.Fprintf(&b, "    label=%s;\n    style=rounded;\n    color=\"#94a3b8\";\n", quote(label))
		for _, n := range g.Nodes {
			if n.Module != m.Name {
				continue
			}
			if first[m.Name] == "" {
				first[m.Name] = n.ID
			}
			last[m.Name] = n.ID
			label := fmt.Sprintf("%d. %s\n%s", n.Order, n.Name, n.Type)
			if n.Hosts < len(g.Hosts) {
				label += fmt.Sprintf("\non %d of %d hosts", n.Hosts, len(g.Hosts))
			}
			fmt.Fprintf(&b, "    %s [label=%s];\n", quote(n.ID), quote(label))
		}
		// Invisible edges stack a module's resources in apply order.
		prev := ""
		for _, n := range g.Nodes {
			if n.Module != m.Name {
				continue
			}
			if prev != "" {
				fmt.Fprintf(&b, "    %s -> %s [style=invis];\n", quote(prev), quote(n.ID))
			}
			prev = n.ID
		}
		b.WriteString("  }\n")
	}
	clusterOf := func(m string) string {
		return fmt.Sprintf("cluster_%d", slices.IndexFunc(g.Modules, func(x Module) bool { return x.Name == m })+1)
	}
	for _, e := range g.Edges {
		if e.Kind == ModuleDep {
			from, to := last[e.From], first[e.To]
			if from == "" || to == "" { // a module without resources
				continue
			}
			fmt.Fprintf(&b, "  %s -> %s [ltail=%s, lhead=%s, color=\"#94a3b8\", penwidth=2, label=\"module depends_on\", fontcolor=\"#64748b\"];\n",
				quote(from), quote(to), quote(clusterOf(e.From)), quote(clusterOf(e.To)))
			continue
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", quote(e.From), quote(e.To), edgeStyle[e.Kind])
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
