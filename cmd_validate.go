package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/report"
)

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
