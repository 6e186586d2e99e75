package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// upBounded starts one sshd and returns a connection whose pool has the
// given bounds and Docker socket.
func upBounded(t *testing.T, b Bounds, dockerSocket string) *Conn {
	t.Helper()
	env := newEnv(t)
	s := startSSHD(t, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
	env.trust(t, s)
	o := env.options()
	o.Bounds = b
	o.DockerSocket = dockerSocket
	p := env.pool(t, o)
	c, err := p.Get(context.Background(), env.target(s))
	if err != nil {
		t.Fatalf("connect: %v\nsshd log:\n%s", err, s.Log())
	}
	return c
}

// UpBoundedForTest is upBounded for the external tests of this package
// (which drive the executors' Docker client through a real sshd).
var UpBoundedForTest = upBounded

// A command that runs past its limit is killed and fails with an error
// naming the limit; the caller's context is much longer.
func TestExecCommandTimeout(t *testing.T) {
	c := upBounded(t, Bounds{Request: 300 * time.Millisecond}, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Exec(ctx, Cmd{Argv: []string{"sleep", "600"}})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Limit != 300*time.Millisecond || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a 300ms TimeoutError", err)
	}
	if !strings.Contains(err.Error(), "time limit 300ms exceeded (--request-timeout)") {
		t.Errorf("error %q does not name the limit", err)
	}
	// A command's own timeout wins over the default; negative: none of
	// its own.
	if _, err := c.Exec(ctx, Cmd{Argv: []string{"sleep", "0.5"}, Timeout: 5 * time.Second}); err != nil {
		t.Errorf("own timeout: %v", err)
	}
	if _, err := c.Exec(ctx, Cmd{Argv: []string{"sleep", "0.5"}, Timeout: -1}); err != nil {
		t.Errorf("no timeout of its own: %v", err)
	}
}

// A command printing without end is cut at the output limit: what is
// kept never exceeds it, and the error names it.
func TestExecOutputLimit(t *testing.T) {
	const limit = 64 << 10
	c := upBounded(t, Bounds{MaxOutput: limit}, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ shell, what string }{
		{"yes", "command output (stdout) larger than 64 KiB"},
		{"yes >&2", "command output (stderr) larger than 64 KiB"},
	} {
		res, err := c.Exec(ctx, Cmd{Shell: tc.shell})
		var se *SizeError
		if !errors.As(err, &se) || se.Limit != limit {
			t.Fatalf("%s: err = %v, want a SizeError", tc.shell, err)
		}
		if !strings.Contains(err.Error(), tc.what) {
			t.Errorf("error %q does not say %q", err, tc.what)
		}
		if len(res.Stdout) > limit || len(res.Stderr) > limit {
			t.Errorf("%s: kept %d+%d bytes, limit %d", tc.shell, len(res.Stdout), len(res.Stderr), limit)
		}
	}
	// Under the limit, nothing changes.
	res, err := c.Exec(ctx, Cmd{Shell: "head -c 60000 /dev/zero"})
	if err != nil || len(res.Stdout) != 60000 {
		t.Fatalf("under the limit: %d bytes, %v", len(res.Stdout), err)
	}
}

// A Target's own Docker socket wins over the pool's.
func TestTargetDockerSocket(t *testing.T) {
	c := &Conn{socket: "/run/user/1000/docker.sock", link: &link{pool: &Pool{opts: PoolOptions{DockerSocket: "/var/run/docker.sock"}}}}
	if got := c.dockerSocket(); got != "/run/user/1000/docker.sock" {
		t.Errorf("dockerSocket = %q", got)
	}
	c.socket = ""
	if got := c.dockerSocket(); got != "/var/run/docker.sock" {
		t.Errorf("dockerSocket = %q", got)
	}
}

// The stderr tail of an error message is cut between lines only: a
// secret on a long line is shown whole (and masked) or not at all, never
// as a fragment the masker cannot recognise.
func TestStderrTailNeverCutsALine(t *testing.T) {
	secret := "s3cr3t-VALUE-0123456789abcdef"
	for pad := 0; pad < len(secret)+2; pad++ {
		stderr := "first line\n" + strings.Repeat("x", 100) + " " + secret + " " + strings.Repeat("y", 2048-len(secret)/2+pad) + "\n"
		tail := stderrTail([]byte(stderr))
		for i := 0; i+4 <= len(secret); i++ {
			for j := i + 4; j <= len(secret); j++ {
				if frag := secret[i:j]; frag != secret && strings.Contains(tail, frag) && !strings.Contains(tail, secret) {
					t.Fatalf("pad %d: tail shows fragment %q of the secret: %q", pad, frag, tail)
				}
			}
		}
	}
	// Whole lines that fit are kept; the dropped ones are marked.
	lines := []string{strings.Repeat("a", 1500), strings.Repeat("b", 1000), "last"}
	got := stderrTail([]byte(strings.Join(lines, "\n") + "\n"))
	if got != "...\n"+lines[1]+"\nlast" {
		t.Errorf("tail = %.40q...", got)
	}
	if got := stderrTail([]byte(strings.Repeat("z", 3000))); strings.Contains(got, "z") {
		t.Errorf("a line longer than the tail was shown in part: %.40q", got)
	}
	if got := stderrTail([]byte("one\ntwo\n")); got != "one\ntwo" {
		t.Errorf("short tail = %q", got)
	}
}

func TestTailBufferShowsWholeLinesOnly(t *testing.T) {
	var b tailBuffer
	secret := "s3cr3t-VALUE-0123456789abcdef"
	b.Write([]byte(strings.Repeat("p", 4090) + secret + "\nerror: engine gone\n"))
	if got := b.String(); got != "...\nerror: engine gone" {
		t.Errorf("tail = %.60q", got)
	}
	b = tailBuffer{}
	b.Write([]byte("docker: not found\n"))
	if got := b.String(); got != "docker: not found" {
		t.Errorf("tail = %q", got)
	}
}

func TestLastLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"one\n  two  \n\n":        "two",
		"only":                    "only",
		strings.Repeat("z", 3000): "... (a line of 3000 bytes not shown)",
		"ok\n" + strings.Repeat("y", 2049) + "\n": "... (a line of 2049 bytes not shown)",
	} {
		if got := LastLine(in); got != want {
			t.Errorf("LastLine(%.20q) = %q, want %q", in, got, want)
		}
	}
}
