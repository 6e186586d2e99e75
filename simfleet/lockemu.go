package simfleet

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the only one that knows vigo's lock protocol. The lock is
// taken by a long-lived remote shell script (the hold script) that prints
// "acquired PATH ...", holds the lock while its stdin stays open (a line
// is a heartbeat) and lets it go when stdin ends; a status script prints
// "free PATH" or a probe of the held lock; a third script removes (or
// breaks) a lock whose token matches, exit 3 otherwise. The scripts are
// recognised by their shape and what they print, and the state lives in
// memory: the emulation answers like the scripts, it does not run them.
//
// Two generations are understood, told apart by the script's $0:
//   - "sh": push/lock.go, a mkdir lock at /var/lock/vigo.lock; the probe
//     is "held PATH", the host's time, the heartbeat's time, a session
//     line and the owner JSON.
//   - "vigo-lock": the lock package, an flock in /run/vigo; it prints
//     "acquired DIR REL WAITED"; the probe is "held DIR AGE" and the owner
//     JSON; the break script takes the TTL in centiseconds as $3 (exit 4:
//     not stale).

// lockState is one host's lock.
type lockState struct {
	mu    sync.Mutex
	held  bool
	path  string
	token string
	owner string // the owner JSON
	beat  time.Time
}

type lockScript int

const (
	notLock lockScript = iota
	holdLock
	statusLock
	removeLock
)

// lockProto is one generation of the protocol.
type lockProto struct {
	defaultPath string
	acquired    string // format of the hold script's first line, from the path
	ttlArg      bool   // the break script's $3 is the TTL in centiseconds
	probe       func(w io.Writer, s *lockState)
}

var (
	mkdirLock = lockProto{defaultPath: "/var/lock/vigo.lock", acquired: "acquired %s none\n",
		probe: func(w io.Writer, s *lockState) {
			fmt.Fprintf(w, "held %s\n%d\n%d\nsession \n%s\n", s.path, time.Now().Unix(), s.beat.Unix(), s.owner)
		}}
	flockLock = lockProto{defaultPath: "/run/vigo", acquired: "acquired %s none 0\n", ttlArg: true,
		probe: func(w io.Writer, s *lockState) {
			fmt.Fprintf(w, "held %s %d\n%s\n", s.path, time.Since(s.beat).Milliseconds()/10, s.owner)
		}}
)

// lockKind recognises the lock scripts: sh -c SCRIPT $0 PATH [TOKEN [ARG]].
func lockKind(argv []string) (lockScript, lockProto) {
	if len(argv) < 5 || argv[0] != "sh" || argv[1] != "-c" {
		return notLock, lockProto{}
	}
	script := argv[2]
	var p lockProto
	switch {
	case argv[3] == "sh" && strings.Contains(script, "rmlock()"):
		p = mkdirLock
	case argv[3] == "vigo-lock":
		p = flockLock
	default:
		return notLock, lockProto{}
	}
	switch {
	case strings.Contains(script, `echo "acquired $`):
		return holdLock, p
	case strings.Contains(script, `echo "free $`):
		return statusLock, p
	}
	return removeLock, p
}

// exec answers argv when it is a lock script (ok true), writing its
// output to ch and reading ch as the script's stdin.
func (s *lockState) exec(argv []string, ch io.ReadWriter) (code int, ok bool) {
	kind, p := lockKind(argv)
	if kind == notLock {
		return 0, false
	}
	path := argv[4]
	if path == "" {
		path = p.defaultPath
	}
	arg := func(i int) string {
		if i < len(argv) {
			return argv[i]
		}
		return ""
	}
	switch kind {
	case holdLock:
		return s.hold(p, path, arg(5), arg(6), ch), true
	case statusLock:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.held || s.path != path {
			fmt.Fprintf(ch, "free %s\n", path)
			return 0, true
		}
		p.probe(ch, s)
		return 0, true
	default:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.held || s.path != path {
			return 0, true
		}
		if s.token != arg(5) {
			return 3, true
		}
		if ttl, err := strconv.ParseInt(arg(6), 10, 64); err == nil && p.ttlArg &&
			time.Since(s.beat).Milliseconds()/10 <= ttl {
			return 4, true
		}
		s.held = false
		return 0, true
	}
}

// hold takes the lock, reports it, then holds it until stdin ends.
func (s *lockState) hold(p lockProto, path, token, owner string, ch io.ReadWriter) int {
	s.mu.Lock()
	if s.held {
		p.probe(ch, s)
		s.mu.Unlock()
		return 0
	}
	s.held, s.path, s.token, s.owner, s.beat = true, path, token, owner, time.Now()
	s.mu.Unlock()
	fmt.Fprintf(ch, p.acquired, path)
	sc := bufio.NewScanner(ch)
	for sc.Scan() {
		s.mu.Lock()
		if s.held && s.token == token {
			s.beat = time.Now()
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	if s.held && s.token == token {
		s.held = false
	}
	s.mu.Unlock()
	return 0
}
