package executors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// dockerImageType: an image pulled when missing (or on every push), or
// removed.
var dockerImageType = Type{
	Schema: stockpile.TypeSchema{
		Type: "docker_image",
		Doc:  "an image present (pulled) or absent on the host",
		Fields: []stockpile.Field{
			{Name: "image", Kind: stockpile.KindString, Required: true, Doc: "repository, e.g. redis or myregistry.example.com/webapp; may carry a tag or digest when tag is empty"},
			{Name: "tag", Kind: stockpile.KindString, Default: "latest", Doc: "tag (none added when image carries a tag or digest)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Default: "present", Doc: "absent removes the image (refused while a container uses it)"},
			{Name: "pull", Kind: stockpile.KindString, Enum: []string{"missing", "always"}, Default: "missing", Doc: "missing: pull only when absent; always: pull every push, changed only when the image ID changes"},
		},
	},
	Decode: decodeImage,
}

// imageSpec is a decoded docker_image resource.
type imageSpec struct {
	res   desired.Resource
	Ref   string // repository:tag or repository@digest
	State string // present | absent
	Pull  string // missing | always
}

func decodeImage(f fields, _ Env) (Spec, error) {
	s := &imageSpec{res: f.r}
	image, err := f.str("image")
	if err != nil {
		return nil, err
	}
	if image == "" {
		return nil, f.errorf("image", "required")
	}
	tag, err := f.str("tag")
	if err != nil {
		return nil, err
	}
	if why := checkImageRef(image); why != "" {
		return nil, f.errorf("image", "%s", why)
	}
	if tag != "" && (!imageTagRE.MatchString(tag) || strings.Contains(image, "@") || hasTag(image)) {
		return nil, f.errorf("tag", "%q is not a tag for image %q (want [A-Za-z0-9_][A-Za-z0-9_.-]*, and no tag or digest in image)", tag, image)
	}
	switch {
	case tag != "":
		s.Ref = image + ":" + tag
	case strings.Contains(image, "@") || hasTag(image):
		s.Ref = image
	default:
		s.Ref = image + ":" + f.def("tag")
	}
	if s.State, err = f.enum("state"); err != nil {
		return nil, err
	}
	if s.Pull, err = f.enum("pull"); err != nil {
		return nil, err
	}
	return s, nil
}

// hasTag says whether an image reference carries a tag (a colon after the
// last slash; a colon before it is a registry port).
func hasTag(ref string) bool {
	last := ref[strings.LastIndex(ref, "/")+1:]
	return strings.Contains(last, ":")
}

// normalizeRef adds :latest to a reference without tag or digest.
func normalizeRef(ref string) string {
	if strings.Contains(ref, "@") || hasTag(ref) {
		return ref
	}
	return ref + ":latest"
}

func (s *imageSpec) Resource() desired.Resource { return s.res }
func (s *imageSpec) Needs(n *Needs) {
	n.image(s.Ref)
	if s.State == "absent" {
		n.List = true
	}
}
func (s *imageSpec) Keys() []string        { return []string{"image:" + s.Ref} }
func (s *imageSpec) Touches() []string     { return []string{"image:" + s.Ref} }
func (s *imageSpec) RefreshAction() Action { return ActionRepull }

func (s *imageSpec) Plan(o *State) Step {
	img := o.Images[s.Ref]
	switch {
	case s.State == "absent" && img == nil:
		return Step{Action: ActionNone, Reason: "absent"}
	case s.State == "absent":
		st := Step{Action: ActionRemove, Reason: "present, absent wanted", Diff: []Change{{Field: "image", Subject: s.Ref, From: shortID(img.ID), To: "absent"}}}
		if users := imageUsers(o, img.ID); len(users) > 0 {
			st.Diff = append(st.Diff, usedBy(users))
		}
		return st
	case img == nil:
		return Step{Action: ActionPull, Reason: "not present", Diff: []Change{{Field: "image", Subject: s.Ref, From: "absent", To: "present"}}}
	case s.Pull == "always":
		return Step{Action: ActionPull, Reason: "pull always (a change only if the image ID changes)"}
	}
	return Step{Action: ActionNone, Reason: "present " + shortID(img.ID)}
}

// usedBy is the plan's note of the containers that use an image, a
// network or a volume: not a change, what stands in its way.
func usedBy(users []string) Change {
	return Change{Field: "used by", Subject: strings.Join(users, ", ")}
}

func imageUsers(o *State, id string) []string {
	var users []string
	for _, c := range o.List {
		if c.ImageID == id {
			users = append(users, c.Name())
		}
	}
	return users
}

func (s *imageSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	switch st.Action {
	case ActionPull:
		var before string
		if img := st.obs.Images[s.Ref]; img != nil {
			before = img.ID
		}
		after, err := pullImage(ctx, h, s.Ref)
		if err != nil {
			return Outcome{}, err
		}
		if after == before {
			return Outcome{Changed: false, Detail: "pulled, image ID unchanged " + shortID(after)}, nil
		}
		if before == "" {
			return Outcome{Changed: true, Detail: "pulled " + shortID(after)}, nil
		}
		return Outcome{Changed: true, Detail: fmt.Sprintf("pulled, image ID %s -> %s", shortID(before), shortID(after))}, nil
	case ActionRemove:
		api := newDockerAPI(h)
		defer api.Close()
		err := api.RemoveImage(ctx, s.Ref)
		if isStatus(err, 409) {
			users := imageUsers(st.obs, st.obs.Images[s.Ref].ID)
			if len(users) > 0 {
				return Outcome{}, fmt.Errorf("image %s is used by container(s) %s: remove them first (docker_container with state: absent)", s.Ref, strings.Join(users, ", "))
			}
			return Outcome{}, fmt.Errorf("image %s is in use: %w", s.Ref, err)
		}
		if isStatus(err, 404) {
			return Outcome{}, nil
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("remove image %s: %w", s.Ref, err)
		}
		return Outcome{Changed: true}, nil
	}
	return Outcome{}, fmt.Errorf("docker_image: unexpected action %s", st.Action)
}

func (s *imageSpec) Refresh(ctx context.Context, h Host, o *State) (Outcome, error) {
	if s.State == "absent" {
		return Outcome{}, nil
	}
	return s.Apply(ctx, h, Step{Action: ActionPull, obs: o, spec: s})
}

// pullImage runs docker pull on the host (so that the host's registry
// credentials and mirrors apply) and returns the pulled image's ID.
func pullImage(ctx context.Context, h Host, ref string) (string, error) {
	// "--": the reference is an operand, never an option (it is also
	// validated at decode: it starts with a letter or digit).
	_, err := h.Exec(ctx, transport.Cmd{Argv: []string{"docker", "pull", "--quiet", "--", ref}, Timeout: boundsOf(h).Long})
	if err != nil {
		var ee *transport.ExitError
		if asExit(err, &ee) {
			return "", fmt.Errorf("pull %s failed: %s: %w", ref, pullReason(ee.Stderr), err)
		}
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	api := newDockerAPI(h)
	defer api.Close()
	img, err := api.InspectImage(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s after pull: %w", ref, err)
	}
	if img == nil {
		return "", fmt.Errorf("image %s still absent after pull", ref)
	}
	return img.ID, nil
}

// pullReason turns docker pull's stderr into a short, clear reason.
func pullReason(stderr string) string {
	s := strings.TrimSpace(stderr)
	low := strings.ToLower(s)
	switch {
	case strings.Contains(low, "manifest unknown"), strings.Contains(low, "not found"):
		return "image or tag not found in the registry (" + transport.LastLine(s) + ")"
	case strings.Contains(low, "unauthorized"), strings.Contains(low, "denied"):
		return "access denied by the registry: log in on the host (" + transport.LastLine(s) + ")"
	case s == "":
		return "docker pull exited non-zero"
	}
	return transport.LastLine(s)
}

func asExit(err error, target **transport.ExitError) bool {
	return errors.As(err, target)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
