// Package inventory reads the inventory (the hosts a fleet has and how to
// reach them), matches envoy globs against host names, and selects,
// batches and shards hosts for the online commands.
//
// The inventory says only what it knows; anything it leaves out (address,
// user, port, identity file, proxy jump) is taken from ~/.ssh/config by the
// transport when it connects. This package never renders templates and
// never touches the network.
package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
)

// Host is one inventory host.
type Host struct {
	Name         string                   `json:"name"`
	Address      string                   `json:"address,omitempty"` // empty: ssh_config HostName, else Name
	Port         int                      `json:"port,omitempty"`    // 0: ssh_config Port, else 22
	User         string                   `json:"user,omitempty"`    // empty: ssh_config User, else the local user
	IdentityFile string                   `json:"identity_file,omitempty"`
	KnownHosts   string                   `json:"known_hosts,omitempty"`
	ProxyJump    string                   `json:"proxy_jump,omitempty"`
	Connection   string                   `json:"connection"` // "ssh" or "local"
	Become       bool                     `json:"become,omitempty"`
	Labels       map[string]string        `json:"labels,omitempty"`
	Vars         map[string]any           `json:"-"` // host vars (defaults.vars merged in)
	VarPos       map[string]stockpile.Pos `json:"-"`
	// Environment is not read from the inventory: it is set by Assign from
	// the envoys matching the host, so that Select can filter on it.
	Environment string        `json:"environment,omitempty"`
	Pos         stockpile.Pos `json:"-"`
}

// Inventory is a loaded inventory.
type Inventory struct {
	File  string
	Hosts []Host // in file order
}

// Host returns the host called name.
func (inv *Inventory) Host(name string) (Host, bool) {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Names returns the host names in file order.
func (inv *Inventory) Names() []string {
	out := make([]string, len(inv.Hosts))
	for i, h := range inv.Hosts {
		out[i] = h.Name
	}
	return out
}

// DefaultPath is where the inventory is looked for when no --inventory is
// given: inventory.vgo in the stockpile directory.
func DefaultPath(stockpileDir string) string {
	return filepath.Join(stockpileDir, "inventory.vgo")
}

// ErrNoInventory is returned (wrapped) by Load when the file does not exist.
var ErrNoInventory = errors.New("no inventory")

// Load reads the inventory file at path. Relative identity_file and
// known_hosts paths are taken relative to the inventory file's directory;
// a leading ~/ is the user's home directory.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist (write one, or pass --inventory FILE / set VIGO_INVENTORY)", ErrNoInventory, path)
		}
		return nil, err
	}
	home, _ := os.UserHomeDir()
	return Parse(path, data, filepath.Dir(path), home)
}

var (
	hostFields     = []string{"name", "address", "port", "user", "identity_file", "known_hosts", "proxy_jump", "connection", "become", "labels", "vars"}
	defaultsFields = []string{"port", "user", "identity_file", "known_hosts", "proxy_jump", "connection", "become", "labels", "vars"}
)

// Parse parses inventory data. file names positions; baseDir resolves
// relative paths; home expands ~/. The error, when not nil, is a
// stockpile.Errors holding every problem found; the Inventory returned
// with it holds only the hosts read without error, for further checking
// (nil when the file is not even YAML).
func Parse(file string, data []byte, baseDir, home string) (*Inventory, error) {
	root, errs := stockpile.ParseFile(file, data)
	if len(errs) > 0 {
		return nil, errs.Err()
	}
	p := &parser{baseDir: baseDir, home: home}
	inv := &Inventory{File: file}
	for _, e := range root.Entries {
		if e.Key != "defaults" && e.Key != "hosts" {
			p.errs.Addf(e.KeyPos, didyoumean.Hint(e.Key, []string{"defaults", "hosts"}), "unknown field %q in inventory", e.Key)
		}
	}
	var defaults Host
	defaults.Vars = map[string]any{}
	defaults.VarPos = map[string]stockpile.Pos{}
	if d := root.Get("defaults"); d != nil {
		if d.Kind != stockpile.Map {
			p.errs.Addf(d.Pos, "", "defaults must be a map, not %s", d.Kind)
		} else {
			p.host(d, &defaults, defaultsFields, "defaults")
		}
	}
	hosts := root.Get("hosts")
	switch {
	case hosts == nil:
		p.errs.Addf(root.Pos, "", "inventory has no hosts: list")
	case hosts.Kind != stockpile.List:
		p.errs.Addf(hosts.Pos, "", "hosts must be a list, not %s", hosts.Kind)
	default:
		seen := map[string]stockpile.Pos{}
		for _, hv := range hosts.Items {
			if hv.Kind != stockpile.Map {
				p.errs.Addf(hv.Pos, "", "a host must be a map with at least a name, not %s", hv.Kind)
				continue
			}
			h := defaults
			h.Labels = copyLabels(defaults.Labels)
			h.Vars = map[string]any{}
			h.VarPos = map[string]stockpile.Pos{}
			for k, v := range defaults.Vars {
				h.Vars[k] = v
				h.VarPos[k] = defaults.VarPos[k]
			}
			h.Pos = hv.Pos
			h.Name = ""
			good := p.host(hv, &h, hostFields, "host")
			if h.Name == "" {
				continue
			}
			if first, dup := seen[h.Name]; dup {
				p.errs.Addf(h.Pos, "", "host %q is listed twice (first at line %d)", h.Name, first.Line)
				continue
			}
			seen[h.Name] = h.Pos
			if !good {
				continue
			}
			if h.Connection == "" {
				h.Connection = "ssh"
			}
			inv.Hosts = append(inv.Hosts, h)
		}
	}
	// With errors, inv still holds the hosts that were read without one,
	// so that a caller can go on checking them and report every mistake
	// in one pass; it must never act on them.
	return inv, p.errs.Err()
}

func copyLabels(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type parser struct {
	baseDir, home string
	errs          stockpile.Errors
}

// host fills h from a host (or defaults) map; false when the host cannot
// be used (no valid name).
func (p *parser) host(m *stockpile.Value, h *Host, known []string, what string) bool {
	ok := true
	isHost := what == "host"
	if isHost {
		nv := m.Get("name")
		switch {
		case nv == nil:
			p.errs.Addf(m.Pos, "", "host has no name")
			return false
		case nv.Kind != stockpile.Scalar || nv.Str == "":
			p.errs.Addf(nv.Pos, "", "host name must be a single non-empty value")
			return false
		case strings.ContainsAny(nv.Str, " \t*?[]/\\"):
			p.errs.Addf(nv.Pos, "a host name is a DNS name or an ssh_config Host alias", "invalid host name %q", nv.Str)
			return false
		}
		h.Name = nv.Str
		what = fmt.Sprintf("host %q", h.Name)
	}
	for _, e := range m.Entries {
		if !slices.Contains(known, e.Key) {
			hint := didyoumean.Hint(e.Key, known)
			if e.Key == "address" || e.Key == "name" {
				hint = "set it on each host"
			}
			p.errs.Addf(e.KeyPos, hint, "unknown field %q in %s", e.Key, what)
			ok = false
			continue
		}
		v := e.Value
		scalar := func() (string, bool) {
			if v.Kind != stockpile.Scalar {
				p.errs.Addf(v.Pos, "", "%s of %s must be a single value, not %s", e.Key, what, v.Kind)
				ok = false
				return "", false
			}
			return v.Str, true
		}
		switch e.Key {
		case "name":
		case "address":
			if s, good := scalar(); good {
				if problem, hint := checkAddress(s); problem != "" {
					p.errs.Addf(v.Pos, hint, "address %q of %s %s", s, what, problem)
					ok = false
				} else {
					h.Address = s
				}
			}
		case "user":
			if s, good := scalar(); good {
				h.User = s
			}
		case "proxy_jump":
			if s, good := scalar(); good {
				h.ProxyJump = s
			}
		case "identity_file":
			if s, good := scalar(); good {
				h.IdentityFile = p.path(s)
			}
		case "known_hosts":
			if s, good := scalar(); good {
				h.KnownHosts = p.path(s)
			}
		case "port":
			if s, good := scalar(); good {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 || n > 65535 {
					p.errs.Addf(v.Pos, "", "port of %s must be a number from 1 to 65535, not %q", what, s)
					ok = false
				} else {
					h.Port = n
				}
			}
		case "connection":
			if s, good := scalar(); good {
				if s != "ssh" && s != "local" {
					p.errs.Addf(v.Pos, didyoumean.Hint(s, []string{"ssh", "local"}), "connection of %s must be ssh or local, not %q", what, s)
					ok = false
				} else {
					h.Connection = s
				}
			}
		case "become":
			if s, good := scalar(); good {
				b, err := strconv.ParseBool(s)
				if err != nil {
					p.errs.Addf(v.Pos, "", "become of %s must be true or false, not %q", what, s)
					ok = false
				} else {
					h.Become = b
				}
			}
		case "labels":
			if v.Kind != stockpile.Map {
				p.errs.Addf(v.Pos, "", "labels of %s must be a map of name: value, not %s", what, v.Kind)
				ok = false
				continue
			}
			if h.Labels == nil {
				h.Labels = map[string]string{}
			}
			for _, le := range v.Entries {
				if le.Value.Kind != stockpile.Scalar {
					p.errs.Addf(le.Value.Pos, "", "label %q of %s must be a single value, not %s", le.Key, what, le.Value.Kind)
					ok = false
					continue
				}
				h.Labels[le.Key] = le.Value.Str
			}
		case "vars":
			if v.Kind != stockpile.Map {
				p.errs.Addf(v.Pos, "", "vars of %s must be a map of name: value, not %s", what, v.Kind)
				ok = false
				continue
			}
			for _, ve := range v.Entries {
				if !stockpile.IsIdent(ve.Key) {
					p.errs.Addf(ve.KeyPos, "use letters, digits and _ so that {{ .Vars.NAME }} can reach it", "invalid variable name %q", ve.Key)
					ok = false
					continue
				}
				if pos, bad := stockpile.TemplateInVar(ve.Value); bad {
					p.errs.Addf(pos, "variables are data: use the template where the variable is used, or tag the value !raw to keep the braces", "variable %q holds a template action, which is never rendered", ve.Key)
					ok = false
					continue
				}
				h.Vars[ve.Key] = ve.Value.Plain()
				h.VarPos[ve.Key] = ve.KeyPos
			}
		}
	}
	return ok
}

// path expands ~/ and makes a relative path relative to the inventory.
func (p *parser) path(s string) string {
	switch {
	case s == "":
		return ""
	case s == "~":
		return p.home
	case strings.HasPrefix(s, "~/"):
		return filepath.Join(p.home, s[2:])
	case filepath.IsAbs(s):
		return s
	}
	return filepath.Join(p.baseDir, s)
}
