package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/vigo-sh/vigocli/lab/labtest"
	"github.com/vigo-sh/vigocli/report"
)

// The CI recipes in examples/ci are documentation that must keep working:
// these tests parse them, check the shape that makes them correct (one
// job per shard, secrets from CI secrets, the report uploaded even when
// the push fails, the exit code failing the job), check that every
// vigocli command line in them is one the CLI accepts, and run actionlint
// on the GitHub workflow.

const ciDir = "examples/ci"

func readYAML(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ciDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// path walks maps by key and lists by index ("0").
func path(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// vigoLines returns every vigocli invocation in a shell script, with its
// continuation lines joined.
func vigoLines(script string) []string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out []string
	for _, l := range strings.Split(script, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "vigocli ") {
			out = append(out, l)
		}
	}
	return out
}

var flagRE = regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)

// checkVigoLine fails when line names a command or a flag the CLI does
// not have.
func checkVigoLine(t *testing.T, where, line string) {
	t.Helper()
	words := strings.Fields(line)[1:]
	cmds := newApp().Commands
	var cmd *cli.Command
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			break
		}
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.Name == w })
		if i < 0 {
			break
		}
		cmd = cmds[i]
		cmds = cmd.Subcommands
	}
	if cmd == nil || len(cmd.Subcommands) > 0 {
		t.Errorf("%s: %q is not a vigocli command", where, line)
		return
	}
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
		if !slices.Contains(names, m[1]) {
			t.Errorf("%s: vigocli %s has no flag --%s", where, cmd.Name, m[1])
		}
	}
}

func TestGitHubWorkflow(t *testing.T) {
	doc := readYAML(t, "github-actions.yml")
	shards, err := strconv.Atoi(str(path(doc, "env", "SHARDS")))
	if err != nil {
		t.Fatalf("env.SHARDS: %v", err)
	}
	if str(path(doc, "env", "VIGO_SECRETS_BACKEND")) != "env" {
		t.Error("secrets must come from the env backend (VIGO_SECRETS_BACKEND: env)")
	}
	matrix, _ := path(doc, "jobs", "push", "strategy", "matrix", "shard").([]any)
	if len(matrix) != shards {
		t.Errorf("push matrix has %d shards, env.SHARDS says %d", len(matrix), shards)
	}
	for i, s := range matrix {
		if s != i+1 {
			t.Errorf("matrix shard %d is %v, want %d", i, s, i+1)
		}
	}
	if ff, ok := path(doc, "jobs", "push", "strategy", "fail-fast").(bool); !ok || ff {
		t.Error("strategy.fail-fast must be false: one failing shard must not cancel the others mid-push")
	}
	if v := str(path(doc, "jobs", "push", "env", "VIGO_SECRET_VIGO_WEBAPP_DATABASE_URL")); !strings.HasPrefix(v, "${{ secrets.") {
		t.Errorf("the secret value must come from CI secrets, got %q", v)
	}
	checkSteps(t, doc, "push", true)
	checkSteps(t, doc, "check", false)

	// actionlint, when it can be had.
	bin, args := "", []string{}
	if p, err := exec.LookPath("actionlint"); err == nil {
		bin = p
	} else if gobin, err := exec.LookPath("go"); err == nil {
		bin, args = gobin, []string{"run", "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"}
	}
	if bin == "" {
		t.Skip("neither actionlint nor go on PATH: the workflow's structure is checked, not linted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "-no-color", filepath.Join(ciDir, "github-actions.yml"))...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		t.Fatalf("actionlint found problems:\n%s", out.String())
	}
	if err != nil {
		t.Skipf("actionlint could not run (%v): the workflow's structure is checked, not linted\n%s", err, out.String())
	}
}

// checkSteps: every vigocli line is valid; the ssh key comes from a
// secret; with push, the push step shards and reports and the upload runs
// whatever the push's outcome.
func checkSteps(t *testing.T, doc map[string]any, job string, push bool) {
	t.Helper()
	steps, _ := path(doc, "jobs", job, "steps").([]any)
	if len(steps) == 0 {
		t.Fatalf("job %s has no steps", job)
	}
	var pushed, uploaded, keyed bool
	for i, s := range steps {
		run := str(path(s, "run"))
		for _, l := range vigoLines(run) {
			checkVigoLine(t, job+" step "+strconv.Itoa(i), l)
			if strings.HasPrefix(l, "vigocli envoys push") {
				pushed = strings.Contains(l, `--shard "${SHARD}/${SHARDS}"`) && strings.Contains(l, "--report ")
			}
			if strings.Contains(l, "accept-new-host-keys") {
				t.Errorf("%s: a CI job must never accept unknown host keys", job)
			}
		}
		if strings.Contains(run, "~/.ssh/id_ed25519") && strings.HasPrefix(str(path(s, "env", "SSH_KEY")), "${{ secrets.") {
			keyed = true
		}
		if strings.HasPrefix(str(path(s, "uses")), "actions/upload-artifact@") {
			uploaded = str(path(s, "if")) == "always()"
		}
	}
	if !keyed {
		t.Errorf("job %s does not write the SSH key from a secret", job)
	}
	if !uploaded {
		t.Errorf("job %s does not upload its report with if: always()", job)
	}
	if push && !pushed {
		t.Errorf("job %s does not push its shard with a JUnit report", job)
	}
}

func TestGitLabPipeline(t *testing.T) {
	doc := readYAML(t, "gitlab-ci.yml")
	shards, err := strconv.Atoi(str(path(doc, "variables", "SHARDS")))
	if err != nil {
		t.Fatalf("variables.SHARDS: %v", err)
	}
	if str(path(doc, "variables", "VIGO_SECRETS_BACKEND")) != "env" {
		t.Error("secrets must come from the env backend (VIGO_SECRETS_BACKEND: env)")
	}
	stages, _ := doc["stages"].([]any)
	jobs := 0
	for name, v := range doc {
		job, ok := v.(map[string]any)
		if !ok || strings.HasPrefix(name, ".") || slices.Contains([]string{"variables", "default", "stages"}, name) {
			continue
		}
		jobs++
		if !slices.Contains(stages, path(job, "stage")) {
			t.Errorf("job %s: stage %v is not in stages %v", name, path(job, "stage"), stages)
		}
		script, _ := job["script"].([]any)
		if len(script) == 0 {
			t.Errorf("job %s has no script", name)
		}
		for _, line := range flatten(script) {
			for _, l := range vigoLines(strings.ReplaceAll(line, "\n", " ")) {
				checkVigoLine(t, "job "+name, l)
			}
		}
	}
	if jobs != 3 {
		t.Errorf("%d jobs, want validate, push and check", jobs)
	}
	push, _ := doc["push"].(map[string]any)
	matrix, _ := path(push, "parallel", "matrix", "0", "SHARD").([]any)
	if len(matrix) != shards {
		t.Errorf("push parallel:matrix has %d shards, variables.SHARDS says %d", len(matrix), shards)
	}
	for i, s := range matrix {
		if s != strconv.Itoa(i+1) {
			t.Errorf("matrix SHARD %d is %v, want %q", i, s, strconv.Itoa(i+1))
		}
	}
	script := strings.Join(flatten(push["script"].([]any)), "\n")
	if !strings.Contains(script, `--shard "${SHARD}/${SHARDS}"`) || !strings.Contains(script, `--report "junit-${SHARD}.xml"`) {
		t.Errorf("push does not push its shard with a JUnit report:\n%s", script)
	}
	if !strings.Contains(script, `cp "$VIGO_SSH_KEY" ~/.ssh/id_ed25519`) {
		t.Error("push does not take its SSH key from the VIGO_SSH_KEY file variable")
	}
	if str(path(push, "artifacts", "when")) != "always" || str(path(push, "artifacts", "reports", "junit")) != "junit-$SHARD.xml" {
		t.Errorf("push artifacts: %v", push["artifacts"])
	}
}

// flatten: GitLab accepts nested lists in script (an anchor of lines).
func flatten(v []any) []string {
	var out []string
	for _, x := range v {
		switch y := x.(type) {
		case string:
			out = append(out, y)
		case []any:
			out = append(out, flatten(y)...)
		}
	}
	return out
}

// TestLocalShardsE2E runs examples/ci/local-shards.sh on web13 and web14
// with two shards: every host is pushed, by exactly one shard.
func TestLocalShardsE2E(t *testing.T) {
	const w13, w14 = "web13.app.example.com", "web14.app.example.com"
	lab := labtest.Require(t, w13, w14)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v := newLabVigo(t, ctx, lab, []string{w13, w14}, "")
	reports := t.TempDir()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(ciDir, "local-shards.sh"))
	cmd.Env = append(v.env, "SHARDS=2", "REPORT_DIR="+reports, "VIGOCLI="+v.bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(reports, "shard-*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("local-shards.sh: %v\n%s", err, out)
	}
	pushedBy := map[string][]int{}
	for shard := 1; shard <= 2; shard++ {
		b, err := os.ReadFile(filepath.Join(reports, "junit-"+strconv.Itoa(shard)+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		var doc report.JUnitSuites
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, s := range doc.Suites {
			for _, c := range s.Cases {
				if c.Name == "host" {
					pushedBy[c.Classname] = append(pushedBy[c.Classname], shard)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(reports, "report-"+strconv.Itoa(shard)+".html")); err != nil {
			t.Errorf("shard %d wrote no HTML report: %v", shard, err)
		}
	}
	if len(pushedBy) != 2 || len(pushedBy[w13]) != 1 || len(pushedBy[w14]) != 1 || pushedBy[w13][0] == pushedBy[w14][0] {
		t.Errorf("hosts by shard: %v (want web13 and web14 once each, in different shards)\n%s", pushedBy, out)
	}
}
