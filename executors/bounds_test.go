package executors

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

	"github.com/vigo-sh/vigocli/transport"
)

// hostileEngine is a Docker engine socket that misbehaves: it accepts
// and never answers, or answers a container list that never ends. It
// counts what it sent, so tests assert on bytes, never on time.
type hostileEngine struct {
	sock string
	sent atomic.Int64
}

func startHostileEngine(t *testing.T, mode string) *hostileEngine {
	t.Helper()
	e := &hostileEngine{sock: filepath.Join(t.TempDir(), "docker.sock")}
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go e.serve(c, mode, stop)
		}
	}()
	return e
}

func (e *hostileEngine) serve(c net.Conn, mode string, stop chan struct{}) {
	defer c.Close()
	go func() { <-stop; c.Close() }()
	switch mode {
	case "hang":
		_, _ = io.Copy(io.Discard, c) // read the request, answer nothing
	case "endless":
		buf := make([]byte, 4096)
		_, _ = c.Read(buf) // the request
		n, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
		e.sent.Add(int64(n))
		item := strings.Repeat(`{"Id":"0123456789abcdef","Names":["/x"],"Labels":{"a":"b"}},`, 64)
		for err == nil {
			n, err = io.WriteString(c, item)
			e.sent.Add(int64(n))
		}
	}
}

// boundedHost is a Host whose DialDocker reaches a unix socket and whose
// Bounds are the test's.
type boundedHost struct {
	Host // nil: only DialDocker, Name and Bounds are used
	sock string
	b    transport.Bounds
}

func (h *boundedHost) Name() string { return "hostile" }
func (h *boundedHost) Bounds() transport.Bounds {
	return h.b
}
func (h *boundedHost) DialDocker(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", h.sock)
}

func TestDockerAPIHungEngineFailsWithinRequestTimeout(t *testing.T) {
	e := startHostileEngine(t, "hang")
	h := &boundedHost{sock: e.sock, b: transport.Bounds{Request: 200 * time.Millisecond}.WithDefaults()}
	api := newDockerAPI(h)
	defer api.Close()
	// The test's own context is much longer: only the request bound can
	// end the call (without it the call never returns and the test times
	// out).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var list []ContainerSummary
	err := api.do(ctx, "GET", "/containers/json", nil, nil, &list)
	var te *transport.TimeoutError
	if !errors.As(err, &te) || te.Limit != 200*time.Millisecond {
		t.Fatalf("err = %v, want a TimeoutError of 200ms", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Errorf("err %v: want DeadlineExceeded from the request bound, not the caller's", err)
	}
	if strings.Contains(err.Error(), "hostile") {
		t.Errorf("error %q names the host (push adds it)", err)
	}
	for _, want := range []string{"docker api GET /containers/json", "time limit 200ms exceeded", "--request-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDockerAPIEndlessBodyCutAtLimit(t *testing.T) {
	e := startHostileEngine(t, "endless")
	const limit = 1 << 20
	h := &boundedHost{sock: e.sock, b: transport.Bounds{MaxBody: limit, Request: time.Hour}.WithDefaults()}
	api := newDockerAPI(h)
	defer api.Close()
	for _, out := range []any{&[]ContainerSummary{}, nil} {
		var err error
		var st *State
		if out == nil {
			// Through Observe, as a push lists containers.
			st, err = Observe(context.Background(), h, Needs{List: true})
			if st != nil && len(st.List) > 0 {
				t.Errorf("a cut list was used: %d containers", len(st.List))
			}
		} else {
			err = api.do(context.Background(), "GET", "/containers/json", nil, nil, out)
		}
		var se *transport.SizeError
		if !errors.As(err, &se) || se.Limit != limit {
			t.Fatalf("err = %v, want a SizeError of %d", err, limit)
		}
		if !strings.Contains(err.Error(), "docker api response larger than 1 MiB") {
			t.Errorf("error %q does not name the limit", err)
		}
	}
	// What the engine managed to send is the limit plus what the socket
	// and the client's buffers hold: the controller stopped reading.
	if sent := e.sent.Load(); sent > 4*limit {
		t.Errorf("engine sent %d bytes for a %d-byte limit: reading was not cut", sent, limit)
	}
}

func TestDockerAPIBodyAtLimitIsRead(t *testing.T) {
	r := &capReader{r: strings.NewReader("12345"), left: 5, limit: 5}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "12345" {
		t.Fatalf("body of exactly the limit: %q %v", b, err)
	}
	r = &capReader{r: strings.NewReader("123456"), left: 5, limit: 5}
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("body over the limit read without error")
	}
}

func TestLongCommand(t *testing.T) {
	for argv, want := range map[string]bool{
		"docker compose -f x.yml up -d":               true,
		"sh -c script vigo-env f docker compose pull": true,
		"docker-compose down":                         true,
		"docker compose config --format json":         false,
		"docker compose ps":                           false,
		"docker up":                                   false,
	} {
		if got := longCommand(strings.Fields(argv)); got != want {
			t.Errorf("longCommand(%s) = %v, want %v", argv, got, want)
		}
	}
}
