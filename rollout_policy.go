package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/stockpile"
)

// policy is the rollout the stockpile's envoys ask for on a set of hosts
// (envoy rollout:). Batch size, max-fail and parallel apply to the whole
// run, so the selected hosts must agree on them; the health check is per
// host. Fields of later envoys win, as vars do.
type policy struct {
	batchSize, maxFail, parallel setting
	health                       map[string]*stockpile.RolloutHealth // by host
	healthPos                    stockpile.Pos                       // of one of them, for messages
}

// setting is one run-wide field of the policy and where it was written.
type setting struct {
	value string
	pos   stockpile.Pos
	host  string
}

// policyConflict is two selected hosts asking for different run-wide
// values: the run cannot have both.
type policyConflict struct {
	field  string
	a, b   setting
	option string
}

func (e *policyConflict) Error() string {
	return fmt.Sprintf("the envoys' rollout policies disagree on %s for the selected hosts: %s for %s (%s), %s for %s (%s); push them separately (--target) or pass --%s",
		e.field, e.a.value, e.a.host, e.a.pos, e.b.value, e.b.host, e.b.pos, e.option)
}

// hostPolicy merges the rollout of every envoy matching host, in
// stockpile order (later wins, field by field).
func hostPolicy(sp *stockpile.Stockpile, host string) (batch, maxFail, parallel setting, health *stockpile.RolloutHealth) {
	assigned, _ := inventory.Assign([]inventory.Host{{Name: host}}, sp.Envoys)
	if len(assigned) == 0 {
		return
	}
	for _, e := range assigned[0].Envoys {
		if e.Rollout == nil {
			continue
		}
		r := e.Rollout
		if r.BatchSize != "" {
			batch = setting{r.BatchSize, r.FieldPos["batch_size"], host}
		}
		if r.MaxFail != "" {
			maxFail = setting{r.MaxFail, r.FieldPos["max_fail"], host}
		}
		if r.Parallel > 0 {
			parallel = setting{fmt.Sprint(r.Parallel), r.FieldPos["parallel"], host}
		}
		if r.Health != nil {
			health = r.Health
		}
	}
	return batch, maxFail, parallel, health
}

// stockpilePolicy is the policy of the given hosts, or a *policyConflict.
func stockpilePolicy(sp *stockpile.Stockpile, hosts []string) (*policy, error) {
	p := &policy{health: map[string]*stockpile.RolloutHealth{}}
	merge := func(into *setting, s setting, field, option string) error {
		switch {
		case s.value == "":
		case into.value == "":
			*into = s
		case into.value != s.value:
			return &policyConflict{field: field, a: *into, b: s, option: option}
		}
		return nil
	}
	for _, h := range hosts {
		b, m, par, health := hostPolicy(sp, h)
		if err := merge(&p.batchSize, b, "batch_size", "batch-size"); err != nil {
			return nil, err
		}
		if err := merge(&p.maxFail, m, "max_fail", "max-fail"); err != nil {
			return nil, err
		}
		if err := merge(&p.parallel, par, "parallel", "parallel"); err != nil {
			return nil, err
		}
		if health != nil {
			if len(p.health) == 0 {
				p.healthPos = health.Pos
			}
			p.health[h] = health
		}
	}
	return p, nil
}

// empty reports whether no envoy of the hosts has a rollout.
func (p *policy) empty() bool {
	return p.batchSize.value == "" && p.maxFail.value == "" && p.parallel.value == "" && len(p.health) == 0
}

// apply sets the options the flags left unset from the policy: a flag
// given on the command line always wins. It returns what it took, for
// the run's header ("" when nothing).
func (p *policy) apply(c *cli.Context, o *push.Options) (string, error) {
	var took []string
	if p.batchSize.value != "" && !c.IsSet("batch-size") {
		s, err := push.ParseSize(p.batchSize.value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.batchSize.pos, err)
		}
		o.BatchSize = s
		took = append(took, fmt.Sprintf("batch_size %s (%s)", p.batchSize.value, p.batchSize.pos))
	}
	if p.maxFail.value != "" && !c.IsSet("max-fail") {
		s, err := push.ParseSize(p.maxFail.value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.maxFail.pos, err)
		}
		o.MaxFail = s
		took = append(took, fmt.Sprintf("max_fail %s (%s)", p.maxFail.value, p.maxFail.pos))
	}
	if p.parallel.value != "" && !c.IsSet("parallel") {
		fmt.Sscan(p.parallel.value, &o.Parallel)
		took = append(took, fmt.Sprintf("parallel %s (%s)", p.parallel.value, p.parallel.pos))
	}
	if len(p.health) > 0 && !c.IsSet("health-check") {
		o.HostHealth = map[string]push.Health{}
		for host, h := range p.health {
			o.HostHealth[host] = healthOf(c, o.Health, h)
		}
		took = append(took, fmt.Sprintf("health_check on %s (%s)", report.Plural(len(p.health), "host"), p.healthPos))
	}
	return strings.Join(took, ", "), nil
}

// healthOf is a policy's health check, with the fields it leaves unset
// (and those given as flags) taken from the flags.
func healthOf(c *cli.Context, flags push.Health, h *stockpile.RolloutHealth) push.Health {
	out := push.Health{Cmd: h.Command, Retries: flags.Retries, Interval: flags.Interval, Timeout: flags.Timeout}
	if h.Retries != nil && !c.IsSet("health-retries") {
		out.Retries = *h.Retries
	}
	if h.Interval > 0 && !c.IsSet("health-interval") {
		out.Interval = h.Interval
	}
	if h.Timeout > 0 && !c.IsSet("health-timeout") {
		out.Timeout = h.Timeout
	}
	return out
}

// policyBatches is how `envoys push` would batch hosts (in this order)
// with no flag: the policy's batch size, else one batch.
func policyBatches(p *policy, hosts []string) ([][]string, error) {
	var size push.Size
	if p.batchSize.value != "" {
		s, err := push.ParseSize(p.batchSize.value)
		if err != nil {
			return nil, err
		}
		size = s
	}
	return push.Batches(hosts, size), nil
}

// healthText is one host's policy health check in one line.
func healthText(h *stockpile.RolloutHealth) string {
	if h == nil {
		return ""
	}
	s := h.Command
	var opts []string
	if h.Retries != nil {
		opts = append(opts, fmt.Sprintf("retries %d", *h.Retries))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}} {
		if d.d > 0 {
			opts = append(opts, d.name+" "+d.d.String())
		}
	}
	if len(opts) > 0 {
		s += " (" + strings.Join(opts, ", ") + ")"
	}
	return s
}

// applyPolicy fills the rollout options the flags left unset from the
// selected hosts' envoys and, on text output, says what it took.
func applyPolicy(c *cli.Context, sp *stockpile.Stockpile, hosts []string, o *push.Options, format string) error {
	p, err := stockpilePolicy(sp, hosts)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	took, err := p.apply(c, o)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if took != "" && format == "text" {
		fmt.Fprintf(c.App.Writer, "rollout policy of the envoys (flags override it): %s\n", took)
	}
	return nil
}

// hostPolicyText is one host's merged rollout policy in one line, "" when
// no envoy of the host has one.
func hostPolicyText(sp *stockpile.Stockpile, host string) string {
	b, m, par, h := hostPolicy(sp, host)
	var parts []string
	for _, s := range []struct{ name, v string }{{"batch_size", b.value}, {"max_fail", m.value}, {"parallel", par.value}} {
		if s.v != "" {
			parts = append(parts, s.name+" "+s.v)
		}
	}
	if h != nil {
		parts = append(parts, "health_check "+healthText(h))
	}
	return strings.Join(parts, ", ")
}

// writePolicyBatches prints how `envoys push` would batch hosts without
// flags (envoys list), when their envoys have a rollout policy.
func writePolicyBatches(w io.Writer, sp *stockpile.Stockpile, hosts []string) {
	p, err := stockpilePolicy(sp, hosts)
	switch {
	case err != nil:
		fmt.Fprintf(w, "\npush: %v\n", err)
		return
	case len(hosts) == 0 || p.empty():
		return // one batch, as without a policy: nothing to add
	}
	fmt.Fprintln(w)
	batches, err := policyBatches(p, hosts)
	if err != nil {
		fmt.Fprintf(w, "push: %v\n", err)
		return
	}
	from := "no batch_size in the envoys: one batch unless --batch-size"
	if p.batchSize.value != "" {
		from = fmt.Sprintf("batch_size %s, %s", p.batchSize.value, p.batchSize.pos)
	}
	nb := fmt.Sprintf("%d batches", len(batches))
	if len(batches) == 1 {
		nb = "1 batch"
	}
	fmt.Fprintf(w, "push: %s in %s (%s)\n", report.Plural(len(hosts), "host"), nb, from)
	for i, b := range batches {
		fmt.Fprintf(w, "  batch %d/%d: %s\n", i+1, len(batches), strings.Join(b, ", "))
	}
}

// listBatchOf is each host's batch in a push of hosts without flags; empty
// when the policies disagree.
func listBatchOf(sp *stockpile.Stockpile, hosts []desired.Host) map[string]int {
	out := map[string]int{}
	names := hostNames(hosts)
	p, err := stockpilePolicy(sp, names)
	if err != nil {
		return out
	}
	batches, err := policyBatches(p, names)
	if err != nil {
		return out
	}
	for i, b := range batches {
		for _, h := range b {
			out[h] = i + 1
		}
	}
	return out
}

func hostNames(hosts []desired.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}
