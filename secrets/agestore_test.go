package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func newIdentity(t *testing.T, dir, name string) *Identity {
	t.Helper()
	id, err := GenerateIdentity(filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func fixed(id *Identity) func() (*Identity, error) {
	return func() (*Identity, error) { return id, nil }
}

func TestAgeStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t, dir, "alice")
	s := NewAgeStore(dir, fixed(alice))
	if err := s.Init(alice, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(alice, "alice"); err == nil {
		t.Error("second Init succeeded")
	}
	value := "postgres://app:S3cr3t!@db:5432/app\nsecond line"
	if err := s.Set("vigo/webapp/database_url", value); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("other/token", "tok-abcdef"); err != nil {
		t.Fatal(err)
	}
	// A fresh store reads what was written.
	s2 := NewAgeStore(dir, fixed(alice))
	got, err := s2.Get(context.Background(), "vigo/webapp/database_url")
	if err != nil || got != value {
		t.Fatalf("Get = %q, %v", got, err)
	}
	paths, err := s2.Paths()
	if err != nil || strings.Join(paths, ",") != "other/token,vigo/webapp/database_url" {
		t.Fatalf("Paths = %v, %v", paths, err)
	}
	if _, err := s2.Get(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v; want ErrNotFound", err)
	}
	if err := s2.Remove("other/token"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Remove("other/token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v", err)
	}
	paths, _ = s2.Paths()
	if len(paths) != 1 {
		t.Errorf("after rm: %v", paths)
	}

	// The files: encrypted, 0600, no plaintext; the recipients file lists alice.
	data, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "S3cr3t") || strings.Contains(string(data), "vigo/webapp") || !strings.HasPrefix(string(data), "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Errorf("store is not an armored age file:\n%s", data)
	}
	if fi, _ := os.Stat(s.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode %v", fi.Mode().Perm())
	}
	rs, err := s.ListRecipients()
	if err != nil || len(rs) != 1 || rs[0].Key != alice.Recipients[0] || rs[0].Comment != "alice" {
		t.Errorf("ListRecipients = %+v, %v", rs, err)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind %s", e.Name())
		}
	}
	// Invalid input is refused without echoing the value.
	if err := s.Set("bad path", "abcdefgh"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Set(bad path) = %v", err)
	}
	if err := s.Set("p", "zq9"); err == nil || strings.Contains(err.Error(), "zq9") {
		t.Errorf("Set(short) = %v", err)
	}
}

func TestAgeStoreTwoRecipients(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t, dir, "alice")
	ci := newIdentity(t, dir, "ci")
	s := NewAgeStore(dir, fixed(alice))
	if err := s.Init(alice, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("app/token", "tok-0123456789"); err != nil {
		t.Fatal(err)
	}
	// ci cannot read before being added.
	_, err := NewAgeStore(dir, fixed(ci)).Get(context.Background(), "app/token")
	if err == nil || !strings.Contains(err.Error(), "not one of its recipients") || !strings.Contains(err.Error(), ci.Recipients[0]) {
		t.Fatalf("ci before add: %v", err)
	}
	if err := s.AddRecipient(ci.Recipients[0], "ci job"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRecipient(ci.Recipients[0], "again"); err == nil {
		t.Error("duplicate recipient accepted")
	}
	for _, id := range []*Identity{alice, ci} {
		v, err := NewAgeStore(dir, fixed(id)).Get(context.Background(), "app/token")
		if err != nil || v != "tok-0123456789" {
			t.Errorf("%s: Get = %q, %v", id.Source, v, err)
		}
	}
	// The file decrypts with the age library alone, with either key
	// (so the age CLI can recover it).
	for _, name := range []string{"alice", "ci"} {
		kf, _ := os.Open(filepath.Join(dir, name+".key"))
		ids, err := age.ParseIdentities(kf)
		kf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewAgeStore(dir, fixed(&Identity{Source: name, ids: ids, Recipients: []string{"x"}})).Paths(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Remove alice: ci still reads, alice no longer can.
	if err := s.RemoveRecipient(alice.Recipients[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAgeStore(dir, fixed(alice)).Paths(); err == nil {
		t.Error("removed recipient can still decrypt")
	}
	sci := NewAgeStore(dir, fixed(ci))
	if _, err := sci.Paths(); err != nil {
		t.Error(err)
	}
	if err := sci.RemoveRecipient(ci.Recipients[0]); err == nil {
		t.Error("removed the last recipient")
	}
	if err := sci.AddRecipient("AGE-SECRET-KEY-1QQQ", ""); err == nil || strings.Contains(err.Error(), "QQQ") {
		t.Errorf("private key as recipient: %v", err)
	}
}

func TestAgeStoreHandEditedRecipientsIgnored(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t, dir, "alice")
	mallory := newIdentity(t, dir, "mallory")
	s := NewAgeStore(dir, fixed(alice))
	if err := s.Init(alice, "alice"); err != nil {
		t.Fatal(err)
	}
	// Someone appends their key to the plain file by hand.
	f, _ := os.OpenFile(s.RecipientsPath(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n# mallory\n" + mallory.Recipients[0] + "\n")
	f.Close()
	if ok, err := s.VerifyRecipients(); err != nil || ok {
		t.Errorf("VerifyRecipients = %v, %v; want mismatch", ok, err)
	}
	if err := s.Set("app/token", "tok-0123456789"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAgeStore(dir, fixed(mallory)).Paths(); err == nil {
		t.Fatal("a hand-added recipient could decrypt after the next write")
	}
	if ok, err := s.VerifyRecipients(); err != nil || !ok {
		t.Errorf("plain file not rewritten: %v, %v", ok, err)
	}
}

func TestIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	noDir := func() (string, error) { return filepath.Join(dir, "cfg"), nil }
	// Nothing configured.
	env := Env{LookupEnv: mapEnv(nil), UserConfigDir: noDir}
	if _, err := env.LoadIdentity(); !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), KeyEnv) {
		t.Errorf("no identity: %v", err)
	}
	// Malformed key: the error never quotes it.
	bad := "AGE-SECRET-KEY-1NOTAVALIDKEYATALLXYZ"
	env = Env{LookupEnv: mapEnv(map[string]string{KeyEnv: bad}), UserConfigDir: noDir}
	if _, err := env.LoadIdentity(); err == nil || strings.Contains(err.Error(), "NOTAVALID") {
		t.Errorf("malformed key: %v", err)
	}
	// Key from VIGO_AGE_KEY, key file, default file.
	id := newIdentity(t, dir, "k")
	keyText, _ := os.ReadFile(id.Source)
	var line string
	for _, l := range strings.Split(string(keyText), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-1") {
			line = l
		}
	}
	for name, e := range map[string]Env{
		"key":     {LookupEnv: mapEnv(map[string]string{KeyEnv: line}), UserConfigDir: noDir},
		"keyfile": {LookupEnv: mapEnv(map[string]string{KeyFileEnv: id.Source}), UserConfigDir: noDir},
	} {
		got, err := e.LoadIdentity()
		if err != nil || got.Recipients[0] != id.Recipients[0] {
			t.Errorf("%s: %v, %v", name, got, err)
		}
		if strings.Contains(got.String(), "AGE-SECRET") {
			t.Errorf("%s: String shows the key", name)
		}
	}
	def, _ := env.DefaultKeyFile()
	if def != filepath.Join(dir, "cfg", "vigo", "age.key") {
		t.Errorf("default key file %s", def)
	}
	// The generated key file is 0600.
	if fi, _ := os.Stat(id.Source); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if _, err := GenerateIdentity(id.Source); err == nil {
		t.Error("GenerateIdentity overwrote a key file")
	}
}
