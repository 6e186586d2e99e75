package converge_test

import (
	"context"
	"testing"

	"github.com/vigo-sh/vigocli/converge"
)

// BenchmarkNoopConverge measures a no-op push of the documentation's stack
// (redis + app-stack: 2 images, 2 containers) on one lab host over an
// established SSH connection, and reports what it cost: SSH sessions
// (commands), Docker API streams and handshakes per push.
func BenchmarkNoopConverge(b *testing.B) {
	l := requireLab(b, web2)
	dh := l.desiredHost(b, web2, nil)
	l.push(b, dh, false) // converge once; every later push is a no-op
	conn := l.conns[web2]
	before := conn.Stats()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := converge.Run(ctx, conn, dh, converge.Options{Secrets: labSecrets, StockpileDir: l.dir})
		if err != nil || r.Changed != 0 {
			b.Fatalf("not a no-op: %v\n%s", err, r.Plan)
		}
	}
	b.StopTimer()
	after := conn.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(after.Sessions-before.Sessions)/n, "sessions/push")
	b.ReportMetric(float64(after.Streams-before.Streams)/n, "streams/push")
	b.ReportMetric(float64(after.Handshakes-before.Handshakes)/n, "handshakes/push")
	b.ReportMetric(float64(len(dh.Resources)), "resources")
}

// BenchmarkNoopConvergeWithHandshake adds the SSH handshake: one new connection per
// push, the floor being one handshake plus one round trip.
func BenchmarkNoopConvergeWithHandshake(b *testing.B) {
	l := requireLab(b, web2)
	dh := l.desiredHost(b, web2, nil)
	l.push(b, dh, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pool := newPool(b, l.lt)
		conn, err := pool.Get(ctx, l.target(web2))
		if err != nil {
			b.Fatal(err)
		}
		r, err := converge.Run(ctx, conn, dh, converge.Options{Secrets: labSecrets, StockpileDir: l.dir})
		if err != nil || r.Changed != 0 {
			b.Fatalf("not a no-op: %v\n%s", err, r.Plan)
		}
		pool.Close()
	}
}

// BenchmarkHandshakeOnly is the floor the push with a handshake is
// compared with: one SSH connection and nothing else.
func BenchmarkHandshakeOnly(b *testing.B) {
	l := requireLab(b, web2)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pool := newPool(b, l.lt)
		if _, err := pool.Get(ctx, l.target(web2)); err != nil {
			b.Fatal(err)
		}
		pool.Close()
	}
}
