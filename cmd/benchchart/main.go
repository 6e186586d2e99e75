// Command benchchart draws the chart of a `make bench` run: it reads the
// run's CSV (scripts/bench.sh writes docs/bench/bench.csv) and writes an
// SVG of grouped bars, per size and phase: vigo, Ansible and the floor
// beside that phase (the engine floor for create and retag, the login
// floor for the no-op, the warm floor for the warm no-op), medians over the repetitions, wall time on a log
// scale, each bar labelled with its seconds and each group with its
// ratios (Ansible / vigo, vigo / floor).
//
//	benchchart [-in docs/bench/bench.csv] [-out docs/bench/bench.svg] [-title TEXT]
//
// Standard library only; it prints nothing but errors.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("benchchart", flag.ContinueOnError)
	in := fs.String("in", "docs/bench/bench.csv", "the bench's CSV")
	out := fs.String("out", "docs/bench/bench.svg", "the SVG to write")
	title := fs.String("title", "vigo beside Ansible and the floors (wall time, median; log scale)", "the chart's title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	groups, err := read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if len(groups) == 0 {
		return fmt.Errorf("%s: no measurement", *in)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".bench-*.svg")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := draw(tmp, groups, *title); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), *out)
}

// group is one phase at one size: medians of wall times in seconds (0:
// not measured).
type group struct {
	Hosts     int
	Phase     string
	Vigo      float64
	Ansible   float64
	Floor     float64
	FloorKind string // "engine floor", "login floor" or "warm floor"
}

var phaseOrder = map[string]int{"create": 0, "noop": 1, "warm": 2, "retag": 3}

// read parses the CSV by its header's names (rep, tool, phase, hosts,
// wall_s, login_floor_s, engine_floor_s) and returns the groups in size
// then phase order.
func read(r io.Reader) ([]group, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("empty")
	}
	col := map[string]int{}
	for i, n := range rows[0] {
		col[n] = i
	}
	for _, n := range []string{"tool", "phase", "hosts", "wall_s"} {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("no column %q in the header", n)
		}
	}
	type key struct {
		hosts int
		phase string
	}
	samples := map[key]map[string][]float64{}
	for ln, rec := range rows[1:] {
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		hosts, err := strconv.Atoi(get("hosts"))
		if err != nil {
			return nil, fmt.Errorf("line %d: hosts: %w", ln+2, err)
		}
		k := key{hosts, get("phase")}
		if _, ok := phaseOrder[k.phase]; !ok {
			return nil, fmt.Errorf("line %d: unknown phase %q", ln+2, k.phase)
		}
		if samples[k] == nil {
			samples[k] = map[string][]float64{}
		}
		add := func(series, v string) error {
			if v == "" {
				return nil
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", ln+2, series, err)
			}
			samples[k][series] = append(samples[k][series], x)
			return nil
		}
		tool := get("tool")
		if tool != "vigo" && tool != "ansible" {
			return nil, fmt.Errorf("line %d: unknown tool %q", ln+2, tool)
		}
		for _, p := range [][2]string{{tool, get("wall_s")}, {"login", get("login_floor_s")}, {"engine", get("engine_floor_s")}} {
			if err := add(p[0], p[1]); err != nil {
				return nil, err
			}
		}
	}
	var out []group
	for k, s := range samples {
		g := group{Hosts: k.hosts, Phase: k.phase, Vigo: median(s["vigo"]), Ansible: median(s["ansible"])}
		if e := median(s["engine"]); e > 0 {
			g.Floor, g.FloorKind = e, "engine floor"
		} else if l := median(s["login"]); l > 0 && k.phase == "warm" {
			// The warm phase's row carries the warm floor (exec true on
			// connections already open: simfleet probe -warm).
			g.Floor, g.FloorKind = l, "warm floor"
		} else if l > 0 {
			g.Floor, g.FloorKind = l, "login floor"
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Hosts != out[j].Hosts {
			return out[i].Hosts < out[j].Hosts
		}
		return phaseOrder[out[i].Phase] < phaseOrder[out[j].Phase]
	})
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
