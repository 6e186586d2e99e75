package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestSecretsSetPrompt types a value at `secrets set` on a pseudo-terminal:
// it is read without echo, asked twice, and never appears in the output.
func TestSecretsSetPrompt(t *testing.T) {
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "cfg"), "VIGO_STOCKPILE="+dir,
		"VIGO_AGE_KEY=", "VIGO_AGE_KEY_FILE=")
	run := func(stdin io.Reader, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdin = env, stdin
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run(nil, "secrets", "init")

	const value = "Typed-Canary-7c1e"
	for _, tt := range []struct {
		name    string
		answers []string
		ok      bool
	}{
		{"same twice", []string{value, value}, true},
		{"mismatch", []string{value, value + "x"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "secrets", "set", "app/typed")
			cmd.Env = env
			ptmx, err := pty.Start(cmd)
			if err != nil {
				t.Skipf("no pty: %v", err)
			}
			defer ptmx.Close()
			var out bytes.Buffer
			r := bufio.NewReader(io.TeeReader(ptmx, &out))
			for i, prompt := range []string{"value for app/typed: ", "again: "} {
				if err := readUntil(r, prompt, 10*time.Second); err != nil {
					t.Fatalf("waiting for prompt %q: %v (got %q)", prompt, err, out.String())
				}
				io.WriteString(ptmx, tt.answers[i]+"\r")
			}
			io.Copy(io.Discard, r) // until the process closes the tty
			werr := cmd.Wait()
			if tt.ok != (werr == nil) {
				t.Fatalf("exit: %v; want ok=%v\n%s", werr, tt.ok, out.String())
			}
			if strings.Contains(out.String(), "Typed-Canary") {
				t.Fatalf("the typed value was echoed:\n%q", out.String())
			}
			if !tt.ok && !strings.Contains(out.String(), "the two values differ") {
				t.Errorf("mismatch not explained: %q", out.String())
			}
		})
	}
	if got := run(nil, "secrets", "get", "app/typed"); got != value+"\n" {
		t.Errorf("get = %q; want the typed value", got)
	}
}

// readUntil reads from r until the text read ends with s.
func readUntil(r *bufio.Reader, s string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		var seen []byte
		for {
			b, err := r.ReadByte()
			if err != nil {
				done <- err
				return
			}
			seen = append(seen, b)
			if bytes.HasSuffix(seen, []byte(s)) {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return io.ErrNoProgress
	}
}
