package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigo-sh/vigocli/transport"
)

// DefaultLockPath is the lock directory on each host. /var/lock is
// /run/lock on current distributions: world-writable with the sticky bit,
// and emptied at boot, so a reboot never leaves a lock behind.
const DefaultLockPath = "/var/lock/vigo.lock"

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
// moment exactly one wins. Every command is an argv or a fixed script
// whose values arrive as positional parameters; nothing is spliced into a
// remote shell.
type Locker struct {
	Path  string // DefaultLockPath when empty
	Owner Owner
	// Wait is how long Acquire polls a lock held by someone else before
	// giving up (0: fail at once).
	Wait time.Duration
	Poll time.Duration // between polls; 1s when zero
	// TTL: a lock whose heartbeat (the owner file's mtime, refreshed every
	// Heartbeat by the holder) is older than this is stale.
	TTL       time.Duration // 2m when zero
	Heartbeat time.Duration // 20s when zero
	// Alive reports whether pid runs on this controller; a lock taken
	// from this controller by a dead pid is stale at once.
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
	Held  bool
	Owner Owner         // zero when the owner file is missing or unreadable
	Age   time.Duration // since the last heartbeat, by the host's clock
	Stale string        // non-empty: why the lock is stale
}

// ErrLocked is wrapped by Acquire when another run holds the lock.
var ErrLocked = errors.New("locked")

func (l *Locker) path() string {
	if l.Path == "" {
		return DefaultLockPath
	}
	return l.Path
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// The acquire script: $1 is the lock path; stdin is the owner JSON.
// It prints "acquired", or "held" followed by the host's clock, the
// heartbeat time and the owner file.
const acquireScript = `if mkdir -- "$1" 2>/dev/null; then
  if cat > "$1/owner"; then echo acquired; exit 0; fi
  rm -rf -- "$1"; exit 1
fi
cat >/dev/null
if [ ! -d "$1" ]; then
  if [ -d "${1%/*}" ]; then echo gone; exit 0; fi
  echo "cannot create $1: no directory ${1%/*}" >&2; exit 1
fi
echo held
` + stateTail

const statusScript = `if [ ! -d "$1" ]; then echo free; exit 0; fi
echo held
` + stateTail

const stateTail = `date +%s
stat -c %Y -- "$1/owner" 2>/dev/null || stat -c %Y -- "$1" 2>/dev/null || echo 0
cat -- "$1/owner" 2>/dev/null
exit 0
`

// $1 lock path, $2 token of the owner we mean to remove ("" = an empty or
// missing owner file). Removes nothing when someone else took the lock
// in the meantime.
const removeScript = `[ -d "$1" ] || exit 0
if [ -n "$2" ]; then grep -qF -- "\"token\":\"$2\"" "$1/owner" 2>/dev/null || exit 3
else [ ! -s "$1/owner" ] || exit 3; fi
rm -rf -- "$1"
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
	switch strings.TrimSpace(first) {
	case "free":
		return LockState{}, nil
	case "held":
	default:
		return LockState{}, fmt.Errorf("unexpected lock probe output %q", first)
	}
	lines := strings.SplitN(rest, "\n", 3)
	if len(lines) < 2 {
		return LockState{}, fmt.Errorf("short lock probe output %q", out)
	}
	now, _ := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	mtime, _ := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	st := LockState{Held: true, Age: time.Duration(now-mtime) * time.Second}
	if len(lines) == 3 {
		_ = json.Unmarshal([]byte(strings.TrimSpace(lines[2])), &st.Owner)
	}
	st.Stale = l.staleReason(st)
	return st, nil
}

func (l *Locker) staleReason(st LockState) string {
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
	out, _, err := run(ctx, r, sh(statusScript, l.path()), nil)
	if err != nil {
		return LockState{}, fmt.Errorf("read lock %s: %w", l.path(), err)
	}
	return l.parseState(out)
}

// Remove deletes the lock held by owner token ("" for a lock without a
// readable owner); it removes nothing if the lock changed hands since.
func (l *Locker) Remove(ctx context.Context, r Runner, token string) error {
	_, code, err := run(ctx, r, sh(removeScript, l.path(), token), nil, 3)
	if err == nil && code == 3 {
		err = errors.New("the lock changed hands; not removed")
	}
	if err != nil {
		return fmt.Errorf("remove lock %s: %w", l.path(), err)
	}
	return nil
}

// Held is a lock this run holds on one host.
type Held struct {
	l    *Locker
	r    Runner
	stop chan struct{}
	done chan struct{}
}

// Acquire takes the lock on one host, waiting up to l.Wait for another
// holder and breaking a stale lock (calling onWait once per state change
// and onBroken when it does). It starts a heartbeat that Release stops.
func (l *Locker) Acquire(ctx context.Context, r Runner, onWait func(LockState), onBroken func(LockState)) (*Held, error) {
	owner, err := json.Marshal(l.Owner)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(l.Wait)
	var last Owner
	for {
		out, _, err := run(ctx, r, sh(acquireScript, l.path()), owner)
		if err != nil {
			return nil, fmt.Errorf("take lock %s: %w", l.path(), err)
		}
		if strings.HasPrefix(out, "gone") { // released between our mkdir and our look
			continue
		}
		if strings.HasPrefix(out, "acquired") {
			h := &Held{l: l, r: r, stop: make(chan struct{}), done: make(chan struct{})}
			go h.heartbeat(ctx)
			return h, nil
		}
		st, err := l.parseState(out)
		if err != nil {
			return nil, fmt.Errorf("take lock %s: %w", l.path(), err)
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

func (h *Held) heartbeat(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(orDefault(h.l.Heartbeat, 20*time.Second))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			// A failed heartbeat is not fatal: the TTL is several beats.
			_, _, _ = run(ctx, h.r, []string{"touch", "-c", "--", h.l.path() + "/owner"}, nil)
		}
	}
}

// Release stops the heartbeat and removes the lock if it is still ours.
// Pass a context that is not cancelled (the run's may be, after Ctrl-C).
func (h *Held) Release(ctx context.Context) error {
	close(h.stop)
	<-h.done
	return h.l.Remove(ctx, h.r, h.l.Owner.Token)
}
