package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/event"
)

// WriteHTML writes the run (a push, its dry run, a task or a drift check)
// as one self-contained HTML page: a summary, a timeline of the hosts, and
// per host its resources with action, reason, differing fields and
// timings, its health checks, lock waits and output. Everything is inline
// (CSS, no script, no image, no font, no link to fetch), so the file can
// be archived as a CI artifact and opened offline.
//
// It reads the same Run as the JSON and JUnit renderers, built from
// events that the masker has already seen; html/template escapes every
// value, and Clean makes control characters from hosts visible.
func WriteHTML(w io.Writer, run *Run, exitCode int) error {
	return htmlPage.Execute(w, newHTMLView(run, exitCode))
}

type htmlView struct {
	Title     string
	Command   string
	DryRun    bool
	Started   string
	Duration  string
	ExitCode  int
	Halted    string
	Batches   int
	HostCount int
	ByStatus  []htmlCount
	Steps     Counts
	Hosts     []htmlHost
	Warnings  []string
}

type htmlCount struct {
	Status string
	N      int
}

type htmlHost struct {
	Anchor    string
	Name      string
	Batch     int
	Status    string
	Duration  string
	Error     string
	Reason    string
	Counts    Counts
	Resources []htmlResource
	Health    []htmlHealth
	Lock      []string
	Output    []string
	Phases    []htmlPhase
	// Timeline bar, in percent of the run's duration.
	Left, Width float64
}

type htmlResource struct {
	N        int
	Name     string
	Type     string
	Status   string
	Shown    string // the status as read: "would change" in a dry run
	Action   string
	Reason   string
	Diff     []string
	Error    string
	Duration string
}

type htmlHealth struct {
	Attempt  int
	OK       bool
	Duration string
	Error    string
}

type htmlPhase struct {
	Name     string
	Duration string
	Percent  float64
}

// phaseOrder is the order a host goes through its phases.
var phaseOrder = []string{"connect", "lock", "observe", "plan", "gate", "apply", "health", "release"}

func newHTMLView(run *Run, exitCode int) htmlView {
	steps, byStatus := run.Summary()
	what := run.Command
	if what == "" {
		what = "push"
	}
	v := htmlView{
		Command: Clean(what), DryRun: run.DryRun, ExitCode: exitCode, Halted: Clean(run.Halted),
		Batches: run.Batches, HostCount: len(run.Hosts), Steps: steps, Duration: Dur(run.Duration),
	}
	v.Title = "vigocli " + v.Command
	if run.DryRun {
		v.Title += " (dry run)"
	}
	if !run.Started.IsZero() {
		v.Started = run.Started.UTC().Format(time.RFC3339)
	}
	for _, c := range []htmlCount{{event.StatusOK, byStatus.OK}, {event.StatusChanged, byStatus.Changed}, {event.StatusRan, byStatus.Ran},
		{event.StatusFailed, byStatus.Failed}, {event.StatusRolledBack, byStatus.RolledBack}, {event.StatusUnreachable, byStatus.Unreachable}, {event.StatusRefused, byStatus.Refused}, {event.StatusSkipped, byStatus.Skipped}} {
		if c.N > 0 {
			v.ByStatus = append(v.ByStatus, c)
		}
	}
	total := run.Duration
	for _, h := range run.Hosts {
		if !h.Started.IsZero() && !run.Started.IsZero() {
			total = max(total, h.Started.Sub(run.Started)+h.Duration)
		}
	}
	for i, h := range run.Hosts {
		hh := htmlHost{
			Anchor: fmt.Sprintf("host-%d", i+1), Name: Clean(h.Name), Batch: h.Batch, Status: Clean(h.Status),
			Duration: Dur(h.Duration), Error: CleanLines(h.Error), Reason: Clean(h.Reason), Counts: h.Counts(),
		}
		if total > 0 && !h.Started.IsZero() && !run.Started.IsZero() {
			hh.Left = pct(h.Started.Sub(run.Started), total)
			hh.Width = max(pct(h.Duration, total), 0.5)
		}
		for j, r := range h.Resources {
			hr := htmlResource{N: j + 1, Name: Clean(r.Name), Type: Clean(r.Type), Status: Clean(r.Status),
				Action: Clean(r.Action), Reason: Clean(r.Reason), Error: CleanLines(r.Error)}
			hr.Shown = hr.Status
			if run.DryRun && r.Status == event.StatusChanged {
				hr.Shown = "would change"
			}
			if r.Duration > 0 {
				hr.Duration = Dur(r.Duration)
			}
			for _, c := range r.Diff {
				hr.Diff = append(hr.Diff, Clean(c.String()))
			}
			hh.Resources = append(hh.Resources, hr)
		}
		for _, a := range h.Health {
			hh.Health = append(hh.Health, htmlHealth{Attempt: a.Attempt, OK: a.OK, Duration: Dur(a.Duration), Error: CleanLines(a.Error)})
		}
		for _, l := range h.Lock {
			hh.Lock = append(hh.Lock, Clean(l))
		}
		for _, l := range h.Output {
			hh.Output = append(hh.Output, Clean(l.Stream+": "+l.Line))
		}
		hh.Phases = phases(h.Phases)
		v.Hosts = append(v.Hosts, hh)
	}
	for _, w := range run.Warnings {
		v.Warnings = append(v.Warnings, CleanLines(w))
	}
	return v
}

// phases lists a host's phases in the order it went through them (phases
// the engine does not know come last, by name).
func phases(m map[string]time.Duration) []htmlPhase {
	var sum time.Duration
	for _, d := range m {
		sum += d
	}
	var names []string
	for _, n := range phaseOrder {
		if _, ok := m[n]; ok {
			names = append(names, n)
		}
	}
	var extra []string
	for n := range m {
		known := false
		for _, k := range phaseOrder {
			known = known || k == n
		}
		if !known {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	var out []htmlPhase
	for _, n := range append(names, extra...) {
		p := htmlPhase{Name: Clean(n), Duration: Dur(m[n])}
		if sum > 0 {
			p.Percent = pct(m[n], sum)
		}
		out = append(out, p)
	}
	return out
}

func pct(d, total time.Duration) float64 {
	if total <= 0 {
		return 0
	}
	p := float64(d) / float64(total) * 100
	return float64(int(p*10)) / 10 // one decimal: stable output
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": strings.Join,
	"css":  func(f float64) template.CSS { return template.CSS(fmt.Sprintf("%.1f%%", f)) },
}).Parse(htmlTemplate))

// The page uses only inline CSS: no script, no external resource.
const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .4em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; }
th, td { text-align: left; vertical-align: top; padding: .25em .5em; border-bottom: 1px solid #eee; }
th { background: #f5f5f7; font-weight: 600; }
pre, code { font: 12px/1.35 ui-monospace, monospace; margin: 0; white-space: pre-wrap; word-break: break-all; }
.meta { color: #555; }
.badge { display: inline-block; padding: 0 .5em; border-radius: .8em; font-size: .85em; font-weight: 600; }
.ok { background: #d8f5dc; color: #14532d; }
.changed, .drifted { background: #fff1c2; color: #713f12; }
.failed, .refused { background: #fde0e0; color: #7f1d1d; }
.unreachable { background: #f3d9fa; color: #581c87; }
.skipped, .pending, .running, .none { background: #eceff3; color: #374151; }
.timeline { position: relative; height: 1.3em; background: #f5f5f7; border-radius: 3px; min-width: 12em; }
.timeline span { position: absolute; top: 0; bottom: 0; border-radius: 3px; }
.phases { display: flex; height: .9em; min-width: 12em; border-radius: 3px; overflow: hidden; background: #f5f5f7; }
.phases span { display: block; height: 100%; }
.p-connect { background: #93c5fd; } .p-lock { background: #c4b5fd; } .p-observe { background: #86efac; }
.p-plan { background: #fde68a; } .p-gate { background: #fca5a5; } .p-apply { background: #fdba74; }
.p-health { background: #67e8f9; } .p-release { background: #d1d5db; }
.legend span { display: inline-block; width: .8em; height: .8em; margin: 0 .2em 0 .8em; vertical-align: middle; }
.error { color: #991b1b; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{if .Started}}started {{.Started}} · {{end}}{{.HostCount}} host{{if ne .HostCount 1}}s{{end}} in {{.Batches}} batch{{if ne .Batches 1}}es{{end}} · wall time {{.Duration}} · exit code {{.ExitCode}}</p>
<p>{{range .ByStatus}}<span class="badge {{.Status}}">{{.N}} {{.Status}}</span> {{end}}</p>
<p class="meta">resources: {{.Steps.OK}} ok, {{.Steps.Changed}} {{if .DryRun}}would change{{else}}changed{{end}}, {{.Steps.Failed}} failed, {{.Steps.Skipped}} skipped</p>
{{if .Halted}}<p class="error">rollout stopped: {{.Halted}}</p>{{end}}
{{if .Warnings}}<h2>Warnings</h2><ul>{{range .Warnings}}<li><pre>{{.}}</pre></li>{{end}}</ul>{{end}}

<h2>Hosts</h2>
<table>
<tr><th>host</th><th>batch</th><th>status</th><th>time</th><th>ok</th><th>changed</th><th>failed</th><th>skipped</th><th>timeline</th></tr>
{{range .Hosts}}<tr>
<td><a href="#{{.Anchor}}">{{.Name}}</a></td><td>{{if .Batch}}{{.Batch}}{{else}}-{{end}}</td><td><span class="badge {{.Status}}">{{.Status}}</span></td><td>{{.Duration}}</td>
<td>{{.Counts.OK}}</td><td>{{.Counts.Changed}}</td><td>{{.Counts.Failed}}</td><td>{{.Counts.Skipped}}</td>
<td><div class="timeline"><span class="{{.Status}}" style="left: {{css .Left}}; width: {{css .Width}}"></span></div></td>
</tr>
{{end}}</table>
<p class="meta legend">phases:<span class="p-connect"></span>connect<span class="p-lock"></span>lock<span class="p-observe"></span>observe<span class="p-plan"></span>plan<span class="p-gate"></span>gate<span class="p-apply"></span>apply<span class="p-health"></span>health</p>

{{range .Hosts}}<section id="{{.Anchor}}">
<h2>{{.Name}} <span class="badge {{.Status}}">{{.Status}}</span></h2>
<p class="meta">batch {{.Batch}} · {{.Duration}}{{range .Phases}} · {{.Name}} {{.Duration}}{{end}}</p>
{{if .Phases}}<div class="phases">{{range .Phases}}<span class="p-{{.Name}}" style="width: {{css .Percent}}" title="{{.Name}} {{.Duration}}"></span>{{end}}</div>{{end}}
{{if .Error}}<div class="error"><pre>{{.Error}}</pre></div>{{end}}
{{if .Reason}}<p class="meta">{{.Reason}}</p>{{end}}
{{if .Resources}}<table>
<tr><th>#</th><th>resource</th><th>type</th><th>status</th><th>action</th><th>reason and differing fields</th><th>time</th></tr>
{{range .Resources}}<tr>
<td>{{.N}}</td><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td><span class="badge {{.Status}}">{{.Shown}}</span></td><td>{{.Action}}</td>
<td>{{.Reason}}{{if .Diff}}<pre>{{join .Diff "\n"}}</pre>{{end}}{{if .Error}}<pre class="error">{{.Error}}</pre>{{end}}</td><td>{{.Duration}}</td>
</tr>
{{end}}</table>{{end}}
{{if .Health}}<table><tr><th>health check</th><th>result</th><th>time</th></tr>
{{range .Health}}<tr><td>attempt {{.Attempt}}</td><td>{{if .OK}}<span class="badge ok">passed</span>{{else}}<span class="badge failed">failed</span> <pre>{{.Error}}</pre>{{end}}</td><td>{{.Duration}}</td></tr>
{{end}}</table>{{end}}
{{if .Lock}}<p class="meta">lock:</p><pre>{{join .Lock "\n"}}</pre>{{end}}
{{if .Output}}<p class="meta">output:</p><pre>{{join .Output "\n"}}</pre>{{end}}
</section>
{{end}}
<p class="meta">written by vigocli</p>
</body>
</html>
`
