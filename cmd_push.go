package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/secrets"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// exitInterrupted is the exit code after Ctrl-C (128 + SIGINT), whatever
// the hosts did.
const exitInterrupted = 130

// selectFlags choose hosts; rolloutFlags say how to roll through them.
func selectFlags() []cli.Flag {
	return append(selectionFlags(),
		&cli.BoolFlag{Name: "accept-new-host-keys", Usage: "record the key of a host with none on record (a changed key is always refused)"},
		persistFlag(), // cmd_connections.go
	)
}

func rolloutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "batch-size", Aliases: []string{"b"}, Usage: "hosts per batch: `N`, or N% of the selected hosts (rounded up, at least 1); 0: all", DefaultText: "all hosts in one batch"},
		&cli.IntFlag{Name: "parallel", Aliases: []string{"p"}, Usage: "at most `N` hosts at once inside a batch", DefaultText: "the whole batch"},
		&cli.StringFlag{Name: "max-fail", Value: "0", Usage: "failed, unreachable or refused hosts tolerated over the run: `N`, or N% (rounded down); one more stops the rollout after the current batch"},
		&cli.BoolFlag{Name: "fail-fast", Usage: "stop starting hosts at the first failure, even inside the batch (running hosts finish)"},
		&cli.StringFlag{Name: "health-check", Usage: "shell `CMD` (sh -c) run on each host after its push or command succeeded; fails the host when every attempt exits non-zero"},
		&cli.IntFlag{Name: "health-retries", Value: 2, Usage: "`N` more health check attempts after a failed one"},
		&cli.DurationFlag{Name: "health-interval", Value: 2 * time.Second, Usage: "pause `D` between health check attempts"},
		&cli.DurationFlag{Name: "health-timeout", Value: 10 * time.Second, Usage: "time limit `D` of one health check attempt"},
		lockDirFlag(),
		&cli.DurationFlag{Name: "lock-wait", Usage: "wait up to `D` for a lock held by another run (checked every second; a push locks only the hosts it changes or health-checks)", DefaultText: "fail at once"},
		&cli.StringFlag{Name: "report", Usage: "write a JUnit XML report to `FILE`"},
		&cli.StringFlag{Name: "report-html", Usage: "write a self-contained HTML report (per host and resource, with timings) to `FILE`"},
	}
}

// boundsFlags are the time limits of one run; hostDefault is the
// command's default --host-timeout (0: none).
func boundsFlags(hostDefault time.Duration) []cli.Flag {
	hostText := ""
	if hostDefault == 0 {
		hostText = "none"
	}
	return []cli.Flag{
		&cli.DurationFlag{Name: "host-timeout", Value: hostDefault, DefaultText: hostText,
			Usage: "fail a host still busy after `D` (connect, lock, work, health check); the other hosts go on; 0: no limit"},
		&cli.DurationFlag{Name: "request-timeout", Value: transport.DefaultRequestTimeout,
			Usage: "time limit `D` of one Docker API request or one of vigo's own remote commands (docker pull and compose up/pull/down get " + transport.DefaultLongTimeout.String() + ")"},
	}
}

// defaultHostTimeout is push's --host-timeout.
const defaultHostTimeout = 30 * time.Minute

func envoysPushCommand() *cli.Command {
	flags := append(sharedFlags(), selectFlags()...)
	flags = append(flags, rolloutFlags()...)
	flags = append(flags, sourceOutsideFlag())
	flags = append(flags, boundsFlags(defaultHostTimeout)...)
	flags = append(flags, &cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "plan every host and show what would change; changes nothing, takes no lock, runs no health check"})
	flags = append(flags, &cli.BoolFlag{Name: "rollback-on-failure", Usage: "a host whose health check fails after this push recreated containers gets back the containers it ran before (their recorded image, the current stockpile's spec and secrets), is checked again and ends rolled_back (exit 2)"})
	flags = append(flags, &cli.BoolFlag{Name: "detailed-exitcode", Usage: "with --dry-run, exit as envoys check does: 0 no drift, 2 some host drifted, 1 some host could not be planned, 5 some host's key refused, 3 some host unreachable"})
	return &cli.Command{
		Name:      "push",
		Usage:     "converge the selected hosts to their desired state, in batches",
		ArgsUsage: " ",
		Description: "Select hosts with --all, --target GLOB or --environment NAME. Renders each\n" +
			"selected host's desired state, resolves its secrets, then SSHes into the hosts\n" +
			"batch by batch: observe, plan, lock (a host with something to change or a\n" +
			"health check), converge, health check, unlock. A failed host stops the\n" +
			"rollout after its batch (--max-fail to tolerate some, --fail-fast sooner).\n" +
			"A host still busy after --host-timeout fails alone; every Docker API request\n" +
			"and remote command has its own limit (--request-timeout).\n" +
			"With --rollback-on-failure, a host whose health check fails goes back to\n" +
			"the containers it ran before (see envoys rollback) and ends rolled_back.\n" +
			"Exit codes: 0 all converged, 2 some host failed or was rolled back, 3 some\n" +
			"host unreachable (none failed or refused), 4 invalid stockpile, inventory or\n" +
			"arguments, 5 some host's key refused (changed, or unknown: none failed), 130\n" +
			"interrupted.",
		Flags:  flags,
		Action: runPush,
	}
}

func runPush(c *cli.Context) error {
	dryRun := c.Bool("dry-run")
	if c.Bool("detailed-exitcode") && !dryRun {
		return withCode(exitInvalid, errors.New("--detailed-exitcode needs --dry-run (or use vigocli envoys check)"))
	}
	if c.Bool("rollback-on-failure") && dryRun {
		return withCode(exitInvalid, errors.New("--rollback-on-failure has nothing to do with --dry-run (no health check runs)"))
	}
	cv, opts, err := startRollout(c, "push", dryRun)
	if err != nil {
		return err
	}
	if c.Bool("rollback-on-failure") {
		opts.RollbackOnFailure = true
		cv.job.Rollback = push.RollbackJob(cv.conv, push.RollbackOptions{OnlyRun: cv.conv.Run}).Run
	}
	return runRollout(c, cv.inv, cv.hosts, cv.job, opts, cv.masker)
}

// startRollout is what push and rollback do before their jobs differ: no
// arguments, the fleet loaded and checked, hosts selected, the rollout
// options from the flags and the envoys' rollout policy.
func startRollout(c *cli.Context, verb string, dryRun bool) (*converging, push.Options, error) {
	if c.NArg() > 0 {
		return nil, push.Options{}, withCode(exitInvalid, fmt.Errorf("%s takes no arguments (got %q): select hosts with --all or --target", verb, c.Args().First()))
	}
	format, err := outputFormat(c)
	if err != nil {
		return nil, push.Options{}, err
	}
	cv, err := prepareConverge(c, dryRun)
	if err != nil {
		return nil, push.Options{}, err
	}
	opts, err := rolloutOptions(c)
	if err != nil {
		return nil, push.Options{}, err
	}
	opts.DryRun = dryRun
	opts.Command = verb
	if err := applyPolicy(c, cv.sp, cv.hosts, &opts, format); err != nil {
		return nil, push.Options{}, err
	}
	return cv, opts, nil
}

// converging is what push and check share: the selected hosts, and the
// job that resolves each host's secrets and converges it (or, dry, plans).
type converging struct {
	inv    *inventory.Inventory
	sp     *stockpile.Stockpile // for the envoys' rollout policy
	hosts  []string
	job    push.Job[executors.Host]
	masker *secrets.Masker
	// conv is how job converges, which a rollback shares.
	conv push.ConvergeOptions
}

// prepareConverge loads the fleet, selects hosts with the push selection
// flags and builds the converge job.
func prepareConverge(c *cli.Context, dryRun bool) (*converging, error) {
	f, err := loadFleet(c, true)
	if err != nil {
		return nil, reportInvalid(c, err)
	}
	printWarnings(c.App.ErrWriter, f.warnings)
	byName := map[string]desired.Host{}
	for _, dh := range f.hosts {
		byName[dh.Name] = dh
	}
	hosts, err := selectHosts(c, candidates(f.hosts))
	if err != nil {
		return nil, err
	}

	masker := secrets.NewMasker()
	backend, err := secrets.NewBackend(f.sp.Dir, secrets.OSEnv())
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	resolver := secrets.NewResolver(backend, masker)
	// Every selected host's secrets are resolved (and registered with
	// the masker) before the first host line prints and before any login.
	var selected []desired.Host
	for _, h := range hosts {
		selected = append(selected, byName[h])
	}
	fleet := push.ResolveFleet(c.Context, selected, func(ctx context.Context, path string) (string, error) {
		v, err := resolver.Resolve(ctx, []string{path})
		if err != nil {
			return "", err
		}
		s, _ := v.Value(path)
		return s, nil
	}, masker.Add)
	conv := push.ConvergeOptions{Hosts: byName, Secrets: fleet, DryRun: dryRun,
		StockpileDir: f.sp.Dir, SourceOutside: sourceOutside(c), Run: newRunID()}
	return &converging{inv: f.inv, sp: f.sp, hosts: hosts, job: push.ConvergeJob(conv), masker: masker, conv: conv}, nil
}

// selectionFlags choose hosts, the same way wherever hosts are chosen
// (envoys push, task run, envoys list).
func selectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "hosts whose inventory name matches `GLOB` (repeatable; a name without glob characters may be a unique prefix or short name: web1)"},
		&cli.BoolFlag{Name: "all", Usage: "every host (push: every host an envoy matches)"},
		&cli.StringFlag{Name: "environment", Aliases: []string{"e"}, Usage: "only hosts of environment `NAME` (set by the envoys)"},
		&cli.StringFlag{Name: "shard", Usage: "only part `I/N` of the selected hosts: names sorted and dealt round robin (one shard per CI job)"},
	}
}

// candidates are the inventory hosts the selection flags choose among
// when the desired state was built: those an envoy matches, each with the
// environment inventory.Assign decided.
func candidates(hosts []desired.Host) []inventory.Host {
	out := make([]inventory.Host, len(hosts))
	for i, h := range hosts {
		out[i] = h.Inventory
	}
	return out
}

// resolveTargets turns each --target that is a host name as typed (a
// unique prefix or short name: web1) into the inventory name; globs and
// exact names are kept as they are.
func resolveTargets(targets []string, cands []inventory.Host) ([]string, error) {
	names := make([]string, len(cands))
	for i, h := range cands {
		names[i] = h.Name
	}
	out := make([]string, len(targets))
	for i, t := range targets {
		n, err := inventory.ResolveName(names, t)
		if err != nil {
			return nil, fmt.Errorf("--target: %w", err)
		}
		out[i] = n
	}
	return out, nil
}

// selectHosts applies --all/--target/--environment, then --shard.
func selectHosts(c *cli.Context, cands []inventory.Host) ([]string, error) {
	targets, err := resolveTargets(c.StringSlice("target"), cands)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	sel, err := inventory.Select(cands, targets, c.String("environment"), c.Bool("all"))
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	names := make([]string, len(sel))
	for i, h := range sel {
		names[i] = h.Name
	}
	if s := c.String("shard"); s != "" {
		i, n, err := push.ParseShard(s)
		if err != nil {
			return nil, withCode(exitInvalid, fmt.Errorf("--shard: %w", err))
		}
		names = push.Shard(names, i, n)
		if len(names) == 0 {
			return nil, withCode(exitInvalid, fmt.Errorf("--shard %s: this shard has no host (%d selected)", s, len(sel)))
		}
	}
	return names, nil
}

// rolloutOptions reads the batch, failure, health and lock flags.
func rolloutOptions(c *cli.Context) (push.Options, error) {
	var o push.Options
	var err error
	if o.BatchSize, err = push.ParseSize(c.String("batch-size")); err != nil {
		return o, withCode(exitInvalid, fmt.Errorf("--batch-size: %w", err))
	}
	if o.MaxFail, err = push.ParseSize(c.String("max-fail")); err != nil {
		return o, withCode(exitInvalid, fmt.Errorf("--max-fail: %w", err))
	}
	if o.Parallel = c.Int("parallel"); o.Parallel < 0 {
		return o, withCode(exitInvalid, fmt.Errorf("--parallel %d: want 1 or more", o.Parallel))
	}
	o.FailFast = c.Bool("fail-fast")
	o.Health = push.Health{Cmd: c.String("health-check"), Retries: c.Int("health-retries"),
		Interval: c.Duration("health-interval"), Timeout: c.Duration("health-timeout")}
	if o.Health.Retries < 0 {
		return o, withCode(exitInvalid, fmt.Errorf("--health-retries %d: want 0 or more", o.Health.Retries))
	}
	if err := lock.CheckDir(c.String("lock-dir")); err != nil {
		return o, withCode(exitInvalid, fmt.Errorf("--lock-dir: %w", err))
	}
	o.Lock = &lock.Locker{Wait: c.Duration("lock-wait"), Dir: c.String("lock-dir")}
	o.HostTimeout, err = timeLimits(c)
	return o, err
}

// timeLimits checks the boundsFlags and returns --host-timeout.
func timeLimits(c *cli.Context) (time.Duration, error) {
	host := c.Duration("host-timeout")
	if host < 0 {
		return 0, withCode(exitInvalid, fmt.Errorf("--host-timeout %s: want 0 (no limit) or more", host))
	}
	if d := c.Duration("request-timeout"); d < 0 || c.IsSet("request-timeout") && d == 0 {
		return 0, withCode(exitInvalid, fmt.Errorf("--request-timeout %s: want a positive duration", d))
	}
	return host, nil
}

// connector reaches inventory hosts through one transport pool.
func connector(inv *inventory.Inventory, pool *transport.Pool) push.Connector[executors.Host] {
	return push.ConnectorFunc[executors.Host](func(ctx context.Context, name string) (executors.Host, error) {
		h, ok := inv.Host(name)
		if !ok {
			return nil, fmt.Errorf("host %q is not in the inventory", name)
		}
		conn, err := pool.Get(ctx, targetOf(h))
		if err != nil {
			return nil, err
		}
		return conn, nil
	})
}

func targetOf(h inventory.Host) transport.Target {
	return transport.Target{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User,
		IdentityFile: h.IdentityFile, KnownHostsFile: h.KnownHosts, ProxyJump: h.ProxyJump,
		Become: h.Become, Local: h.Connection == "local"}
}

func newPool(c *cli.Context) (*transport.Pool, error) {
	return newLoggedPool(c, nil)
}

// newLoggedPool is newPool with the --verbose/--debug log (nil: none).
func newLoggedPool(c *cli.Context, log *slog.Logger) (*transport.Pool, error) {
	persist, err := persistOptions(c)
	if err != nil {
		return nil, err
	}
	return transport.NewPool(transport.PoolOptions{AcceptNewHostKeys: c.Bool("accept-new-host-keys"), Logger: log,
		Bounds: transport.Bounds{Request: c.Duration("request-timeout")}, Persist: persist})
}

// runRollout runs job over hosts with the renderers the flags ask for,
// prints the recap, writes the reports and turns the result into an exit
// code. Everything printed passes through masker.
func runRollout(c *cli.Context, inv *inventory.Inventory, hosts []string, job push.Job[executors.Host], opts push.Options, masker *secrets.Masker) error {
	return rollout(c, inv, hosts, job, opts, masker, false)
}

// rollout is runRollout; check (envoys check) prints no live progress,
// only the drift found (report.Check), and exits with the check's codes,
// which push --dry-run --detailed-exitcode shares.
func rollout(c *cli.Context, inv *inventory.Inventory, hosts []string, job push.Job[executors.Host], opts push.Options, masker *secrets.Masker, check bool) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	log, closeLog, err := openDebugLog(c, masker)
	if err != nil {
		return err
	}
	defer closeLog()
	pool, err := newLoggedPool(c, log)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	defer pool.Close()
	connect := loggedConnector(connector(inv, pool), log)
	if opts.Lock != nil {
		opts.Lock.Owner = lock.NewOwner(opts.Command)
	}

	out := c.App.Writer
	collector := report.NewCollector()
	sinks := []event.Sink{collector}
	colour := false
	if format == "text" && !check {
		if f, ok := out.(*os.File); ok && report.IsTerminal(f) {
			sinks = append(sinks, report.NewTTYFile(f))
			colour = os.Getenv("NO_COLOR") == ""
		} else {
			sinks = append(sinks, report.NewPlain(out))
		}
	}
	sinks = append(sinks, logSink(log))
	opts.Sink = masker.Sink(event.Serial(event.Tee(sinks...)))
	// The transport never prints; what it has to say about the
	// configuration (ssh_config blocks it skipped) is shown here.
	for _, w := range pool.Warnings() {
		opts.Sink.Emit(event.Event{Time: time.Now(), Kind: event.Warning, Error: w})
	}

	ctx := c.Context
	res := push.Run(ctx, hosts, connect, job, opts)
	run := collector.Run()

	code := exitOK
	var checked []report.CheckHost
	switch {
	case check || (opts.DryRun && c.Bool("detailed-exitcode")):
		checked = report.Check(run)
		code = checkExitCode(checked, ctx.Err() != nil)
	case ctx.Err() != nil:
		code = exitInterrupted
	case res.Count(event.StatusFailed) > 0, res.Count(event.StatusRolledBack) > 0:
		code = exitHostFailed
	case res.Count(event.StatusRefused) > 0:
		code = exitHostKey
	case res.Count(event.StatusUnreachable) > 0:
		code = exitUnreachable
	}
	var werr error
	keep := func(err error) {
		if err != nil && werr == nil {
			werr = err
		}
	}
	if path := c.String("report"); path != "" {
		junit := run
		if checked != nil {
			junit = report.DriftAsFailures(run) // drift fails its test case
		}
		keep(writeFileMasked(path, masker, func(w io.Writer) error { return report.WriteJUnit(w, junit) }))
	}
	if path := c.String("report-html"); path != "" {
		keep(writeFileMasked(path, masker, func(w io.Writer) error { return report.WriteHTML(w, run, code) }))
	}
	mw := masker.Writer(out)
	switch {
	case check && format == "json":
		keep(report.WriteCheckJSON(mw, run, checked, code))
	case check:
		keep(report.WriteCheckText(mw, checked))
		if code == exitOK {
			fmt.Fprintf(mw, "%s in sync\n", report.Plural(len(checked), "host"))
		}
	case format == "json":
		keep(report.WriteJSON(mw, run, code))
	default:
		report.WriteRecap(mw, run, colour)
	}
	mw.Close()
	if werr != nil && code == exitOK {
		return withCode(exitError, werr)
	}
	if code == exitOK {
		return nil
	}
	if checked != nil {
		what := "check"
		if !check {
			what = "dry run"
		}
		return withCode(code, masker.Error(checkSummary(what, checked, code)))
	}
	return withCode(code, masker.Error(summaryError(res, code)))
}

func summaryError(res push.Result, code int) error {
	var parts []string
	for _, s := range []string{event.StatusFailed, event.StatusRolledBack, event.StatusUnreachable, event.StatusRefused, event.StatusSkipped} {
		if n := res.Count(s); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	msg := report.Plural(len(res.Hosts), "host") + ": " + strings.Join(parts, ", ")
	if code == exitInterrupted {
		msg = "interrupted; " + msg
	}
	return errors.New(msg)
}

func writeFileMasked(path string, masker *secrets.Masker, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	mw := masker.Writer(f)
	err = write(mw)
	if cerr := mw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
