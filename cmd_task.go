package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/secrets"
	"github.com/vigo-sh/vigocli/stockpile"
)

func taskCommand() *cli.Command {
	// A task renders no template: no --var (the stockpile is read only
	// for --environment).
	flags := slices.DeleteFunc(sharedFlags(), func(f cli.Flag) bool { return slices.Contains(f.Names(), "var") })
	flags = append(flags, selectFlags()...)
	flags = append(flags, rolloutFlags()...)
	flags = append(flags, boundsFlags(0)...)
	flags = append(flags, &cli.DurationFlag{Name: "timeout", Usage: "fail a host whose command runs longer than `D`", DefaultText: "no limit"})
	flags = append(flags, &cli.StringFlag{Name: "changed-when", Usage: "how to tell that CMD changed something: exit:N (exit code N means changed, 0 nothing changed) or output:REGEXP (an output line matches)", DefaultText: "cannot tell: the host counts as ran"})
	return &cli.Command{
		Name:  "task",
		Usage: "run an ad-hoc command across the fleet, batch by batch",
		Subcommands: []*cli.Command{{
			Name:      "run",
			Usage:     "run a shell command on the selected hosts, batch by batch, with a health gate",
			ArgsUsage: "CMD",
			Description: "Runs CMD (a shell command, as you would type it in ssh) on each selected host,\n" +
				"batch by batch, then --health-check on that host. The rollout halts after the\n" +
				"first batch with a failed command or health check (--max-fail to tolerate\n" +
				"some): hosts already done are reported, the rest are left untouched.\n" +
				"Needs only the inventory (the stockpile only for --environment). Flags may\n" +
				"come before or after CMD (after --, nothing is a flag).\n\n" +
				"   vigocli task run \"docker pull myregistry.example.com/webapp:v2.2.0\" \\\n" +
				"     --target \"*.app.example.com\" --batch-size 25% \\\n" +
				"     --health-check \"curl -sf http://localhost:8080/health\"\n\n" +
				"Exit codes: 0 all ok, 2 some host failed, 3 some host unreachable (none\n" +
				"failed or refused), 4 invalid arguments or inventory, 5 some host's key\n" +
				"refused (none failed), 130 interrupted.\n\n" +
				"vigo cannot know what a command changed: a host where it succeeded counts\n" +
				"as ran (not changed) unless --changed-when says how to tell, e.g.\n" +
				"--changed-when 'output:Downloaded newer image' for docker pull.",
			Flags:  flags,
			Action: runTask,
		}},
	}
}

func runTask(c *cli.Context) error {
	args := c.Args().Slice() // flags after CMD: see normalizeArgs
	if len(args) != 1 {
		return withCode(exitInvalid, fmt.Errorf("task run takes one argument, the command (quote it): got %d", len(args)))
	}
	command := args[0]
	if strings.TrimSpace(command) == "" {
		return withCode(exitInvalid, errors.New("task run: the command is empty"))
	}
	if _, err := outputFormat(c); err != nil {
		return err
	}
	var inv *inventory.Inventory
	var cands []inventory.Host
	if c.String("environment") == "" {
		path, _ := inventoryPath(c)
		var err error
		if inv, err = inventory.Load(path); err != nil {
			return reportInvalid(c, asInvalid(err, "invalid inventory "+path))
		}
		cands = inv.Hosts
	} else {
		// Environments come from the envoys: only then is the stockpile
		// read, as every command reads it, and the environment decided
		// as for push (envoys that disagree are an error).
		f, all, done, err := loadSources(c, true)
		if done {
			return reportInvalid(c, err)
		}
		inv = f.inv
		assigned, _ := inventory.Assign(inv.Hosts, f.sp.Envoys)
		var es stockpile.Errors
		if errors.As(desired.AssignErr(assigned), &es) {
			all = append(all, es...)
		}
		if len(all) > 0 {
			return reportInvalid(c, f.invalid(all, stockpileFlag(c)))
		}
		for _, a := range assigned {
			cands = append(cands, a.Host)
		}
	}
	hosts, err := selectHosts(c, cands)
	if err != nil {
		return err
	}
	opts, err := rolloutOptions(c)
	if err != nil {
		return err
	}
	timeout := c.Duration("timeout")
	if timeout < 0 {
		return withCode(exitInvalid, fmt.Errorf("--timeout %s: want a positive duration", timeout))
	}
	changed, err := push.ParseChangedWhen(c.String("changed-when"))
	if err != nil {
		return withCode(exitInvalid, fmt.Errorf("--changed-when %w", err))
	}
	opts.Command = "task run: " + command
	return runRollout(c, inv, hosts, push.TaskJob[executors.Host](command, timeout, changed), opts, secrets.NewMasker())
}
