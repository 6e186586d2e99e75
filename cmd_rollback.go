package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	pathpkg "path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/push"
	"github.com/vigo-sh/vigocli/stockpile"
)

// A rollback is a push of the host's docker_container resources with the
// image of an earlier deployment recorded on the host (see
// executors.LabelHistory): the rest of each container's spec, its
// secrets included, comes from the current stockpile, the secret
// references resolved afresh, because the history never holds a secret
// value. It goes through push's engine: batches, locks, health gates and
// renderers are the push's.

func envoysRollbackCommand() *cli.Command {
	flags := append(sharedFlags(), selectFlags()...)
	flags = append(flags, rolloutFlags()...)
	flags = append(flags, boundsFlags(defaultHostTimeout)...)
	flags = append(flags,
		&cli.StringFlag{Name: "to", Usage: "the earlier deployment: `N` (1 the one before the current, up to " + fmt.Sprint(executors.HistoryLimit) + "), or an image reference, tag or image ID", DefaultText: "1"},
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "plan the rollback of every host and show it; changes nothing, takes no lock, runs no health check"},
	)
	return &cli.Command{
		Name:      "rollback",
		Usage:     "put the selected hosts' containers back on an earlier deployment, in batches",
		ArgsUsage: " ",
		Description: "Each container vigo creates records, in its own labels on the host, the last\n" +
			fmt.Sprint(executors.HistoryLimit) + " deployments it replaced (image reference, image ID, spec hash, time,\n" +
			"run ID; never a secret value). rollback recreates each docker_container of the\n" +
			"selected hosts with the image of the earlier deployment --to names (default:\n" +
			"the one before the current); the rest of the spec and the secrets come from\n" +
			"the current stockpile, the secrets resolved afresh. The image must still be\n" +
			"on the host (nothing is pulled). Batches, locks, health checks and the\n" +
			"envoys' rollout policy apply as for push. The stockpile is not edited: the\n" +
			"output says what to change for the rollback to outlive the next push.\n" +
			"Exit codes: as push (2: some host failed or had nothing to roll back to).",
		Flags:  flags,
		Action: runRollback,
	}
}

func runRollback(c *cli.Context) error {
	dryRun := c.Bool("dry-run")
	cv, opts, err := startRollout(c, "rollback", dryRun)
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	hints := &rollbackHints{}
	job := push.RollbackJob(cv.conv, push.RollbackOptions{To: c.String("to"), RolledBack: hints.add})
	rerr := runRollout(c, cv.inv, cv.hosts, job, opts, cv.masker)
	w := c.App.Writer
	if format != "text" {
		w = c.App.ErrWriter
	}
	mw := cv.masker.Writer(w)
	hints.write(mw, cv.sp, dryRun)
	mw.Close()
	return rerr
}

// newRunID names one run of vigo in the labels of the containers it
// creates: UTC time and 4 random bytes.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// rollbackHints remember what each container went back to, to tell the
// operator what to change in the stockpile for it to last.
type rollbackHints struct {
	mu   sync.Mutex
	seen map[string]rollbackHint // by resource ID and image
}

type rollbackHint struct {
	res   desired.Resource
	d     executors.Deployment
	byID  bool // the reference names another image now: pinned by ID
	stock bool // the stockpile (with this run's --var) says d.Image already
	hosts []string
}

// add is a push.RollbackOptions.RolledBack.
func (hs *rollbackHints) add(host string, r desired.Resource, d executors.Deployment, back desired.Resource) {
	byID, stock := back.Fields["image"] != d.Image, r.Fields["image"] == d.Image
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.seen == nil {
		hs.seen = map[string]rollbackHint{}
	}
	k := r.ID() + " " + d.ImageID
	h := hs.seen[k]
	h.stock = stock && (len(h.hosts) == 0 || h.stock)
	h.res, h.d, h.byID = r, d, h.byID || byID
	h.hosts = append(h.hosts, host)
	hs.seen[k] = h
}

// tagVar finds a docker_container's image written as "...:{{ .Vars.NAME }}".
var tagVar = regexp.MustCompile(`:\{\{-?\s*\.Vars\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}$`)

// write says, per container and earlier deployment, how to make the
// rollback permanent: the variable that sets the image's tag (and where
// it is set for those hosts) when the stockpile writes the image so, else
// the image reference.
func (hs *rollbackHints) write(w io.Writer, sp *stockpile.Stockpile, dryRun bool) {
	if hs == nil || len(hs.seen) == 0 {
		return
	}
	keys := make([]string, 0, len(hs.seen))
	for k := range hs.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	verb := "rolled back"
	if dryRun {
		verb = "would roll back"
	}
	for _, k := range keys {
		h := hs.seen[k]
		sort.Strings(h.hosts)
		fmt.Fprintf(w, "%s %s to %s (%s) on %s.\n", verb, h.res.ID(), h.d.Image, shortImageID(h.d.ImageID), strings.Join(h.hosts, ", "))
		_, tag, _ := strings.Cut(lastSegment(h.d.Image), ":")
		switch v, where := imageVar(sp, h.res, h.hosts); {
		case h.stock && !h.byID:
			fmt.Fprintf(w, "  the stockpile already says %s: a push without --var overrides keeps it.\n", h.d.Image)
		case h.byID:
			fmt.Fprintf(w, "  %s now names another image: to keep this one, pin the image by digest in %s.\n", h.d.Image, posText(sp, h.res.Pos))
		case v != "" && tag != "":
			fmt.Fprintf(w, "  to make it permanent: set %s: %s%s (the next push deploys the stockpile's image again).\n", v, tag, where)
		default:
			fmt.Fprintf(w, "  to make it permanent: set the image of %s to %s in %s (the next push deploys the stockpile's image again).\n", h.res.ID(), h.d.Image, posText(sp, h.res.Pos))
		}
	}
}

// imageVar names the variable that sets the tag of r's image, and where
// (the envoy file of the hosts that sets it, or the module's default).
func imageVar(sp *stockpile.Stockpile, r desired.Resource, hosts []string) (string, string) {
	var raw string
	for _, m := range sp.Modules {
		for _, sr := range m.Resources {
			if sr.ID() == r.ID() {
				if v := sr.Field("image"); v != nil {
					raw = v.Str
				}
			}
		}
	}
	m := tagVar.FindStringSubmatch(raw)
	if m == nil {
		return "", ""
	}
	name := m[1]
	files := map[string]bool{}
	for _, e := range sp.Envoys {
		for _, v := range e.Vars {
			if v.Name != name {
				continue
			}
			for _, h := range hosts {
				if ok, _ := pathpkg.Match(e.Match, h); ok {
					files[posText(sp, v.Pos)] = true
				}
			}
		}
	}
	if len(files) == 0 {
		return name, " in the module's vars or an envoy of these hosts"
	}
	var fs []string
	for f := range files {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return name, " in " + strings.Join(fs, ", ")
}

func posText(sp *stockpile.Stockpile, p stockpile.Pos) string {
	f := p.File
	if rel, err := filepath.Rel(sp.Dir, f); err == nil && !strings.HasPrefix(rel, "..") {
		f = rel
	}
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", f, p.Line)
	}
	return f
}

func lastSegment(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
