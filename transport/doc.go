// Package transport reaches hosts: one SSH connection per host per run
// (golang.org/x/crypto/ssh), verified against known_hosts, authenticated
// like OpenSSH (agent, identity files, ~/.ssh/config, ProxyJump), and
// reused for every command, file write and Docker engine API stream of
// that run. Hosts marked local get the same interface on the controller.
//
// Every write, chmod, chown, mkdir, rename and remove on a host goes
// through ResolveDir (safepath.go): no symlink or directory another user
// controls is ever followed as root, and owner and mode are set on the
// open file, never on a path.
//
// The transport never decides what to change on a host, never prints, and
// never splices an unquoted value into a remote shell command: every
// command line is built with Quote.
package transport
