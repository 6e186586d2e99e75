package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/vigo-sh/vigocli/event"
)

// JUnit XML, in the shape Jenkins, GitLab and GitHub test reporters read:
// one test suite for the run, one test case per host and resource
// (classname = host), plus a case per host for what happens outside its
// resources (connection, lock, health check).

type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

type JUnitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []JUnitCase `xml:"testcase"`
}

type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitMessage `xml:"failure,omitempty"`
	Error     *JUnitMessage `xml:"error,omitempty"`
	Skipped   *JUnitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type JUnitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// clean makes the case's text inert and valid XML 1.0, which has no
// place for most control characters (encoding/xml would turn them into
// U+FFFD, losing what they were): they are written as visible escapes,
// like on the terminal.
func (c *JUnitCase) clean() {
	c.Name, c.Classname, c.SystemOut = Clean(c.Name), Clean(c.Classname), CleanLines(c.SystemOut)
	for _, m := range []*JUnitMessage{c.Failure, c.Error, c.Skipped} {
		if m != nil {
			m.Message, m.Type, m.Text = Clean(m.Message), Clean(m.Type), CleanLines(m.Text)
		}
	}
}

func secs(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// WriteJUnit writes the run as JUnit XML. Unreachable hosts are errors,
// failed resources and health checks failures, hosts never started
// skipped.
func WriteJUnit(w io.Writer, run *Run) error {
	name := "vigocli " + run.Command
	suite := JUnitSuite{Name: name, Time: secs(run.Duration.Milliseconds())}
	if !run.Started.IsZero() {
		suite.Timestamp = run.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, h := range run.Hosts {
		for _, r := range h.Resources {
			c := JUnitCase{Name: r.Name, Classname: h.Name, Time: secs(r.Duration.Milliseconds())}
			text := withReason(r.Action, r.Reason)
			if len(r.Diff) > 0 {
				text += "\n" + strings.Join(event.Lines(r.Diff), "\n")
			}
			switch r.Status {
			case "failed":
				c.Failure = &JUnitMessage{Message: r.Error, Type: "failed", Text: text}
			case "skipped":
				c.Skipped = &JUnitMessage{Message: withReason("skipped", r.Reason)}
			default:
				c.SystemOut = r.Status + ": " + text
			}
			suite.Cases = append(suite.Cases, c)
		}
		// The host's own case: connection, lock, secrets, health check.
		c := JUnitCase{Name: "host", Classname: h.Name, Time: secs(h.Duration.Milliseconds())}
		var out []string
		for _, a := range h.Health {
			s := fmt.Sprintf("health check attempt %d: ok=%v", a.Attempt, a.OK)
			if a.Error != "" {
				s += ": " + a.Error
			}
			out = append(out, s)
		}
		out = append(out, h.Lock...)
		for _, l := range h.Output {
			out = append(out, l.Stream+": "+l.Line)
		}
		c.SystemOut = strings.Join(out, "\n")
		resFailed := false
		for _, r := range h.Resources {
			resFailed = resFailed || r.Status == "failed"
		}
		switch h.Status {
		case "unreachable", "refused":
			c.Error = &JUnitMessage{Message: h.Error, Type: h.Status}
		case "failed":
			if !resFailed {
				c.Failure = &JUnitMessage{Message: h.Error, Type: "failed"}
			}
		case "skipped":
			c.Skipped = &JUnitMessage{Message: withReason("skipped", h.Reason)}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Name = Clean(suite.Name)
	for i := range suite.Cases {
		suite.Cases[i].clean()
	}
	name = suite.Name
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := JUnitSuites{Name: name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []JUnitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
