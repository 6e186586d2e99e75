package transport

import (
	"context"
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

// TestReleaseClosesConnectionWithLastUser: a connection shared by two
// names stays open while one of them still uses it, closes when the last
// is released (a second Release of the same Conn changes nothing), and
// the next Get dials afresh.
func TestReleaseClosesConnectionWithLastUser(t *testing.T) {
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	p := env.pool(t, env.options())
	ctx := context.Background()
	a, b := env.target(s), env.target(s)
	a.Name, b.Name = "a", "b"
	ca, err := p.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := p.Get(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 1 || st.Dials != 1 {
		t.Fatalf("stats %+v, want 1 open from 1 dial", st)
	}
	ca.Release()
	ca.Release()
	if _, err := cb.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatalf("b after a's release: %v", err)
	}
	if n := p.Stats().Open; n != 1 {
		t.Fatalf("%d open after one of two users released, want 1", n)
	}
	cb.Release()
	if n := p.Stats().Open; n != 0 {
		t.Fatalf("%d open after both released, want 0", n)
	}
	c, err := p.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Open != 1 || st.Dials != 2 {
		t.Errorf("stats %+v, want 1 open from 2 dials", st)
	}
}

// TestReleaseClosesBastionWithLastTarget: a ProxyJump bastion is shared
// by the targets behind it and closed when the last of them is released.
func TestReleaseClosesBastionWithLastTarget(t *testing.T) {
	env := newEnv(t)
	auth := sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}}
	jump, t1, t2 := startSSHD(t, auth), startSSHD(t, auth), startSSHD(t, auth)
	env.trust(t, jump, t1, t2)
	cfg := filepath.Join(env.Home, ".ssh", "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Host jump
  HostName 127.0.0.1
  Port %d
Host t1
  HostName 127.0.0.1
  Port %d
  ProxyJump jump
Host t2
  HostName 127.0.0.1
  Port %d
  ProxyJump jump
Host *
  User root
  IdentityFile ~/client_ed25519
`, jump.Port, t1.Port, t2.Port)), 0o600)
	o := env.options()
	o.SSHConfigPath = cfg
	p := env.pool(t, o)
	ctx := context.Background()
	var conns []*Conn
	for _, name := range []string{"t1", "t2"} {
		c, err := p.Get(ctx, Target{Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		conns = append(conns, c)
	}
	if st := p.Stats(); st.Open != 3 || st.Dials != 3 {
		t.Fatalf("stats %+v, want 3 open (1 bastion, 2 targets) from 3 dials", st)
	}
	conns[0].Release()
	if n := p.Stats().Open; n != 2 {
		t.Fatalf("%d open after t1's release, want 2 (the bastion carries t2)", n)
	}
	if _, err := conns[1].Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
		t.Fatalf("t2 after t1's release: %v", err)
	}
	conns[1].Release()
	if n := p.Stats().Open; n != 0 {
		t.Errorf("%d open after both targets released, want 0", n)
	}
}

// acceptCounting accepts connections on l until it is closed, counting
// them in count and serving each with serve in a goroutine of its own.
func acceptCounting(l net.Listener, count *atomic.Int64, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		count.Add(1)
		go serve(c)
	}
}

// silentHosts listens on n ports that accept and never answer, and
// count the connections accepted.
type silentHosts struct {
	targets  []Target
	accepted atomic.Int64
}

func newSilentHosts(t *testing.T, n int) *silentHosts {
	s := &silentHosts{}
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go acceptCounting(l, &s.accepted, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
		s.targets = append(s.targets, Target{Name: fmt.Sprint("h", i), Address: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, User: "root"})
	}
	return s
}

// dialAll dials every target (handshakes that hang: the connect timeout
// is long), waits until want connections were accepted or a while has
// passed, then cancels the dials and returns how many were accepted.
func (s *silentHosts) dialAll(p *Pool, want int64) int64 {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, tg := range s.targets {
		wg.Go(func() { p.Get(ctx, tg) })
	}
	for i := 0; i < 300 && s.accepted.Load() < want; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for any more than want
	n := s.accepted.Load()
	cancel()
	wg.Wait()
	return n
}

// TestHandshakesOverlapAcrossHosts: the per-server cap (sshd's
// MaxStartups, 10) does not hold back a fleet: with the defaults, the
// handshakes of 12 hosts are all in flight at once (a cap of 10 for the
// whole pool made them wait in waves).
func TestHandshakesOverlapAcrossHosts(t *testing.T) {
	env := newEnv(t)
	hosts := newSilentHosts(t, 12)
	o := env.options()
	o.ConnectTimeout, o.DialAttempts = time.Minute, 1
	if n := hosts.dialAll(env.pool(t, o), 12); n != 12 {
		t.Errorf("%d handshakes in flight to 12 hosts, want 12", n)
	}
}

// TestHandshakesCappedPerServer: targets that reach one sshd (here three
// users of one address and port) share its cap.
func TestHandshakesCappedPerServer(t *testing.T) {
	env := newEnv(t)
	hosts := newSilentHosts(t, 1)
	for _, u := range []string{"a", "b"} {
		tg := hosts.targets[0]
		tg.Name, tg.User = u, u
		hosts.targets = append(hosts.targets, tg)
	}
	o := env.options()
	o.ConnectTimeout, o.DialAttempts, o.MaxConnectingPerHost = time.Minute, 1, 1
	if n := hosts.dialAll(env.pool(t, o), 1); n != 1 {
		t.Errorf("%d handshakes in flight to one sshd, want 1 (MaxConnectingPerHost)", n)
	}
}
