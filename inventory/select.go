package inventory

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
)

// Assignment is a host with the envoys whose match glob selects it, in
// stockpile order (envoy files by name, entries in file order).
type Assignment struct {
	Host   Host
	Envoys []*stockpile.Envoy
	// Conflicts are the envoys that put the host in another environment
	// than Host.Environment, each an error at that envoy naming the one
	// that set it (and not the host: callers say which hosts). A host
	// with conflicts must not be acted on.
	Conflicts stockpile.Errors
}

// Assign matches every envoy's glob (path.Match on the host name) against
// the hosts. Hosts matched by no envoy are left out. An envoy that matches
// no host is a warning, returned, not printed. Host.Environment is decided
// here, once, for every command: the envoys that name one must agree (the
// first sets it; one that disagrees is a Conflict).
func Assign(hosts []Host, envoys []*stockpile.Envoy) ([]Assignment, []*stockpile.Error) {
	var out []Assignment
	used := make([]bool, len(envoys))
	for _, h := range hosts {
		a := Assignment{Host: h}
		var envFrom *stockpile.Envoy
		for i, e := range envoys {
			ok, _ := path.Match(e.Match, h.Name)
			if !ok {
				continue
			}
			a.Envoys = append(a.Envoys, e)
			used[i] = true
			switch {
			case e.Environment == "":
			case envFrom == nil:
				envFrom, a.Host.Environment = e, e.Environment
			case e.Environment != envFrom.Environment:
				a.Conflicts.Addf(e.Pos, "", "envoy %q puts the host in environment %q, but envoy %q (%s) puts it in %q",
					e.Match, e.Environment, envFrom.Match, envFrom.Pos, envFrom.Environment)
			}
		}
		if len(a.Envoys) > 0 {
			out = append(out, a)
		}
	}
	var warns []*stockpile.Error
	for i, e := range envoys {
		if !used[i] {
			warns = append(warns, &stockpile.Error{Pos: e.MatchPos, Msg: fmt.Sprintf("envoy %q matches no host in the inventory", e.Match)})
		}
	}
	return out, warns
}

// Select returns the hosts (in their given order) chosen by the online
// commands' flags: all, or the union of the target globs, narrowed to one
// environment when environment is set. A target that selects no host, or
// a selection that ends up empty, is an error.
func Select(hosts []Host, targets []string, environment string, all bool) ([]Host, error) {
	if all && len(targets) > 0 {
		return nil, fmt.Errorf("--all and --target exclude each other")
	}
	if !all && len(targets) == 0 && environment == "" {
		return nil, fmt.Errorf("say which hosts: --all, --target GLOB or --environment NAME")
	}
	chosen := make([]bool, len(hosts))
	if all || len(targets) == 0 {
		for i := range chosen {
			chosen[i] = true
		}
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	for _, t := range targets {
		if _, err := path.Match(t, ""); err != nil {
			return nil, fmt.Errorf("--target %q: bad glob: %w", t, err)
		}
		n := 0
		for i, h := range hosts {
			if ok, _ := path.Match(t, h.Name); ok {
				chosen[i] = true
				n++
			}
		}
		if n == 0 {
			msg := fmt.Sprintf("--target %q selects no host", t)
			if s := didyoumean.Hint(t, names); s != "" {
				msg += " (hint: " + s + ")"
			}
			return nil, fmt.Errorf("%s", msg)
		}
	}
	var out []Host
	envs := map[string]bool{}
	for i, h := range hosts {
		if !chosen[i] {
			continue
		}
		if h.Environment != "" {
			envs[h.Environment] = true
		}
		if environment != "" && h.Environment != environment {
			continue
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		var known []string
		for e := range envs {
			known = append(known, e)
		}
		sort.Strings(known)
		if len(known) == 0 {
			known = []string{"none"}
		}
		return nil, fmt.Errorf("no host in environment %q among the selected hosts (environments: %s)", environment, strings.Join(known, ", "))
	}
	return out, nil
}

// Batches, --batch-size and --max-fail sizes and --shard live in push
// (push.ParseSize, push.Batches, push.ParseShard, push.Shard): the engine
// is their only user.
