package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestRolloutPolicyE2E pushes the example stack with `envoys push --all`
// and no rollout flag to two lab hosts (web13, web14) whose envoy carries
// the example's rollout: policy (batch_size 1, a health check). The hosts
// change one batch after the other (the JSON report's start times and
// durations prove it), and a host whose health check fails halts the
// rollout: the next batch is left untouched.
func TestRolloutPolicyE2E(t *testing.T) {
	hosts := []string{"web13.app.example.com", "web14.app.example.com"}
	lab := labtest.Require(t, hosts...)
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir := t.TempDir()
	sp := filepath.Join(dir, "stockpile")
	if err := copyDir(filepath.Join("examples", "docker-stack"), sp); err != nil {
		t.Fatal(err)
	}
	// The example's policy names the hosts of its own inventory; here it
	// names this test's hosts, and its health check also fails while
	// /tmp/vigo-rollout-unhealthy exists on the host.
	const unhealthy = "/tmp/vigo-rollout-unhealthy"
	policy, err := os.ReadFile(filepath.Join(sp, "envoys", "rollout.vgo"))
	if err != nil {
		t.Fatal(err)
	}
	const glob, check = `match: "web[1-3].app.example.com"`, "command: curl -sf http://localhost:8080/health"
	if !bytes.Contains(policy, []byte(glob)) || !bytes.Contains(policy, []byte(check)) {
		t.Fatalf("examples/docker-stack/envoys/rollout.vgo changed; update this test:\n%s", policy)
	}
	policy = bytes.Replace(policy, []byte(glob), []byte(`match: "web1[34].app.example.com"`), 1)
	policy = bytes.Replace(policy, []byte(check), []byte(check+" && test ! -e "+unhealthy), 1)
	if err := os.WriteFile(filepath.Join(sp, "envoys", "rollout.vgo"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults:\n  user: root\n  identity_file: %s\n  known_hosts: %s\nhosts:\n", lab.Key, lab.KnownHosts)
	for _, h := range hosts {
		fmt.Fprintf(&inv, "  - name: %s\n    address: %s\n", h, lab.Host(h).Address)
	}
	if err := os.WriteFile(filepath.Join(sp, "inventory.vgo"), []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the inventory's hosts exist here: the example's other envoys
	// match none of them (a warning, not an error).

	type report struct {
		Batches  int    `json:"batches"`
		Halted   string `json:"halted"`
		ExitCode int    `json:"exit_code"`
		Hosts    []struct {
			Name       string     `json:"name"`
			Batch      int        `json:"batch"`
			Status     string     `json:"status"`
			Started    *time.Time `json:"started"`
			DurationMS int64      `json:"duration_ms"`
			Health     []struct {
				OK bool `json:"ok"`
			} `json:"health"`
		} `json:"hosts"`
	}
	push := func(args ...string) (report, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"envoys", "push", "--all", "--output", "json"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "VIGO_STOCKPILE="+sp, "VIGO_INVENTORY=", "VIGO_OUTPUT=", "CI=true",
			"VIGO_SECRETS_BACKEND=env", "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://demo:demo@db.internal:5432/webapp")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		var r report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("push %v: %v\n%s\n%s", args, err, stdout.String(), stderr.String())
		}
		return r, stdout.String() + stderr.String()
	}

	// Healthy hosts: two batches of one, the second after the first.
	if _, err := lab.SSH(ctx, hosts[0], "rm -f "+unhealthy); err != nil {
		t.Fatal(err)
	}
	r, out := push("--var", "app_tag=v2.1.0")
	if r.ExitCode != 0 || r.Batches != 2 || len(r.Hosts) != 2 {
		t.Fatalf("healthy push: exit %d, %d batches, want 0 and 2\n%s", r.ExitCode, r.Batches, out)
	}
	for i, h := range r.Hosts {
		if h.Batch != i+1 || len(h.Health) == 0 || !h.Health[len(h.Health)-1].OK {
			t.Errorf("%s: batch %d, health %+v; want batch %d and a passed health check from the policy", h.Name, h.Batch, h.Health, i+1)
		}
	}
	first, second := r.Hosts[0], r.Hosts[1]
	if first.Started == nil || second.Started == nil {
		t.Fatalf("hosts without start times:\n%s", out)
	}
	firstEnd := first.Started.Add(time.Duration(first.DurationMS) * time.Millisecond)
	if second.Started.Before(firstEnd) {
		t.Errorf("%s (batch 2) started at %s, before %s (batch 1) ended at %s", second.Name,
			second.Started.Format(time.StampMilli), first.Name, firstEnd.Format(time.StampMilli))
	}
	t.Logf("batch 1: %s %s..%s; batch 2: %s from %s", first.Name, first.Started.Format(time.StampMilli),
		firstEnd.Format(time.StampMilli), second.Name, second.Started.Format(time.StampMilli))

	// The first host's health check fails: the rollout halts after batch
	// 1 and the second host keeps its old tag.
	if _, err := lab.SSH(ctx, hosts[0], "touch "+unhealthy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = lab.SSH(context.Background(), hosts[0], "rm -f "+unhealthy) })
	r, out = push("--var", "app_tag=v2.2.0")
	if r.ExitCode != exitHostFailed || r.Halted == "" {
		t.Fatalf("unhealthy push: exit %d, halted %q; want 2 and a halt\n%s", r.ExitCode, r.Halted, out)
	}
	if r.Hosts[0].Status != "failed" || len(r.Hosts[0].Health) != 6 {
		t.Errorf("%s: %s after %d health attempts, want failed after 6 (the policy's retries: 5)", r.Hosts[0].Name, r.Hosts[0].Status, len(r.Hosts[0].Health))
	}
	if r.Hosts[1].Status != "skipped" {
		t.Errorf("%s: %s, want skipped (the rollout halted)", r.Hosts[1].Name, r.Hosts[1].Status)
	}
	img, err := lab.Docker(ctx, hosts[1], "inspect", "-f", "{{.Config.Image}}", "webapp")
	if err != nil || !strings.Contains(img, ":v2.1.0") {
		t.Errorf("%s: webapp image %q (%v), want the old v2.1.0: batch 2 must stay untouched", hosts[1], img, err)
	}
}
