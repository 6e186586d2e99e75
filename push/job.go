package push

import (
	"context"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
)

// A connection is typed by the job that consumes it: the engine itself
// only runs commands on it (the lock, the health check), which is what
// lock.Runner declares, so C may be any connection that can; a job that
// needs more (the converge: files and the Docker API) says so in C, and
// its Connector returns that type. No job asserts a connection's type.

// Connector opens, or reuses, the connection to one host. An error that
// wraps transport.ErrUnreachable marks the host unreachable rather than
// failed.
type Connector[C lock.Runner] interface {
	Connect(ctx context.Context, host string) (C, error)
}

// Releaser is a connection that can be given back: the engine calls
// Release once it is done with the host (its lock released), and uses the
// connection no more.
type Releaser interface {
	Release()
}

// ConnectorFunc adapts a function to a Connector.
type ConnectorFunc[C lock.Runner] func(ctx context.Context, host string) (C, error)

func (f ConnectorFunc[C]) Connect(ctx context.Context, host string) (C, error) { return f(ctx, host) }

// Outcome counts what a job did on one host, resource by resource (a task
// command counts as one ran step, or one ok or changed step when the
// operator said how to tell).
type Outcome struct {
	OK, Changed, Failed, Skipped int
	Ran                          int // steps that ran without telling whether they changed anything
	// Phases: how long the job's own phases took (converge: observe,
	// plan, gate, apply), copied into the HostFinished event.
	Phases map[string]time.Duration
}

// Gate is handed to every job: it takes the host's lock, waits until it
// is held (or failed), and says whether observations that started at
// observed must be made again (another run held the lock since). Without
// a lock (dry run, no Locker) it returns at once.
type Gate func(ctx context.Context, observed time.Time) (replan bool, err error)

// Host is one host as a job sees it: its name, its batch, its
// connection, the sink for its events (they are tagged with host and
// batch) and its gate. A job only reads until it calls Gate, which it
// must do before its first change. A job that finds nothing to change
// need not call it: the host is then never locked, so a read-only run
// costs the host no lock session, and neither waits for another run's
// lock nor holds it up (what it read may be a moment of another run's
// work, as any read of a host another run changes).
type Host[C lock.Runner] struct {
	Name  string
	Batch int
	Conn  C
	Sink  event.Sink
	Gate  Gate
}

// JobFunc does a job's work on one connected host. An error fails the
// host.
type JobFunc[C lock.Runner] func(ctx context.Context, h Host[C]) (Outcome, error)

// Job is the work done on each host, over connections of type C.
type Job[C lock.Runner] struct {
	// Prepare runs before the host is touched (before connecting): the
	// push resolves the host's secrets here, so a missing secret fails the
	// host before anything changes on it. Optional.
	Prepare func(ctx context.Context, host string) error
	// Run does the work, gated (see Host).
	Run JobFunc[C]
	// Rollback, when set and Options.RollbackOnFailure asks, runs on a
	// host whose health check failed after Run changed it, still under
	// the host's lock (its gate returns at once): it puts back what the
	// host ran before (push: the containers this run recreated). Changed
	// 0 means there was nothing to put back.
	Rollback JobFunc[C]
}
