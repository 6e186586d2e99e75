package push

import (
	"fmt"
	"reflect"
	"testing"
)

func TestBatchLen(t *testing.T) {
	for _, tc := range []struct {
		size  string
		total int
		want  int
	}{
		{"", 6, 6},
		{"2", 6, 2},
		{"10", 6, 6},
		{"50%", 6, 3},
		{"25%", 6, 2}, // 1.5 rounds up
		{"25%", 4, 1},
		{"25%", 5, 2}, // 1.25 rounds up
		{"1%", 6, 1},  // at least one host
		{"100%", 6, 6},
	} {
		s, err := ParseSize(tc.size)
		if err != nil {
			t.Fatalf("ParseSize(%q): %v", tc.size, err)
		}
		if got := s.BatchLen(tc.total); got != tc.want {
			t.Errorf("%q of %d hosts: batch of %d, want %d", tc.size, tc.total, got, tc.want)
		}
	}
}

func TestParseSizeRejects(t *testing.T) {
	for _, s := range []string{"x", "-1", "0%", "101%", "2.5", "%"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) accepted", s)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		size  string
		total int
		want  int
	}{{"", 6, 0}, {"1", 6, 1}, {"10%", 6, 0}, {"50%", 6, 3}, {"34%", 6, 2}} {
		s, _ := ParseSize(tc.size)
		if got := s.Allowed(tc.total); got != tc.want {
			t.Errorf("max-fail %q of %d: %d, want %d", tc.size, tc.total, got, tc.want)
		}
	}
}

func TestBatches(t *testing.T) {
	s, _ := ParseSize("25%")
	got := Batches(hostNames(6), s)
	want := [][]string{{"h1", "h2"}, {"h3", "h4"}, {"h5", "h6"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Batches = %v, want %v", got, want)
	}
	s, _ = ParseSize("4")
	if got := Batches(hostNames(6), s); len(got) != 2 || len(got[1]) != 2 {
		t.Errorf("Batches(4) = %v", got)
	}
}

func TestShard(t *testing.T) {
	var hosts []string
	for i := 0; i < 23; i++ {
		hosts = append(hosts, fmt.Sprintf("web%02d.example.com", (i*7)%23))
	}
	reversed := make([]string, len(hosts))
	for i, h := range hosts {
		reversed[len(hosts)-1-i] = h
	}
	seen := map[string]int{}
	for i := 1; i <= 4; i++ {
		part := Shard(hosts, i, 4)
		if n := len(part); n < 5 || n > 6 {
			t.Errorf("shard %d/4 has %d hosts, want 5 or 6", i, n)
		}
		again := Shard(reversed, i, 4)
		if !sameSet(part, again) {
			t.Errorf("shard %d/4 depends on input order: %v vs %v", i, part, again)
		}
		for _, h := range part {
			seen[h]++
		}
	}
	for _, h := range hosts {
		if seen[h] != 1 {
			t.Errorf("host %s is in %d shards, want 1", h, seen[h])
		}
	}
	for _, s := range []string{"0/3", "4/3", "1", "a/b", "1/0"} {
		if _, _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
	if i, n, err := ParseShard("2/4"); err != nil || i != 2 || n != 4 {
		t.Errorf("ParseShard(2/4) = %d, %d, %v", i, n, err)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}
