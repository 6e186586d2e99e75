package transport

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sshConfig is the ssh_config files read for a pool: the user's file,
// then the system-wide one (the first value found wins, as in OpenSSH).
// The zero value (or nil) matches nothing.
type sshConfig struct {
	path      string     // the user's file, named in messages
	files     []*cfgFile // in lookup order
	warnings  []string   // Match blocks skipped, one per block
	finalPass bool       // some Match uses "final": look up a second time
}

// cfgFile is one parsed file: blocks in order, the first an implicit
// "Host *".
type cfgFile struct {
	path   string
	blocks []*cfgBlock
}

// cfgBlock is a Host or Match block; match reports whether it applies to
// an alias in the first pass or the final one (see matchCriteria).
type cfgBlock struct {
	match func(alias string, final bool) bool
	items []cfgItem
}

// always and never are the matchers of blocks that apply to every alias
// or to none.
func always(string, bool) bool { return true }
func never(string, bool) bool  { return false }

// hostBlock matches Host patterns in both passes.
func hostBlock(patterns []string) func(string, bool) bool {
	m := patternsMatcher(patterns)
	return func(alias string, _ bool) bool { return m(alias) }
}

// cfgItem is one "Keyword value" line, or an Include with its files.
type cfgItem struct {
	key     string // lower case
	value   string
	file    string
	line    int
	include []*cfgFile
}

// maxIncludeDepth bounds nested Include, as OpenSSH does (16).
const maxIncludeDepth = 16

// loadSSHConfig reads one user file; a missing file is an empty config.
func loadSSHConfig(path string) (*sshConfig, error) {
	home, _ := os.UserHomeDir()
	return loadSSHConfigs(path, "", home)
}

// loadSSHConfigs reads the user's file then the system file ("" skips
// either; missing files are empty). home resolves ~ and relative Include
// paths of the user's file (relative to ~/.ssh; the system file's are
// relative to /etc/ssh).
func loadSSHConfigs(user, system, home string) (*sshConfig, error) {
	c := &sshConfig{path: user}
	for _, f := range []struct {
		path   string
		system bool
	}{{user, false}, {system, true}} {
		if f.path == "" {
			continue
		}
		cf, err := parseSSHConfigFile(f.path, f.system, home, 0, c)
		if err != nil {
			return nil, err
		}
		if cf != nil {
			c.files = append(c.files, cf)
		}
	}
	return c, nil
}

// parseSSHConfigFile parses path (nil, nil when it does not exist).
// Match blocks with criteria vigo cannot evaluate (exec, user, localuser,
// localnetwork, tagged, ...) never match: they are
// noted in warnings instead of failing the whole file, since ssh itself
// would evaluate them.
func parseSSHConfigFile(path string, system bool, home string, depth int, c *sshConfig) (*cfgFile, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	f := &cfgFile{path: path, blocks: []*cfgBlock{{match: always}}}
	for n, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		at := fmt.Sprintf("%s:%d", path, n+1)
		key, value := splitConfigLine(line)
		if value == "" {
			return nil, fmt.Errorf("ssh config %s: %s has no value", at, key)
		}
		switch strings.ToLower(key) {
		case "host":
			f.blocks = append(f.blocks, &cfgBlock{match: hostBlock(configWords(value))})
		case "match":
			m, final, ok := matchCriteria(value)
			if !ok {
				c.warnings = append(c.warnings, at+" Match "+value)
				m = never
			}
			c.finalPass = c.finalPass || final
			f.blocks = append(f.blocks, &cfgBlock{match: m})
		case "include":
			if depth >= maxIncludeDepth {
				return nil, fmt.Errorf("ssh config %s: Include nested too deep", at)
			}
			it := cfgItem{key: "include", value: value, file: path, line: n + 1}
			for _, pat := range configWords(value) {
				pat = expandHome(pat, home)
				if !filepath.IsAbs(pat) {
					if system {
						pat = filepath.Join("/etc/ssh", pat)
					} else {
						pat = filepath.Join(home, ".ssh", pat)
					}
				}
				matches, err := filepath.Glob(pat)
				if err != nil {
					return nil, fmt.Errorf("ssh config %s: Include %s: %w", at, pat, err)
				}
				for _, m := range matches {
					inc, err := parseSSHConfigFile(m, system, home, depth+1, c)
					if err != nil {
						return nil, err
					}
					if inc != nil {
						it.include = append(it.include, inc)
					}
				}
			}
			last := f.blocks[len(f.blocks)-1]
			last.items = append(last.items, it)
		default:
			last := f.blocks[len(f.blocks)-1]
			last.items = append(last.items, cfgItem{key: strings.ToLower(key), value: value, file: path, line: n + 1})
		}
	}
	return f, nil
}

// splitConfigLine splits "Keyword value", "Keyword=value" or
// "Keyword = value"; a value wholly in double quotes is unquoted, and a
// trailing " # comment" outside quotes is dropped.
func splitConfigLine(line string) (key, value string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	quoted := false
	for j := 0; j < len(rest); j++ {
		switch {
		case rest[j] == '"':
			quoted = !quoted
		case rest[j] == '#' && !quoted && j > 0 && (rest[j-1] == ' ' || rest[j-1] == '\t'):
			rest = rest[:j]
		}
	}
	rest = strings.TrimSpace(rest)
	return key, unquoteConfig(rest)
}

// configWords splits a value into words, unquoting "double quoted" ones.
func configWords(v string) []string {
	var words []string
	for _, w := range strings.Fields(v) {
		words = append(words, unquoteConfig(w))
	}
	return words
}

// matchCriteria evaluates the Match criteria vigo can evaluate, all of
// which must hold (each may be negated with "!"): all; host LIST and
// originalhost LIST (comma separated patterns, both matched against the
// inventory name); final (true in the final pass only, which is made when
// some Match uses it, as ssh does); canonical (false: vigo never
// canonicalizes host names). Any other criterion (exec, user, localuser,
// localnetwork, tagged, ...) makes the block unsupported: ok is false.
func matchCriteria(v string) (m func(alias string, final bool) bool, usesFinal, ok bool) {
	f := strings.Fields(v)
	var tests []func(string, bool) bool
	for i := 0; i < len(f); i++ {
		crit := strings.ToLower(f[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		var test func(string, bool) bool
		switch crit {
		case "all":
			test = always
		case "final":
			usesFinal = true
			test = func(_ string, final bool) bool { return final }
		case "canonical":
			test = never
		case "host", "originalhost":
			if i+1 >= len(f) {
				return nil, false, false
			}
			i++
			test = hostBlock(strings.Split(unquoteConfig(f[i]), ","))
		default:
			return nil, false, false
		}
		if neg {
			inner := test
			test = func(a string, final bool) bool { return !inner(a, final) }
		}
		tests = append(tests, test)
	}
	if len(tests) == 0 {
		return nil, false, false
	}
	return func(alias string, final bool) bool {
		for _, t := range tests {
			if !t(alias, final) {
				return false
			}
		}
		return true
	}, usesFinal, true
}

// patternsMatcher matches an alias against ssh_config host patterns:
// some positive pattern must match and no !negated one may.
func patternsMatcher(patterns []string) func(string) bool {
	return func(alias string) bool {
		alias = strings.ToLower(alias)
		found := false
		for _, p := range patterns {
			neg := strings.HasPrefix(p, "!")
			if wildcardMatch(strings.ToLower(strings.TrimPrefix(p, "!")), alias) {
				if neg {
					return false
				}
				found = true
			}
		}
		return found
	}
}

// wildcardMatch matches s against a pattern where * is any run of
// characters and ? any one character.
func wildcardMatch(pat, s string) bool {
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(pat) && (pat[i] == '?' || pat[i] == s[j]):
			i++
			j++
		case i < len(pat) && pat[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(pat) && pat[i] == '*' {
		i++
	}
	return i == len(pat)
}

// lookup returns the first value of key for alias and the file it came
// from.
func (c *sshConfig) lookup(alias, key string) (value, file string) {
	if c == nil {
		return "", ""
	}
	// Like ssh: a first pass, then a final one when some Match uses
	// "final"; the first value found wins.
	key = strings.ToLower(key)
	for _, final := range c.passes() {
		for _, f := range c.files {
			if v, at, ok := f.lookup(alias, key, final); ok {
				return v, at
			}
		}
	}
	return "", ""
}

func (f *cfgFile) lookup(alias, key string, final bool) (string, string, bool) {
	for _, b := range f.blocks {
		if !b.match(alias, final) {
			continue
		}
		for _, it := range b.items {
			if it.include != nil {
				for _, inc := range it.include {
					if v, at, ok := inc.lookup(alias, key, final); ok {
						return v, at, true
					}
				}
			} else if it.key == key {
				return it.value, it.file, true
			}
		}
	}
	return "", "", false
}

func (f *cfgFile) lookupAll(alias, key string, final bool, out []string) []string {
	for _, b := range f.blocks {
		if !b.match(alias, final) {
			continue
		}
		for _, it := range b.items {
			if it.include != nil {
				for _, inc := range it.include {
					out = inc.lookupAll(alias, key, final, out)
				}
			} else if it.key == key && !slices.Contains(out, it.value) {
				out = append(out, it.value)
			}
		}
	}
	return out
}

func (c *sshConfig) get(alias, key string) string {
	v, _ := c.lookup(alias, key)
	return strings.TrimSpace(v)
}

func (c *sshConfig) getAll(alias, key string) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, final := range c.passes() {
		for _, f := range c.files {
			out = f.lookupAll(alias, strings.ToLower(key), final, out)
		}
	}
	return out
}

func (c *sshConfig) passes() []bool {
	if c.finalPass {
		return []bool{false, true}
	}
	return []bool{false}
}

// warning is the one message about skipped Match blocks ("" when none).
func (c *sshConfig) warning() string {
	if c == nil || len(c.warnings) == 0 {
		return ""
	}
	return "ssh config: ignoring Match blocks vigo cannot evaluate (it evaluates all, host, originalhost, canonical and final); " +
		"their settings are not applied: " + strings.Join(c.warnings, "; ")
}

// endpoint is a Target resolved against ssh_config and defaults: exactly
// what is dialled and verified.
type endpoint struct {
	Alias          string   // name looked up in ssh_config and shown in messages
	Host           string   // HostName actually dialled and checked in known_hosts
	Port           int      //
	KeyAlias       string   // HostKeyAlias: name looked up in known_hosts instead of Host
	User           string   //
	IdentityFiles  []string // explicit identity files (Target or IdentityFile)
	IdentitiesOnly bool     //
	KnownHosts     []string // UserKnownHostsFile from ssh_config, if any
	GlobalKnown    []string // GlobalKnownHostsFile from ssh_config, if any ("none" kept)
	ExtraKnown     string   // Target.KnownHostsFile
	Jumps          []string // ProxyJump hops, outermost first
	ConnectTimeout time.Duration
}

// HostPort is host:port as dialled.
func (e endpoint) HostPort() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// KnownHostsName is host:port as looked up and recorded in known_hosts.
func (e endpoint) KnownHostsName() string {
	h := e.Host
	if e.KeyAlias != "" {
		h = e.KeyAlias
	}
	return net.JoinHostPort(h, strconv.Itoa(e.Port))
}

// String is user@host:port, the form every connection error names.
func (e endpoint) String() string { return e.User + "@" + e.HostPort() }

// key identifies one connection in the pool (and in a holder): the
// destination and everything that verified or authenticated it, so that
// a connection is never handed to a Target that would have checked the
// host against other known_hosts files or logged in with other keys.
func (e endpoint) key() string {
	return fmt.Sprintf("%s via %q alias=%q id=%q only=%t known=%q global=%q extra=%q",
		e.String(), e.Jumps, e.KeyAlias, e.IdentityFiles, e.IdentitiesOnly, e.KnownHosts, e.GlobalKnown, e.ExtraKnown)
}

// resolve fills t's empty fields from ssh_config and OpenSSH defaults.
func resolve(t Target, cfg *sshConfig, localUser, home string) (endpoint, error) {
	alias := t.Name
	if alias == "" {
		alias = t.Address
	}
	if alias == "" {
		return endpoint{}, fmt.Errorf("target has neither name nor address")
	}
	e := endpoint{Alias: alias, ExtraKnown: expandHome(t.KnownHostsFile, home)}

	e.Host = t.Address
	if e.Host == "" {
		e.Host = cfg.get(alias, "HostName")
		e.Host = strings.ReplaceAll(e.Host, "%h", alias)
	}
	if e.Host == "" {
		e.Host = alias
	}

	e.Port = t.Port
	if e.Port == 0 {
		if p := cfg.get(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return endpoint{}, fmt.Errorf("ssh config %s: Host %s: bad Port %q", cfg.path, alias, p)
			}
			e.Port = n
		}
	}
	if e.Port == 0 {
		e.Port = 22
	}

	e.User = t.User
	if e.User == "" {
		e.User = cfg.get(alias, "User")
	}
	if e.User == "" {
		e.User = localUser
	}

	expand := func(s string) string {
		r := strings.NewReplacer("%d", home, "%u", localUser, "%h", e.Host, "%r", e.User,
			"%p", strconv.Itoa(e.Port), "%n", alias, "%%", "%")
		return expandHome(r.Replace(s), home)
	}
	if t.IdentityFile != "" {
		e.IdentityFiles = []string{expand(t.IdentityFile)}
	} else {
		for _, f := range cfg.getAll(alias, "IdentityFile") {
			if strings.EqualFold(f, "none") {
				continue
			}
			e.IdentityFiles = append(e.IdentityFiles, expand(unquoteConfig(f)))
		}
	}
	e.IdentitiesOnly = strings.EqualFold(cfg.get(alias, "IdentitiesOnly"), "yes")

	e.KeyAlias = cfg.get(alias, "HostKeyAlias")
	if v := cfg.get(alias, "UserKnownHostsFile"); v != "" && !strings.EqualFold(v, "none") {
		for _, f := range strings.Fields(v) {
			e.KnownHosts = append(e.KnownHosts, expand(unquoteConfig(f)))
		}
	}

	if v := cfg.get(alias, "GlobalKnownHostsFile"); v != "" {
		for _, f := range strings.Fields(v) {
			e.GlobalKnown = append(e.GlobalKnown, expand(unquoteConfig(f)))
		}
	}

	jump := t.ProxyJump
	if jump == "" {
		jump = cfg.get(alias, "ProxyJump")
	}
	if jump != "" && !strings.EqualFold(jump, "none") {
		for _, h := range strings.Split(jump, ",") {
			if h = strings.TrimSpace(h); h != "" {
				e.Jumps = append(e.Jumps, h)
			}
		}
	}

	// A ProxyCommand silently ignored would dial the host directly,
	// bypassing whatever the operator routes through it.
	if t.ProxyJump == "" {
		if v, file := cfg.lookup(alias, "ProxyCommand"); v != "" && !strings.EqualFold(strings.TrimSpace(v), "none") {
			return endpoint{}, fmt.Errorf("ssh config %s: host %s uses ProxyCommand, which vigo does not support; use ProxyJump", file, alias)
		}
	}

	if v := cfg.get(alias, "ConnectTimeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return endpoint{}, fmt.Errorf("ssh config %s: Host %s: bad ConnectTimeout %q", cfg.path, alias, v)
		}
		e.ConnectTimeout = time.Duration(n) * time.Second
	}
	return e, nil
}

// parseJump turns one ProxyJump hop, [user@]host[:port], into a Target.
func parseJump(hop string) (Target, error) {
	var t Target
	if i := strings.LastIndex(hop, "@"); i >= 0 {
		t.User, hop = hop[:i], hop[i+1:]
	}
	host := hop
	if h, p, err := net.SplitHostPort(hop); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return Target{}, fmt.Errorf("proxy jump %q: bad port", hop)
		}
		host, t.Port = h, n
	}
	if host == "" {
		return Target{}, fmt.Errorf("proxy jump %q: no host", hop)
	}
	t.Name = host
	return t, nil
}

func unquoteConfig(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
