package executors

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/secrets"
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

// secretFields are the fields in which a secret reference is substituted,
// by resource type; a reference anywhere else would be sent literally.
var secretFields = map[string]string{
	"docker_container": "environment",
	"docker_compose":   "env",
	"file":             "content",
}

// SecretRefAllowed says whether a "secret:PATH" value in the given
// top-level field of a resource of type typ is substituted by the
// executors (push resolves only those).
func SecretRefAllowed(typ, field string) bool {
	return secretFields[typ] == field
}

// CheckSecretRefs fails when a field that executors do not substitute
// holds a secret reference (it would reach the host as the literal text
// "secret:PATH"). Fields tagged !raw are literal by request and skipped.
func CheckSecretRefs(r desired.Resource) error {
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if r.Raw[k] || SecretRefAllowed(r.Type, k) {
			continue
		}
		if where, ok := findRef(r.Fields[k], k); ok {
			return fmt.Errorf("%s: resource %q (%s) field %s: secret references are only allowed in environment (docker_container), env (docker_compose) and content (file); tag the field !raw to keep the text literally",
				r.Pos, r.Name, r.Type, where)
		}
	}
	return nil
}

func findRef(v any, field string) (string, bool) {
	switch x := v.(type) {
	case string:
		if _, ok := secrets.Ref(x); ok {
			return field, true
		}
	case []string:
		for i, e := range x {
			if _, ok := secrets.Ref(e); ok {
				return fmt.Sprintf("%s[%d]", field, i), true
			}
		}
	case []any:
		for i, e := range x {
			if w, ok := findRef(e, fmt.Sprintf("%s[%d]", field, i)); ok {
				return w, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if w, ok := findRef(x[k], field+"."+k); ok {
				return w, true
			}
		}
	}
	return "", false
}
