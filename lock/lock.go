// Package lock is vigo's per-host lock: one lock per host, shared by every
// run and every login user, so that two pushes or tasks never interleave
// on one host.
//
// The lock is an flock(2) on a file in a directory only root (or, with a
// lock directory given by the operator, the user vigo works as) can create
// entries in. It is held by one long-lived remote shell for as long as the
// run works on the host; the kernel drops it when that shell ends, however
// it ends, so a dead holder never leaves a lock behind.
//
// What the package must never do: write into a directory it did not
// create and verify (owner, mode, no symlink in the path, before every
// use), follow a symlink, splice a value into a remote shell command, or
// end a holder it has not identified by pid, start time and boot id.
package lock

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
	"os/user"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/vigo-sh/vigocli/transport"
)

// DefaultDir is the lock directory on a host: created by vigo as root,
// mode 0700, on /run (a tmpfs emptied at boot). A login user that is not
// root needs become to use it (or a Locker.Dir it owns).
const DefaultDir = "/run/vigo"

// Owner is what a lock records about who holds it.
type Owner struct {
	User    string    `json:"user"`
	Host    string    `json:"host"` // the controller's hostname
	PID     int       `json:"pid"`  // on the controller
	Started time.Time `json:"started"`
	Command string    `json:"command"`
	Token   string    `json:"token"` // unique per run: a run only ends its own holder, or one it judged stale
}

func (o Owner) String() string {
	if o.Token == "" {
		return "an unknown holder"
	}
	return fmt.Sprintf("%s@%s pid %d since %s (%s)", o.User, o.Host, o.PID, o.Started.UTC().Format(time.RFC3339), o.Command)
}

// NewOwner describes the current process running command.
func NewOwner(command string) Owner {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "uid " + strconv.Itoa(os.Getuid())
	}
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return Owner{User: name, Host: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Command: command, Token: hex.EncodeToString(b)}
}

// Locker takes and releases the per-host lock.
type Locker struct {
	// Dir is the lock directory on the host (absolute). Empty: DefaultDir.
	Dir   string
	Owner Owner
	// Wait is how long Acquire polls a lock held by another run before
	// giving up (0: fail at once). A lock held by this same run (two
	// inventory names for one host) is always waited for.
	Wait time.Duration
	Poll time.Duration // between polls; 1s when zero
	// TTL: a holder whose heartbeat (refreshed every Heartbeat by the
	// lock session, through its stdin) is older than this is stale, even
	// if its shell still runs (a half-open connection): it is ended.
	TTL       time.Duration // 2m when zero
	Heartbeat time.Duration // 20s when zero
}

// Runner runs one command on a host: what the lock needs from a
// connection.
type Runner interface {
	Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error)
}

// State is what a host's lock looks like now.
type State struct {
	Dir   string // the lock directory on the host
	Held  bool
	Owner Owner         // zero when the holder left no readable record
	Age   time.Duration // since the holder's last heartbeat, by the host's clock
	Stale string        // non-empty: why the holder is stale
}

var (
	// ErrLocked is wrapped by Acquire when another run holds the lock.
	ErrLocked = errors.New("locked")
	// ErrUnsafeDir is wrapped when the lock directory is not one that
	// only its owner can change (or cannot be created).
	ErrUnsafeDir = errors.New("unsafe lock directory")
	// ErrChangedHands is wrapped by Break and Release when the lock is
	// held by another run than the one meant.
	ErrChangedHands = errors.New("the lock changed hands; not removed")
)

// LockedError is the error of a lock held by another run.
type LockedError struct {
	Dir    string
	Holder Owner
	Waited time.Duration // how long Acquire waited (--lock-wait)
}

func (e *LockedError) Error() string {
	if e.Waited > 0 {
		return fmt.Sprintf("still locked by %s after waiting %s", e.Holder, e.Waited)
	}
	return fmt.Sprintf("locked by %s (--lock-wait D waits for it; vigocli lock status shows it)", e.Holder)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func (l *Locker) dir() string {
	if l.Dir == "" {
		return DefaultDir
	}
	return l.Dir
}

// CheckDir checks a lock directory given by the operator before any host
// is touched: absolute, clean, and free of characters the host-side checks
// would read differently.
func CheckDir(dir string) error {
	if dir == "" {
		return nil
	}
	if !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/" {
		return fmt.Errorf("lock directory %q: want an absolute, clean path such as /var/lib/vigo-lock", dir)
	}
	if i := strings.IndexFunc(dir, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("lock directory %q: no spaces or control characters", dir)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// lib starts every lock script: $1 is the lock directory, $2 a token.
// verify checks the directory and every one above it before any use;
// holder reads the holder's record and judges it alive by its shell's pid,
// start time (from /proc/PID/stat) and the host's boot id. Only builtins
// but one stat(1) on the common path.
const lib = `d=$1
read -r boot </proc/sys/kernel/random/boot_id 2>/dev/null || boot=
die() { printf '%s\n' "$*" >&2; exit 5; }
upcs() { read -r u _ </proc/uptime; now=$(( ${u%.*} * 100 + 1${u#*.} - 100 )); }
starttime() { start=; read -r st 2>/dev/null <"/proc/$1/stat" || return 0; set -- ${st##*) }; start=${20}; }
verify() {
  c=$1; set -- "$d"; a=$d
  while a=${a%/*}; [ -n "$a" ]; do set -- "$@" "$a"; done
  out=$(stat -c '%u %f %n' -- "$@" / 2>/dev/null)
  seen=
  while read -r u f n; do
    [ -n "$f" ] || continue
    m=$((0x$f))
    [ $((m & 0xf000)) -eq $((0x4000)) ] || die "$n is a symlink or not a directory: the lock is never kept behind one"
    if [ "$n" = "$d" ]; then
      seen=1
      [ -O "$n" ] || die "lock directory $n is owned by uid $u, not by the user vigo works as here: use become (root's lock), or --lock-dir naming a directory that user owns"
      [ $((m & 077)) -eq 0 ] || die "lock directory $n has mode $(printf %04o $((m & 07777))); want 0700"
    else
      [ "$u" = 0 ] || [ -O "$n" ] || die "$n, above the lock directory, is owned by uid $u: only root or the lock's owner may own it"
      [ $((m & 022)) -eq 0 ] || [ $((m & 01000)) -ne 0 ] || die "$n, above the lock directory, is writable by others"
    fi
  done <<EOF
$out
EOF
  [ -n "$seen" ] && return 0
  [ "$c" = create ] || return 1
  err=$(mkdir -m 700 -- "$d" 2>&1) || [ -d "$d" ] || die "cannot create lock directory $d (${err##*: }): use become (root's lock), or --lock-dir naming a directory this user owns"
  verify || die "lock directory $d changed while it was made"
}
holder() {
  otok= ojson= opid= ostart= oboot= oend= alive= age=0
  { read -r otok; read -r ojson; read -r opid ostart oboot; read -r oend; } 2>/dev/null <"$d/owner"
  [ "$oend" = end ] && [ "$oboot" = "$boot" ] || return 0
  starttime "$opid"
  [ -n "$start" ] && [ "$start" = "$ostart" ] || return 0
  alive=1
  hb=; read -r hb 2>/dev/null <"$d/beat"; upcs
  case $hb in ''|*[!0-9]*) ;; *) age=$((now - hb));; esac
}
probe() { echo "held $d $age"; printf '%s\n' "$ojson"; }
`

// holdScript takes the lock and holds it: $3 is the owner JSON. It prints
// "acquired DIR REL WAITED" (REL: centiseconds since this lock's last
// release on this boot, or "none"; 0 when the last holder left its
// record, killed outright: when it ended is not known; WAITED: 1 when
// another holder was seen first), then reads stdin, refreshing the
// heartbeat on every line, until stdin ends or a signal comes; then it records the release and exits,
// which drops the flock. When another run holds the lock it prints the
// probe instead and exits. A holder of this same run (its token) is
// waited for here. Between a holder's flock and its record (or its end)
// the record is not alive: that hand-over is waited out, briefly.
const holdScript = lib + `command -v flock >/dev/null || die "flock(1) is missing on this host (util-linux)"
verify create || die "lock directory $d could not be checked"
exec 9>>"$d/lock" || die "cannot open $d/lock"
waited=0 i=0
while ! flock -n 9; do
  waited=1
  holder
  if [ -n "$alive" ]; then
    [ "$otok" = "$2" ] || { probe; exit 0; }
    flock 9 || die "flock $d/lock failed"
    break
  fi
  i=$((i+1)); [ "$i" -lt 100 ] || { probe; exit 0; }
  sleep 0.02
done
release() { upcs; : >"$d/owner"; echo "$now $boot" >"$d/released"; }
starttime $$
rel=none
if read -r ru rb 2>/dev/null <"$d/released" && [ "$rb" = "$boot" ]; then upcs; rel=$(( now - ru )); fi
[ ! -s "$d/owner" ] || rel=0
upcs
{ printf '%s\n%s\n%s %s %s\nend\n' "$2" "$3" "$$" "$start" "$boot" >"$d/owner" && echo "$now" >"$d/beat"; } || die "cannot write the lock's record in $d"
trap 'release; exit 0' HUP INT TERM PIPE
echo "acquired $d $rel $waited"
while IFS= read -r _; do upcs; echo "$now" >"$d/beat"; done
trap - HUP INT TERM PIPE
release
exit 0
`

const statusScript = lib + `verify || { echo "free $d"; exit 0; }
holder
if [ -n "$alive" ]; then probe; else echo "free $d"; fi
`

// breakScript ends the holder whose token is $2 (TERM, then KILL): the
// kernel drops its flock. $3: the TTL in centiseconds, checked again here
// (the holder may have just sent a heartbeat); empty: end it whatever its
// heartbeat says (--force). Exit 3: another holder; 4: not stale.
const breakScript = lib + `verify || exit 0
holder
[ -n "$alive" ] || exit 0
[ "$otok" = "$2" ] || exit 3
[ -z "$3" ] || [ "$age" -gt "$3" ] || exit 4
i=0
while starttime "$opid"; [ "$start" = "$ostart" ]; do
  i=$((i+1))
  case $i in 1) kill -s TERM "$opid" 2>/dev/null;; 40) kill -s KILL "$opid" 2>/dev/null;; 80) die "the holder (pid $opid) did not end";; esac
  sleep 0.05
done
exit 0
`

func sh(script string, args ...string) []string {
	return append([]string{"sh", "-c", script, "vigo-lock"}, args...)
}

// scriptError keeps a lock script out of an error's text: the transport
// names the command it ran, and a warning must not print 60 lines of
// shell.
type scriptError struct {
	err  error
	line string
}

func (e *scriptError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.line, "sh -c <vigo lock script>")
}
func (e *scriptError) Unwrap() error { return e.err }

func hideScript(err error, argv []string) error {
	if err == nil {
		return nil
	}
	return &scriptError{err: err, line: transport.QuoteArgv(argv)}
}

// run execs argv and returns stdout and the exit code. Exit codes in
// allowed are results; any other non-zero exit is an error carrying the
// command's stderr (exit 5: ErrUnsafeDir).
func run(ctx context.Context, r Runner, argv []string, allowed ...int) (string, int, error) {
	res, err := r.Exec(ctx, transport.Cmd{Argv: argv})
	return result(res, hideScript(err, argv), allowed...)
}

func result(res transport.ExecResult, err error, allowed ...int) (string, int, error) {
	code, stderr := res.ExitCode, transport.LastLine(string(res.Stderr))
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
	switch {
	case code == 0 || slices.Contains(allowed, code):
		return string(res.Stdout), code, nil
	case code == 5:
		return "", code, fmt.Errorf("%w: %s", ErrUnsafeDir, stderr)
	case stderr != "":
		return "", code, fmt.Errorf("exit status %d: %s", code, stderr)
	}
	return "", code, fmt.Errorf("exit status %d", code)
}

// parseState reads a probe: "free DIR", or "held DIR AGE" then the owner
// JSON.
func (l *Locker) parseState(out string) (State, error) {
	first, rest, _ := strings.Cut(out, "\n")
	f := strings.Fields(first)
	if len(f) >= 2 && f[0] == "free" {
		return State{Dir: f[1]}, nil
	}
	if len(f) != 3 || f[0] != "held" {
		return State{}, fmt.Errorf("unexpected lock probe output %q", first)
	}
	cs, _ := strconv.ParseInt(f[2], 10, 64)
	st := State{Dir: f[1], Held: true, Age: time.Duration(cs) * 10 * time.Millisecond}
	_ = json.Unmarshal([]byte(strings.TrimSpace(rest)), &st.Owner)
	if ttl := l.ttl(); st.Age > ttl {
		st.Stale = fmt.Sprintf("no heartbeat for %s (ttl %s)", st.Age.Round(time.Second), ttl)
	}
	return st, nil
}

func (l *Locker) ttl() time.Duration { return orDefault(l.TTL, 2*time.Minute) }

// Status reads the lock of one host.
func (l *Locker) Status(ctx context.Context, r Runner) (State, error) {
	out, _, err := run(ctx, r, sh(statusScript, l.dir()))
	if err != nil {
		return State{}, fmt.Errorf("read lock %s: %w", l.dir(), err)
	}
	return l.parseState(out)
}

// Break ends the holder whose token is token: stale ones only, unless
// force. It does nothing when the lock is free, and returns
// ErrChangedHands when another run holds it now.
func (l *Locker) Break(ctx context.Context, r Runner, token string, force bool) error {
	ttl := ""
	if !force {
		ttl = strconv.FormatInt(int64(l.ttl()/(10*time.Millisecond)), 10)
	}
	_, code, err := run(ctx, r, sh(breakScript, l.dir(), token, ttl), 3, 4)
	switch {
	case err != nil:
	case code == 3:
		err = ErrChangedHands
	case code == 4:
		err = errors.New("its holder sent a heartbeat again; not removed")
	}
	if err != nil {
		return fmt.Errorf("break lock %s: %w", l.dir(), err)
	}
	return nil
}

// Held is a lock this run holds on one host: the lock session runs until
// Release.
type Held struct {
	l   *Locker
	dir string
	// At is when the controller learnt the lock was taken.
	At time.Time
	// sinceRelease: the lock's previous release was this long before
	// it was taken (host clock); negative: no release on record.
	sinceRelease time.Duration
	contended    bool // another holder was seen before we got it

	stdin  *io.PipeWriter
	cancel context.CancelFunc
	done   chan error // the session's exit
	stop   chan struct{}
	hbDone chan struct{}
	once   sync.Once
	err    error
}

// Dir is the lock directory on the host.
func (h *Held) Dir() string { return h.dir }

// Covers reports whether observations of the host that started at t (by
// this controller's clock) were made while no other run held the lock:
// the lock was free when we first looked, and its last release happened
// before t. The time from t to At is an upper bound, measured here, of the
// time between the observations' start and the flock, so no clock is
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
// script's output (the probe of the lock).
func (l *Locker) try(ctx context.Context, r Runner, owner []byte) (*Held, string, error) {
	pr, pw := io.Pipe()
	// The session outlives the run's context: after Ctrl-C it is ended by
	// closing its stdin (Release), not killed halfway.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	out := &firstLine{ch: make(chan string, 1)}
	done := make(chan error, 1)
	argv := sh(holdScript, l.dir(), l.Owner.Token, string(owner))
	var res transport.ExecResult
	go func() {
		var err error
		// Timeout -1: the holding shell lives as long as the run; the
		// transport's per-command limit (--request-timeout) must not end
		// it (Release does).
		res, err = r.Exec(sctx, transport.Cmd{Argv: argv, Stdin: pr, Stdout: out, Timeout: -1})
		pr.Close()
		done <- hideScript(err, argv)
	}()
	select {
	case line := <-out.ch:
		if rest, ok := strings.CutPrefix(line, "acquired "); ok {
			h := &Held{l: l, dir: l.dir(), At: time.Now(), sinceRelease: -1, stdin: pw, cancel: cancel, done: done,
				stop: make(chan struct{}), hbDone: make(chan struct{})}
			if f := strings.Fields(rest); len(f) == 3 {
				h.dir = f[0]
				if cs, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					h.sinceRelease = time.Duration(cs) * 10 * time.Millisecond
				}
				h.contended = f[2] == "1"
			}
			go h.heartbeat()
			return h, "", nil
		}
		pw.Close()
		err := <-done
		cancel()
		s, _, err := result(res, err)
		return nil, s, err
	case err := <-done:
		// Ended at once: the probe of a held lock (its first line may
		// also be waiting in out.ch), or an error.
		pw.Close()
		cancel()
		s, _, err := result(res, err)
		if err == nil && !strings.HasPrefix(s, "held ") {
			err = fmt.Errorf("lock session ended at once: %q", firstOf(s))
		}
		return nil, s, err
	case <-ctx.Done():
		// The script may have taken the lock by now: closing its stdin
		// makes it release the lock and exit.
		h := &Held{l: l, stdin: pw, cancel: cancel, done: done, stop: make(chan struct{}), hbDone: make(chan struct{})}
		close(h.hbDone)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = h.Release(rctx)
		rcancel()
		return nil, "", ctx.Err()
	}
}

func firstOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Acquire takes the lock on one host, waiting up to l.Wait for another
// holder and ending a stale one (calling onWait once per holder and
// onBroken when it ends one). The lock stays held by its session until
// Release; an interrupted Acquire leaves no lock behind.
func (l *Locker) Acquire(ctx context.Context, r Runner, onWait func(State), onBroken func(State)) (*Held, error) {
	owner, err := json.Marshal(l.Owner)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline := start.Add(l.Wait)
	var last Owner
	contended := false
	for {
		h, out, err := l.try(ctx, r, owner)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("take lock %s: %w", l.dir(), ctx.Err())
			}
			return nil, fmt.Errorf("take lock %s: %w", l.dir(), err)
		}
		if h != nil {
			h.contended = h.contended || contended
			return h, nil
		}
		contended = true
		st, err := l.parseState(out)
		if err != nil {
			return nil, fmt.Errorf("take lock %s: %w", l.dir(), err)
		}
		if st.Stale != "" {
			if err := l.Break(ctx, r, st.Owner.Token, false); err != nil && !errors.Is(err, ErrChangedHands) {
				return nil, fmt.Errorf("end stale holder (%s): %w", st.Stale, err)
			}
			if onBroken != nil {
				onBroken(st)
			}
			continue
		}
		if !time.Now().Before(deadline) {
			return nil, &LockedError{Dir: st.Dir, Holder: st.Owner, Waited: l.Wait}
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
// records the host's uptime, so a hung holder can be told from a live one.
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

// Release ends the lock session: its stdin closes, the session records
// the release and exits, and the kernel drops its flock. It waits for the
// session's exit until ctx ends, then kills it (TERM: the session still
// records the release). Pass a context that is not cancelled (the run's
// may be, after Ctrl-C). Calling it again returns the first result.
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
		switch {
		case errors.Is(err, transport.ErrUnreachable):
			h.err = fmt.Errorf("release lock %s: the connection dropped; the host's lock shell releases the lock when its input ends: %w", h.dir, err)
		case err != nil:
			h.err = fmt.Errorf("release lock %s: %w", h.dir, err)
		}
	})
	return h.err
}
