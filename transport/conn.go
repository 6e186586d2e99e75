package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conn is one host of a run: an SSH connection shared by every command,
// upload and Docker stream to that host, or the controller itself for a
// local target. Obtain it from Pool.Get; it is safe for concurrent use.
type Conn struct {
	name     string
	become   bool // run commands through sudo -n
	local    bool
	socket   string // Target.DockerSocket; empty: the pool's
	released atomic.Bool
	*link
}

// Bounds are the run's time and size limits (PoolOptions.Bounds with
// defaults filled in); the executors apply them to Docker API requests.
func (c *Conn) Bounds() Bounds {
	if c.link == nil || c.pool == nil {
		return Bounds{}.WithDefaults()
	}
	return c.pool.opts.Bounds
}

// dockerSocket is the path of the host's Docker engine socket.
func (c *Conn) dockerSocket() string {
	if c.socket != "" {
		return c.socket
	}
	return c.pool.opts.DockerSocket
}

// link is one SSH connection, shared by every Conn that resolves to the
// same user@host:port; for local hosts, a stub holding counters.
type link struct {
	ep     endpoint
	pool   *Pool
	via    *link       // bastion this connection runs through, if any
	client *ssh.Client // nil for a local connection
	// verified is the host key the connection was accepted with.
	verified verifiedKey

	sessions chan struct{} // MaxSessions slots
	refs     int           // Conns not released, and connections through this one (under pool.mu)

	dockerMu  sync.Mutex
	dockerVia string // "", "streamlocal" or "dial-stdio" once known

	closeOnce sync.Once
	closed    chan struct{}

	stats counters
}

// Name is the host's inventory name.
func (c *Conn) Name() string { return c.name }

// String names the connection in messages: user@host:port, or the name of
// a local host.
func (c *Conn) String() string {
	if c.local {
		return c.name + " (local)"
	}
	return c.ep.String()
}

// String names the connection: user@host:port.
func (c *link) String() string { return c.ep.String() }

// Stats returns what this connection did so far (shared by every Conn on
// the same connection).
func (c *link) Stats() Stats { return c.stats.snapshot() }

// Close closes this connection (for every Conn sharing it); the pool dials
// afresh on the next Get.
func (c *Conn) Close() error {
	c.closeClient()
	return nil
}

// Release says that this Conn's user is done with the host: the
// connection is closed once no other Conn uses it (another inventory name
// for the same user@host:port), and a bastion once no connection runs
// through it. Commands and streams still open on it are cut, so release
// after the last one (a lock's release included). A later Get dials
// afresh. Calling it again does nothing.
func (c *Conn) Release() {
	if c.local || c.link == nil || c.pool == nil || !c.released.CompareAndSwap(false, true) {
		return
	}
	c.pool.release(c.link)
}

func (c *link) closeClient() {
	if c.client != nil {
		c.client.Close()
	}
	c.markClosed()
}

func (c *link) markClosed() {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.client != nil {
			c.pool.stats.open.Add(-1)
		}
	})
}

func (c *Conn) becomes() bool { return c.become }

// keepAlive sends keepalive@openssh.com requests and closes the
// connection after three unanswered ones, so that a dead host fails fast
// instead of hanging the run.
func (c *link) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				c.closeClient()
				return
			}
			missed = 0
		case <-time.After(every):
			missed++
			if missed >= 3 {
				c.pool.log.Debug("keepalive: no reply, closing", "host", c.String())
				c.closeClient()
				return
			}
		case <-c.closed:
			return
		}
	}
}

// acquire takes one of the connection's session slots.
func (c *Conn) acquire(ctx context.Context) (release func(), err error) {
	select {
	case c.sessions <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-c.sessions }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, unreachable(fmt.Errorf("%s: connection closed", c))
	}
}

// newSession opens a session in a slot; release frees the slot and must
// be called after the session is closed.
func (c *Conn) newSession(ctx context.Context) (*ssh.Session, func(), error) {
	release, err := c.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	// sshd frees a session slot a moment after the channel closes, so an
	// open racing a close can be refused although at most MaxSessions are
	// open: try again briefly before giving up.
	var s *ssh.Session
	wait := 5 * time.Millisecond
	for deadline := time.Now().Add(5 * time.Second); ; {
		s, err = c.client.NewSession()
		var oce *ssh.OpenChannelError
		if err == nil || !errors.As(err, &oce) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			release()
			return nil, nil, ctx.Err()
		}
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
	if err != nil {
		release()
		return nil, nil, unreachable(fmt.Errorf("%s: new session: %w", c, err))
	}
	c.count(func(k *counters) { k.sessions.Add(1) })
	return s, release, nil
}

// count updates the connection's and the pool's counters.
func (c *link) count(f func(*counters)) {
	f(&c.stats)
	f(&c.pool.stats)
}
