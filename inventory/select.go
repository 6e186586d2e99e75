package inventory

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/stockpile"
)

// Assignment is a host with the envoys whose match glob selects it, in
// stockpile order (envoy files by name, entries in file order).
type Assignment struct {
	Host   Host
	Envoys []*stockpile.Envoy
}

// Assign matches every envoy's glob (path.Match on the host name) against
// the hosts. Hosts matched by no envoy are left out. An envoy that matches
// no host is a warning, returned, not printed. Host.Environment is set
// from the last matching envoy that names one.
func Assign(hosts []Host, envoys []*stockpile.Envoy) ([]Assignment, []*stockpile.Error) {
	var out []Assignment
	used := make([]bool, len(envoys))
	for _, h := range hosts {
		a := Assignment{Host: h}
		for i, e := range envoys {
			if ok, _ := path.Match(e.Match, h.Name); ok {
				a.Envoys = append(a.Envoys, e)
				used[i] = true
				if e.Environment != "" {
					a.Host.Environment = e.Environment
				}
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
			if s := suggest(t, names); s != "" {
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

// BatchSize turns a --batch-size value into a number of hosts out of
// total: "N" is N hosts, "N%" is N percent of total rounded up; the result
// is at least 1 and at most total. "" or "0" or "100%" means all hosts in
// one batch.
func BatchSize(total int, size string) (int, error) {
	if total <= 0 {
		return 0, nil
	}
	s := strings.TrimSpace(size)
	if s == "" {
		return total, nil
	}
	var n int
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 0 || p > 100 {
			return 0, fmt.Errorf("batch size %q: want N or N%% with N from 0 to 100", size)
		}
		if p == 0 {
			return total, nil
		}
		n = (total*p + 99) / 100
	} else {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("batch size %q: want a number of hosts (N) or a percentage (N%%)", size)
		}
		if v == 0 {
			return total, nil
		}
		n = v
	}
	return max(1, min(n, total)), nil
}

// Batches splits hosts into consecutive batches of BatchSize hosts (the
// last one may be smaller), keeping their order.
func Batches[T any](hosts []T, size string) ([][]T, error) {
	n, err := BatchSize(len(hosts), size)
	if err != nil {
		return nil, err
	}
	var out [][]T
	for i := 0; i < len(hosts); i += n {
		out = append(out, hosts[i:min(i+n, len(hosts))])
	}
	return out, nil
}

// ParseShard parses --shard I/N (1 <= I <= N).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return i, n, nil
}

// Shard returns shard i of n (1-based) of hosts: the hosts are sorted by
// name and dealt round robin, the k-th name (from 0) going to shard
// k mod n + 1. Every host is in exactly one shard, shard sizes differ by at
// most one, and the result only depends on the set of names, not on their
// order. The chosen hosts keep their given order.
func Shard[T any](hosts []T, name func(T) string, i, n int) []T {
	if n <= 1 {
		return hosts
	}
	names := make([]string, len(hosts))
	for k, h := range hosts {
		names[k] = name(h)
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	mine := map[string]bool{}
	for k, nm := range sorted {
		if k%n == i-1 {
			mine[nm] = true
		}
	}
	var out []T
	for k, h := range hosts {
		if mine[names[k]] {
			out = append(out, h)
		}
	}
	return out
}
