// Package push is the multi-host engine of vigo: it rolls a job (a
// converge of each host's desired state, or an operator's task command)
// through the selected hosts in batches, with a bounded number of hosts at
// once, a lock per host, a health check after each host and an explicit
// failure policy. It is the only package that knows about more than one
// host at a time. It emits events and never formats output.
package push

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// Health is the check run on each host after its job succeeded.
type Health struct {
	Cmd      string        // operator-written shell command; empty: no check
	Retries  int           // extra attempts after the first failure
	Interval time.Duration // between attempts
	Timeout  time.Duration // per attempt; 0: none
}

// Options are the knobs of one rollout.
type Options struct {
	BatchSize Size // zero: one batch of every host
	Parallel  int  // hosts at once inside a batch; 0: the whole batch
	// MaxFail is how many failed, unreachable or refused hosts the rollout
	// tolerates before it stops starting batches (default 0: the first
	// failure stops the rollout after the current batch).
	MaxFail Size
	// FailFast stops starting hosts as soon as one fails, even inside the
	// current batch. Hosts already running finish their job.
	FailFast bool
	Health   Health
	// HostHealth, when it has the host, is that host's health check
	// instead of Health (a stockpile's rollout policy is per envoy).
	HostHealth map[string]Health
	// DryRun: the job only plans; no lock is taken, no health check runs,
	// and failures never halt the rollout, so every host is planned.
	DryRun bool
	// RollbackOnFailure: a host whose health check fails after its job
	// changed something runs Job.Rollback, is checked again and ends
	// rolled_back (which counts as a failure: the rollout halts as for a
	// failed host).
	RollbackOnFailure bool
	Lock              *lock.Locker // nil: no lock
	Command           string       // what the run does, for events
	Sink              event.Sink

	// HostTimeout bounds everything done for one host: connect, lock,
	// job, health check (0: no limit). A host past it fails alone; the
	// lock is still released.
	HostTimeout time.Duration
}

// HostResult is how one host ended.
type HostResult struct {
	Host     string
	Batch    int
	Status   string // event.Status*
	Outcome  Outcome
	Err      error // a *event.HostError; nil when the host succeeded
	Duration time.Duration
}

// Result is the whole rollout.
type Result struct {
	Hosts    []HostResult // in the order of the hosts given
	Halted   string       // non-empty: why later hosts were skipped
	Duration time.Duration
	// Err joins every host's error (errors.Join), nil when all succeeded.
	Err error
}

// Count returns how many hosts ended with status.
func (r Result) Count(status string) int {
	n := 0
	for _, h := range r.Hosts {
		if h.Status == status {
			n++
		}
	}
	return n
}

// Run rolls job through hosts batch by batch, reaching each host through
// connect. It returns when every host has finished or been skipped; a
// cancelled ctx (Ctrl-C) stops starting hosts, cancels the running jobs,
// releases their locks and still returns a complete Result.
func Run[C lock.Runner](ctx context.Context, hosts []string, connect Connector[C], job Job[C], opts Options) Result {
	sink := opts.Sink
	if sink == nil {
		sink = event.Discard
	}
	start := time.Now()
	batches := Batches(hosts, opts.BatchSize)
	allowed := opts.MaxFail.Allowed(len(hosts))
	sink.Emit(event.Event{Time: start, Kind: event.RunStarted, Hosts: hosts, Batches: len(batches), Command: opts.Command, DryRun: opts.DryRun})

	results := make(map[string]*HostResult, len(hosts))
	var mu sync.Mutex
	var releases sync.WaitGroup
	failures := 0
	bad := map[string][]string{} // failed, unreachable and refused hosts, by status
	halted := ""                 // the whole story, once, in Result.Halted
	skipWhy := ""                // the short reason on each skipped host

	skip := func(host string, batch int, why string) {
		mu.Lock()
		results[host] = &HostResult{Host: host, Batch: batch, Status: event.StatusSkipped}
		mu.Unlock()
		sink.Emit(event.Event{Time: time.Now(), Kind: event.HostSkipped, Host: host, Batch: batch, Reason: why})
	}

	for bi, batch := range batches {
		b := bi + 1
		if halted == "" && ctx.Err() != nil {
			halted, skipWhy = "interrupted", "interrupted"
		}
		if halted != "" {
			for _, h := range batch {
				skip(h, b, skipWhy)
			}
			continue
		}
		bstart := time.Now()
		sink.Emit(event.Event{Time: bstart, Kind: event.BatchStarted, Batch: b, Batches: len(batches), Hosts: batch})
		var g errgroup.Group
		if opts.Parallel > 0 {
			g.SetLimit(opts.Parallel)
		}
		stopStarting := false // under mu: fail-fast tripped
		for _, h := range batch {
			// g.Go blocks while the limit is reached, so the check below
			// runs just before the host would start.
			g.Go(func() error {
				mu.Lock()
				why := ""
				switch {
				case ctx.Err() != nil:
					why = "interrupted"
				case stopStarting:
					why = "fail-fast: another host failed"
				}
				mu.Unlock()
				if why != "" {
					skip(h, b, why)
					return nil
				}
				hr := runHost(ctx, h, b, connect, job, opts, sink, &releases)
				mu.Lock()
				results[h] = &hr
				if hr.Status == event.StatusFailed || hr.Status == event.StatusUnreachable || hr.Status == event.StatusRefused || hr.Status == event.StatusRolledBack {
					failures++
					bad[hr.Status] = append(bad[hr.Status], h)
					if opts.FailFast && !opts.DryRun {
						stopStarting = true
					}
				}
				mu.Unlock()
				return nil
			})
		}
		_ = g.Wait()
		sink.Emit(event.Event{Time: time.Now(), Kind: event.BatchFinished, Batch: b, Batches: len(batches), Duration: time.Since(bstart)})
		switch {
		case ctx.Err() != nil:
			halted, skipWhy = "interrupted", "interrupted"
		case opts.DryRun:
		case opts.FailFast && failures > 0:
			halted = fmt.Sprintf("fail-fast in batch %d/%d: %s", b, len(batches), badHosts(bad))
			skipWhy = "rollout stopped: fail-fast"
		case failures > allowed && bi+1 < len(batches): // after the last batch nothing is stopped
			halted = fmt.Sprintf("after batch %d/%d: %s, more than --max-fail %s allows (%d)", b, len(batches), badHosts(bad), maxFailText(opts.MaxFail), allowed)
			skipWhy = fmt.Sprintf("rollout stopped after batch %d: more than --max-fail %s", b, maxFailText(opts.MaxFail))
		}
		if halted != "" && halted != "interrupted" && bi+1 < len(batches) {
			n := 0
			for _, later := range batches[bi+1:] {
				n += len(later)
			}
			halted += fmt.Sprintf("; %d host(s) not started", n)
		}
	}

	// Locks are released in the background (a host is finished when its
	// work is); the run ends when every lock is released.
	releases.Wait()
	res := Result{Halted: halted, Duration: time.Since(start)}
	var errs []error
	for _, h := range hosts {
		hr := results[h]
		if hr == nil { // cannot happen; keep the Result complete anyway
			hr = &HostResult{Host: h, Status: event.StatusSkipped}
		}
		res.Hosts = append(res.Hosts, *hr)
		if hr.Err != nil {
			errs = append(errs, hr.Err)
		}
	}
	res.Err = errors.Join(errs...)
	sink.Emit(event.Event{Time: time.Now(), Kind: event.RunFinished, Duration: res.Duration, Reason: halted, DryRun: opts.DryRun})
	return res
}

// badHosts names the hosts that count against --max-fail, failed,
// unreachable and refused apart (a few names each): "1 failed (web6),
// 1 unreachable (web5)".
func badHosts(bad map[string][]string) string {
	var parts []string
	for _, st := range []string{event.StatusFailed, event.StatusUnreachable, event.StatusRefused} {
		hs := slices.Clone(bad[st])
		if len(hs) == 0 {
			continue
		}
		slices.Sort(hs)
		const show = 3
		names := strings.Join(hs[:min(len(hs), show)], ", ")
		if len(hs) > show {
			names += fmt.Sprintf(" and %d more", len(hs)-show)
		}
		what := st
		if st == event.StatusRefused {
			what = "refused (host key)"
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", len(hs), what, names))
	}
	return strings.Join(parts, ", ")
}

func maxFailText(s Size) string {
	if s.IsZero() {
		return "0"
	}
	return s.String()
}

// hostSink tags every event a job emits with its host and batch.
func hostSink(s event.Sink, host string, batch int) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		if e.Host == "" {
			e.Host = host
		}
		if e.Batch == 0 {
			e.Batch = batch
		}
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		s.Emit(e)
	})
}

// runHost does everything for one host: prepare, connect, the job (which
// takes the host's lock at its gate, before its first change), health
// check (under the lock), unlock. It never returns early without a
// HostFinished (or HostUnreachable) event.
func runHost[C lock.Runner](ctx context.Context, host string, batch int, connect Connector[C], job Job[C], opts Options, sink event.Sink, releases *sync.WaitGroup) (hr HostResult) {
	start := time.Now()
	hs := hostSink(sink, host, batch)
	hr = HostResult{Host: host, Batch: batch}
	hs.Emit(event.Event{Kind: event.HostStarted, Time: start})
	phases := map[string]time.Duration{}
	defer func() {
		hr.Duration = time.Since(start)
		ev := event.Event{Kind: event.HostFinished, Status: hr.Status, Duration: hr.Duration, Phases: phases}
		if hr.Status == event.StatusUnreachable {
			ev.Kind = event.HostUnreachable
		}
		if he := (*event.HostError)(nil); errors.As(hr.Err, &he) {
			ev.Error = he.Cause() // the host is ev.Host
		}
		hs.Emit(ev)
	}()
	parent := ctx
	if opts.HostTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = transport.WithTimeout(ctx, opts.HostTimeout, "host", "--host-timeout")
		defer cancel()
	}
	fail := func(err error) HostResult {
		if ctx.Err() != nil && parent.Err() == nil {
			// The host deadline ended it: say so, whatever the call
			// that noticed made of it.
			if cause := context.Cause(ctx); !errors.Is(err, cause) {
				err = fmt.Errorf("%w: %w", cause, err)
			}
		}
		var hke *transport.HostKeyError
		switch {
		case errors.As(err, &hke): // before ErrUnreachable, which it also is
			hr.Status = event.StatusRefused
		case errors.Is(err, transport.ErrUnreachable):
			hr.Status = event.StatusUnreachable
		default:
			hr.Status = event.StatusFailed
		}
		hr.Err = &event.HostError{Host: host, Err: err}
		return hr
	}

	if job.Prepare != nil {
		if err := job.Prepare(ctx, host); err != nil {
			return fail(err)
		}
	}
	t := time.Now()
	r, err := connect.Connect(ctx, host)
	phases["connect"] = time.Since(t)
	if err != nil {
		return fail(err)
	}
	// The connection is given back once the host is done, its lock
	// released included, so that a run holds the connections of the hosts
	// it works on, not the fleet's.
	done := func() {}
	if rel, ok := any(r).(Releaser); ok {
		done = rel.Release
	}
	// The lock is taken when the job first calls its gate (before its
	// first change): a host with nothing to change is never locked.
	hl := &hostLock{}
	if opts.Lock != nil && !opts.DryRun {
		hl = newHostLock(ctx, opts.Lock, r, hs)
	}
	defer func() {
		held := hl.stop()
		if hl.started() {
			phases["lock"] = hl.took
		}
		if !held {
			done()
			return
		}
		releases.Add(1)
		go func() {
			defer releases.Done()
			hl.release(ctx, host, hs)
			done()
		}()
	}()
	out, err := job.Run(ctx, Host[C]{Name: host, Batch: batch, Conn: r, Sink: hs, Gate: hl.gate})
	for k, v := range out.Phases {
		phases[k] = v
	}
	hr.Outcome = out
	if err == nil && out.Failed > 0 {
		err = fmt.Errorf("%d resource(s) failed", out.Failed)
	}
	if err != nil {
		return fail(err)
	}
	health := opts.Health
	if h, ok := opts.HostHealth[host]; ok {
		health = h
	}
	if health.Cmd != "" && !opts.DryRun {
		// A health check runs under the host's lock, also on a host the
		// job did not change (and so did not lock): another run may be
		// recreating its containers right now. (The gate takes the lock
		// once; on a locked host it returns at once.)
		if _, err := hl.gate(ctx, time.Now()); err != nil {
			return fail(err)
		}
		t := time.Now()
		err := healthCheck(ctx, r, health, hs)
		phases["health"] = time.Since(t)
		if err != nil && opts.RollbackOnFailure && job.Rollback != nil && out.Changed > 0 && ctx.Err() == nil {
			t := time.Now()
			rerr := rollBack(ctx, Host[C]{Name: host, Batch: batch, Conn: r, Sink: hs, Gate: hl.gate}, job, health)
			phases["rollback"] = time.Since(t)
			if rerr != nil {
				return fail(fmt.Errorf("%w; %w", err, rerr))
			}
			hr.Status, hr.Err = event.StatusRolledBack, &event.HostError{Host: host, Err: fmt.Errorf("%w; rolled back to what ran before", err)}
			return hr
		}
		if err != nil {
			return fail(err)
		}
	}
	switch {
	case out.Changed > 0:
		hr.Status = event.StatusChanged
	case out.Ran > 0:
		hr.Status = event.StatusRan
	default:
		hr.Status = event.StatusOK
	}
	return hr
}

// rollBack runs the job's rollback after a failed health check and checks
// the host again: nil means the host is back on what it ran before and
// healthy there.
func rollBack[C lock.Runner](ctx context.Context, h Host[C], job Job[C], health Health) error {
	hs, r := h.Sink, h.Conn
	hs.Emit(event.Event{Kind: event.RollbackStarted, Reason: "health check failed"})
	out, err := job.Rollback(ctx, h)
	if err == nil && out.Failed > 0 {
		err = fmt.Errorf("%d resource(s) failed", out.Failed)
	}
	if err != nil {
		return fmt.Errorf("rollback failed: %w", err)
	}
	if out.Changed == 0 {
		return errors.New("nothing to roll back to (no earlier deployment recorded)")
	}
	if err := healthCheck(ctx, r, health, hs); err != nil {
		return fmt.Errorf("rolled back, and the %w", err)
	}
	return nil
}

// hostLock is the lock of one host, taken when the job first calls its
// gate.
type hostLock struct {
	l      *lock.Locker // nil: no lock (dry run, no Locker)
	ctx    context.Context
	r      lock.Runner
	hs     event.Sink
	start  sync.Once
	done   chan struct{} // closed when Acquire returned; nil: not taken
	cancel context.CancelFunc
	held   *lock.Held
	err    error
	once   sync.Once     // LockAcquired is emitted once
	took   time.Duration // how long Acquire took
}

func newHostLock(ctx context.Context, l *lock.Locker, r lock.Runner, hs event.Sink) *hostLock {
	return &hostLock{l: l, ctx: ctx, r: r, hs: hs}
}

// begin starts taking the lock in the background.
func (hl *hostLock) begin() {
	lctx, cancel := context.WithCancel(hl.ctx)
	hl.done, hl.cancel = make(chan struct{}), cancel
	go func() {
		defer close(hl.done)
		t := time.Now()
		hl.held, hl.err = hl.l.Acquire(lctx, hl.r,
			func(st lock.State) {
				hl.hs.Emit(event.Event{Kind: event.LockWaiting, Reason: "held by " + st.Owner.String()})
			},
			func(st lock.State) {
				hl.hs.Emit(event.Event{Kind: event.LockBroken, Reason: st.Stale + "; was held by " + st.Owner.String()})
			})
		hl.took = time.Since(t)
	}()
}

// started says whether the lock was asked for.
func (hl *hostLock) started() bool { return hl.done != nil }

// gate takes the lock and waits for it, and says whether observations
// that started at observed must be made again. Without a lock it
// returns at once.
func (hl *hostLock) gate(ctx context.Context, observed time.Time) (bool, error) {
	if hl.l == nil {
		return false, nil
	}
	if err := ctx.Err(); err != nil && !hl.started() {
		return false, err // no lock session for a host already given up
	}
	hl.start.Do(hl.begin)
	select {
	case <-hl.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if hl.err != nil {
		return false, hl.err
	}
	hl.once.Do(func() { hl.hs.Emit(event.Event{Kind: event.LockAcquired}) })
	return !hl.held.Covers(observed), nil
}

// stop stops a lock still being taken (an interrupted Acquire leaves no
// lock) and says whether the lock is held.
func (hl *hostLock) stop() (held bool) {
	if !hl.started() {
		return false
	}
	hl.cancel()
	<-hl.done
	if hl.held != nil {
		hl.once.Do(func() { hl.hs.Emit(event.Event{Kind: event.LockAcquired}) })
	}
	return hl.held != nil
}

// release releases the held lock with a fresh, short context (the run's
// may be cancelled: Ctrl-C); LockReleased carries how long it took.
func (hl *hostLock) release(ctx context.Context, host string, hs event.Sink) {
	t := time.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := hl.held.Release(rctx); err != nil {
		hs.Emit(event.Event{Kind: event.Warning, Error: err.Error()}) // hs sets the host
		return
	}
	hs.Emit(event.Event{Kind: event.LockReleased, Duration: time.Since(t)})
}
