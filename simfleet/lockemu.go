package simfleet

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// This file is the only one that knows vigo's lock protocol (push/lock.go):
// the lock is taken by a long-lived remote shell script (the hold script)
// that prints "acquired PATH AGE", holds the lock while its stdin stays
// open (a line is a heartbeat) and removes it when stdin ends; a status
// script prints "free PATH" or a probe of the held lock; a remove script
// removes the lock if its token matches (exit 3 otherwise). The scripts
// are recognised by what they print, and the state lives in memory: the
// emulation answers like the scripts, it does not run them. When the lock
// protocol changes, this file follows it.

// defaultLockPath is the lock of a root login (push.DefaultLockPath).
const defaultLockPath = "/var/lock/vigo.lock"

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

// kind recognises the lock scripts: sh -c SCRIPT sh PATH [TOKEN [OWNER]].
func lockKind(argv []string) lockScript {
	if len(argv) < 5 || argv[0] != "sh" || argv[1] != "-c" || argv[3] != "sh" || !strings.Contains(argv[2], "rmlock()") {
		return notLock
	}
	switch script := argv[2]; {
	case strings.Contains(script, `echo "acquired $l`):
		return holdLock
	case strings.Contains(script, `echo "free $l"`):
		return statusLock
	default:
		return removeLock
	}
}

// exec answers argv when it is a lock script (ok true), writing its
// output to ch and reading ch as the script's stdin.
func (s *lockState) exec(argv []string, ch io.ReadWriter) (code int, ok bool) {
	kind := lockKind(argv)
	if kind == notLock {
		return 0, false
	}
	path := argv[4]
	if path == "" {
		path = defaultLockPath
	}
	arg := func(i int) string {
		if i < len(argv) {
			return argv[i]
		}
		return ""
	}
	switch kind {
	case holdLock:
		return s.hold(path, arg(5), arg(6), ch), true
	case statusLock:
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.held || s.path != path {
			fmt.Fprintf(ch, "free %s\n", path)
			return 0, true
		}
		s.probe(ch)
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
		s.held = false
		return 0, true
	}
}

// hold takes the lock, reports it, then holds it until stdin ends.
func (s *lockState) hold(path, token, owner string, ch io.ReadWriter) int {
	s.mu.Lock()
	if s.held {
		s.probe(ch)
		s.mu.Unlock()
		return 0
	}
	s.held, s.path, s.token, s.owner, s.beat = true, path, token, owner, time.Now()
	s.mu.Unlock()
	fmt.Fprintf(ch, "acquired %s none\n", path)
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

// probe prints a held lock the way the scripts' probe does: held PATH,
// the host's time, the heartbeat's time, the session line, the owner.
// The caller holds s.mu.
func (s *lockState) probe(w io.Writer) {
	fmt.Fprintf(w, "held %s\n%d\n%d\nsession \n%s\n", s.path, time.Now().Unix(), s.beat.Unix(), s.owner)
}
