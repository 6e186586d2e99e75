package main

import (
	"context"
	"fmt"
	"github.com/vigo-sh/vigocli/report"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/transport"
)

func lockCommand() *cli.Command {
	flags := func(extra ...cli.Flag) []cli.Flag {
		f := append(sharedFlags(),
			&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "hosts whose inventory name matches `GLOB` (repeatable; status: default every host; release: required)"},
			&cli.BoolFlag{Name: "accept-new-host-keys", Usage: "record the key of a host with none on record"},
			&cli.StringFlag{Name: "lock-dir", Usage: "the lock directory `PATH` on the hosts (default " + push.DefaultLockPath + " as root or with become, " + push.HomeLockPath + " for another user)"},
		)
		return append(f, extra...)
	}
	return &cli.Command{
		Name:  "lock",
		Usage: "show or release the per-host locks that keep pushes and tasks from interleaving",
		Description: "Every push and task takes a lock on each host (the directory " + push.DefaultLockPath + "\n" +
			"as root or with become, " + push.HomeLockPath + " for another user; owner in PATH/owner), held by\n" +
			"one remote shell for as long as the run works on the host: it removes the lock\n" +
			"when the run releases it, is interrupted, or its connection drops. A lock is\n" +
			"stale when its holding shell is gone from the host (killed outright, host\n" +
			"rebooted) or its heartbeat is older than 2m; pushes break stale locks by themselves.",
		Subcommands: []*cli.Command{
			{
				Name:   "status",
				Usage:  "show who holds each host's lock",
				Flags:  flags(),
				Action: func(c *cli.Context) error { return runLock(c, false) },
			},
			{
				Name:  "release",
				Usage: "remove stale locks (or, with --force, any lock) of the selected hosts",
				Flags: flags(&cli.BoolFlag{Name: "force", Usage: "remove a lock even if its owner looks alive"}),
				Action: func(c *cli.Context) error {
					if len(c.StringSlice("target")) == 0 {
						return withCode(exitInvalid, fmt.Errorf("lock release needs --target GLOB"))
					}
					return runLock(c, true)
				},
			},
		},
	}
}

func runLock(c *cli.Context, release bool) error {
	path, _ := inventoryPath(c)
	inv, err := inventory.Load(path)
	if err != nil {
		return reportInvalid(c, asInvalid(err, "invalid inventory "+path))
	}
	targets := c.StringSlice("target")
	hosts, err := inventory.Select(inv.Hosts, targets, "", len(targets) == 0)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	pool, err := newPool(c)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	defer pool.Close()
	for _, w := range pool.Warnings() {
		fmt.Fprintln(c.App.ErrWriter, "warning:", report.Clean(w))
	}
	l := &push.Locker{Path: c.String("lock-dir")}
	force := c.Bool("force")

	var mu sync.Mutex
	lines := map[string]string{}
	failed, unreachable := 0, 0
	var g errgroup.Group
	g.SetLimit(20)
	for _, h := range hosts {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			line, bad, unreach := lockOne(ctx, pool, l, h, release, force)
			mu.Lock()
			defer mu.Unlock()
			lines[h.Name] = line
			if bad {
				failed++
			}
			if unreach {
				unreachable++
			}
			return nil
		})
	}
	_ = g.Wait()
	names := make([]string, 0, len(lines))
	for n := range lines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// Owner fields and errors come from the hosts: made inert first.
		fmt.Fprintf(c.App.Writer, "%s | %s\n", n, report.Clean(lines[n]))
	}
	switch {
	case failed > 0:
		return withCode(exitHostFailed, fmt.Errorf("%d host(s) failed", failed))
	case unreachable > 0:
		return withCode(exitUnreachable, fmt.Errorf("%d host(s) unreachable", unreachable))
	}
	return nil
}

// lockOne reads (and maybe releases) one host's lock and says how it
// went in one line.
func lockOne(ctx context.Context, pool *transport.Pool, l *push.Locker, h inventory.Host, release, force bool) (line string, failed, unreachable bool) {
	conn, err := pool.Get(ctx, targetOf(h))
	if err != nil {
		return "UNREACHABLE: " + strings.TrimPrefix(err.Error(), h.Name+": "), false, true
	}
	st, err := l.Status(ctx, conn)
	if err != nil {
		return "FAILED: " + err.Error(), true, false
	}
	if !st.Held {
		return "free", false, false
	}
	desc := fmt.Sprintf("%s held by %s, heartbeat %s ago", st.Path, st.Owner, st.Age)
	if st.Stale != "" {
		desc += "; STALE: " + st.Stale
	}
	if !release {
		return desc, false, false
	}
	if st.Stale == "" && !force {
		return desc + "; not released: the owner looks alive (use --force)", true, false
	}
	if err := l.Remove(ctx, conn, st.Owner.Token); err != nil {
		return desc + "; FAILED: " + err.Error(), true, false
	}
	return desc + "; released", false, false
}
