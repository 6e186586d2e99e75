package transport

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// TestHostKeysParseReusedUntilFileChanges: the parse of known_hosts is
// kept for the next host of the run, and redone once the file changed
// (a key recorded by another run, an edit): a host added to the file is
// then trusted, a host whose line was removed no longer is.
func TestHostKeysParseReusedUntilFileChanges(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/known_hosts"
	a := newKey(t, dir, "a", "").Pub
	b := newKey(t, dir, "b", "").Pub
	lineA := knownhosts.Line([]string{"a.example.com"}, a) + "\n"
	if err := os.WriteFile(file, []byte(lineA), 0o600); err != nil {
		t.Fatal(err)
	}
	hk := &hostKeys{}
	kf := knownHostsFiles{user: []string{file}}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	check := func(host string, key ssh.PublicKey) error { return hk.check(kf, host+":22", remote, key) }

	first, err := hk.load(kf)
	if err != nil {
		t.Fatal(err)
	}
	again, err := hk.load(kf)
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Fatal("known_hosts parsed again although it did not change")
	}
	if err := check("b.example.com", b); err == nil {
		t.Fatal("b trusted before it is in known_hosts")
	}
	lineB := knownhosts.Line([]string{"b.example.com"}, b) + "\n"
	if err := os.WriteFile(file, []byte(lineA+lineB), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := check("b.example.com", b); err != nil {
		t.Fatalf("b not trusted after it was added: %v", err)
	}
	// Same size, other content: a's line replaced by b's under a's name.
	swapped := strings.Replace(lineA+lineB, "a.example.com", "c.example.com", 1)
	if err := os.WriteFile(file, []byte(swapped), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, timeAfter(t, file), timeAfter(t, file)); err != nil {
		t.Fatal(err)
	}
	if err := check("a.example.com", a); err == nil {
		t.Fatal("a still trusted after its line was removed")
	}
}

// timeAfter is a modification time later than file's, so that a rewrite
// of the same size within one clock tick still looks changed.
func timeAfter(t *testing.T, file string) time.Time {
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime().Add(time.Second)
}
