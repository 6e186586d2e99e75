package transport

// Warm connections (the controller's side): with PoolOptions.Persist, a
// host's SSH connection is obtained from a holder process of the same
// user (persist_holder.go) instead of being dialled, so that consecutive
// runs skip the TCP connection, the key exchange and the authentication.
//
// The holder listens on a unix socket in a per-user runtime directory
// (0700, checked like every path vigo writes through: owner, mode, no
// unsafe symlink; the socket 0600), and each side checks the other's uid
// with SO_PEERCRED. The controller asks for a host in one framed JSON
// request (the resolved endpoint and the paths of what authenticates it:
// identity files, agent socket, known_hosts files; never a key), the
// holder dials it exactly as a pool does (same host key checks, a changed
// key refused) or reuses the connection it holds, then the same unix
// connection carries an ordinary SSH connection to the holder (its
// ephemeral host key pinned from a 0600 file) whose channels the holder
// relays to the host. Everything above the *ssh.Client is unchanged.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// PersistOptions turns on warm connections (PoolOptions.Persist).
type PersistOptions struct {
	// Idle is how long the holder keeps a host's connection open after
	// its last use (0: off, every run dials its own connections).
	Idle time.Duration
	// Dir is the holder's runtime directory ("": RuntimeDir()).
	Dir string
	// Start is the command that starts a holder when none answers, run
	// detached in a session of its own (for vigocli: `vigocli connections
	// hold`). Empty: none is started. When no holder can be reached the
	// pool dials directly, as without Persist.
	Start []string
}

// holderKex is the key exchange of the link between a run and the
// holder: a unix socket between two processes of one uid (each checks the
// other's with SO_PEERCRED), the holder's key pinned from a 0600 file.
// x/crypto's default, ML-KEM with X25519, guards recorded traffic against
// a future quantum computer; nobody can record this link who could not
// read the run's memory. ML-KEM was half the cost of every handshake on
// it: in a warm run of 1,000 simulated hosts, 6% of vigocli's CPU and 5%
// of the holder's (bench-scale's profiles, before and after).
// P-256 is there for FIPS 140 mode (GODEBUG=fips140=on), where x/crypto
// offers no X25519 exchange.
var holderKex = []string{ssh.KeyExchangeCurve25519, ssh.KeyExchangeECDHP256}

// persistState is a pool's view of the holder: started at most once.
type persistState struct {
	once     sync.Once
	startErr error
	// failed is set once the holder could not be used (no answer in time,
	// a failed handshake, none running and none started): the rest of
	// the run dials directly instead of waiting on it host after host.
	failed atomic.Bool
}

// ErrNoHolder is returned by ListHeld and CloseHeld when no holder runs.
var ErrNoHolder = errors.New("no connection holder running")

// Files of the runtime directory.
const (
	holderSocket = "holder.sock"
	holderPub    = "holder.pub"  // the holder's ephemeral host key, pinned by controllers
	holderLock   = "holder.lock" // flock: one holder per directory
	holderLog    = "holder.log"  // the holder's stderr
)

// maxFrame bounds one request or reply on the holder's socket.
const maxFrame = 1 << 20

// holderCallTimeout bounds a list or close: the holder answers them from
// memory, so a holder silent this long is hung (stopped, wedged), and
// `vigocli connections` must not wait on it forever.
const holderCallTimeout = 5 * time.Second

// holderHandshakeTimeout bounds the SSH handshake on a run-holder link,
// on both sides, from the holder's answer to an open.
const holderHandshakeTimeout = 10 * time.Second

// RuntimeDir is the default holder directory: $XDG_RUNTIME_DIR/vigo when
// XDG_RUNTIME_DIR is set and is the current user's (a tmpfs only the user
// can enter, emptied at logout; sudo may leave another user's in the
// environment), else ~/.vigo/run.
func RuntimeDir() (string, error) {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		var st syscall.Stat_t
		if err := syscall.Lstat(x, &st); err == nil && st.Uid == uint32(os.Getuid()) {
			return filepath.Join(x, "vigo"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	return filepath.Join(home, ".vigo", "run"), nil
}

// UnsafeRuntimeDirError is a runtime directory refused: another user
// could reach or replace the holder's socket through it.
type UnsafeRuntimeDirError struct {
	Dir    string
	Reason string
	Err    error // the path resolution's error, if that refused it
}

func (e *UnsafeRuntimeDirError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("runtime directory %s: %s: %v", e.Dir, e.Reason, e.Err)
	}
	return fmt.Sprintf("runtime directory %s: %s", e.Dir, e.Reason)
}

func (e *UnsafeRuntimeDirError) Unwrap() error { return e.Err }

// prepareRuntimeDir creates dir (mode 0700) if missing and checks it:
// every component resolved without an unsafe symlink and owned by root or
// the current user (ResolveDir's rule), the directory itself a real
// directory of the current user that nobody else can enter.
func prepareRuntimeDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "not an absolute path"}
	}
	dir = filepath.Clean(dir)
	uid := uint32(os.Getuid())
	tr := Trust{Self: uid}
	res, err := ResolveDir(localLstat{}, dir, dir, tr)
	if err != nil {
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "refused", Err: err}
	}
	at := res.Dir
	for _, m := range res.Missing {
		at = filepath.Join(at, m)
		// Mkdir never follows a symlink at its last component: one
		// planted there fails with EEXIST and the check below refuses it.
		if err := os.Mkdir(at, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("runtime directory %s: %w", dir, err)
		}
	}
	return checkRuntimeDir(dir)
}

// checkRuntimeDir checks an existing runtime directory (see
// prepareRuntimeDir).
func checkRuntimeDir(dir string) error {
	uid := uint32(os.Getuid())
	res, err := ResolveDir(localLstat{}, dir, dir, Trust{Self: uid})
	if err != nil {
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "refused", Err: err}
	}
	if len(res.Missing) > 0 {
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "missing", Err: os.ErrNotExist}
	}
	n := res.Node
	switch {
	case isSymlink(dir):
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "a symlink (want a directory of its own)"}
	case n.Kind != NodeDir:
		return &UnsafeRuntimeDirError{Dir: dir, Reason: "not a directory"}
	case n.UID != uid:
		return &UnsafeRuntimeDirError{Dir: dir, Reason: fmt.Sprintf("owned by uid %d, not by uid %d", n.UID, uid)}
	case n.Mode&0o077 != 0:
		return &UnsafeRuntimeDirError{Dir: dir, Reason: fmt.Sprintf("mode %04o: others may enter it (want 0700)", n.Mode)}
	}
	return nil
}

func isSymlink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// holdRequest is what a controller asks the holder, one per connection.
type holdRequest struct {
	Op       string        `json:"op"` // "open", "list" or "close"
	Endpoint *endpoint     `json:"endpoint,omitempty"`
	Options  *heldOptions  `json:"options,omitempty"`
	Idle     time.Duration `json:"idle,omitempty"`
	Hosts    []string      `json:"hosts,omitempty"` // close: names or user@host:port
	All      bool          `json:"all,omitempty"`
}

// heldOptions are the pool options a held connection is dialled with:
// paths only (never a key).
type heldOptions struct {
	HomeDir               string        `json:"home"`
	LocalUser             string        `json:"local_user"`
	SSHConfig             string        `json:"ssh_config,omitempty"`        // the user's file ("": none)
	SystemSSHConfig       string        `json:"system_ssh_config,omitempty"` // ("": none)
	AgentSocket           string        `json:"agent_socket,omitempty"`
	KnownHostsFiles       []string      `json:"known_hosts,omitempty"`
	GlobalKnownHostsFiles []string      `json:"global_known_hosts,omitempty"`
	AcceptNewHostKeys     bool          `json:"accept_new,omitempty"`
	ConnectTimeout        time.Duration `json:"connect_timeout"`
	KeepAlive             time.Duration `json:"keepalive"`
	DialAttempts          int           `json:"dial_attempts"`
	MaxConnecting         int           `json:"max_connecting"`
	MaxSessionsPerConn    int           `json:"max_sessions"`
}

// holdReply is the holder's answer.
type holdReply struct {
	Error  *wireError `json:"error,omitempty"`
	Held   []HeldConn `json:"held,omitempty"`
	Closed int        `json:"closed,omitempty"`
}

// HeldConn is one connection a holder keeps.
type HeldConn struct {
	Name     string        `json:"name"` // inventory name (ssh_config alias) it was asked for by
	Host     string        `json:"host"` // user@host:port
	Via      []string      `json:"via,omitempty"`
	Since    time.Time     `json:"since"`     // connected
	LastUsed time.Time     `json:"last_used"` // a run last attached or detached
	Idle     time.Duration `json:"idle"`      // closed after this long unused
	Clients  int           `json:"clients"`   // runs using it now
	Channels int           `json:"channels"`  // sessions and streams open now
}

// wireError carries a dial error across the socket with the data callers
// test for (errors.As *HostKeyError, *AuthError; errors.Is
// ErrUnreachable, context.DeadlineExceeded).
type wireError struct {
	Msg         string       `json:"msg"`
	Unreachable bool         `json:"unreachable,omitempty"`
	Timeout     bool         `json:"timeout,omitempty"`
	HostKey     *wireHostKey `json:"host_key,omitempty"`
	Auth        *wireAuth    `json:"auth,omitempty"`
}

type wireHostKey struct {
	Host       string   `json:"host"`
	Want       []string `json:"want,omitempty"`
	Got        string   `json:"got"`
	KeyType    string   `json:"key_type"`
	KnownHosts []string `json:"known_hosts,omitempty"`
	WantFiles  []string `json:"want_files,omitempty"`
}

type wireAuth struct {
	Offered int      `json:"offered"`
	Skipped []string `json:"skipped,omitempty"`
	Err     string   `json:"err"`
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error(), Unreachable: errors.Is(err, ErrUnreachable), Timeout: errors.Is(err, context.DeadlineExceeded)}
	var hke *HostKeyError
	var ae *AuthError
	switch {
	case errors.As(err, &hke):
		w.HostKey = &wireHostKey{Host: hke.Host, Want: hke.Want, Got: hke.Got, KeyType: hke.KeyType, KnownHosts: hke.KnownHosts, WantFiles: hke.wantFiles}
	case errors.As(err, &ae):
		w.Auth = &wireAuth{Offered: ae.Offered, Skipped: ae.Skipped, Err: ae.Err.Error()}
	}
	return w
}

// heldError is an error the holder reported: its text, and the typed
// error inside it.
type heldError struct {
	msg         string
	inner       error
	unreachable bool
}

func (e *heldError) Error() string { return e.msg }
func (e *heldError) Unwrap() error { return e.inner }
func (e *heldError) Is(target error) bool {
	return target == ErrUnreachable && e.unreachable
}

func (w *wireError) err() error {
	e := &heldError{msg: w.Msg, unreachable: w.Unreachable}
	switch {
	case w.HostKey != nil:
		h := w.HostKey
		e.inner = &HostKeyError{Host: h.Host, Want: h.Want, Got: h.Got, KeyType: h.KeyType, KnownHosts: h.KnownHosts, wantFiles: h.WantFiles}
	case w.Auth != nil:
		e.inner = &AuthError{Offered: w.Auth.Offered, Skipped: w.Auth.Skipped, Err: errors.New(w.Auth.Err)}
	case w.Timeout:
		e.inner = context.DeadlineExceeded
	}
	return e
}

// writeFrame and readFrame exchange one JSON value, length-prefixed so
// that nothing past it is read (the SSH connection follows on the same
// socket).
func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("holder frame of %d bytes is over the %d limit", len(b), maxFrame)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("holder frame of %d bytes is over the %d limit", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// peerUID is the uid of the process at the other end of a unix socket,
// as the kernel recorded it when the connection was made (SO_PEERCRED).
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return cred.Uid, nil
}

// dialHolder connects to the holder of dir and checks it runs as the
// current user.
func dialHolder(ctx context.Context, dir string) (net.Conn, error) {
	if err := checkRuntimeDir(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %v", ErrNoHolder, err)
		}
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(dir, holderSocket))
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %v", ErrNoHolder, err)
		}
		return nil, err
	}
	uid, err := peerUID(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	if uid != uint32(os.Getuid()) {
		c.Close()
		return nil, fmt.Errorf("holder socket %s is served by uid %d, not by uid %d: refusing it", filepath.Join(dir, holderSocket), uid, os.Getuid())
	}
	return c, nil
}

// ask sends one request to the holder of dir and returns its reply; the
// connection stays open for what follows when keep is set.
func ask(ctx context.Context, dir string, req holdRequest, keep bool) (holdReply, net.Conn, error) {
	c, err := dialHolder(ctx, dir)
	if err != nil {
		return holdReply{}, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var rep holdReply
	if err = writeFrame(c, req); err == nil {
		err = readFrame(c, &rep)
	}
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return holdReply{}, nil, fmt.Errorf("holder: %w", err)
	}
	if !keep {
		c.Close()
		c = nil
	}
	return rep, c, nil
}

// ListHeld returns the connections the holder of dir ("": RuntimeDir())
// keeps; ErrNoHolder when none runs.
func ListHeld(ctx context.Context, dir string) ([]HeldConn, error) {
	ctx, cancel := context.WithTimeout(ctx, holderCallTimeout)
	defer cancel()
	dir, err := orRuntimeDir(dir)
	if err != nil {
		return nil, err
	}
	rep, _, err := ask(ctx, dir, holdRequest{Op: "list"}, false)
	if err != nil {
		return nil, err
	}
	if rep.Error != nil {
		return nil, rep.Error.err()
	}
	return rep.Held, nil
}

// CloseHeld closes the held connections to hosts (inventory names or
// user@host:port), or all of them, and returns how many it closed.
func CloseHeld(ctx context.Context, dir string, hosts []string, all bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, holderCallTimeout)
	defer cancel()
	dir, err := orRuntimeDir(dir)
	if err != nil {
		return 0, err
	}
	rep, _, err := ask(ctx, dir, holdRequest{Op: "close", Hosts: hosts, All: all}, false)
	if err != nil {
		return 0, err
	}
	if rep.Error != nil {
		return 0, rep.Error.err()
	}
	return rep.Closed, nil
}

func orRuntimeDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return RuntimeDir()
}

// heldOptions describes p's dialling for the holder.
func (p *Pool) heldOptions() *heldOptions {
	o := p.opts
	h := &heldOptions{
		HomeDir: o.HomeDir, LocalUser: o.LocalUser, AgentSocket: o.AgentSocket,
		KnownHostsFiles: o.KnownHostsFiles, GlobalKnownHostsFiles: o.GlobalKnownHostsFiles,
		AcceptNewHostKeys: o.AcceptNewHostKeys, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive,
		DialAttempts: o.DialAttempts, MaxConnecting: o.MaxConnecting, MaxSessionsPerConn: o.MaxSessionsPerConn,
	}
	// The files the pool read: the user's (even if missing) and, when one
	// was read, the system-wide one.
	h.SSHConfig = p.cfg.path
	for _, f := range p.cfg.files {
		if f.path != p.cfg.path {
			h.SystemSSHConfig = f.path
		}
	}
	return h
}

// dialHeld obtains e's connection from the holder. ok is false when no
// holder could be reached (the caller then dials directly); otherwise the
// connection or the holder's dial error (host key refused, unreachable)
// is returned.
func (p *Pool) dialHeld(ctx context.Context, e endpoint) (l *link, ok bool, err error) {
	if p.persist.failed.Load() {
		return nil, false, nil
	}
	dir, err := orRuntimeDir(p.opts.Persist.Dir)
	if err != nil {
		p.log.Debug("persist: no runtime directory, dialling directly", "err", err)
		return nil, false, nil
	}
	// A slot first, as a dial takes one (its wait is not the holder's
	// time): on a warm run the holder's answer and the handshake with it
	// cost the controller about what a host's handshake does. (On a run
	// that makes the holder dial, the slot also covers that dial, so such
	// a run is paced like a cold one.) The holder's handshake deadline
	// starts with its answer, so the slot cannot be taken in between.
	done, err := p.cpuSlot(ctx)
	if err != nil {
		return nil, true, unreachable(fmt.Errorf("connect %s: %w", e, err))
	}
	defer done()
	if p.persist.failed.Load() {
		return nil, false, nil // while this host waited for its slot
	}
	// The holder dials with its own retries: bound the wait by them.
	timeout := p.opts.ConnectTimeout
	if e.ConnectTimeout > 0 {
		timeout = e.ConnectTimeout
	}
	wait := time.Duration(p.opts.DialAttempts)*(timeout+2*time.Second)*time.Duration(1+len(e.Jumps)) + 5*time.Second
	actx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req := holdRequest{Op: "open", Endpoint: &e, Options: p.heldOptions(), Idle: p.opts.Persist.Idle}
	rep, c, err := ask(actx, dir, req, true)
	if errors.Is(err, ErrNoHolder) && len(p.opts.Persist.Start) > 0 {
		if err = p.startHolder(actx, dir); err == nil {
			rep, c, err = ask(actx, dir, req, true)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, true, unreachable(fmt.Errorf("connect %s: %w", e, ctx.Err()))
		}
		// Out of time on this host: a holder busy with it (its own queue,
		// a redial, a slow bastion) still answers a list from memory, and
		// only this host dials directly; a wedged one fails the run.
		if errors.Is(err, context.DeadlineExceeded) {
			if _, lerr := ListHeld(ctx, dir); lerr == nil {
				p.log.Info("persist: the holder took too long for this host, dialling it directly", "host", e.String(), "wait", wait)
				return nil, false, nil
			}
		}
		p.holderFailed(e, err)
		return nil, false, nil
	}
	if rep.Error != nil {
		c.Close()
		return nil, true, rep.Error.err()
	}
	// The handshake's own deadline, as on the holder's side: the answer
	// may have come at the end of the wait.
	hctx, hcancel := context.WithTimeout(ctx, holderHandshakeTimeout)
	defer hcancel()
	l, err = p.holderClient(hctx, c, dir, e)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, true, unreachable(fmt.Errorf("connect %s: %w", e, ctx.Err()))
		}
		p.holderFailed(e, fmt.Errorf("handshake with the holder: %w", err))
		return nil, false, nil
	}
	p.log.Debug("connected through the holder", "host", e.String())
	return l, true, nil
}

// holderFailed makes the rest of the run dial directly: a holder that
// did not answer one host in time, or failed its handshake, would make
// every other host wait as long (a slot each, MaxConnecting at a time).
func (p *Pool) holderFailed(e endpoint, err error) {
	if p.persist.failed.CompareAndSwap(false, true) {
		p.log.Info("persist: the holder cannot be used, this run dials its hosts directly", "host", e.String(), "err", err)
	}
}

// holderClient runs the SSH client over the holder connection c, with
// the holder's host key pinned from its 0600 file.
func (p *Pool) holderClient(ctx context.Context, c net.Conn, dir string, e endpoint) (*link, error) {
	b, err := readPrivate(filepath.Join(dir, holderPub))
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("holder key %s: %w", filepath.Join(dir, holderPub), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	cfg := &ssh.ClientConfig{User: "vigo", HostKeyCallback: ssh.FixedHostKey(pub), ClientVersion: "SSH-2.0-vigo", Config: ssh.Config{KeyExchanges: holderKex}}
	sc, chans, reqs, err := ssh.NewClientConn(c, "vigo-holder", cfg)
	if !stop() && err == nil {
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	l := &link{
		ep:       e,
		pool:     p,
		client:   ssh.NewClient(sc, chans, reqs),
		sessions: make(chan struct{}, p.opts.MaxSessionsPerConn),
		closed:   make(chan struct{}),
	}
	go func() {
		_ = l.client.Wait()
		l.markClosed()
	}()
	return l, nil
}

// readPrivate reads a small file that must be the current user's and
// nobody else's (the holder's key).
func readPrivate(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid != uint32(os.Getuid()) || fi.Mode().Perm()&0o077 != 0 || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: want a regular file of uid %d, mode 0600", path, os.Getuid())
	}
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// startHolder starts the holder once per pool and waits for its socket.
func (p *Pool) startHolder(ctx context.Context, dir string) error {
	p.persist.once.Do(func() { p.persist.startErr = spawnHolder(dir, p.opts.Persist.Start) })
	if p.persist.startErr != nil {
		return p.persist.startErr
	}
	for wait := 10 * time.Millisecond; ; {
		c, err := dialHolder(ctx, dir)
		if err == nil {
			c.Close()
			return nil
		}
		if !errors.Is(err, ErrNoHolder) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("holder did not start: %w", err)
		case <-time.After(wait):
		}
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}

// holderEnv is the part of the run's environment the holder gets: where
// the user's files are, and nothing else. The run's environment may hold
// secrets (VIGO_SECRET_*, tokens) that a long-lived process has no use
// for; the agent socket comes with each request.
func holderEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "USER", "LOGNAME", "PATH", "TMPDIR", "XDG_RUNTIME_DIR", "VIGO_RUNTIME_DIR":
			out = append(out, kv)
		}
	}
	return out
}

// spawnHolder runs argv detached: its own session (a Ctrl-C of the run
// does not reach it), working directory /, a minimal environment, stderr
// to holder.log (0600).
func spawnHolder(dir string, argv []string) error {
	if err := prepareRuntimeDir(dir); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, holderLog), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("holder log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = holderEnv(os.Environ())
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start holder %s: %w", strings.Join(argv, " "), err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
