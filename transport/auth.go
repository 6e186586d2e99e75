package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring finds the signers for an endpoint: identity files and the agent,
// in OpenSSH's spirit. It caches parsed files and the agent connection for
// the life of a pool.
type keyring struct {
	agentSocket string
	home        string

	mu       sync.Mutex
	agent    agent.ExtendedAgent
	agentErr error
	agentOK  bool
	files    map[string]fileKey
}

type fileKey struct {
	signer    ssh.Signer
	pub       ssh.PublicKey // known even when the key is encrypted, if it can be read
	encrypted bool
	err       error
}

// authPlan is the outcome for one endpoint: signers in the order offered,
// and notes on files that could not be used (named in auth errors).
type authPlan struct {
	signers []ssh.Signer
	skipped []string
}

func (k *keyring) getAgent() agent.ExtendedAgent {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.agentOK || k.agentErr != nil || k.agentSocket == "" {
		return k.agent
	}
	c, err := net.Dial("unix", k.agentSocket)
	if err != nil {
		k.agentErr = err
		return nil
	}
	k.agent, k.agentOK = agent.NewClient(c), true
	return k.agent
}

func (k *keyring) agentError() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.agentErr
}

func (k *keyring) loadFile(path string) fileKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if fk, ok := k.files[path]; ok {
		return fk
	}
	fk := readKeyFile(path)
	if k.files == nil {
		k.files = map[string]fileKey{}
	}
	k.files[path] = fk
	return fk
}

func readKeyFile(path string) fileKey {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fileKey{err: err}
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err == nil {
		return fileKey{signer: signer, pub: signer.PublicKey()}
	}
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		fk := fileKey{encrypted: true, pub: pm.PublicKey}
		if fk.pub == nil {
			if b, err := os.ReadFile(path + ".pub"); err == nil {
				fk.pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
			}
		}
		return fk
	}
	return fileKey{err: fmt.Errorf("%s: %w", path, err)}
}

// plan decides which keys to offer to e.
func (k *keyring) plan(e endpoint) authPlan {
	var p authPlan
	var agentSigners []ssh.Signer
	if a := k.getAgent(); a != nil {
		var err error
		if agentSigners, err = a.Signers(); err != nil {
			p.skipped = append(p.skipped, fmt.Sprintf("ssh-agent: %v", err))
		}
	} else if err := k.agentError(); err != nil {
		p.skipped = append(p.skipped, fmt.Sprintf("ssh-agent at %s: %v", k.agentSocket, trimPathErr(err)))
	}
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		id := string(s.PublicKey().Marshal())
		if !seen[id] {
			seen[id] = true
			p.signers = append(p.signers, s)
		}
	}
	fromAgent := func(pub ssh.PublicKey) ssh.Signer {
		if pub == nil {
			return nil
		}
		for _, s := range agentSigners {
			if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
				return s
			}
		}
		return nil
	}

	files := e.IdentityFiles
	explicit := len(files) > 0
	if !explicit {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(k.home, ".ssh", n))
		}
	}
	useFile := func(f string) {
		fk := k.loadFile(f)
		switch {
		case fk.signer != nil:
			add(fk.signer)
		case fk.encrypted:
			if s := fromAgent(fk.pub); s != nil {
				add(s)
			} else {
				p.skipped = append(p.skipped, fmt.Sprintf("%s is passphrase-protected and not in ssh-agent (run `ssh-add %s`)", f, f))
			}
		case fk.err != nil && (explicit || !os.IsNotExist(fk.err)):
			p.skipped = append(p.skipped, fmt.Sprintf("identity file %s: %v", f, trimPathErr(fk.err)))
		}
	}
	if explicit {
		// Files named for this host come first: sshd's MaxAuthTries counts
		// every key offered.
		for _, f := range files {
			useFile(f)
		}
	}
	if !e.IdentitiesOnly {
		for _, s := range agentSigners {
			add(s)
		}
	}
	if !explicit {
		for _, f := range files {
			useFile(f)
		}
	}
	return p
}

func trimPathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// AuthError is an authentication failure: never retried, and it says
// which keys were offered and which could not be used.
type AuthError struct {
	Offered int      // keys offered
	Skipped []string // identity files that could not be used, and why
	Err     error
}

func (e *AuthError) Error() string {
	msg := "authentication failed"
	if e.Offered == 0 {
		msg += ": no usable key (no ssh-agent keys, no identity file)"
	} else {
		msg += fmt.Sprintf(" (offered %d key(s))", e.Offered)
	}
	if len(e.Skipped) > 0 {
		msg += "; " + strings.Join(e.Skipped, "; ")
	}
	return msg + ": " + e.Err.Error()
}

func (e *AuthError) Unwrap() error { return e.Err }

// next chooses the authentication method after each failed one (the
// first attempt, "none", is the ssh package's): publickey, once, when the
// server allows it; then the handshake ends with an *authExhausted, so
// that "the server accepted none of our methods" is known from a type we
// own, not from the ssh package's wording.
func (p authPlan) next(pk ssh.AuthMethod) ssh.ClientAuthCallback {
	return func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
		if slices.Contains(ac.AllowedMethods, "publickey") && !slices.Contains(ac.TriedMethods, "publickey") {
			return pk, nil
		}
		return nil, &authExhausted{Tried: slices.Clone(ac.TriedMethods), Allowed: slices.Clone(ac.AllowedMethods)}
	}
}

// authExhausted: every method the server allows that vigo has was tried
// and refused.
type authExhausted struct {
	Tried, Allowed []string
}

func (e *authExhausted) Error() string {
	return fmt.Sprintf("unable to authenticate: attempted methods %v, server allows %v", e.Tried, e.Allowed)
}

// authError explains an authentication failure.
func (p authPlan) authError(err error) error {
	return &AuthError{Offered: len(p.signers), Skipped: p.skipped, Err: err}
}
