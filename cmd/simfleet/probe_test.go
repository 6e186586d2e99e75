package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/simfleet"
)

// TestProbeWarmTimesRoundTripsOnOpenConnections: probe -warm logs in to
// every host (verifying its key) and prints the time of one exec true on
// each; a host whose key is not on record fails it, as the cold probe.
func TestProbeWarmTimesRoundTripsOnOpenConnections(t *testing.T) {
	dir := t.TempDir()
	f, err := simfleet.New(simfleet.Options{Hosts: 2, Dir: dir, Base: netip.MustParseAddr("127.22.0.0"), Port: 22023})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		t.Skipf("cannot listen on loopback port 22023: %v", err)
	}
	defer stop()
	key, known := filepath.Join(dir, simfleet.IdentityFile), filepath.Join(dir, simfleet.KnownHostsFile)
	for _, mode := range [][]string{{"-warm"}, nil} {
		var out strings.Builder
		args := append(append([]string(nil), mode...), "-i", key, "-known-hosts", known, "127.22.0.1:22023", "127.22.0.2:22023")
		if err := probe(ctx, args, &out); err != nil {
			t.Fatalf("probe %v: %v", mode, err)
		}
		if s, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64); err != nil || s < 0 {
			t.Errorf("probe %v printed %q, want seconds", mode, out.String())
		}
	}
	// known_hosts with host 1's line only: host 2 is not on record.
	kh, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(kh), "\n")
	one := filepath.Join(dir, "one_host")
	if err := os.WriteFile(one, []byte(first+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = probe(ctx, []string{"-warm", "-i", key, "-known-hosts", one, "127.22.0.1:22023", "127.22.0.2:22023"}, &out)
	if err == nil || !strings.Contains(err.Error(), "127.22.0.2") || out.Len() != 0 {
		t.Errorf("probe -warm with a host not on record: %v, printed %q; want its error and nothing", err, out.String())
	}
}
