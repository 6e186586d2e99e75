package transport

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsDB is a parse of known_hosts files with the lines indexed by
// host, so that checking one host of a fleet does not scan the fleet's
// lines: x/crypto's knownhosts matches every line against every host,
// which made connecting N hosts cost N² line matches.
//
// It answers exactly as x/crypto/ssh/knownhosts.New on the same files
// (errors and KeyError.Want included, in file order), with the port-22
// retry for wildcard patterns that github.com/skeema/knownhosts adds
// (OpenSSH applies "*.example.com" to every port). Lines whose host
// patterns are all literal are found through the index; hashed names and
// wildcards are matched line by line (the slow path), as are the
// @cert-authority lines among them; @revoked keys are a set.
// Tests compare it with both libraries (knownhosts_index_test.go).
type knownHostsDB struct {
	lines   []khLine
	byAddr  map[khAddr][]int32               // lines with a literal pattern for the address, in order
	scan    []int32                          // lines matched one by one: hashed names, wildcards
	revoked map[string]*xknownhosts.KnownKey // by key blob; the last line wins
	// wildcard: some line's host field has a * with no port after it;
	// then a host on another port than 22 that no line names is looked up
	// again on port 22, among such lines only.
	wildcard bool
	cb       ssh.HostKeyCallback // callback(), made once
}

type khAddr struct{ host, port string }

type khLine struct {
	known    xknownhosts.KnownKey
	cert     bool // @cert-authority
	wildcard bool // see knownHostsDB.wildcard
	hashed   *khHashed
	patterns []khPattern
}

type khPattern struct {
	negate bool
	addr   khAddr
}

// khHashed is a hashed host field (|1|salt|hash: HMAC-SHA1 of the name).
type khHashed struct{ salt, sum []byte }

// loadKnownHosts parses files in order. Like x/crypto, a line that cannot
// be parsed is skipped, but a file with invalid lines and no valid one is
// an error, and so is a file that cannot be opened.
func loadKnownHosts(files ...string) (*knownHostsDB, error) {
	db := &knownHostsDB{byAddr: map[khAddr][]int32{}, revoked: map[string]*xknownhosts.KnownKey{}}
	for _, f := range files {
		if err := db.readFile(f); err != nil {
			return nil, err
		}
	}
	db.cb = db.makeCallback()
	return db, nil
}

func (db *knownHostsDB) readFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var firstErr error
	firstLine, valid, n := 0, 0, 0
	for sc.Scan() {
		n++
		line := bytes.Trim(sc.Bytes(), " \t")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := db.addLine(line, name, n); err != nil {
			if firstErr == nil {
				firstErr, firstLine = err, n
			}
			continue
		}
		valid++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if valid == 0 && firstErr != nil {
		return fmt.Errorf("knownhosts: %s: no valid entries, line %d: %v", name, firstLine, firstErr)
	}
	return nil
}

// cutWord splits b at its first space or tab; rest is trimmed of both.
func cutWord(b []byte) (word string, rest []byte) {
	i := bytes.IndexAny(b, " \t")
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), bytes.Trim(b[i:], " \t")
}

func (db *knownHostsDB) addLine(b []byte, file string, n int) error {
	marker, rest := cutWord(b)
	if marker != "@cert-authority" && marker != "@revoked" {
		marker, rest = "", b
	}
	hosts, rest := cutWord(rest)
	if hosts != "" && hosts[0] == '@' {
		return fmt.Errorf("knownhosts: unexpected marker: %q", hosts)
	}
	if len(rest) == 0 {
		return errors.New("knownhosts: missing host pattern")
	}
	typ, rest := cutWord(rest)
	if len(rest) == 0 {
		return errors.New("knownhosts: missing key type pattern")
	}
	blob, _ := cutWord(rest)
	raw, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return err
	}
	key, err := ssh.ParsePublicKey(raw)
	if err != nil {
		return err
	}
	if key.Type() != typ {
		return fmt.Errorf("knownhosts: key type mismatch: found %q, want %q", key.Type(), typ)
	}
	known := xknownhosts.KnownKey{Key: key, Filename: file, Line: n}
	if marker == "@revoked" {
		db.revoked[keyBlob(key)] = &known
		return nil
	}
	l := khLine{known: known, cert: marker == "@cert-authority"}
	if i := strings.IndexByte(hosts, '*'); i >= 0 && !strings.Contains(hosts[i:], "]:") {
		l.wildcard = true
	}
	if hosts[0] == '|' {
		if l.hashed, err = parseHashed(hosts); err != nil {
			return err
		}
	} else if l.patterns, err = parsePatterns(hosts); err != nil {
		return err
	}
	idx := int32(len(db.lines))
	db.lines = append(db.lines, l)
	db.wildcard = db.wildcard || l.wildcard
	db.place(idx)
	return nil
}

// place puts a line in the index, or on the slow path.
func (db *knownHostsDB) place(idx int32) {
	l := &db.lines[idx]
	if l.hashed != nil {
		db.scan = append(db.scan, idx)
		return
	}
	var literal []khAddr
	for _, p := range l.patterns {
		if p.negate {
			continue // only ever unmatches: checked on the line itself
		}
		if strings.ContainsAny(p.addr.host, "*?") {
			db.scan = append(db.scan, idx)
			return
		}
		literal = append(literal, p.addr)
	}
	// A line with no positive pattern matches nothing.
	for i, a := range literal {
		if !containsAddr(literal[:i], a) {
			db.byAddr[a] = append(db.byAddr[a], idx)
		}
	}
}

func containsAddr(as []khAddr, a khAddr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

func parseHashed(field string) (*khHashed, error) {
	parts := strings.Split(field, "|")
	if len(parts) != 4 {
		return nil, fmt.Errorf("knownhosts: got %d components, want 3", len(parts))
	}
	salt, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	sum, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return nil, err
	}
	if parts[1] != "1" {
		return nil, fmt.Errorf("knownhosts: got hash type %s, must be '1'", parts[1])
	}
	return &khHashed{salt: salt, sum: sum}, nil
}

// parsePatterns reads a comma-separated host field: "!" negates; a
// bracketed pattern carries its port ([host]:port); an unbracketed one
// that splits as host:port does too; anything else is port 22.
func parsePatterns(field string) ([]khPattern, error) {
	var out []khPattern
	for _, p := range strings.Split(field, ",") {
		if p == "" {
			continue
		}
		var pat khPattern
		if p[0] == '!' {
			pat.negate, p = true, p[1:]
			if p == "" {
				return nil, errors.New("knownhosts: negation without following hostname")
			}
		}
		host, port, err := net.SplitHostPort(p)
		switch {
		case err == nil:
			pat.addr = khAddr{host, port}
		case p[0] == '[':
			return nil, err
		default:
			pat.addr = khAddr{p, "22"}
		}
		out = append(out, pat)
	}
	return out, nil
}

// matches reports whether line l names a.
func (l *khLine) matches(a khAddr) bool {
	if l.hashed != nil {
		name := a.host
		if a.port != "22" {
			name = "[" + a.host + "]:" + a.port
		}
		m := hmac.New(sha1.New, l.hashed.salt)
		m.Write([]byte(name))
		return hmac.Equal(m.Sum(nil), l.hashed.sum)
	}
	hit := false
	for _, p := range l.patterns {
		if p.addr.port != a.port || !globMatch(p.addr.host, a.host) {
			continue
		}
		if p.negate {
			return false
		}
		hit = true
	}
	return hit
}

// globMatch matches s against a pattern of * (any run of bytes) and ?
// (one byte), as x/crypto does: a * left at the end of the pattern needs
// at least one byte of s.
func globMatch(pat, s string) bool {
	for pat != "" {
		if s == "" {
			return false
		}
		switch c := pat[0]; {
		case c == '*':
			if len(pat) == 1 {
				return true
			}
			for i := range len(s) {
				if globMatch(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case c != '?' && c != s[0]:
			return false
		}
		pat, s = pat[1:], s[1:]
	}
	return s == ""
}

// lookup returns the lines that name a, in file order.
func (db *knownHostsDB) lookup(a khAddr) []int32 {
	idx := db.byAddr[a]
	if len(db.scan) == 0 {
		return idx
	}
	out := make([]int32, 0, len(idx)+1)
	i := 0
	for _, s := range db.scan {
		if !db.lines[s].matches(a) {
			continue
		}
		for i < len(idx) && idx[i] < s {
			out = append(out, idx[i])
			i++
		}
		out = append(out, s)
	}
	return append(out, idx[i:]...)
}

func keyBlob(k ssh.PublicKey) string {
	if c, ok := k.(*ssh.Certificate); ok {
		k = c.Key
	}
	return string(k.Marshal())
}

func sameKey(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

func splitAddr(hostport string) (khAddr, error) {
	h, p, err := net.SplitHostPort(hostport)
	return khAddr{h, p}, err
}

// fallback is x/crypto's check of a plain key: revoked first, then the
// lines naming the host (hostname when given, else the remote address).
// It returns the lines matched up to the one with the key.
func (db *knownHostsDB) fallback(hostname string, remote net.Addr, key ssh.PublicKey) ([]int32, error) {
	if r := db.revoked[keyBlob(key)]; r != nil {
		return nil, &xknownhosts.RevokedError{Revoked: *r}
	}
	a, err := splitAddr(remote.String())
	if err != nil {
		return nil, fmt.Errorf("knownhosts: SplitHostPort(%s): %v", remote, err)
	}
	if hostname != "" {
		if a, err = splitAddr(hostname); err != nil {
			return nil, fmt.Errorf("knownhosts: SplitHostPort(%s): %v", hostname, err)
		}
	}
	matched := db.lookup(a)
	for i, m := range matched {
		if sameKey(db.lines[m].known.Key, key) {
			return matched[:i+1], nil
		}
	}
	return matched, &xknownhosts.KeyError{Want: db.knownKeys(matched)}
}

func (db *knownHostsDB) knownKeys(lines []int32) []xknownhosts.KnownKey {
	var out []xknownhosts.KnownKey
	for _, m := range lines {
		out = append(out, db.lines[m].known)
	}
	return out
}

// exactCallback is what x/crypto's knownhosts.New returns for the same
// files: certificates checked against @cert-authority lines, plain keys
// by fallback.
func (db *knownHostsDB) exactCallback() ssh.HostKeyCallback {
	cc := &ssh.CertChecker{
		IsHostAuthority: func(auth ssh.PublicKey, address string) bool {
			a, err := splitAddr(address)
			if err != nil {
				return false
			}
			for _, m := range db.lookup(a) {
				if l := db.lines[m]; l.cert && sameKey(l.known.Key, auth) {
					return true
				}
			}
			return false
		},
		IsRevoked: func(c *ssh.Certificate) bool {
			return db.revoked[keyBlob(c)] != nil || db.revoked[keyBlob(c.SignatureKey)] != nil
		},
		HostKeyFallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			_, err := db.fallback(hostname, remote, key)
			return err
		},
	}
	return cc.CheckHostKey
}

// callback checks a host key: exactCallback, then, when no line names a
// host on another port than 22 and wildcard lines exist, the same host on
// port 22 among the wildcard lines (what skeema/knownhosts adds; unlike
// it, an IPv6 host is looked up as [host]:22, not refused).
func (db *knownHostsDB) callback() ssh.HostKeyCallback { return db.cb }

func (db *knownHostsDB) makeCallback() ssh.HostKeyCallback {
	exact := db.exactCallback()
	if !db.wildcard {
		return exact
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := exact(hostname, remote, key)
		var ke *xknownhosts.KeyError
		if err == nil || errors.As(err, &ke) && len(ke.Want) > 0 {
			return err
		}
		host, port, serr := net.SplitHostPort(hostname)
		if serr != nil || port == "" || port == "22" {
			return err
		}
		if t, ok := remote.(*net.TCPAddr); ok && t.Port != 22 {
			remote = &net.TCPAddr{IP: t.IP, Port: 22, Zone: t.Zone}
		}
		err = exact(net.JoinHostPort(host, "22"), remote, key)
		if errors.As(err, &ke) && len(ke.Want) > 0 {
			var keep []xknownhosts.KnownKey
			for _, w := range ke.Want {
				if db.wildcardAt(w.Filename, w.Line) {
					keep = append(keep, w)
				}
			}
			err = &xknownhosts.KeyError{Want: keep}
		}
		return err
	}
}

func (db *knownHostsDB) wildcardAt(file string, line int) bool {
	for _, l := range db.lines {
		if l.known.Filename == file && l.known.Line == line {
			return l.wildcard
		}
	}
	return false
}

// keysFor returns the lines that name hostport as callback sees them (the
// wildcard retry included), sorted by file name and line.
func (db *knownHostsDB) keysFor(hostport string) []khLine {
	a, err := splitAddr(hostport)
	if err != nil {
		return nil
	}
	lines := db.lookup(a)
	if len(lines) == 0 && db.wildcard && a.port != "" && a.port != "22" {
		for _, m := range db.lookup(khAddr{a.host, "22"}) {
			if db.lines[m].wildcard {
				lines = append(lines, m)
			}
		}
	}
	out := make([]khLine, 0, len(lines))
	for _, m := range lines {
		out = append(out, db.lines[m])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].known.Filename != out[j].known.Filename {
			return out[i].known.Filename < out[j].known.Filename
		}
		return out[i].known.Line < out[j].known.Line
	})
	return out
}

// algorithms returns the host key algorithms on record for hostport, in
// file order without repeats: an RSA key allows rsa-sha2-512 and -256
// before ssh-rsa, and an @cert-authority line the certificate forms.
func (db *knownHostsDB) algorithms(hostport string) []string {
	var out []string
	add := func(alg string, cert bool) {
		if cert {
			alg = certAlgorithm(alg)
		}
		for _, a := range out {
			if a == alg {
				return
			}
		}
		out = append(out, alg)
	}
	for _, l := range db.keysFor(hostport) {
		typ := l.known.Key.Type()
		if typ == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, l.cert)
			add(ssh.KeyAlgoRSASHA256, l.cert)
		}
		add(typ, l.cert)
	}
	return out
}

// certAlgorithm returns the certificate algorithm of a key algorithm
// ("" when it has none).
func certAlgorithm(alg string) string {
	switch alg {
	case ssh.KeyAlgoRSA:
		return ssh.CertAlgoRSAv01
	case ssh.KeyAlgoRSASHA256:
		return ssh.CertAlgoRSASHA256v01
	case ssh.KeyAlgoRSASHA512:
		return ssh.CertAlgoRSASHA512v01
	//lint:ignore SA1019 answered as x/crypto's knownhosts does, DSA included
	case ssh.KeyAlgoDSA:
		//lint:ignore SA1019 as above
		return ssh.CertAlgoDSAv01
	case ssh.KeyAlgoECDSA256:
		return ssh.CertAlgoECDSA256v01
	case ssh.KeyAlgoSKECDSA256:
		return ssh.CertAlgoSKECDSA256v01
	case ssh.KeyAlgoECDSA384:
		return ssh.CertAlgoECDSA384v01
	case ssh.KeyAlgoECDSA521:
		return ssh.CertAlgoECDSA521v01
	case ssh.KeyAlgoED25519:
		return ssh.CertAlgoED25519v01
	case ssh.KeyAlgoSKED25519:
		return ssh.CertAlgoSKED25519v01
	}
	return ""
}
