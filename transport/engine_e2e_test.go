package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/transport"
)

// engineSocket is a Docker engine socket served by the test that
// misbehaves: "hang" accepts and never answers, "endless" answers a
// container list that never ends. sent counts the bytes written.
func engineSocket(t *testing.T, mode string, sent *atomic.Int64) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				if mode == "hang" {
					_, _ = io.Copy(io.Discard, c)
					return
				}
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				n, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
				sent.Add(int64(n))
				item := strings.Repeat(`{"Id":"0123456789abcdef","Names":["/x"]},`, 100)
				for err == nil {
					n, err = io.WriteString(c, item)
					sent.Add(int64(n))
				}
			}()
		}
	}()
	return sock
}

// Through a real sshd (the engine socket reached by a
// direct-streamlocal channel), a hung engine fails the observe within
// the request bound and an endless answer is cut at the body limit.
func TestEngineThroughSSHDIsBounded(t *testing.T) {
	t.Run("hang", func(t *testing.T) {
		sock := engineSocket(t, "hang", nil)
		c := transport.UpBoundedForTest(t, transport.Bounds{Request: 500 * time.Millisecond}, sock)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := executors.Observe(ctx, c, executors.Needs{List: true})
		var te *transport.TimeoutError
		if !errors.As(err, &te) || ctx.Err() != nil {
			t.Fatalf("err = %v, want the request bound's TimeoutError", err)
		}
		if !strings.Contains(err.Error(), "docker api GET /containers/json") || !strings.Contains(err.Error(), "time limit 500ms exceeded") {
			t.Errorf("error %q does not name the call and the limit", err)
		}
	})
	t.Run("endless", func(t *testing.T) {
		var sent atomic.Int64
		sock := engineSocket(t, "endless", &sent)
		const limit = 1 << 20
		c := transport.UpBoundedForTest(t, transport.Bounds{MaxBody: limit, Request: time.Hour}, sock)
		_, err := executors.Observe(context.Background(), c, executors.Needs{List: true})
		var se *transport.SizeError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "docker api response larger than 1 MiB") {
			t.Fatalf("err = %v, want the body limit's SizeError", err)
		}
		// The engine could send the limit plus what the SSH channel
		// window and the socket buffers hold, no more.
		if n := sent.Load(); n > 8*limit {
			t.Errorf("engine sent %d bytes for a %d-byte limit", n, limit)
		}
	})
}
