package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/inventory"
)

// globalFlags are accepted before any command. The same flags (without
// their environment variables) are accepted after a command too, through
// sharedFlags, so that `vigocli validate -s DIR` and `vigocli -s DIR
// validate` both work; read them with flagString / flagVars, which take
// the innermost explicitly given value, then the global one (which holds
// the environment variable or the default).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Value: "stockpile", EnvVars: []string{"VIGO_STOCKPILE"}, Usage: "stockpile directory (default: the current directory when it holds modules/, roles/ or envoys/, else ./stockpile)"},
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, EnvVars: []string{"VIGO_INVENTORY"}, Usage: "inventory file (default: STOCKPILE/inventory.vgo)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", EnvVars: []string{"VIGO_OUTPUT"}, Usage: "output format: text or json"},
		varFlag(),
	}
}

// varFlag is --var k=v, repeatable. It is a GenericFlag rather than a
// StringSliceFlag so that values keep their commas (--var hosts=a,b).
func varFlag() cli.Flag {
	return &cli.GenericFlag{Name: "var", Value: &varList{}, Usage: "set a variable, highest precedence: --var k=v (repeatable)"}
}

// varList collects repeated --var values as given.
type varList struct{ items []string }

func (v *varList) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE")
	}
	v.items = append(v.items, s)
	return nil
}

func (v *varList) String() string { return strings.Join(v.items, " ") }

// sharedFlags are the global flags again, for a command's own flag list
// (commands that use the stockpile add them: Flags: sharedFlags()).
func sharedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Usage: "stockpile directory (default: $VIGO_STOCKPILE, else the current directory when it holds modules/, roles/ or envoys/, else ./stockpile)"},
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "inventory file (default: STOCKPILE/inventory.vgo, or $VIGO_INVENTORY)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: text or json (default text, or $VIGO_OUTPUT)"},
		varFlag(),
	}
}

// flagString returns the innermost non-empty value given for a flag (after
// a command, before it, or through its environment variable), else the
// global flag's default. An empty value counts as not given, so that
// VIGO_STOCKPILE= (set but empty) means ./stockpile rather than "".
//
// The default is read from a fresh globalFlags(), not from the parsed
// contexts: urfave/cli's outermost context in Lineage() is an empty root
// without flags, and a command's own copy of a global flag has no default.
func flagString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			if v := ctx.String(name); v != "" {
				return v
			}
		}
	}
	for _, f := range globalFlags() {
		sf, ok := f.(*cli.StringFlag)
		if !ok || sf.Name != name {
			continue
		}
		for _, env := range sf.EnvVars {
			if v := os.Getenv(env); v != "" {
				return v
			}
		}
		return sf.Value
	}
	return ""
}

// stockpileFlag is the stockpile directory: --stockpile, VIGO_STOCKPILE,
// the current directory when it is one, else ./stockpile (discover.go).
func stockpileFlag(c *cli.Context) string { return findStockpile(c) }

// inventoryPath is the --inventory file; explicit is false when it is the
// default STOCKPILE/inventory.vgo.
func inventoryPath(c *cli.Context) (path string, explicit bool) {
	if p := flagString(c, "inventory"); p != "" {
		return p, true
	}
	return inventory.DefaultPath(stockpileFlag(c)), false
}

// outputFormat is --output, checked.
func outputFormat(c *cli.Context) (string, error) {
	o := flagString(c, "output")
	switch o {
	case "", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", withCode(exitInvalid, fmt.Errorf("--output %q: want text or json", o))
}

// flagVars collects every --var k=v given (global ones first, so a
// command's own --var wins).
func flagVars(c *cli.Context) (map[string]string, error) {
	out := map[string]string{}
	lineage := c.Lineage()
	for i := len(lineage) - 1; i >= 0; i-- {
		ctx := lineage[i]
		if !slices.Contains(ctx.LocalFlagNames(), "var") {
			continue
		}
		vl, _ := ctx.Generic("var").(*varList)
		if vl == nil {
			continue
		}
		for _, kv := range vl.items {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, withCode(exitInvalid, fmt.Errorf("--var %q: want NAME=VALUE", kv))
			}
			out[k] = v
		}
	}
	return out, nil
}
