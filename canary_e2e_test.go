package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lab/labtest"
)

// TestSecretsCanaryE2E pushes the documentation's app-stack verbatim to a
// lab host with vigo/webapp/database_url set in the age store, and searches
// every output a push produces for the value: it must be in the webapp
// container's environment and nowhere else. Add each new kind of output
// (renderer, report, log) to the outputs checked here.
//
// Covered: plain output, terminal output (under a pty), --dry-run, the
// --debug log (on stderr and in a --log-file),
// --output json, the JUnit report, the HTML reports of a dry run and of
// envoys check, envoys check's text and JSON, a failing push whose health check echoes
// the value from the container, a push with an unset secret, and the
// process lists (ps -efww) of the remote host and of this machine sampled
// during every push.
func TestSecretsCanaryE2E(t *testing.T) {
	const host = "web10.app.example.com"
	lab := labtest.Require(t, host)
	bin, err := exec.LookPath("vigocli") // put on PATH by testscript.Main (script_test.go)
	if err != nil {
		t.Skipf("vigocli not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The documentation's stockpile verbatim, with an inventory of one lab host.
	dir := t.TempDir()
	sp := filepath.Join(dir, "stockpile")
	for _, sub := range []string{"modules", "roles", "envoys"} {
		if err := copyDir(filepath.Join("examples", "docker-stack", sub), filepath.Join(sp, sub)); err != nil {
			t.Fatal(err)
		}
	}
	h := lab.Host(host)
	inv := fmt.Sprintf("hosts:\n  - name: %s\n    address: %s\n    user: root\n    identity_file: %s\n    known_hosts: %s\n",
		h.Name, h.Address, lab.Key, lab.KnownHosts)
	if err := os.WriteFile(filepath.Join(sp, "inventory.vgo"), []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}

	// Start from a host without the stack's containers.
	if _, err := lab.Docker(ctx, host, "rm", "-f", "webapp", "redis"); err != nil {
		t.Fatalf("clean host: %v", err)
	}

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "home", ".config"), "VIGO_STOCKPILE=" + sp, "LANG=C"}
	// vigo runs vigocli; it returns stdout, stdout+stderr and the exit code.
	vigo := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stdout bytes.Buffer
		var all lockedBuffer
		cmd.Stdout = io.MultiWriter(&stdout, &all)
		cmd.Stderr = &all
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("vigocli %v: %v", args, err)
		}
		return stdout.String(), all.String(), code
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		_, out, code := vigo(stdin, args...)
		if code != 0 {
			t.Fatalf("vigocli %v: exit %d\n%s", args, code, out)
		}
		return out
	}

	tokenA, tokenB := canaryToken(t), canaryToken(t)
	// Quotes and a backslash: JSON output (docker inspect, --output json)
	// can only show this value escaped.
	valueA := "postgres://webapp:" + tokenA + `@db.example.com:5432/webapp?application_name="vigo\canary"&x=<1>`
	valueB := "postgres://webapp:" + tokenB + "@db.example.com:5432/webapp"
	must("", "secrets", "init")
	must(valueA, "secrets", "set", "vigo/webapp/database_url")

	var outputs []output // every output, searched at the end
	var stdout string    // of the last push
	push := func(name string, args ...string) (string, int) {
		t.Helper()
		stop := sampleProcesses(ctx, t, lab, host, name, &outputs)
		so, out, code := vigo("", append([]string{"envoys", "push", "--all"}, args...)...)
		stop()
		stdout = so
		outputs = append(outputs, output{name, out})
		return out, code
	}
	containerEnv := func() (id string, env []string) {
		t.Helper()
		out, err := lab.Docker(ctx, host, "inspect", "-f", "{{.Id}} {{json .Config.Env}}", "webapp")
		if err != nil {
			t.Fatalf("inspect webapp: %v", err)
		}
		id, js, _ := strings.Cut(strings.TrimSpace(out), " ")
		if err := json.Unmarshal([]byte(js), &env); err != nil {
			t.Fatalf("inspect webapp env: %v", err)
		}
		return id, env
	}

	// 1. First push: the container gets the value in its environment.
	out, code := push("push 1 (plain, creates)")
	if code != 0 {
		t.Fatalf("first push: exit %d\n%s", code, out)
	}
	id1, cenv := containerEnv()
	if !contains(cenv, "DATABASE_URL="+valueA) {
		t.Fatalf("webapp environment lacks DATABASE_URL (have %d variables)", len(cenv))
	}

	// 2. Same value: nothing changes.
	out, code = push("push 2 (plain, no-op)")
	if code != 0 || !strings.Contains(out, "changed=0") {
		t.Fatalf("second push should change nothing: exit %d\n%s", code, out)
	}
	if id, _ := containerEnv(); id != id1 {
		t.Fatal("an unchanged secret recreated webapp")
	}

	// 3. A failing push whose health check prints the value from the
	// container (docker inspect: JSON, so the value's quotes and backslash
	// arrive escaped): remote output echoed back is masked.
	out, code = push("push 3 (failing health check echoing the value, --debug)", "--debug",
		"--health-check", "docker inspect webapp | grep DATABASE_URL; docker inspect webapp | grep DATABASE_URL >&2; exit 1",
		"--health-retries", "0")
	if code == 0 {
		t.Fatalf("push with a failing health check succeeded:\n%s", out)
	}
	if !strings.Contains(out, `"DATABASE_URL=***"`) {
		t.Errorf("the health check's output should be shown, masked:\n%s", out)
	}
	// The --debug log (stderr) logs the health check's output too, masked.
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "kind=command_output") && !strings.Contains(out, "kind=health_check") {
		t.Errorf("--debug logged no event:\n%s", out)
	}

	// 4. New value, dry run: the plan names the secret, shows neither value,
	// changes nothing.
	must(valueB, "secrets", "set", "vigo/webapp/database_url")
	plan := filepath.Join(dir, "plan.html")
	out, code = push("push 4 (--dry-run, changed secret)", "--dry-run", "--report-html", plan)
	if code != 0 || !strings.Contains(out, "secret:vigo/webapp/database_url (changed)") {
		t.Fatalf("dry run should show the changed secret: exit %d\n%s", code, out)
	}
	if id, _ := containerEnv(); id != id1 {
		t.Fatal("--dry-run recreated webapp")
	}
	// envoys check sees the same drift: its text, JSON and HTML report.
	checkHTML := filepath.Join(dir, "check.html")
	for _, args := range [][]string{{"envoys", "check", "--all"}, {"envoys", "check", "--all", "--output", "json", "--report-html", checkHTML}} {
		so, all, code := vigo("", args...)
		outputs = append(outputs, output{strings.Join(args, " "), all})
		if code != 2 || !strings.Contains(so, "secret:vigo/webapp/database_url (changed)") {
			t.Errorf("vigocli %s: exit %d, want 2 naming the changed secret\n%s", strings.Join(args, " "), code, all)
		}
	}
	for _, f := range []string{plan, checkHTML} {
		rep, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, output{"html report " + filepath.Base(f), string(rep)})
	}

	// 5. New value, JSON output and JUnit report: webapp is recreated and
	// says why.
	junit := filepath.Join(dir, "junit.xml")
	logFile := filepath.Join(dir, "debug.log")
	out, code = push("push 5 (--output json, changed secret, --debug --log-file)", "--output", "json", "--report", junit, "--debug", "--log-file", logFile)
	if code != 0 {
		t.Fatalf("push with the new value: exit %d\n%s", code, out)
	}
	debugLog, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, output{"push 5 debug log", string(debugLog)})
	for _, want := range []string{"msg=\"connection ready\"", "msg=\"engine request\"", "request=\"POST /", "phase_connect=", "phase_apply="} {
		if !bytes.Contains(debugLog, []byte(want)) {
			t.Errorf("the debug log lacks %s:\n%s", want, debugLog)
		}
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("debug log mode: %v, %v; want 0600", fi.Mode(), err)
	}
	if !jsonResourceChanged(t, stdout, "app-container", "secret:vigo/webapp/database_url (changed)") {
		t.Errorf("JSON output does not say app-container changed because of the secret:\n%s", out)
	}
	rep, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, output{"junit report", string(rep)})
	id2, cenv := containerEnv()
	if id2 == id1 || !contains(cenv, "DATABASE_URL="+valueB) {
		t.Fatalf("webapp not recreated with the new value (same id: %v)", id2 == id1)
	}

	// 6. Terminal output under a pseudo-terminal: a no-op push.
	stop := sampleProcesses(ctx, t, lab, host, "push 6 (tty)", &outputs)
	tty := runPTY(ctx, t, bin, env, "envoys", "push", "--all")
	stop()
	outputs = append(outputs, output{"push 6 (tty)", tty})
	if !strings.Contains(tty, "web10") || !strings.Contains(tty, "RECAP") {
		t.Errorf("the terminal renderer drew no host or recap:\n%q", tty)
	}
	if id, _ := containerEnv(); id != id2 {
		t.Fatal("a no-op push under a terminal recreated webapp")
	}

	// 7. An unset secret fails before the host is touched, naming the path
	// and the resource.
	// (With app_tag v2.2.0 a push that touched the host would pull that
	// image: it must still be absent afterwards.)
	const v22 = "myregistry.example.com/webapp:v2.2.0"
	lab.SSH(ctx, host, "docker rmi -f "+v22+" >/dev/null 2>&1 || true")
	must("", "secrets", "rm", "vigo/webapp/database_url")
	out, code = push("push 7 (unset secret)", "--var", "app_tag=v2.2.0")
	if code == 0 || !strings.Contains(out, "vigo/webapp/database_url") || !strings.Contains(out, "app-container") {
		t.Fatalf("push with an unset secret: exit %d, want failure naming the path and the resource:\n%s", code, out)
	}
	if id, _ := containerEnv(); id != id2 {
		t.Fatal("a push with an unset secret changed webapp")
	}
	if _, err := lab.Docker(ctx, host, "image", "inspect", v22); err == nil {
		t.Error("a push with an unset secret pulled an image: it touched the host")
	}

	// 8. The secret set again, the same push goes through (and does pull
	// v2.2.0, so the check above can fail).
	must(valueB, "secrets", "set", "vigo/webapp/database_url")
	out, code = push("push 8 (secret set again, v2.2.0, --debug)", "--var", "app_tag=v2.2.0", "--debug")
	if code != 0 {
		t.Fatalf("push after setting the secret again: exit %d\n%s", code, out)
	}
	if _, err := lab.Docker(ctx, host, "image", "inspect", v22); err != nil {
		t.Errorf("push 8 did not pull %s: %v", v22, err)
	}
	if _, cenv := containerEnv(); !contains(cenv, "DATABASE_URL="+valueB) {
		t.Error("webapp v2.2.0 lacks the value")
	}

	// Nothing but the container holds the value: search every output for
	// both tokens, raw and in base64.
	var needles []string
	for _, v := range []string{valueA, valueB} {
		needles = append(needles, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	needles = append(needles, tokenA, tokenB)
	for _, o := range outputs {
		for _, n := range needles {
			if strings.Contains(o.text, n) {
				t.Errorf("%s: a secret value leaked:\n%s", o.name, excerpt(o.text, n))
			}
		}
	}
	// The env files that carry values to the host are gone.
	// (Docker's own state under /run/docker and /var/lib/docker holds the
	// container's environment, like `docker inspect` does.)
	left, err := lab.SSH(ctx, host, "grep -rl --exclude-dir=docker --exclude-dir=containerd "+labtest.Quote(tokenB)+
		" /tmp /var/tmp /root /run /opt /home 2>/dev/null || true")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(left) != "" {
		t.Errorf("files on the host still hold the value: %s", left)
	}
	var samples int
	for _, o := range outputs {
		if strings.HasPrefix(o.name, "ps ") {
			samples += strings.Count(o.text, "\n--sample--\n")
		}
	}
	t.Logf("searched %d outputs (%d process-list samples) for the canary values", len(outputs), samples)
}

type output struct{ name, text string }

// lockedBuffer is a bytes.Buffer written by stdout and stderr copiers at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func canaryToken(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "CANARY" + hex.EncodeToString(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// excerpt shows where needle occurs in text, for the failure message (the
// values are test canaries, not secrets).
func excerpt(text, needle string) string {
	i := strings.Index(text, needle)
	lo, hi := max(0, i-200), min(len(text), i+len(needle)+200)
	return text[lo:hi]
}

// sampleProcesses captures `ps -efww` on host and on this machine, as
// often as they answer, until the returned stop is called; the samples
// are appended to outputs.
func sampleProcesses(ctx context.Context, t *testing.T, lab *labtest.Lab, host, name string, outputs *[]output) (stop func()) {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var remote, local lockedBuffer
	ready := make(chan struct{}) // the first remote sample arrived
	wg.Add(2)
	go func() { // one ssh session looping on the host
		defer wg.Done()
		args := append(lab.SSHArgs(host), "while :; do ps -efww; echo --sample--; sleep 0.05; done")
		cmd := exec.CommandContext(sctx, "ssh", args...)
		pr, pw := io.Pipe()
		cmd.Stdout = pw
		go func() {
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			first := true
			for sc.Scan() {
				remote.Write(append(sc.Bytes(), '\n'))
				if first && sc.Text() == "--sample--" {
					first = false
					close(ready)
				}
			}
			io.Copy(io.Discard, pr)
		}()
		cmd.Run()
		pw.Close()
	}()
	select { // never start the push before the host is being sampled
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Errorf("no process list sampled on %s before %s", host, name)
	}
	go func() {
		defer wg.Done()
		for sctx.Err() == nil {
			out, _ := exec.CommandContext(sctx, "ps", "-efww").Output()
			local.Write(out)
			local.Write([]byte("\n--sample--\n"))
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() {
		time.Sleep(100 * time.Millisecond) // one more sample after the push
		cancel()
		wg.Wait()
		*outputs = append(*outputs, output{"ps on " + host + " during " + name, remote.String()},
			output{"ps on this machine during " + name, local.String()})
		if !strings.Contains(remote.String(), "--sample--") {
			t.Errorf("no process list sampled on %s during %s", host, name)
		}
	}
}

// runPTY runs vigocli on a pseudo-terminal and returns all it drew.
func runPTY(ctx context.Context, t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(env, "TERM=xterm-256color")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	defer f.Close()
	var out bytes.Buffer
	io.Copy(&out, bufio.NewReader(f)) // until the child closes the terminal (EIO)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("push under a terminal: %v\n%s", err, out.String())
	}
	return out.String()
}

// jsonResourceChanged reports whether the JSON report says resource
// changed with a diff line containing diff.
func jsonResourceChanged(t *testing.T, doc, resource, diff string) bool {
	t.Helper()
	var d struct {
		Hosts []struct {
			Resources []struct {
				Name, Status string
				Diff         []event.Change
			}
		}
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, doc)
	}
	for _, h := range d.Hosts {
		for _, r := range h.Resources {
			if r.Name == resource && r.Status == "changed" {
				for _, c := range r.Diff {
					if strings.Contains(c.String(), diff) {
						return true
					}
				}
			}
		}
	}
	return false
}
