package push

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

func TestResolveSecrets(t *testing.T) {
	dh := desired.Host{Name: "web4", Resources: []desired.Resource{
		{Name: "redis-container", Type: "docker_container", Fields: map[string]any{"command": "redis-server"}},
		{Name: "app-container", Type: "docker_container", Pos: stockpile.Pos{File: "modules/app-stack.vgo", Line: 15, Col: 5}, Fields: map[string]any{
			"environment": map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url", "REDIS_URL": "redis://localhost"},
		}},
		{Name: "token-file", Type: "file", Fields: map[string]any{"target_path": "/etc/token", "content": "secret:vigo/api/token"}},
		// A !raw field is sent as written: never resolved.
		{Name: "doc-file", Type: "file", Raw: map[string]bool{"content": true}, Fields: map[string]any{"target_path": "/etc/doc", "content": "secret:not/a/ref"}},
		{Name: "stack", Type: "docker_compose", Fields: map[string]any{"compose_file": "/srv/c.yml", "env": map[string]any{"PW": "secret:vigo/db/pw"}}},
	}}
	refs, err := SecretRefs(dh)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Resource+" "+r.Field+" "+r.Path)
	}
	want := "app-container environment.DATABASE_URL vigo/webapp/database_url|token-file content vigo/api/token|stack env.PW vigo/db/pw"
	if strings.Join(got, "|") != want {
		t.Fatalf("refs\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	store := map[string]string{"vigo/webapp/database_url": "pg://CANARY", "vigo/api/token": "tok", "vigo/db/pw": "pw"}
	var registered, asked []string
	get := func(_ context.Context, p string) (string, error) {
		asked = append(asked, p)
		v, ok := store[p]
		if !ok {
			return "", errors.New("not found")
		}
		return v, nil
	}
	vals, err := ResolveSecrets(context.Background(), dh, get, func(v string) { registered = append(registered, v) })
	if err != nil || vals["vigo/webapp/database_url"] != "pg://CANARY" || len(registered) != 3 || len(vals) != 3 {
		t.Fatalf("vals %d, registered %d, err %v", len(vals), len(registered), err)
	}
	delete(store, "vigo/webapp/database_url")
	_, err = ResolveSecrets(context.Background(), dh, get, nil)
	for _, want := range []string{"modules/app-stack.vgo:15:5", "resource app-container", "environment.DATABASE_URL", "secret vigo/webapp/database_url", "not found"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// A reference in a field the executors do not substitute (labels,
// command) is the stockpile's mistake: it fails with the executors'
// decode error naming the resource and its file:line, before any secret
// is looked up, not as "secret not set".
func TestSecretRefInWrongField(t *testing.T) {
	for _, fields := range []map[string]any{
		{"image": "app", "labels": map[string]any{"token": "secret:vigo/api/token"}},
		{"image": "app", "command": []any{"run", "secret:vigo/api/token"}},
	} {
		dh := desired.Host{Name: "web4", Resources: []desired.Resource{
			{Name: "app-container", Type: "docker_container", Pos: stockpile.Pos{File: "modules/app-stack.vgo", Line: 9, Col: 5}, Fields: fields},
		}}
		asked := 0
		get := func(context.Context, string) (string, error) { asked++; return "", errors.New("secret not set") }
		_, err := ResolveSecrets(context.Background(), dh, get, nil)
		if err == nil {
			t.Fatalf("%v: no error", fields)
		}
		for _, want := range []string{"modules/app-stack.vgo:9:5", `"app-container"`, "only allowed in environment"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if asked != 0 || strings.Contains(err.Error(), "not set") {
			t.Errorf("%v: a secret was looked up (%d): %v", fields, asked, err)
		}
	}
}
