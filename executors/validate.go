package executors

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// Decode-time checks of the values vigo passes to docker and compose, so
// that no value can be read as a flag or change the meaning of an API path,
// and a bad value fails the host before anything changes.

// The image reference grammar of the distribution project (what the
// engine accepts), written out here:
//
//	reference  := name [ ":" tag ] [ "@" digest ]
//	name       := [ domain "/" ] path ( "/" path )*
//	domain     := host [ ":" port ]   host: DNS labels, or [IPv6]
//	path       := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//	tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//	digest     := algorithm ":" [A-Fa-f0-9]{32,}
var (
	refDomain = `(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
	refPathRE = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	refTag    = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
	refDigest = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Fa-f0-9]{32,}`

	imageRefRE = regexp.MustCompile(`^(?:` + refDomain + `/)?` + refPathRE + `(?:/` + refPathRE + `)*(?::` + refTag + `)?(?:@` + refDigest + `)?$`)
	imageTagRE = regexp.MustCompile(`^` + refTag + `$`)
	// Docker's rule for container names.
	containerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	// Docker's rule for network names and aliases (one character is
	// enough), and for volume names (two or more).
	objectNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	// Compose's rule for service names.
	serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
	// Compose's rule for project names.
	projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	// A variable compose can interpolate, and a shell can assign.
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// checkImageRef says why ref is not an image reference the engine would
// accept ("" when it is). The first character of a reference is a letter
// or digit, so it can never be read as a flag.
func checkImageRef(ref string) string {
	switch {
	case ref == "":
		return "empty image reference"
	case len(ref) > 512:
		return "image reference longer than 512 characters"
	case !imageRefRE.MatchString(ref):
		return fmt.Sprintf("%q is not an image reference (want [REGISTRY/]REPOSITORY[:TAG][@DIGEST], repository in lower case)", ref)
	}
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if hasTag(name) {
		name = name[:strings.LastIndexByte(name, ':')]
	}
	if len(name) > 255 {
		return fmt.Sprintf("%q: repository name longer than 255 characters", ref)
	}
	return ""
}

func checkContainerName(name string) string {
	if !containerNameRE.MatchString(name) {
		return fmt.Sprintf("%q is not a container name (two or more of [a-zA-Z0-9_.-], starting with a letter or digit)", name)
	}
	return ""
}

// apiRef turns an image reference or ID into an API path segment list:
// each slash-separated part escaped, so that nothing in it can change the
// request's meaning (references are also validated at decode).
func apiRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// SecretRefAllowed says whether a "secret:PATH" value in the given
// top-level field of a resource of type typ is substituted by the
// executors (push resolves only those): the fields the type's schema
// marks Secret. A reference anywhere else would be sent literally.
func SecretRefAllowed(typ, field string) bool {
	return builtin.secretField(typ, field)
}

// FieldError is a resource value an executor refuses, with the position
// of the value (or of the resource when the value has none).
type FieldError struct {
	Pos      stockpile.Pos
	Resource string // name
	Module   string
	Type     string
	Field    string // "image", "environment.FOO", "ports[1]"
	Err      error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: resource %q (%s) field %s: %v", e.Pos, e.Resource, e.Type, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// CheckOptions say how Check reads what resources refer to.
type CheckOptions struct {
	// StockpileDir is where file sources are read from.
	StockpileDir string
	// SourceOutside lets a file source lead out of the stockpile
	// directory through a symlink (see Env).
	SourceOutside bool
}

// Check runs, without touching any host, every check the executors make
// before a push: each resource's values decoded as a push decodes them
// (secret references stand for values that are set), file sources read,
// and on each host nothing owned by two resources (a container name, a
// compose project, a file path, a published host port). Resources the
// loader or the build already reported (Invalid) are skipped. The error,
// when not nil, is a stockpile.Errors with every problem of every host,
// each naming its hosts.
func Check(hosts []desired.Host, opts CheckOptions) error {
	env := Env{StockpileDir: opts.StockpileDir, SourceOutside: opts.SourceOutside, Offline: true}
	var c desired.Collector
	for _, h := range hosts {
		var errs stockpile.Errors
		var claimed []desired.Claimed
		for _, r := range h.Resources {
			if r.Invalid {
				continue
			}
			if _, err := SecretRefs(r); err != nil {
				errs = append(errs, configError(r, err))
				continue
			}
			sp, err := Decode(r, env)
			if err != nil {
				errs = append(errs, configError(r, err))
				continue
			}
			if cl, ok := sp.(claimer); ok {
				claimed = append(claimed, desired.Claimed{Resource: r, Claims: cl.claims()})
			}
		}
		errs = append(errs, desired.CheckClaims(claimed)...)
		c.Add(h.Name, errs)
	}
	return c.Err()
}

// configError turns a decode error into a positioned stockpile error
// worded like the loader's.
func configError(r desired.Resource, err error) *stockpile.Error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &stockpile.Error{Pos: fe.Pos, Msg: fmt.Sprintf("%s of resource %q (module %s): %v", fe.Field, r.Name, r.Module, fe.Err)}
	}
	return &stockpile.Error{Pos: r.Pos, Msg: fmt.Sprintf("resource %q (module %s): %v", r.Name, r.Module, err)}
}

// claimer is a decoded resource that owns something on its host.
type claimer interface {
	claims() []desired.Claim
}

func (s *containerSpec) claims() []desired.Claim {
	out := []desired.Claim{{Kind: "container", Key: s.Name, Pos: s.res.PosOf("container")}}
	if s.State != "running" { // a stopped or absent container binds no port
		return out
	}
	for _, p := range s.Ports { // IP:HOSTPORT:CTRPORT/PROTO
		spec, proto, _ := strings.Cut(p, "/")
		i := strings.LastIndexByte(spec, ':')
		j := strings.LastIndexByte(spec[:i], ':')
		ip, host := spec[:j], spec[j+1:i]
		if host == "" { // the engine picks a free port
			continue
		}
		out = append(out, desired.Claim{Kind: "host port", Key: host + "/" + proto, Scope: ip, Pos: s.res.PosOf("ports")})
	}
	return out
}

func (s *composeSpec) claims() []desired.Claim {
	if s.Project != "" {
		return []desired.Claim{{Kind: "compose project", Key: s.Project, Pos: s.res.PosOf("project_name")}}
	}
	return []desired.Claim{{Kind: "compose project", Key: defaultProjectName(s.File), Pos: s.res.PosOf("compose_file")}}
}

func (s *fileSpec) claims() []desired.Claim {
	return []desired.Claim{{Kind: "file", Key: s.Path, Pos: s.res.PosOf("target_path")}}
}

// maxSourceSize bounds a file source read into memory and sent to hosts.
const maxSourceSize = 64 << 20

// readSource reads a file resource's source, a path relative to the
// stockpile directory. It must stay inside the directory after symlinks
// are resolved: a link to /proc/self/environ or ~/.ssh/id_ed25519 would
// otherwise ship the controller's secrets to a host. os.Root resolves the
// path below the directory, refusing any escape, with no window between
// check and open. env.SourceOutside (the operator's opt-in) allows links
// out. Either way only a regular file is read (a FIFO or a device would
// block or never end), at most maxSourceSize bytes.
func readSource(env Env, src string) ([]byte, error) {
	dir := env.StockpileDir
	if dir == "" {
		dir = "."
	}
	var f *os.File
	var err error
	// O_NONBLOCK: opening a FIFO for reading would wait for a writer.
	const flags = os.O_RDONLY | syscall.O_NONBLOCK
	if env.SourceOutside {
		f, err = os.OpenFile(filepath.Join(dir, src), flags, 0)
	} else {
		var root *os.Root
		if root, err = os.OpenRoot(dir); err != nil {
			return nil, err
		}
		defer root.Close()
		f, err = root.OpenFile(src, flags, 0)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			if real, rerr := filepath.EvalSymlinks(filepath.Join(dir, src)); rerr == nil {
				return nil, fmt.Errorf("%s leads to %s, outside the stockpile: refused (copy the file into the stockpile, or pass --source-outside-stockpile to allow links out)", src, real)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", src, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSourceSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSourceSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", src, maxSourceSize>>20)
	}
	return b, nil
}
