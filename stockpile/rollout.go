package stockpile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Rollout is an envoy's rollout policy: how `vigocli envoys push` rolls
// through the hosts the envoy matches when no flag says otherwise. Empty
// fields are unset (the flags' defaults apply).
type Rollout struct {
	BatchSize string // "N" or "N%"
	MaxFail   string // "N" or "N%"
	Parallel  int    // 0: unset
	Health    *RolloutHealth
	Pos       Pos // of the rollout: key's value
	// Where each field was set, by field name (batch_size, max_fail,
	// parallel, health_check), for errors about conflicting policies.
	FieldPos map[string]Pos
}

// RolloutHealth is the health check run on each host after its push.
type RolloutHealth struct {
	Command  string
	Retries  *int          // nil: unset
	Interval time.Duration // 0: unset
	Timeout  time.Duration // 0: unset
	Pos      Pos
}

var (
	rolloutFields = []string{"batch_size", "max_fail", "parallel", "health_check"}
	healthFields  = []string{"command", "retries", "interval", "timeout"}
	sizeRE        = regexp.MustCompile(`^[0-9]+%?$`)
)

// rollout reads an envoy's rollout: map.
func (l *loader) rollout(c *converter, n *yaml.Node, what string) *Rollout {
	if n.Kind != yaml.MappingNode {
		l.errs.Addf(c.pos(n), "write rollout: {batch_size: N, max_fail: N, health_check: CMD}", "%s must be a map, not %s", say(what), kindOf(n))
		return nil
	}
	f, order := l.fields(c, n, say(what), rolloutFields)
	r := &Rollout{Pos: c.pos(n), FieldPos: map[string]Pos{}}
	ok := true
	for _, key := range order {
		fv := f[key]
		where := joinWhat(what, key)
		r.FieldPos[key] = fv.keyPos
		if key == "health_check" {
			r.Health = l.rolloutHealth(c, fv.val, where)
			ok = ok && r.Health != nil
			continue
		}
		s, p, good := l.scalar(c, fv.val, where)
		if !good {
			ok = false
			continue
		}
		switch key {
		case "batch_size", "max_fail":
			if !l.rolloutSize(s, p, where, key == "batch_size") {
				ok = false
				continue
			}
			if key == "batch_size" {
				r.BatchSize = s
			} else {
				r.MaxFail = s
			}
		case "parallel":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				l.errs.Addf(p, "", "%s must be a whole number of hosts, 1 or more, not %q", say(where), s)
				ok = false
				continue
			}
			r.Parallel = n
		}
	}
	if !ok {
		return nil
	}
	return r
}

// rolloutSize checks "N" or "N%" (a percentage from 1 to 100; a batch of
// 0 hosts means every host in one batch).
func (l *loader) rolloutSize(s string, p Pos, where string, batch bool) bool {
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if !sizeRE.MatchString(s) || err != nil || (pct && (n < 1 || n > 100)) {
		ex := "1, 2 or 25%"
		if !batch {
			ex = "0, 1 or 10%"
		}
		l.errs.Addf(p, "a count of hosts or a percentage of the selected hosts: "+ex, "%s must be N or N%%, not %q", say(where), s)
		return false
	}
	return true
}

// rolloutHealth reads health_check: a command, or a map with command,
// retries, interval and timeout.
func (l *loader) rolloutHealth(c *converter, n *yaml.Node, what string) *RolloutHealth {
	if n.Kind == yaml.ScalarNode {
		s, p, ok := l.scalar(c, n, what)
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			l.errs.Addf(p, "", "%s: the command is empty", say(what))
			return nil
		}
		return &RolloutHealth{Command: s, Pos: p}
	}
	if n.Kind != yaml.MappingNode {
		l.errs.Addf(c.pos(n), "", "%s must be a command or a map with command, retries, interval and timeout, not %s", say(what), kindOf(n))
		return nil
	}
	f, order := l.fields(c, n, say(what), healthFields)
	h := &RolloutHealth{Pos: c.pos(n)}
	ok := true
	for _, key := range order {
		where := joinWhat(what, key)
		s, p, good := l.scalar(c, f[key].val, where)
		if !good {
			ok = false
			continue
		}
		switch key {
		case "command":
			if strings.TrimSpace(s) == "" {
				l.errs.Addf(p, "", "%s is empty", say(where))
				ok = false
			}
			h.Command = s
		case "retries":
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				l.errs.Addf(p, "", "%s must be a whole number, 0 or more, not %q", say(where), s)
				ok = false
				continue
			}
			h.Retries = &n
		case "interval", "timeout":
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				l.errs.Addf(p, "a number with a unit: 2s, 500ms, 1m", "%s must be a positive duration, not %q", say(where), s)
				ok = false
				continue
			}
			if key == "interval" {
				h.Interval = d
			} else {
				h.Timeout = d
			}
		}
	}
	if _, given := f["command"]; !given {
		l.errs.Addf(h.Pos, "", "%s has no command", say(what))
		return nil
	}
	if !ok {
		return nil
	}
	return h
}

// String is the policy in one line, as envoys list shows it.
func (r *Rollout) String() string {
	if r == nil {
		return ""
	}
	var parts []string
	if r.BatchSize != "" {
		parts = append(parts, "batch_size "+r.BatchSize)
	}
	if r.MaxFail != "" {
		parts = append(parts, "max_fail "+r.MaxFail)
	}
	if r.Parallel > 0 {
		parts = append(parts, fmt.Sprintf("parallel %d", r.Parallel))
	}
	if h := r.Health; h != nil {
		s := fmt.Sprintf("health_check %q", h.Command)
		var opts []string
		if h.Retries != nil {
			opts = append(opts, fmt.Sprintf("retries %d", *h.Retries))
		}
		if h.Interval > 0 {
			opts = append(opts, "interval "+h.Interval.String())
		}
		if h.Timeout > 0 {
			opts = append(opts, "timeout "+h.Timeout.String())
		}
		if len(opts) > 0 {
			s += " (" + strings.Join(opts, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
