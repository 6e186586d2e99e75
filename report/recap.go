package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/vigo-sh/vigocli/event"
)

// WriteRecap prints the final recap, like Ansible's PLAY RECAP: one line
// per host with its counts and time, then the totals and the wall time.
// With colour, statuses are coloured as on the live view. A ran= column
// appears when a task command ran without a way to tell whether it
// changed anything; a run where nothing changed says so.
func WriteRecap(w io.Writer, run *Run, colour bool) {
	width := 0
	for _, h := range run.Hosts {
		width = max(width, len(Clean(h.Name)))
	}
	paint := func(t Tone, s string) string {
		if !colour {
			return s
		}
		return paintTone(t, s)
	}
	title := "RECAP"
	if run.DryRun {
		title += " (dry run: nothing changed)"
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, paint(ToneHeader, title))
	steps, hosts := run.Summary()
	for _, h := range run.Hosts {
		c := h.Counts()
		ran := ""
		if steps.Ran > 0 {
			ran = fmt.Sprintf("ran=%-3d ", c.Ran)
		}
		// refused= only when some host's key was refused: the usual
		// recap keeps Ansible's columns.
		refused := ""
		if hosts.Refused > 0 {
			refused = fmt.Sprintf("refused=%-3d ", c.Refused)
		}
		line := fmt.Sprintf("%-*s : ok=%-3d changed=%-3d %sfailed=%-3d unreachable=%-3d %sskipped=%-3d %s",
			width, Clean(h.Name), c.OK, c.Changed, ran, c.Failed, c.Unreachable, refused, c.Skipped, hostTime(h))
		line = strings.TrimRight(line, " ")
		if h.Status == event.StatusRolledBack {
			line += "  rolled back"
		}
		fmt.Fprintln(w, paint(toneOf(h.Status), line))
	}
	// A refused host key needs the operator: say which and how to fix it
	// (the error carries both fingerprints and the command).
	for _, h := range run.Hosts {
		if h.Status == event.StatusRefused {
			fmt.Fprintln(w, paint(ToneFailed, Clean(h.Name)+": REFUSED: "+Clean(h.Error)))
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{hosts.OK, "ok"}, {hosts.Changed, "changed"}, {hosts.Ran, "ran"}, {hosts.Failed, "failed"}, {hosts.RolledBack, "rolled back"}, {hosts.Unreachable, "unreachable"}, {hosts.Refused, "refused"}, {hosts.Skipped, "skipped"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	summary := strings.Join(parts, ", ")
	switch {
	case hosts.Ran > 0:
		summary += "; ran: whether the command changed anything is unknown (task run --changed-when tells)"
	case !run.DryRun && len(run.Hosts) > 0 && hosts.OK == len(run.Hosts):
		summary += "; nothing changed"
	}
	fmt.Fprintf(w, "%s: %s; wall time %s\n", Plural(len(run.Hosts), "host"), summary, Dur(run.Duration))
	if run.Halted != "" {
		fmt.Fprintln(w, paint(ToneFailed, "rollout stopped: "+Clean(run.Halted)))
	}
}

func hostTime(h *Host) string {
	if h.Status == "skipped" {
		return "-"
	}
	return Dur(h.Duration)
}
