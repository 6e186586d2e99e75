package desired_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
)

// BenchmarkBuild measures building the documentation's example for a
// fleet of 500 hosts (all offline work a push does before its first SSH
// connection).
func BenchmarkBuild(b *testing.B) {
	t := &testing.T{}
	files := exampleFiles(t)
	var inv strings.Builder
	inv.WriteString("hosts:\n")
	for i := range 500 {
		fmt.Fprintf(&inv, "  - name: web%d.app.example.com\n", i)
	}
	sp, in := setup(t, files, inv.String())
	b.ResetTimer()
	for b.Loop() {
		hosts, _, err := desired.Build(sp, in, desired.Options{})
		if err != nil || len(hosts) != 500 {
			b.Fatal(err, len(hosts))
		}
	}
}
