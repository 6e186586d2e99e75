package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	return fmt.Sprintf("host key of %s CHANGED: known_hosts has %s, host offered %s %s: "+
		"refusing to connect (someone may be intercepting the connection; "+
		"if the change is expected, remove the old key with `ssh-keygen -R %s`)",
		e.Host, strings.Join(e.Want, ", "), e.KeyType, e.Got, Quote(knownhosts.Normalize(e.Host)))
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *HostKeyError) Is(target error) bool { return target == ErrUnreachable }

// hostKeys checks and records host keys against known_hosts files. It is
// shared by a pool so that a key accepted for one connection is known to
// the next.
type hostKeys struct {
	mu        sync.Mutex
	acceptNew bool
}

// callback returns the host key callback for one endpoint: files are the
// known_hosts files consulted, record is where an accepted key is written.
func (h *hostKeys) callback(files []string, record string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		// Re-read: another connection may have recorded this host.
		db, err := h.load(files)
		if err != nil {
			return err
		}
		err = db.HostKeyCallback()(hostname, remote, key)
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
		hke := &HostKeyError{Host: hostname, Got: ssh.FingerprintSHA256(key), KeyType: key.Type(), KnownHosts: files}
		for _, w := range ke.Want {
			hke.Want = append(hke.Want, fmt.Sprintf("%s %s (%s:%d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
		}
		if hke.Unknown() && h.acceptNew {
			if err := appendKnownHost(record, hostname, key); err != nil {
				return fmt.Errorf("recording host key of %s: %w", hostname, err)
			}
			return nil
		}
		return hke
	}
}

// algorithms returns the host key algorithms on record for hostport, so
// that a host known by its ecdsa key is not reported as changed when it
// would rather offer ed25519.
func (h *hostKeys) algorithms(files []string, hostport string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	db, err := h.load(files)
	if err != nil {
		return nil
	}
	return db.HostKeyAlgorithms(hostport)
}

// load parses the files that exist.
func (h *hostKeys) load(files []string) (*knownhosts.HostKeyDB, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	db, err := knownhosts.NewDB(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return db, nil
}

// appendKnownHost records key for hostport the way OpenSSH's accept-new
// does: "host" for port 22, "[host]:port" otherwise.
func appendKnownHost(file, hostport string, key ssh.PublicKey) error {
	if file == "" {
		return fmt.Errorf("no known_hosts file to record into")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// A file that does not end in a newline would glue our line to its last.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(file); err == nil {
			if _, err := r.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
				f.Write([]byte("\n"))
			}
			r.Close()
		}
	}
	_, err = f.WriteString(knownhosts.Line([]string{hostport}, key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
