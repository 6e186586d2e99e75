package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExecStdinStreamsAndExitStatus(t *testing.T) {
	_, _, c := up(t)
	ctx := context.Background()

	var streamed bytes.Buffer
	res, err := c.Exec(ctx, Cmd{Argv: []string{"cat"}, Stdin: strings.NewReader("from stdin\n"), Stdout: &streamed})
	if err != nil || string(res.Stdout) != "from stdin\n" || streamed.String() != "from stdin\n" {
		t.Fatalf("cat: stdout %q streamed %q err %v", res.Stdout, streamed.String(), err)
	}

	res, err = c.Exec(ctx, Cmd{Shell: "echo out; echo first >&2; echo oops >&2; exit 3"})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want *ExitError, got %v", err)
	}
	if ee.ExitCode != 3 || res.ExitCode != 3 || ee.Stderr != "first\noops" || string(res.Stdout) != "out\n" {
		t.Errorf("exit error %+v, result %+v", ee, res)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Error("a failed command is reported as unreachable")
	}
	// The host is data (ee.Host); the text leaves it to push.
	if !strings.HasPrefix(err.Error(), "sh -c ") || !strings.Contains(err.Error(), "exit status 3") || ee.Host != "h" {
		t.Errorf("error text: %v", err)
	}
}

// A command that never reads its stdin must not hang Exec.
func TestExecIgnoringStdinReturns(t *testing.T) {
	_, _, c := up(t)
	r, w, _ := os.Pipe()
	defer w.Close()
	defer r.Close()
	res, err := c.Exec(context.Background(), Cmd{Argv: []string{"echo", "done"}, Stdin: r})
	if err != nil || string(res.Stdout) != "done\n" {
		t.Fatalf("%q %v", res.Stdout, err)
	}
}

// TestInjectionReachesCommandLiterally: values that would run commands if
// a shell saw them arrive as literal text, and create nothing.
func TestInjectionReachesCommandLiterally(t *testing.T) {
	_, _, c := up(t)
	ctx := context.Background()
	const pwned = "/tmp/pwned"
	os.Remove(pwned)
	values := []string{"'; touch /tmp/pwned; '", "$(id)", "`touch /tmp/pwned`", "\"; touch /tmp/pwned; \"", "a\ntouch /tmp/pwned"}
	res, err := c.Exec(ctx, Cmd{Argv: append([]string{"printf", "%s\\0"}, values...)})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00")
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", values) {
		t.Errorf("values changed on the way:\n got %q\nwant %q", got, values)
	}
	// The same values as file names.
	dir := t.TempDir()
	for _, v := range values[:2] {
		p := dir + "/" + v
		if _, err := c.WriteFile(ctx, p, []byte(v), FileOptions{}); err != nil {
			t.Fatalf("write %q: %v", p, err)
		}
		sums, err := c.FileSHA256(ctx, []string{p})
		if err != nil || len(sums) != 1 {
			t.Fatalf("sha256 %q: %v %v", p, sums, err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != v {
			t.Fatalf("file %q: %q %v", p, b, err)
		}
		if err := c.RemoveFile(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Fatalf("%s was created: a value was interpreted by the remote shell", pwned)
	}
}

// countProcs counts processes on the host whose argv is exactly argv.
func countProcs(t *testing.T, h interface {
	Exec(context.Context, Cmd) (ExecResult, error)
}, argv ...string) int {
	t.Helper()
	const script = `if command -v pgrep >/dev/null; then pgrep -c -x -f "$*"; exit 0; fi
want=$(printf '%s\0' "$@" | od -An -c | tr -d ' \n')
n=0
for f in /proc/[0-9]*/cmdline; do
  [ "$(od -An -c "$f" 2>/dev/null | tr -d ' \n')" = "$want" ] && n=$((n+1))
done
echo $n`
	res, err := h.Exec(context.Background(), Cmd{Argv: append([]string{"sh", "-c", script, "count"}, argv...)})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(string(res.Stdout), &n)
	return n
}

func TestCancelKillsRemoteCommand(t *testing.T) {
	_, _, c := up(t)
	for _, tc := range []struct {
		name string
		cmd  Cmd
	}{
		{"argv", Cmd{Argv: []string{"sleep", "600"}}},
		{"shell with children", Cmd{Shell: "sleep 600 & sleep 600; wait"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testCancel(t, c, tc.cmd)
		})
	}
}

func testCancel(t *testing.T, c *Conn, cmd Cmd) {
	before := countProcs(t, c, "sleep", "600")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var err error
	var took time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err = c.Exec(ctx, cmd)
		took = time.Since(time.Now())
	}()
	// Wait until the command runs on the host.
	for i := 0; countProcs(t, c, "sleep", "600") == before; i++ {
		if i > 100 {
			t.Fatal("sleep 600 never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	wg.Wait()
	took = time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
	if took > 2*time.Second {
		t.Errorf("cancelled exec returned after %s, want within 2s", took)
	}
	if n := countProcs(t, c, "sleep", "600"); n != before {
		t.Errorf("%d sleep 600 processes left behind on the host (%d before)", n-before, before)
	}
	t.Logf("cancel returned in %s", took)
}

// More concurrent commands than sshd's MaxSessions (10) all succeed on one
// connection: the transport queues them instead of being refused.
func TestSessionLimit(t *testing.T) {
	_, _, c := up(t)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := c.Exec(context.Background(), Cmd{Argv: []string{"sh", "-c", "sleep 0.2; echo $1", "x", fmt.Sprint(i)}})
			if err == nil && strings.TrimSpace(string(res.Stdout)) != fmt.Sprint(i) {
				err = fmt.Errorf("command %d printed %q", i, res.Stdout)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := c.Stats(); st.Dials != 1 || st.Sessions != 30 {
		t.Errorf("stats %+v, want 1 dial and 30 sessions", st)
	}
}

func TestBecomeWithoutPasswordlessSudo(t *testing.T) {
	c := &Conn{name: "h", become: true}
	err := c.exitError("sudo -n -- true", 1, "sudo: a password is required")
	if !strings.Contains(err.Error(), "passwordless sudo") || !strings.HasPrefix(err.Error(), "become: ") {
		t.Errorf("unclear sudo error: %v", err)
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Error("sudo error does not wrap the exit error")
	}
}
