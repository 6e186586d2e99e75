package secrets

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewBackend(t *testing.T) {
	tests := []struct {
		spec, want, err string
	}{
		{"", "env,age store x/secrets.age", ""},
		{"age", "age store x/secrets.age", ""},
		{"env", "env", ""},
		{"age, env", "age store x/secrets.age,env", ""},
		{"nope", "", "unknown backend"},
		{"vault,age", "", "VAULT_ADDR is not set"},
		{"env,env", "", "twice"},
	}
	for _, tt := range tests {
		c, err := NewBackend("x", Env{LookupEnv: mapEnv(map[string]string{BackendEnv: tt.spec})})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v; want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || c.String() != tt.want {
			t.Errorf("%q: %v, %v; want %s", tt.spec, c, err, tt.want)
		}
	}
}

func TestResolverChain(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t, dir, "alice")
	store := NewAgeStore(dir, fixed(alice))
	if err := store.Init(alice, "alice"); err != nil {
		t.Fatal(err)
	}
	store.Set("vigo/webapp/database_url", "postgres://from-age-store")
	store.Set("both", "from-age-store")
	store.Set("short/env", "long-enough")
	env := map[string]string{
		"VIGO_SECRET_BOTH":      "from-environment",
		"VIGO_SECRET_SHORT_ENV": "abc",
		"VIGO_AGE_KEY_FILE":     alice.Source,
	}
	chain, err := NewBackend(dir, Env{LookupEnv: mapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMasker()
	r := NewResolver(chain, m)
	ctx := context.Background()
	vals, err := r.Resolve(ctx, []string{"vigo/webapp/database_url", "both", "both"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := vals.Value("both"); v != "from-environment" {
		t.Errorf("env should win: %q", v)
	}
	if v, _ := vals.Value("vigo/webapp/database_url"); v != "postgres://from-age-store" {
		t.Errorf("age store value = %q", v)
	}
	if _, ok := vals.Value("not/resolved"); ok {
		t.Error("Value of an unresolved path succeeded")
	}
	// Values are registered with the masker.
	if got := m.String("url=postgres://from-age-store env=from-environment"); got != "url=*** env=***" {
		t.Errorf("masker: %q", got)
	}
	// Values never print.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if s := fmt.Sprintf(verb, vals); strings.Contains(s, "from-") || strings.Contains(s, "66726f6d") {
			t.Errorf("%s prints values: %s", verb, s)
		}
	}
	// Unknown, invalid and too-short paths: every one named, no value shown.
	_, err = r.Resolve(ctx, []string{"vigo/webapp/database_url", "missing/one", "bad path!", "short/env"})
	if err == nil {
		t.Fatal("resolve of unknown paths succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`secret "missing/one"`, "VIGO_SECRET_MISSING_ONE is not set", "not in age store", `"bad path!"`, `secret "short/env": env: value is shorter than 4`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, ErrNotFound) {
		t.Error("error does not wrap ErrNotFound")
	}
	if strings.Contains(msg, "abc") || strings.Contains(msg, "from-") {
		t.Errorf("error shows a value:\n%s", msg)
	}
}

func TestResolverWrongKey(t *testing.T) {
	dir := t.TempDir()
	alice := newIdentity(t, dir, "alice")
	eve := newIdentity(t, dir, "eve")
	store := NewAgeStore(dir, fixed(alice))
	store.Init(alice, "alice")
	store.Set("app/token", "tok-0123456789")
	chain, _ := NewBackend(dir, Env{LookupEnv: mapEnv(map[string]string{KeyFileEnv: eve.Source})})
	_, err := NewResolver(chain, NewMasker()).Resolve(context.Background(), []string{"app/token"})
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not one of its recipients") {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "AGE-SECRET-KEY") || strings.Contains(err.Error(), "tok-") {
		t.Errorf("error shows key material or a value: %v", err)
	}
	// Missing key: clear error naming the variables.
	chain, _ = NewBackend(dir, Env{LookupEnv: mapEnv(nil), UserConfigDir: func() (string, error) { return filepath.Join(dir, "none"), nil }})
	_, err = NewResolver(chain, NewMasker()).Resolve(context.Background(), []string{"app/token"})
	if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), "VIGO_AGE_KEY") {
		t.Errorf("missing key: %v", err)
	}
}
