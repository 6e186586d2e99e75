package executors

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/secrets"
)

// Plan decides the container's step from what was observed.
func (s *containerSpec) Plan(o *State) Step {
	c := o.Containers[s.Name]
	leftover := s.leftover(o)
	if s.State == "absent" {
		if c == nil {
			if leftover != "" {
				return Step{Action: ActionCleanup, Reason: "absent; leftover " + leftover + " of an interrupted push",
					Diff: []Change{leftoverChange(leftover)}}
			}
			return Step{Action: ActionNone, Reason: "absent"}
		}
		return Step{Action: ActionRemove, Reason: "exists, absent wanted", Diff: []Change{{Field: "state", From: c.State.Status, To: "absent"}}}
	}
	img := o.Images[s.Image]
	if c == nil {
		st := Step{Action: ActionCreate, Reason: "missing"}
		if s.State == "stopped" {
			st.Reason = "missing (created, not started)"
		}
		if img == nil {
			st.Diff = append(st.Diff, Change{Field: "image", To: s.Image, Note: notPresent})
		}
		if leftover != "" {
			st.Diff = append(st.Diff, leftoverChange(leftover))
		}
		return st
	}
	diff := s.diff(c, img, o)
	if len(diff) > 0 {
		st := Step{Action: ActionRecreate, Reason: diffReason(diff), Diff: diff}
		if leftover != "" {
			st.Diff = append(st.Diff, leftoverChange(leftover))
		}
		return st
	}
	switch {
	case s.State == "running" && !c.State.Running:
		return Step{Action: ActionStart, Reason: c.State.Status, Diff: []Change{{Field: "state", From: c.State.Status, To: "running"}}}
	case s.State == "stopped" && c.State.Running:
		return Step{Action: ActionStop, Reason: "running, stopped wanted", Diff: []Change{{Field: "state", From: "running", To: "stopped"}}}
	case leftover != "":
		// The container itself is right: only the leftover goes.
		return Step{Action: ActionCleanup, Reason: "matches " + shortID(c.ID) + "; leftover " + leftover + " of an interrupted push",
			Diff: []Change{leftoverChange(leftover)}}
	}
	reason := "matches, " + c.State.Status + " " + shortID(c.ID)
	if h := c.Config.Labels[LabelSpecHash]; h != s.hash {
		// Declared differently, configured the same (e.g. an env var now
		// declared with the image's own value): nothing to recreate.
		reason += fmt.Sprintf("; spec written differently (%s %s -> %s), configuration equal", LabelSpecHash, short(h), short(s.hash))
	}
	return Step{Action: ActionNone, Reason: reason}
}

// notPresent notes an image the plan pulls before creating the container.
const notPresent = "not present on the host: pulled first"

// leftoverChange is the removal of the temporary container an
// interrupted recreate left.
func leftoverChange(name string) Change {
	return Change{Field: "leftover", Subject: name + " of an interrupted push", Note: "removed"}
}

func (s *containerSpec) leftover(o *State) string {
	name, _ := s.leftoverID(o)
	return name
}

// leftoverID finds the temporary container of an interrupted recreate in
// the container list (by exact name) and returns its name and ID.
func (s *containerSpec) leftoverID(o *State) (string, string) {
	for _, c := range o.List {
		if c.Name() == s.Name+tempSuffix {
			return c.Name(), c.ID
		}
	}
	return "", ""
}

// diff lists the fields in which the container differs from the spec.
// Undeclared fields are compared with the defaults of the image the
// container was created from, so that what only the image sets is not a
// difference, and a field removed from the spec is.
func (s *containerSpec) diff(c *Container, img *Image, o *State) []Change {
	var d []Change
	base := o.ImagesByID[c.Image] // the container's own image
	if base == nil {
		base = img
	}
	if base == nil {
		base = &Image{}
	}
	// image, by ID
	switch {
	case img == nil && normalizeRef(c.Config.Image) != s.Image:
		ch := imageChange(c.Config.Image, c.Image, s.Image, "")
		ch.Note = notPresent
		d = append(d, ch)
	case img == nil:
		d = append(d, Change{Field: "image", To: s.Image, Note: notPresent})
	case img.ID != c.Image:
		d = append(d, imageChange(c.Config.Image, c.Image, s.Image, img.ID))
	}
	// ports
	if got := observedPorts(c); !sameStrings(got, s.Ports) {
		d = append(d, Change{Field: "ports", From: portList(got), To: portList(s.Ports)})
	}
	// command and entrypoint
	wantEntry := base.Config.Entrypoint
	if s.HasEntrypoint {
		wantEntry = s.Entrypoint
	}
	// The engine's rule: without an entrypoint (nil, not [""]), an empty
	// command is the image's; a declared entrypoint drops the image's
	// command.
	wantCmd := base.Config.Cmd
	switch {
	case s.HasCommand && (len(s.Command) > 0 || s.HasEntrypoint):
		wantCmd = s.Command
	case s.HasEntrypoint:
		wantCmd = nil
	}
	if !sameStrings(c.Config.Entrypoint, wantEntry) {
		d = append(d, Change{Field: "entrypoint", From: argvText(c.Config.Entrypoint), To: argvText(wantEntry)})
	}
	if !sameStrings(c.Config.Cmd, wantCmd) {
		d = append(d, Change{Field: "command", From: argvText(c.Config.Cmd), To: argvText(wantCmd)})
	}
	// environment
	d = append(d, s.envDiff(c, base)...)
	// restart policy
	if got := observedRestart(c.HostConfig.RestartPolicy); got != s.RestartPolicy {
		d = append(d, Change{Field: "restart_policy", From: got, To: s.RestartPolicy})
	}
	// volumes
	var binds []string
	for _, b := range c.HostConfig.Binds {
		if nb, err := normalizeVolume(b); err == nil {
			binds = append(binds, nb)
		} else {
			binds = append(binds, b)
		}
	}
	sort.Strings(binds)
	if !reflect.DeepEqual(nonNil(binds), nonNil(s.Volumes)) {
		d = append(d, Change{Field: "volumes", From: bracketList(binds), To: bracketList(s.Volumes)})
	}
	// networks
	gotNets := sortedKeys(c.NetworkSettings.Networks)
	wantNets := append([]string(nil), s.Networks...)
	if len(wantNets) == 0 {
		wantNets = []string{"bridge"}
	}
	sort.Strings(wantNets)
	if len(gotNets) > 0 && !reflect.DeepEqual(gotNets, uniq(wantNets)) {
		d = append(d, Change{Field: "networks", From: bracketList(gotNets), To: bracketList(wantNets)})
	} else {
		d = append(d, s.aliasDiff(c)...)
	}
	// labels
	d = append(d, labelDiff("labels", s.Labels, c.Config.Labels, func(k, v string) bool {
		iv, ok := base.Config.Labels[k]
		return ok && iv == v
	})...)
	// user, working_dir, hostname
	if want := orDefault(s.User, base.Config.User); c.Config.User != want {
		d = append(d, Change{Field: "user", From: strconv.Quote(c.Config.User), To: strconv.Quote(want)})
	}
	if want := orDefault(s.WorkingDir, base.Config.WorkingDir); c.Config.WorkingDir != want {
		d = append(d, Change{Field: "working_dir", From: strconv.Quote(c.Config.WorkingDir), To: strconv.Quote(want)})
	}
	// An undeclared hostname is the engine's default: the short container ID
	// (on the host network, the host's own name: not compared).
	wantHost := s.Hostname
	if wantHost == "" && len(c.ID) >= 12 && c.HostConfig.NetworkMode != "host" {
		wantHost = c.ID[:12]
	}
	if wantHost != "" && c.Config.Hostname != wantHost {
		d = append(d, Change{Field: "hostname", From: strconv.Quote(c.Config.Hostname), To: strconv.Quote(wantHost)})
	}
	// healthcheck
	wantHC := base.Config.Healthcheck
	if s.Healthcheck != nil {
		wantHC = inheritHealthcheck(s.Healthcheck, base.Config.Healthcheck)
	}
	if !sameHealthcheck(c.Config.Healthcheck, wantHC) {
		d = append(d, Change{Field: "healthcheck", From: hcText(c.Config.Healthcheck), To: hcText(wantHC)})
	}
	// Ownership: a container vigo did not create is replaced, even when it
	// looks right (its history is unknown: e.g. made with other flags).
	if !owned(c.Config.Labels) {
		d = append(d, Change{Field: "labels." + LabelManaged, Note: "missing: container not created by vigo"})
	}
	return d
}

// envDiff compares the environment. Observed values are never shown (a
// change has no From): a variable's old value may have been a secret; a
// secret's new value is shown as its reference.
func (s *containerSpec) envDiff(c *Container, base *Image) []Change {
	got := envMap(c.Config.Env)
	img := envMap(base.Config.Env)
	var d []Change
	for _, k := range sortedKeys(s.Env) {
		want := s.Env[k]
		if path, ok := secrets.Ref(want); ok {
			v, has := got[k]
			switch {
			case !has:
				d = append(d, Change{Field: "environment." + k, To: "secret:" + path, Note: "added"})
			case v != s.secretVals[k]:
				d = append(d, Change{Field: "environment." + k, To: "secret:" + path, Note: "changed"})
			}
			continue
		}
		v, has := got[k]
		switch {
		case !has:
			d = append(d, Change{Field: "environment." + k, To: want, Note: "added"})
		case v != want:
			d = append(d, Change{Field: "environment." + k, To: want, Note: "changed"})
		}
	}
	for _, k := range sortedKeys(got) {
		if _, declared := s.Env[k]; declared {
			continue
		}
		if v, ok := img[k]; ok && v == got[k] {
			continue // the image's own default
		}
		if _, imageHas := img["PATH"]; k == "PATH" && !imageHas {
			continue // the daemon's default PATH for an image without one
		}
		if v, ok := img[k]; ok {
			d = append(d, Change{Field: "environment." + k, To: v, Note: "image default restored"})
			continue
		}
		d = append(d, Change{Field: "environment." + k, Note: "removed"})
	}
	return d
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// imageChange describes an image difference: a tag change on the same
// repository as "REPO OLD -> NEW", the same reference now pointing at
// another image by IDs.
func imageChange(oldRef, oldID, newRef, newID string) Change {
	oldRef = normalizeRef(oldRef)
	if oldRef == newRef {
		return Change{Field: "image", Subject: newRef, From: shortID(oldID), To: shortID(newID)}
	}
	or, ot := splitRef(oldRef)
	nr, nt := splitRef(newRef)
	if or == nr {
		return Change{Field: "image", Subject: nr, From: ot, To: nt}
	}
	return Change{Field: "image", From: oldRef, To: newRef}
}

func splitRef(ref string) (string, string) {
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if hasTag(ref) {
		i := strings.LastIndexByte(ref, ':')
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func portList(ps []string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = portText(p)
	}
	return bracketList(out)
}

// bracketList is a list as a change shows it: [a b c].
func bracketList(l []string) string { return "[" + strings.Join(l, " ") + "]" }

// sameStrings compares argv-like lists; nil, [] and [""] (how an empty
// entrypoint is sent and recorded) are all empty.
func sameStrings(a, b []string) bool {
	if isEmptyArgv(a) && isEmptyArgv(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func isEmptyArgv(a []string) bool {
	return len(a) == 0 || len(a) == 1 && a[0] == ""
}

// inheritHealthcheck is what the engine records for a declared
// healthcheck: zero interval, timeout, start period, start interval and
// retries are taken from the image's healthcheck.
func inheritHealthcheck(want, image *Healthcheck) *Healthcheck {
	hc := *want
	if image == nil {
		return &hc
	}
	if hc.Interval == 0 {
		hc.Interval = image.Interval
	}
	if hc.Timeout == 0 {
		hc.Timeout = image.Timeout
	}
	if hc.StartPeriod == 0 {
		hc.StartPeriod = image.StartPeriod
	}
	if hc.StartInterval == 0 {
		hc.StartInterval = image.StartInterval
	}
	if hc.Retries == 0 {
		hc.Retries = image.Retries
	}
	return &hc
}

func argvText(a []string) string {
	if a == nil {
		return "(none)"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func sameHealthcheck(a, b *Healthcheck) bool {
	if a == nil || len(a.Test) == 0 {
		return b == nil || len(b.Test) == 0
	}
	if b == nil {
		return false
	}
	return reflect.DeepEqual(*a, *b)
}

func hcText(h *Healthcheck) string {
	if h == nil || len(h.Test) == 0 {
		return "(none)"
	}
	s := argvText(h.Test)
	if h.Interval > 0 {
		s += " interval " + h.Interval.String()
	}
	if h.Timeout > 0 {
		s += " timeout " + h.Timeout.String()
	}
	if h.Retries > 0 {
		s += " retries " + strconv.Itoa(h.Retries)
	}
	if h.StartPeriod > 0 {
		s += " start_period " + h.StartPeriod.String()
	}
	if h.StartInterval > 0 {
		s += " start_interval " + h.StartInterval.String()
	}
	return s
}

func short(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
