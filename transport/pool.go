package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// PoolOptions configures a Pool. The zero value is usable: every field has
// a default chosen to behave like OpenSSH and to respect sshd's defaults.
type PoolOptions struct {
	// MaxConnecting caps dials and handshakes in progress at once in the
	// whole pool (default 16 per CPU, at least 32): a handshake costs the
	// controller CPU, and a fleet's handshakes overlap up to this bound.
	// Opening a held connection (Persist) counts as one.
	MaxConnecting int
	// MaxConnectingPerHost caps dials and handshakes in progress at once
	// to one sshd (one address and port; default 10): sshd's MaxStartups
	// (10:30:100) starts dropping unauthenticated connections beyond 10,
	// and it counts per server, not per fleet.
	MaxConnectingPerHost int
	// MaxSessionsPerConn caps sessions open at once on one connection
	// (default 10, sshd's MaxSessions). Docker
	// dial-stdio fallback streams each hold one while open.
	MaxSessionsPerConn int
	// ConnectTimeout bounds one dial plus handshake (default 10s);
	// ssh_config ConnectTimeout wins when set for a host.
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive@openssh.com requests
	// (default 15s; negative disables). Three missed replies close the
	// connection.
	KeepAlive time.Duration
	// DialAttempts is how many times a transient dial failure (refused,
	// timed out, reset) is tried (default 3). Authentication and host key
	// failures are never retried.
	DialAttempts int
	// AcceptNewHostKeys records the key of a host that has none on
	// record, like OpenSSH's StrictHostKeyChecking=accept-new. A changed
	// key is refused regardless.
	AcceptNewHostKeys bool
	// KnownHostsFiles replaces the default ~/.ssh/known_hosts (or the
	// ssh_config UserKnownHostsFile). A Target's KnownHostsFile is always
	// consulted as well. New keys are recorded into the Target's file when
	// it names one, else into the first of these.
	KnownHostsFiles []string
	// GlobalKnownHostsFiles are system-wide known_hosts files, consulted
	// read-only (nothing is ever recorded into them; missing or unreadable
	// ones are skipped). Empty: ssh_config GlobalKnownHostsFile, else
	// /etc/ssh/ssh_known_hosts and /etc/ssh/ssh_known_hosts2. {"none"}
	// reads none.
	GlobalKnownHostsFiles []string
	// SSHConfigPath is the ssh_config file read ("" means ~/.ssh/config
	// then SystemSSHConfigPath, as ssh does; a path reads only that file,
	// like ssh -F; "none" reads none).
	SSHConfigPath string
	// SystemSSHConfigPath is the system-wide ssh_config, read after
	// ~/.ssh/config when SSHConfigPath is "" (default /etc/ssh/ssh_config;
	// "none" reads none).
	SystemSSHConfigPath string
	// AgentSocket is the ssh-agent socket ("" means $SSH_AUTH_SOCK, "none"
	// disables the agent).
	AgentSocket string
	// DockerSocket is the remote Docker engine socket (default
	// /var/run/docker.sock).
	DockerSocket string
	// Bounds are the time and size limits of what a host is asked and
	// sends (zero fields: the defaults, see Bounds).
	Bounds Bounds
	// HomeDir and LocalUser default to the current user's.
	HomeDir   string
	LocalUser string
	// Logger receives debug records about dials and retries (default:
	// discarded). The transport never prints.
	Logger *slog.Logger
	// Persist obtains connections from a holder process that keeps them
	// open between runs (persist.go; zero: off).
	Persist PersistOptions
}

// Pool holds one connection per host for a run. It is safe for concurrent
// use. A connection lives while a Conn obtained for it is not released
// (Conn.Release), so that a run's memory follows the hosts it works on at
// once, not the fleet; Close closes every connection.
type Pool struct {
	opts  PoolOptions
	cfg   *sshConfig
	keys  *keyring
	hk    *hostKeys
	log   *slog.Logger
	slots chan struct{} // handshakes in flight, the whole pool

	mu        sync.Mutex
	conns     map[string]*poolEntry
	hostSlots map[string]*hostSlots // handshakes in flight per sshd (host:port); removed when unused
	closed    bool

	stats    counters
	warnings []string
	persist  persistState // the holder, with Persist (persist.go)
}

// Warnings returns what the caller should tell the user about the
// configuration (today at most one: ssh_config Match blocks that were
// skipped). The transport never prints them itself.
func (p *Pool) Warnings() []string { return append([]string(nil), p.warnings...) }

type poolEntry struct {
	done chan struct{}
	conn *link
	err  error
}

// Stats counts what a pool or a connection did; tests and benchmarks use it
// to prove reuse ("one TCP connection per host") and skipped uploads.
type Stats struct {
	Dials          int64 // TCP connections opened (including bastion hops and failed handshakes)
	Handshakes     int64 // SSH handshakes completed
	Sessions       int64 // sessions opened (each exec is one round trip)
	Streams        int64 // Docker engine API streams opened
	BytesUploaded  int64 // file bytes sent
	UploadsSkipped int64 // WriteFile calls that found the content already there
	Open           int64 // SSH connections open now (pool only)
}

type counters struct {
	dials, handshakes, sessions, streams, bytesUploaded, uploadsSkipped, open atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Dials: c.dials.Load(), Handshakes: c.handshakes.Load(), Sessions: c.sessions.Load(),
		Streams: c.streams.Load(), BytesUploaded: c.bytesUploaded.Load(), UploadsSkipped: c.uploadsSkipped.Load(),
		Open: c.open.Load(),
	}
}

// NewPool reads the ssh_config file and prepares the agent; it dials
// nothing.
func NewPool(opts PoolOptions) (*Pool, error) {
	if opts.MaxConnecting <= 0 {
		opts.MaxConnecting = max(32, 16*runtime.NumCPU())
	}
	if opts.MaxConnectingPerHost <= 0 {
		opts.MaxConnectingPerHost = 10
	}
	if opts.MaxSessionsPerConn <= 0 {
		opts.MaxSessionsPerConn = 10
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.DialAttempts <= 0 {
		opts.DialAttempts = 3
	}
	if opts.DockerSocket == "" {
		opts.DockerSocket = "/var/run/docker.sock"
	}
	opts.Bounds = opts.Bounds.WithDefaults()
	if opts.HomeDir == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("transport: home directory: %w", err)
		}
		opts.HomeDir = h
	}
	if opts.LocalUser == "" {
		if u, err := user.Current(); err == nil {
			opts.LocalUser = u.Username
		} else if u := os.Getenv("USER"); u != "" {
			opts.LocalUser = u
		} else {
			return nil, fmt.Errorf("transport: local user: %w", err)
		}
	}
	system := ""
	switch opts.SSHConfigPath {
	case "":
		opts.SSHConfigPath = filepath.Join(opts.HomeDir, ".ssh", "config")
		system = opts.SystemSSHConfigPath
		switch system {
		case "":
			system = "/etc/ssh/ssh_config"
		case "none":
			system = ""
		}
	case "none":
		opts.SSHConfigPath = ""
	}
	switch opts.AgentSocket {
	case "":
		opts.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	case "none":
		opts.AgentSocket = ""
	}
	cfg, err := loadSSHConfigs(opts.SSHConfigPath, system, opts.HomeDir)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var warnings []string
	if w := cfg.warning(); w != "" {
		warnings = append(warnings, w)
	}
	return &Pool{
		warnings:  warnings,
		opts:      opts,
		cfg:       cfg,
		keys:      &keyring{agentSocket: opts.AgentSocket, home: opts.HomeDir},
		hk:        &hostKeys{acceptNew: opts.AcceptNewHostKeys},
		log:       log,
		slots:     make(chan struct{}, opts.MaxConnecting),
		conns:     map[string]*poolEntry{},
		hostSlots: map[string]*hostSlots{},
	}, nil
}

// Stats sums the counters of every connection the pool made.
func (p *Pool) Stats() Stats { return p.stats.snapshot() }

// Get returns the connection to t, dialling it on first use. Concurrent
// calls for the same host share one dial; later calls reuse the
// connection until it dies. Connection errors wrap ErrUnreachable and
// name user@host:port.
//
// Targets that resolve to the same user@host:port (and jump chain) share
// the connection; each gets its own *Conn view carrying its name and
// become setting.
func (p *Pool) Get(ctx context.Context, t Target) (*Conn, error) {
	if t.Local {
		return p.local(t), nil
	}
	e, err := resolve(t, p.cfg, p.opts.LocalUser, p.opts.HomeDir)
	if err != nil {
		return nil, unreachable(err)
	}
	l, err := p.get(ctx, e, 0)
	if err != nil {
		return nil, err
	}
	return &Conn{name: e.Alias, become: t.Become, socket: t.DockerSocket, link: l}, nil
}

// release drops one user of l: the last one closes it (and then drops
// its use of the bastion it runs through).
func (p *Pool) release(l *link) {
	p.mu.Lock()
	l.refs--
	last := l.refs <= 0
	if last {
		key := l.ep.key()
		if ent := p.conns[key]; ent != nil && ent.conn == l {
			delete(p.conns, key)
		}
	}
	p.mu.Unlock()
	if !last {
		return
	}
	l.closeClient()
	if l.via != nil {
		p.release(l.via)
	}
}

func (p *Pool) local(t Target) *Conn {
	name := t.Name
	if name == "" {
		name = "localhost"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ent, ok := p.conns["local"]
	if !ok {
		ent = &poolEntry{done: make(chan struct{}), conn: &link{pool: p, closed: make(chan struct{})}}
		close(ent.done)
		p.conns["local"] = ent
	}
	return &Conn{name: name, become: t.Become, local: true, socket: t.DockerSocket, link: ent.conn}
}

func (p *Pool) get(ctx context.Context, e endpoint, depth int) (*link, error) {
	if depth > 8 {
		return nil, unreachable(fmt.Errorf("%s: ProxyJump chain too deep (loop?)", e))
	}
	key := e.key()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, unreachable(fmt.Errorf("%s: transport pool closed", e))
		}
		ent, ok := p.conns[key]
		if !ok {
			ent = &poolEntry{done: make(chan struct{})}
			p.conns[key] = ent
			p.mu.Unlock()
			ent.conn, ent.err = p.dial(ctx, e, depth)
			p.mu.Lock()
			closed := false
			switch {
			case ent.err != nil:
				// Forget the failure: a later Get dials afresh.
				delete(p.conns, key)
			case p.closed:
				ent.conn.refs, closed = 1, true
				if ent.conn.client != nil {
					p.stats.open.Add(1) // released below
				}
			default:
				ent.conn.refs++ // this caller's
				if ent.conn.client != nil {
					p.stats.open.Add(1) // markClosed takes it back
				}
			}
			p.mu.Unlock()
			if closed {
				// Closed while dialling: drop it, and the bastion it holds.
				p.release(ent.conn)
				ent.conn, ent.err = nil, unreachable(fmt.Errorf("%s: transport pool closed", e))
			}
			close(ent.done)
			if ent.conn != nil {
				go p.watch(key, ent)
			}
			return ent.conn, ent.err
		}
		p.mu.Unlock()
		select {
		case <-ent.done:
		case <-ctx.Done():
			return nil, unreachable(fmt.Errorf("%s: %w", e, ctx.Err()))
		}
		if ent.err != nil {
			return nil, ent.err
		}
		p.mu.Lock()
		select {
		case <-ent.conn.closed:
		default:
			if p.conns[key] == ent {
				ent.conn.refs++
				p.mu.Unlock()
				return ent.conn, nil
			}
		}
		// Died or released since: drop it (if still ours) and dial again.
		if p.conns[key] == ent {
			delete(p.conns, key)
		}
		p.mu.Unlock()
	}
}

// watch forgets a connection once it dies, so that the next Get redials.
func (p *Pool) watch(key string, ent *poolEntry) {
	<-ent.conn.closed
	p.mu.Lock()
	if p.conns[key] == ent {
		delete(p.conns, key)
	}
	p.mu.Unlock()
}

// Close closes every connection of the pool.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var conns []*link
	for _, ent := range p.conns {
		select {
		case <-ent.done:
			if ent.conn != nil && ent.conn.client != nil {
				conns = append(conns, ent.conn)
			}
		default: // still dialling: get() closes it when done
		}
	}
	p.conns = map[string]*poolEntry{}
	p.mu.Unlock()
	// Targets before bastions: a bastion carries its targets' streams.
	for _, c := range conns {
		if c.via == nil {
			continue
		}
		c.closeClient()
	}
	for _, c := range conns {
		c.closeClient()
	}
	return nil
}

// knownHostsFor returns the known_hosts files consulted for e and the one
// a new key is recorded into.
func (p *Pool) knownHostsFor(e endpoint) knownHostsFiles {
	var kf knownHostsFiles
	switch {
	case len(p.opts.KnownHostsFiles) > 0:
		kf.user = append(kf.user, p.opts.KnownHostsFiles...)
	case len(e.KnownHosts) > 0:
		kf.user = append(kf.user, e.KnownHosts...)
	default:
		// OpenSSH's UserKnownHostsFile default; known_hosts2 is only read.
		kf.user = []string{filepath.Join(p.opts.HomeDir, ".ssh", "known_hosts"), filepath.Join(p.opts.HomeDir, ".ssh", "known_hosts2")}
	}
	kf.record = kf.user[0]
	if e.ExtraKnown != "" {
		kf.user = append(kf.user, e.ExtraKnown)
		kf.record = e.ExtraKnown
	}
	switch {
	case len(p.opts.GlobalKnownHostsFiles) > 0:
		kf.global = p.opts.GlobalKnownHostsFiles
	case len(e.GlobalKnown) > 0:
		kf.global = e.GlobalKnown
	default:
		kf.global = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}
	if len(kf.global) == 1 && strings.EqualFold(kf.global[0], "none") {
		kf.global = nil
	}
	return kf
}

// dial connects to e, through its ProxyJump chain if any, retrying
// transient failures with backoff.
func (p *Pool) dial(ctx context.Context, e endpoint, depth int) (*link, error) {
	if p.opts.Persist.Idle > 0 && depth == 0 {
		if l, ok, err := p.dialHeld(ctx, e); ok {
			return l, err
		}
	}
	var via *link
	if n := len(e.Jumps); n > 0 {
		hop, err := parseJump(e.Jumps[n-1])
		if err != nil {
			return nil, unreachable(fmt.Errorf("%s: %w", e, err))
		}
		he, err := resolve(hop, p.cfg, p.opts.LocalUser, p.opts.HomeDir)
		if err != nil {
			return nil, unreachable(fmt.Errorf("%s: proxy jump: %w", e, err))
		}
		if n > 1 {
			// In a chain a,b,c the hop c is reached through a,b.
			he.Jumps = append([]string(nil), e.Jumps[:n-1]...)
		}
		if he.ExtraKnown == "" {
			he.ExtraKnown = e.ExtraKnown
		}
		if len(he.IdentityFiles) == 0 {
			he.IdentityFiles = e.IdentityFiles
		}
		via, err = p.get(ctx, he, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: via proxy jump: %w", e, err)
		}
	}

	var lastErr error
	for attempt := 1; ; attempt++ {
		c, err := p.dialOnce(ctx, e, via)
		if err == nil {
			return c, nil // c holds the use of via taken above
		}
		lastErr = err
		if attempt >= p.opts.DialAttempts || !transient(err) || ctx.Err() != nil {
			p.log.Info("dial failed", "host", e.String(), "attempts", attempt, "err", err)
			break
		}
		wait := time.Duration(1<<(attempt-1)) * 250 * time.Millisecond
		wait += time.Duration(rand.Int64N(int64(wait / 2)))
		// Info, not Debug: --verbose shows why a host became unreachable
		// (a fleet's rare handshake timeouts are otherwise invisible).
		p.log.Info("dial failed, retrying", "host", e.String(), "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	if via != nil {
		p.release(via)
	}
	return nil, lastErr
}

// hostSlots are the handshakes in flight to one sshd.
type hostSlots struct {
	ch    chan struct{}
	users int // goroutines holding or waiting for a slot; 0: removed
}

// connectSlot waits for a handshake slot of the sshd at hostport (per
// server, like sshd's MaxStartups) and then for one of the pool's (a bound
// on the controller's CPU), in that order, so that a host's queue never
// holds slots other hosts could use. done gives both back.
func (p *Pool) connectSlot(ctx context.Context, hostport string) (done func(), err error) {
	p.mu.Lock()
	hs := p.hostSlots[hostport]
	if hs == nil {
		hs = &hostSlots{ch: make(chan struct{}, p.opts.MaxConnectingPerHost)}
		p.hostSlots[hostport] = hs
	}
	hs.users++
	p.mu.Unlock()
	leave := func() {
		p.mu.Lock()
		if hs.users--; hs.users == 0 {
			delete(p.hostSlots, hostport)
		}
		p.mu.Unlock()
	}
	select {
	case hs.ch <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	release, err := p.cpuSlot(ctx)
	if err != nil {
		<-hs.ch
		leave()
		return nil, err
	}
	return func() {
		release()
		<-hs.ch
		leave()
	}, nil
}

// cpuSlot waits for one of the pool's handshake slots alone: the bound on
// the controller's CPU (MaxConnecting). Opening a held connection takes
// one too: it is a handshake with the holder, not with the host's sshd,
// and without the bound a warm run of thousands of hosts opened them all
// at once. done gives it back.
func (p *Pool) cpuSlot(ctx context.Context) (done func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return func() { <-p.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// transient reports whether a dial error is worth another try.
func transient(err error) bool {
	var hke *HostKeyError
	var ae *AuthError
	if errors.As(err, &hke) || errors.As(err, &ae) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// Errors relayed by a bastion arrive as text.
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "Connection refused") || strings.Contains(s, "timed out")
}

func (p *Pool) dialOnce(ctx context.Context, e endpoint, via *link) (*link, error) {
	where := e.String()
	if len(e.Jumps) > 0 {
		where += " (via " + strings.Join(e.Jumps, ",") + ")"
	}
	fail := func(err error) error { return unreachable(fmt.Errorf("connect %s: %w", where, err)) }

	done, err := p.connectSlot(ctx, e.HostPort())
	if err != nil {
		return nil, fail(err)
	}
	defer done()

	timeout := p.opts.ConnectTimeout
	if e.ConnectTimeout > 0 {
		timeout = e.ConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var raw net.Conn
	if via == nil {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		raw, err = d.DialContext(dctx, "tcp", e.HostPort())
	} else {
		raw, err = via.client.DialContext(dctx, "tcp", e.HostPort())
	}
	if err != nil {
		if dctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, context.DeadlineExceeded)
		}
		return nil, fail(err)
	}
	p.stats.dials.Add(1)

	// The handshake honours the deadline: set it on the socket, and close
	// the socket if the context ends first (bastion streams have no
	// deadlines).
	if dl, ok := dctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { raw.Close() })

	// x/crypto turns a failure to read or write during authentication
	// (a deadline, a dropped connection) into a refused method, and the
	// auth callback would then report the key refused: rc keeps the
	// connection's own error so that such a failure is told apart (and
	// retried like any other transient one).
	rc := &recordingConn{Conn: raw}
	kf := p.knownHostsFor(e)
	plan := p.keys.plan(e)
	check := p.hk.callback(kf)
	var seen verifiedKey
	next := plan.next(ssh.PublicKeys(plan.signers...))
	var authLost error // the connection's error when authentication gave up
	cfg := &ssh.ClientConfig{
		User: e.User,
		// Runs in NewClientConn's goroutine, before the connection is
		// closed (after which reads fail for that reason alone).
		AuthCallback: func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			m, err := next(ac)
			if err != nil {
				authLost = rc.failure()
			}
			return m, err
		},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remote, key)
			if err == nil {
				seen = verifiedKey{hostname: hostname, remote: remote, key: key}
			}
			return err
		},
		HostKeyAlgorithms: p.hk.algorithms(kf, e.KnownHostsName()),
		ClientVersion:     "SSH-2.0-vigo",
	}
	// The name given here is what known_hosts is searched for.
	sc, chans, reqs, err := ssh.NewClientConn(rc, e.KnownHostsName(), cfg)
	stopped := stop()
	if err != nil {
		raw.Close()
		var hke *HostKeyError
		switch {
		case errors.As(err, &hke):
			return nil, fmt.Errorf("connect %s: %w", where, hke)
		case (!stopped || dctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(authLost, os.ErrDeadlineExceeded)) && ctx.Err() == nil:
			return nil, fail(fmt.Errorf("handshake timed out after %s: %w", timeout, context.DeadlineExceeded))
		case errors.As(err, new(*authExhausted)) && authLost != nil:
			return nil, fail(fmt.Errorf("connection lost during authentication: %w", authLost))
		case errors.As(err, new(*authExhausted)):
			return nil, fail(plan.authError(err))
		}
		return nil, fail(err)
	}
	if !stopped {
		sc.Close()
		return nil, fail(fmt.Errorf("handshake timed out after %s: %w", timeout, context.DeadlineExceeded))
	}
	_ = raw.SetDeadline(time.Time{})
	p.stats.handshakes.Add(1)

	c := &link{
		ep:       e,
		pool:     p,
		via:      via,
		verified: seen,
		client:   ssh.NewClient(sc, chans, reqs),
		sessions: make(chan struct{}, p.opts.MaxSessionsPerConn),
		closed:   make(chan struct{}),
	}
	c.stats.dials.Add(1)
	c.stats.handshakes.Add(1)
	go func() {
		_ = c.client.Wait()
		c.markClosed()
	}()
	if p.opts.KeepAlive > 0 {
		go c.keepAlive(p.opts.KeepAlive)
	}
	p.log.Debug("connected", "host", where)
	return c, nil
}

// recordingConn is a connection that keeps its first read or write error.
type recordingConn struct {
	net.Conn
	err atomic.Pointer[error]
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// failure returns the connection's first read or write error, nil if none.
func (c *recordingConn) failure() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// verifiedKey is the host key a connection was verified with, kept so
// that a held connection can be checked again against known_hosts as they
// are when it is reused.
type verifiedKey struct {
	hostname string
	remote   net.Addr
	key      ssh.PublicKey
}

// recheck verifies l's host key, and its bastions', against their
// known_hosts files as they are now: a key removed, revoked or replaced
// since l was dialled fails with the error a dial would give.
// The link whose key failed is returned with the error.
func (l *link) recheck() (*link, error) {
	for c := l; c != nil; c = c.via {
		if c.verified.key == nil {
			return c, fmt.Errorf("%s: no verified host key on record", c.ep)
		}
		kf := c.pool.knownHostsFor(c.ep)
		c.pool.hk.mu.Lock()
		err := c.pool.hk.check(kf, c.verified.hostname, c.verified.remote, c.verified.key)
		c.pool.hk.mu.Unlock()
		if err != nil {
			return c, err
		}
	}
	return nil, nil
}
