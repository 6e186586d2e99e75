// Package converge makes one host match its desired state: it observes
// the host once, plans every resource (pure), and unless it is a dry run
// applies the steps in order, running the refresh of the resources that a
// change notified. It emits one event per resource and never prints. It
// knows nothing of other hosts: batches and failure policy across hosts
// belong to push.
//
// Order of notified resources: a listener that comes after the resource
// that triggered it runs at its own position in the order, once, however
// many resources triggered it (its own change, if it has one, stands for
// the refresh: a container recreated is not restarted again). A listener
// that comes before its trigger (it already ran) runs its refresh once
// after the last resource of the host, in apply order. A failed resource
// stops the host: every later resource, deferred refreshes included, is
// reported skipped.
package converge

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors"
)

// Options says how to converge one host.
type Options struct {
	// DryRun plans and reports without changing anything.
	DryRun bool
	// Secrets maps every secret path the host's resources reference to
	// its resolved value. A missing path fails the host before any change.
	Secrets map[string]string
	// StockpileDir is where file resources read their source from.
	StockpileDir string
	// SourceOutside lets a source be a symlink out of StockpileDir.
	SourceOutside bool
	// Sink receives the events (nil: discarded).
	Sink event.Sink
	// Batch is copied into the events (1-based; 0: none).
	Batch int
	// Gate, when set, is called after planning and before the first
	// change (never in a dry run, nor when the plan changes nothing):
	// push takes the host's lock there. observed is when observing
	// started; replan says the lock does not cover that time (another
	// run held it meanwhile), so the host is observed and planned again
	// under the lock. An error stops the host before any change and
	// before any resource event.
	Gate func(ctx context.Context, observed time.Time) (replan bool, err error)
	// Run is the run's ID, recorded on the containers it creates, so that
	// push --rollback-on-failure can tell them (executors.LabelRun).
	Run string
}

// Result sums up one host's run.
type Result struct {
	Host                         string
	OK, Changed, Failed, Skipped int
	Plan                         string // every step's text form, in order
	Steps                        []executors.Step
	Err                          error
	// Phases: how long observe, plan, gate (waiting for the lock) and
	// apply took.
	Phases map[string]time.Duration
}

type status int

const (
	pending status = iota
	stOK
	stChanged
	stFailed
	stSkipped
)

type runner struct {
	h     executors.Host
	dh    desired.Host
	opts  Options
	specs []executors.Spec
	// listeners[i] are the indexes of the resources notified by i.
	listeners [][]int
	state     *executors.State
	steps     []executors.Step
	status    []status
	triggered map[int][]string // listener -> names of the resources that triggered it
	deferred  map[int]bool
	dirty     map[string]bool // state keys changed by applied resources
}

// Run converges one host. The error is the first failure (also in
// Result.Err); the result is filled in either case.
func Run(ctx context.Context, h executors.Host, dh desired.Host, opts Options) (Result, error) {
	r := &runner{h: h, dh: dh, opts: opts, triggered: map[int][]string{}, deferred: map[int]bool{}, dirty: map[string]bool{}}
	res := Result{Host: dh.Name}
	r.status = make([]status, len(dh.Resources))
	r.steps = make([]executors.Step, len(dh.Resources))

	if i, err := r.prepare(); err != nil {
		return r.fail(res, i, err)
	}
	var needs executors.Needs
	for _, sp := range r.specs {
		sp.Needs(&needs)
	}
	res.Phases = map[string]time.Duration{}
	observed := time.Now()
	if err := r.observe(ctx, needs, &res); err != nil {
		return r.fail(res, -1, err)
	}
	if opts.DryRun {
		r.dryRun()
		return r.finish(res, nil)
	}
	if opts.Gate != nil && r.changes() {
		t := time.Now()
		replan, err := opts.Gate(ctx, observed)
		res.Phases["gate"] = time.Since(t)
		if err != nil {
			// Nothing was changed and no resource was reported: the
			// host failed before its resources (the lock).
			res.Err = err
			return res, err
		}
		if replan {
			if err := r.observe(ctx, needs, &res); err != nil {
				return r.fail(res, -1, err)
			}
		}
	}
	t := time.Now()
	err := r.apply(ctx)
	res.Phases["apply"] = time.Since(t)
	return r.finish(res, err)
}

// changes says whether the plan changes anything.
func (r *runner) changes() bool {
	for _, s := range r.steps {
		if s.Changes() {
			return true
		}
	}
	return false
}

// observe reads everything needs asks for and plans every resource.
func (r *runner) observe(ctx context.Context, needs executors.Needs, res *Result) error {
	t := time.Now()
	st, err := executors.Observe(ctx, r.h, needs)
	res.Phases["observe"] += time.Since(t)
	if st != nil {
		r.warn(-1, st.Warnings)
		st.Warnings = nil
	}
	if err != nil {
		return fmt.Errorf("observe: %w", err)
	}
	t = time.Now()
	r.state = st
	for i, sp := range r.specs {
		r.steps[i] = executors.Plan(sp, st)
	}
	res.Phases["plan"] += time.Since(t)
	return nil
}

// prepare decodes every resource and links listeners. On error it
// returns the index of the resource at fault. Secret references were
// checked and resolved by push (Options.Secrets); decoding looks each
// one up, and one without a value fails the host here, before anything
// is observed or changed.
func (r *runner) prepare() (int, error) {
	env := executors.Env{StockpileDir: r.opts.StockpileDir, SourceOutside: r.opts.SourceOutside, Secrets: r.opts.Secrets, Run: r.opts.Run}
	byTarget := map[string][]byte{}
	for i, res := range r.dh.Resources {
		sp, err := executors.Decode(res, env)
		if err != nil {
			return i, err
		}
		r.specs = append(r.specs, sp)
		if f, ok := sp.(interface {
			TargetPath() string
			FileContent() []byte
		}); ok && f.FileContent() != nil {
			byTarget[f.TargetPath()] = f.FileContent()
		}
	}
	for _, sp := range r.specs {
		if c, ok := sp.(interface {
			ComposeFile() string
			SetFileContent([]byte)
		}); ok {
			if b, found := byTarget[c.ComposeFile()]; found {
				c.SetFileContent(b)
			}
		}
	}
	return r.link()
}

// link resolves notify and subscribes into listener lists, deduplicated.
func (r *runner) link() (int, error) {
	res := r.dh.Resources
	r.listeners = make([][]int, len(res))
	seen := map[[2]int]bool{}
	add := func(src, dst int) {
		if src == dst || seen[[2]int{src, dst}] {
			return
		}
		seen[[2]int{src, dst}] = true
		r.listeners[src] = append(r.listeners[src], dst)
	}
	for i, x := range res {
		for _, n := range x.Notify {
			j, err := r.lookup(n)
			if err != nil {
				return i, fmt.Errorf("%s: resource %q notify: %w", x.Pos, x.Name, err)
			}
			add(i, j)
		}
		for _, n := range x.Subscribes {
			j, err := r.lookup(n)
			if err != nil {
				return i, fmt.Errorf("%s: resource %q subscribes: %w", x.Pos, x.Name, err)
			}
			add(j, i)
		}
	}
	for i := range r.listeners {
		sort.Ints(r.listeners[i])
	}
	return -1, nil
}

// lookup finds a resource by its ID ("module/name"): references were
// resolved once, by the loader, and desired carries them as IDs.
func (r *runner) lookup(id string) (int, error) {
	for i, x := range r.dh.Resources {
		if x.ID() == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no resource %q on this host", id)
}

// dryRun reports the plan, including the refreshes that the planned
// changes would trigger.
func (r *runner) dryRun() {
	for i := range r.specs {
		if r.steps[i].Changes() {
			r.trigger(i)
		}
	}
	for i, sp := range r.specs {
		st := r.steps[i]
		if names := r.triggered[i]; len(names) > 0 {
			st.Triggered = names
			if st.Action == executors.ActionNone && sp.RefreshAction() != executors.ActionNone {
				st.Action = sp.RefreshAction()
				st.Reason = "notified"
			}
			r.steps[i] = st
		}
		r.emit(event.ResourcePlanned, i, st, 0, nil)
		r.status[i] = stOK
		if st.Changes() {
			r.status[i] = stChanged
		}
	}
}

// trigger marks the listeners of i as triggered; listeners already passed
// are deferred to the end of the host's run.
func (r *runner) trigger(i int) {
	name := r.dh.Resources[i].Name
	for _, j := range r.listeners[i] {
		if !slices.Contains(r.triggered[j], name) {
			r.triggered[j] = append(r.triggered[j], name)
		}
		if j < i {
			r.deferred[j] = true
		}
	}
}

func (r *runner) apply(ctx context.Context) error {
	for i := range r.specs {
		if err := ctx.Err(); err != nil {
			return r.skipFrom(i, err)
		}
		if err := r.applyOne(ctx, i, false); err != nil {
			return r.skipFrom(i+1, err)
		}
	}
	var later []int
	for j := range r.deferred {
		later = append(later, j)
	}
	sort.Ints(later)
	for n, j := range later {
		if err := ctx.Err(); err != nil {
			r.skipDeferred(later[n:])
			return err
		}
		if err := r.applyOne(ctx, j, true); err != nil {
			r.skipDeferred(later[n+1:])
			return err
		}
	}
	return nil
}

// applyOne re-observes and re-plans the resource when something it reads
// changed, applies its step, and runs its refresh when it was notified and
// its step changed nothing.
func (r *runner) applyOne(ctx context.Context, i int, deferredRun bool) error {
	sp := r.specs[i]
	start := time.Now()
	if r.touched(sp) || deferredRun {
		var needs executors.Needs
		sp.Needs(&needs)
		o, err := executors.Observe(ctx, r.h, needs)
		if o != nil {
			r.warn(i, o.Warnings)
			o.Warnings = nil
		}
		if err != nil {
			return r.failed(i, r.steps[i], start, fmt.Errorf("observe: %w", err))
		}
		r.state.Merge(o)
		r.steps[i] = executors.Plan(sp, r.state)
	}
	st := r.steps[i]
	names := r.triggered[i]
	if deferredRun || (len(names) > 0 && !r.deferred[i]) {
		st.Triggered = names
	}
	var out executors.Outcome
	var err error
	switch {
	case st.Action != executors.ActionNone:
		out, err = executors.Apply(ctx, r.h, st)
	case len(st.Triggered) > 0 && sp.RefreshAction() != executors.ActionNone:
		st.Action = sp.RefreshAction()
		st.Reason = "notified"
		out, err = sp.Refresh(ctx, r.h, r.state)
	}
	r.warn(i, out.Warnings)
	if err != nil {
		return r.failed(i, st, start, fmt.Errorf("%s: resource %q (%s): %s: %w", r.dh.Resources[i].Pos, st.Resource, st.Type, st.Action, err))
	}
	if out.Detail != "" {
		if st.Reason != "" {
			st.Reason += "; "
		}
		st.Reason += out.Detail
	}
	r.steps[i] = st
	if out.Changed {
		for _, k := range sp.Touches() {
			r.dirty[k] = true
		}
		r.trigger(i)
		r.status[i] = stChanged
		r.emit(event.ResourceChanged, i, st, time.Since(start), nil)
		return nil
	}
	if r.status[i] != stChanged {
		r.status[i] = stOK
	}
	ok := st
	if ok.Action != executors.ActionNone && !out.Changed {
		ok.Diff = nil // nothing changed after all (e.g. pull: always, same ID)
	}
	r.emit(event.ResourceOK, i, ok, time.Since(start), nil)
	return nil
}

func (r *runner) touched(sp executors.Spec) bool {
	for _, k := range sp.Keys() {
		if r.dirty[k] {
			return true
		}
	}
	return false
}

func (r *runner) failed(i int, st executors.Step, start time.Time, err error) error {
	r.status[i] = stFailed
	r.steps[i] = st
	r.emit(event.ResourceFailed, i, st, time.Since(start), err)
	return err
}

func (r *runner) skipFrom(i int, err error) error {
	for j := i; j < len(r.specs); j++ {
		if r.status[j] == pending {
			r.status[j] = stSkipped
			r.emit(event.ResourceSkipped, j, r.steps[j], 0, nil)
		}
	}
	var later []int
	for j := range r.deferred {
		if j < i {
			later = append(later, j)
		}
	}
	sort.Ints(later)
	r.skipDeferred(later)
	return err
}

// skipDeferred reports refreshes that will not run because the host failed.
func (r *runner) skipDeferred(js []int) {
	for _, j := range js {
		st := r.steps[j]
		st.Action = r.specs[j].RefreshAction()
		st.Reason = "refresh not run: an earlier resource failed"
		st.Triggered = r.triggered[j]
		r.emit(event.ResourceSkipped, j, st, 0, nil)
	}
}

// fail reports a failure before any resource ran: the resource at fault
// (if one is) failed, every other one skipped.
func (r *runner) fail(res Result, at int, err error) (Result, error) {
	for i, x := range r.dh.Resources {
		st := executors.Step{Resource: x.Name, Type: x.Type, Action: executors.ActionNone}
		if i == at {
			r.status[i] = stFailed
			r.emit(event.ResourceFailed, i, st, 0, err)
			continue
		}
		r.status[i] = stSkipped
		st.Reason = "not run: the host failed before any change"
		r.emit(event.ResourceSkipped, i, st, 0, nil)
	}
	return r.finish(res, err)
}

func (r *runner) finish(res Result, err error) (Result, error) {
	var b strings.Builder
	for i, st := range r.steps {
		if st.Resource == "" {
			st.Resource, st.Type = r.dh.Resources[i].Name, r.dh.Resources[i].Type
		}
		b.WriteString(st.String())
		switch r.status[i] {
		case stOK:
			res.OK++
		case stChanged:
			res.Changed++
		case stFailed:
			res.Failed++
		case stSkipped:
			res.Skipped++
		}
	}
	res.Plan = b.String()
	res.Steps = r.steps
	res.Err = err
	return res, err
}

func (r *runner) emit(kind event.Kind, i int, st executors.Step, d time.Duration, err error) {
	x := r.dh.Resources[i]
	e := event.Event{Kind: kind, Resource: x.Name, Type: x.Type, Action: string(st.Action), Reason: st.Reason, Diff: st.Diff, Duration: d}
	if e.Action == "" {
		e.Action = string(executors.ActionNone)
	}
	if len(st.Triggered) > 0 {
		e.Reason = strings.TrimSpace(e.Reason + " [notified by " + strings.Join(st.Triggered, ", ") + "]")
	}
	if err != nil {
		e.Error = err.Error()
	}
	r.emitRaw(e)
}

// warn emits one Warning event per message (i: the resource concerned,
// -1: none in particular).
func (r *runner) warn(i int, msgs []string) {
	for _, m := range msgs {
		e := event.Event{Kind: event.Warning, Reason: m}
		if i >= 0 {
			e.Resource, e.Type = r.dh.Resources[i].Name, r.dh.Resources[i].Type
		}
		r.emitRaw(e)
	}
}

func (r *runner) emitRaw(e event.Event) {
	if r.opts.Sink == nil {
		return
	}
	e.Time = time.Now()
	e.Host = r.dh.Name
	e.Batch = r.opts.Batch
	e.DryRun = r.opts.DryRun
	r.opts.Sink.Emit(e)
}
