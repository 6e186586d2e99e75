package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// tempName returns a fresh temporary name next to p (same file system, so
// the rename is atomic): .NAME.vigo-XXXXXX with six random letters and
// digits, the form mktemp makes for the become path. The file is always
// created exclusively (O_EXCL), so a name planted in a shared directory
// such as /tmp, a symlink above all, is never written through.
func tempName(p string) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return path.Join(path.Dir(p), "."+path.Base(p)+".vigo-"+string(b))
}

// tempAttempts bounds the retries of an exclusive create that found its
// random name taken.
const tempAttempts = 5

// unixMode turns a FileMode into the octal permission bits chmod takes,
// 0644 when no mode is given.
func unixMode(m os.FileMode) uint32 {
	if m == 0 {
		m = 0o644
	}
	return UnixMode(m)
}

// UnixMode turns a FileMode into octal Unix mode bits (4755, not Go's
// own setuid bit), as chmod takes them and stat prints them.
func UnixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// shaScript prints, for each path argument, the hex sha256 of the regular
// file or "-" when it is absent or unreadable: one line per path, in
// order, so that no file name is ever parsed back.
const shaScript = `for p; do
  if [ -f "$p" ] && h=$(sha256sum < "$p" 2>/dev/null); then echo "${h%% *}"; else echo -; fi
done`

// FileSHA256 returns the hex sha256 of each path that exists, in one round
// trip; missing paths are absent from the map.
func (c *Conn) FileSHA256(ctx context.Context, paths []string) (map[string]string, error) {
	out := make(map[string]string, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	if c.local && !c.becomes() {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			sum := sha256.Sum256(b)
			out[p] = hex.EncodeToString(sum[:])
		}
		return out, nil
	}
	argv := append([]string{"sh", "-c", shaScript, "vigo-sha256"}, paths...)
	res, err := c.Exec(ctx, Cmd{Argv: argv})
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(res.Stdout), "\n"), "\n")
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("sha256 of %d files: got %d lines", len(paths), len(lines))
	}
	for i, l := range lines {
		if l != "-" {
			out[paths[i]] = l
		}
	}
	return out, nil
}

// inspectScript answers, in one round trip, everything a write needs to
// decide: the writer's uid and the wanted owner's and group's ids ($1,
// $2: names or numbers, "" for none), then for each further path an
// lstat record (raw hex mode, uid, gid, device, inode, owner name, and
// for a symlink its target; "-" when missing, "?" when it cannot be
// stat'ed), then the sha256 of the first path when it is a regular file
// (not a symlink). Records end with NUL bytes, so no file name is ever
// parsed back. It reads, and changes nothing.
const inspectScript = `o=$1 g=$2; shift 2
u=-; if [ -n "$o" ]; then u=$(id -u -- "$o") || exit 3; fi
gi=-; if [ -n "$g" ]; then gi=$(getent group -- "$g" | cut -d: -f3); [ -n "$gi" ] || { echo "vigo: no group $g" >&2; exit 3; }; fi
printf '%s %s %s\0' "$(id -u)" "$u" "$gi"
for p; do
  if s=$(stat -c '%f %u %g %d %i %U' -- "$p" 2>/dev/null); then
    case $s in a*) printf '%s %s\0' "$s" "$(readlink -- "$p")";; *) printf '%s\0' "$s";; esac
  elif [ -e "$p" ] || [ -L "$p" ]; then printf '?\0'; else printf -- '-\0'; fi
done
h=-; if [ -f "$1" ] && [ ! -L "$1" ]; then h=$(sha256sum < "$1") || h=-; fi
printf '%s\0' "${h%% *}"`

// inspection is what inspectScript found.
type inspection struct {
	self     uint32
	uid, gid int64 // wanted owner and group, -1 for "leave as created"
	nodes    map[string]Node
	sha      string // of the first path, "" unless it is a regular file
}

// inspect runs inspectScript for target and the other paths; owner and
// group are looked up when opts names them.
func (c *Conn) inspect(ctx context.Context, opts FileOptions, target string, paths []string) (inspection, error) {
	owner, group := opts.Owner, opts.Group
	in := inspection{uid: -1, gid: -1, nodes: map[string]Node{}}
	// Numbers are taken as they are (a uid need not have a passwd entry).
	if n, err := strconv.ParseUint(owner, 10, 32); err == nil {
		in.uid, owner = int64(n), ""
	}
	if n, err := strconv.ParseUint(group, 10, 32); err == nil {
		in.gid, group = int64(n), ""
	}
	argv := append([]string{"sh", "-c", inspectScript, "vigo-inspect", owner, group, target}, paths...)
	res, err := c.Exec(ctx, Cmd{Argv: argv})
	if err != nil {
		return in, err
	}
	recs := strings.Split(string(res.Stdout), "\x00")
	all := append([]string{target}, paths...)
	if len(recs) != len(all)+3 { // ids, one per path, sha, and the empty tail
		return in, fmt.Errorf("inspect %s: unexpected output %q", target, res.Stdout)
	}
	ids := strings.Fields(recs[0])
	if len(ids) != 3 {
		return in, fmt.Errorf("inspect %s: unexpected ids %q", target, recs[0])
	}
	self, err := strconv.ParseUint(ids[0], 10, 32)
	if err != nil {
		return in, fmt.Errorf("inspect %s: unexpected uid %q", target, ids[0])
	}
	in.self = uint32(self)
	for i, dst := range []*int64{&in.uid, &in.gid} {
		if ids[1+i] == "-" {
			continue
		}
		n, err := strconv.ParseUint(ids[1+i], 10, 32)
		if err != nil {
			return in, fmt.Errorf("inspect %s: unexpected id %q", target, ids[1+i])
		}
		*dst = int64(n)
	}
	for i, p := range all {
		n, err := parseNode(recs[1+i])
		if err != nil {
			return in, fmt.Errorf("%s: %w", p, err)
		}
		in.nodes[p] = n
	}
	if h := recs[len(all)+1]; h != "-" {
		in.sha = h
	}
	return in, nil
}

// parseNode reads one lstat record of inspectScript.
func parseNode(rec string) (Node, error) {
	switch rec {
	case "-":
		return Node{Kind: NodeMissing}, nil
	case "?":
		return Node{}, errors.New("cannot stat")
	}
	f := strings.SplitN(rec, " ", 7)
	if len(f) < 6 {
		return Node{}, fmt.Errorf("unexpected stat output %q", rec)
	}
	var n Node
	var nums [5]uint64
	for i := range nums {
		base := 10
		if i == 0 {
			base = 16
		}
		v, err := strconv.ParseUint(f[i], base, 64)
		if err != nil {
			return Node{}, fmt.Errorf("unexpected stat output %q", rec)
		}
		nums[i] = v
	}
	raw := uint32(nums[0])
	n.UID, n.GID, n.Dev, n.Ino = uint32(nums[1]), uint32(nums[2]), nums[3], nums[4]
	n.Mode = raw & 0o7777
	n.Owner = f[5]
	switch raw & 0o170000 {
	case 0o040000:
		n.Kind = NodeDir
	case 0o120000:
		n.Kind = NodeSymlink
		if len(f) == 7 {
			n.Link = f[6]
		}
	case 0o100000:
		n.Kind = NodeRegular
	default:
		n.Kind = NodeOther
	}
	return n, nil
}

// prefixes lists "/" and every ancestor directory of the absolute path
// p, then p's own directory: what a resolution of path.Dir(p) asks.
func prefixes(dir string) []string {
	out := []string{"/"}
	cur := "/"
	for _, c := range splitPath(dir) {
		cur = path.Join(cur, c)
		out = append(out, cur)
	}
	return out
}

// writePlan is a resolved write: where, and what is there now.
type writePlan struct {
	res      Resolution
	base     string
	target   Node   // lstat of res.Dir/base (missing when res.Missing is set)
	sha      string // its sha256 when it is a regular file
	uid, gid int64
	self     uint32 // the user the write runs as
}

// planWrite resolves p's directory safely (see ResolveDir) and looks at
// what p is now, in one round trip unless the path passes symlinks.
func (c *Conn) planWrite(ctx context.Context, p string, opts FileOptions) (writePlan, error) {
	in, err := c.inspect(ctx, opts, p, prefixes(path.Dir(p)))
	if err != nil {
		return writePlan{}, err
	}
	lst := &lstatCache{known: in.nodes, miss: func(q string) (Node, error) {
		more, err := c.inspect(ctx, FileOptions{}, q, nil)
		return more.nodes[q], err
	}}
	tr := Trust{Self: in.self}
	if in.uid >= 0 {
		tr.UIDs = append(tr.UIDs, uint32(in.uid))
	}
	res, err := ResolveDir(lst, path.Dir(p), p, tr)
	if err != nil {
		return writePlan{}, err
	}
	wp := writePlan{res: res, base: path.Base(p), uid: in.uid, gid: in.gid, self: in.self}
	if len(res.Missing) > 0 {
		return wp, nil
	}
	if real := path.Join(res.Dir, wp.base); real == p {
		wp.target, wp.sha = in.nodes[p], in.sha
	} else {
		// A trusted symlink on the way (/var/run -> /run): look at the
		// file where it really is.
		more, err := c.inspect(ctx, FileOptions{}, real, nil)
		if err != nil {
			return writePlan{}, err
		}
		wp.target, wp.sha = more.nodes[real], more.sha
	}
	return wp, nil
}

// WriteFile writes data to p atomically and safely: nothing is sent when
// p is already a regular file holding data with the wanted mode, owner and
// group. Otherwise p's directory is resolved without unsafe symlink or
// owner transitions (refused with an *UnsafePathError, nothing changed),
// missing directories are created only inside the resolved one, and the
// data goes to a temporary file created there exclusively with mode 0600,
// which is synced, chowned then chmodded through its descriptor and
// renamed over p (replacing a symlink at p, never following it). A failed
// or cancelled write leaves the old file intact and removes the temporary
// file. Every remote transport (root login or sudo) runs the same script;
// the local transport does the same with openat and friends.
func (c *Conn) WriteFile(ctx context.Context, p string, data []byte, opts FileOptions) (bool, error) {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return false, fmt.Errorf("write file: bad path %q", p)
	}
	if c.local && !c.becomes() {
		return c.writeLocal(ctx, p, data, opts)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	mode := unixMode(opts.Mode)

	wp, err := c.planWrite(ctx, p, opts)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	switch wp.target.Kind {
	case NodeRegular:
		// With no owner asked for, the file must be the writer's own: a
		// file another user planted with the right content stays theirs
		// (to rewrite later) unless it is replaced.
		owner := wp.self
		if wp.uid >= 0 {
			owner = uint32(wp.uid)
		}
		if wp.sha == want && wp.target.Mode == mode && wp.target.UID == owner &&
			(wp.gid < 0 || uint32(wp.gid) == wp.target.GID) {
			c.count(func(k *counters) { k.uploadsSkipped.Add(1) })
			return false, nil
		}
	case NodeMissing, NodeSymlink:
	default:
		return false, fmt.Errorf("write %s: not a regular file", p)
	}
	// Same content, other metadata: written again all the same, so that
	// mode and owner are only ever set through a descriptor.
	ids := func(v int64) string {
		if v < 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	dirMode := opts.DirMode.Perm()
	if dirMode == 0 {
		dirMode = 0o755
	}
	argv := append([]string{"sh", "-c", writeScript, "vigo-write",
		wp.res.Dir, fmt.Sprintf("%d:%d", wp.res.Node.Dev, wp.res.Node.Ino), wp.base, path.Base(tempName(p)),
		strconv.FormatUint(uint64(mode), 8), ids(wp.uid), ids(wp.gid), want,
		fmt.Sprintf("%03o", 0o777&^uint32(dirMode))}, wp.res.Missing...)
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), c: c}
	if _, err := c.Exec(ctx, Cmd{Argv: argv, Stdin: io.Reader(r), Timeout: c.uploadTimeout(len(data))}); err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	return true, nil
}

// FileMode turns octal Unix mode bits (as written: 4755) into an
// os.FileMode, whose setuid, setgid and sticky bits are not the Unix ones.
// It is the inverse of UnixMode.
func FileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// uploadReader feeds an upload, stops it when ctx ends, and counts bytes.
type uploadReader struct {
	ctx context.Context
	r   *bytes.Reader
	c   *Conn
}

func (u *uploadReader) Read(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := u.r.Read(p)
	if n > 0 {
		u.c.count(func(k *counters) { k.bytesUploaded.Add(int64(n)) })
	}
	return n, err
}

// writeScript writes stdin to a file as root (or the login user), every
// step safe against other users of the host. Arguments: the resolved
// directory and its "device:inode" as checked, the file's name, a fresh
// temporary name, the octal mode, uid and gid ("" to leave), the sha256
// of the data, the umask for new directories, then the directories to
// create, in order.
//
// It works relative to the directory it cd'ed into (verified to be the
// one that was checked, by device and inode), creates each missing
// directory there and checks it is the one it made before entering it,
// creates the temporary file exclusively under umask 077 (never wider
// than 0600) on descriptor 3, checks that descriptor is a fresh regular
// file of its own, and then writes, checks the sha256 (stdin closes early
// on cancel: the old file is left), syncs, chowns and chmods through
// /dev/fd/3 (the open file itself, whatever its name points to now:
// chown first, since it clears setuid bits), and renames by name in the
// directory with mv -T (which replaces a symlink at the name and never
// moves into a directory). The temporary file is removed on failure or
// signal (SIGPIPE is ignored so that a closed session cannot kill it
// before it cleans up).
const writeScript = `set -eu
trap '' PIPE
d=$1 did=$2 b=$3 t=$4 m=$5 u=$6 g=$7 h=$8 dum=$9; shift 9
fail() { echo "vigo: $*" >&2; exit 1; }
cd -P -- "$d"
[ "$(stat -c '%d:%i' .)" = "$did" ] || fail "$d changed after it was checked; nothing written"
me=$(id -u)
for c; do
  (umask "$dum" && mkdir -- "$c")
  n=$(stat -c '%d:%i:%u:%F' -- "$c")
  [ "${n#*:*:}" = "$me:directory" ] || fail "$PWD/$c is not the directory vigo made"
  cd -P -- "$c"
  [ "$(stat -c '%d:%i:%u:%F' .)" = "$n" ] || fail "$PWD changed while it was made"
done
own=
trap '[ -z "$own" ] || rm -f -- "$t"' EXIT
trap '[ -z "$own" ] || rm -f -- "$t"; exit 143' TERM INT HUP
umask 077
set -C
exec 3>"$t"
set +C
own=1
[ "$(stat -L -c '%u:%h:%s:%F' /dev/fd/3)" = "$me:1:0:regular empty file" ] || fail "$t: not a fresh file"
cat >&3
s=$(sha256sum < /dev/fd/3)
[ "${s%% *}" = "$h" ] || fail "incomplete upload: $PWD/$b left as it was"
sync -- /dev/fd/3 2>/dev/null || true
if [ -n "$u$g" ]; then chown -- "$u${g:+:$g}" /dev/fd/3; fi
chmod -- "$m" /dev/fd/3
exec 3>&-
mv -fT -- "$t" "$b"
own=`

// removeScript removes the entry $3 of the checked directory $1 (device
// and inode $2): a symlink there is removed, never followed.
const removeScript = `set -e
cd -P -- "$1"
[ "$(stat -c '%d:%i' .)" = "$2" ] || { echo "vigo: $1 changed after it was checked; nothing removed" >&2; exit 1; }
rm -f -- "$3"`

// RemoveFile removes p, resolving its directory like WriteFile does; a
// missing file is not an error. A symlink at p is removed, not followed.
// A file in another user's directory may be removed: the resolution then
// trusts that user too, which keeps it inside root's directories and
// that user's own (no absolute symlink of theirs, no ".." out), so the
// unlink can only take away an entry of theirs.
func (c *Conn) RemoveFile(ctx context.Context, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("remove file: bad path %q", p)
	}
	if c.local && !c.becomes() {
		return c.removeLocal(p)
	}
	wp, err := c.planWrite(ctx, p, FileOptions{})
	if uid, ok := removeRetry(err); ok {
		wp, err = c.planWrite(ctx, p, FileOptions{Owner: strconv.FormatUint(uint64(uid), 10)})
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	if len(wp.res.Missing) > 0 || wp.target.Kind == NodeMissing {
		return nil
	}
	_, err = c.Exec(ctx, Cmd{Argv: []string{"sh", "-c", removeScript, "vigo-remove",
		wp.res.Dir, fmt.Sprintf("%d:%d", wp.res.Node.Dev, wp.res.Node.Ino), wp.base}})
	return err
}

// removeRetry says whether a removal refused because of a directory owned
// by a user is to be tried again trusting that user (once).
func removeRetry(err error) (uint32, bool) {
	var ue *UnsafePathError
	if errors.As(err, &ue) && ue.Kind == NodeDir {
		return ue.UID, true
	}
	return 0, false
}

// uploadTimeout bounds a write that carries n bytes: the per-request bound
// plus one second per MiB (a slow link still gets 1 MiB/s), at most the
// bound of long commands. A small file gets the per-request bound.
func (c *Conn) uploadTimeout(n int) time.Duration {
	b := c.Bounds()
	d := b.Request + time.Duration(n>>20)*time.Second
	if d > b.Long {
		d = b.Long
	}
	return d
}
