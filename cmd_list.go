package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/push"
)

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
