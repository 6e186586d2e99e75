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

	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestRollbackE2E deploys the documentation's stack on web11 and web12 at
// v2.1.0 then v2.2.0, and `envoys rollback --batch-size 1` (a new vigo
// process: the history is read from the hosts) puts both back on the
// v2.1.0 image, one batch after the other. Then a push of v2.2.0 whose
// health check passes only on v2.1.0, with --rollback-on-failure, leaves
// the first host on v2.1.0, rolled_back, and exits 2. No label on the
// hosts holds the secret value.
func TestRollbackE2E(t *testing.T) {
	hosts := []string{"web11.app.example.com", "web12.app.example.com"}
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
	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults:\n  user: root\n  identity_file: %s\n  known_hosts: %s\nhosts:\n", lab.Key, lab.KnownHosts)
	for _, h := range hosts {
		fmt.Fprintf(&inv, "  - name: %s\n    address: %s\n", h, lab.Host(h).Address)
	}
	if err := os.WriteFile(filepath.Join(sp, "inventory.vgo"), []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := fmt.Sprintf("rollback-e2e-%d-Zq8", time.Now().UnixNano())

	type report struct {
		DryRun   bool   `json:"dry_run"`
		Batches  int    `json:"batches"`
		Halted   string `json:"halted"`
		ExitCode int    `json:"exit_code"`
		Summary  struct {
			Hosts struct {
				RolledBack int `json:"rolled_back"`
			} `json:"hosts_by_status"`
		} `json:"summary"`
		Hosts []struct {
			Name       string     `json:"name"`
			Batch      int        `json:"batch"`
			Status     string     `json:"status"`
			Started    *time.Time `json:"started"`
			DurationMS int64      `json:"duration_ms"`
		} `json:"hosts"`
	}
	vigo := func(args ...string) (report, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append(args, "--all", "--output", "json")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "VIGO_STOCKPILE="+sp, "VIGO_INVENTORY=", "VIGO_OUTPUT=", "CI=true",
			"VIGO_SECRETS_BACKEND=env", "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://demo:"+secret+"@db.internal:5432/webapp")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		out := stdout.String() + stderr.String()
		if strings.Contains(out, secret) {
			t.Errorf("%v printed the secret value", args)
		}
		var r report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return r, out
	}
	docker := func(host string, args ...string) string {
		t.Helper()
		out, err := lab.Docker(ctx, host, args...)
		if err != nil {
			t.Fatalf("%s: docker %v: %v", host, args, err)
		}
		return strings.TrimSpace(out)
	}
	running := func(host string) string { return docker(host, "inspect", "-f", "{{.Image}}", "webapp") }

	for _, tag := range []string{"v2.1.0", "v2.2.0"} {
		if r, out := vigo("envoys", "push", "--var", "app_tag="+tag); r.ExitCode != 0 {
			t.Fatalf("push %s: exit %d\n%s", tag, r.ExitCode, out)
		}
	}
	v21 := docker(hosts[0], "image", "inspect", "-f", "{{.Id}}", "myregistry.example.com/webapp:v2.1.0")
	v22 := docker(hosts[0], "image", "inspect", "-f", "{{.Id}}", "myregistry.example.com/webapp:v2.2.0")
	for _, h := range hosts {
		if got := running(h); got != v22 {
			t.Fatalf("%s runs %s after the v2.2.0 push, want %s", h, got, v22)
		}
		labels := docker(h, "inspect", "-f", "{{json .Config.Labels}}", "webapp")
		if !strings.Contains(docker(h, "inspect", "-f", "{{json .Config.Env}}", "webapp"), secret) {
			t.Fatalf("%s: the container's env lacks the secret: the test proves nothing", h)
		}
		if strings.Contains(labels, secret) {
			t.Errorf("%s: a label holds the secret value: %s", h, labels)
		}
		var l map[string]string
		if err := json.Unmarshal([]byte(labels), &l); err != nil {
			t.Fatal(err)
		}
		hist, err := executors.DecodeHistory(l[executors.LabelHistory])
		if err != nil || len(hist) == 0 || hist[0].ImageID != v21 {
			t.Fatalf("%s: history %+v (%v), want v2.1.0 (%s) first", h, hist, err, v21)
		}
	}

	// A dry run shows the plan and changes nothing.
	if r, out := vigo("envoys", "rollback", "--dry-run"); r.ExitCode != 0 || !r.DryRun || !strings.Contains(out, `v2.2.0 -\u003e v2.1.0`) ||
		!strings.Contains(out, "would roll back app-stack/app-container to myregistry.example.com/webapp:v2.1.0") {
		t.Errorf("rollback --dry-run: exit %d, want 0 and the image change in the plan\n%s", r.ExitCode, out)
	}
	if got := running(hosts[0]); got != v22 {
		t.Errorf("%s runs %s after a dry run, want still %s", hosts[0], got, v22)
	}

	// The rollback, in batches of one, by a vigo process that knows
	// nothing of the pushes: the history is on the hosts.
	r, out := vigo("envoys", "rollback", "--batch-size", "1")
	if r.ExitCode != 0 || r.Batches != 2 || len(r.Hosts) != 2 {
		t.Fatalf("rollback: exit %d, %d batches; want 0 and 2\n%s", r.ExitCode, r.Batches, out)
	}
	if !strings.Contains(out, "set app_tag: v2.1.0") && !strings.Contains(out, "the stockpile already says") {
		t.Errorf("rollback does not say how to make it permanent:\n%s", out)
	}
	for _, h := range hosts {
		if got := running(h); got != v21 {
			t.Errorf("%s runs %s after the rollback, want v2.1.0's %s", h, got, v21)
		}
	}
	first, second := r.Hosts[0], r.Hosts[1]
	if first.Started == nil || second.Started == nil {
		t.Fatalf("hosts without start times:\n%s", out)
	}
	firstEnd := first.Started.Add(time.Duration(first.DurationMS) * time.Millisecond)
	if first.Batch != 1 || second.Batch != 2 || second.Started.Before(firstEnd) {
		t.Errorf("%s (batch %d) started at %s, %s (batch %d) ended at %s: want batch 2 after batch 1", second.Name, second.Batch,
			second.Started.Format(time.StampMilli), first.Name, first.Batch, firstEnd.Format(time.StampMilli))
	}
	t.Logf("rollback batch 1: %s %s..%s; batch 2: %s from %s", first.Name, first.Started.Format(time.StampMilli),
		firstEnd.Format(time.StampMilli), second.Name, second.Started.Format(time.StampMilli))

	// v2.2.0 fails its health check: the first host goes back to v2.1.0,
	// the rollout halts, the exit code is 2.
	r, out = vigo("envoys", "push", "--var", "app_tag=v2.2.0", "--batch-size", "1", "--rollback-on-failure",
		"--health-check", "curl -sf http://localhost:8080/version | grep -q 2.1.0", "--health-retries", "1", "--health-interval", "1s")
	if r.ExitCode != exitHostFailed || r.Halted == "" || r.Summary.Hosts.RolledBack != 1 {
		t.Fatalf("push --rollback-on-failure: exit %d, halted %q, %d rolled back; want 2, a halt and 1\n%s", r.ExitCode, r.Halted, r.Summary.Hosts.RolledBack, out)
	}
	if r.Hosts[0].Status != "rolled_back" || r.Hosts[1].Status != "skipped" {
		t.Errorf("statuses %s, %s; want rolled_back, skipped\n%s", r.Hosts[0].Status, r.Hosts[1].Status, out)
	}
	for _, h := range hosts {
		if got := running(h); got != v21 {
			t.Errorf("%s runs %s after the failed push, want v2.1.0's %s", h, got, v21)
		}
	}
	if v, err := lab.SSH(ctx, hosts[0], "curl -sf http://localhost:8080/version"); err != nil || !strings.Contains(v, "2.1.0") {
		t.Errorf("%s /version = %q (%v), want 2.1.0", hosts[0], v, err)
	}
}
