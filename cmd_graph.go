package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/graph"
	"github.com/vigo-sh/vigocli/inventory"
)

// graphTimeout bounds Graphviz (it runs locally on our own DOT, but a huge
// stockpile must not hang the command).
const graphTimeout = time.Minute

func graphCommand() *cli.Command {
	flags := append(sharedFlags(),
		&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "hosts whose inventory name matches `GLOB` (repeatable)"},
		&cli.BoolFlag{Name: "all", Usage: "every host an envoy matches (the default)"},
		&cli.StringFlag{Name: "environment", Aliases: []string{"e"}, Usage: "only hosts of environment `NAME`"},
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "dot", Usage: "dot (Graphviz source) or svg (runs Graphviz's dot, which must be installed)"},
	)
	return &cli.Command{
		Name:      "graph",
		Usage:     "draw the modules and resources of the selected hosts in apply order, with their links (Graphviz)",
		ArgsUsage: " ",
		Description: "Prints the plan's shape as Graphviz DOT: one box per module in apply order,\n" +
			"one node per resource (\"N. name\" and its type, N its apply order), depends_on\n" +
			"edges solid, notify and subscribes edges dashed, module depends_on edges bold.\n" +
			"Several hosts are drawn as their union; a module or resource that only some\n" +
			"of them get says on how many. Touches no host and resolves no secret.\n" +
			"  vigocli graph --target web1.app.example.com | dot -Tpng > plan.png\n" +
			"  vigocli graph --format svg > plan.svg",
		Flags:  flags,
		Action: runGraph,
	}
}

func runGraph(c *cli.Context) error {
	if c.NArg() > 0 {
		return withCode(exitInvalid, fmt.Errorf("graph takes no arguments (got %q): select hosts with --target", c.Args().First()))
	}
	format := c.String("format")
	if format != "dot" && format != "svg" {
		return withCode(exitInvalid, fmt.Errorf("--format %q: want dot or svg", format))
	}
	f, err := loadFleet(c, true)
	if err != nil {
		return reportInvalid(c, err)
	}
	printWarnings(c.App.ErrWriter, f.warnings)
	cands := candidates(f.hosts)
	targets, env := c.StringSlice("target"), c.String("environment")
	sel, err := inventory.Select(cands, targets, env, c.Bool("all") || len(targets) == 0 && env == "")
	if err != nil {
		return withCode(exitInvalid, err)
	}
	keep := map[string]bool{}
	for _, h := range sel {
		keep[h.Name] = true
	}
	var hosts []desired.Host
	for _, h := range f.hosts {
		if keep[h.Name] {
			hosts = append(hosts, h)
		}
	}
	deps := map[string][]string{}
	for _, m := range f.sp.Modules {
		for _, d := range m.DependsOn {
			deps[m.Name] = append(deps[m.Name], d.Name)
		}
	}
	var dot bytes.Buffer
	if err := graph.Build(hosts, deps).WriteDOT(&dot); err != nil {
		return err
	}
	if format == "dot" {
		_, err := c.App.Writer.Write(dot.Bytes())
		return err
	}
	svg, err := renderSVG(c.Context, dot.Bytes())
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(svg)
	return err
}

// renderSVG runs Graphviz's dot on the DOT source.
func renderSVG(ctx context.Context, dot []byte) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, withCode(exitInvalid, errors.New("--format svg needs Graphviz's dot on PATH (apt-get install graphviz), or print DOT with --format dot"))
	}
	ctx, cancel := context.WithTimeout(ctx, graphTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-Tsvg")
	cmd.Stdin = bytes.NewReader(dot)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
