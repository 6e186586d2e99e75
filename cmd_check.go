package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/report"
)

// A drift check is a dry-run push read as a verdict. It takes no lock:
// it changes nothing, so there is nothing for a lock to protect, and a
// check run every minute from cron must never make a push fail with
// "locked" (pushes wait for a lock only with --lock-wait) or wait behind
// a long push itself. The price is that a check that runs while a push
// is converging a host may see that host half-converged and report the
// drift it sees at that moment; the next check sees the result.

// defaultCheckHostTimeout is check's --host-timeout: a check only reads,
// and one run every minute from cron must not pile up behind a stuck host.
const defaultCheckHostTimeout = 2 * time.Minute

func envoysCheckCommand() *cli.Command {
	flags := append(sharedFlags(), selectFlags()...)
	flags = append(flags,
		&cli.IntFlag{Name: "parallel", Aliases: []string{"p"}, Usage: "at most `N` hosts checked at once", DefaultText: "every selected host"},
		&cli.StringFlag{Name: "report", Usage: "write a JUnit XML report of the plans to `FILE` (a drifted resource is a failing test case)"},
		&cli.StringFlag{Name: "report-html", Usage: "write a self-contained HTML report of the plans to `FILE`"},
		sourceOutsideFlag(),
	)
	flags = append(flags, boundsFlags(defaultCheckHostTimeout)...)
	return &cli.Command{
		Name:      "check",
		Usage:     "report the selected hosts that drifted from their desired state (changes nothing)",
		ArgsUsage: " ",
		Description: "Select hosts as for push (--all, --target GLOB, --environment NAME, --shard I/N).\n" +
			"Each host is observed once over one connection and planned, as push --dry-run\n" +
			"does; nothing is applied, no lock is taken, no health check runs. A host has\n" +
			"drifted when its plan would change a resource (a refresh that a change would\n" +
			"notify and a pull: always of a present image are not drift).\n" +
			"Output: one line per drifted resource (HOST RESOURCE (TYPE): ACTION: REASON;\n" +
			"DIFF...) and per host not checked; --output json lists every host and every\n" +
			"drifted resource with the plan's action, reason and differing fields.\n" +
			"Exit codes: 0 every host in sync, 2 some host drifted, 1 some host could not\n" +
			"be planned (a secret, Docker), 3 some host unreachable (none drifted or\n" +
			"failed), 4 invalid stockpile, inventory or arguments, 5 some host's key\n" +
			"refused (none drifted or failed), 130 interrupted.",
		Flags:  flags,
		Action: runCheck,
	}
}

func runCheck(c *cli.Context) error {
	if c.NArg() > 0 {
		return withCode(exitInvalid, fmt.Errorf("check takes no arguments (got %q): select hosts with --all or --target", c.Args().First()))
	}
	if _, err := outputFormat(c); err != nil {
		return err
	}
	cv, err := prepareConverge(c, true)
	if err != nil {
		return err
	}
	opts := push.Options{DryRun: true, Command: "check", Parallel: c.Int("parallel")}
	if opts.Parallel < 0 {
		return withCode(exitInvalid, fmt.Errorf("--parallel %d: want 1 or more", opts.Parallel))
	}
	if opts.HostTimeout, err = timeLimits(c); err != nil {
		return err
	}
	return rollout(c, cv.inv, cv.hosts, cv.job, opts, cv.masker, true)
}

// checkExitCode: drift is the answer a check exists for, so it wins over
// hosts that could not be checked; a host that failed to plan is an error
// (1) rather than drift; a refused host key gives 5, unreachable hosts
// alone 3.
func checkExitCode(hosts []report.CheckHost, interrupted bool) int {
	n := report.CheckCounts(hosts)
	switch {
	case interrupted:
		return exitInterrupted
	case n[report.CheckDrifted] > 0:
		return exitHostFailed // 2: drifted
	case n[event.StatusFailed] > 0:
		return exitError
	case n[event.StatusRefused] > 0:
		return exitHostKey // 5: a host key refused (changed, or unknown)
	case n[event.StatusUnreachable] > 0:
		return exitUnreachable
	}
	return exitOK
}

// checkSummary is the one line on stderr when a check does not exit 0.
func checkSummary(what string, hosts []report.CheckHost, code int) error {
	n := report.CheckCounts(hosts)
	drifted := 0
	for _, h := range hosts {
		drifted += len(h.Drifted)
	}
	var parts []string
	if k := n[report.CheckDrifted]; k > 0 {
		parts = append(parts, fmt.Sprintf("%d drifted (%s)", k, report.Plural(drifted, "resource")))
	}
	for _, s := range []string{event.StatusFailed, event.StatusUnreachable, event.StatusRefused, event.StatusSkipped, report.CheckInSync} {
		if k := n[s]; k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, strings.ReplaceAll(s, "_", " ")))
		}
	}
	msg := what + ": " + report.Plural(len(hosts), "host") + ": " + strings.Join(parts, ", ")
	if code == exitInterrupted {
		msg = "interrupted; " + msg
	}
	return errors.New(msg)
}
