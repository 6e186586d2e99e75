package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment variables of the Vault backend (the first three are
// Vault's own).
const (
	VaultAddrEnv      = "VAULT_ADDR"
	VaultTokenEnv     = "VAULT_TOKEN"
	VaultNamespaceEnv = "VAULT_NAMESPACE"
	VaultMountEnv     = "VIGO_VAULT_MOUNT" // KV v2 mount, default "secret"
)

// VaultBackend reads HashiCorp Vault's KV version 2 engine over its HTTP
// API. A vigo path's last segment is the field, the rest the KV secret:
// vigo/webapp/database_url is field database_url of the secret at
// vigo/webapp (`vault kv get -mount=secret -field=database_url
// vigo/webapp`). Each KV secret is read once per backend (one push).
type VaultBackend struct {
	Addr      string // e.g. https://vault.example.com:8200
	Token     string
	Namespace string // Vault Enterprise namespace, optional
	Mount     string // default "secret"
	Client    *http.Client

	mu    sync.Mutex
	cache map[string]map[string]any // KV secret path -> data (nil: missing)
}

// NewVaultBackend configures the backend from the environment.
func NewVaultBackend(env Env) (*VaultBackend, error) {
	v := &VaultBackend{
		Addr:      strings.TrimRight(env.get(VaultAddrEnv), "/"),
		Token:     env.get(VaultTokenEnv),
		Namespace: env.get(VaultNamespaceEnv),
		Mount:     strings.Trim(env.get(VaultMountEnv), "/"),
	}
	if v.Addr == "" {
		return nil, fmt.Errorf("vault backend: %s is not set", VaultAddrEnv)
	}
	if u, err := url.Parse(v.Addr); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("vault backend: %s=%q is not an http(s) URL", VaultAddrEnv, v.Addr)
	}
	if v.Token == "" {
		return nil, fmt.Errorf("vault backend: %s is not set", VaultTokenEnv)
	}
	return v, nil
}

func (v *VaultBackend) String() string { return "vault " + v.Addr }

func (v *VaultBackend) mount() string {
	if v.Mount == "" {
		return "secret"
	}
	return v.Mount
}

func splitVaultPath(path string) (secret, field string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "", "", false
	}
	return path[:i], path[i+1:], true
}

// Where says where the backend looks for path.
func (v *VaultBackend) Where(path string) string {
	secret, field, ok := splitVaultPath(path)
	if !ok {
		return "vault needs a path of at least two segments (secret/field)"
	}
	return fmt.Sprintf("no field %q in vault secret %s/%s", field, v.mount(), secret)
}

// Get implements Backend.
func (v *VaultBackend) Get(ctx context.Context, path string) (string, error) {
	secret, field, ok := splitVaultPath(path)
	if !ok {
		return "", fmt.Errorf("%w (%s)", ErrNotFound, v.Where(path))
	}
	data, err := v.read(ctx, secret)
	if err != nil {
		return "", err
	}
	raw, ok := data[field]
	if !ok || raw == nil {
		return "", fmt.Errorf("%w (%s)", ErrNotFound, v.Where(path))
	}
	switch x := raw.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("vault secret %s/%s field %q is not a string, number or boolean", v.mount(), secret, field)
}

// read fetches one KV secret's latest version (cached).
func (v *VaultBackend) read(ctx context.Context, secret string) (map[string]any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d, ok := v.cache[secret]; ok {
		return d, nil
	}
	u := v.Addr + "/v1/" + escapePath(v.mount()) + "/data/" + escapePath(secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	req.Header.Set("X-Vault-Token", v.Token)
	req.Header.Set("X-Vault-Request", "true")
	if v.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.Namespace)
	}
	client := v.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the URL, which holds no secret.
		return nil, fmt.Errorf("vault: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxValueLen*4))
	if err != nil {
		return nil, fmt.Errorf("vault: read %s/%s: %w", v.mount(), secret, err)
	}
	var doc struct {
		Data *struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
		Errors []string `json:"errors"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	decErr := dec.Decode(&doc)
	var data map[string]any
	switch {
	case resp.StatusCode == http.StatusNotFound:
		data = nil // missing, or deleted (data.data is null)
	case resp.StatusCode != http.StatusOK:
		msg := strings.Join(doc.Errors, "; ")
		if msg == "" {
			msg = resp.Status
		}
		return nil, fmt.Errorf("vault: read %s/%s: %s (HTTP %d)", v.mount(), secret, msg, resp.StatusCode)
	case decErr != nil || doc.Data == nil:
		// Never quote the body: it holds values.
		return nil, fmt.Errorf("vault: read %s/%s: the answer is not a KV v2 secret (is %s a KV version 2 mount?)", v.mount(), secret, v.mount())
	default:
		data = doc.Data.Data
	}
	if v.cache == nil {
		v.cache = map[string]map[string]any{}
	}
	v.cache[secret] = data
	return data, nil
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

var _ Backend = (*VaultBackend)(nil)
