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

// This file is the only one that knows vigo's lock protocol (package
// lock): every lock script is `sh -c SCRIPT vigo-lock DIR TOKEN [ARG]`.
// The hold script prints "acquired DIR REL WAITED", holds the lock while
// its stdin stays open (a line is a heartbeat) and lets it go when stdin
// ends; the status script prints "free DIR" or the probe of the held lock
// ("held DIR AGE", then the owner JSON); the break script ends the holder
// whose token is $2 (exit 3: another holder) if its heartbeat is older
// than $3 centiseconds (exit 4: not stale). The scripts are recognised by
// their shape and what they print, and the state lives in memory: the
// emulation answers like the scripts, it does not run them. When the lock
// protocol changes, this file follows it.

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

// defaultLockDir is lock.DefaultDir, used when DIR is empty.
const defaultLockDir = "/run/vigo"

// lockKind recognises the lock scripts.
func lockKind(argv []string) lockScript {
	if len(argv) < 5 || argv[0] != "sh" || argv[1] != "-c" || argv[3] != "vigo-lock" {
		return notLock
	}
	switch script := argv[2]; {
	case strings.Contains(script, `echo "acquired $`):
		return holdLock
	case strings.Contains(script, `echo "free $`):
		return statusLock
	}
	return removeLock
}

// probe prints the held lock as the scripts' probe does. The caller
// holds s.mu.
func (s *lockState) probe(w io.Writer) {
	fmt.Fprintf(w, "held %s %d\n%s\n", s.path, time.Since(s.beat).Milliseconds()/10, s.owner)
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
		path = defaultLockDir
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
		if ttl, err := strconv.ParseInt(arg(6), 10, 64); err == nil &&
			time.Since(s.beat).Milliseconds()/10 <= ttl {
			return 4, true
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
	fmt.Fprintf(ch, "acquired %s none 0\n", path)
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
