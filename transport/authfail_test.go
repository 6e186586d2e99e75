package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// stallingServer is an in-process SSH server whose key exchange succeeds
// and whose public key check then does what onKey says: the connection is
// lost while vigo authenticates. It counts the connections it accepted.
func stallingServer(t *testing.T, env *testEnv, onKey func(c net.Conn)) (port int, accepted *atomic.Int64) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	port = l.Addr().(*net.TCPAddr).Port
	line := fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(signer.PublicKey()))
	if err := os.WriteFile(env.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	go acceptCounting(l, accepted, func(c net.Conn) {
		defer c.Close()
		cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			onKey(c)
			return nil, errors.New("not reached")
		}}
		cfg.AddHostKey(signer)
		if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
			sc.Close()
		}
	})
	return port, accepted
}

// TestConnectionLostDuringAuthIsNotAnAuthFailure: a connection that times
// out or drops while vigo authenticates (a loaded host, a fleet of
// thousands on a busy controller) is a transient failure, retried, and
// reported as what it is, not as the host refusing vigo's key (which is
// never retried). x/crypto reports such a failure to the auth callback as
// a refused method.
func TestConnectionLostDuringAuthIsNotAnAuthFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		onKey func(c net.Conn, stop <-chan struct{})
		want  string
	}{
		{"timeout", func(c net.Conn, stop <-chan struct{}) {
			select {
			case <-stop:
			case <-time.After(5 * time.Second):
			}
		}, "timed out"},
		{"dropped", func(c net.Conn, _ <-chan struct{}) { c.Close() }, "connection lost during authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			stop := make(chan struct{})
			defer close(stop)
			port, accepted := stallingServer(t, env, func(c net.Conn) { tc.onKey(c, stop) })
			o := env.options()
			o.ConnectTimeout, o.DialAttempts = 500*time.Millisecond, 2
			p := env.pool(t, o)
			_, err := p.Get(context.Background(), Target{Name: "h", Address: "127.0.0.1", Port: port, User: "root", IdentityFile: env.Client.Path})
			var ae *AuthError
			if err == nil || errors.As(err, &ae) || !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an unreachable host (%s), not an auth failure: %v", tc.want, err)
			}
			if n := accepted.Load(); n != 2 {
				t.Errorf("%d connections, want 2 (transient: retried)", n)
			}
		})
	}
}
