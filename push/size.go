package push

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Size is a host count given as "N" or "N%" on the command line
// (--batch-size, --max-fail). The zero Size means "not set".
type Size struct {
	N       int
	Percent bool
}

// ParseSize reads "N" or "N%". N must be positive for a percentage and
// non-negative otherwise.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Size{}, nil
	}
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || n < 0 || (pct && (n == 0 || n > 100)) {
		return Size{}, fmt.Errorf("invalid size %q: want a count like 2 or a percentage like 25%%", s)
	}
	return Size{N: n, Percent: pct}, nil
}

func (s Size) String() string {
	if s.Percent {
		return strconv.Itoa(s.N) + "%"
	}
	return strconv.Itoa(s.N)
}

// IsZero reports whether the size was not given.
func (s Size) IsZero() bool { return s == Size{} }

// BatchLen is the number of hosts per batch out of total: a percentage
// rounds up, and a batch has at least one host. The zero Size means one
// batch of every host.
func (s Size) BatchLen(total int) int {
	if total <= 0 {
		return 0
	}
	n := s.N
	if s.IsZero() {
		n = total
	} else if s.Percent {
		n = (total*s.N + 99) / 100
	}
	return min(max(n, 1), total)
}

// Allowed is the number of failed hosts tolerated out of total: a
// percentage rounds down (10% of 6 hosts tolerates none).
func (s Size) Allowed(total int) int {
	if s.Percent {
		return total * s.N / 100
	}
	return s.N
}

// Batches splits hosts, in order, into consecutive batches of size.
func Batches(hosts []string, size Size) [][]string {
	n := size.BatchLen(len(hosts))
	var out [][]string
	for i := 0; i < len(hosts); i += n {
		out = append(out, hosts[i:min(i+n, len(hosts))])
	}
	return out
}

// ParseShard reads "I/N" (1 <= I <= N).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("invalid shard %q: want I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return i, n, nil
}

// Shard returns the hosts of shard i of n (1-based). Hosts are dealt
// round-robin in name order, so every host lands in exactly one shard,
// shards differ in size by at most one, and the split depends only on the
// set of names (not on their order); the returned hosts keep the order
// they had in hosts.
func Shard(hosts []string, i, n int) []string {
	sorted := append([]string(nil), hosts...)
	sort.Strings(sorted)
	mine := map[string]bool{}
	for k, h := range sorted {
		if k%n == i-1 {
			mine[h] = true
		}
	}
	var out []string
	for _, h := range hosts {
		if mine[h] {
			out = append(out, h)
		}
	}
	return out
}
