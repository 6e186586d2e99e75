package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// pidMarker starts the first line a remote command prints: the process
// group of the command, so that cancelling can kill all of it (sshd starts
// every session in a new session and process group).
const pidMarker = "vigo-pid:"

// commandLine builds the shell line for cmd: argv quoted word by word, or
// an operator's shell text run by sh -c, prefixed by sudo -n when the host
// wants privilege escalation.
func commandLine(cmd Cmd, become bool) (string, error) {
	var line string
	switch {
	case len(cmd.Argv) > 0 && cmd.Shell == "":
		line = QuoteArgv(cmd.Argv)
	case len(cmd.Argv) == 0 && cmd.Shell != "":
		line = "sh -c " + Quote(cmd.Shell)
	default:
		return "", fmt.Errorf("command needs exactly one of argv or shell")
	}
	if become {
		line = "sudo -n -- " + line
	}
	return line, nil
}

// Exec runs cmd on the host. Stdout and stderr are streamed to cmd's
// writers and kept in the result; a non-zero exit returns the result and
// an *ExitError. Cancelling ctx kills the remote command's whole process
// group before Exec returns.
func (c *Conn) Exec(ctx context.Context, cmd Cmd) (ExecResult, error) {
	line, err := commandLine(cmd, c.becomes())
	if err != nil {
		return ExecResult{}, err
	}
	if d := c.commandTimeout(cmd); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = WithTimeout(ctx, d, "", "--request-timeout")
		defer cancel()
	}
	if c.local {
		return c.execLocal(ctx, cmd, line)
	}
	return c.execRemote(ctx, cmd, line)
}

// commandTimeout is cmd's own time limit: Cmd.Timeout, else the run's
// per-request bound; none when negative.
func (c *Conn) commandTimeout(cmd Cmd) time.Duration {
	switch {
	case cmd.Timeout < 0:
		return 0
	case cmd.Timeout > 0:
		return cmd.Timeout
	}
	return c.Bounds().Request
}

// outputBuffers are the kept copies of a command's stdout and stderr,
// each bounded by Bounds.MaxOutput.
func (c *Conn) outputBuffers() (stdout, stderr *limitedBuffer) {
	max := c.Bounds().MaxOutput
	return newLimitedBuffer(max, "command output (stdout)"), newLimitedBuffer(max, "command output (stderr)")
}

// overflowed returns the size error of the first buffer that went over
// its limit, nil if none did. Call it only once the writers are done.
func overflowed(bufs ...*limitedBuffer) error {
	for _, b := range bufs {
		select {
		case <-b.over:
			return b.err
		default:
		}
	}
	return nil
}

func (c *Conn) execRemote(ctx context.Context, cmd Cmd, line string) (ExecResult, error) {
	start := time.Now()
	sess, release, err := c.newSession(ctx)
	if err != nil {
		return ExecResult{}, fmt.Errorf("%s: %w", line, err)
	}
	defer release()
	defer sess.Close()

	stdout, stderr := c.outputBuffers()
	pid := &pidWriter{dst: teeTo(stdout, cmd.Stdout), got: make(chan struct{})}
	sess.Stdout = smallCopyWriter{pid}
	sess.Stderr = smallCopyWriter{teeTo(stderr, cmd.Stderr)}
	var stdin io.WriteCloser
	if cmd.Stdin != nil {
		if stdin, err = sess.StdinPipe(); err != nil {
			return ExecResult{}, fmt.Errorf("%s: %w", line, err)
		}
	}
	// printf runs before exec, so the marker is the first line of stdout
	// (after anything a noisy shell rc file prints).
	full := "printf '" + pidMarker + "%s\\n' \"$$\" && exec " + line
	if err := sess.Start(full); err != nil {
		return ExecResult{}, unreachable(fmt.Errorf("%s: %w", line, err))
	}
	if stdin != nil {
		// Not waited for: a command that exits without reading all of its
		// stdin must not hang Exec on a blocked reader.
		go func() {
			_, _ = growingCopy(stdin, cmd.Stdin)
			stdin.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	var stop error // why the command is killed
	select {
	case err = <-done:
		// A writer that went over its limit made the session fail.
		stop = overflowed(stdout, stderr)
	case <-ctx.Done():
		stop = context.Cause(ctx)
	case <-stdout.over:
		stop = stdout.err
	case <-stderr.over:
		stop = stderr.err
	}
	if stop != nil {
		c.killRemote(sess, release, pid)
		res := ExecResult{ExitCode: -1}
		select {
		case <-done:
			// Output is complete only once the session has ended.
			res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
		case <-time.After(time.Second):
		}
		res.Duration = time.Since(start)
		return res, fmt.Errorf("%s: %w", line, stop)
	}
	res := ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if err == nil {
		return res, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitStatus()
		tail := stderrTail(res.Stderr)
		if sig := ee.Signal(); sig != "" {
			res.ExitCode = -1
			tail = strings.TrimSpace(tail + "\nkilled by signal " + sig)
		}
		return res, c.exitError(line, res.ExitCode, tail)
	}
	res.ExitCode = -1
	return res, unreachable(fmt.Errorf("%s: %w", line, err))
}

// exitError builds the error of a command that exited non-zero, telling
// sudo's password prompt apart from the command's own failure.
func (c *Conn) exitError(line string, code int, tail string) error {
	ee := &ExitError{Host: c.name, Cmd: line, ExitCode: code, Stderr: tail}
	if c.becomes() && code == 1 && (strings.Contains(tail, "sudo: a password is required") ||
		strings.Contains(tail, "sudo: a terminal is required") || strings.Contains(tail, "no tty present")) {
		return fmt.Errorf("become: sudo wants a password; vigo runs `sudo -n` and needs passwordless sudo (NOPASSWD) for the login user: %w", ee)
	}
	return ee
}

// killRemote stops a cancelled command: its slot is released first (the
// kill needs a session of its own), then the process group is sent TERM
// and, if still alive after half a second, KILL (a group whose members are
// zombies waiting for a reaper also looks alive). sshd does not kill a
// command when its session closes without a pty, hence the explicit kill.
func (c *Conn) killRemote(sess *ssh.Session, release func(), pid *pidWriter) {
	_ = sess.Signal(ssh.SIGTERM) // best effort; older sshd ignores it
	select {
	case <-pid.got:
	case <-time.After(500 * time.Millisecond):
	}
	sess.Close()
	release()
	p := pid.value()
	if p <= 1 {
		return
	}
	// "kill -s SIG --": dash reads "kill -TERM --" as a pid named "--".
	const script = `g=-$1
kill -s TERM -- "$g" 2>/dev/null || exit 0
i=0
while kill -s 0 -- "$g" 2>/dev/null; do
  if [ "$i" -ge 10 ]; then kill -s KILL -- "$g" 2>/dev/null; exit 0; fi
  sleep 0.05; i=$((i+1))
done
exit 0`
	kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	line, _ := commandLine(Cmd{Argv: []string{"sh", "-c", script, "vigo-kill", strconv.Itoa(p)}}, c.becomes())
	s, rel, err := c.newSession(kctx)
	if err != nil {
		c.pool.log.Debug("kill after cancel: no session", "host", c.String(), "err", err)
		return
	}
	defer rel()
	defer s.Close()
	if err := s.Run(line); err != nil {
		c.pool.log.Debug("kill after cancel failed", "host", c.String(), "err", err)
	}
}

// pidWriter strips the pid marker line from stdout and remembers the pid.
type pidWriter struct {
	dst  io.Writer
	got  chan struct{}
	mu   sync.Mutex
	buf  []byte
	pid  int
	done bool
}

func (w *pidWriter) value() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}

func (w *pidWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		_, err := w.dst.Write(p)
		return len(p), err
	}
	w.buf = append(w.buf, p...)
	var out []byte
	for !w.done {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 4096 { // no marker coming: pass through
				out = append(out, w.buf...)
				w.buf = nil
			}
			break
		}
		ln := w.buf[:i]
		if rest, ok := bytes.CutPrefix(ln, []byte(pidMarker)); ok {
			w.pid, _ = strconv.Atoi(string(rest))
			w.done = true
			close(w.got)
		} else {
			out = append(out, w.buf[:i+1]...)
		}
		w.buf = w.buf[i+1:]
	}
	if w.done {
		out = append(out, w.buf...)
		w.buf = nil
	}
	w.mu.Unlock()
	if len(out) > 0 {
		if _, err := w.dst.Write(out); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// teeTo writes to buf and, when set, to w.
func teeTo(buf io.Writer, w io.Writer) io.Writer {
	if w == nil {
		return buf
	}
	return io.MultiWriter(buf, w)
}

// Limits of the stderr tail an error message shows.
const (
	tailMaxLines = 10
	tailMaxBytes = 2048
)

// stderrTail keeps the last lines of stderr for error messages.
func stderrTail(b []byte) string {
	return TailLines(string(b), tailMaxLines, tailMaxBytes)
}

// LastLine returns the last line of s with surrounding white space
// trimmed, for an error that quotes a command's stderr: whole or not at
// all (part of a line could be part of a secret), a last line longer than
// 2048 bytes is named by its size (see TailLines).
func LastLine(s string) string {
	return strings.TrimPrefix(TailLines(strings.TrimSpace(s), 1, 2048), "...\n")
}

// TailLines returns the last lines of s, at most n lines and max bytes,
// cut only between lines: a line is shown whole or not at all, because
// part of a line may be part of a secret that the masker knows only
// whole. Lines left out are marked with a first line "...". When even
// the last line is longer than max, it is left out and named by size.
func TailLines(s string, n, max int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	cut := false
	if len(lines) > n {
		lines, cut = lines[len(lines)-n:], true
	}
	size := -1
	first := len(lines)
	for first > 0 && size+1+len(lines[first-1]) <= max {
		size += 1 + len(lines[first-1])
		first--
	}
	if first == len(lines) {
		return fmt.Sprintf("... (a line of %d bytes not shown)", len(lines[len(lines)-1]))
	}
	if first > 0 {
		lines, cut = lines[first:], true
	}
	out := strings.TrimSpace(strings.Join(lines, "\n"))
	if cut {
		out = "...\n" + out
	}
	return out
}
