package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/desired"
)

// The deployment history of a container lives in the Docker engine
// itself, in labels of the container vigo created: no file is written on
// the host for it, only root (or the docker group) can read it, and it
// survives the controller and the host rebooting. Each recreate carries
// the replaced container's deployment, and the replaced container's own
// history, into the new container's labels, at most HistoryLimit entries.
//
// It never holds a secret value: an entry is an image reference, an image
// ID, the spec hash (computed over the spec with secrets as references,
// see specHash), a time and a run ID. A rollback takes the image back and
// the rest of the spec, secrets included, from the current stockpile, its
// secret references resolved afresh.
const (
	// LabelHistory holds the JSON list of earlier deployments, newest first.
	LabelHistory = "io.vigo.history"
	// LabelRun is the ID of the run that created the container.
	LabelRun = "io.vigo.run"
	// LabelDeployed is when the container was created (RFC 3339, UTC).
	LabelDeployed = "io.vigo.deployed"
	// HistoryLimit bounds the entries kept per container.
	HistoryLimit = 5
	// maxHistoryLabel bounds the label read from a host (a host may lie).
	maxHistoryLabel = 16 << 10
)

// Deployment is one version of a container vigo deployed.
type Deployment struct {
	Image   string    `json:"image"`         // the reference the container was created from
	ImageID string    `json:"image_id"`      // what the reference pointed to then
	Spec    string    `json:"spec"`          // io.vigo.spec-hash: sha256 of the spec, secrets as references
	Time    time.Time `json:"time,omitzero"` // when the container was created (zero: before vigo recorded it)
	Run     string    `json:"run,omitempty"` // the run that created it
}

// Same says whether d and o are the same version (image and spec).
func (d Deployment) Same(o Deployment) bool { return d.ImageID == o.ImageID && d.Spec == o.Spec }

// deploymentOf is the deployment a container is running, from its own
// labels and image.
func deploymentOf(c *Container) Deployment {
	d := Deployment{Image: c.Config.Image, ImageID: c.Image, Spec: c.Config.Labels[LabelSpecHash], Run: c.Config.Labels[LabelRun]}
	if t, err := time.Parse(time.RFC3339, c.Config.Labels[LabelDeployed]); err == nil {
		d.Time = t
	}
	return d
}

// nextHistory is the history of the container that replaces old and runs
// next: old's deployment first, then old's history, without entries of
// the same version as next, at most HistoryLimit. An unreadable history on
// old is dropped (it only ever holds what vigo wrote; a host that lies
// loses its own history, nothing else).
func nextHistory(old *Container, next Deployment) []Deployment {
	if old == nil {
		return nil
	}
	prev, _ := DecodeHistory(old.Config.Labels[LabelHistory])
	h := make([]Deployment, 0, HistoryLimit)
	for _, d := range append([]Deployment{deploymentOf(old)}, prev...) {
		if len(h) == HistoryLimit {
			break
		}
		if d.ImageID == "" || d.Same(next) {
			continue
		}
		h = append(h, d)
	}
	return h
}

// EncodeHistory is the label value of h (at most HistoryLimit entries).
func EncodeHistory(h []Deployment) string {
	if len(h) > HistoryLimit {
		h = h[:HistoryLimit]
	}
	if len(h) == 0 {
		return ""
	}
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // strings and times only: cannot fail
	}
	return string(b)
}

// ErrHistory is returned for a history label vigo cannot read.
var ErrHistory = errors.New("unreadable deployment history")

// DecodeHistory reads a history label; an empty label is no history. At
// most HistoryLimit entries are returned.
func DecodeHistory(s string) ([]Deployment, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxHistoryLabel {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrHistory, len(s), maxHistoryLabel)
	}
	var h []Deployment
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHistory, err)
	}
	if len(h) > HistoryLimit {
		h = h[:HistoryLimit]
	}
	return h, nil
}

// History is what a host says about one declared container.
type History struct {
	Resource  desired.Resource
	Container string       // the container's name
	Current   *Deployment  // nil: no such container on the host
	Earlier   []Deployment // newest first
}

// ContainerName is the container a docker_container resource declares
// (its container field), and false for other types.
func ContainerName(r desired.Resource) (string, bool) {
	if r.Type != "docker_container" {
		return "", false
	}
	n, _ := r.Fields["container"].(string)
	return n, n != ""
}

// ReadHistory inspects the container of a docker_container resource and
// returns its deployment history.
func ReadHistory(ctx context.Context, h Host, r desired.Resource) (History, error) {
	name, ok := ContainerName(r)
	if !ok {
		return History{}, fmt.Errorf("%s %s: only docker_container resources have a deployment history", r.Type, r.Name)
	}
	hist := History{Resource: r, Container: name}
	api := newDockerAPI(h)
	defer api.Close()
	c, err := api.InspectContainer(ctx, name)
	if err != nil {
		return hist, fmt.Errorf("inspect container %s: %w", name, err)
	}
	if c == nil {
		return hist, nil
	}
	cur := deploymentOf(c)
	hist.Current = &cur
	if hist.Earlier, err = DecodeHistory(c.Config.Labels[LabelHistory]); err != nil {
		return hist, fmt.Errorf("container %s: %w", name, err)
	}
	return hist, nil
}

// Pick chooses the entry of h.Earlier that to names: "" or a number N
// (the Nth earlier deployment, 1 the one just before the current), or a
// reference: the full image reference, its tag alone, or an image ID (or
// its first 12 or more hex digits).
func (h History) Pick(to string) (Deployment, error) {
	if len(h.Earlier) == 0 {
		return Deployment{}, fmt.Errorf("container %s: %w", h.Container, ErrNoHistory)
	}
	if to == "" {
		to = "1"
	}
	if n, err := strconv.Atoi(to); err == nil {
		if n < 1 || n > len(h.Earlier) {
			return Deployment{}, fmt.Errorf("container %s: --to %d: the history holds %d earlier deployment(s)", h.Container, n, len(h.Earlier))
		}
		return h.Earlier[n-1], nil
	}
	for _, d := range h.Earlier {
		_, tag := splitRef(d.Image)
		id := strings.TrimPrefix(d.ImageID, "sha256:")
		switch {
		case d.Image == to, tag != "" && tag == to, d.ImageID == to,
			len(strings.TrimPrefix(to, "sha256:")) >= 12 && strings.HasPrefix(id, strings.TrimPrefix(to, "sha256:")):
			return d, nil
		}
	}
	return Deployment{}, fmt.Errorf("container %s: --to %s: no earlier deployment has that image, tag or ID", h.Container, to)
}

// ErrNoHistory: the container has no earlier deployment vigo recorded.
var ErrNoHistory = errors.New("no earlier deployment recorded")

// RollbackResource returns r with its image set to d's: d's reference when
// it still names d's image on the host (so the spec, and its hash, are the
// ones deployed then when the rest of the stockpile did not change), else
// the image ID itself. It fails when the image is no longer on the host
// (vigo never pulls for a rollback: a moved tag would bring another image).
func RollbackResource(ctx context.Context, h Host, r desired.Resource, d Deployment) (desired.Resource, error) {
	api := newDockerAPI(h)
	defer api.Close()
	image := d.Image
	img, err := api.InspectImage(ctx, d.Image)
	if err != nil {
		return r, fmt.Errorf("inspect image %s: %w", d.Image, err)
	}
	if img == nil || img.ID != d.ImageID {
		byID, err := api.InspectImage(ctx, d.ImageID)
		if err != nil {
			return r, fmt.Errorf("inspect image %s: %w", shortID(d.ImageID), err)
		}
		if byID == nil {
			return r, fmt.Errorf("image %s (%s) is no longer on the host", shortID(d.ImageID), d.Image)
		}
		image = d.ImageID
	}
	return WithImage(r, image), nil
}

// WithImage is a copy of a docker_container resource with another image.
func WithImage(r desired.Resource, image string) desired.Resource {
	out := r
	out.Fields = make(map[string]any, len(r.Fields))
	for k, v := range r.Fields {
		out.Fields[k] = v
	}
	out.Fields["image"] = image
	return out
}
