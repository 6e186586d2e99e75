// Package hostcheck_test holds the compile-time proof that the transport's
// connection is what executors consume. It lives apart from transport's own
// tests so that they never depend on the executors package building.
package hostcheck_test

import (
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/transport"
)

var _ executors.Host = (*transport.Conn)(nil)
