package transport

// The holder (`vigocli connections hold`): a process of the user that
// keeps verified SSH connections open between runs and relays every
// channel a controller opens to the host (see persist.go for the
// protocol). It never accepts a connection from another uid, never holds
// a private key (it authenticates with the identity files and agent the
// controller names, as the controller would), and checks host keys when
// it dials exactly as a pool does, because it dials through a pool.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// HolderOptions configures RunHolder.
type HolderOptions struct {
	// Dir is the runtime directory ("": RuntimeDir()).
	Dir string
	// Linger is how long the holder waits, holding nothing and serving
	// no run, before it exits (default 10s).
	Linger time.Duration
	// Tick is how often idle connections are looked for (default 1s).
	Tick time.Duration
	// Logger receives what the holder does (default: discarded).
	Logger *slog.Logger
}

// ErrHolderRunning is returned by RunHolder when another holder already
// serves the directory.
var ErrHolderRunning = errors.New("a connection holder already runs")

// holder is a running holder.
type holder struct {
	opts   HolderOptions
	log    *slog.Logger
	srvCfg *ssh.ServerConfig

	mu       sync.Mutex
	pools    map[string]*heldPool
	entries  map[string]*heldEntry
	clients  int // connections being served
	lastBusy time.Time

	refused atomic.Int64 // connections from another uid (tests)
}

// heldPool is a pool for one set of dialling options (runs may differ in
// known_hosts files, agent, --accept-new-host-keys).
type heldPool struct {
	pool    *Pool
	opening int // opens in progress
}

// heldEntry is one held host connection.
type heldEntry struct {
	key      string
	poolKey  string
	ep       endpoint
	link     *link
	since    time.Time
	lastUsed time.Time
	idle     time.Duration
	clients  int
	channels atomic.Int64
}

// RunHolder serves the holder socket until ctx ends, or until it has held
// nothing and served no run for Linger.
func RunHolder(ctx context.Context, o HolderOptions) error {
	dir, err := orRuntimeDir(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	if o.Linger <= 0 {
		o.Linger = 10 * time.Second
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := prepareRuntimeDir(dir); err != nil {
		return err
	}
	lockf, err := os.OpenFile(filepath.Join(dir, holderLock), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("holder lock: %w", err)
	}
	defer lockf.Close()
	if err := flock(lockf, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w", dir, ErrHolderRunning)
		}
		return fmt.Errorf("holder lock: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	if err := writePrivate(filepath.Join(dir, holderPub), ssh.MarshalAuthorizedKey(signer.PublicKey())); err != nil {
		return fmt.Errorf("holder key: %w", err)
	}
	sock := filepath.Join(dir, holderSocket)
	// A socket left by a holder that died: ours, since we hold the lock.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("holder socket: %w", err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("holder socket: %w", err)
	}
	// The directory is the user's alone (0700), so nobody else can reach
	// the socket between bind and chmod; 0600 is the second fence.
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("holder socket: %w", err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true, ServerVersion: "SSH-2.0-vigo-holder", Config: ssh.Config{KeyExchanges: holderKex}}
	cfg.AddHostKey(signer)
	h := &holder{opts: o, log: log, srvCfg: cfg, pools: map[string]*heldPool{}, entries: map[string]*heldEntry{}, lastBusy: time.Now()}
	log.Info("holder listening", "socket", sock, "pid", os.Getpid())
	return h.serve(ctx, l)
}

// writePrivate writes data to path with mode 0600 through a new file
// renamed into place (path's directory is the checked runtime directory).
func writePrivate(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (h *holder) serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go h.janitor(ctx, cancel)
	var wg sync.WaitGroup
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		h.mu.Lock()
		h.clients++
		h.lastBusy = time.Now()
		h.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.handle(ctx, c)
			h.mu.Lock()
			h.clients--
			h.lastBusy = time.Now()
			h.mu.Unlock()
		}()
	}
	h.shutdown()
	wg.Wait()
	// Nothing answers here any more: let the next run start a holder
	// at once instead of timing out on a dead socket.
	os.Remove(filepath.Join(h.opts.Dir, holderSocket))
	h.log.Info("holder exiting")
	return nil
}

// janitor closes connections idle past their time, and ends the holder
// once it has held nothing and served nobody for Linger.
func (h *holder) janitor(ctx context.Context, stop context.CancelFunc) {
	t := time.NewTicker(h.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var drop []*heldEntry
		var pools []*Pool
		h.mu.Lock()
		for k, e := range h.entries {
			if e.clients == 0 && now.Sub(e.lastUsed) >= e.idle {
				drop = append(drop, e)
				delete(h.entries, k)
			}
		}
		pools = h.unusedPoolsLocked()
		quiet := len(h.entries) == 0 && h.clients == 0 && now.Sub(h.lastBusy) >= h.opts.Linger
		h.mu.Unlock()
		for _, e := range drop {
			h.log.Info("idle: closing", "host", e.ep.String(), "idle", e.idle)
			e.link.closeClient()
		}
		for _, p := range pools {
			p.Close()
		}
		if quiet {
			stop()
			return
		}
	}
}

// unusedPoolsLocked removes and returns the pools no entry uses and no
// open is dialling through (their bastion connections go with them).
func (h *holder) unusedPoolsLocked() []*Pool {
	used := map[string]bool{}
	for _, e := range h.entries {
		used[e.poolKey] = true
	}
	var out []*Pool
	for k, p := range h.pools {
		if !used[k] && p.opening == 0 {
			out = append(out, p.pool)
			delete(h.pools, k)
		}
	}
	return out
}

func (h *holder) shutdown() {
	h.mu.Lock()
	var pools []*Pool
	for _, p := range h.pools {
		pools = append(pools, p.pool)
	}
	h.pools, h.entries = map[string]*heldPool{}, map[string]*heldEntry{}
	h.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// handle serves one connection: checks the peer, reads its request and
// answers it; an open goes on as an SSH connection.
func (h *holder) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	uid, err := peerUID(c)
	if err != nil || uid != uint32(os.Getuid()) {
		h.refused.Add(1)
		h.log.Warn("refused a connection from another user", "uid", uid, "err", err)
		return
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var req holdRequest
	if err := readFrame(c, &req); err != nil {
		h.log.Debug("bad request", "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch req.Op {
	case "list":
		_ = writeFrame(c, holdReply{Held: h.list()})
	case "close":
		_ = writeFrame(c, holdReply{Closed: h.close(req.Hosts, req.All)})
	case "open":
		h.open(ctx, c, req)
	default:
		_ = writeFrame(c, holdReply{Error: &wireError{Msg: fmt.Sprintf("holder: unknown request %q", req.Op)}})
	}
}

func (h *holder) list() []HeldConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HeldConn, 0, len(h.entries))
	for _, e := range h.entries {
		out = append(out, HeldConn{Name: e.ep.Alias, Host: e.ep.String(), Via: e.ep.Jumps, Since: e.since,
			LastUsed: e.lastUsed, Idle: e.idle, Clients: e.clients, Channels: int(e.channels.Load())})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// close closes the entries named (by inventory name, host or
// user@host:port), or all; runs using them see their connection end.
func (h *holder) close(hosts []string, all bool) int {
	h.mu.Lock()
	var drop []*heldEntry
	for k, e := range h.entries {
		if all || slices.Contains(hosts, e.ep.Alias) || slices.Contains(hosts, e.ep.String()) || slices.Contains(hosts, e.ep.Host) {
			drop = append(drop, e)
			delete(h.entries, k)
		}
	}
	h.mu.Unlock()
	for _, e := range drop {
		h.log.Info("closing on request", "host", e.ep.String())
		e.link.closeClient()
	}
	return len(drop)
}

// poolFor returns the pool for o, made on first use, counting an open in
// progress.
func (h *holder) poolFor(o *heldOptions) (string, *heldPool, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return "", nil, err
	}
	key := string(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, ok := h.pools[key]
	if !ok {
		agent := o.AgentSocket
		if agent == "" {
			agent = "none"
		}
		p, err := NewPool(PoolOptions{
			HomeDir: o.HomeDir, LocalUser: o.LocalUser, SSHConfigPath: "none", AgentSocket: agent,
			KnownHostsFiles: o.KnownHostsFiles, GlobalKnownHostsFiles: o.GlobalKnownHostsFiles,
			AcceptNewHostKeys: o.AcceptNewHostKeys, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive,
			DialAttempts: o.DialAttempts, MaxConnecting: o.MaxConnecting, MaxSessionsPerConn: o.MaxSessionsPerConn,
			Logger: h.log,
		})
		if err != nil {
			return "", nil, err
		}
		// The same ssh_config files the run read (ProxyJump hops are
		// resolved through them).
		if p.cfg, err = loadSSHConfigs(o.SSHConfig, o.SystemSSHConfig, o.HomeDir); err != nil {
			return "", nil, fmt.Errorf("transport: %w", err)
		}
		hp = &heldPool{pool: p}
		h.pools[key] = hp
	}
	hp.opening++
	return key, hp, nil
}

// open dials or reuses the requested host, answers, then serves the SSH
// connection that follows until either side ends it.
func (h *holder) open(ctx context.Context, c net.Conn, req holdRequest) {
	if req.Endpoint == nil || req.Options == nil {
		_ = writeFrame(c, holdReply{Error: &wireError{Msg: "holder: open without endpoint or options"}})
		return
	}
	e := *req.Endpoint
	poolKey, hp, err := h.poolFor(req.Options)
	if err != nil {
		_ = writeFrame(c, holdReply{Error: toWire(err)})
		return
	}
	// Bounded by the pool's ConnectTimeout and DialAttempts (the run's),
	// and by the holder's life.
	l, err := hp.pool.get(ctx, e, 0)
	if err == nil {
		// A held connection was verified against known_hosts as they
		// were then: a key removed, revoked or replaced since must not
		// be trusted through it. Redial, with the checks of a dial.
		if bad, kerr := l.recheck(); kerr != nil {
			h.log.Warn("held connection's host key no longer trusted: redialling", "host", bad.ep.String(), "err", kerr)
			bad.closeClient()
			l.closeClient()
			l, err = hp.pool.get(ctx, e, 0)
		}
	}
	h.mu.Lock()
	hp.opening--
	var ent *heldEntry
	if err == nil {
		key := poolKey + "\x00" + e.key()
		ent = h.entries[key]
		now := time.Now()
		if ent == nil || ent.link != l {
			ent = &heldEntry{key: key, poolKey: poolKey, ep: e, link: l, since: now}
			h.entries[key] = ent
			go h.watch(ent)
		}
		ent.ep.Alias = e.Alias
		ent.clients++
		ent.lastUsed = now
		if req.Idle > ent.idle || ent.clients == 1 {
			ent.idle = req.Idle
		}
	}
	h.mu.Unlock()
	if err != nil {
		h.log.Info("dial failed", "host", e.String(), "err", err)
		_ = writeFrame(c, holdReply{Error: toWire(err)})
		return
	}
	defer func() {
		h.mu.Lock()
		ent.clients--
		ent.lastUsed = time.Now()
		h.mu.Unlock()
	}()
	if err := writeFrame(c, holdReply{}); err != nil {
		return
	}
	h.relay(c, ent, l)
}

// watch forgets an entry whose connection died (the next open redials).
func (h *holder) watch(ent *heldEntry) {
	<-ent.link.closed
	h.mu.Lock()
	if h.entries[ent.key] == ent {
		delete(h.entries, ent.key)
	}
	h.mu.Unlock()
	h.log.Info("connection closed", "host", ent.ep.String())
}

// relay serves the controller's SSH connection on c, relaying each of
// its channels to the host connection l.
func (h *holder) relay(c net.Conn, ent *heldEntry, l *link) {
	_ = c.SetDeadline(time.Now().Add(holderHandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, h.srvCfg)
	if err != nil {
		h.log.Debug("controller handshake failed", "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	go func() {
		// keepalive@openssh.com and the like: the holder answers for
		// itself; it keeps the host connection alive on its own.
		for r := range reqs {
			if r.WantReply {
				_ = r.Reply(r.Type == "keepalive@openssh.com", nil)
			}
		}
	}()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-l.closed:
			sc.Close() // the host went away: so does the run's view of it
		case <-done:
		}
	}()
	for nc := range chans {
		go relayChannel(nc, l, ent)
	}
}

// relayChannel opens the same channel on the host connection and copies
// data, extended data (stderr) and requests (exec, signal, exit-status,
// ...) both ways, in order, closing each side after the other.
func relayChannel(nc ssh.NewChannel, l *link, ent *heldEntry) {
	up, upReqs, err := l.client.OpenChannel(nc.ChannelType(), nc.ExtraData())
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			_ = nc.Reject(oce.Reason, oce.Message)
		} else {
			_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		}
		return
	}
	down, downReqs, err := nc.Accept()
	if err != nil {
		up.Close()
		return
	}
	ent.channels.Add(1)
	defer ent.channels.Add(-1)

	// EOF goes after both streams: nothing can be sent after it.
	var toDown, toUp sync.WaitGroup
	toDown.Add(2)
	go func() {
		defer toDown.Done()
		_, _ = growingCopy(down, up)
	}()
	go func() {
		defer toDown.Done()
		_, _ = growingCopy(down.Stderr(), up.Stderr())
	}()
	toUp.Add(2)
	go func() {
		defer toUp.Done()
		_, _ = growingCopy(up, down)
	}()
	go func() {
		defer toUp.Done()
		_, _ = growingCopy(up.Stderr(), down.Stderr())
	}()
	go func() {
		toUp.Wait()
		_ = up.CloseWrite()
	}()
	eof := make(chan struct{})
	go func() {
		toDown.Wait()
		_ = down.CloseWrite()
		close(eof)
	}()
	go func() {
		forwardRequests(up, downReqs)
		// The run closed its channel (or its connection ended).
		up.Close()
	}()
	// The host closed the channel once its requests are all seen;
	// exit-status went first, data before the close.
	forwardRequests(down, upReqs)
	<-eof
	down.Close()
}

func forwardRequests(dst ssh.Channel, reqs <-chan *ssh.Request) {
	for r := range reqs {
		ok, err := dst.SendRequest(r.Type, r.WantReply, r.Payload)
		if r.WantReply {
			_ = r.Reply(ok && err == nil, nil)
		}
	}
}
