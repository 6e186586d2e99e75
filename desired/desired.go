// Package desired holds the per-host desired state: what one host must
// look like after a push, in apply order, with every template rendered
// and every secret still a reference ("secret:PATH"). It is the hand-off
// between the offline half of vigo (stockpile, inventory, template) and
// the online half (converge, executors, push). It must never touch the
// network or resolve secrets.
package desired

import (
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

// Resource is one rendered resource of one host.
//
// Fields holds the rendered type fields: every scalar is a string, lists
// are []any and maps are map[string]any (values again string, []any or
// map[string]any). A string value that is exactly "secret:PATH" is a
// secret reference, resolved only at push time.
type Resource struct {
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Module string          `json:"module"`
	Fields map[string]any  `json:"fields"`
	Raw    map[string]bool `json:"-"` // fields that were marked !raw (not rendered)
	// DependsOn, Notify and Subscribes hold resource IDs ("module/name",
	// see ID), only of resources this host has: a notify or subscribes
	// naming a resource of a module the host does not get is dropped.
	DependsOn  []string      `json:"depends_on,omitempty"`
	Notify     []string      `json:"notify,omitempty"`
	Subscribes []string      `json:"subscribes,omitempty"`
	Pos        stockpile.Pos `json:"pos"`
	// FieldPos holds each field's value position, for errors that point
	// at the value rather than at the resource.
	FieldPos map[string]stockpile.Pos `json:"-"`
	// Invalid says the loader already reported a problem in this
	// resource: later checks skip it rather than report it again.
	Invalid bool `json:"-"`
}

// PosOf returns the position of a field's value, or the resource's.
func (r Resource) PosOf(field string) stockpile.Pos {
	if p, ok := r.FieldPos[field]; ok {
		return p
	}
	return r.Pos
}

// ID is "module/name": unique among a host's resources (two modules may
// each have a resource of the same name).
func (r Resource) ID() string { return r.Module + "/" + r.Name }

// Host is the desired state of one host.
type Host struct {
	Name        string         `json:"name"`
	Environment string         `json:"environment,omitempty"`
	Roles       []string       `json:"roles"`
	Modules     []string       `json:"modules"` // apply order
	Vars        map[string]any `json:"vars"`
	Resources   []Resource     `json:"resources"` // apply order
	// Inventory is the inventory host this was built for, as
	// inventory.Assign matched it (its Environment decided there): what
	// the selection flags choose among.
	Inventory inventory.Host `json:"-"`
}
