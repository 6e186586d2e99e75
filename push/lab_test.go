package push_test

// End-to-end tests of envoys push, task run and lock on the lab's
// web4..web9 (the hosts given to this package), through the real binary,
// real sshd and real dockerd. They skip when the lab is not up.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

var labHosts = []string{
	"web4.app.example.com", "web5.app.example.com", "web6.app.example.com",
	"web7.app.example.com", "web8.app.example.com", "web9.app.example.com",
}

const canary = "push-CANARY-4711"

type fleet struct {
	t   testing.TB
	lab *labtest.Lab
	bin string
	dir string // working directory holding ./stockpile (with inventory.vgo)
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// vigocli builds the binary once per test run.
func vigocli(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigo-push-e2e")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "vigocli")
		cmd := exec.Command("go", "build", "-o", buildBin, ".")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	l := labtest.Require(t, labHosts...)
	f := &fleet{t: t, lab: l, bin: vigocli(t), dir: t.TempDir()}
	sp := filepath.Join(f.dir, "stockpile")
	copyDir(t, filepath.Join("..", "examples", "docker-stack"), sp)
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  user: root\n  identity_file: %s\n  known_hosts: %s\nhosts:\n", l.Key, l.KnownHosts)
	for _, h := range labHosts {
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n", h, l.Host(h).Address)
	}
	if err := os.WriteFile(filepath.Join(sp, "inventory.vgo"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func (f *fleet) command(args ...string) *exec.Cmd {
	cmd := exec.Command(f.bin, args...)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "CI=true", "NO_COLOR=",
		"VIGO_STOCKPILE=", "VIGO_INVENTORY=", "VIGO_OUTPUT=",
		"VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL=postgres://webapp:"+canary+"@db.example.com/webapp")
	return cmd
}

type ran struct {
	stdout, stderr string
	code           int
}

func (f *fleet) vigo(args ...string) ran {
	f.t.Helper()
	cmd := f.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ran{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	if strings.Contains(r.stdout+r.stderr, canary) {
		f.t.Fatalf("vigocli %v printed the secret value", args)
	}
	return r
}

type doc struct {
	Batches  int    `json:"batches"`
	Halted   string `json:"halted"`
	ExitCode int    `json:"exit_code"`
	Hosts    []struct {
		Name       string    `json:"name"`
		Batch      int       `json:"batch"`
		Status     string    `json:"status"`
		Started    time.Time `json:"started"`
		DurationMS int64     `json:"duration_ms"`
		Error      string    `json:"error"`
		Lock       []string  `json:"lock"`
		Resources  []struct {
			Name, Action, Status string
		} `json:"resources"`
	} `json:"hosts"`
}

func (f *fleet) vigoJSON(args ...string) (doc, ran) {
	f.t.Helper()
	r := f.vigo(append(args, "--output", "json")...)
	var d doc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		f.t.Fatalf("vigocli %v: not JSON (%v): %s\nstderr: %s", args, err, r.stdout, r.stderr)
	}
	if d.ExitCode != r.code {
		f.t.Errorf("exit code %d, document says %d", r.code, d.ExitCode)
	}
	return d, r
}

func (d doc) status() map[string]string {
	m := map[string]string{}
	for _, h := range d.Hosts {
		m[h.Name] = h.Status
	}
	return m
}

func (f *fleet) sh(host, cmd string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := f.lab.SSH(ctx, host, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func (f *fleet) containerIDs(name string) map[string]string {
	ids := map[string]string{}
	for _, h := range labHosts {
		ids[h] = f.sh(h, "docker inspect --format '{{.Id}}' "+name+" 2>/dev/null || true")
	}
	return ids
}

// converged pushes app_tag (v2.1.0 or v2.2.0) to every host and fails
// the test unless all converge.
func (f *fleet) converged(tag string) {
	f.t.Helper()
	r := f.vigo("envoys", "push", "--all", "--var", "app_tag="+tag)
	if r.code != 0 {
		f.t.Fatalf("setup push %s: exit %d\n%s\n%s", tag, r.code, r.stdout, r.stderr)
	}
}

func TestLabBatchSizeRounding(t *testing.T) {
	f := newFleet(t)
	for _, tc := range []struct {
		size    string
		batches int
		perHost map[string]int
	}{
		{"2", 3, map[string]int{labHosts[0]: 1, labHosts[1]: 1, labHosts[2]: 2, labHosts[5]: 3}},
		{"50%", 2, map[string]int{labHosts[2]: 1, labHosts[3]: 2}},
		{"25%", 3, map[string]int{labHosts[1]: 1, labHosts[2]: 2, labHosts[5]: 3}}, // 1.5 rounds up to 2
	} {
		d, r := f.vigoJSON("envoys", "push", "--all", "--dry-run", "--batch-size", tc.size)
		if r.code != 0 || d.Batches != tc.batches {
			t.Errorf("--batch-size %s: exit %d, %d batches, want %d\n%s", tc.size, r.code, d.Batches, tc.batches, r.stderr)
		}
		for _, h := range d.Hosts {
			if want, ok := tc.perHost[h.Name]; ok && h.Batch != want {
				t.Errorf("--batch-size %s: %s in batch %d, want %d", tc.size, h.Name, h.Batch, want)
			}
		}
	}
}

func TestLabPushBatchesTwoAtATime(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0")
	d, r := f.vigoJSON("envoys", "push", "--all", "--batch-size", "2", "--var", "app_tag=v2.2.0",
		"--health-check", "curl -sf http://localhost:8080/health")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	batches := map[int][]int{}
	for i, h := range d.Hosts {
		if h.Status != "changed" {
			t.Errorf("%s: %s, want changed", h.Name, h.Status)
		}
		batches[h.Batch] = append(batches[h.Batch], i)
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3", len(batches))
	}
	end := func(i int) time.Time {
		return d.Hosts[i].Started.Add(time.Duration(d.Hosts[i].DurationMS) * time.Millisecond)
	}
	for b := 1; b <= 3; b++ {
		hs := batches[b]
		if len(hs) != 2 {
			t.Fatalf("batch %d has %d hosts", b, len(hs))
		}
		// The two hosts of a batch run at the same time.
		x, y := hs[0], hs[1]
		if !d.Hosts[x].Started.Before(end(y)) || !d.Hosts[y].Started.Before(end(x)) {
			t.Errorf("batch %d: hosts did not overlap", b)
		}
		// No host of the next batch starts before this batch ended.
		if b < 3 {
			for _, n := range batches[b+1] {
				for _, p := range hs {
					if d.Hosts[n].Started.Before(end(p)) {
						t.Errorf("%s (batch %d) started %s before %s (batch %d) ended", d.Hosts[n].Name, b+1,
							d.Hosts[n].Started.Format(time.StampMilli), d.Hosts[p].Name, b)
					}
				}
			}
		}
	}
	for _, h := range labHosts {
		if got := f.sh(h, "curl -sf http://localhost:8080/version"); !strings.Contains(got, "2.2.0") {
			t.Errorf("%s: /version = %q", h, got)
		}
	}
}

func TestLabHealthCheckStopsRollout(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.2.0")
	before := f.containerIDs("webapp")
	// The third host (web6, batch 2) fails its health check.
	f.sh(labHosts[2], "touch /tmp/vigo-unhealthy")
	t.Cleanup(func() { f.sh(labHosts[2], "rm -f /tmp/vigo-unhealthy") })
	r := f.vigo("envoys", "push", "--all", "--batch-size", "2", "--var", "app_tag=v2.1.0",
		"--health-check", "test ! -e /tmp/vigo-unhealthy", "--health-retries", "1", "--health-interval", "100ms", "--report", filepath.Join(f.dir, "junit.xml"))
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (a host failed)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := f.containerIDs("webapp")
	for i, h := range labHosts {
		changed := before[h] != after[h]
		if want := i < 4; changed != want {
			t.Errorf("%s: container changed=%v, want %v (batches 1-2 run, batch 3 untouched)", h, changed, want)
		}
	}
	for _, want := range []string{
		"web6.app.example.com | health check failed (attempt 2)",
		"web8.app.example.com | skipped",
		"rollout stopped: after batch 2/3: 1 failed (web6.app.example.com), more than --max-fail 0 allows (0); 2 host(s) not started",
		"web9.app.example.com : ok=0   changed=0   failed=0   unreachable=0   skipped=1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "rollout stopped:"); n != 1 {
		t.Errorf("the rollout-stopped line is printed %d times, want once", n)
	}
	if line := recapLine(r.stdout, labHosts[2]); !strings.Contains(line, "changed=1") || !strings.Contains(line, "failed=1") {
		t.Errorf("recap of web6 %q: want its change and its failed health check", line)
	}
	junit, err := os.ReadFile(filepath.Join(f.dir, "junit.xml"))
	if err != nil || !bytes.Contains(junit, []byte(`classname="web6.app.example.com"`)) || bytes.Contains(junit, []byte(canary)) {
		t.Errorf("junit report: %v\n%s", err, junit)
	}
}

func recapLine(out, host string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, host+" :") {
			return l
		}
	}
	return ""
}

func TestLabTaskDocExample(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0") // no container uses v2.2.0: it can be removed
	for _, h := range labHosts {
		f.sh(h, "docker image rm -f myregistry.example.com/webapp:v2.2.0 >/dev/null 2>&1 || true")
	}
	// The documentation's command, verbatim.
	r := f.vigo("task", "run",
		"docker pull myregistry.example.com/webapp:v2.2.0",
		"--target", "*.app.example.com",
		"--batch-size", "25%",
		"--health-check", "curl -sf http://localhost:8080/health")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"6 hosts in 3 batches", "batch 1/3: web4.app.example.com, web5.app.example.com", "batch 3/3: web8.app.example.com, web9.app.example.com", "6 hosts: 6 ran"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, h := range labHosts {
		if f.sh(h, "docker image inspect --format ok myregistry.example.com/webapp:v2.2.0 2>/dev/null || echo missing") != "ok" {
			t.Errorf("%s: v2.2.0 not pulled", h)
		}
		f.sh(h, "docker image rm -f myregistry.example.com/webapp:v2.2.0 >/dev/null")
	}

	// With the health check on a dead port it halts after the first batch.
	r = f.vigo("task", "run",
		"docker pull myregistry.example.com/webapp:v2.2.0",
		"--target", "*.app.example.com",
		"--batch-size", "25%",
		"--health-check", "curl -sf http://localhost:9/health", "--health-retries", "0")
	if r.code != 2 {
		t.Fatalf("dead port: exit %d, want 2\n%s", r.code, r.stdout)
	}
	for i, h := range labHosts {
		got := f.sh(h, "docker image inspect --format ok myregistry.example.com/webapp:v2.2.0 2>/dev/null || echo missing")
		if want := map[bool]string{true: "ok", false: "missing"}[i < 2]; got != want {
			t.Errorf("%s: image %s, want %s (only batch 1 runs)", h, got, want)
		}
	}
	if !strings.Contains(recapLine(r.stdout, labHosts[2]), "skipped=1") {
		t.Errorf("recap does not show web6 skipped:\n%s", r.stdout)
	}
}

// start runs vigocli in the background; wait returns its result.
func (f *fleet) start(args ...string) (*exec.Cmd, func() ran) {
	cmd := f.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	return cmd, func() ran {
		err := cmd.Wait()
		r := ran{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		return r
	}
}

func (f *fleet) waitLock(host string) {
	f.t.Helper()
	for i := 0; i < 200; i++ {
		if f.sh(host, "test -s /run/vigo/owner && echo held || true") == "held" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("%s: no lock appeared", host)
}

func (f *fleet) noLocks() {
	f.t.Helper()
	for _, h := range labHosts {
		if !f.lockFree(h) {
			f.t.Errorf("%s: lock left behind", h)
		}
	}
}

func TestLabConcurrentPushesLock(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0")
	web4 := labHosts[0]
	// Same moment, same host, no waiting: exactly one runs. Each push
	// changes what the other leaves alone (the app's tag, redis's
	// memory), so whichever comes second still has a change to make and
	// meets the lock, however late it observes.
	health := []string{"--target", web4, "--health-check", "sleep 3"}
	_, waitA := f.start(append([]string{"envoys", "push", "--var", "app_tag=v2.2.0"}, health...)...)
	_, waitB := f.start(append([]string{"envoys", "push", "--var", "redis_maxmemory=256mb"}, health...)...)
	a, b := waitA(), waitB()
	codes := []int{a.code, b.code}
	sort.Ints(codes)
	if codes[0] != 0 || codes[1] != 2 {
		t.Fatalf("exit codes %v, want one 0 and one 2\nA: %s\nB: %s", codes, a.stdout, b.stdout)
	}
	loser := a
	if a.code == 0 {
		loser = b
	}
	if !strings.Contains(loser.stdout, "locked by") || strings.Contains(loser.stdout, "redis-image") {
		t.Errorf("the losing push should fail on the lock before any resource:\n%s", loser.stdout)
	}

	// With --lock-wait the second waits for the first, host by host, and
	// then makes its own change. On web4 the two want redis's memory
	// different, so both always change it; web5 changes only for B.
	wait := []string{"--target", "web[45]*", "--var", "app_tag=v2.1.0", "--health-check", "sleep 2", "--lock-wait", "1m", "--output", "json"}
	_, waitA = f.start(append([]string{"envoys", "push"}, wait...)...)
	_, waitB = f.start(append([]string{"envoys", "push", "--var", "redis_maxmemory=128mb"}, wait...)...)
	a, b = waitA(), waitB()
	if a.code != 0 || b.code != 0 {
		t.Fatalf("with --lock-wait: exit codes %d %d\n%s\n%s", a.code, b.code, a.stderr, b.stderr)
	}
	if !strings.Contains(a.stdout+b.stdout, "waiting: held by") {
		t.Errorf("neither push reports waiting for the lock")
	}
	f.noLocks()

	// A push with nothing to change takes no lock: beside a task that
	// holds web4's lock it neither waits nor fails, and leaves the
	// task's lock held.
	if r := f.vigo("envoys", "push", "--target", web4); r.code != 0 {
		t.Fatalf("converging web4: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	task, waitTask := f.start("task", "run", "sleep 60", "--target", web4)
	f.waitLock(web4)
	if r := f.vigo("envoys", "push", "--target", web4); r.code != 0 || !strings.Contains(r.stdout, "changed=0") {
		t.Errorf("no-op push beside a held lock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if f.lockFree(web4) {
		t.Error("the task's lock is gone after a no-op push")
	}
	_ = task.Process.Kill()
	waitTask()
	f.waitFree(web4, "the lock of the killed task stayed")
}

// waitFree waits up to 5s for host's lock to be free, else fails with
// msg.
func (f *fleet) waitFree(host, msg string) {
	f.t.Helper()
	for i := 0; !f.lockFree(host); i++ {
		if i == 50 {
			f.t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockFree asks vigo whether host's lock is free.
func (f *fleet) lockFree(host string) bool {
	f.t.Helper()
	r := f.vigo("lock", "status", "--target", host)
	return r.code == 0 && strings.Contains(r.stdout, host+" | free")
}

func TestLabStaleLock(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0")
	web4 := labHosts[0]
	// A killed run drops its connection: the lock session on the host
	// sees its stdin end and releases the lock. (A task holds the lock
	// while its command runs; a push holds it only on a host it changes.)
	hold := []string{"task", "run", "sleep 60", "--target", web4}
	cmd, wait := f.start(hold...)
	f.waitLock(web4)
	_ = cmd.Process.Kill()
	wait()
	f.waitFree(web4, "the lock of a killed run stayed")
	// The holding shell killed outright on the host (no trap runs): the
	// kernel drops its flock, the lock is free at once.
	const holderPID = "sed -n '3s/ .*//p' /run/vigo/owner"
	cmd, wait = f.start(hold...)
	f.waitLock(web4)
	f.sh(web4, "kill -9 $("+holderPID+")")
	_ = cmd.Process.Kill()
	wait()
	if !f.lockFree(web4) {
		t.Fatal("the lock of a holder killed outright is still held")
	}
	// A hung holder (stopped; its heartbeat stale) is ended by the
	// next push that has something to change.
	cmd, wait = f.start(hold...)
	f.waitLock(web4)
	f.sh(web4, "kill -STOP $("+holderPID+") && echo 0 >/run/vigo/beat")
	_ = cmd.Process.Kill()
	wait()
	r := f.vigo("lock", "status", "--target", web4)
	if !strings.Contains(r.stdout, "STALE: no heartbeat") {
		t.Fatalf("lock status does not see the stale lock:\n%s%s", r.stdout, r.stderr)
	}
	r = f.vigo("envoys", "push", "--target", web4, "--var", "app_tag=v2.2.0")
	if r.code != 0 || !strings.Contains(r.stdout, "broke stale lock") {
		t.Fatalf("push over a stale lock: exit %d\n%s", r.code, r.stdout)
	}
	f.noLocks()
}

func TestLabUnreachableHost(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0")
	f.lab.Fault(t, labHosts[5], "link-cut")
	d, r := f.vigoJSON("envoys", "push", "--all", "--var", "app_tag=v2.2.0")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	want := map[string]string{}
	for _, h := range labHosts[:5] {
		want[h] = "changed"
	}
	want[labHosts[5]] = "unreachable"
	if got := d.status(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func TestLabInterrupt(t *testing.T) {
	f := newFleet(t)
	f.converged("v2.1.0")
	cmd, wait := f.start("envoys", "push", "--all", "--batch-size", "2", "--var", "app_tag=v2.2.0", "--health-check", "sleep 5")
	f.waitLock(labHosts[0])
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	r := wait()
	if r.code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "RECAP") || !strings.Contains(r.stdout, "interrupted") {
		t.Errorf("no recap or no interrupted status:\n%s", r.stdout)
	}
	f.noLocks()
	r = f.vigo("envoys", "push", "--all", "--var", "app_tag=v2.1.0")
	if r.code != 0 {
		t.Errorf("the push after Ctrl-C: exit %d\n%s", r.code, r.stdout)
	}
}

// BenchmarkLabNoopPush measures a no-op push of the documentation's stack
// (4 resources per host) across web4..web9 and reports the wall time of
// one push and seconds per host: all hosts at once (wall time / hosts), and
// one host at a time (--parallel 1: the latency of one host, handshake
// and one read of Docker state; a no-op takes no lock).
func BenchmarkLabNoopPush(b *testing.B) {
	f := newFleet(b)
	f.converged("v2.1.0")
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"parallel", nil},
		{"one-at-a-time", []string{"--parallel", "1"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := *f
			f.t = b
			for i := 0; i < b.N; i++ {
				r := f.vigo(append([]string{"envoys", "push", "--all"}, bc.args...)...)
				if r.code != 0 || !strings.Contains(r.stdout, "6 hosts: 6 ok") {
					b.Fatalf("not a no-op: exit %d\n%s", r.code, r.stdout)
				}
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(per, "s/push")
			b.ReportMetric(per/float64(len(labHosts)), "s/host")
		})
	}
}
