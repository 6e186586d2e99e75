package executors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/desired"
)

// oldContainer is a container vigo created for deployment i, carrying
// history as its label.
func oldContainer(i int, history []Deployment) *Container {
	c := &Container{Image: fmt.Sprintf("sha256:%064d", i)}
	c.Config.Image = fmt.Sprintf("reg/webapp:v%d", i)
	c.Config.Labels = map[string]string{LabelSpecHash: fmt.Sprintf("spec%d", i), LabelRun: fmt.Sprintf("run%d", i),
		LabelDeployed: time.Date(2026, 1, i, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)}
	if h := EncodeHistory(history); h != "" {
		c.Config.Labels[LabelHistory] = h
	}
	return c
}

// Ten recreates in a row keep the last HistoryLimit deployments, newest
// first, each with its image, ID, spec hash, time and run.
func TestHistoryBounded(t *testing.T) {
	var hist []Deployment
	for i := 1; i <= 10; i++ {
		hist = nextHistory(oldContainer(i, hist), Deployment{ImageID: fmt.Sprintf("sha256:%064d", i+1), Spec: fmt.Sprintf("spec%d", i+1)})
		// What the host stores is the label: go through it.
		var err error
		if hist, err = DecodeHistory(EncodeHistory(hist)); err != nil {
			t.Fatal(err)
		}
	}
	if len(hist) != HistoryLimit {
		t.Fatalf("history holds %d entries, want %d: %+v", len(hist), HistoryLimit, hist)
	}
	for j, d := range hist {
		i := 10 - j
		want := Deployment{Image: fmt.Sprintf("reg/webapp:v%d", i), ImageID: fmt.Sprintf("sha256:%064d", i), Spec: fmt.Sprintf("spec%d", i),
			Time: time.Date(2026, 1, i, 0, 0, 0, 0, time.UTC), Run: fmt.Sprintf("run%d", i)}
		if d != want {
			t.Errorf("entry %d = %+v, want %+v", j+1, d, want)
		}
	}
}

// Going back to a version drops it from the history (it is current), and
// the version replaced is first.
func TestHistoryRollbackDropsCurrent(t *testing.T) {
	v1 := oldContainer(1, nil)
	h := nextHistory(v1, Deployment{ImageID: "sha256:" + strings.Repeat("2", 64), Spec: "spec2"})
	v2 := oldContainer(2, h)
	h = nextHistory(v2, deploymentOf(v1))
	if len(h) != 1 || h[0].Image != "reg/webapp:v2" {
		t.Fatalf("history after going back to v1 = %+v, want only v2", h)
	}
}

func TestDecodeHistoryBounds(t *testing.T) {
	if _, err := DecodeHistory(strings.Repeat(" ", maxHistoryLabel+1)); err == nil {
		t.Error("an oversized label was read")
	}
	if _, err := DecodeHistory("{not json"); err == nil {
		t.Error("a garbled label was read")
	}
	var many []Deployment
	for i := range 20 {
		many = append(many, Deployment{ImageID: fmt.Sprint(i)})
	}
	// A host may hold a longer list than vigo writes: only the first
	// HistoryLimit are used.
	long := `[` + strings.Repeat(`{"image_id":"x"},`, 19) + `{"image_id":"x"}]`
	if h, err := DecodeHistory(long); err != nil || len(h) != HistoryLimit {
		t.Errorf("DecodeHistory(20 entries) = %d entries, %v; want %d", len(h), err, HistoryLimit)
	}
	if got := EncodeHistory(many); strings.Count(got, "image_id") != HistoryLimit {
		t.Errorf("EncodeHistory(20 entries) kept %d", strings.Count(got, "image_id"))
	}
}

// A secret environment variable goes into the container's env as its
// value, but neither the history nor any other label of the created
// container holds the value, even after several recreates.
func TestHistoryHoldsNoSecret(t *testing.T) {
	const secret = "s3cr3t-Pa55w0rd-ZZ"
	r := desired.Resource{Name: "app", Type: "docker_container", Fields: map[string]any{
		"container": "webapp", "image": "reg/webapp:v2", "state": "running",
		"environment": map[string]any{"DATABASE_URL": "secret:vigo/webapp/database_url", "PLAIN": "x"},
	}}
	sp, err := Decode(r, Env{Secrets: map[string]string{"vigo/webapp/database_url": secret}, Run: "run9"})
	if err != nil {
		t.Fatal(err)
	}
	s := sp.(*containerSpec)
	// The running container holds the secret in its env (as Docker
	// reports it) and a history of its own.
	old := oldContainer(1, []Deployment{{Image: "reg/webapp:v0", ImageID: "sha256:0", Spec: "spec0"}})
	old.Config.Env = []string{"DATABASE_URL=" + secret, "PLAIN=x"}
	body := s.createBody(nextHistory(old, Deployment{ImageID: "sha256:2", Spec: s.hash}), time.Now())
	if !strings.Contains(strings.Join(body.Env, "\n"), secret) {
		t.Fatal("the container's env lacks the secret: the test proves nothing")
	}
	hist, ok := body.Labels[LabelHistory]
	if !ok || !strings.Contains(hist, "reg/webapp:v1") || !strings.Contains(hist, "reg/webapp:v0") {
		t.Fatalf("history label = %q, want v1 then v0", hist)
	}
	if body.Labels[LabelRun] != "run9" {
		t.Errorf("run label = %q, want run9", body.Labels[LabelRun])
	}
	for k, v := range body.Labels {
		if strings.Contains(v, secret) || strings.Contains(v, "Pa55") {
			t.Errorf("label %s holds the secret value: %q", k, v)
		}
	}
}

func TestPick(t *testing.T) {
	h := History{Container: "webapp", Earlier: []Deployment{
		{Image: "reg/webapp:v2.1.0", ImageID: "sha256:aaaaaaaaaaaabbbb", Spec: "s1"},
		{Image: "reg/webapp:v2.0.0", ImageID: "sha256:ccccccccccccdddd", Spec: "s2"},
	}}
	for to, want := range map[string]string{"": "reg/webapp:v2.1.0", "1": "reg/webapp:v2.1.0", "2": "reg/webapp:v2.0.0",
		"v2.0.0": "reg/webapp:v2.0.0", "reg/webapp:v2.1.0": "reg/webapp:v2.1.0", "cccccccccccc": "reg/webapp:v2.0.0",
		"sha256:ccccccccccccdddd": "reg/webapp:v2.0.0"} {
		d, err := h.Pick(to)
		if err != nil || d.Image != want {
			t.Errorf("Pick(%q) = %s, %v; want %s", to, d.Image, err, want)
		}
	}
	for _, to := range []string{"0", "3", "v9", "ccc"} {
		if d, err := h.Pick(to); err == nil {
			t.Errorf("Pick(%q) = %s, want an error", to, d.Image)
		}
	}
	if _, err := (History{Container: "x"}).Pick(""); err == nil {
		t.Error("Pick on an empty history succeeded")
	}
}

// The plan of a rollback: the recorded host (webapp at v2.1.0) after a
// push of v2.2.0 recorded v2.1.0 in the history; the rollback resource
// is the stockpile's (at v2.2.0) with the history's image.
func TestGoldenRollbackPlan(t *testing.T) {
	st := recorded(t)
	v21, v22 := st.Images[web21], st.Images[web22]
	c := st.Containers["webapp"]
	was := deploymentOf(c)
	c.Image, c.Config.Image = v22.ID, web22
	c.Config.Env = append([]string(nil), c.Config.Env...)
	for i, e := range c.Config.Env {
		if strings.HasPrefix(e, "APP_VERSION=") {
			c.Config.Env[i] = "APP_VERSION=2.2.0"
		}
	}
	c.Config.Labels = map[string]string{LabelManaged: "true", LabelSpecHash: "b6ce6881c54a", LabelResource: "app-container",
		LabelHistory: EncodeHistory([]Deployment{was})}
	if was.ImageID != v21.ID {
		t.Fatalf("fixture: webapp runs %s, want v2.1.0's %s", was.ImageID, v21.ID)
	}
	r := desired.Resource{Name: "app-container", Type: "docker_container", Module: "golden", Fields: webFields("v2.2.0")}
	hist := History{Resource: r, Container: "webapp", Current: &Deployment{ImageID: v22.ID}}
	var err error
	if hist.Earlier, err = DecodeHistory(c.Config.Labels[LabelHistory]); err != nil {
		t.Fatal(err)
	}
	d, err := hist.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Decode(WithImage(r, d.Image), Env{Secrets: goldenSecrets})
	if err != nil {
		t.Fatal(err)
	}
	got := Plan(sp, st).String()
	path := filepath.Join("testdata", "golden", "rollback-to-v2.1.0.txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
