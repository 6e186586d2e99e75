package transport

import (
	"testing"
	"time"
)

// A write's time limit grows with what it carries, so a large file over a
// slow link is not cut at the per-request bound, and never passes the bound
// of long commands.
func TestUploadTimeout(t *testing.T) {
	c := &Conn{} // no pool: default bounds (60s per request, 15m long)
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, DefaultRequestTimeout},
		{4 << 10, DefaultRequestTimeout},
		{100 << 20, DefaultRequestTimeout + 100*time.Second},
		{2 << 30, DefaultLongTimeout},
	} {
		if got := c.uploadTimeout(tc.n); got != tc.want {
			t.Errorf("uploadTimeout(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
