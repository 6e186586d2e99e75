package executors

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors/executorstest"
	"github.com/vigo-sh/vigocli/stockpile"
)

func TestImageRefGrammar(t *testing.T) {
	for _, ok := range []string{
		"redis", "redis:7-alpine", "library/redis", "myregistry.example.com/webapp:v2.1.0",
		"localhost:5000/a/b_c/d__e/f-g", "reg.example.com:5000/app@sha256:" + strings.Repeat("a", 64),
		"app:v1@sha256:" + strings.Repeat("0", 64), "[::1]:5000/app", "UPPER.example.com/app",
	} {
		if why := checkImageRef(ok); why != "" {
			t.Errorf("%q refused: %s", ok, why)
		}
	}
	for _, bad := range []string{
		"", "-V", "--help", "Redis", "redis:", "a..b", "a/../b", "../x", "redis:tag with space", "x?y", "x#y", "x%2Fy",
		"redis:-x", "/redis", "redis/", "app@sha256:abc", "a b",
	} {
		if checkImageRef(bad) == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecodeRefusesUnsafeValues(t *testing.T) {
	sec := map[string]string{"p/q": "value-1234"}
	for _, c := range []struct {
		typ    string
		fields map[string]any
		want   string
	}{
		{"docker_container", map[string]any{"container": "-x", "image": "redis"}, "is not a container name"},
		{"docker_container", map[string]any{"container": "a", "image": "redis"}, "is not a container name"},
		{"docker_container", map[string]any{"container": "web", "image": "--privileged"}, "is not an image reference"},
		{"docker_image", map[string]any{"image": "-q"}, "is not an image reference"},
		{"docker_image", map[string]any{"image": "redis", "tag": "--all-tags"}, "is not a tag"},
		{"docker_image", map[string]any{"image": "redis:7", "tag": "8"}, "is not a tag"},
		{"docker_compose", map[string]any{"compose_file": "/a/dc.yml", "services": []any{"-V"}}, "is not a compose service name"},
		{"docker_compose", map[string]any{"compose_file": "/a/dc.yml", "env": map[string]any{"A B": "x"}}, "is not a variable name"},
		{"docker_compose", map[string]any{"compose_file": "/a/dc.yml", "project_name": "--verbose"}, "is not a compose project name"},
	} {
		_, err := decodeT(c.typ, c.fields, sec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want %q", c.typ, c.fields, err, c.want)
		}
	}
}

// A secret reference where the executors do not substitute it would reach
// the host as the literal text "secret:PATH": SecretRefs refuses it, and
// validate (Check) reports it with the resource's position. A field
// tagged !raw is literal by request.
func TestSecretRefsOnlyWhereSubstituted(t *testing.T) {
	sec := map[string]string{"p/q": "value-1234"}
	for _, c := range []struct {
		typ    string
		fields map[string]any
		want   string
	}{
		{"docker_container", map[string]any{"container": "web", "image": "redis", "labels": map[string]any{"pw": "secret:p/q"}}, "field labels.pw: secret references are only allowed"},
		{"docker_container", map[string]any{"container": "web", "image": "redis", "command": []any{"run", "secret:p/q"}}, "field command[1]: secret references"},
		{"docker_container", map[string]any{"container": "web", "image": "redis", "healthcheck": map[string]any{"test": "secret:p/q"}}, "field healthcheck.test: secret references"},
		{"file", map[string]any{"target_path": "/a", "content": "x", "owner": "secret:p/q"}, "field owner: secret references"},
	} {
		r := desired.Resource{Name: "r1", Module: "m", Type: c.typ, Fields: c.fields, Pos: stockpile.Pos{File: "m.vgo", Line: 7, Col: 3}}
		_, err := SecretRefs(r)
		var fe *FieldError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &fe) || fe.Resource != "r1" {
			t.Errorf("%s %v: SecretRefs error %v, want a FieldError saying %q", c.typ, c.fields, err, c.want)
		}
		err = Check([]desired.Host{{Name: "web2", Resources: []desired.Resource{r}}}, CheckOptions{})
		if err == nil || !strings.Contains(err.Error(), "m.vgo:7:3") || !strings.Contains(err.Error(), "secret references are only allowed") {
			t.Errorf("%s %v: Check error %v", c.typ, c.fields, err)
		}
	}
	// Where they are substituted, SecretRefs lists them; !raw keeps a
	// field literal, also where a reference would be substituted.
	r := desired.Resource{Name: "r1", Type: "docker_container", Pos: stockpile.Pos{File: "m.vgo", Line: 1, Col: 1},
		Fields: map[string]any{"container": "web", "image": "redis", "labels": map[string]any{"doc": "secret:p/q"},
			"environment": map[string]any{"B": "secret:p/q", "A": "plain"}}, Raw: map[string]bool{"labels": true}}
	refs, err := SecretRefs(r)
	if err != nil || len(refs) != 1 || refs[0] != (SecretRef{Field: "environment.B", Path: "p/q"}) {
		t.Fatalf("refs %v, error %v", refs, err)
	}
	if _, err := Decode(r, Env{Secrets: sec}); err != nil {
		t.Fatalf("raw label refused: %v", err)
	}
	r.Raw = map[string]bool{"environment": true}
	r.Fields["labels"] = map[string]any{}
	if refs, err := SecretRefs(r); err != nil || len(refs) != 0 {
		t.Fatalf("raw environment: refs %v, error %v", refs, err)
	}
	sp, err := Decode(r, Env{})
	if err != nil || sp.(*containerSpec).secretVals["B"] != "" {
		t.Fatalf("raw environment decoded as a reference: %v", err)
	}
	// A reference push did not resolve is refused where it is decoded,
	// in one place for every type, as an UnsetSecretError.
	for typ, f := range map[string]map[string]any{
		"docker_container": {"container": "web", "image": "redis", "environment": map[string]any{"A": "secret:no/such"}},
		"docker_compose":   {"compose_file": "/a/dc.yml", "env": map[string]any{"A": "secret:no/such"}},
		"file":             {"target_path": "/a", "content": "secret:no/such"},
	} {
		_, err := Decode(desired.Resource{Name: "r1", Type: typ, Fields: f}, Env{Secrets: sec})
		var ue *UnsetSecretError
		if !errors.As(err, &ue) || ue.Path != "no/such" {
			t.Errorf("%s: error %v, want an UnsetSecretError", typ, err)
		}
		if _, err := Decode(desired.Resource{Name: "r1", Type: typ, Fields: f}, Env{Offline: true}); err != nil {
			t.Errorf("%s offline: %v", typ, err)
		}
	}
	if !SecretRefAllowed("docker_container", "environment") || SecretRefAllowed("docker_container", "labels") {
		t.Fatal("SecretRefAllowed")
	}
}

// The env wrapper, run by a real sh: every value arrives literally, the
// file is gone before the command runs.
func TestEnvWrapperThroughShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	vals := map[string]string{
		"A": "plain", "B": "it's", "C": `$(touch /tmp/pwned) ${HOME} "q" \back`, "D": "line1\nline2", "E": "`id`; rm -rf /", "F": "",
	}
	file := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(file, envFileContent(vals), 0o600); err != nil {
		t.Fatal(err)
	}
	probe := `printf '%s\0' "$A" "$B" "$C" "$D" "$E" "$F"; if [ -e "$0" ]; then echo LEFT; fi`
	out, err := exec.Command(sh, "-c", envScript, "vigo-env", file, sh, "-c", probe, file).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Split(string(out), "\x00")
	for i, k := range []string{"A", "B", "C", "D", "E", "F"} {
		if got[i] != vals[k] {
			t.Errorf("%s = %q, want %q", k, got[i], vals[k])
		}
	}
	if got[6] != "" {
		t.Errorf("env file still there when the command ran: %q", got[6])
	}
}

// compose runs with "--" before services, its variables through the
// wrapper (never --env-file, which would replace the project's .env), and
// a file that cannot be removed is a warning naming host and path.
func TestComposeArgvAndEnvFile(t *testing.T) {
	h := executorstest.New("svc1.compose.example.com")
	sp, err := decodeT("docker_compose", map[string]any{"compose_file": "/opt/a/docker-compose.yml", "services": []any{"web", "api"},
		"env": map[string]any{"TOKEN": "secret:p/q", "MODE": "it's"}}, map[string]string{"p/q": "tok-CANARY"})
	if err != nil {
		t.Fatal(err)
	}
	h.FailRemove = func(p string) error {
		if strings.HasPrefix(p, "/var/lib/vigo/compose-env/") {
			return os.ErrPermission
		}
		return nil
	}
	out, err := sp.Apply(context.Background(), h, Step{Action: ActionUp, spec: sp, obs: NewState()})
	if err != nil {
		t.Fatal(err)
	}
	var up string
	for _, c := range h.Commands {
		if strings.Contains(c, "docker compose") {
			up = c
		}
	}
	if !strings.HasPrefix(up, "sh -c "+envScript+" vigo-env /var/lib/vigo/compose-env/") || !strings.HasSuffix(up, " up -d --pull missing -- api web") ||
		strings.Contains(up, "--env-file") || strings.Contains(up, "CANARY") {
		t.Fatalf("compose command: %s", up)
	}
	if len(h.EnvFiles) != 1 || h.EnvFiles[0] != "MODE='it'\\''s'\nTOKEN=tok-CANARY\n" {
		t.Fatalf("env file: %q", h.EnvFiles)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "svc1.compose.example.com: compose env file /var/lib/vigo/compose-env/") ||
		!strings.Contains(out.Warnings[0], "remove it by hand") {
		t.Fatalf("warnings: %q", out.Warnings)
	}
	v1, pull := composeV1Args([]string{"-f", "/a/dc.yml", "up", "-d", "--pull", "always", "--", "api", "web"})
	if strings.Join(v1, " ") != "-f /a/dc.yml up -d api web" || strings.Join(pull, " ") != "-f /a/dc.yml pull api web" {
		t.Fatalf("v1 %q pull %q", v1, pull)
	}
}

// docker pull gets "--" before the reference, and a failed pull names the
// host and keeps the cause.
func TestPullArgvAndError(t *testing.T) {
	h := executorstest.New("web3.app.example.com")
	h.AddImage("redis:7-alpine", "sha256:"+strings.Repeat("a", 64), false, nil, nil)
	if _, err := pullImage(context.Background(), h, "redis:7-alpine"); err != nil {
		t.Fatal(err)
	}
	if h.Commands[0] != "docker pull --quiet -- redis:7-alpine" {
		t.Fatalf("pull: %s", h.Commands[0])
	}
	_, err := pullImage(context.Background(), h, "redis:9")
	if err == nil || !strings.HasPrefix(err.Error(), "pull redis:9 failed: image or tag not found") || strings.Contains(err.Error(), "web3") {
		t.Fatalf("error: %v", err)
	}
}

// Engine paths escape each part of a reference.
func TestAPIRefEscapes(t *testing.T) {
	if got := apiRef("reg.example.com:5000/app:v1"); got != "reg.example.com:5000/app:v1" {
		t.Fatal(got)
	}
	if got := apiRef("a?b#c%d/e"); got != "a%3Fb%23c%25d/e" {
		t.Fatal(got)
	}
}
