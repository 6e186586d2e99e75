package stockpile_test

import (
	"strings"
	"testing"
	"time"
)

func TestEnvoyRollout(t *testing.T) {
	sp := mustLoad(t, map[string]string{
		"envoys/a.vgo": `envoys:
  - match: "web*"
    rollout:
      batch_size: 25%
      max_fail: 1
      parallel: 2
      health_check:
        command: curl -sf http://localhost:8080/health
        retries: 3
        interval: 1s
        timeout: 5s
  - match: "db*"
    rollout:
      health_check: "true"
`,
	})
	r := sp.Envoys[0].Rollout
	if r == nil || r.BatchSize != "25%" || r.MaxFail != "1" || r.Parallel != 2 || r.Health == nil {
		t.Fatalf("rollout %+v", r)
	}
	h := r.Health
	if h.Command != "curl -sf http://localhost:8080/health" || h.Retries == nil || *h.Retries != 3 || h.Interval != time.Second || h.Timeout != 5*time.Second {
		t.Errorf("health %+v", h)
	}
	if got := r.FieldPos["batch_size"].String(); got != "sp/envoys/a.vgo:4:7" {
		t.Errorf("batch_size position %s", got)
	}
	if s := r.String(); s != `batch_size 25%, max_fail 1, parallel 2, health_check "curl -sf http://localhost:8080/health" (retries 3, interval 1s, timeout 5s)` {
		t.Errorf("String() = %s", s)
	}
	if r2 := sp.Envoys[1].Rollout; r2 == nil || r2.Health == nil || r2.Health.Command != "true" || r2.BatchSize != "" || r2.Health.Retries != nil {
		t.Errorf("shorthand rollout %+v", r2)
	}
	if sp.Envoys[1].Rollout.String() != `health_check "true"` {
		t.Errorf("String() = %s", sp.Envoys[1].Rollout.String())
	}
}

func TestEnvoyRolloutErrors(t *testing.T) {
	_, err := load(t, map[string]string{
		"envoys/a.vgo": `envoys:
  - match: "web*"
    rollout:
      batch_size: 0%
      max_fail: lots
      parallel: 0
      batch: 2
      health_check:
        retries: -1
        interval: soon
        timeot: 5s
  - match: "db*"
    rollout: [1]
`,
	})
	if err == nil {
		t.Fatal("loaded")
	}
	want := []string{
		`sp/envoys/a.vgo:4:19: rollout.batch_size of envoy "web*" must be N or N%, not "0%" (hint: a count of hosts or a percentage of the selected hosts: 1, 2 or 25%)`,
		`sp/envoys/a.vgo:5:17: rollout.max_fail of envoy "web*" must be N or N%, not "lots"`,
		`sp/envoys/a.vgo:6:17: rollout.parallel of envoy "web*" must be a whole number of hosts, 1 or more, not "0"`,
		`sp/envoys/a.vgo:7:7: unknown field "batch" in rollout of envoy "web*"`,
		`sp/envoys/a.vgo:9:9: rollout.health_check of envoy "web*" has no command`,
		`sp/envoys/a.vgo:9:18: rollout.health_check.retries of envoy "web*" must be a whole number, 0 or more, not "-1"`,
		`sp/envoys/a.vgo:10:19: rollout.health_check.interval of envoy "web*" must be a positive duration, not "soon"`,
		`sp/envoys/a.vgo:11:9: unknown field "timeot" in rollout.health_check of envoy "web*" (hint: did you mean "timeout"?)`,
		`sp/envoys/a.vgo:13:14: rollout of envoy "db*" must be a map, not a list`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing error\n  %s\nin\n%s", w, got)
		}
	}
}
