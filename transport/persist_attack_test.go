package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Attacks on warm connections: what a held connection may be reused for.

// runTarget is one controller run through f's holder, for tg.
func (f *persistFixture) runTarget(t *testing.T, tg Target) error {
	t.Helper()
	o := f.env.options()
	o.Persist = PersistOptions{Idle: time.Minute, Dir: f.dir}
	p, err := NewPool(o)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := p.Get(context.Background(), tg)
	if err != nil {
		return err
	}
	_, err = c.Exec(context.Background(), Cmd{Shell: "true"})
	return err
}

// TestPersistHeldKeyCoversVerification: a connection held for one Target
// is not handed to a Target of the same user@host:port that would have
// verified the host against other known_hosts files, or logged in with
// another key. Before the fix the held connection's key was only
// user@host:port and the ProxyJump chain, so both runs below got the
// connection the first run had verified and authenticated.
func TestPersistHeldKeyCoversVerification(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	// The host's key is on record only in the first Target's own file.
	extra := filepath.Join(f.env.Home, "extra_known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", f.proxy.Port(), ssh.MarshalAuthorizedKey(f.sshd.HostKey.Pub))
	if err := os.WriteFile(extra, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.env.KnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	first := f.tg
	first.KnownHostsFile = extra
	if err := f.runTarget(t, first); err != nil {
		t.Fatalf("first run: %v", err)
	}

	// Same destination, no file that knows the host: strict checking
	// must refuse it, held connection or not.
	err := f.runTarget(t, f.tg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Unknown() {
		t.Errorf("run whose known_hosts does not know the host: want an unknown-host *HostKeyError, got %v", err)
	}

	// Same destination, a key the host does not accept: refused.
	other := newKey(t, f.env.Home, "other_ed25519", "")
	stranger := first
	stranger.IdentityFile = other.Path
	err = f.runTarget(t, stranger)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Errorf("run with a key the host does not accept: want an *AuthError, got %v", err)
	}
	if held, _ := ListHeld(context.Background(), f.dir); len(held) != 1 {
		t.Errorf("held %d connections, want 1 (the first run's): %+v", len(held), held)
	}
}

// TestPersistKnownHostsChangedAfterHold: known_hosts are read again when
// a held connection is reused. A key replaced in known_hosts since the
// hold (the operator learnt the host was impersonated, or rotated its
// key) makes the next run fail as a dial would; a key removed makes it
// an unknown host. Before the fix the held connection, verified against
// the old files, was handed out regardless.
func TestPersistKnownHostsChangedAfterHold(t *testing.T) {
	f := startPersist(t, HolderOptions{})
	if err := f.run(t, time.Minute, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	// Another key on record for the same address.
	other := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{f.env.Client.Pub}})
	line := fmt.Sprintf("[127.0.0.1]:%d %s", f.proxy.Port(), ssh.MarshalAuthorizedKey(other.HostKey.Pub))
	if err := os.WriteFile(f.env.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.runTarget(t, f.tg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Unknown() {
		t.Errorf("after the key on record changed: want a changed-key *HostKeyError, got %v", err)
	}
	// No key on record at all.
	if err := os.WriteFile(f.env.KnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = f.runTarget(t, f.tg)
	if !errors.As(err, &hke) || !hke.Unknown() {
		t.Errorf("after the key on record was removed: want an unknown-host *HostKeyError, got %v", err)
	}
	if held, _ := ListHeld(context.Background(), f.dir); len(held) != 0 {
		t.Errorf("still held after its key was withdrawn: %+v", held)
	}
}

// TestPersistHungHolderBounded: a holder that accepts but never answers
// (stopped with SIGSTOP, wedged) does not hang `vigocli connections list`
// or `close`: they fail with a deadline error. Before the fix both
// waited for as long as the caller's context, which the CLI never bounds.
func TestPersistHungHolderBounded(t *testing.T) {
	dir, _ := silentHolder(t)
	for name, call := range map[string]func() error{
		"list":  func() error { _, err := ListHeld(context.Background(), dir); return err },
		"close": func() error { _, err := CloseHeld(context.Background(), dir, nil, true); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a hung holder: want a deadline error, got %v", name, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s on a hung holder did not return", name)
		}
	}
}

// silentHolder serves a holder socket in a new runtime directory that
// accepts connections, counts them and never answers (a wedged holder).
func silentHolder(t *testing.T) (dir string, accepted *atomic.Int64) {
	t.Helper()
	return fakeHolder(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
}

// fakeHolder serves a holder socket in a new runtime directory that
// accepts connections, counts them and hands each to serve.
func fakeHolder(t *testing.T, serve func(net.Conn)) (dir string, accepted *atomic.Int64) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "run")
	if err := prepareRuntimeDir(dir); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, holderSocket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = new(atomic.Int64)
	go acceptCounting(l, accepted, serve)
	return dir, accepted
}

// TestHeldOpensTakeAHandshakeSlot: opening held connections (--persist)
// takes the pool's handshake slots as dialling does: with MaxConnecting
// 2 and a holder slow to answer, six hosts are asked for two at a time.
// Before the fix every host of a run asked at once: a warm run of 5,000
// simulated hosts put 5,000 handshakes on the holder and a host's first
// engine request then timed out reading the holder's socket.
func TestHeldOpensTakeAHandshakeSlot(t *testing.T) {
	env := newEnv(t)
	dir, asked := silentHolder(t)
	o := env.options()
	o.MaxConnecting, o.DialAttempts = 2, 1
	o.Persist = PersistOptions{Idle: time.Minute, Dir: dir}
	p := env.pool(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 6 {
		tg := Target{Name: fmt.Sprint("h", i), Address: "127.0.0.1", Port: 1 + i, User: "root"}
		wg.Go(func() { p.Get(ctx, tg) })
	}
	for i := 0; i < 300 && asked.Load() < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for any more than 2
	n := asked.Load()
	cancel()
	wg.Wait()
	if n != 2 {
		t.Errorf("%d held connections asked for at once with MaxConnecting 2, want 2", n)
	}
}

// TestFailedHolderNotAskedAgain: once the holder fails a run (here it
// closes every connection unanswered; wedged, it would make each host
// wait out its deadline), the run's other hosts dial directly without
// asking it. With MaxConnecting 2, at most the first two of six hosts
// ask. Before the fix every host asked in turn, so a wedged holder cost a
// run one full wait per MaxConnecting hosts.
func TestFailedHolderNotAskedAgain(t *testing.T) {
	env := newEnv(t)
	dir, asked := fakeHolder(t, func(c net.Conn) { c.Close() })
	o := env.options()
	o.MaxConnecting, o.DialAttempts = 2, 1
	o.Persist = PersistOptions{Idle: time.Minute, Dir: dir}
	p := env.pool(t, o)
	var wg sync.WaitGroup
	for i := range 6 {
		// Nothing listens on these ports: the direct dials are refused.
		tg := Target{Name: fmt.Sprint("h", i), Address: "127.0.0.1", Port: 1 + i, User: "root"}
		wg.Go(func() {
			if _, err := p.Get(context.Background(), tg); !errors.Is(err, ErrUnreachable) {
				t.Errorf("%s: want unreachable (refused), got %v", tg.Name, err)
			}
		})
	}
	wg.Wait()
	if n := asked.Load(); n > 2 {
		t.Errorf("%d of 6 hosts asked a holder that had failed the run, want at most 2", n)
	}
}

// TestBusyHolderNotAbandoned: a holder that answers a list at once but
// takes longer than the run's wait to open one host (busy dialling it)
// costs the run that host's warm connection, not the holder: the host
// dials directly and the rest of the run still asks. Before, the first
// open that ran out of time made the whole run dial directly.
func TestBusyHolderNotAbandoned(t *testing.T) {
	env := newEnv(t)
	var opens atomic.Int64
	dir, _ := fakeHolder(t, func(c net.Conn) {
		defer c.Close()
		var req holdRequest
		if readFrame(c, &req) != nil {
			return
		}
		if req.Op == "list" {
			_ = writeFrame(c, holdReply{})
			return
		}
		opens.Add(1)
		io.Copy(io.Discard, c) // busy with the host until the run gives up
	})
	o := env.options()
	o.ConnectTimeout, o.DialAttempts = 100*time.Millisecond, 1
	o.Persist = PersistOptions{Idle: time.Minute, Dir: dir}
	p := env.pool(t, o)
	// Nothing listens on port 1: the direct dial is refused.
	if _, err := p.Get(context.Background(), Target{Name: "h", Address: "127.0.0.1", Port: 1, User: "root"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want unreachable (refused), got %v", err)
	}
	if opens.Load() != 1 {
		t.Fatalf("%d opens asked of the holder, want 1", opens.Load())
	}
	if p.persist.failed.Load() {
		t.Error("a holder that still answered was given up for the rest of the run")
	}
}
