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

	"github.com/pkg/sftp"
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
		return nil, fmt.Errorf("%s: sha256 of %d files: got %d lines", c.name, len(paths), len(lines))
	}
	for i, l := range lines {
		if l != "-" {
			out[paths[i]] = l
		}
	}
	return out, nil
}

// probeScript prints the mode, owner and group then the sha256 of $1, or
// nothing when it does not exist.
const probeScript = `if [ -f "$1" ]; then stat -c '%a %U %G' -- "$1" && sha256sum < "$1"; fi`

type remoteFile struct {
	exists       bool
	mode         uint32
	owner, group string
	sha          string
}

func (c *Conn) probe(ctx context.Context, p string) (remoteFile, error) {
	res, err := c.Exec(ctx, Cmd{Argv: []string{"sh", "-c", probeScript, "vigo-probe", p}})
	if err != nil {
		return remoteFile{}, err
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) == 0 {
		return remoteFile{}, nil
	}
	if len(f) < 4 {
		return remoteFile{}, fmt.Errorf("%s: %s: unexpected stat output %q", c.name, p, res.Stdout)
	}
	m, err := strconv.ParseUint(f[0], 8, 32)
	if err != nil {
		return remoteFile{}, fmt.Errorf("%s: %s: unexpected mode %q", c.name, p, f[0])
	}
	return remoteFile{exists: true, mode: uint32(m), owner: f[1], group: f[2], sha: f[3]}, nil
}

// WriteFile writes data to p atomically: nothing is sent when the file
// already holds data with the wanted mode and owner; otherwise data goes
// to a temporary file in the same directory (parents created), which is
// synced, given its mode and owner, and renamed over p. A failed or
// cancelled upload leaves the old file intact and removes the temporary
// file.
func (c *Conn) WriteFile(ctx context.Context, p string, data []byte, opts FileOptions) (bool, error) {
	if p == "" || strings.HasSuffix(p, "/") {
		return false, fmt.Errorf("%s: write file: bad path %q", c.name, p)
	}
	if c.local && !c.becomes() {
		return c.writeLocal(ctx, p, data, opts)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	mode := unixMode(opts.Mode)

	cur, err := c.probe(ctx, p)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	if cur.exists && cur.sha == want {
		if cur.mode == mode && (opts.Owner == "" || opts.Owner == cur.owner) && (opts.Group == "" || opts.Group == cur.group) {
			c.count(func(k *counters) { k.uploadsSkipped.Add(1) })
			return false, nil
		}
		// Same content, other metadata: fix it in place.
		if err := c.setMeta(ctx, p, mode, opts); err != nil {
			return false, fmt.Errorf("write %s: %w", p, err)
		}
		return true, nil
	}
	if c.becomes() {
		err = c.writeSudo(ctx, p, data, mode, opts)
	} else {
		err = c.writeSFTP(ctx, p, data, mode, opts)
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	return true, nil
}

// setMeta sets mode and owner of p with one command.
func (c *Conn) setMeta(ctx context.Context, p string, mode uint32, opts FileOptions) error {
	argv := []string{"chmod", "--", strconv.FormatUint(uint64(mode), 8), p}
	if own := ownerSpec(opts); own != "" {
		argv = []string{"sh", "-c", `chmod -- "$1" "$3" && chown -- "$2" "$3"`, "vigo-meta",
			strconv.FormatUint(uint64(mode), 8), own, p}
	}
	_, err := c.Exec(ctx, Cmd{Argv: argv})
	return err
}

// ownerSpec is chown's owner[:group] argument ("" when neither is set).
func ownerSpec(opts FileOptions) string {
	switch {
	case opts.Owner != "" && opts.Group != "":
		return opts.Owner + ":" + opts.Group
	case opts.Owner != "":
		return opts.Owner
	case opts.Group != "":
		return ":" + opts.Group
	}
	return ""
}

// sftpClient returns the connection's SFTP client, opened on first use
// (it holds one session slot while the connection lives).
func (c *Conn) sftpClient(ctx context.Context) (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	// The session is opened like any other (slot, retry), then turned
	// into the SFTP subsystem.
	sess, release, err := c.newSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: sftp: %w", c.name, err)
	}
	fail := func(err error) (*sftp.Client, error) {
		sess.Close()
		release()
		return nil, fmt.Errorf("%s: sftp: %w", c, err)
	}
	w, err := sess.StdinPipe()
	if err != nil {
		return fail(err)
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return fail(err)
	}
	cl, err := sftp.NewClientPipe(r, w, sftp.UseConcurrentWrites(true), sftp.UseFstat(true))
	if err != nil {
		return fail(err)
	}
	c.sftp = cl
	go func() {
		_ = cl.Wait()
		sess.Close()
		release()
		c.sftpMu.Lock()
		if c.sftp == cl {
			c.sftp = nil
		}
		c.sftpMu.Unlock()
	}()
	return cl, nil
}

func (c *Conn) writeSFTP(ctx context.Context, p string, data []byte, mode uint32, opts FileOptions) (err error) {
	cl, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	if dir := path.Dir(p); dir != "." && dir != "/" {
		if err := cl.MkdirAll(dir); err != nil {
			return fmt.Errorf("%s: mkdir %s: %w", c.name, dir, err)
		}
	}
	var tmp string
	var f *sftp.File
	for attempt := 1; ; attempt++ {
		tmp = tempName(p)
		// SFTP v3 has no "exists" status: sshd answers a taken name with
		// a generic failure, so only that one is retried.
		f, err = cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		var se *sftp.StatusError
		if err == nil || attempt >= tempAttempts || !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: create %s: %w", c.name, tmp, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			if rmErr := cl.Remove(tmp); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("%s: removing %s: %w", c.name, tmp, rmErr))
			}
		}
	}()
	// Only the owner can read the data until its mode is set.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("%s: chmod %s: %w", c.name, tmp, err)
	}
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), c: c}
	if _, err := f.ReadFromWithConcurrency(r, 0); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: upload to %s: %w", c.name, tmp, ctx.Err())
		}
		return fmt.Errorf("%s: upload to %s: %w", c.name, tmp, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: upload to %s: %w", c.name, tmp, err)
	}
	if err := f.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("%s: fsync %s: %w", c.name, tmp, err)
	}
	if err := f.Chmod(FileMode(mode)); err != nil {
		return fmt.Errorf("%s: chmod %s: %w", c.name, tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close %s: %w", c.name, tmp, err)
	}
	if own := ownerSpec(opts); own != "" {
		if _, err := c.Exec(ctx, Cmd{Argv: []string{"chown", "--", own, tmp}}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: upload to %s: %w", c.name, tmp, err)
	}
	if err := cl.PosixRename(tmp, p); err != nil {
		return fmt.Errorf("%s: rename %s to %s: %w", c.name, tmp, p, err)
	}
	renamed = true
	return nil
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

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
		return true
	}
	return errors.Is(err, sftp.ErrSSHFxOpUnsupported)
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

// Len lets sftp size concurrent writes.
func (u *uploadReader) Len() int { return u.r.Len() }

// writeScript writes stdin to $1 atomically as root (sudo): a temp file
// made by mktemp in the same directory (exclusive, unpredictable name),
// removed on failure or signal; its sha256 must be $4, else the upload was
// cut short (stdin closes on cancel too) and $1 is left alone; then mode,
// owner and rename. Arguments: path, octal mode, chown spec ("" to keep),
// sha256.
const writeScript = `set -e
p=$1; d=$(dirname -- "$p"); b=$(basename -- "$p"); t=
trap '[ -z "$t" ] || rm -f -- "$t"' EXIT
trap '[ -z "$t" ] || rm -f -- "$t"; exit 143' TERM INT HUP
mkdir -p -- "$d"
t=$(mktemp -- "$d/.$b.vigo-XXXXXX")
cat > "$t"
h=$(sha256sum < "$t")
if [ "${h%% *}" != "$4" ]; then echo "vigo: incomplete upload to $t: $p left as it was" >&2; exit 1; fi
sync -- "$t" 2>/dev/null || true
chmod -- "$2" "$t"
if [ -n "$3" ]; then chown -- "$3" "$t"; fi
mv -f -- "$t" "$p"
t=`

func (c *Conn) writeSudo(ctx context.Context, p string, data []byte, mode uint32, opts FileOptions) error {
	sum := sha256.Sum256(data)
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), c: c}
	_, err := c.Exec(ctx, Cmd{
		Argv: []string{"sh", "-c", writeScript, "vigo-write", p, strconv.FormatUint(uint64(mode), 8),
			ownerSpec(opts), hex.EncodeToString(sum[:])},
		Stdin: io.Reader(r),
	})
	return err
}

// RemoveFile removes p; a missing file is not an error.
func (c *Conn) RemoveFile(ctx context.Context, p string) error {
	if c.local && !c.becomes() {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		return nil
	}
	_, err := c.Exec(ctx, Cmd{Argv: []string{"rm", "-f", "--", p}})
	return err
}
