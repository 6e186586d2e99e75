package main

import (
	"fmt"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// renderYAML lays out a host the way a stockpile is written: resource
// fields in the order of the file, common fields first.
func renderYAML(sp *stockpile.Stockpile, h desired.Host) (*yaml.Node, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, key string, v any) error {
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return err
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &n)
		return nil
	}
	if err := add(root, "host", h.Name); err != nil {
		return nil, err
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"environment", h.Environment}, {"roles", h.Roles}, {"modules", h.Modules}, {"vars", h.Vars}} {
		if err := add(root, kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range h.Resources {
		m := &yaml.Node{Kind: yaml.MappingNode}
		m.HeadComment = fmt.Sprintf("%s (%s)", r.ID(), r.Pos)
		_ = add(m, "name", r.Name)
		_ = add(m, "module", r.Module)
		_ = add(m, "type", r.Type)
		var order []string
		src := map[string]*stockpile.Value{}
		if sr := sp.Resource(r.ID()); sr != nil {
			for _, f := range sr.Fields {
				order = append(order, f.Key)
				src[f.Key] = f.Value
			}
		} else {
			for k := range r.Fields {
				order = append(order, k)
			}
			sort.Strings(order)
		}
		for _, k := range order {
			v, ok := r.Fields[k]
			if !ok {
				continue
			}
			n, err := orderedNode(v, src[k])
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, n)
		}
		for _, rel := range []struct {
			k string
			v []string
		}{{"depends_on", r.DependsOn}, {"notify", r.Notify}, {"subscribes", r.Subscribes}} {
			if len(rel.v) > 0 {
				_ = add(m, rel.k, rel.v)
			}
		}
		list.Content = append(list.Content, m)
	}
	root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "resources"}, list)
	return root, nil
}

// orderedNode encodes a rendered value, keeping map keys in the order of
// the stockpile file (src) rather than sorted.
func orderedNode(v any, src *stockpile.Value) (*yaml.Node, error) {
	switch x := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode}
		var keys []string
		seen := map[string]bool{}
		if src != nil {
			for _, e := range src.Entries {
				if _, ok := x[e.Key]; ok && !seen[e.Key] {
					keys = append(keys, e.Key)
					seen[e.Key] = true
				}
			}
		}
		var rest []string
		for k := range x {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range append(keys, rest...) {
			c, err := orderedNode(x[k], src.Get(k))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i, it := range x {
			var s *stockpile.Value
			if src != nil && src.Kind == stockpile.List && i < len(src.Items) {
				s = src.Items[i]
			}
			c, err := orderedNode(it, s)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}
