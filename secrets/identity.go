package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// Environment variables that configure the secrets package.
const (
	// KeyEnv holds an age identity (AGE-SECRET-KEY-1...) itself.
	KeyEnv = "VIGO_AGE_KEY"
	// KeyFileEnv names a file holding age identities.
	KeyFileEnv = "VIGO_AGE_KEY_FILE"
	// BackendEnv selects and orders the backends (see NewBackend).
	BackendEnv = "VIGO_SECRETS_BACKEND"
)

// Env is the process environment the package reads; tests pass their own.
type Env struct {
	LookupEnv     func(string) (string, bool) // os.LookupEnv
	UserConfigDir func() (string, error)      // os.UserConfigDir
}

// OSEnv returns the real environment.
func OSEnv() Env {
	return Env{LookupEnv: os.LookupEnv, UserConfigDir: os.UserConfigDir}
}

func (e Env) get(name string) string {
	if e.LookupEnv == nil {
		return ""
	}
	v, _ := e.LookupEnv(name)
	return v
}

// DefaultKeyFile is where `secrets init` keeps the identity when neither
// VIGO_AGE_KEY nor VIGO_AGE_KEY_FILE is set: $XDG_CONFIG_HOME/vigo/age.key
// (os.UserConfigDir).
func (e Env) DefaultKeyFile() (string, error) {
	if e.UserConfigDir == nil {
		return "", errors.New("no user config directory")
	}
	dir, err := e.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("user config directory: %w", err)
	}
	return filepath.Join(dir, "vigo", "age.key"), nil
}

// KeyFile is the identity file that applies: VIGO_AGE_KEY_FILE when set,
// else the default file.
func (e Env) KeyFile() (string, error) {
	if f := e.get(KeyFileEnv); f != "" {
		return f, nil
	}
	return e.DefaultKeyFile()
}

// ErrNoIdentity is wrapped when no age identity is configured.
var ErrNoIdentity = errors.New("no age identity")

// Identity is the operator's age identity: the private keys that decrypt
// the store. It never prints them: String shows where the keys came from
// and their public keys.
type Identity struct {
	Source     string   // "VIGO_AGE_KEY", or the file's path
	Recipients []string // public keys (age1...), one per identity
	ids        []age.Identity
}

func (id *Identity) String() string {
	if id == nil {
		return "<no identity>"
	}
	return fmt.Sprintf("age identity from %s (public key %s)", id.Source, strings.Join(id.Recipients, ", "))
}

// LoadIdentity finds the identity: VIGO_AGE_KEY, then VIGO_AGE_KEY_FILE,
// then the default file. Errors never contain key material.
func (e Env) LoadIdentity() (*Identity, error) {
	if k := e.get(KeyEnv); k != "" {
		return parseIdentity(KeyEnv, k)
	}
	file, err := e.KeyFile()
	if err != nil {
		return nil, fmt.Errorf("%w: set %s or %s (%v)", ErrNoIdentity, KeyEnv, KeyFileEnv, err)
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; set %s or %s, or run `vigocli secrets init` (or `vigocli secrets keygen`)",
			ErrNoIdentity, file, KeyEnv, KeyFileEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("read age identity: %w", err)
	}
	return parseIdentity(file, string(data))
}

// parseIdentity parses identities without ever quoting the input: age's
// own errors may echo fragments of it.
func parseIdentity(source, text string) (*Identity, error) {
	id := &Identity{Source: source}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		x, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%s does not hold a valid age identity (expected AGE-SECRET-KEY-1... lines; '#' starts a comment)", source)
		}
		id.ids = append(id.ids, x)
		id.Recipients = append(id.Recipients, x.Recipient().String())
	}
	if len(id.ids) == 0 {
		return nil, fmt.Errorf("%w: %s holds no AGE-SECRET-KEY-1... line", ErrNoIdentity, source)
	}
	return id, nil
}

// GenerateIdentity creates a new X25519 identity and writes it to file
// (mode 0600, parent directories 0700). It refuses to overwrite a file.
func GenerateIdentity(file string) (*Identity, error) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate age identity: %w", err)
	}
	pub := x.Recipient().String()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("create identity directory: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create identity file: %w", err)
	}
	_, err = fmt.Fprintf(f, "# created: %s by vigocli\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), pub, x.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("write identity file %s: %w", file, err)
	}
	return &Identity{Source: file, Recipients: []string{pub}, ids: []age.Identity{x}}, nil
}
