package push

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/lock"
	"github.com/vigo-sh/vigocli/secrets"
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
	for _, want := range []string{"modules/app-stack.vgo:15:5", "resource app-container", "environment.DATABASE_URL", `secret "vigo/webapp/database_url"`, "not found"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	// The path is data, said once, whether or not the backend's error
	// already carried it.
	var pe *secrets.PathError
	if !errors.As(err, &pe) || pe.Path != "vigo/webapp/database_url" || strings.Count(err.Error(), "vigo/webapp/database_url") != 1 {
		t.Errorf("error %v: want one PathError for the path", err)
	}
	named := func(_ context.Context, p string) (string, error) {
		return "", &secrets.PathError{Path: p, Err: errors.New("refused")}
	}
	_, err = ResolveSecrets(context.Background(), dh, named, nil)
	if err == nil || strings.Count(err.Error(), "vigo/webapp/database_url") != 1 {
		t.Errorf("error %v: want the path once", err)
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

// Every host's secrets are resolved before the rollout starts: output
// of batch 1 already masks a value that only a host of batch 2 uses, and
// a host whose secret is missing fails alone, in its turn.
func TestFleetSecretsMaskLaterBatches(t *testing.T) {
	const later = "batch2-only-S3CRET"
	file := func(host, ref string) desired.Host {
		return desired.Host{Name: host, Resources: []desired.Resource{
			{Name: "token", Type: "file", Fields: map[string]any{"target_path": "/etc/token", "content": ref}},
		}}
	}
	hosts := []desired.Host{file("h1", "secret:a/one"), file("h2", "secret:b/two"), file("h3", "secret:c/missing")}
	store := map[string]string{"a/one": "first-batch-value", "b/two": later}
	get := func(_ context.Context, p string) (string, error) {
		if v, ok := store[p]; ok {
			return v, nil
		}
		return "", errors.New("not found")
	}
	m := secrets.NewMasker()
	fleet := ResolveFleet(context.Background(), hosts, get, m.Add)
	rec := &recorder{}
	job := Job[lock.Runner]{
		Prepare: fleet.Prepare,
		Run: step(func(ctx context.Context, host string, batch int, r lock.Runner, sink event.Sink) (Outcome, error) {
			// h1 (batch 1) prints what a later host's secret looks like:
			// a host may echo anything.
			sink.Emit(event.Event{Kind: event.CommandOutput, Output: "h1 saw " + later + " on the wire"})
			if v := fleet.Values(host); host == "h2" && v["b/two"] != later {
				t.Errorf("h2 values %v", v)
			}
			return Outcome{Changed: 1}, nil
		}),
	}
	res := Run(context.Background(), []string{"h1", "h2", "h3"}, ConnectorFunc[lock.Runner](func(_ context.Context, h string) (lock.Runner, error) { return localRunner{h}, nil }), job, Options{
		BatchSize: Size{N: 1}, MaxFail: Size{N: 1},
		Sink: m.Sink(rec),
	})
	for _, e := range rec.all() {
		if strings.Contains(fmt.Sprint(e), later) || strings.Contains(fmt.Sprint(e), "first-batch-value") {
			t.Errorf("batch %d event shows a secret: %+v", e.Batch, e)
		}
	}
	if e, ok := rec.find(event.CommandOutput, "h1"); !ok || e.Output != "h1 saw *** on the wire" {
		t.Errorf("h1 output %+v", e)
	}
	st := statusOf(t, res)
	if st["h1"] != event.StatusChanged || st["h2"] != event.StatusChanged || st["h3"] != event.StatusFailed {
		t.Errorf("statuses %v", st)
	}
	if e, _ := rec.find(event.HostFinished, "h3"); !strings.Contains(e.Error, "c/missing") {
		t.Errorf("h3 error %q does not name its missing secret", e.Error)
	}
}
