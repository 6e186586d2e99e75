package transport

import (
	"context"
	"fmt"
	"time"
)

// A host may lie, stall or flood: everything vigo waits for has a time
// limit and everything it reads from a host has a size limit. Bounds holds
// those limits; PoolOptions.Bounds sets them for a run, Conn.Bounds hands
// them to the executors (which speak the Docker API themselves).
type Bounds struct {
	// Request bounds one Docker engine API request (answer and body) and
	// one remote command that declares no limit of its own (default 60s).
	Request time.Duration
	// Long bounds the commands known to take long: docker pull, compose
	// up/pull/down (default 15m).
	Long time.Duration
	// MaxBody is the largest Docker engine API response body read
	// (default 64 MiB).
	MaxBody int64
	// MaxOutput is the most of one command's stdout, and of its stderr,
	// that is kept (default 16 MiB each); a command printing more fails.
	MaxOutput int64
}

// Default bounds.
const (
	DefaultRequestTimeout = 60 * time.Second
	DefaultLongTimeout    = 15 * time.Minute
	DefaultMaxBody        = 64 << 20
	DefaultMaxOutput      = 16 << 20
)

// WithDefaults fills the zero fields of b with the defaults.
func (b Bounds) WithDefaults() Bounds {
	if b.Request <= 0 {
		b.Request = DefaultRequestTimeout
	}
	if b.Long <= 0 {
		b.Long = DefaultLongTimeout
	}
	if b.MaxBody <= 0 {
		b.MaxBody = DefaultMaxBody
	}
	if b.MaxOutput <= 0 {
		b.MaxOutput = DefaultMaxOutput
	}
	return b
}

// TimeoutError says that an operation on a host ran out of its time
// limit. errors.Is(err, context.DeadlineExceeded) is true.
type TimeoutError struct {
	Op    string        // what was waited for, when the message does not say it already
	Limit time.Duration // the limit that ran out
	Flag  string        // the setting that controls it, e.g. "--request-timeout"
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("time limit %s exceeded", e.Limit)
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if e.Flag != "" {
		msg += " (" + e.Flag + ")"
	}
	return msg
}

func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// SizeError says that a host sent more than a size limit allows.
type SizeError struct {
	What  string // e.g. "docker api response", "stdout of docker compose config"
	Limit int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s larger than %s", e.What, FormatSize(e.Limit))
}

// FormatSize writes n bytes as KiB/MiB/GiB when it is a whole multiple.
func FormatSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// WithTimeout is context.WithTimeout whose expiry reads as a TimeoutError
// (through context.Cause) when ctx itself has not ended.
func WithTimeout(ctx context.Context, d time.Duration, op, flag string) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, &TimeoutError{Op: op, Limit: d, Flag: flag})
}

// limitedBuffer keeps what is written up to a limit; past it, Write fails
// with a SizeError and over is closed, once.
type limitedBuffer struct {
	buf   []byte
	limit int64
	what  string
	over  chan struct{}
	err   error
}

func newLimitedBuffer(limit int64, what string) *limitedBuffer {
	return &limitedBuffer{limit: limit, what: what, over: make(chan struct{})}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(b.buf))+int64(len(p)) > b.limit {
		b.err = &SizeError{What: b.what, Limit: b.limit}
		close(b.over)
		return 0, b.err
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte { return b.buf }
