package transport

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// sshConfig is a parsed ssh_config file; the zero value (or nil) matches
// nothing.
type sshConfig struct {
	path string
	cfg  *ssh_config.Config
}

// loadSSHConfig reads path; a missing file is an empty config.
func loadSSHConfig(path string) (*sshConfig, error) {
	if path == "" {
		return &sshConfig{}, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return &sshConfig{path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	return &sshConfig{path: path, cfg: cfg}, nil
}

func (c *sshConfig) get(alias, key string) string {
	if c == nil || c.cfg == nil {
		return ""
	}
	v, _ := c.cfg.Get(alias, key)
	return strings.TrimSpace(v)
}

func (c *sshConfig) getAll(alias, key string) []string {
	if c == nil || c.cfg == nil {
		return nil
	}
	v, _ := c.cfg.GetAll(alias, key)
	return v
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

// key identifies one connection in the pool.
func (e endpoint) key() string {
	return e.String() + " via " + strings.Join(e.Jumps, ",")
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
				return endpoint{}, fmt.Errorf("%s: ssh config %s: bad Port %q", alias, cfg.path, p)
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
		if v := cfg.get(alias, "ProxyCommand"); v != "" && !strings.EqualFold(v, "none") {
			return endpoint{}, fmt.Errorf("ssh config %s: host %s uses ProxyCommand, which vigo does not support; use ProxyJump", cfg.path, alias)
		}
	}

	if v := cfg.get(alias, "ConnectTimeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return endpoint{}, fmt.Errorf("%s: ssh config %s: bad ConnectTimeout %q", alias, cfg.path, v)
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
