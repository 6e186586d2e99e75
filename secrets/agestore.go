package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Files of the age store, in the stockpile directory.
const (
	StoreFile      = "secrets.age"
	RecipientsFile = "secrets.recipients"
)

// ErrNoStore is wrapped when the stockpile has no secrets.age.
var ErrNoStore = errors.New("no secrets store")

// payloadVersion is the version of the JSON document inside the store.
const payloadVersion = 1

// payload is the plaintext inside secrets.age. Recipients is the
// authoritative list: secrets.recipients is a plain mirror, rewritten from
// it on every write, so a key added to the plain file by hand (or by a
// hostile commit) is never encrypted to.
type payload struct {
	Version    int               `json:"version"`
	Salt       []byte            `json:"salt"` // random, inside the encryption; kept in the format, read by nothing
	Recipients []Recipient       `json:"recipients"`
	Secrets    map[string]string `json:"secrets"`
}

// Recipient is a public key the store is encrypted to.
type Recipient struct {
	Key     string `json:"key"`               // age1...
	Comment string `json:"comment,omitempty"` // who it is
}

// AgeStore is the encrypted store: <stockpile>/secrets.age, an armored age
// file encrypted to X25519 recipients, holding a JSON payload, and
// <stockpile>/secrets.recipients, the recipients in age's recipients-file
// syntax (so `age -d -i KEY secrets.age` and `age -R secrets.recipients`
// work with the age tool too).
type AgeStore struct {
	Dir string
	// Identity loads the identity lazily (only reads and writes that
	// decrypt need it).
	Identity func() (*Identity, error)

	mu     sync.Mutex
	cached *payload // for Get: decrypt once per process
}

// NewAgeStore returns the store of a stockpile directory.
func NewAgeStore(dir string, identity func() (*Identity, error)) *AgeStore {
	return &AgeStore{Dir: dir, Identity: identity}
}

// Path is the encrypted file's path.
func (s *AgeStore) Path() string { return filepath.Join(s.Dir, StoreFile) }

// RecipientsPath is the plain recipients file's path.
func (s *AgeStore) RecipientsPath() string { return filepath.Join(s.Dir, RecipientsFile) }

func (s *AgeStore) String() string { return "age store " + s.Path() }

// Exists reports whether the encrypted file exists.
func (s *AgeStore) Exists() bool {
	_, err := os.Stat(s.Path())
	return err == nil
}

// Init creates an empty store encrypted to the identity's public key.
func (s *AgeStore) Init(id *Identity, comment string) error {
	if s.Exists() {
		return fmt.Errorf("%s already exists", s.Path())
	}
	if len(id.Recipients) == 0 {
		return fmt.Errorf("%w: identity has no public key", ErrNoIdentity)
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	p := &payload{
		Version:    payloadVersion,
		Salt:       salt,
		Recipients: []Recipient{{Key: id.Recipients[0], Comment: comment}},
		Secrets:    map[string]string{},
	}
	return s.save(p)
}

// load decrypts the store.
func (s *AgeStore) load() (*payload, error) {
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (create it with `vigocli secrets init`)", ErrNoStore, s.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets store: %w", err)
	}
	if s.Identity == nil {
		return nil, fmt.Errorf("%w configured to decrypt %s", ErrNoIdentity, s.Path())
	}
	id, err := s.Identity()
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt %s: %w", s.Path(), err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), id.ids...)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("cannot decrypt %s: the %s is not one of its recipients; a recipient can add it with `vigocli secrets recipients add %s`",
			s.Path(), id, id.Recipients[0])
	}
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt %s: the file is damaged or not an age file: %w", s.Path(), err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt %s: the file is damaged: %w", s.Path(), err)
	}
	var p payload
	if err := json.Unmarshal(plain, &p); err != nil {
		// The JSON error could quote plaintext: keep only its kind.
		return nil, fmt.Errorf("%s decrypted but its content is not a vigo secrets document", s.Path())
	}
	if p.Version != payloadVersion {
		return nil, fmt.Errorf("%s has version %d; this vigocli reads version %d", s.Path(), p.Version, payloadVersion)
	}
	if p.Secrets == nil {
		p.Secrets = map[string]string{}
	}
	return &p, nil
}

// loadCached decrypts the store once per AgeStore (for reads during a
// push); writes always load afresh.
func (s *AgeStore) loadCached() (*payload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil {
		return s.cached, nil
	}
	p, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cached = p
	return p, nil
}

// save encrypts p to its recipients and writes both files atomically.
func (s *AgeStore) save(p *payload) error {
	var recips []age.Recipient
	for _, r := range p.Recipients {
		x, err := age.ParseX25519Recipient(r.Key)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", r.Key, err)
		}
		recips = append(recips, x)
	}
	if len(recips) == 0 {
		return errors.New("a secrets store needs at least one recipient")
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recips...)
	if err != nil {
		return fmt.Errorf("encrypt secrets store: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return fmt.Errorf("encrypt secrets store: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypt secrets store: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("encrypt secrets store: %w", err)
	}
	if err := writeAtomic(s.Path(), buf.Bytes(), 0o600); err != nil {
		return err
	}
	if err := writeAtomic(s.RecipientsPath(), formatRecipients(p.Recipients), 0o644); err != nil {
		return err
	}
	s.mu.Lock()
	s.cached = nil
	s.mu.Unlock()
	return nil
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

const recipientsHeader = `# vigo secrets recipients: the age public keys secrets.age is encrypted to.
# Generated from the encrypted store: edit it with
# "vigocli secrets recipients add|rm", never by hand (hand edits are
# ignored and overwritten). A comment line names the key below it.
`

func formatRecipients(rs []Recipient) []byte {
	var b strings.Builder
	b.WriteString(recipientsHeader)
	for _, r := range rs {
		b.WriteString("\n")
		if r.Comment != "" {
			for _, l := range strings.Split(r.Comment, "\n") {
				b.WriteString("# " + l + "\n")
			}
		}
		b.WriteString(r.Key + "\n")
	}
	return []byte(b.String())
}

// parseRecipients reads the plain recipients file: the comment lines right
// above a key (after a blank line) are its comment.
func parseRecipients(data []byte) ([]Recipient, error) {
	var rs []Recipient
	var comment []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			comment = nil
		case strings.HasPrefix(line, "#"):
			comment = append(comment, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		default:
			if _, err := age.ParseX25519Recipient(line); err != nil {
				return nil, fmt.Errorf("line %d: not an age X25519 public key", n+1)
			}
			rs = append(rs, Recipient{Key: line, Comment: strings.Join(comment, " ")})
			comment = nil
		}
	}
	return rs, nil
}

// ListRecipients reads the plain recipients file: no identity needed.
func (s *AgeStore) ListRecipients() ([]Recipient, error) {
	data, err := os.ReadFile(s.RecipientsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (create the store with `vigocli secrets init`)", ErrNoStore, s.RecipientsPath())
	}
	if err != nil {
		return nil, err
	}
	rs, err := parseRecipients(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.RecipientsPath(), err)
	}
	return rs, nil
}

// VerifyRecipients decrypts the store and reports whether the plain file
// lists exactly the recipients the store is encrypted to.
func (s *AgeStore) VerifyRecipients() (bool, error) {
	p, err := s.load()
	if err != nil {
		return false, err
	}
	plain, err := s.ListRecipients()
	if err != nil {
		return false, err
	}
	return slices.Equal(keys(p.Recipients), keys(plain)), nil
}

func keys(rs []Recipient) []string {
	k := make([]string, len(rs))
	for i, r := range rs {
		k[i] = r.Key
	}
	sort.Strings(k)
	return k
}

// Get implements Backend. A missing store counts as not found.
func (s *AgeStore) Get(_ context.Context, path string) (string, error) {
	p, err := s.loadCached()
	if errors.Is(err, ErrNoStore) {
		return "", fmt.Errorf("%w (%s)", ErrNotFound, s.Where(path))
	}
	if err != nil {
		return "", err
	}
	v, ok := p.Secrets[path]
	if !ok {
		return "", fmt.Errorf("%w (%s)", ErrNotFound, s.Where(path))
	}
	return v, nil
}

// Where says where the store looks for a path.
func (s *AgeStore) Where(string) string {
	if !s.Exists() {
		return "no age store " + s.Path()
	}
	return "not in age store " + s.Path()
}

// Paths lists the stored paths, sorted.
func (s *AgeStore) Paths() ([]string, error) {
	p, err := s.load()
	if err != nil {
		return nil, err
	}
	ps := make([]string, 0, len(p.Secrets))
	for k := range p.Secrets {
		ps = append(ps, k)
	}
	sort.Strings(ps)
	return ps, nil
}

// Set stores a value (validated like the Resolver does) and re-encrypts.
func (s *AgeStore) Set(path, value string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if err := checkValue(path, value); err != nil {
		return err
	}
	p, err := s.load()
	if err != nil {
		return err
	}
	p.Secrets[path] = value
	return s.save(p)
}

// Remove deletes a path and re-encrypts.
func (s *AgeStore) Remove(path string) error {
	p, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := p.Secrets[path]; !ok {
		return fmt.Errorf("secret %q: %w (%s)", path, ErrNotFound, s.Where(path))
	}
	delete(p.Secrets, path)
	return s.save(p)
}

// AddRecipient adds a public key and re-encrypts the store to every
// recipient.
func (s *AgeStore) AddRecipient(key, comment string) error {
	key = strings.TrimSpace(key)
	if _, err := age.ParseX25519Recipient(key); err != nil {
		switch {
		case strings.Contains(strings.ToUpper(key), "AGE-SECRET-KEY-"):
			// Never echo it.
			return errors.New("that is a private key: pass the public key (age1...), and keep the private key to yourself")
		case strings.ContainsAny(key, " \t\r\n") || len(key) > 128:
			return errors.New("not a single age X25519 public key (age1...)")
		}
		return fmt.Errorf("%q is not an age X25519 public key (age1...)", key)
	}
	p, err := s.load()
	if err != nil {
		return err
	}
	for _, r := range p.Recipients {
		if r.Key == key {
			return fmt.Errorf("%s is already a recipient", key)
		}
	}
	p.Recipients = append(p.Recipients, Recipient{Key: key, Comment: comment})
	return s.save(p)
}

// RemoveRecipient removes a public key and re-encrypts the store. The
// removed key can still read every copy of the file it had: rotate the
// values it could see.
func (s *AgeStore) RemoveRecipient(key string) error {
	key = strings.TrimSpace(key)
	p, err := s.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(p.Recipients, func(r Recipient) bool { return r.Key == key })
	if i < 0 {
		return fmt.Errorf("%s is not a recipient", key)
	}
	if len(p.Recipients) == 1 {
		return errors.New("cannot remove the last recipient: nobody could decrypt the store")
	}
	p.Recipients = slices.Delete(p.Recipients, i, i+1)
	return s.save(p)
}
