package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigo-sh/vigocli/lab/labtest"
)

// The lab (lab/, state in /var/lib/vigo-lab) runs real sshd and dockerd in
// network namespaces. These tests prove the transport there; they skip,
// saying why, when the lab or a host they need is not up. This team's
// hosts: web1, bastion, inner1 (inner1 is reachable only via bastion).

const (
	labWeb1    = "web1.app.example.com"
	labBastion = "bastion.lab.example.com"
	labInner1  = "inner1.lab.example.com"
)

// lab is the running lab with its hosts by name.
type lab struct {
	*labtest.Lab
	hosts map[string]labtest.Host
}

// requireLab skips (fails under CI=true) when the lab or a named host is
// not up; labtest never dials a lab address unless the lab is there.
func requireLab(t testing.TB, names ...string) *lab {
	t.Helper()
	l := &lab{Lab: labtest.Require(t, names...), hosts: map[string]labtest.Host{}}
	for _, h := range l.Lab.Hosts {
		l.hosts[h.Name] = h
	}
	return l
}

// options are pool options using the lab's ssh_config (identity, user,
// known_hosts) and nothing of the machine's ~/.ssh.
func (l *lab) options(t testing.TB) PoolOptions {
	return PoolOptions{HomeDir: t.TempDir(), LocalUser: "root", SSHConfigPath: l.SSHConfig, AgentSocket: "none"}
}

func (l *lab) conn(t testing.TB, name string) *Conn {
	t.Helper()
	p, err := NewPool(l.options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Get(context.Background(), Target{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hostKey is the lab host's key as recorded in the lab's known_hosts.
func (l *lab) hostKey(t testing.TB, name string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		_, hosts, key, _, rest, err := ssh.ParseKnownHosts(b)
		if err != nil {
			break
		}
		for _, h := range hosts {
			if h == name {
				return key
			}
		}
		b = rest
	}
	t.Fatalf("no key for %s in %s", name, l.KnownHosts)
	return nil
}

func TestLabHostKeys(t *testing.T) {
	l := requireLab(t, labWeb1)
	h := l.hosts[labWeb1]
	ctx := context.Background()
	tg := Target{Name: labWeb1, Address: h.Address, Port: h.Port, User: "root", IdentityFile: l.Key}
	base := PoolOptions{HomeDir: t.TempDir(), LocalUser: "root", SSHConfigPath: "none", AgentSocket: "none"}

	known := filepath.Join(t.TempDir(), "known_hosts")
	o := base
	o.KnownHostsFiles = []string{known}
	p, _ := NewPool(o)
	_, err := p.Get(ctx, tg)
	p.Close()
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Unknown() || !strings.Contains(err.Error(), "--accept-new-host-keys") {
		t.Fatalf("unknown host: %v", err)
	}
	t.Logf("unknown: %v", err)

	o.AcceptNewHostKeys = true
	p, _ = NewPool(o)
	if _, err := p.Get(ctx, tg); err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	p.Close()
	o.AcceptNewHostKeys = false
	p, _ = NewPool(o)
	if _, err := p.Get(ctx, tg); err != nil {
		t.Fatalf("recorded key refused: %v", err)
	}
	p.Close()

	other := newKey(t, t.TempDir(), "other", "")
	os.WriteFile(known, []byte(fmt.Sprintf("%s %s", h.Address, ssh.MarshalAuthorizedKey(other.Pub))), 0o600)
	o.AcceptNewHostKeys = true
	p, _ = NewPool(o)
	_, err = p.Get(ctx, tg)
	p.Close()
	if !errors.As(err, &hke) || hke.Unknown() ||
		!strings.Contains(err.Error(), ssh.FingerprintSHA256(other.Pub)) ||
		!strings.Contains(err.Error(), ssh.FingerprintSHA256(l.hostKey(t, labWeb1))) {
		t.Fatalf("changed key: %v", err)
	}
	t.Logf("changed: %v", err)

	// A key the host does not authorize.
	o = base
	o.KnownHostsFiles = []string{l.KnownHosts}
	p, _ = NewPool(o)
	tg.IdentityFile = other.Path
	_, err = p.Get(ctx, tg)
	p.Close()
	if err == nil || !strings.Contains(err.Error(), "root@"+h.Address+":22") {
		t.Fatalf("wrong key: %v", err)
	}
	t.Logf("wrong key: %v", err)
}

func TestLabAgentAuth(t *testing.T) {
	l := requireLab(t, labWeb1)
	h := l.hosts[labWeb1]
	sock := startAgent(t, l.Key)
	o := PoolOptions{HomeDir: t.TempDir(), LocalUser: "root", SSHConfigPath: "none", AgentSocket: sock,
		KnownHostsFiles: []string{l.KnownHosts}}
	p, _ := NewPool(o)
	defer p.Close()
	c, err := p.Get(context.Background(), Target{Name: labWeb1, Address: h.Address, User: "root"})
	if err != nil {
		t.Fatalf("agent auth: %v", err)
	}
	if res, err := c.Exec(context.Background(), Cmd{Argv: []string{"hostname"}}); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("via agent on %s", strings.TrimSpace(string(res.Stdout)))
	}
}

func TestLabOneConnectionPerHost(t *testing.T) {
	l := requireLab(t, labWeb1)
	h := l.hosts[labWeb1]
	proxy := newCountingProxy(t, fmt.Sprintf("%s:%d", h.Address, h.Port), 0)
	known := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", proxy.Port(), ssh.MarshalAuthorizedKey(l.hostKey(t, labWeb1)))), 0o600)
	p, _ := NewPool(PoolOptions{HomeDir: t.TempDir(), LocalUser: "root", SSHConfigPath: "none", AgentSocket: "none", KnownHostsFiles: []string{known}})
	defer p.Close()
	ctx := context.Background()
	tg := Target{Name: labWeb1, Address: "127.0.0.1", Port: proxy.Port(), User: "root", IdentityFile: l.Key}
	dir := "/tmp/vigo-transport-lab"
	for i := 0; i < 5; i++ {
		c, err := p.Get(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, Cmd{Argv: []string{"docker", "ps", "-q"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteFile(ctx, fmt.Sprintf("%s/f%d", dir, i), []byte("x"), FileOptions{}); err != nil {
			t.Fatal(err)
		}
		hc := dockerHTTP(c)
		getText(t, hc, "/containers/json")
		hc.CloseIdleConnections()
	}
	c, _ := p.Get(ctx, tg)
	c.Exec(ctx, Cmd{Argv: []string{"rm", "-rf", "--", dir}})
	if n := proxy.accepted.Load(); n != 1 {
		t.Errorf("%d TCP connections to %s, want 1", n, labWeb1)
	}
	t.Logf("stats: %+v", p.Stats())
}

func TestLabCancelAndInjection(t *testing.T) {
	l := requireLab(t, labWeb1)
	c := l.conn(t, labWeb1)
	testCancel(t, c, Cmd{Argv: []string{"sleep", "600"}})

	ctx := context.Background()
	c.Exec(ctx, Cmd{Argv: []string{"rm", "-f", "/tmp/pwned"}})
	vals := []string{"'; touch /tmp/pwned; '", "$(id)"}
	res, err := c.Exec(ctx, Cmd{Argv: []string{"printf", "%s|%s", vals[0], vals[1]}})
	if err != nil || string(res.Stdout) != vals[0]+"|"+vals[1] {
		t.Fatalf("%q %v", res.Stdout, err)
	}
	if _, err := c.Exec(ctx, Cmd{Argv: []string{"test", "!", "-e", "/tmp/pwned"}}); err != nil {
		t.Fatalf("/tmp/pwned exists on %s: %v", labWeb1, err)
	}
}

func TestLabUpload100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB upload")
	}
	l := requireLab(t, labWeb1)
	c := l.conn(t, labWeb1)
	ctx := context.Background()
	dir := "/tmp/vigo-transport-upload"
	p := dir + "/big.bin"
	defer c.Exec(ctx, Cmd{Argv: []string{"rm", "-rf", "--", dir}})
	old := []byte("old\n")
	if _, err := c.WriteFile(ctx, p, old, FileOptions{}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 100<<20)
	rand.Read(big)
	cctx, cancel := context.WithCancel(ctx)
	base := c.Stats().BytesUploaded
	go func() {
		for c.Stats().BytesUploaded-base < 50<<20 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := c.WriteFile(cctx, p, big, FileOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancelled, got %v", err)
	}
	sums, err := c.FileSHA256(ctx, []string{p})
	if err != nil || sums[p] != sha(old) {
		t.Fatalf("old file damaged: %v %v", sums, err)
	}
	res, _ := c.Exec(ctx, Cmd{Argv: []string{"ls", "-A", dir}})
	if strings.TrimSpace(string(res.Stdout)) != "big.bin" {
		t.Fatalf("junk left: %q", res.Stdout)
	}
	start := time.Now()
	if ch, err := c.WriteFile(ctx, p, big, FileOptions{}); err != nil || !ch {
		t.Fatal(ch, err)
	}
	t.Logf("100 MB to %s in %s", labWeb1, time.Since(start).Round(time.Millisecond))
	before := c.Stats()
	if ch, err := c.WriteFile(ctx, p, big, FileOptions{}); err != nil || ch {
		t.Fatal("identical upload", ch, err)
	}
	if d := c.Stats().BytesUploaded - before.BytesUploaded; d != 0 {
		t.Fatalf("identical upload sent %d bytes", d)
	}
	if sums, _ := c.FileSHA256(ctx, []string{p}); sums[p] != sha(big) {
		t.Fatal("content differs")
	}
}

func TestLabDockerAPI(t *testing.T) {
	l := requireLab(t, labWeb1)
	c := l.conn(t, labWeb1)
	hc := dockerHTTP(c)
	defer hc.CloseIdleConnections()
	if got := getText(t, hc, "/_ping"); got != "OK" {
		t.Fatalf("/_ping %q", got)
	}
	var v struct{ Version, ApiVersion string }
	if err := json.Unmarshal([]byte(getText(t, hc, "/version")), &v); err != nil || v.Version == "" {
		t.Fatalf("/version: %+v %v", v, err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(getText(t, hc, "/containers/json?all=1")), &list); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker %s (API %s) on %s via %s, %d containers", v.Version, v.ApiVersion, labWeb1, c.dockerVia, len(list))
}

func TestLabProxyJump(t *testing.T) {
	l := requireLab(t, labBastion, labInner1)
	// inner1 is not reachable from the controller directly...
	if nc, err := net.DialTimeout("tcp", l.hosts[labInner1].Addr(), time.Second); err == nil {
		nc.Close()
		t.Fatalf("%s answers directly: the test would prove nothing", labInner1)
	}
	// ...only through the bastion.
	c := l.conn(t, labInner1)
	if len(c.ep.Jumps) == 0 {
		// The lab's ssh_config may leave the jump to the inventory.
		p, _ := NewPool(l.options(t))
		defer p.Close()
		var err error
		c, err = p.Get(context.Background(), Target{Name: labInner1, ProxyJump: labBastion})
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if _, err := c.Exec(context.Background(), Cmd{Argv: []string{"hostname"}, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if c.via == nil {
		t.Fatal("inner1 reached without the bastion")
	}
	t.Logf("reached %s (%s) via %s", strings.TrimSpace(out.String()), c, c.via)
}

// TestLabWriteIgnoresPlantedSymlink: on web1, a symlink planted in /tmp at
// a temporary name (the old predictable one, or a guess) is never written
// through by an upload as root.
func TestLabWriteIgnoresPlantedSymlink(t *testing.T) {
	l := requireLab(t, labWeb1)
	c := l.conn(t, labWeb1)
	ctx := context.Background()
	dir := "/tmp/vigo-transport-symlink"
	defer c.Exec(ctx, Cmd{Argv: []string{"rm", "-rf", "--", dir}})
	setup := `set -e; rm -rf -- "$1"; mkdir -p -- "$1"; echo precious > "$1/victim"
ln -s -- "$1/victim" "$1/.app.conf.vigo-tmp"; ln -s -- "$1/victim" "$1/.app.conf.vigo-XXXXXX"`
	if _, err := c.Exec(ctx, Cmd{Argv: []string{"sh", "-c", setup, "vigo-setup", dir}}); err != nil {
		t.Fatal(err)
	}
	p := dir + "/app.conf"
	if ch, err := c.WriteFile(ctx, p, []byte("new\n"), FileOptions{Mode: 0o600}); err != nil || !ch {
		t.Fatalf("write: %v %v", ch, err)
	}
	res, err := c.Exec(ctx, Cmd{Argv: []string{"sh", "-c", `cat -- "$1/victim"; ls -A -- "$1"; stat -c '%F %a' -- "$1/app.conf"`, "vigo-check", dir}})
	if err != nil {
		t.Fatal(err)
	}
	want := "precious\n.app.conf.vigo-XXXXXX\n.app.conf.vigo-tmp\napp.conf\nvictim\nregular file 600\n"
	if string(res.Stdout) != want {
		t.Fatalf("on %s:\n%s\nwant:\n%s", labWeb1, res.Stdout, want)
	}
}
