package push

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSizesAndShards is the one table of the rollout's arithmetic, as
// docs/push.md states it: a --batch-size percentage rounds up and a batch
// has at least one host; a --max-fail percentage rounds down; --shard I/N
// deals the sorted names round robin.
func TestSizesAndShards(t *testing.T) {
	for _, tc := range []struct {
		flag    string // --batch-size or --max-fail value
		total   int
		batch   int // BatchLen as --batch-size
		allowed int // Allowed as --max-fail
		err     bool
	}{
		{"", 6, 6, 0, false},     // not given: one batch, no failure tolerated
		{"0", 6, 6, 0, false},    // 0 means all hosts / none tolerated
		{"2", 6, 2, 2, false},    //
		{"10", 6, 6, 10, false},  // more than there are hosts
		{"50%", 6, 3, 3, false},  //
		{"25%", 6, 2, 1, false},  // 1.5: batch rounds up, max-fail down
		{"25%", 4, 1, 1, false},  //
		{"25%", 5, 2, 1, false},  // 1.25
		{"10%", 6, 1, 0, false},  // 0.6: at least one host per batch; tolerates none
		{"1%", 6, 1, 0, false},   //
		{"34%", 6, 3, 2, false},  // 2.04
		{"100%", 6, 6, 6, false}, //
		{"25%", 0, 0, 0, false},  // no hosts
		{" 2 ", 6, 2, 2, false},  // spaces around
		{"x", 6, 0, 0, true},     //
		{"-1", 6, 0, 0, true},    //
		{"0%", 6, 0, 0, true},    // a percentage must be positive
		{"101%", 6, 0, 0, true},  //
		{"2.5", 6, 0, 0, true},   //
		{"%", 6, 0, 0, true},     //
		{"25%%", 6, 0, 0, true},  //
		{"1e2", 6, 0, 0, true},   //
		{"two", 6, 0, 0, true},   //
		{"-10%", 6, 0, 0, true},  //
		{"150%", 10, 0, 0, true}, //
		{"0x10", 10, 0, 0, true}, //
		{"12h", 10, 0, 0, true},  //
		{"25 %", 10, 0, 0, true}, //
		{"9999999", 3, 3, 9999999, false},
	} {
		s, err := ParseSize(tc.flag)
		if (err != nil) != tc.err {
			t.Errorf("ParseSize(%q): error %v, want error %v", tc.flag, err, tc.err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", strings.TrimSpace(tc.flag))) {
				t.Errorf("ParseSize(%q): error %q does not quote the value", tc.flag, err)
			}
			continue
		}
		if got := s.BatchLen(tc.total); got != tc.batch {
			t.Errorf("--batch-size %q of %d hosts: batches of %d, want %d", tc.flag, tc.total, got, tc.batch)
		}
		if got := s.Allowed(tc.total); got != tc.allowed {
			t.Errorf("--max-fail %q of %d hosts: tolerates %d, want %d", tc.flag, tc.total, got, tc.allowed)
		}
		// Batches cut the hosts in order into batches of BatchLen.
		hosts := hostNames(tc.total)
		var flat []string
		for i, b := range Batches(hosts, s) {
			if len(b) == 0 || len(b) > tc.batch || (len(b) < tc.batch && i != len(Batches(hosts, s))-1) {
				t.Errorf("--batch-size %q of %d hosts: batch %d has %d hosts", tc.flag, tc.total, i+1, len(b))
			}
			flat = append(flat, b...)
		}
		if len(hosts) > 0 && !reflect.DeepEqual(flat, hosts) {
			t.Errorf("--batch-size %q: batches %v lose or reorder hosts", tc.flag, flat)
		}
	}

	// Shards: five names in a scrambled order; sorted they are a b c d e.
	hs := []string{"e", "c", "a", "d", "b"}
	for _, tc := range []struct {
		flag string
		want string // the hosts of the shard, in their given order
		err  bool
	}{
		{"1/1", "[e c a d b]", false},
		{"1/2", "[e c a]", false}, // sorted a c e
		{"2/2", "[d b]", false},   // sorted b d
		{"3/7", "[c]", false},
		{"6/7", "[]", false}, // more shards than hosts: empty (the CLI refuses it)
		{"0/4", "", true},
		{"5/4", "", true},
		{"1/0", "", true},
		{"x", "", true},
		{"1", "", true},
		{"a/b", "", true},
	} {
		i, n, err := ParseShard(tc.flag)
		if (err != nil) != tc.err {
			t.Errorf("ParseShard(%q): error %v, want error %v", tc.flag, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got := fmt.Sprint(Shard(hs, i, n)); got != tc.want {
			t.Errorf("--shard %s of %v = %s, want %s", tc.flag, hs, got, tc.want)
		}
	}
	// Every host in exactly one shard, sizes differ by at most one, and
	// the split only depends on the set of names.
	var many, reversed []string
	for i := 0; i < 23; i++ {
		many = append(many, fmt.Sprintf("web%02d.example.com", (i*7)%23))
	}
	for i := len(many) - 1; i >= 0; i-- {
		reversed = append(reversed, many[i])
	}
	seen := map[string]int{}
	for i := 1; i <= 4; i++ {
		part := Shard(many, i, 4)
		if n := len(part); n < 5 || n > 6 {
			t.Errorf("shard %d/4 of 23 has %d hosts, want 5 or 6", i, n)
		}
		again := Shard(reversed, i, 4)
		if !slices.Equal(slices.Sorted(slices.Values(part)), slices.Sorted(slices.Values(again))) {
			t.Errorf("shard %d/4 depends on input order: %v vs %v", i, part, again)
		}
		for _, h := range part {
			seen[h]++
		}
	}
	for _, h := range many {
		if seen[h] != 1 {
			t.Errorf("host %s is in %d shards, want 1", h, seen[h])
		}
	}
}
