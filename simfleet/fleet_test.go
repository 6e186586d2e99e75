package simfleet

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/shellquote"
	"github.com/vigo-sh/vigocli/transport"
)

// TestFleetSpeaksWhatVigoSpeaks: the real transport logs in to a
// simulated host verifying its key from the fleet's known_hosts, reaches
// the fake engine over the engine-socket stream, and vigo's real lock
// scripts see the emulated lock: taken, refused to a second run while
// held, free again once released.
func TestFleetSpeaksWhatVigoSpeaks(t *testing.T) {
	dir := t.TempDir()
	f, err := New(Options{Hosts: 2, Dir: dir, Base: netip.MustParseAddr("127.21.0.0"), Port: 22022,
		Images: []string{"redis:7-alpine"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		t.Skipf("cannot listen on loopback port 22022: %v", err)
	}
	defer stop()

	pool, err := transport.NewPool(transport.PoolOptions{SSHConfigPath: "none", AgentSocket: "none",
		GlobalKnownHostsFiles: []string{"none"}, KnownHostsFiles: []string{filepath.Join(dir, KnownHostsFile)}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	target := func(addr string) transport.Target {
		return transport.Target{Name: addr, Address: addr, Port: 22022, User: "root",
			IdentityFile: filepath.Join(dir, IdentityFile), KnownHostsFile: filepath.Join(dir, KnownHostsFile)}
	}
	c, err := pool.Get(ctx, target("127.21.0.1"))
	if err != nil {
		t.Fatalf("login: %v", err)
	}

	// The engine, through the transport's own stream.
	eng, err := c.DialDocker(ctx)
	if err != nil {
		t.Fatalf("engine stream: %v", err)
	}
	req, _ := http.NewRequest("GET", "http://docker/containers/json", nil)
	if err := req.Write(eng); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := eng.Read(buf)
	eng.Close()
	if got := string(buf[:n]); len(got) < 12 || got[:12] != "HTTP/1.1 200" {
		t.Fatalf("engine answered %q", got)
	}

	// The lock protocol, with vigo's real scripts.
	first := &lock.Locker{Owner: lock.NewOwner("push")}
	held, err := first.Acquire(ctx, c, nil, nil)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	second := &lock.Locker{Owner: lock.NewOwner("push")}
	if _, err := second.Acquire(ctx, c, nil, nil); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("second run took a held lock: %v", err)
	}
	st, err := second.Status(ctx, c)
	if err != nil || !st.Held || st.Owner.Token != first.Owner.Token {
		t.Fatalf("status while held: %+v, %v", st, err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if st, err := second.Status(ctx, c); err != nil || st.Held {
		t.Fatalf("status after release: %+v, %v", st, err)
	}

	// The other host has its own key: host 1's key on record for host 2
	// is refused (the fleet's known_hosts really is verified).
	kh, err := os.ReadFile(filepath.Join(dir, KnownHostsFile))
	if err != nil {
		t.Fatal(err)
	}
	first1, _, _ := strings.Cut(string(kh), "\n")
	swapped := filepath.Join(dir, "swapped")
	if err := os.WriteFile(swapped, []byte(strings.Replace(first1, "127.21.0.1", "127.21.0.2", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t2 := target("127.21.0.2")
	t2.KnownHostsFile = swapped
	pool2, err := transport.NewPool(transport.PoolOptions{SSHConfigPath: "none", AgentSocket: "none",
		GlobalKnownHostsFiles: []string{"none"}, KnownHostsFiles: []string{swapped}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	var hke *transport.HostKeyError
	if _, err := pool2.Get(ctx, t2); !errors.As(err, &hke) {
		t.Fatalf("host 2 with host 1's key on record: %v, want a host key error", err)
	}
}

// TestSplitWordsReadsShellquote: every argv the transport quotes comes
// back word for word.
func TestSplitWordsReadsShellquote(t *testing.T) {
	for _, argv := range [][]string{
		{"docker", "pull", "--quiet", "--", "redis:7-alpine"},
		{"sh", "-c", "it's $HOME; `x` \"q\"\n", "sh", "", "a b"},
		{"'", "''", "\\", "~x", "#"},
	} {
		got, err := splitWords(shellquote.Join(argv))
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		if len(got) != len(argv) {
			t.Fatalf("%q came back as %q", argv, got)
		}
		for i := range argv {
			if got[i] != argv[i] {
				t.Fatalf("%q came back as %q", argv, got)
			}
		}
	}
	if _, err := splitWords("a; b"); err == nil {
		t.Error("shell syntax accepted")
	}
}
