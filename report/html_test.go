package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/event"
	"github.com/vigo-sh/vigocli/secrets"
)

func sampleHTML(t *testing.T) []byte {
	t.Helper()
	c := NewCollector()
	feed(c)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c.Run(), 2); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTMLGolden(t *testing.T) {
	b := sampleHTML(t)
	noCanary(t, "HTML report", b)
	golden(t, "report.html", b)
}

// TestHTMLStructure checks what the golden file cannot say by itself: the
// page is balanced, fetches nothing, and shows every host and resource
// with its status and timings.
func TestHTMLStructure(t *testing.T) {
	b := sampleHTML(t)
	s := string(b)
	checkBalanced(t, s)
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(s, bad) {
			t.Errorf("report contains %q: it must be self-contained", bad)
		}
	}
	for _, want := range []string{
		"web4.app.example.com", "web5.app.example.com", "web6.app.example.com", "web7.app.example.com",
		"<code>app-container</code>", "<code>redis-image</code>", "<code>compose-file</code>",
		`<span class="badge unreachable">unreachable</span>`, `<span class="badge failed">failed</span>`,
		"image: v2.1.0 -&gt; v2.2.0", // the diff, escaped
		"1.2s",                       // the recreate's time
		"exit code 2",
		"rollout stopped: 1 host(s) failed by batch 2",
		"waiting: held by alice@laptop",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(s, "<section "); n != 4 {
		t.Errorf("%d host sections, want 4", n)
	}
}

var tagRE = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>`)

var voidTags = map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true}

// checkBalanced fails when an element is not closed, or closed out of
// order.
func checkBalanced(t *testing.T, s string) {
	t.Helper()
	var stack []string
	for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
		closing, name := m[1] == "/", strings.ToLower(m[2])
		if voidTags[name] || m[3] == "/" {
			continue
		}
		if !closing {
			stack = append(stack, name)
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1] != name {
			t.Fatalf("</%s> closes %v", name, stack)
		}
		stack = stack[:len(stack)-1]
	}
	if len(stack) > 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
}

// TestHTMLEscapesAndMasks: text from hosts cannot inject markup, and a
// secret holding HTML's special characters is masked before it is
// escaped (the masker sits in front of the collector, as in the CLI).
func TestHTMLEscapesAndMasks(t *testing.T) {
	const secret = `pa<ss>&"wo'rd-CANARY-7d1`
	m := secrets.NewMasker()
	m.Add(secret)
	c := NewCollector()
	s := m.Sink(c)
	s.Emit(event.Event{Time: t0, Kind: event.RunStarted, Hosts: []string{"h1"}, Batches: 1, Command: "push"})
	s.Emit(event.Event{Time: t0, Kind: event.ResourceFailed, Host: "h1", Resource: "<script>alert(1)</script>", Type: "file",
		Action: "write", Error: "write failed: " + secret + "\x1b[2J"})
	s.Emit(event.Event{Time: t0, Kind: event.HostFinished, Host: "h1", Status: "failed", Error: secret})
	var buf bytes.Buffer
	w := m.Writer(&buf)
	if err := WriteHTML(w, c.Run(), 2); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out := buf.String()
	for _, leak := range []string{secret, "pa&lt;ss&gt;&amp;", "CANARY-7d1", "<script>", "\x1b"} {
		if strings.Contains(out, leak) {
			t.Errorf("report contains %q", leak)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;") || !strings.Contains(out, `\x1b[2J`) {
		t.Errorf("report does not show the escaped markup and the visible escape:\n%s", out)
	}
}

// TestHTMLInHeadlessChromium opens the report in a real browser: it must
// render with no network, and the screenshot must hold a page, not a
// blank or an error page. Set VIGO_HTML_SCREENSHOT=FILE to keep it.
func TestHTMLInHeadlessChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium on PATH (apt-get install chromium): the HTML report is not opened in a browser")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, sampleHTML(t), 0o600); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,1000"}
		cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", browser, args, err, stderr.Bytes())
		}
		return out
	}
	// The DOM after parsing: every host and resource is there.
	dom := string(run("--dump-dom", "file://"+page))
	for _, want := range []string{"web4.app.example.com", "web7.app.example.com", "app-container", "redis-image"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the browser's DOM lacks %q", want)
		}
	}
	run("--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot is %v", b)
	}
	if n := colours(img); n < 8 {
		t.Errorf("screenshot has %d colours: a blank page", n)
	}
	if keep := os.Getenv("VIGO_HTML_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}

// TestHTMLPhases: a host's phases are drawn in the order it goes through
// them, unknown ones last, each bar as wide as its share.
func TestHTMLPhases(t *testing.T) {
	c := NewCollector()
	c.Emit(event.Event{Time: t0, Kind: event.RunStarted, Hosts: []string{"h1"}, Batches: 1, Command: "push"})
	c.Emit(event.Event{Time: t0, Kind: event.HostStarted, Host: "h1", Batch: 1})
	c.Emit(event.Event{Time: at(1), Kind: event.HostFinished, Host: "h1", Batch: 1, Status: "ok", Duration: time.Second,
		Phases: map[string]time.Duration{"zeta": 100 * time.Millisecond, "apply": 600 * time.Millisecond, "connect": 300 * time.Millisecond}})
	c.Emit(event.Event{Time: at(1), Kind: event.RunFinished, Duration: time.Second})
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c.Run(), 0); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	want := `<span class="p-connect" style="width: 30.0%" title="connect 300ms"></span>` +
		`<span class="p-apply" style="width: 60.0%" title="apply 600ms"></span>` +
		`<span class="p-zeta" style="width: 10.0%" title="zeta 100ms"></span>`
	if !strings.Contains(s, want) {
		t.Errorf("phases bar not as expected; page:\n%s", s)
	}
	if !strings.Contains(s, "connect 300ms · apply 600ms · zeta 100ms") {
		t.Error("phase timings not listed in order")
	}
	if !strings.Contains(s, `style="left: 0.0%; width: 100.0%"`) {
		t.Error("the host's timeline bar does not span the run")
	}
}
