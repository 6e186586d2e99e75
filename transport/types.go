package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Target says how to reach one host. It is filled from the inventory by
// the caller; anything left empty is taken from ~/.ssh/config, then from
// OpenSSH's defaults.
type Target struct {
	Name           string // inventory name, used in messages and as ssh_config Host
	Address        string // HostName; empty: ssh_config HostName, else Name
	Port           int    // 0: ssh_config Port, else 22
	User           string // empty: ssh_config User, else the local user
	IdentityFile   string // empty: ssh_config IdentityFile(s) and the agent
	KnownHostsFile string // extra known_hosts file, besides ~/.ssh/known_hosts
	DockerSocket   string // the host's Docker engine socket; empty: PoolOptions.DockerSocket
	ProxyJump      string // empty: ssh_config ProxyJump
	Become         bool   // run commands through sudo -n
	Local          bool   // connection: local, run on the controller itself
}

// Cmd is one remote command. Exactly one of Argv or Shell is set.
type Cmd struct {
	// Argv is quoted word by word with Quote: no value is ever interpreted
	// by the remote shell.
	Argv []string
	// Shell is an operator-written shell command (task run, health checks),
	// run as sh -c with the whole string quoted once.
	Shell  string
	Stdin  io.Reader
	Stdout io.Writer // optional: streamed; the result keeps a copy too
	Stderr io.Writer // optional: streamed; the result keeps a copy too
	// Timeout bounds the command: 0 means the pool's Bounds.Request
	// (60s by default), a negative value means none of its own (the
	// caller's context still bounds it: a health check's attempt timeout,
	// a task's --timeout, the host deadline).
	Timeout time.Duration
}

// ExecResult is what a finished command left.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
}

// ExitError is returned when a command ran and exited non-zero. Host is
// data (which connection ran it); the message leaves it out, like every
// error below push (event.HostError adds the host once).
type ExitError struct {
	Host     string
	Cmd      string // display form (quoted argv)
	ExitCode int
	Stderr   string // last lines of stderr
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// FileOptions says how a file is written.
type FileOptions struct {
	Mode  os.FileMode // 0: 0644
	Owner string      // name or uid; empty: leave as created
	Group string      // name or gid; empty: leave as created
	// DirMode is the mode of directories the write creates (0: 0755);
	// existing ones are left alone.
	DirMode os.FileMode
}

// ErrUnreachable marks errors that mean the host could not be reached
// (dial, handshake, host key, authentication), as opposed to a command
// that failed on a reachable host. Test with errors.Is.
var ErrUnreachable = errors.New("unreachable")
