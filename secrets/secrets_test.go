package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRef(t *testing.T) {
	tests := []struct {
		in   string
		path string
		ok   bool
	}{
		{"secret:vigo/webapp/database_url", "vigo/webapp/database_url", true},
		{"secret:a", "a", true},
		{"secret:", "", false},
		{"secret", "", false},
		{"Secret:a", "", false},
		{" secret:a", "", false},
		{"secret:a b", "", false},
		{"secret:a\n", "", false},
		{"postgres://secret:pw@db", "", false},
		{"secret:bad$path", "bad$path", true}, // a reference; ValidatePath rejects it
	}
	for _, tt := range tests {
		path, ok := Ref(tt.in)
		if path != tt.path || ok != tt.ok {
			t.Errorf("Ref(%q) = %q, %v; want %q, %v", tt.in, path, ok, tt.path, tt.ok)
		}
	}
}

func TestValidatePath(t *testing.T) {
	good := []string{"a", "vigo/webapp/database_url", "A-b.c_d/0", "x/.hidden"}
	for _, p := range good {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v; want nil", p, err)
		}
	}
	bad := map[string]string{
		"":                                "empty",
		"/a":                              "empty segment",
		"a/":                              "empty segment",
		"a//b":                            "empty segment",
		"a/../b":                          `".."`,
		"./a":                             `"."`,
		"a b":                             "not allowed",
		"a$b":                             "not allowed",
		"é":                               "not allowed",
		strings.Repeat("a", MaxPathLen+1): "longer",
	}
	for p, want := range bad {
		err := ValidatePath(p)
		if err == nil || !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePath(%q) = %v; want ErrInvalidPath containing %q", p, err, want)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"vigo/webapp/database_url": "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL",
		"a.b-c":                    "VIGO_SECRET_A_B_C",
		"x9":                       "VIGO_SECRET_X9",
	}
	for in, want := range tests {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q; want %q", in, got, want)
		}
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvBackend(t *testing.T) {
	b := EnvBackend{LookupEnv: mapEnv(map[string]string{
		"VIGO_SECRET_APP_TOKEN": "tok-123456",
		"VIGO_SECRET_APP_EMPTY": "",
	})}
	ctx := context.Background()
	if v, err := b.Get(ctx, "app/token"); err != nil || v != "tok-123456" {
		t.Fatalf("Get(app/token) = %q, %v", v, err)
	}
	for _, p := range []string{"app/empty", "app/missing"} {
		_, err := b.Get(ctx, p)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), EnvName(p)) {
			t.Errorf("Get(%s) error = %v; want ErrNotFound naming %s", p, err, EnvName(p))
		}
	}
}

func TestCheckValue(t *testing.T) {
	for _, tt := range []struct {
		v  string
		ok bool
	}{{"", false}, {"zq9", false}, {"zq9x", true}, {strings.Repeat("zq9x", MaxValueLen/4+1), false}} {
		err := checkValue("p", tt.v)
		if (err == nil) != tt.ok {
			t.Errorf("checkValue(len %d) = %v; want ok=%v", len(tt.v), err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "zq9") {
			t.Errorf("error %q contains the value", err)
		}
	}
}
