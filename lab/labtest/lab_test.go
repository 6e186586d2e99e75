package labtest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// The documentation's images, as its examples name them.
var docImages = []string{
	"redis:7-alpine",
	"myregistry.example.com/webapp:v2.1.0",
	"nginx:latest",
	"myregistry.example.com/api:v2.1.0",
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// forEach runs f for every host, a few at a time.
func forEach(t *testing.T, hosts []labtest.Host, f func(t *testing.T, h labtest.Host)) {
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(h.Name, func(t *testing.T) { f(t, h) })
		}()
	}
	wg.Wait()
}

func TestRequireWithoutLabSkipsOrFails(t *testing.T) {
	// A state dir with nothing in it is a lab that is down: Require must
	// stop the test without dialing anything.
	t.Setenv("VIGO_LAB_DIR", t.TempDir())
	t.Setenv("CI", "")
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		labtest.Require(rec, "web1")
	}()
	<-done
	if !rec.skipped || !strings.Contains(rec.msg, "lab is down") {
		t.Fatalf("Require on an absent lab: skipped=%v msg=%q", rec.skipped, rec.msg)
	}
	t.Setenv("CI", "true")
	rec = &recorder{TB: t}
	done = make(chan struct{})
	go func() {
		defer close(done)
		labtest.Require(rec, "web1")
	}()
	<-done
	if !rec.failed {
		t.Fatalf("Require under CI=true on an absent lab did not fail (msg %q)", rec.msg)
	}
}

// recorder captures Skip/Fatal without ending the outer test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func TestEveryHostRunsItsOwnEngine(t *testing.T) {
	l := labtest.Require(t)
	var mu sync.Mutex
	ids := map[string]string{}
	forEach(t, l.DockerHosts(), func(t *testing.T, h labtest.Host) {
		out, err := l.SSH(ctx(t, time.Minute), h.Name, `hostname; docker info --format '{{.Name}} {{.ID}} {{.DockerRootDir}}'`)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(out)
		if len(f) != 4 || f[0] != h.Name || f[1] != h.Name || f[3] != "/var/lib/docker" {
			t.Fatalf("hostname and docker info on %s: %q", h.Name, out)
		}
		mu.Lock()
		defer mu.Unlock()
		if other, dup := ids[f[2]]; dup {
			t.Fatalf("%s and %s share the engine %s", h.Name, other, f[2])
		}
		ids[f[2]] = h.Name
	})
}

func TestSSHOnlyHostsAndBastion(t *testing.T) {
	l := labtest.Require(t, "bastion", "inner1")
	for _, name := range []string{"bastion", "inner1"} {
		out, err := l.SSH(ctx(t, time.Minute), name, "hostname; command -v dockerd >/dev/null && test -S /var/run/docker.sock && echo has-docker || echo no-docker")
		if err != nil {
			t.Fatal(err)
		}
		if want := l.Host(name).Name + "\nno-docker\n"; out != want {
			t.Errorf("%s: got %q, want %q", name, out, want)
		}
	}
	// inner1 is reachable only through the bastion: no route from here.
	c, err := net.DialTimeout("tcp", l.Host("inner1").Addr(), 3*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("inner1 %s is reachable without the bastion", l.Host("inner1").Addr())
	}
}

func TestHostKeysAreChecked(t *testing.T) {
	l := labtest.Require(t, "web1")
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + empty, "-o", "GlobalKnownHostsFile=/dev/null", "-i", l.Key,
		"root@" + l.Host("web1").Address, "true"}
	out, err := exec.CommandContext(ctx(t, 30*time.Second), "ssh", args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Fatalf("ssh with an empty known_hosts: err=%v out=%s", err, out)
	}
	if _, err := l.SSH(ctx(t, 30*time.Second), "web1", "true"); err != nil {
		t.Fatalf("ssh with the lab known_hosts: %v", err)
	}
}

func TestComposeV2OnEveryHost(t *testing.T) {
	l := labtest.Require(t)
	forEach(t, l.DockerHosts(), func(t *testing.T, h labtest.Host) {
		out, err := l.Docker(ctx(t, time.Minute), h.Name, "compose", "version", "--short")
		if err != nil {
			t.Fatal(err)
		}
		if v := strings.TrimSpace(out); !strings.HasPrefix(strings.TrimPrefix(v, "v"), "2.") {
			t.Fatalf("docker compose version on %s: %q, want 2.x", h.Name, v)
		}
		if _, err := l.SSH(ctx(t, time.Minute), h.Name, "docker-compose version --short"); err != nil {
			t.Errorf("docker-compose v1 fallback on %s: %v", h.Name, err)
		}
	})
}

// TestPullDocumentationImages pulls the four images on every docker host and
// removes again those that were not there before, so hosts that other
// packages' tests use are left as they were.
func TestPullDocumentationImages(t *testing.T) {
	l := labtest.Require(t)
	forEach(t, l.DockerHosts(), func(t *testing.T, h labtest.Host) {
		for _, img := range docImages {
			c := ctx(t, 2*time.Minute)
			before, err := l.Docker(c, h.Name, "image", "ls", "-q", img)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Docker(c, h.Name, "pull", "-q", img); err != nil {
				t.Fatalf("pull %s on %s: %v", img, h.Name, err)
			}
			if strings.TrimSpace(before) == "" {
				_, _ = l.Docker(c, h.Name, "image", "rm", img)
			}
		}
	})
}

func TestMissingImagesFailFast(t *testing.T) {
	l := labtest.Require(t, "web1")
	for _, img := range []string{"vigo-lab-absent:1", "myregistry.example.com/vigo-lab-absent:1"} {
		// the bound is generous; a hang (DNS, routes) would exceed it
		out, err := l.Docker(ctx(t, 30*time.Second), "web1", "pull", img)
		if err == nil {
			t.Fatalf("pull %s succeeded: %s", img, out)
		}
		if !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "lookup") {
			t.Fatalf("pull %s: unexpected error %v", img, err)
		}
	}
}

// TestContainersAreIsolated starts a container on the last web host and
// checks the others do not see it and its published ports answer at that
// host's address (the webapp's /version and redis PING with the
// documentation's command override).
func TestContainersAreIsolated(t *testing.T) {
	l := labtest.Require(t)
	hosts := l.DockerHosts()
	if len(hosts) < 2 {
		t.Skip("needs two docker hosts")
	}
	h := hosts[len(hosts)-1]
	name := fmt.Sprintf("labtest-iso-%d", time.Now().UnixNano())
	c := ctx(t, 2*time.Minute)
	t.Cleanup(func() {
		_, _ = l.Docker(context.Background(), h.Name, "rm", "-f", name, name+"-redis")
	})
	if _, err := l.Docker(c, h.Name, "run", "-d", "--name", name, "-p", "18080:8080",
		"myregistry.example.com/webapp:v2.2.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SSH(c, h.Name, "docker run -d --name "+name+"-redis -p 16379:6379 redis:7-alpine redis-server --maxmemory 512mb"); err != nil {
		t.Fatal(err)
	}
	for _, o := range hosts {
		if o.Name == h.Name {
			continue
		}
		out, err := l.Docker(c, o.Name, "ps", "-aq", "--filter", "name="+name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Fatalf("container %s of %s is visible on %s", name, h.Name, o.Name)
		}
	}
	got := waitHTTP(t, c, "http://"+net.JoinHostPort(h.Address, "18080")+"/version")
	if got != "2.2.0" {
		t.Fatalf("/version at %s: %q", h.Address, got)
	}
	if got := waitRedisPing(t, c, net.JoinHostPort(h.Address, "16379")); got != "+PONG" {
		t.Fatalf("redis PING at %s: %q", h.Address, got)
	}
}

func waitHTTP(t *testing.T, c context.Context, url string) string {
	var last error
	for c.Err() == nil {
		req, _ := http.NewRequestWithContext(c, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func waitRedisPing(t *testing.T, c context.Context, addr string) string {
	var last error
	for c.Err() == nil {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write([]byte("PING\r\n"))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil {
				return strings.TrimSpace(line)
			}
			err = rerr
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("redis at %s: %v", addr, last)
	return ""
}

// TestFaults injects each fault on the last web host and checks its effect
// and its undo. It disturbs that host, so outside CI it runs only with
// VIGO_LAB_FAULTS=1 (other packages' tests may be using the lab).
func TestFaults(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("VIGO_LAB_FAULTS") != "1" {
		t.Skip("disturbs a lab host; set VIGO_LAB_FAULTS=1 (CI runs it)")
	}
	l := labtest.Require(t)
	var h labtest.Host
	for _, x := range l.DockerHosts() {
		if strings.HasPrefix(x.Name, "web") {
			h = x
		}
	}
	if h.Name == "" {
		t.Skip("no web host")
	}
	ssh := func(t *testing.T, cmd string) (string, error) {
		return l.SSH(ctx(t, 20*time.Second), h.Name, cmd)
	}
	t.Run("sshd-stop", func(t *testing.T) {
		l.Fault(t, h.Name, "sshd-stop")
		if _, err := net.DialTimeout("tcp", h.Addr(), 3*time.Second); err == nil {
			t.Fatal("sshd still answers after sshd-stop")
		}
	})
	if _, err := ssh(t, "true"); err != nil {
		t.Fatalf("after sshd-start: %v", err)
	}
	t.Run("dockerd-stop", func(t *testing.T) {
		l.Fault(t, h.Name, "dockerd-stop")
		if _, err := l.Docker(ctx(t, 20*time.Second), h.Name, "info"); err == nil {
			t.Fatal("docker info works after dockerd-stop")
		}
		if _, err := ssh(t, "true"); err != nil {
			t.Fatalf("sshd should be unaffected: %v", err)
		}
	})
	if _, err := l.Docker(ctx(t, time.Minute), h.Name, "info"); err != nil {
		t.Fatalf("after dockerd-start: %v", err)
	}
	t.Run("link-cut", func(t *testing.T) {
		l.Fault(t, h.Name, "link-cut")
		if c, err := net.DialTimeout("tcp", h.Addr(), 2*time.Second); err == nil {
			c.Close()
			t.Fatal("host reachable after link-cut")
		}
	})
	if _, err := ssh(t, "true"); err != nil {
		t.Fatalf("after link-restore: %v", err)
	}
	t.Run("latency-add", func(t *testing.T) {
		l.Fault(t, h.Name, "latency-add", "400")
		start := time.Now()
		if _, err := ssh(t, "true"); err != nil {
			t.Fatal(err)
		}
		// an SSH connection needs several round trips; each costs >= 400ms now
		if d := time.Since(start); d < 1200*time.Millisecond {
			t.Fatalf("ssh with 400ms added latency took only %v", d)
		}
	})
	if _, err := ssh(t, "true"); err != nil {
		t.Fatalf("after latency-del: %v", err)
	}
}

// TestComposeRunsTheDocumentationStack brings the documentation's compose
// services up with docker compose v2 on a compose host (own project name and
// ports, in a temporary directory) and reads the api's /version.
func TestComposeRunsTheDocumentationStack(t *testing.T) {
	l := labtest.Require(t)
	var h labtest.Host
	for _, x := range l.DockerHosts() {
		if strings.HasPrefix(x.Name, "svc") {
			h = x
			break
		}
	}
	if h.Name == "" {
		t.Skip("no compose host (COMPOSE_HOSTS=0)")
	}
	project := fmt.Sprintf("labtest%d", time.Now().UnixNano())
	script := `set -e
d=$(mktemp -d)
cat >"$d/docker-compose.yml" <<'END'
services:
  web:
    image: nginx:latest
    ports:
      - "18081:80"
  api:
    image: myregistry.example.com/api:v2.1.0
    ports:
      - "18082:8080"
    environment:
      DATABASE_URL: "${DATABASE_URL}"
  redis:
    image: redis:7-alpine
END
cd "$d"
DATABASE_URL=unused docker compose -p ` + project + ` up -d --pull always --remove-orphans >/dev/null 2>&1
docker compose -p ` + project + ` ps --format '{{.Service}} {{.State}}' | sort
rm -rf "$d"`
	t.Cleanup(func() {
		_, _ = l.SSH(context.Background(), h.Name, "docker compose -p "+project+" down --remove-orphans")
	})
	c := ctx(t, 3*time.Minute)
	out, err := l.SSH(c, h.Name, script)
	if err != nil {
		t.Fatal(err)
	}
	if want := "api running\nredis running\nweb running\n"; out != want {
		t.Fatalf("compose ps on %s: %q, want %q", h.Name, out, want)
	}
	if got := waitHTTP(t, c, "http://"+net.JoinHostPort(h.Address, "18082")+"/version"); got != "2.1.0" {
		t.Fatalf("api /version: %q", got)
	}
	if got := waitHTTP(t, c, "http://"+net.JoinHostPort(h.Address, "18081")+"/health"); got != "ok\n" {
		t.Fatalf("nginx stand-in /health: %q", got)
	}
}
