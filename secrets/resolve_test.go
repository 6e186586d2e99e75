package secrets

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestWalk(t *testing.T) {
	type port struct{ Spec string }
	fields := map[string]any{
		"image": "redis:7",
		"environment": map[string]any{
			"DATABASE_URL": "secret:vigo/webapp/database_url",
			"REDIS_URL":    "redis://localhost:6379",
			"DUP":          "secret:vigo/webapp/database_url",
		},
		"env2":                     map[string]string{"A": "secret:b/a"},
		"command":                  []any{"--pw", "secret:a/z", "secret: spaced"},
		"list":                     []string{"secret:c"},
		"nested":                   []map[string]any{{"x": "secret:d"}},
		"struct":                   &port{Spec: "secret:e"},
		"secret:keys-are-not-refs": "plain",
		"number":                   3,
		"nil":                      nil,
	}
	got := strings.Join(Walk(fields), ",")
	want := "a/z,b/a,c,d,e,vigo/webapp/database_url"
	if got != want {
		t.Errorf("Walk = %s; want %s", got, want)
	}
	if len(Walk(nil)) != 0 {
		t.Error("Walk(nil) found something")
	}
}

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
	if v, _ := vals.Expand("secret:vigo/webapp/database_url"); v != "postgres://from-age-store" {
		t.Errorf("Expand = %q", v)
	}
	if v, _ := vals.Expand("plain"); v != "plain" {
		t.Errorf("Expand(plain) = %q", v)
	}
	if _, err := vals.Expand("secret:not/resolved"); err == nil {
		t.Error("Expand of an unresolved reference succeeded")
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
	// Fingerprints: keyed by the store's salt, stable, value-dependent.
	fp, _ := vals.Fingerprint("both")
	if !strings.HasPrefix(fp, "hmac-sha256:") {
		t.Errorf("fingerprint %q not keyed by the store", fp)
	}
	if h := vals.HashForm("secret:both"); h != "secret:both@"+fp {
		t.Errorf("HashForm = %q", h)
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

func TestFingerprint(t *testing.T) {
	k1, k2 := []byte("key-one"), []byte("key-two")
	a, _ := Fingerprint(k1, "p", "value-1")
	b, _ := Fingerprint(k1, "p", "value-1")
	c, _ := Fingerprint(k1, "p", "value-2")
	d, _ := Fingerprint(k2, "p", "value-1")
	e, _ := Fingerprint(k1, "q", "value-1")
	if a != b || a == c || a == d || a == e {
		t.Errorf("keyed fingerprints: %s %s %s %s %s", a, b, c, d, e)
	}
	u1, _ := Fingerprint(nil, "p", "value-1")
	u2, _ := Fingerprint(nil, "p", "value-2")
	if !strings.HasPrefix(u1, "scrypt:") || u1 == u2 {
		t.Errorf("unkeyed fingerprints: %s %s", u1, u2)
	}
	for _, f := range []string{a, u1} {
		if strings.Contains(f, "value") {
			t.Errorf("fingerprint shows the value: %s", f)
		}
	}
}

func TestResolverEnvOnlyFingerprint(t *testing.T) {
	env := Env{LookupEnv: mapEnv(map[string]string{BackendEnv: "env", "VIGO_SECRET_A": "value-a-long"})}
	chain, _ := NewBackend(t.TempDir(), env)
	vals, err := NewResolver(chain, NewMasker()).Resolve(context.Background(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if fp, _ := vals.Fingerprint("a"); !strings.HasPrefix(fp, "scrypt:") {
		t.Errorf("env-only fingerprint %q", fp)
	}
	// With the environment listable, the key derives from VIGO_SECRET_*.
	env.Environ = func() []string { return []string{"VIGO_SECRET_A=value-a-long", "PATH=/bin"} }
	chain, _ = NewBackend(t.TempDir(), env)
	vals, _ = NewResolver(chain, NewMasker()).Resolve(context.Background(), []string{"a"})
	fp1, _ := vals.Fingerprint("a")
	if !strings.HasPrefix(fp1, "hmac-sha256:") {
		t.Errorf("env-derived fingerprint %q", fp1)
	}
	env.LookupEnv = mapEnv(map[string]string{BackendEnv: "env", "VIGO_SECRET_A": "value-a-long", HashKeyEnv: "k"})
	chain, _ = NewBackend(t.TempDir(), env)
	vals, _ = NewResolver(chain, NewMasker()).Resolve(context.Background(), []string{"a"})
	if fp, _ := vals.Fingerprint("a"); !strings.HasPrefix(fp, "hmac-sha256:") || fp == fp1 {
		t.Errorf("hash-key fingerprint %q (env-derived %q)", fp, fp1)
	}
}
