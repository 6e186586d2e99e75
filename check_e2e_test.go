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

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lab/labtest"
)

// labVigo is vigocli run against a copy of the documentation's stockpile
// whose inventory holds lab hosts (and, optionally, an unreachable one).
type labVigo struct {
	t   *testing.T
	ctx context.Context
	bin string
	dir string // the stockpile
	env []string
}

// newLabVigo copies examples/docker-stack's modules, roles and envoys into
// a temporary stockpile with an inventory of hosts (lab names) plus
// extra inventory lines. Secrets come from the environment backend.
func newLabVigo(t *testing.T, ctx context.Context, lab *labtest.Lab, hosts []string, extra string) *labVigo {
	t.Helper()
	return newLabVigoFrom(t, ctx, lab, "docker-stack", hosts, extra)
}

// newLabVigoFrom is newLabVigo with another example of examples/.
func newLabVigoFrom(t *testing.T, ctx context.Context, lab *labtest.Lab, example string, hosts []string, extra string) *labVigo {
	t.Helper()
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	dir := t.TempDir()
	sp := filepath.Join(dir, "stockpile")
	for _, sub := range []string{"modules", "roles", "envoys"} {
		if err := copyDir(filepath.Join("examples", example, sub), filepath.Join(sp, sub)); err != nil {
			t.Fatal(err)
		}
	}
	var inv strings.Builder
	fmt.Fprintf(&inv, "defaults:\n  user: root\n  identity_file: %s\n  known_hosts: %s\nhosts:\n", lab.Key, lab.KnownHosts)
	for _, name := range hosts {
		h := lab.Host(name)
		fmt.Fprintf(&inv, "  - name: %s\n    address: %s\n", h.Name, h.Address)
	}
	inv.WriteString(extra)
	if err := os.WriteFile(filepath.Join(sp, "inventory.vgo"), []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "VIGO_STOCKPILE=" + sp, "LANG=C",
		"VIGO_SECRETS_BACKEND=env", "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://webapp:lab-check-password@db.example.com/webapp"}
	return &labVigo{t: t, ctx: ctx, bin: bin, dir: sp, env: env}
}

// run returns stdout, stderr and the exit code.
func (v *labVigo) run(args ...string) (string, string, int) {
	v.t.Helper()
	cmd := exec.CommandContext(v.ctx, v.bin, args...)
	cmd.Env = v.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		v.t.Fatalf("vigocli %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

func (v *labVigo) want(code int, args ...string) string {
	v.t.Helper()
	out, errOut, got := v.run(args...)
	if got != code {
		v.t.Fatalf("vigocli %s: exit %d, want %d\n%s%s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out
}

// TestCheckE2E: on web13 and web14 converged with the documentation's
// stack, envoys check exits 0; after docker stop redis on web14 it exits 2
// and names redis-container on web14 with the plan's reason, in text and
// JSON; an unreachable host alone gives 3. A check runs while a task holds
// web13's lock, and the task is not disturbed: a check takes no lock.
func TestCheckE2E(t *testing.T) {
	const w13, w14 = "web13.app.example.com", "web14.app.example.com"
	lab := labtest.Require(t, w13, w14)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	down := "  - name: web99.app.example.com\n    address: 127.0.0.1\n    port: 1\n"
	v := newLabVigo(t, ctx, lab, []string{w13, w14}, down)
	both := []string{"--target", w13, "--target", w14}

	// A real push and a dry run, each with its HTML report.
	reports := t.TempDir()
	for _, kind := range []string{"run", "plan"} {
		file := filepath.Join(reports, kind+".html")
		args := append([]string{"envoys", "push", "--report-html", file}, both...)
		if kind == "plan" {
			args = append(args, "--dry-run")
		}
		v.want(0, args...)
		page, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{w13, w14, "<code>redis-container</code>", "<code>app-container</code>", "observe ", "exit code 0"} {
			if !strings.Contains(string(page), want) {
				t.Errorf("%s report lacks %q", kind, want)
			}
		}
	}

	logins := func() int { // SSH logins web13's sshd accepted so far
		b, err := os.ReadFile(filepath.Join(lab.Dir, "hosts", "web13", "sshd.log"))
		if err != nil {
			t.Fatalf("web13's sshd log: %v", err)
		}
		return strings.Count(string(b), "Accepted publickey")
	}
	before := logins()
	out := v.want(0, append([]string{"envoys", "check"}, both...)...)
	if strings.TrimSpace(out) != "2 hosts in sync" {
		t.Errorf("check on a converged lab printed %q", out)
	}
	if n := logins() - before; n != 1 {
		t.Errorf("a check logged in to web13 %d times, want one connection", n)
	}
	v.want(0, append([]string{"envoys", "push", "--dry-run", "--detailed-exitcode"}, both...)...)

	if _, err := lab.Docker(ctx, w14, "stop", "redis"); err != nil {
		t.Fatalf("docker stop redis: %v", err)
	}
	out = v.want(2, append([]string{"envoys", "check"}, both...)...)
	wantLine := w14 + " redis-container (docker_container): start: exited; state: exited -> running"
	if strings.TrimSpace(out) != wantLine {
		t.Errorf("check text:\n%s\nwant the one line\n%s", out, wantLine)
	}
	js := v.want(2, append([]string{"envoys", "check", "--output", "json"}, both...)...)
	var doc struct {
		ExitCode int `json:"exit_code"`
		Hosts    []struct {
			Name    string
			Status  string
			Drifted []struct {
				Resource, Type, Action, Reason string
				Diff                           []event.Change
			}
		}
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("check JSON: %v\n%s", err, js)
	}
	status := map[string]string{}
	for _, h := range doc.Hosts {
		status[h.Name] = h.Status
		if h.Name == w14 {
			if len(h.Drifted) != 1 || h.Drifted[0].Resource != "redis-container" || h.Drifted[0].Action != "start" ||
				h.Drifted[0].Reason != "exited" || len(h.Drifted[0].Diff) != 1 {
				t.Errorf("web14 drift in JSON: %+v", h.Drifted)
			}
		}
	}
	if doc.ExitCode != 2 || status[w13] != "in_sync" || status[w14] != "drifted" {
		t.Errorf("check JSON: exit_code %d, statuses %v\n%s", doc.ExitCode, status, js)
	}
	v.want(2, append([]string{"envoys", "push", "--dry-run", "--detailed-exitcode"}, both...)...)
	// Drift wins over an unreachable host.
	v.want(2, "envoys", "check", "--all")

	// Repair web14: back in sync; the unreachable host alone gives 3.
	v.want(0, "envoys", "push", "--target", w14)
	out = v.want(3, "envoys", "check", "--all")
	if !strings.HasPrefix(out, "web99.app.example.com unreachable: ") || strings.Count(out, "\n") != 1 {
		t.Errorf("check --all with an unreachable host printed:\n%s", out)
	}

	// A task holds web13's lock for a while; a check meanwhile neither
	// waits for it nor disturbs it.
	task := exec.CommandContext(ctx, v.bin, "task", "run", "sleep 6", "--target", w13)
	task.Env = v.env
	var taskOut bytes.Buffer
	task.Stdout, task.Stderr = &taskOut, &taskOut
	if err := task.Start(); err != nil {
		t.Fatal(err)
	}
	held := false
	for i := 0; i < 50 && !held; i++ {
		o, _, _ := v.run("lock", "status", "--target", w13)
		held = strings.Contains(o, "held by")
		if !held {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !held {
		t.Fatalf("the task never held web13's lock\n%s", taskOut.String())
	}
	v.want(0, "envoys", "check", "--target", w13)
	o, _, _ := v.run("lock", "status", "--target", w13)
	if !strings.Contains(o, "held by") {
		t.Errorf("web13's lock is gone after a check while the task still runs: %s", o)
	}
	if err := task.Wait(); err != nil {
		t.Errorf("the task holding the lock failed: %v\n%s", err, taskOut.String())
	}
}
