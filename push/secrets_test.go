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
		{Name: "redis-container", Fields: map[string]any{"command": "redis-server"}},
		{Name: "app-container", Pos: stockpile.Pos{File: "modules/app-stack.vgo", Line: 15, Col: 5}, Fields: map[string]any{
			"environment": map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url", "REDIS_URL": "redis://localhost"},
			"command":     []any{"run", "secret:vigo/api/token"},
		}},
	}}
	refs := SecretRefs(dh)
	if len(refs) != 2 || refs[0].Field != "command[1]" || refs[1].Field != "environment.DATABASE_URL" {
		t.Fatalf("refs %+v", refs)
	}
	store := map[string]string{"vigo/webapp/database_url": "pg://CANARY", "vigo/api/token": "tok"}
	var registered []string
	get := func(_ context.Context, p string) (string, error) {
		v, ok := store[p]
		if !ok {
			return "", errors.New("not found")
		}
		return v, nil
	}
	vals, err := ResolveSecrets(context.Background(), dh, get, func(v string) { registered = append(registered, v) })
	if err != nil || vals["vigo/webapp/database_url"] != "pg://CANARY" || len(registered) != 2 {
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
