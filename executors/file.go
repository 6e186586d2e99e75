package executors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/transport"
)

// fileType: a file written atomically, compared by sha256, with its mode
// and owner.
var fileType = Type{
	Schema: stockpile.TypeSchema{
		Type: "file",
		Doc:  "a file on the host, written atomically and compared by sha256",
		Fields: []stockpile.Field{
			{Name: "target_path", Kind: stockpile.KindString, Required: true, Doc: "absolute path on the host"},
			{Name: "content", Kind: stockpile.KindString, Secret: true, Doc: "file content (templated unless tagged !raw; exactly secret:PATH writes a secret's value)"},
			{Name: "source", Kind: stockpile.KindString, Doc: "a file in the stockpile (relative to the stockpile directory; must stay inside it after symlinks), sent as is"},
			{Name: "mode", Kind: stockpile.KindString, Default: "0644", Doc: "octal mode as a string, e.g. \"0640\" (setuid, setgid and sticky bits allowed)"},
			{Name: "owner", Kind: stockpile.KindString, Doc: "owner user name"},
			{Name: "group", Kind: stockpile.KindString, Doc: "group name"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Default: "present", Doc: "absent removes the file"},
		},
	},
	Decode: decodeFile,
}

// fileSpec is a decoded file resource.
type fileSpec struct {
	res     desired.Resource
	Path    string
	Content []byte
	Source  string // what the content came from, for messages
	Secret  string // secret path when the content is a secret reference
	SHA256  string
	Mode    os.FileMode
	Owner   string
	Group   string
	State   string // present | absent
}

func decodeFile(f fields, env Env) (Spec, error) {
	s := &fileSpec{res: f.r}
	var err error
	if s.Path, err = f.str("target_path"); err != nil {
		return nil, err
	}
	if s.Path == "" || !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path {
		return nil, f.errorf("target_path", "want a clean absolute path, got %q", s.Path)
	}
	if s.State, err = f.enum("state"); err != nil {
		return nil, err
	}
	content, err := f.str("content")
	if err != nil {
		return nil, err
	}
	src, err := f.str("source")
	if err != nil {
		return nil, err
	}
	switch {
	case f.has("content") && src != "":
		return nil, f.errorf("source", "set content or source, not both")
	case src != "":
		if filepath.IsAbs(src) || strings.HasPrefix(filepath.Clean(src), "..") {
			return nil, f.errorf("source", "%q must be a path inside the stockpile", src)
		}
		b, err := readSource(env, src)
		if err != nil {
			return nil, f.errorf("source", "%w", err)
		}
		s.Content, s.Source = b, src
	case s.State == "present" && !f.has("content"):
		return nil, f.errorf("content", "content or source is required")
	default:
		if content, s.Secret, err = env.secretValue(f, "content", content); err != nil {
			return nil, err
		}
		s.Content = []byte(content)
	}
	sum := sha256.Sum256(s.Content)
	s.SHA256 = hex.EncodeToString(sum[:])
	mode, err := f.text("mode")
	if err != nil {
		return nil, err
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o7777 {
		return nil, f.errorf("mode", "%q is not an octal mode like \"0644\"", mode)
	}
	s.Mode = transport.FileMode(uint32(m))
	if s.Owner, err = f.str("owner"); err != nil {
		return nil, err
	}
	if s.Group, err = f.str("group"); err != nil {
		return nil, err
	}
	return s, nil
}

// sameID says whether the wanted owner or group (a name, or a number
// like "0") is the one observed as name and numeric id: a number is
// compared with the id, a name with the name.
func sameID(want, name, id string) bool {
	if _, err := strconv.ParseUint(want, 10, 32); err == nil && id != "" {
		return want == id
	}
	return want == name
}

// unixMode is how stat prints a FileMode (see transport.UnixMode).
func unixMode(fm os.FileMode) string {
	return fmt.Sprintf("%04o", transport.UnixMode(fm))
}

// TargetPath is where the file goes; Content is what it holds (used to
// tell a docker_compose resource its file's services).
func (s *fileSpec) TargetPath() string { return s.Path }
func (s *fileSpec) FileContent() []byte {
	if s.State != "present" || s.Secret != "" {
		return nil
	}
	return s.Content
}

func (s *fileSpec) Resource() desired.Resource { return s.res }
func (s *fileSpec) Needs(n *Needs)             { n.file(s.Path) }
func (s *fileSpec) Keys() []string             { return []string{"file:" + s.Path} }
func (s *fileSpec) Touches() []string          { return []string{"file:" + s.Path} }
func (s *fileSpec) RefreshAction() Action      { return ActionNone }

func (s *fileSpec) Plan(o *State) Step {
	fi := o.Files[s.Path]
	if s.State == "absent" {
		if fi == nil {
			return Step{Action: ActionNone, Reason: "absent"}
		}
		return Step{Action: ActionRemove, Reason: "exists, absent wanted"}
	}
	// A secret's content is never shown, not even as a hash (an unkeyed
	// hash of a guessable value gives it away), nor is the hash of the
	// file on the host (it may hold the previous value).
	if fi == nil {
		if s.Secret != "" {
			return Step{Action: ActionWrite, Reason: "missing", Diff: []Change{{Field: "content", From: "absent", To: "secret:" + s.Secret}}}
		}
		return Step{Action: ActionWrite, Reason: "missing", Diff: []Change{{Field: "content", From: "absent", To: "sha256 " + short(s.SHA256), Note: fmt.Sprintf("%d bytes", len(s.Content))}}}
	}
	var diff []Change
	if fi.SHA256 != s.SHA256 {
		if s.Secret != "" {
			diff = append(diff, Change{Field: "content", To: "secret:" + s.Secret, Note: "changed"})
		} else {
			diff = append(diff, Change{Field: "content", Subject: "sha256", From: short(fi.SHA256), To: short(s.SHA256), Note: fmt.Sprintf("%d bytes", len(s.Content))})
		}
	}
	if want := unixMode(s.Mode); fi.Mode != "" && fi.Mode != want {
		diff = append(diff, Change{Field: "mode", From: fi.Mode, To: want})
	}
	if s.Owner != "" && fi.Owner != "" && !sameID(s.Owner, fi.Owner, fi.UID) {
		diff = append(diff, Change{Field: "owner", From: fi.Owner, To: s.Owner})
	}
	if s.Group != "" && fi.Group != "" && !sameID(s.Group, fi.Group, fi.GID) {
		diff = append(diff, Change{Field: "group", From: fi.Group, To: s.Group})
	}
	switch {
	case len(diff) == 0 && s.Secret != "":
		return Step{Action: ActionNone, Reason: "matches secret:" + s.Secret}
	case len(diff) == 0:
		return Step{Action: ActionNone, Reason: "sha256 " + short(s.SHA256)}
	case fi.SHA256 != s.SHA256:
		return Step{Action: ActionWrite, Reason: "content differs", Diff: diff}
	}
	return Step{Action: ActionChattr, Reason: "attributes differ", Diff: diff}
}

func (s *fileSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	switch st.Action {
	case ActionRemove:
		if err := h.RemoveFile(ctx, s.Path); err != nil {
			return Outcome{}, fmt.Errorf("remove %s: %w", s.Path, err)
		}
		return Outcome{Changed: true}, nil
	case ActionWrite, ActionChattr:
		// WriteFile creates parent directories, writes a temporary file and
		// renames it, and fixes only mode and owner when the content matches.
		if _, err := h.WriteFile(ctx, s.Path, s.Content, transport.FileOptions{Mode: s.Mode, Owner: s.Owner, Group: s.Group}); err != nil {
			return Outcome{}, fmt.Errorf("write %s: %w", s.Path, err)
		}
		return Outcome{Changed: true}, nil
	}
	return Outcome{}, fmt.Errorf("file: unexpected action %s", st.Action)
}

// Refresh does nothing: a file has no refresh.
func (s *fileSpec) Refresh(context.Context, Host, *State) (Outcome, error) { return Outcome{}, nil }
