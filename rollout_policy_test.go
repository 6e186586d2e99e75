package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/stockpile"
)

const policyEnvoys = `envoys:
  - match: "web*"
    rollout:
      batch_size: 1
      max_fail: 10%
      health_check:
        command: curl -sf http://localhost:8080/health
        retries: 5
        interval: 1s
  - match: "web2"
    rollout:
      health_check: "true"
`

// TestPolicyFlagsOverride: the envoys' policy fills the options no flag
// gives; each flag given wins over its field; the health check is per host
// (later envoys win), and hosts without a policy keep the flags' check.
func TestPolicyFlagsOverride(t *testing.T) {
	sp, err := stockpile.LoadFS(fstest.MapFS{"envoys/a.vgo": {Data: []byte(policyEnvoys)}}, "sp", executors.BuiltinSchemas())
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (push.Options, string) {
		t.Helper()
		var opts push.Options
		var took string
		app := &cli.App{Name: "vigocli", Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
		app.Commands = []*cli.Command{{Name: "push", Flags: rolloutFlags(), Action: func(c *cli.Context) error {
			o, err := rolloutOptions(c)
			if err != nil {
				return err
			}
			p, err := stockpilePolicy(sp, []string{"web1", "web2", "db1"})
			if err != nil {
				return err
			}
			took, err = p.apply(c, &o)
			opts = o
			return err
		}}}
		if err := app.Run(append([]string{"vigocli", "push"}, args...)); err != nil {
			t.Fatal(err)
		}
		return opts, took
	}

	o, took := run()
	if o.BatchSize != (push.Size{N: 1}) || o.MaxFail != (push.Size{N: 10, Percent: true}) {
		t.Errorf("policy not applied: batch %v max-fail %v", o.BatchSize, o.MaxFail)
	}
	if h := o.HostHealth["web1"]; h.Cmd != "curl -sf http://localhost:8080/health" || h.Retries != 5 || h.Interval != time.Second || h.Timeout != 10*time.Second {
		t.Errorf("web1 health %+v: want the policy's command, retries and interval, the default timeout", h)
	}
	if h := o.HostHealth["web2"]; h.Cmd != "true" {
		t.Errorf("web2 health %+v: the later envoy's check wins", h)
	}
	if _, ok := o.HostHealth["db1"]; ok || o.Health.Cmd != "" {
		t.Errorf("db1 has no policy: health %+v / %+v", o.HostHealth["db1"], o.Health)
	}
	if !strings.Contains(took, "batch_size 1 (sp/envoys/a.vgo:4:7)") || !strings.Contains(took, "health_check on 2 hosts") {
		t.Errorf("took %q", took)
	}

	o, took = run("--batch-size", "3", "--health-retries", "0", "--max-fail", "0")
	if o.BatchSize != (push.Size{N: 3}) || !o.MaxFail.IsZero() {
		t.Errorf("flags did not win: batch %v max-fail %v", o.BatchSize, o.MaxFail)
	}
	if h := o.HostHealth["web1"]; h.Retries != 0 || h.Interval != time.Second {
		t.Errorf("web1 health %+v: --health-retries wins, the policy's interval stays", h)
	}
	if strings.Contains(took, "batch_size") || strings.Contains(took, "max_fail") {
		t.Errorf("took %q names fields the flags gave", took)
	}

	o, _ = run("--health-check", "exit 0")
	if o.HostHealth != nil || o.Health.Cmd != "exit 0" {
		t.Errorf("--health-check must replace every host's policy check: %+v %+v", o.Health, o.HostHealth)
	}
}

func TestPolicyConflict(t *testing.T) {
	sp, err := stockpile.LoadFS(fstest.MapFS{
		"envoys/a.vgo": {Data: []byte("envoys:\n  - match: \"web*\"\n    rollout: {batch_size: 1}\n  - match: \"db*\"\n    rollout: {batch_size: 2}\n")},
	}, "sp", executors.BuiltinSchemas())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stockpilePolicy(sp, []string{"web1", "web2"}); err != nil {
		t.Errorf("hosts that agree: %v", err)
	}
	_, err = stockpilePolicy(sp, []string{"web1", "db1"})
	if err == nil || !strings.Contains(err.Error(), "disagree on batch_size") || !strings.Contains(err.Error(), "1 for web1 (sp/envoys/a.vgo:3:15), 2 for db1 (sp/envoys/a.vgo:5:15)") {
		t.Errorf("conflict: %v", err)
	}
}
