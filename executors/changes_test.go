package executors

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/report"
	"github.com/vigo-sh/vigocli/stockpile"
)

// TestChangesNeverCarryASecret plans every golden case, and cases where
// the host holds a secret value that the spec changes, removes or
// replaces, and checks that no change holds a secret value (the one the
// spec resolves, or the one observed on the host) or its unkeyed hash in
// any of its fields; then renders the plans with the text and the JSON
// renderers, with no masker in between, and checks their output too. A
// plan is safe by construction: masking is a second line, not the first.
func TestChangesNeverCarryASecret(t *testing.T) {
	old := goldenSecrets["vigo/webapp/database_url"] // what the recorded webapp runs with
	const fresh = "postgres://app:N3W-s3cr3t@db.example.com/app"
	const fileOld, fileNew = "api-key-0ld-v4lue", "api-key-n3w-v4lue"
	cases := goldenCases()
	cases = append(cases,
		goldenCase{name: "secret-changed", typ: "docker_container", fields: webFields("v2.1.0"),
			secrets: map[string]string{"vigo/webapp/database_url": fresh}},
		goldenCase{name: "secret-removed", typ: "docker_container",
			fields: with(webFields("v2.1.0"), "environment", map[string]any{"REDIS_URL": "redis://localhost:6379"})},
		goldenCase{name: "secret-now-plain", typ: "docker_container",
			fields: with(webFields("v2.1.0"), "environment", map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "sqlite:///tmp/app.db"})},
		goldenCase{name: "secret-added", typ: "docker_container",
			fields:  with(webFields("v2.1.0"), "environment", map[string]any{"REDIS_URL": "redis://localhost:6379", "DATABASE_URL": "secret:vigo/webapp/database_url", "API_KEY": "secret:vigo/webapp/api_key"}),
			secrets: map[string]string{"vigo/webapp/database_url": fresh, "vigo/webapp/api_key": fileNew}},
		goldenCase{name: "secret-file-changed", typ: "file", fields: fileFields("secret:vigo/app/key"),
			state: fileState(fileOld, "0600"), secrets: map[string]string{"vigo/app/key": fileNew}},
		goldenCase{name: "secret-file-missing", typ: "file", fields: fileFields("secret:vigo/app/key"),
			secrets: map[string]string{"vigo/app/key": fileNew}},
	)
	values := []string{old, fresh, fileOld, fileNew}
	var forbidden []string
	for _, v := range values {
		sum := sha256.Sum256([]byte(v))
		forbidden = append(forbidden, v, hex.EncodeToString(sum[:])[:12])
	}
	leaks := func(s string) string {
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				return f
			}
		}
		return ""
	}

	var plain, doc bytes.Buffer
	col := report.NewCollector()
	sink := event.Tee(report.NewPlain(&plain), col)
	changes := 0
	for _, c := range cases {
		st := recorded(t)
		if c.state != nil {
			c.state(t, st)
		}
		sec := goldenSecrets
		if c.secrets != nil {
			sec = c.secrets
		}
		r := desired.Resource{Name: c.name, Type: c.typ, Module: "golden", Fields: c.fields, Pos: stockpile.Pos{File: "golden.vgo", Line: 1, Col: 1}}
		sp, err := Decode(r, Env{Secrets: sec})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		step := Plan(sp, st)
		for _, ch := range step.Diff {
			changes++
			for _, s := range []string{ch.Field, ch.Subject, ch.From, ch.To, ch.Note} {
				if f := leaks(s); f != "" {
					t.Errorf("%s: change %+v holds a secret value or its hash %q", c.name, ch, f)
				}
			}
		}
		if f := leaks(step.Reason); f != "" {
			t.Errorf("%s: reason %q holds a secret value or its hash", c.name, step.Reason)
		}
		sink.Emit(event.Event{Kind: event.ResourcePlanned, Host: "web2", Resource: step.Resource, Type: step.Type,
			Action: string(step.Action), Reason: step.Reason, Diff: step.Diff})
	}
	if err := report.WriteJSON(&doc, col.Run(), 0); err != nil {
		t.Fatal(err)
	}
	// The cases must have exercised secret changes, and the renderers
	// must have shown them (else the checks below prove nothing).
	for _, want := range []string{
		"environment.DATABASE_URL: secret:vigo/webapp/database_url (changed)",
		"environment.DATABASE_URL: (removed)",
		"environment.API_KEY: secret:vigo/webapp/api_key (added)",
		"content: secret:vigo/app/key (changed)",
		"content: absent -> secret:vigo/app/key",
	} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, plain.String())
		}
	}
	if !strings.Contains(doc.String(), `"to": "secret:vigo/webapp/database_url",`) {
		t.Errorf("JSON output lacks the secret's reference:\n%s", doc.String())
	}
	if changes < 50 {
		t.Errorf("only %d changes planned", changes)
	}
	for name, out := range map[string]string{"text": plain.String(), "JSON": doc.String()} {
		if f := leaks(out); f != "" {
			t.Errorf("%s output shows a secret value or its hash %q", name, f)
		}
	}
}
