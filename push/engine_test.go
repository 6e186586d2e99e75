package push

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/transport"
)

// fakeFleet connects to in-process hosts; health checks and tasks run
// through healthFn.
type fakeFleet struct {
	mu          sync.Mutex
	unreachable map[string]bool
	connects    []string
	health      func(host, cmd string) int // exit code of a shell command
}

type fakeRemote struct {
	f    *fakeFleet
	name string
}

func (r fakeRemote) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	code := 0
	if r.f.health != nil {
		code = r.f.health(r.name, cmd.Shell)
	}
	if cmd.Stdout != nil {
		fmt.Fprintf(cmd.Stdout, "ran on %s\nsecond line", r.name)
	}
	if code != 0 {
		return transport.ExecResult{ExitCode: code}, &transport.ExitError{Host: r.name, Cmd: cmd.Shell, ExitCode: code}
	}
	return transport.ExecResult{}, nil
}

func (f *fakeFleet) Connect(ctx context.Context, host string) (lock.Runner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, host)
	if f.unreachable[host] {
		return nil, fmt.Errorf("dial %s:22: connection refused: %w", host, transport.ErrUnreachable)
	}
	return fakeRemote{f: f, name: host}, nil
}

// step adapts a test job that takes the host's lock before it starts
// (the gate first) to a JobFunc.
func step(f func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error)) JobFunc[lock.Runner] {
	return func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		if _, err := h.Gate(ctx, time.Now()); err != nil {
			return Outcome{}, err
		}
		return f(ctx, h.Name, h.Batch, h.Conn, h.Sink)
	}
}

// convergeJob changes one resource per host, or fails on the hosts in
// fail.
func convergeJob(fail map[string]bool, hold time.Duration) Job[lock.Runner] {
	return Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		time.Sleep(hold)
		if fail[host] {
			sink.Emit(event.Event{Kind: event.ResourceFailed, Resource: "web", Error: "boom"})
			return Outcome{Failed: 1}, nil
		}
		sink.Emit(event.Event{Kind: event.ResourceChanged, Resource: "web", Action: "recreate"})
		return Outcome{Changed: 1, OK: 1}, nil
	})}
}

func TestBatchesRunOneAfterAnother(t *testing.T) {
	rec := &recorder{}
	hosts := hostNames(6)
	size, _ := ParseSize("2")
	// Both hosts of a batch must be running at the same time: each waits
	// for the other before finishing.
	var mu sync.Mutex
	started := map[int]int{}
	both := map[int]chan struct{}{1: make(chan struct{}), 2: make(chan struct{}), 3: make(chan struct{})}
	job := Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		mu.Lock()
		started[batch]++
		if started[batch] == 2 {
			close(both[batch])
		}
		mu.Unlock()
		select {
		case <-both[batch]:
		case <-time.After(5 * time.Second):
			return Outcome{}, errors.New("the other host of the batch never started")
		}
		return Outcome{Changed: 1}, nil
	})}
	res := Run(context.Background(), hosts, &fakeFleet{}, job, Options{BatchSize: size, Sink: event.Serial(rec)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	// Event order proves batching: every host of batch k finishes before
	// any host of batch k+1 starts.
	lastFinish := map[int]int{}
	firstStart := map[int]int{}
	for i, e := range rec.all() {
		switch e.Kind {
		case event.HostStarted:
			if _, ok := firstStart[e.Batch]; !ok {
				firstStart[e.Batch] = i
			}
		case event.HostFinished:
			lastFinish[e.Batch] = i
		}
	}
	for b := 1; b < 3; b++ {
		if lastFinish[b] > firstStart[b+1] {
			t.Errorf("batch %d started (event %d) before batch %d finished (event %d)", b+1, firstStart[b+1], b, lastFinish[b])
		}
	}
	if got := res.Count(event.StatusChanged); got != 6 {
		t.Errorf("%d hosts changed, want 6", got)
	}
}

func TestParallelLimit(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	job := Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return Outcome{OK: 1}, nil
	})}
	res := Run(context.Background(), hostNames(6), &fakeFleet{}, job, Options{Parallel: 2})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if peak > 2 {
		t.Errorf("%d hosts ran at once, want at most 2", peak)
	}
	if got := res.Count(event.StatusOK); got != 6 {
		t.Errorf("%d hosts ok, want 6", got)
	}
}

func TestMaxFail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxFail string
		fail    []string
		want    map[string]string
		halted  bool
	}{
		{
			name:   "default stops after the batch with a failure",
			fail:   []string{"h3"},
			want:   map[string]string{"h1": "changed", "h2": "changed", "h3": "failed", "h4": "changed", "h5": "skipped", "h6": "skipped"},
			halted: true,
		},
		{
			name: "max-fail 1 tolerates one", maxFail: "1",
			fail: []string{"h3"},
			want: map[string]string{"h1": "changed", "h2": "changed", "h3": "failed", "h4": "changed", "h5": "changed", "h6": "changed"},
		},
		{
			name: "max-fail 1 stops at the second", maxFail: "1",
			fail:   []string{"h1", "h3"},
			want:   map[string]string{"h1": "failed", "h2": "changed", "h3": "failed", "h4": "changed", "h5": "skipped", "h6": "skipped"},
			halted: true,
		},
		{
			name: "max-fail 34% of 6 tolerates two", maxFail: "34%",
			fail: []string{"h1", "h3"},
			want: map[string]string{"h1": "failed", "h2": "changed", "h3": "failed", "h4": "changed", "h5": "changed", "h6": "changed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail := map[string]bool{}
			for _, h := range tc.fail {
				fail[h] = true
			}
			mf, _ := ParseSize(tc.maxFail)
			bs, _ := ParseSize("2")
			rec := &recorder{}
			res := Run(context.Background(), hostNames(6), &fakeFleet{}, convergeJob(fail, 0), Options{BatchSize: bs, MaxFail: mf, Sink: event.Serial(rec)})
			if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("statuses %v, want %v", got, tc.want)
			}
			if (res.Halted != "") != tc.halted {
				t.Errorf("halted = %q, want halted %v", res.Halted, tc.halted)
			}
			for _, h := range tc.fail {
				if !strings.Contains(fmt.Sprint(res.Err), h+": 1 resource(s) failed") {
					t.Errorf("joined error %q does not name %s", res.Err, h)
				}
			}
			if tc.halted {
				if _, ok := rec.find(event.HostStarted, "h5"); ok {
					t.Error("h5 started after the rollout halted")
				}
				if e, ok := rec.find(event.HostSkipped, "h5"); !ok || !strings.Contains(e.Reason, "max-fail") {
					t.Errorf("h5 skipped event = %+v, want a max-fail reason", e)
				}
			}
		})
	}
}

func TestFailFastStopsStartingHosts(t *testing.T) {
	rec := &recorder{}
	res := Run(context.Background(), hostNames(5), &fakeFleet{}, convergeJob(map[string]bool{"h2": true}, 0),
		Options{Parallel: 1, FailFast: true, MaxFail: Size{N: 10}, Sink: event.Serial(rec)})
	want := map[string]string{"h1": "changed", "h2": "failed", "h3": "skipped", "h4": "skipped", "h5": "skipped"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if e, _ := rec.find(event.HostSkipped, "h3"); !strings.Contains(e.Reason, "fail-fast") {
		t.Errorf("h3 skip reason %q", e.Reason)
	}
}

func TestFailFastNeverInterruptsRunningHost(t *testing.T) {
	// h1 fails while h2 is mid-resource: h2 must finish its job.
	h2started := make(chan struct{})
	job := Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		if host == "h1" {
			<-h2started
			return Outcome{}, errors.New("boom")
		}
		close(h2started)
		time.Sleep(50 * time.Millisecond)
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return Outcome{Changed: 1}, nil
	})}
	res := Run(context.Background(), hostNames(2), &fakeFleet{}, job, Options{FailFast: true})
	if got := statusOf(t, res); got["h2"] != "changed" {
		t.Errorf("h2 = %s, want changed", got["h2"])
	}
}

func TestUnreachableApartFromFailed(t *testing.T) {
	rec := &recorder{}
	fleet := &fakeFleet{unreachable: map[string]bool{"h2": true}}
	res := Run(context.Background(), hostNames(4), fleet, convergeJob(map[string]bool{"h3": true}, 0), Options{Sink: event.Serial(rec)})
	want := map[string]string{"h1": "changed", "h2": "unreachable", "h3": "failed", "h4": "changed"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if !errors.Is(res.Err, transport.ErrUnreachable) {
		t.Errorf("joined error %v does not wrap ErrUnreachable", res.Err)
	}
	if _, ok := rec.find(event.HostUnreachable, "h2"); !ok {
		t.Error("no host_unreachable event for h2")
	}
	if _, ok := rec.find(event.HostFinished, "h2"); ok {
		t.Error("h2 also reported as finished")
	}
}

func TestHealthCheckHaltsRollout(t *testing.T) {
	rec := &recorder{}
	attempts := map[string]int{}
	var mu sync.Mutex
	fleet := &fakeFleet{health: func(host, cmd string) int {
		mu.Lock()
		defer mu.Unlock()
		attempts[host]++
		if host == "h3" {
			return 7
		}
		return 0
	}}
	bs, _ := ParseSize("2")
	res := Run(context.Background(), hostNames(6), fleet, convergeJob(nil, 0), Options{
		BatchSize: bs, Sink: event.Serial(rec),
		Health: Health{Cmd: "curl -sf http://localhost:8080/health", Retries: 2, Interval: time.Millisecond},
	})
	want := map[string]string{"h1": "changed", "h2": "changed", "h3": "failed", "h4": "changed", "h5": "skipped", "h6": "skipped"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if attempts["h3"] != 3 || attempts["h1"] != 1 || attempts["h5"] != 0 {
		t.Errorf("health attempts %v, want h3:3 h1:1 h5:0", attempts)
	}
	if !strings.Contains(fmt.Sprint(res.Err), "health check") {
		t.Errorf("error %v does not mention the health check", res.Err)
	}
	n := 0
	for _, e := range rec.all() {
		if e.Kind == event.HealthCheck && e.Host == "h3" {
			n++
			if e.OK == nil || *e.OK {
				t.Errorf("h3 health event says ok: %+v", e)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d health events for h3, want 3", n)
	}
}

func TestPrepareFailsBeforeConnecting(t *testing.T) {
	fleet := &fakeFleet{}
	job := convergeJob(nil, 0)
	job.Prepare = func(ctx context.Context, host string) error {
		if host == "h2" {
			return errors.New("secret vigo/db: not found")
		}
		return nil
	}
	res := Run(context.Background(), hostNames(3), fleet, job, Options{})
	if got := statusOf(t, res); got["h2"] != "failed" || got["h1"] != "changed" {
		t.Errorf("statuses %v", got)
	}
	for _, h := range fleet.connects {
		if h == "h2" {
			t.Error("connected to h2 although its preparation failed")
		}
	}
}

func TestDryRunPlansEveryHost(t *testing.T) {
	health := 0
	fleet := &fakeFleet{health: func(string, string) int { health++; return 1 }}
	bs, _ := ParseSize("1")
	res := Run(context.Background(), hostNames(4), fleet, convergeJob(map[string]bool{"h1": true}, 0),
		Options{BatchSize: bs, DryRun: true, Health: Health{Cmd: "false"}, Lock: &lock.Locker{Dir: t.TempDir() + "/never"}})
	if res.Count(event.StatusSkipped) != 0 || res.Halted != "" {
		t.Errorf("dry-run skipped hosts: %v (halted %q)", statusOf(t, res), res.Halted)
	}
	if health != 0 {
		t.Errorf("dry-run ran %d health checks", health)
	}
}

func TestInterruptSkipsRestAndReleasesLocks(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{}
	conn := localHosts()
	// One machine plays every host, so one host at a time (--parallel 1).
	job := Job[lock.Runner]{Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
		cancel() // Ctrl-C arrives while the first batch runs
		<-ctx.Done()
		return Outcome{}, fmt.Errorf("apply web: %w", ctx.Err())
	})}
	bs, _ := ParseSize("2")
	res := Run(ctx, hostNames(4), conn, job, Options{BatchSize: bs, Parallel: 1, Sink: event.Serial(rec),
		Lock: &lock.Locker{Dir: dir + "/lock", Owner: lock.NewOwner("test")}})
	want := map[string]string{"h1": "failed", "h2": "skipped", "h3": "skipped", "h4": "skipped"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if res.Halted != "interrupted" {
		t.Errorf("halted = %q", res.Halted)
	}
	if st, err := (&lock.Locker{Dir: dir + "/lock"}).Status(context.Background(), localRunner{}); err != nil || st.Held {
		t.Errorf("lock still held after interrupt: %+v %v", st, err)
	}
	if _, ok := rec.find(event.LockReleased, "h1"); !ok {
		t.Error("no lock_released event for h1")
	}
}

func TestTaskJobStreamsOutputLines(t *testing.T) {
	rec := &recorder{}
	res := Run(context.Background(), []string{"h1"}, &fakeFleet{}, TaskJob[lock.Runner]("docker pull x", 0, ChangedWhen{}), Options{Sink: event.Serial(rec)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var lines []string
	for _, e := range rec.all() {
		if e.Kind == event.CommandOutput {
			lines = append(lines, e.Host+"|"+e.Stream+"|"+e.Output)
		}
	}
	if want := "[h1|stdout|ran on h1 h1|stdout|second line]"; fmt.Sprint(lines) != want {
		t.Errorf("output events %v, want %s", lines, want)
	}
	if res.Hosts[0].Status != event.StatusRan {
		t.Errorf("status %s, want ran: vigo cannot tell what an operator's command changed", res.Hosts[0].Status)
	}
}

// otherRunHolds takes the lock in dir as another run ("push other")
// would; the caller releases it.
func otherRunHolds(t *testing.T, dir string) *lock.Held {
	t.Helper()
	other, err := (&lock.Locker{Dir: dir, Owner: lock.NewOwner("push other")}).Acquire(context.Background(), localRunner{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return other
}

// localHosts connects every host to this machine (localRunner).
func localHosts() Connector[lock.Runner] {
	return ConnectorFunc[lock.Runner](func(ctx context.Context, host string) (lock.Runner, error) { return localRunner{name: host}, nil })
}

// gatedJob reads (waiting read), then calls the gate, then reports.
func gatedJob(read time.Duration, during func(host string)) (Job[lock.Runner], *sync.Map) {
	var seen sync.Map // host -> replan
	return Job[lock.Runner]{Run: func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		host, sink, gate := h.Name, h.Sink, h.Gate
		observed := time.Now()
		if during != nil {
			during(host)
		}
		time.Sleep(read)
		replan, err := gate(ctx, observed)
		if err != nil {
			return Outcome{}, err
		}
		seen.Store(host, replan)
		sink.Emit(event.Event{Kind: event.ResourceOK, Resource: "web"})
		return Outcome{OK: 1, Phases: map[string]time.Duration{"observe": read}}, nil
	}}, &seen
}

// ownerWritten says whether a lock directory's owner record is filled
// in (the lock is held).
func ownerWritten(dir string) bool {
	fi, err := os.Stat(dir + "/owner")
	return err == nil && fi.Size() > 0
}

func TestGatedJobLocksAtTheGate(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	conn := localHosts()
	lockPath := dir + "/lock"
	var whileReading, afterGate bool
	job := Job[lock.Runner]{Run: func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		observed := time.Now()
		time.Sleep(50 * time.Millisecond) // reading: the lock is not asked for yet
		whileReading = ownerWritten(lockPath)
		replan, err := h.Gate(ctx, observed)
		if err != nil {
			return Outcome{}, err
		}
		if replan {
			t.Error("uncontended lock asked for a replan")
		}
		afterGate = ownerWritten(lockPath)
		h.Sink.Emit(event.Event{Kind: event.ResourceChanged, Resource: "web"})
		return Outcome{Changed: 1, Phases: map[string]time.Duration{"observe": time.Millisecond}}, nil
	}}
	res := Run(context.Background(), []string{"h1"}, conn, job, Options{Sink: event.Serial(rec),
		Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test")}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if whileReading || !afterGate {
		t.Errorf("lock held while reading: %v, after the gate: %v; want false, true", whileReading, afterGate)
	}
	// Run returns after the release.
	if st, err := (&lock.Locker{Dir: lockPath}).Status(context.Background(), localRunner{}); err != nil || st.Held {
		t.Errorf("lock left after Run: %+v %v", st, err)
	}
	fin, _ := rec.find(event.HostFinished, "h1")
	for _, p := range []string{"connect", "lock", "observe"} {
		if _, ok := fin.Phases[p]; !ok {
			t.Errorf("host_finished phases %v lack %s", fin.Phases, p)
		}
	}
	if _, ok := rec.find(event.LockReleased, "h1"); !ok {
		t.Error("no lock_released")
	}
}

// countingRunner counts the commands run on the host.
type countingRunner struct {
	localRunner
	n *atomic.Int32
}

func (r countingRunner) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	r.n.Add(1)
	return r.localRunner.Exec(ctx, cmd)
}

// A job that never calls its gate (it found nothing to change) costs
// the host no lock session: it neither waits for nor disturbs another
// run's lock.
func TestUngatedJobTakesNoLock(t *testing.T) {
	dir := t.TempDir()
	lockPath := dir + "/lock"
	other := otherRunHolds(t, lockPath)
	defer other.Release(context.Background())
	var n atomic.Int32
	conn := ConnectorFunc[lock.Runner](func(ctx context.Context, host string) (lock.Runner, error) {
		return countingRunner{localRunner{name: host}, &n}, nil
	})
	rec := &recorder{}
	job := Job[lock.Runner]{Run: func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		h.Sink.Emit(event.Event{Kind: event.ResourceOK, Resource: "web"})
		return Outcome{OK: 1}, nil
	}}
	res := Run(context.Background(), []string{"h1"}, conn, job, Options{Sink: event.Serial(rec),
		Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test")}})
	if res.Err != nil || res.Hosts[0].Status != event.StatusOK {
		t.Fatalf("no-op host beside another run's lock: %+v %v", res.Hosts[0], res.Err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("%d commands run on a host with nothing to change, want none", got)
	}
	fin, _ := rec.find(event.HostFinished, "h1")
	if _, ok := fin.Phases["lock"]; ok {
		t.Errorf("host_finished phases %v have a lock", fin.Phases)
	}
	for _, k := range []event.Kind{event.LockAcquired, event.LockWaiting, event.LockReleased} {
		if _, ok := rec.find(k, "h1"); ok {
			t.Errorf("%s on a host never locked", k)
		}
	}
	if st, err := (&lock.Locker{Dir: lockPath}).Status(context.Background(), localRunner{}); err != nil || !st.Held {
		t.Errorf("the other run's lock is gone: %+v %v", st, err)
	}
}

// A health check runs under the host's lock, also on a host the job did
// not change: another run may be changing its containers meanwhile. So
// an unchanged host with a health check meets another run's lock (and
// fails at once without --lock-wait); once the lock is free it takes it.
func TestHealthCheckOfUnchangedHostTakesTheLock(t *testing.T) {
	dir := t.TempDir()
	lockPath := dir + "/lock"
	other := otherRunHolds(t, lockPath)
	conn := localHosts()
	job := Job[lock.Runner]{Run: func(ctx context.Context, h Host[lock.Runner]) (Outcome, error) {
		return Outcome{OK: 1}, nil // nothing to change: no gate
	}}
	opts := func(rec *recorder) Options {
		return Options{Sink: event.Serial(rec), Health: Health{Cmd: "true"}, Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test")}}
	}
	rec := &recorder{}
	res := Run(context.Background(), []string{"h1"}, conn, job, opts(rec))
	if res.Hosts[0].Status != event.StatusFailed || !errors.Is(res.Hosts[0].Err, lock.ErrLocked) {
		t.Fatalf("health check beside another run's lock: %+v", res.Hosts[0])
	}
	if _, ok := rec.find(event.HealthCheck, "h1"); ok {
		t.Error("the health check ran although the lock was refused")
	}
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{}
	res = Run(context.Background(), []string{"h1"}, conn, job, opts(rec))
	if res.Err != nil || res.Hosts[0].Status != event.StatusOK {
		t.Fatalf("health check with the lock free: %+v %v", res.Hosts[0], res.Err)
	}
	for _, k := range []event.Kind{event.LockAcquired, event.LockReleased} {
		if _, ok := rec.find(k, "h1"); !ok {
			t.Errorf("no %s around the health check", k)
		}
	}
}

func TestGatedJobLockConflictFailsBeforeResources(t *testing.T) {
	dir := t.TempDir()
	lockPath := dir + "/lock"
	other := otherRunHolds(t, lockPath)
	defer other.Release(context.Background())
	rec := &recorder{}
	conn := localHosts()
	job, _ := gatedJob(0, nil)
	res := Run(context.Background(), []string{"h1"}, conn, job, Options{Sink: event.Serial(rec),
		Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test")}})
	if res.Hosts[0].Status != event.StatusFailed || !errors.Is(res.Hosts[0].Err, lock.ErrLocked) || !strings.Contains(res.Err.Error(), "push other") {
		t.Fatalf("result %+v", res.Hosts[0])
	}
	if _, ok := rec.find(event.ResourceOK, "h1"); ok {
		t.Error("a resource was reported although the lock was refused")
	}
}

func TestGatedJobReplansAfterWaiting(t *testing.T) {
	dir := t.TempDir()
	lockPath := dir + "/lock"
	other := otherRunHolds(t, lockPath)
	conn := localHosts()
	job, seen := gatedJob(0, nil)
	rec := &recorder{}
	sink := event.SinkFunc(func(e event.Event) {
		rec.Emit(e)
		if e.Kind == event.LockWaiting {
			go other.Release(context.Background())
		}
	})
	res := Run(context.Background(), []string{"h1"}, conn, job, Options{Sink: event.Serial(sink),
		Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test"), Wait: 10 * time.Second, Poll: 10 * time.Millisecond}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if replan, _ := seen.Load("h1"); replan != true {
		t.Error("reads made while another run held the lock were not replanned")
	}
}

func TestDryRunGateNeverWaits(t *testing.T) {
	dir := t.TempDir()
	lockPath := dir + "/lock"
	other := otherRunHolds(t, lockPath)
	defer other.Release(context.Background())
	conn := localHosts()
	job, _ := gatedJob(0, nil)
	res := Run(context.Background(), []string{"h1"}, conn, job, Options{DryRun: true,
		Lock: &lock.Locker{Dir: lockPath, Owner: lock.NewOwner("test")}})
	if res.Err != nil {
		t.Fatalf("dry run with a held lock: %v", res.Err)
	}
}

// With RollbackOnFailure, a host whose health check fails after a change
// runs the job's rollback, is checked again and ends rolled_back, which
// halts the rollout as a failure does. A host whose rollback leaves it
// unhealthy, or that has nothing to go back to, fails.
func TestRollbackOnFailure(t *testing.T) {
	rec := &recorder{}
	var mu sync.Mutex
	version := map[string]string{} // what each host runs
	rolled := map[string]int{}
	fleet := &fakeFleet{health: func(host, cmd string) int {
		mu.Lock()
		defer mu.Unlock()
		if version[host] == "v2" && host != "h1" { // v2 is broken except on h1
			return 1
		}
		if host == "h3" { // h3 is broken on every version
			return 1
		}
		return 0
	}}
	job := Job[lock.Runner]{
		Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			version[host] = "v2"
			return Outcome{Changed: 1}, nil
		}),
		Rollback: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
			mu.Lock()
			defer mu.Unlock()
			rolled[host]++
			if host == "h4" {
				return Outcome{}, nil // no history
			}
			version[host] = "v1"
			return Outcome{Changed: 1}, nil
		}),
	}
	run := func(hosts []string, on bool) Result {
		bs, _ := ParseSize("1")
		mf, _ := ParseSize("10")
		return Run(context.Background(), hosts, fleet, job, Options{BatchSize: bs, MaxFail: mf, Sink: event.Serial(rec),
			RollbackOnFailure: on, Health: Health{Cmd: "check", Interval: time.Millisecond}})
	}
	res := run([]string{"h1", "h2", "h3", "h4"}, true)
	want := map[string]string{"h1": "changed", "h2": "rolled_back", "h3": "failed", "h4": "failed"}
	if got := statusOf(t, res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v (errors: %v)", got, want, res.Err)
	}
	if version["h2"] != "v1" || rolled["h1"] != 0 || rolled["h2"] != 1 {
		t.Errorf("versions %v, rollbacks %v; want h2 back on v1, h1 never rolled back", version, rolled)
	}
	if _, ok := rec.find(event.RollbackStarted, "h2"); !ok {
		t.Error("no rollback_started event for h2")
	}
	for _, h := range res.Hosts {
		if h.Host == "h2" && !strings.Contains(fmt.Sprint(h.Err), "rolled back") {
			t.Errorf("h2 error %v does not say it was rolled back", h.Err)
		}
		if h.Host == "h4" && !strings.Contains(fmt.Sprint(h.Err), "nothing to roll back") {
			t.Errorf("h4 error %v does not say there was nothing to roll back to", h.Err)
		}
	}
	// A rolled back host counts against --max-fail.
	bs, _ := ParseSize("1")
	res = Run(context.Background(), []string{"h5", "h6"}, fleet, job, Options{BatchSize: bs, Sink: event.Discard,
		RollbackOnFailure: true, Health: Health{Cmd: "check"}})
	if got := statusOf(t, res); got["h5"] != event.StatusRolledBack || got["h6"] != event.StatusSkipped {
		t.Errorf("statuses %v, want h5 rolled_back and h6 skipped", got)
	}
	// Without the option, nothing is rolled back.
	res = run([]string{"h7"}, false)
	if got := statusOf(t, res); got["h7"] != event.StatusFailed || rolled["h7"] != 0 {
		t.Errorf("without RollbackOnFailure: %v, %d rollbacks; want failed and none", got, rolled["h7"])
	}
}
