package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigo-sh/vigocli/converge"
	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/executors"
)

// ConvergeOptions say how ConvergeJob and RollbackJob converge each
// host.
type ConvergeOptions struct {
	// Hosts is each selected host's desired state, by name.
	Hosts map[string]desired.Host
	// Secrets holds every selected host's resolved secrets (resolved
	// before any login); its Prepare fails a host whose secrets could not
	// be resolved before the host is touched.
	Secrets *FleetSecrets
	// DryRun plans and reports without changing anything.
	DryRun bool
	// StockpileDir is where file resources read their source from;
	// SourceOutside lets a source be a symlink out of it.
	StockpileDir  string
	SourceOutside bool
	// Run is the run's ID, recorded on the containers it creates.
	Run string
}

// ConvergeJob converges each host to its desired state (vigocli envoys
// push, check): converge reads and plans, and takes the host's lock at
// its gate, before its first change; a host it finds converged is not
// locked.
func ConvergeJob(o ConvergeOptions) Job[executors.Host] {
	return Job[executors.Host]{
		Prepare: o.Secrets.Prepare,
		Run: func(ctx context.Context, h Host[executors.Host]) (Outcome, error) {
			return o.converge(ctx, h, o.Hosts[h.Name], h.Gate)
		},
	}
}

// converge runs converge.Run on one host for dh (a rollback converges a
// part of the host's desired state).
func (o ConvergeOptions) converge(ctx context.Context, h Host[executors.Host], dh desired.Host, gate Gate) (Outcome, error) {
	res, err := converge.Run(ctx, h.Conn, dh, converge.Options{
		DryRun: o.DryRun, Secrets: o.Secrets.Values(h.Name),
		StockpileDir: o.StockpileDir, SourceOutside: o.SourceOutside,
		Sink: h.Sink, Batch: h.Batch, Gate: gate, Run: o.Run,
	})
	return Outcome{OK: res.OK, Changed: res.Changed, Failed: res.Failed, Skipped: res.Skipped, Phases: res.Phases}, err
}

// RollbackOptions say what RollbackJob goes back to.
type RollbackOptions struct {
	// To picks the earlier deployment (executors.History.Pick).
	To string
	// OnlyRun: only containers this run created (push
	// --rollback-on-failure), and hosts without one are no error.
	OnlyRun string
	// RolledBack, when set, is told of each container put back: the
	// stockpile's resource, the deployment it goes back to and the
	// resource converged for it. Called from several hosts at once.
	RolledBack func(host string, from desired.Resource, to executors.Deployment, back desired.Resource)
}

// RollbackJob puts each host's containers back on an earlier deployment
// (vigocli envoys rollback, push --rollback-on-failure): each container's
// recorded image with the rest of its spec, secrets included, from the
// current stockpile. The history is read once the lock is held, so that
// a push that held it meanwhile is seen.
func RollbackJob(o ConvergeOptions, ro RollbackOptions) Job[executors.Host] {
	return Job[executors.Host]{
		Prepare: o.Secrets.Prepare,
		Run: func(ctx context.Context, h Host[executors.Host]) (Outcome, error) {
			if _, err := h.Gate(ctx, time.Now()); err != nil {
				return Outcome{}, err
			}
			dh := o.Hosts[h.Name]
			var back []desired.Resource
			for _, res := range dh.Resources {
				if _, ok := executors.ContainerName(res); !ok || res.Fields["state"] == "absent" {
					continue
				}
				hist, err := executors.ReadHistory(ctx, h.Conn, res)
				if err != nil {
					return Outcome{}, err
				}
				if hist.Current == nil || (ro.OnlyRun != "" && hist.Current.Run != ro.OnlyRun) {
					continue
				}
				d, err := hist.Pick(ro.To)
				if errors.Is(err, executors.ErrNoHistory) {
					h.Sink.Emit(event.Event{Kind: event.Warning, Resource: res.Name, Reason: "container " + hist.Container + ": no earlier deployment recorded; left as it is"})
					continue
				}
				if err != nil {
					return Outcome{}, err
				}
				rr, err := executors.RollbackResource(ctx, h.Conn, res, d)
				if err != nil {
					return Outcome{}, fmt.Errorf("container %s: %w", hist.Container, err)
				}
				back = append(back, rr)
				if ro.RolledBack != nil {
					ro.RolledBack(h.Name, res, d, rr)
				}
			}
			if len(back) == 0 {
				if ro.OnlyRun != "" {
					return Outcome{}, nil
				}
				return Outcome{}, errors.New("nothing to roll back: no container of this host has an earlier deployment recorded")
			}
			sub := dh
			sub.Resources = keepOnly(back)
			// The lock is held already: converge needs no gate.
			return o.converge(ctx, h, sub, nil)
		},
	}
}

// keepOnly drops the references to resources not in rs (the
// rollback converges the containers alone).
func keepOnly(rs []desired.Resource) []desired.Resource {
	in := map[string]bool{}
	for _, r := range rs {
		in[r.ID()] = true
	}
	keep := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			if in[id] {
				out = append(out, id)
			}
		}
		return out
	}
	out := make([]desired.Resource, len(rs))
	for i, r := range rs {
		r.DependsOn, r.Notify, r.Subscribes = keep(r.DependsOn), keep(r.Notify), keep(r.Subscribes)
		out[i] = r
	}
	return out
}
