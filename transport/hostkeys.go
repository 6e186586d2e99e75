package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is returned when a host's key is not trusted. Want is empty
// when the host is unknown; otherwise the host is known with other keys
// (the key changed) and the connection is always refused.
type HostKeyError struct {
	Host       string   // host:port as checked in known_hosts
	Want       []string // fingerprints on record (SHA256:...), with file:line
	Got        string   // fingerprint the host offered
	KeyType    string   // type of the offered key
	KnownHosts []string // files consulted

	wantFiles []string // files holding the keys on record, for the hint
}

// Unknown reports whether the host has no key on record at all.
func (e *HostKeyError) Unknown() bool { return len(e.Want) == 0 }

func (e *HostKeyError) Error() string {
	if e.Unknown() {
		host, port, _ := net.SplitHostPort(e.Host)
		scan := "ssh-keyscan "
		if port != "" && port != "22" {
			scan += "-p " + port + " "
		}
		scan += Quote(host)
		return fmt.Sprintf("host key of %s is unknown (%s %s): refusing to connect; "+
			"if that fingerprint is right, accept it with --accept-new-host-keys "+
			"or record it with `%s >> ~/.ssh/known_hosts`", e.Host, e.KeyType, e.Got, scan)
	}
	rm := "ssh-keygen -R " + Quote(knownhosts.Normalize(e.Host))
	hint := "`" + rm + "`"
	if len(e.wantFiles) > 0 {
		var cmds []string
		for _, f := range e.wantFiles {
			cmds = append(cmds, "`"+rm+" -f "+Quote(f)+"`")
		}
		hint = strings.Join(cmds, " and ")
	}
	return fmt.Sprintf("host key of %s CHANGED: known_hosts has %s, host offered %s %s: "+
		"refusing to connect (someone may be intercepting the connection; "+
		"if the change is expected, remove the old key with %s)",
		e.Host, strings.Join(e.Want, ", "), e.KeyType, e.Got, hint)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *HostKeyError) Is(target error) bool { return target == ErrUnreachable }

// knownHostsFiles are the known_hosts files of one endpoint.
type knownHostsFiles struct {
	user   []string // consulted; an unreadable one is an error
	global []string // system-wide, read-only: missing or unreadable ones are skipped
	record string   // where --accept-new-host-keys writes (one of user)
}

func (k knownHostsFiles) all() []string { return append(append([]string(nil), k.user...), k.global...) }

// hostKeys checks and records host keys against known_hosts files. It is
// shared by a pool so that a key accepted for one connection is known to
// the next; other processes are kept out by a lock on the file recorded
// into.
type hostKeys struct {
	mu        sync.Mutex
	acceptNew bool
	// parsed keeps the last parse of each set of files with what the
	// files looked like then: a fleet's known_hosts holds a line per host,
	// and parsing it again for every host of a run made connecting
	// quadratic in the fleet's size. Reparsed when any file changed.
	parsed map[string]parsedDB
}

// parsedDB is a parse of known_hosts files and their signature
// (identity, size, modification time) when they were read.
type parsedDB struct {
	sig string
	db  *knownHostsDB
}

// callback returns the host key callback for one endpoint.
func (h *hostKeys) callback(kf knownHostsFiles) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		// Re-read: another connection may have recorded this host.
		err := h.check(kf, hostname, remote, key)
		var hke *HostKeyError
		if !errors.As(err, &hke) || !hke.Unknown() || !h.acceptNew {
			return err
		}
		// Recorded only if still unknown once the file is locked: another
		// vigo may have recorded it (or a changed key) meanwhile.
		recheck := func() error { return h.check(kf, hostname, remote, key) }
		if err := appendKnownHost(kf.record, hostname, key, recheck); err != nil {
			if errors.As(err, &hke) {
				return err
			}
			return fmt.Errorf("recording host key of %s: %w", hostname, err)
		}
		return nil
	}
}

// check verifies key against the files as they are now: nil when trusted,
// a *HostKeyError when unknown or changed.
func (h *hostKeys) check(kf knownHostsFiles, hostname string, remote net.Addr, key ssh.PublicKey) error {
	db, err := h.load(kf)
	if err != nil {
		return err
	}
	err = db.callback()(hostname, remote, key)
	if err == nil {
		return nil
	}
	var ke *xknownhosts.KeyError
	if !errors.As(err, &ke) {
		var re *xknownhosts.RevokedError
		if errors.As(err, &re) {
			return unreachable(fmt.Errorf("host key of %s is revoked (%s:%d)", hostname, re.Revoked.Filename, re.Revoked.Line))
		}
		return fmt.Errorf("host key of %s: %w", hostname, err)
	}
	hke := &HostKeyError{Host: hostname, Got: ssh.FingerprintSHA256(key), KeyType: key.Type(), KnownHosts: kf.all()}
	for _, w := range ke.Want {
		hke.Want = append(hke.Want, fmt.Sprintf("%s %s (%s:%d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
		if !slices.Contains(hke.wantFiles, w.Filename) {
			hke.wantFiles = append(hke.wantFiles, w.Filename)
		}
	}
	return hke
}

// algorithms returns the host key algorithms on record for hostport, so
// that a host known by its ecdsa key is not reported as changed when it
// would rather offer ed25519.
func (h *hostKeys) algorithms(kf knownHostsFiles, hostport string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	db, err := h.load(kf)
	if err != nil {
		return nil
	}
	return db.algorithms(hostport)
}

// load parses the files that exist (and, for system-wide files, that can
// be read: OpenSSH skips those too), or returns the last parse of the
// same files when none of them changed since.
func (h *hostKeys) load(kf knownHostsFiles) (*knownHostsDB, error) {
	var existing []string
	var sig strings.Builder
	add := func(f string, fi os.FileInfo) {
		existing = append(existing, f)
		fmt.Fprintf(&sig, "%s\x00%d\x00%d", f, fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&sig, "\x00%d\x00%d", st.Dev, st.Ino)
		}
		sig.WriteByte('\n')
	}
	for _, f := range kf.user {
		if fi, err := os.Stat(f); err == nil {
			add(f, fi)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	for _, f := range kf.global {
		if r, err := os.Open(f); err == nil {
			fi, err := r.Stat()
			r.Close()
			if err == nil {
				add(f, fi)
			}
		}
	}
	key := strings.Join(existing, "\x00")
	if p, ok := h.parsed[key]; ok && p.sig == sig.String() {
		return p.db, nil
	}
	db, err := loadKnownHosts(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	if h.parsed == nil {
		h.parsed = map[string]parsedDB{}
	}
	h.parsed[key] = parsedDB{sig: sig.String(), db: db}
	return db, nil
}

// appendKnownHost records key for hostport the way OpenSSH's accept-new
// does ("host" for port 22, "[host]:port" otherwise), safely against
// other processes doing the same: the file is locked (flock), recheck
// runs under the lock (nil: already recorded, nothing to write; an
// unknown-host *HostKeyError: write; any other error is returned), and
// the line goes in one append, after a newline if the file lacks one.
func appendKnownHost(file, hostport string, key ssh.PublicKey, recheck func() error) (err error) {
	if file == "" {
		return fmt.Errorf("no known_hosts file to record into")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := lockFile(f, lockWait); err != nil {
		return fmt.Errorf("lock %s: %w", file, err)
	}
	defer flock(f, syscall.LOCK_UN)
	if recheck != nil {
		err := recheck()
		var hke *HostKeyError
		switch {
		case err == nil:
			return nil // recorded by someone else meanwhile
		case !errors.As(err, &hke) || !hke.Unknown():
			return err
		}
	}
	line := knownhosts.Line([]string{hostport}, key) + "\n"
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > 0 {
		// A file that does not end in a newline would glue our line to
		// its last one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	_, err = f.Write([]byte(line))
	return err
}

// lockWait bounds the wait for another process's lock on known_hosts
// (vigo holds it for one read and one write).
const lockWait = 10 * time.Second

// lockFile takes an exclusive flock on f, giving up after wait.
func lockFile(f *os.File, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EWOULDBLOCK {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still locked by another process after %s", wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
