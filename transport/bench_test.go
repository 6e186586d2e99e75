package transport

import (
	"context"
	"io"
	"net/http"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Benchmarks give the figures behind "one handshake plus one round trip
// per host": run with go test -run '^$' -bench . ./transport/

type benchHost struct {
	name   string
	opts   PoolOptions
	target Target
}

func benchHosts(b *testing.B, needDocker bool) []benchHost {
	var hs []benchHost
	if !needDocker {
		env := newEnv(b)
		s := startSSHD(b, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
		env.trust(b, s)
		hs = append(hs, benchHost{"loopback", env.options(), env.target(s)})
	} else {
		env := newEnv(b)
		s := startSSHD(b, sshdOptions{authorized: []ssh.PublicKey{env.Client.Pub}})
		env.trust(b, s)
		o := env.options()
		o.DockerSocket = fakeEngineB(b)
		hs = append(hs, benchHost{"loopback-fake-engine", o, env.target(s)})
	}
	if l := benchLab(b); l != nil {
		o := l.options(b)
		hs = append(hs, benchHost{"lab-web1", o, Target{Name: labWeb1}})
	}
	return hs
}

// benchLab is the lab when it is up with web1, else nil (benchmarks still
// run on loopback).
func benchLab(b *testing.B) *lab {
	var l *lab
	// labtest skips the probe when the lab is down; the caller goes on.
	b.Run("lab-probe", func(b *testing.B) {
		l = requireLab(b, labWeb1)
		b.SkipNow()
	})
	return l
}

// BenchmarkConnectHandshakeExec: a fresh pool, one dial, one handshake,
// one `true`: the floor of a no-op push to one host.
func BenchmarkConnectHandshakeExec(b *testing.B) {
	for _, h := range benchHosts(b, false) {
		b.Run(h.name, func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				p, err := NewPool(h.opts)
				if err != nil {
					b.Fatal(err)
				}
				c, err := p.Get(ctx, h.target)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
					b.Fatal(err)
				}
				p.Close()
			}
		})
	}
}

// BenchmarkExecRoundTrip: one command on an open connection.
func BenchmarkExecRoundTrip(b *testing.B) {
	for _, h := range benchHosts(b, false) {
		b.Run(h.name, func(b *testing.B) {
			ctx := context.Background()
			p, _ := NewPool(h.opts)
			defer p.Close()
			c, err := p.Get(ctx, h.target)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Exec(ctx, Cmd{Argv: []string{"true"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDialDockerContainersJSON: GET /containers/json over a new
// Docker stream on an open connection (no remote process).
func BenchmarkDialDockerContainersJSON(b *testing.B) {
	for _, h := range benchHosts(b, true) {
		b.Run(h.name, func(b *testing.B) {
			ctx := context.Background()
			p, _ := NewPool(h.opts)
			defer p.Close()
			c, err := p.Get(ctx, h.target)
			if err != nil {
				b.Fatal(err)
			}
			hc := dockerHTTP(c)
			hc.Transport.(*http.Transport).DisableKeepAlives = true // a new stream each time
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := hc.Get("http://docker/containers/json")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
