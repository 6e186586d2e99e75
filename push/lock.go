package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigo-sh/vigocli/transport"
)

// DefaultLockPath is the lock directory on a host when vigo works there as
// root (the login user is root, or become): /var/lock is /run/lock on
// current distributions, emptied at boot. A non-root login user without
// become uses ~/.vigo.lock instead (HomeLockPath): the path is chosen on
// the host, by the lock scripts, when Locker.Path is empty.
const DefaultLockPath = "/var/lock/vigo.lock"

// HomeLockPath is the lock of a non-root login user without become,
// relative to the user's home directory on the host.
const HomeLockPath = "~/.vigo.lock"

// Owner is what a lock records about who holds it. It is written as JSON
// to PATH/owner on the host.
type Owner struct {
	User    string    `json:"user"`
	Host    string    `json:"host"`           // the controller's hostname
	Boot    string    `json:"boot,omitempty"` // the controller's kernel boot id: pids are only compared within one boot of one machine
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
	Token   string    `json:"token"` // unique per run: release only removes our own lock
}

func (o Owner) String() string {
	return fmt.Sprintf("%s@%s pid %d since %s (%s)", o.User, o.Host, o.PID, o.Started.UTC().Format(time.RFC3339), o.Command)
}

// NewOwner describes the current process running command.
func NewOwner(command string) Owner {
	user := os.Getenv("USER")
	if user == "" {
		user = strconv.Itoa(os.Getuid())
	}
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return Owner{User: user, Host: host, Boot: bootID(), PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Command: command, Token: hex.EncodeToString(b)}
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// Locker takes and releases the per-host lock. The lock is a directory:
// mkdir is atomic on every filesystem, so of two runs starting at the same
// moment exactly one wins. It is held by one long-lived remote shell (the
// lock session) that took it, and that removes it when its stdin closes
// (release, or the connection drops) or when it is sent TERM, HUP or INT.
// Every command is a fixed script whose values arrive as positional
// parameters; nothing is spliced into a remote shell.
type Locker struct {
	// Path is the lock directory on the host. Empty: chosen on the host,
	// DefaultLockPath for root, ~/.vigo.lock for any other user.
	Path  string
	Owner Owner
	// Wait is how long Acquire polls a lock held by someone else before
	// giving up (0: fail at once).
	Wait time.Duration
	Poll time.Duration // between polls; 1s when zero
	// TTL: a lock whose heartbeat (the owner file's mtime, refreshed
	// every Heartbeat by the lock session through its stdin) is older
	// than this is stale, even if its holding shell still runs (a
	// half-open connection).
	TTL       time.Duration // 2m when zero
	Heartbeat time.Duration // 20s when zero
	// Alive reports whether pid runs on this controller. Only used for
	// locks written by vigo before lock sessions (no session file): such
	// a lock taken from this controller by a dead pid is stale at once.
	Alive func(pid int) bool
	// Hostname and Boot of this controller (os.Hostname and the kernel
	// boot id when empty).
	Hostname string
	Boot     string
}

// Runner runs one command on a host: what the lock needs from a
// connection.
type Runner interface {
	Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error)
}

// LockState is what a host's lock looks like now.
type LockState struct {
	Path  string // the lock directory on the host
	Held  bool
	Owner Owner         // zero when the owner file is missing or unreadable
	Age   time.Duration // since the last heartbeat, by the host's clock
	Stale string        // non-empty: why the lock is stale
	// Session: the lock records its holding shell (pid, start time,
	// boot and pid namespace on the host), checked on the host.
	Session bool
}

// ErrLocked is wrapped by Acquire when another run holds the lock.
var ErrLocked = errors.New("locked")

func (l *Locker) shown() string {
	if l.Path == "" {
		return DefaultLockPath + " (" + HomeLockPath + " for a non-root user)"
	}
	return l.Path
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// lockLib is the start of every lock script: $1 is the lock path (empty:
// chosen here), $2 a token. It defines rmlock (remove the lock if its
// token is $1, under a guard directory so that the check and the removal
// of two removers never interleave) and probe (print a held lock's state).
const lockLib = `l=$1
if [ -z "$l" ]; then
  u=${USER:-}; [ -n "$u" ] || u=$(id -un)
  if [ "$u" = root ]; then l=/var/lock/vigo.lock; else l=$HOME/.vigo.lock; fi
fi
read -r boot </proc/sys/kernel/random/boot_id 2>/dev/null || boot=
upcs() { read -r u _ </proc/uptime; now=$(( ${u%.*} * 100 + 1${u#*.} - 100 )); }
starttime() { read -r st <"/proc/$1/stat" 2>/dev/null || { start=; return; }; set -- ${st##*) }; start=${20}; }
tok() { cur=; if [ -e "$l/token" ]; then read -r cur <"$l/token"; else cur=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' -- "$l/owner" 2>/dev/null); fi; }
rmlock() {
  [ -d "$l" ] || return 0
  g=$l.guard; i=0
  until mkdir -- "$g" 2>/dev/null; do
    [ -d "$l" ] || return 0
    i=$((i+1))
    if [ "$i" -eq 100 ]; then rm -rf -- "$g"; fi # its remover died ~5s ago
    if [ "$i" -ge 200 ]; then echo "cannot take $g" >&2; return 1; fi
    sleep 0.05
  done
  r=0
  if [ -d "$l" ]; then
    tok
    if [ "$cur" = "$1" ]; then
      # The release time goes out of the lock by rename, which never
      # follows a symlink planted in a shared directory.
      upcs; { echo "$now $boot" >"$l/released" && mv -f -- "$l/released" "$l.released"; } 2>/dev/null
      rm -rf -- "$l" || r=1
    else r=3; fi
  fi
  rmdir -- "$g" 2>/dev/null
  return $r
}
probe() {
  echo "held $l"
  date +%s
  stat -c %Y -- "$l/owner" 2>/dev/null || stat -c %Y -- "$l" 2>/dev/null || echo 0
  if read -r p s b n <"$l/session" 2>/dev/null; then
    why=
    starttime "$p"
    if [ "$b" != "$boot" ]; then why="the host rebooted since it was taken"
    elif [ "$n" = "$(readlink /proc/$$/ns/pid 2>/dev/null)" ] && [ "$start" != "$s" ]; then why="its holding shell (pid $p on the host) is gone"
    fi
    echo "session $why"
  else echo nosession; fi
  cat -- "$l/owner" 2>/dev/null
  echo
}
`

// holdScript takes the lock and holds it: $3 is the owner JSON. It
// prints "acquired PATH AGE" (AGE: centiseconds since the last release
// of this lock on this boot, or "none"), then reads stdin, refreshing the
// heartbeat on every line, until stdin ends; then it removes the lock if
// it is still ours. When the lock is held it prints the probe and exits;
// "gone PATH" means it was released between our mkdir and our look.
// The path it takes (mkdir, then builtins but one readlink) forks twice.
const holdScript = lockLib + `trap 'rmlock "$2" >/dev/null 2>&1; exit 0' HUP INT TERM PIPE
if err=$(mkdir -- "$l" 2>&1); then
  starttime $$
  { printf '%s\n' "$2" >"$l/token" &&
    printf '%s %s %s %s\n' "$$" "$start" "$boot" "$(readlink /proc/$$/ns/pid)" >"$l/session" &&
    printf '%s\n' "$3" >"$l/owner"; } || { rmlock "$2"; exit 1; }
  rel=none
  if [ -O "$l.released" ] && [ ! -L "$l.released" ] && read -r ru rb <"$l.released" 2>/dev/null && [ "$rb" = "$boot" ]; then upcs; rel=$(( now - ru )); fi
  echo "acquired $l $rel"
  while IFS= read -r _; do tok; [ "$cur" = "$2" ] && touch -c -- "$l/owner"; done
  trap - HUP INT TERM PIPE
  rmlock "$2" >/dev/null 2>&1
  exit $?
fi
if [ ! -d "$l" ]; then
  case $err in *[Ee]xists*) echo "gone $l"; exit 0;; esac
  echo "cannot create $l: $err" >&2; exit 1
fi
probe
`

const statusScript = lockLib + `if [ ! -d "$l" ]; then echo "free $l"; exit 0; fi
probe
`

// removeScript: $2 is the token of the owner we mean to remove ("" = a
// lock without a token). Exit 3: someone else's lock, not removed.
const removeScript = lockLib + `rmlock "$2"
`

func sh(script string, args ...string) []string {
	return append([]string{"sh", "-c", script, "sh"}, args...)
}

// run execs argv and returns stdout and the exit code. Exit codes in
// allowed are results; any other non-zero exit is an error carrying the
// command's stderr.
func run(ctx context.Context, r Runner, argv []string, stdin []byte, allowed ...int) (string, int, error) {
	cmd := transport.Cmd{Argv: argv}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	res, err := r.Exec(ctx, cmd)
	return result(res, err, allowed...)
}

func result(res transport.ExecResult, err error, allowed ...int) (string, int, error) {
	code, stderr := res.ExitCode, lastLine(res.Stderr)
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		code, err = ee.ExitCode, nil
		if ee.Stderr != "" {
			stderr = ee.Stderr
		}
	}
	if err != nil {
		return "", -1, err
	}
	if code != 0 && !slices.Contains(allowed, code) {
		if stderr != "" {
			return "", code, fmt.Errorf("exit status %d: %s", code, stderr)
		}
		return "", code, fmt.Errorf("exit status %d", code)
	}
	return string(res.Stdout), code, nil
}

func (l *Locker) parseState(out string) (LockState, error) {
	first, rest, _ := strings.Cut(out, "\n")
	word, path, _ := strings.Cut(strings.TrimSpace(first), " ")
	switch word {
	case "free":
		return LockState{Path: path}, nil
	case "held":
	default:
		return LockState{}, fmt.Errorf("unexpected lock probe output %q", first)
	}
	lines := strings.SplitN(rest, "\n", 4)
	if len(lines) < 3 {
		return LockState{}, fmt.Errorf("short lock probe output %q", out)
	}
	now, _ := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	mtime, _ := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	st := LockState{Path: path, Held: true, Age: time.Duration(now-mtime) * time.Second}
	hostWhy := ""
	if s, ok := strings.CutPrefix(lines[2], "session"); ok {
		st.Session = true
		hostWhy = strings.TrimSpace(s)
	}
	if len(lines) == 4 {
		_ = json.Unmarshal([]byte(strings.TrimSpace(lines[3])), &st.Owner)
	}
	st.Stale = l.staleReason(st, hostWhy)
	return st, nil
}

// staleReason decides whether a held lock is stale: its holding shell is
// gone (decided on the host), or its heartbeat is older than the TTL (a
// hung holder). For a lock without a session file (written by vigo before
// lock sessions) the owner pid is checked when it ran on this controller.
func (l *Locker) staleReason(st LockState, hostWhy string) string {
	if hostWhy != "" {
		return hostWhy
	}
	if !st.Session {
		hostname := l.Hostname
		if hostname == "" {
			hostname, _ = os.Hostname()
		}
		alive := l.Alive
		if alive == nil {
			alive = pidAlive
		}
		boot := l.Boot
		if boot == "" {
			boot = bootID()
		}
		sameMachine := st.Owner.Host == hostname && (st.Owner.Boot == "" || boot == "" || st.Owner.Boot == boot)
		if st.Owner.PID > 0 && sameMachine && !alive(st.Owner.PID) {
			return fmt.Sprintf("owner pid %d is no longer running on %s", st.Owner.PID, hostname)
		}
	}
	if ttl := orDefault(l.TTL, 2*time.Minute); st.Age > ttl {
		return fmt.Sprintf("no heartbeat for %s (ttl %s)", st.Age, ttl)
	}
	return ""
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Status reads the lock of one host.
func (l *Locker) Status(ctx context.Context, r Runner) (LockState, error) {
	out, _, err := run(ctx, r, sh(statusScript, l.Path), nil)
	if err != nil {
		return LockState{}, fmt.Errorf("read lock %s: %w", l.shown(), err)
	}
	return l.parseState(out)
}

// Remove deletes the lock held by owner token ("" for a lock without a
// readable owner); it removes nothing if the lock changed hands since.
func (l *Locker) Remove(ctx context.Context, r Runner, token string) error {
	_, code, err := run(ctx, r, sh(removeScript, l.Path, token), nil, 3)
	if err == nil && code == 3 {
		err = errors.New("the lock changed hands; not removed")
	}
	if err != nil {
		return fmt.Errorf("remove lock %s: %w", l.shown(), err)
	}
	return nil
}

// Held is a lock this run holds on one host: the lock session runs until
// Release.
type Held struct {
	l    *Locker
	path string
	// At is when the controller learnt the lock was taken.
	At time.Time
	// sinceRelease: the lock's previous release was this long before
	// it was taken (host clock); negative: no release on record.
	sinceRelease time.Duration
	contended    bool // the lock was held by another run when we first looked

	stdin  *io.PipeWriter
	cancel context.CancelFunc
	done   chan error // the session's exit
	stop   chan struct{}
	hbDone chan struct{}
	once   sync.Once
	err    error
}

// Path is the lock directory on the host.
func (h *Held) Path() string { return h.path }

// Covers reports whether observations of the host that started at t (by
// this controller's clock) were made while no other run held the lock:
// the lock was free when we first looked, and its last release happened
// before t. The time from t to At is an upper bound, measured here, of the
// time between the observations' start and the mkdir, so no clock is
// compared across machines. A plan made from observations the lock does
// not cover must be made again under the lock.
func (h *Held) Covers(t time.Time) bool {
	if h.contended {
		return false
	}
	if h.sinceRelease < 0 {
		return true
	}
	return h.sinceRelease > h.At.Sub(t)+10*time.Millisecond // a centisecond of rounding on the host
}

// firstLine signals the first line written to it; it keeps everything.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	ch   chan string
}

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if !w.sent {
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.sent = true
			w.ch <- string(w.buf[:i])
		}
	}
	return len(p), nil
}

// try runs the hold script once: a *Held when it took the lock, else the
// script's output (the probe of the lock, or "gone").
func (l *Locker) try(ctx context.Context, r Runner, owner []byte) (*Held, string, error) {
	pr, pw := io.Pipe()
	// The session outlives the run's context: after Ctrl-C it is ended by
	// closing its stdin (Release), not killed halfway.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	out := &firstLine{ch: make(chan string, 1)}
	done := make(chan error, 1)
	var res transport.ExecResult
	go func() {
		var err error
		res, err = r.Exec(sctx, transport.Cmd{Argv: sh(holdScript, l.Path, l.Owner.Token, string(owner)), Stdin: pr, Stdout: out})
		pr.Close()
		done <- err
	}()
	finish := func() (string, error) {
		pw.Close()
		err := <-done
		cancel()
		s, _, err := result(res, err)
		return s, err
	}
	select {
	case line := <-out.ch:
		if rest, ok := strings.CutPrefix(line, "acquired "); ok {
			h := &Held{l: l, At: time.Now(), sinceRelease: -1, stdin: pw, cancel: cancel, done: done,
				stop: make(chan struct{}), hbDone: make(chan struct{})}
			f := strings.Fields(rest)
			if len(f) == 2 {
				h.path = f[0]
				if cs, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					h.sinceRelease = time.Duration(cs) * 10 * time.Millisecond
				}
			}
			go h.heartbeat()
			return h, "", nil
		}
		s, err := finish()
		return nil, s, err
	case err := <-done:
		// Ended at once: the probe of a held lock, or "gone" (its first
		// line may also be waiting in out.ch).
		pw.Close()
		cancel()
		s, _, err := result(res, err)
		if err == nil && (s == "" || strings.HasPrefix(s, "acquired")) {
			err = fmt.Errorf("lock session ended at once: %q", s)
		}
		return nil, s, err
	case <-ctx.Done():
		// The script may have taken the lock by now: closing its stdin
		// makes it remove the lock (if it is ours) and exit.
		h := &Held{l: l, stdin: pw, cancel: cancel, done: done, stop: make(chan struct{}), hbDone: make(chan struct{})}
		close(h.hbDone)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = h.Release(rctx)
		rcancel()
		return nil, "", ctx.Err()
	}
}

// Acquire takes the lock on one host, waiting up to l.Wait for another
// holder and breaking a stale lock (calling onWait once per state change
// and onBroken when it does). The lock stays held by its session until
// Release; an interrupted Acquire leaves no lock behind.
func (l *Locker) Acquire(ctx context.Context, r Runner, onWait func(LockState), onBroken func(LockState)) (*Held, error) {
	owner, err := json.Marshal(l.Owner)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(l.Wait)
	var last Owner
	contended := false
	for {
		h, out, err := l.try(ctx, r, owner)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("take lock %s: %w", l.shown(), ctx.Err())
			}
			return nil, fmt.Errorf("take lock %s: %w", l.shown(), err)
		}
		if h != nil {
			h.contended = contended
			return h, nil
		}
		contended = true
		if strings.HasPrefix(out, "gone") { // released between our mkdir and our look
			continue
		}
		st, err := l.parseState(out)
		if err != nil {
			return nil, fmt.Errorf("take lock %s: %w", l.shown(), err)
		}
		if st.Stale != "" {
			if err := l.Remove(ctx, r, st.Owner.Token); err != nil {
				return nil, fmt.Errorf("break stale lock (%s): %w", st.Stale, err)
			}
			if onBroken != nil {
				onBroken(st)
			}
			continue
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w by %s", ErrLocked, st.Owner)
		}
		if onWait != nil && st.Owner != last {
			onWait(st)
			last = st.Owner
		}
		t := time.NewTimer(min(orDefault(l.Poll, time.Second), time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for lock held by %s: %w", st.Owner, ctx.Err())
		case <-t.C:
		}
	}
}

// heartbeat sends a line to the session every Heartbeat: the session
// refreshes the owner file's mtime, so a hung holder can be told from a
// live one.
func (h *Held) heartbeat() {
	defer close(h.hbDone)
	t := time.NewTicker(orDefault(h.l.Heartbeat, 20*time.Second))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			go func() { _, _ = h.stdin.Write([]byte("\n")) }() // never blocks Release
		}
	}
}

// Release ends the lock session: its stdin closes and the session
// removes the lock if it is still ours. It waits for the session's exit
// until ctx ends, then kills it (TERM: the session still removes the
// lock). Pass a context that is not cancelled (the run's may be, after
// Ctrl-C). Calling it again returns the first result.
func (h *Held) Release(ctx context.Context) error {
	h.once.Do(func() {
		close(h.stop)
		<-h.hbDone
		h.stdin.Close()
		var err error
		select {
		case err = <-h.done:
		case <-ctx.Done():
			h.cancel() // the transport sends TERM to the session's process group
			select {
			case err = <-h.done:
			case <-time.After(2 * time.Second):
			}
			if err == nil {
				err = fmt.Errorf("lock session did not end: %w", ctx.Err())
			}
		}
		h.cancel()
		var ee *transport.ExitError
		switch {
		case errors.As(err, &ee) && ee.ExitCode == 3:
			h.err = fmt.Errorf("remove lock %s: the lock changed hands; not removed", h.path)
		case err != nil:
			h.err = fmt.Errorf("release lock %s: %w", h.path, err)
		}
	})
	return h.err
}
