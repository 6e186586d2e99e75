package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/stockpile"
)

// Offline commands never touch a host.

// fleet is a loaded stockpile and inventory, and every host's desired state.
type fleet struct {
	sp       *stockpile.Stockpile
	inv      *inventory.Inventory // nil: no inventory (validate only)
	invPath  string
	hosts    []desired.Host
	warnings []*stockpile.Error
}

// invalidError is returned for an invalid stockpile or inventory: the
// problems, one per line, go to stderr (or into JSON), and main exits 4.
type invalidError struct {
	errs stockpile.Errors
	what string
}

func (e *invalidError) Error() string {
	n := len(e.errs)
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%s: %d error%s", e.what, n, s)
}

// asInvalid turns loader errors into an invalidError.
func asInvalid(err error, what string) error {
	var es stockpile.Errors
	if errors.As(err, &es) {
		return &invalidError{errs: es, what: what}
	}
	if errors.Is(err, inventory.ErrNoInventory) {
		return withCode(exitInvalid, err)
	}
	return err
}

// loadFleet loads the stockpile and the inventory, builds every host and
// runs every executor check on them: everything vigo can check without a
// host, in one pass. Every mistake found (schema, inventory, missing
// variable, resource value, two resources owning one thing) comes back
// together in one invalidError: a stockpile with errors is still built as
// far as it goes, only to find the other errors. With needInventory false
// a missing default inventory is not an error: fleet.inv stays nil. When
// it fails, the fleet is returned with the error so that its warnings can
// still be shown.
func loadFleet(c *cli.Context, needInventory bool) (*fleet, error) {
	dir := stockpileFlag(c)
	sp, spErr := stockpile.Load(dir, executors.BuiltinSchemas())
	if sp == nil {
		return nil, asInvalid(spErr, "invalid stockpile "+dir)
	}
	var all stockpile.Errors
	collect := func(err error) error {
		var es stockpile.Errors
		if errors.As(err, &es) {
			all = append(all, es...)
			return nil
		}
		return err
	}
	if err := collect(spErr); err != nil {
		return nil, err
	}
	f := &fleet{sp: sp}
	path, explicit := inventoryPath(c)
	f.invPath = path
	inv, invErr := inventory.Load(path)
	switch {
	case errors.Is(invErr, inventory.ErrNoInventory) && !explicit && !needInventory:
		return f, f.invalid(all, dir)
	case errors.Is(invErr, inventory.ErrNoInventory) && len(all) == 0:
		return nil, withCode(exitInvalid, invErr)
	case errors.Is(invErr, inventory.ErrNoInventory):
		all = append(all, &stockpile.Error{Msg: invErr.Error()})
		return f, f.invalid(all, dir)
	}
	if err := collect(invErr); err != nil {
		return nil, err
	}
	if inv == nil { // not even YAML: nothing to build
		return f, f.invalid(all, dir)
	}
	f.inv = inv
	vars, err := flagVars(c)
	if err != nil {
		return nil, err
	}
	hosts, warns, err := desired.Build(sp, inv, desired.Options{Vars: vars})
	if len(all) == 0 {
		// Warnings of a stockpile or inventory read only in part would
		// be about the parts left out.
		f.warnings = warns
	}
	if err := collect(err); err != nil {
		return nil, err
	}
	if err := collect(executors.Check(hosts, executors.CheckOptions{StockpileDir: sp.Dir, SourceOutside: sourceOutside(c)})); err != nil {
		return nil, err
	}
	if len(all) > 0 {
		return f, f.invalid(all, dir) // f keeps the warnings
	}
	f.hosts = hosts
	return f, nil
}

// invalid is the invalidError of every problem found (nil when none),
// saying whether the stockpile, the inventory or both are at fault.
func (f *fleet) invalid(all stockpile.Errors, dir string) error {
	if len(all) == 0 {
		return nil
	}
	all.Sort()
	inStockpile, inInventory := false, false
	for _, e := range all {
		if f.invPath != "" && e.Pos.File == f.invPath {
			inInventory = true
		} else {
			inStockpile = true
		}
	}
	what := "invalid stockpile " + dir
	switch {
	case inInventory && !inStockpile:
		what = "invalid inventory " + f.invPath
	case inInventory:
		what = "invalid stockpile " + dir + " and inventory " + f.invPath
	}
	return &invalidError{errs: all, what: what}
}

// sourceOutsideFlag is the operator's opt-in to file sources that are
// symlinks leading out of the stockpile directory.
func sourceOutsideFlag() cli.Flag {
	return &cli.BoolFlag{Name: "source-outside-stockpile", EnvVars: []string{"VIGO_SOURCE_OUTSIDE_STOCKPILE"},
		Usage: "let a file resource's source: be a symlink leading out of the stockpile directory (refused by default: a link to /proc/self/environ would ship the controller's secrets)"}
}

// sourceOutside says whether the operator opted in (the flag, on any
// level, or its environment variable).
func sourceOutside(c *cli.Context) bool {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), "source-outside-stockpile") && ctx.Bool("source-outside-stockpile") {
			return true
		}
	}
	b, _ := strconv.ParseBool(os.Getenv("VIGO_SOURCE_OUTSIDE_STOCKPILE"))
	return b
}

// reportInvalid prints an invalidError's problems to w and returns the
// error main turns into exit code 4.
func reportInvalid(c *cli.Context, err error) error {
	var ie *invalidError
	if !errors.As(err, &ie) {
		return err
	}
	for _, e := range ie.errs {
		fmt.Fprintln(c.App.ErrWriter, e.Error())
	}
	return withCode(exitInvalid, ie)
}

func printWarnings(w io.Writer, warns []*stockpile.Error) {
	for _, e := range warns {
		fmt.Fprintln(w, "warning: "+e.Error())
	}
}

// problem is an error or a warning in JSON output.
type problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func problems(es []*stockpile.Error) []problem {
	out := []problem{}
	for _, e := range es {
		out = append(out, problem{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg, Hint: e.Hint})
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check the stockpile and the inventory, render every host, touch nothing",
		Description: "Loads the stockpile and the inventory, checks every field, reference and\n" +
			"template, builds every host's desired state and runs every check a push\n" +
			"makes before it connects: resource values, file sources, inventory\n" +
			"addresses and ports, and nothing owned twice on a host (a container name,\n" +
			"compose project, file path or published host port). Logs in nowhere.\n" +
			"Exit 0 when valid; exit 4 with every problem on stderr (file:line:col:\n" +
			"message), all in one pass, otherwise. Without an inventory only the\n" +
			"stockpile is checked.",
		Flags: append(sharedFlags(), sourceOutsideFlag()),
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			f, err := loadFleet(c, false)
			if format == "json" {
				return validateJSON(c, f, err)
			}
			if err != nil {
				if f != nil {
					printWarnings(c.App.ErrWriter, f.warnings)
				}
				return reportInvalid(c, err)
			}
			// Warnings first (stderr), then the summary (stdout) ending in
			// "valid", which says whether there were warnings: read
			// together (2>&1) the lines stay whole and in order.
			printWarnings(c.App.ErrWriter, f.warnings)
			nwarn := len(f.warnings)
			if f.inv == nil {
				fmt.Fprintf(c.App.ErrWriter, "warning: no inventory at %s: hosts not checked (write one, or pass --inventory FILE)\n", f.invPath)
				nwarn++
			}
			w := c.App.Writer
			fmt.Fprintf(w, "stockpile %s: %s, %s, %s\n", f.sp.Dir, report.Plural(len(f.sp.Modules), "module"), report.Plural(len(f.sp.Roles), "role"), report.Plural(len(f.sp.Envoys), "envoy"))
			if f.inv != nil {
				n := 0
				for _, h := range f.hosts {
					n += len(h.Resources)
				}
				fmt.Fprintf(w, "inventory %s: %s (%d matched by envoys), %s\n", f.invPath, report.Plural(len(f.inv.Hosts), "host"), len(f.hosts), report.Plural(n, "resource"))
			}
			if nwarn > 0 {
				fmt.Fprintf(w, "valid, with %s (on stderr)\n", report.Plural(nwarn, "warning"))
				return nil
			}
			fmt.Fprintln(w, "valid")
			return nil
		},
	}
}

func validateJSON(c *cli.Context, f *fleet, err error) error {
	out := struct {
		Valid     bool      `json:"valid"`
		Stockpile string    `json:"stockpile"`
		Inventory string    `json:"inventory,omitempty"`
		Modules   int       `json:"modules"`
		Roles     int       `json:"roles"`
		Envoys    int       `json:"envoys"`
		Hosts     int       `json:"hosts"`
		Resources int       `json:"resources"`
		Errors    []problem `json:"errors"`
		Warnings  []problem `json:"warnings"`
	}{Valid: err == nil, Stockpile: stockpileFlag(c), Errors: []problem{}, Warnings: []problem{}}
	var ie *invalidError
	if err != nil && !errors.As(err, &ie) {
		return err
	}
	if ie != nil {
		out.Errors = problems(ie.errs)
	}
	if f != nil {
		out.Warnings = problems(f.warnings)
		if f.sp != nil {
			out.Modules, out.Roles, out.Envoys = len(f.sp.Modules), len(f.sp.Roles), len(f.sp.Envoys)
		}
		if f.inv != nil {
			out.Inventory = f.invPath
		}
		out.Hosts = len(f.hosts)
		for _, h := range f.hosts {
			out.Resources += len(h.Resources)
		}
	}
	if werr := writeJSON(c.App.Writer, out); werr != nil {
		return werr
	}
	if ie != nil {
		return withCode(exitInvalid, errReported)
	}
	return nil
}

// listedResource is a resource in `envoys list --output json`.
type listedResource struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Module     string   `json:"module"`
	Type       string   `json:"type"`
	DependsOn  []string `json:"depends_on,omitempty"`
	Notify     []string `json:"notify,omitempty"`
	Subscribes []string `json:"subscribes,omitempty"`
	Pos        string   `json:"pos"`
}

type listedHost struct {
	Name        string           `json:"name"`
	Environment string           `json:"environment"`
	Roles       []string         `json:"roles"`
	Modules     []string         `json:"modules"`
	Resources   []listedResource `json:"resources"`
	Rollout     string           `json:"rollout,omitempty"` // the envoys' rollout policy (rollout_policy.go)
	Batch       int              `json:"batch,omitempty"`   // the host's batch in a push of the listed hosts without flags
}

func envoysListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list each host with its environment, roles, modules and resources in apply order",
		ArgsUsage: "[GLOB...]",
		Description: "Without arguments every host an envoy matches is listed; with GLOBs (the same\n" +
			"as --target GLOB), --environment or --shard only the hosts those select, as\n" +
			"envoys push would. A name without glob characters may be a unique prefix or\n" +
			"short name (web1).",
		Flags: append(sharedFlags(), selectionFlags()...),
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			f, err := loadFleet(c, true)
			if err != nil {
				return reportInvalid(c, err)
			}
			printWarnings(c.App.ErrWriter, f.warnings)
			hosts, err := selectListed(c, f)
			if err != nil {
				return err
			}
			var out []listedHost
			batchOf := listBatchOf(f.sp, hosts)
			for _, h := range hosts {
				lh := listedHost{Name: h.Name, Environment: h.Environment, Roles: h.Roles, Modules: h.Modules, Resources: []listedResource{},
					Rollout: hostPolicyText(f.sp, h.Name), Batch: batchOf[h.Name]}
				for _, r := range h.Resources {
					lh.Resources = append(lh.Resources, listedResource{
						ID: r.ID(), Name: r.Name, Module: r.Module, Type: r.Type,
						DependsOn: r.DependsOn, Notify: r.Notify, Subscribes: r.Subscribes, Pos: r.Pos.String(),
					})
				}
				out = append(out, lh)
			}
			if format == "json" {
				if out == nil {
					out = []listedHost{}
				}
				return writeJSON(c.App.Writer, out)
			}
			printHosts(c.App.Writer, out)
			writePolicyBatches(c.App.Writer, f.sp, hostNames(hosts))
			return nil
		},
	}
}

// selectListed applies the selection flags (and GLOB arguments, which
// are more --target values) to the hosts envoys match; none given: all.
func selectListed(c *cli.Context, f *fleet) ([]desired.Host, error) {
	cands := candidates(f.hosts)
	targets, err := resolveTargets(append(c.StringSlice("target"), c.Args().Slice()...), cands)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	all := c.Bool("all") || (len(targets) == 0 && c.String("environment") == "")
	sel, err := inventory.Select(cands, targets, c.String("environment"), all && len(targets) == 0)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	var names []string
	for _, h := range sel {
		names = append(names, h.Name)
	}
	if s := c.String("shard"); s != "" {
		i, n, err := push.ParseShard(s)
		if err != nil {
			return nil, withCode(exitInvalid, fmt.Errorf("--shard: %w", err))
		}
		names = push.Shard(names, i, n)
	}
	var out []desired.Host
	for _, h := range f.hosts {
		if slices.Contains(names, h.Name) {
			out = append(out, h)
		}
	}
	return out, nil
}

func printHosts(w io.Writer, hosts []listedHost) {
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		env := h.Environment
		if env == "" {
			env = "-"
		}
		fmt.Fprintln(w, h.Name)
		fmt.Fprintf(w, "  environment: %s\n", env)
		fmt.Fprintf(w, "  roles:       %s\n", orDash(strings.Join(h.Roles, ", ")))
		fmt.Fprintf(w, "  modules:     %s\n", orDash(strings.Join(h.Modules, " -> ")))
		if h.Rollout != "" {
			fmt.Fprintf(w, "  rollout:     %s\n", h.Rollout)
		}
		fmt.Fprintf(w, "  resources:\n")
		width := 0
		for _, r := range h.Resources {
			width = max(width, len(r.ID))
		}
		for j, r := range h.Resources {
			line := fmt.Sprintf("    %2d. %-*s  %s", j+1, width, r.ID, r.Type)
			var rel []string
			if len(r.DependsOn) > 0 {
				rel = append(rel, "after "+strings.Join(r.DependsOn, ", "))
			}
			if len(r.Notify) > 0 {
				rel = append(rel, "notifies "+strings.Join(r.Notify, ", "))
			}
			if len(r.Subscribes) > 0 {
				rel = append(rel, "subscribes to "+strings.Join(r.Subscribes, ", "))
			}
			if len(rel) > 0 {
				line += "  (" + strings.Join(rel, "; ") + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func renderCommand() *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "print one host's fully rendered resources (secrets stay references)",
		ArgsUsage: "HOST [RESOURCE...]",
		Description: "Prints the host's environment, roles, modules, variables and every resource\n" +
			"in apply order with its templates rendered, as YAML (or JSON with --output\n" +
			"json). secret: values are shown as the references they are, never resolved.\n" +
			"HOST may be a unique prefix or short name of an inventory name (web1 for\n" +
			"web1.app.example.com). RESOURCEs (name or module/name) keep only those.",
		Flags: sharedFlags(),
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if c.NArg() < 1 {
				return withCode(exitInvalid, errors.New("render takes a HOST (see vigocli envoys list)"))
			}
			name := c.Args().First()
			dir := stockpileFlag(c)
			sp, err := stockpile.Load(dir, executors.BuiltinSchemas())
			if err != nil {
				return reportInvalid(c, asInvalid(err, "invalid stockpile "+dir))
			}
			path, _ := inventoryPath(c)
			inv, err := inventory.Load(path)
			if err != nil {
				if errors.Is(err, inventory.ErrNoInventory) {
					return withCode(exitInvalid, err)
				}
				return reportInvalid(c, asInvalid(err, "invalid inventory "+path))
			}
			if name, err = inventory.ResolveName(inv.Names(), name); err != nil {
				return withCode(exitInvalid, err)
			}
			vars, err := flagVars(c)
			if err != nil {
				return err
			}
			h, _, err := desired.BuildHost(sp, inv, name, desired.Options{Vars: vars})
			if err != nil {
				var es stockpile.Errors
				if errors.As(err, &es) {
					return reportInvalid(c, asInvalid(err, "cannot render "+name))
				}
				return withCode(exitInvalid, err)
			}
			if h.Resources, err = onlyResources(h.Resources, c.Args().Tail()); err != nil {
				return withCode(exitInvalid, fmt.Errorf("render %s: %w", name, err))
			}
			if format == "json" {
				return writeJSON(c.App.Writer, h)
			}
			node, err := renderYAML(sp, h)
			if err != nil {
				return err
			}
			enc := yaml.NewEncoder(c.App.Writer)
			enc.SetIndent(2)
			if err := enc.Encode(node); err != nil {
				return err
			}
			return enc.Close()
		},
	}
}

// onlyResources keeps the resources named (by name or module/name), in
// apply order; no name: all. A name the host does not have is an error
// with a suggestion.
func onlyResources(rs []desired.Resource, names []string) ([]desired.Resource, error) {
	if len(names) == 0 {
		return rs, nil
	}
	var ids []string // both forms, either may be the one meant
	for _, r := range rs {
		ids = append(ids, r.ID(), r.Name)
	}
	for _, n := range names {
		found := slices.ContainsFunc(rs, func(r desired.Resource) bool { return r.ID() == n || r.Name == n })
		if !found {
			return nil, fmt.Errorf("the host has no resource %q%s", n, hint(suggestName(n, ids), strconv.Quote))
		}
	}
	var out []desired.Resource
	for _, r := range rs {
		if slices.Contains(names, r.ID()) || slices.Contains(names, r.Name) {
			out = append(out, r)
		}
	}
	return out, nil
}

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
