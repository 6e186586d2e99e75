package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/desired"
)

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
			sp, h, err := loadHost(c, c.Args().First())
			if err != nil {
				return reportInvalid(c, err)
			}
			name := h.Name
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
