package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeVault answers the KV v2 read API the way Vault documents it:
// GET /v1/MOUNT/data/PATH with X-Vault-Token; 200 with data.data, 404 with
// an empty errors list, 403 with "permission denied".
func fakeVault(t *testing.T, token string, secrets map[string]map[string]any) (*httptest.Server, *atomic.Int32) {
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodGet || r.Header.Get("X-Vault-Token") != token {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"errors": []string{"permission denied"}})
			return
		}
		const prefix = "/v1/kv/data/"
		if r.Header.Get("X-Vault-Namespace") != "team-a" || !strings.HasPrefix(r.URL.Path, prefix) {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"errors": []string{}})
			return
		}
		data, ok := secrets[strings.TrimPrefix(r.URL.Path, prefix)]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"errors": []string{}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
			"data":     data,
			"metadata": map[string]any{"version": 3, "destroyed": false},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv, &reads
}

func TestVaultBackend(t *testing.T) {
	srv, reads := fakeVault(t, "tok-good", map[string]map[string]any{
		"vigo/webapp": {"database_url": "postgres://vault-value", "port": 5432, "nested": map[string]any{"a": "b"}},
	})
	env := func(token string) Env {
		return Env{LookupEnv: mapEnv(map[string]string{
			BackendEnv: "vault", VaultAddrEnv: srv.URL, VaultTokenEnv: token,
			VaultNamespaceEnv: "team-a", VaultMountEnv: "kv",
		})}
	}
	chain, err := NewBackend(t.TempDir(), env("tok-good"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := chain.Get(ctx, "vigo/webapp/database_url"); err != nil || v != "postgres://vault-value" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if v, err := chain.Get(ctx, "vigo/webapp/port"); err != nil || v != "5432" {
		t.Errorf("number field: %q, %v", v, err)
	}
	if reads.Load() != 1 {
		t.Errorf("one KV secret read %d times; want once", reads.Load())
	}
	for path, want := range map[string]string{
		"vigo/webapp/missing": `no field "missing" in vault secret kv/vigo/webapp`,
		"vigo/other/field":    `no field "field" in vault secret kv/vigo/other`,
		"single":              "at least two segments",
	} {
		if _, err := chain.Get(ctx, path); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), want) {
			t.Errorf("Get(%s) = %v; want ErrNotFound with %q", path, err, want)
		}
	}
	if _, err := chain.Get(ctx, "vigo/webapp/nested"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("object field: %v", err)
	}

	// A wrong token is an error (not a miss) that names neither token nor value.
	bad, _ := NewBackend(t.TempDir(), env("tok-bad-9x"))
	_, err = bad.Get(ctx, "vigo/webapp/database_url")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "tok-") || strings.Contains(err.Error(), "vault-value") {
		t.Errorf("error shows the token or a value: %v", err)
	}

	// Resolver over env,vault: env wins, vault fills in.
	e := env("tok-good")
	e.LookupEnv = mapEnv(map[string]string{
		BackendEnv: "env,vault", VaultAddrEnv: srv.URL, VaultTokenEnv: "tok-good", VaultNamespaceEnv: "team-a", VaultMountEnv: "kv",
		"VIGO_SECRET_VIGO_WEBAPP_PORT": "65432",
	})
	chain, _ = NewBackend(t.TempDir(), e)
	vals, err := NewResolver(chain, NewMasker()).Resolve(ctx, []string{"vigo/webapp/database_url", "vigo/webapp/port"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := vals.Value("vigo/webapp/port"); v != "65432" {
		t.Errorf("env should win: %q", v)
	}
}

func TestVaultBackendConfig(t *testing.T) {
	for name, tt := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no addr":  {map[string]string{VaultTokenEnv: "t"}, "VAULT_ADDR is not set"},
		"no token": {map[string]string{VaultAddrEnv: "http://127.0.0.1:8200"}, "VAULT_TOKEN is not set"},
		"bad addr": {map[string]string{VaultAddrEnv: "127.0.0.1:8200", VaultTokenEnv: "t"}, "not an http(s) URL"},
	} {
		_, err := NewVaultBackend(Env{LookupEnv: mapEnv(tt.env)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", name, err, tt.want)
		}
	}
}
