package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

// The load sequence every command that reads a stockpile shares.

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
	f, all, done, err := loadSources(c, needInventory)
	if done {
		return f, err
	}
	dir, sp, inv := stockpileFlag(c), f.sp, f.inv
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
	if err := collect(&all, err); err != nil {
		return nil, err
	}
	if err := collect(&all, executors.Check(hosts, executors.CheckOptions{StockpileDir: sp.Dir, SourceOutside: sourceOutside(c)})); err != nil {
		return nil, err
	}
	if len(all) > 0 {
		return f, f.invalid(all, dir) // f keeps the warnings
	}
	f.hosts = hosts
	return f, nil
}

// loadSources is the first half of every load: the stockpile and the
// inventory, their problems collected in all. done says the load ends
// here, with f and err to return (f nil: nothing to show; err nil: no
// inventory, and none needed); otherwise f.sp and f.inv are loaded and
// all holds the problems found so far (the hosts may still be built, to
// find more).
func loadSources(c *cli.Context, needInventory bool) (f *fleet, all stockpile.Errors, done bool, err error) {
	dir := stockpileFlag(c)
	sp, spErr := stockpile.Load(dir, executors.BuiltinSchemas())
	if sp == nil {
		return nil, nil, true, asInvalid(spErr, "invalid stockpile "+dir)
	}
	if err := collect(&all, spErr); err != nil {
		return nil, nil, true, err
	}
	f = &fleet{sp: sp}
	path, explicit := inventoryPath(c)
	f.invPath = path
	inv, invErr := inventory.Load(path)
	switch {
	case errors.Is(invErr, inventory.ErrNoInventory) && !explicit && !needInventory:
		return f, all, true, f.invalid(all, dir)
	case errors.Is(invErr, inventory.ErrNoInventory) && len(all) == 0:
		return nil, nil, true, withCode(exitInvalid, invErr)
	case errors.Is(invErr, inventory.ErrNoInventory):
		all = append(all, &stockpile.Error{Msg: invErr.Error()})
		return f, all, true, f.invalid(all, dir)
	}
	if err := collect(&all, invErr); err != nil {
		return nil, nil, true, err
	}
	if inv == nil { // not even YAML: nothing to build
		return f, all, true, f.invalid(all, dir)
	}
	f.inv = inv
	return f, all, false, nil
}

// loadHost is the load of the commands that work on one host (render):
// the stockpile and the inventory as loadFleet loads them, name resolved
// (a unique prefix or short name) and that host alone built, so that
// another host's problems do not stop it.
func loadHost(c *cli.Context, name string) (*stockpile.Stockpile, desired.Host, error) {
	f, all, done, err := loadSources(c, true)
	if done {
		return nil, desired.Host{}, err
	}
	if len(all) > 0 {
		return nil, desired.Host{}, f.invalid(all, stockpileFlag(c))
	}
	if name, err = inventory.ResolveName(f.inv.Names(), name); err != nil {
		return nil, desired.Host{}, withCode(exitInvalid, err)
	}
	vars, err := flagVars(c)
	if err != nil {
		return nil, desired.Host{}, err
	}
	h, _, err := desired.BuildHost(f.sp, f.inv, name, desired.Options{Vars: vars})
	if err != nil {
		return nil, desired.Host{}, withCode(exitInvalid, asInvalid(err, "cannot render "+name))
	}
	return f.sp, h, nil
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

// collect adds err's positioned problems (stockpile.Errors) to all, so
// that a load reports every one of them; any other error is returned.
func collect(all *stockpile.Errors, err error) error {
	var es stockpile.Errors
	if errors.As(err, &es) {
		*all = append(*all, es...)
		return nil
	}
	return err
}
