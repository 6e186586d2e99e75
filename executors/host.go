package executors

import (
	"context"
	"net"

	"github.com/vigo-sh/vigocli/transport"
)

// Host is what an executor needs from the host it works on. It is declared
// here, where it is used; *transport.Conn implements it, and tests use
// in-process fakes.
type Host interface {
	Name() string
	// Exec runs one command (argv quoted by the transport).
	Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error)
	// WriteFile writes data atomically (temp file + rename) and sets mode
	// and owner; changed is false when the remote sha256 already matched.
	WriteFile(ctx context.Context, path string, data []byte, opts transport.FileOptions) (changed bool, err error)
	RemoveFile(ctx context.Context, path string) error
	// DialDocker opens a stream to the host's Docker engine API socket
	// over the same connection.
	DialDocker(ctx context.Context) (net.Conn, error)
}

// The transport's connection is what executors consume, checked at compile time.
var _ Host = (*transport.Conn)(nil)
