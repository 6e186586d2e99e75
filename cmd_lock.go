package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/transport"
)

// lockDirFlag is --lock-dir, shared by push, task and lock.
func lockDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "lock-dir", EnvVars: []string{"VIGO_LOCK_DIR"}, Usage: "keep the lock in directory `PATH` on the hosts, owned by the user vigo works as there, mode 0700 (created if missing)", DefaultText: lock.DefaultDir + ", root's: needs root or become"}
}

func lockCommand() *cli.Command {
	flags := func(extra ...cli.Flag) []cli.Flag {
		f := append(sharedFlags(),
			&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "hosts whose inventory name matches `GLOB` (repeatable; status: default every host)"},
			&cli.BoolFlag{Name: "all", Usage: "every host of the inventory"},
			&cli.BoolFlag{Name: "accept-new-host-keys", Usage: "record the key of a host with none on record"},
			lockDirFlag(),
		)
		return append(f, extra...)
	}
	return &cli.Command{
		Name:  "lock",
		Usage: "show or release the per-host locks that keep pushes and tasks from interleaving",
		Description: "A task, a rollback and a push (on each host it changes or health-checks)\n" +
			"take one lock per host, shared by every login user: an\n" +
			"flock on " + lock.DefaultDir + "/lock (a directory vigo creates as root, mode 0700; a\n" +
			"login user that is not root needs become, or --lock-dir), held by one remote\n" +
			"shell for as long as the run works on the host. The kernel drops it when that\n" +
			"shell ends, however it ends. A holder is stale when its heartbeat is older than\n" +
			"2m (a half-open connection); the next run that takes the lock ends it.",
		Subcommands: []*cli.Command{
			{
				Name:   "status",
				Usage:  "show who holds each host's lock",
				Flags:  flags(),
				Action: func(c *cli.Context) error { return runLock(c, false) },
			},
			{
				Name:  "release",
				Usage: "end stale lock holders (or, with --force, any holder) of the selected hosts",
				Flags: flags(&cli.BoolFlag{Name: "force", Usage: "end a holder even if it looks alive"}),
				Action: func(c *cli.Context) error {
					if len(c.StringSlice("target")) == 0 && !c.Bool("all") {
						return withCode(exitInvalid, fmt.Errorf("lock release needs --target GLOB or --all"))
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
	hosts, err := inventory.Select(inv.Hosts, targets, "", len(targets) == 0 || c.Bool("all"))
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
	if err := lock.CheckDir(c.String("lock-dir")); err != nil {
		return withCode(exitInvalid, fmt.Errorf("--lock-dir: %w", err))
	}
	l := &lock.Locker{Dir: c.String("lock-dir")}
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
func lockOne(ctx context.Context, pool *transport.Pool, l *lock.Locker, h inventory.Host, release, force bool) (line string, failed, unreachable bool) {
	conn, err := pool.Get(ctx, targetOf(h))
	if err != nil {
		return "UNREACHABLE: " + err.Error(), false, true // the transport never names the host: the line does
	}
	st, err := l.Status(ctx, conn)
	if err != nil {
		return "FAILED: " + err.Error(), true, false
	}
	if !st.Held {
		return "free", false, false
	}
	desc := fmt.Sprintf("%s held by %s, heartbeat %s ago", st.Dir, st.Owner, st.Age.Round(time.Second))
	if st.Stale != "" {
		desc += "; STALE: " + st.Stale
	}
	if !release {
		return desc, false, false
	}
	if st.Stale == "" && !force {
		return desc + "; not released: the owner looks alive (use --force)", true, false
	}
	if err := l.Break(ctx, conn, st.Owner.Token, force); err != nil {
		return desc + "; FAILED: " + err.Error(), true, false
	}
	return desc + "; released", false, false
}
