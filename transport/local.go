package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// execLocal runs the same command line as a remote host would, under sh
// in a process group of its own so that cancelling kills all of it.
func (c *Conn) execLocal(ctx context.Context, cmd Cmd, line string) (ExecResult, error) {
	start := time.Now()
	c.count(func(k *counters) { k.sessions.Add(1) })
	stdout, stderr := c.outputBuffers()
	x := exec.Command("sh", "-c", line)
	x.Stdin = cmd.Stdin
	x.Stdout = teeTo(stdout, cmd.Stdout)
	x.Stderr = teeTo(stderr, cmd.Stderr)
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := x.Start(); err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("%s: %w", line, err)
	}
	done := make(chan error, 1)
	go func() { done <- x.Wait() }()
	var err, stop error
	select {
	case err = <-done:
		stop = overflowed(stdout, stderr)
	case <-ctx.Done():
		stop = context.Cause(ctx)
	case <-stdout.over:
		stop = stdout.err
	case <-stderr.over:
		stop = stderr.err
	}
	if stop != nil {
		pg := -x.Process.Pid
		_ = syscall.Kill(pg, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(pg, syscall.SIGKILL)
			<-done
		}
		_ = syscall.Kill(pg, syscall.SIGKILL) // stragglers of the group
		return ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1, Duration: time.Since(start)},
			fmt.Errorf("%s: %w", line, stop)
	}
	res := ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if err == nil {
		return res, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, c.exitError(line, res.ExitCode, stderrTail(res.Stderr))
	}
	res.ExitCode = -1
	return res, fmt.Errorf("%s: %w", line, err)
}

// localLstat is the resolver's view of the controller's file system.
type localLstat struct{}

func (localLstat) Lstat(p string) (Node, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return Node{Kind: NodeMissing}, nil
		}
		return Node{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	n := Node{UID: st.Uid, GID: st.Gid, Mode: st.Mode & 0o7777, Dev: st.Dev, Ino: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		n.Kind = NodeDir
	case unix.S_IFLNK:
		n.Kind = NodeSymlink
		l, err := os.Readlink(p)
		if err != nil {
			return Node{}, err
		}
		n.Link = l
	case unix.S_IFREG:
		n.Kind = NodeRegular
	default:
		n.Kind = NodeOther
	}
	return n, nil
}

// localIDs turns FileOptions' owner and group into ids (-1: leave).
func localIDs(opts FileOptions) (uid, gid int, err error) {
	uid, gid = -1, -1
	if opts.Owner != "" {
		if uid, err = strconv.Atoi(opts.Owner); err != nil {
			u, err := user.Lookup(opts.Owner)
			if err != nil {
				return 0, 0, err
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if opts.Group != "" {
		if gid, err = strconv.Atoi(opts.Group); err != nil {
			g, err := user.LookupGroup(opts.Group)
			if err != nil {
				return 0, 0, err
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

// openResolved opens the directory a resolution found, walking it from
// "/" with O_NOFOLLOW (it is symlink-free) and checking it is the one
// that was checked, then creates the missing directories inside it one
// by one, opening each without following links and checking it is ours.
func openResolved(res Resolution, dirMode os.FileMode) (int, error) {
	const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open("/", dirFlags, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	step := func(name string) error {
		nfd, err := unix.Openat(fd, name, dirFlags, 0)
		unix.Close(fd)
		fd = nfd
		return err
	}
	cur := "/"
	for _, c := range splitPath(res.Dir) {
		cur = path.Join(cur, c)
		if err := step(c); err != nil {
			return -1, &os.PathError{Op: "open", Path: cur, Err: err}
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Dev != res.Node.Dev || st.Ino != res.Node.Ino {
		unix.Close(fd)
		return -1, fmt.Errorf("%s changed after it was checked", res.Dir)
	}
	if dirMode == 0 {
		dirMode = 0o755
	}
	for _, m := range res.Missing {
		cur = path.Join(cur, m)
		if err := unix.Mkdirat(fd, m, uint32(dirMode.Perm())); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "mkdir", Path: cur, Err: err}
		}
		if err := step(m); err != nil {
			return -1, &os.PathError{Op: "open", Path: cur, Err: err}
		}
		if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != os.Geteuid() {
			unix.Close(fd)
			return -1, fmt.Errorf("%s is not the directory vigo made", cur)
		}
	}
	return fd, nil
}

// resolveLocal resolves p's directory on the controller.
func resolveLocal(p string, uid int) (Resolution, error) {
	tr := Trust{Self: uint32(os.Geteuid())}
	if uid >= 0 {
		tr.UIDs = append(tr.UIDs, uint32(uid))
	}
	res, err := ResolveDir(localLstat{}, path.Dir(p), p, tr)
	if err != nil {
		var ue *UnsafePathError
		if errors.As(err, &ue) && ue.Owner == "" {
			if u, lerr := user.LookupId(strconv.Itoa(int(ue.UID))); lerr == nil {
				ue.Owner = u.Username
			}
		}
	}
	return res, err
}

// writeLocal is WriteFile on the controller: the same rules, with
// descriptors: the directory is resolved and opened safely, the file
// compared through an O_NOFOLLOW descriptor, the temporary file created
// exclusively with mode 0600 in the opened directory, written, synced,
// fchown'ed then fchmod'ed, and renamed with renameat.
func (c *Conn) writeLocal(ctx context.Context, p string, data []byte, opts FileOptions) (bool, error) {
	mode := unixMode(opts.Mode)
	fail := func(err error) (bool, error) { return false, fmt.Errorf("write %s: %w", p, err) }
	uid, gid, err := localIDs(opts)
	if err != nil {
		return fail(err)
	}
	res, err := resolveLocal(p, uid)
	if err != nil {
		return fail(err)
	}
	dfd, err := openResolved(res, opts.DirMode)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(dfd)
	base := path.Base(p)
	var st unix.Stat_t
	switch err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return fail(err)
	case st.Mode&unix.S_IFMT == unix.S_IFREG:
		owner := uid // none asked for: the file must be our own, not one another user planted
		if owner < 0 {
			owner = os.Geteuid()
		}
		if st.Mode&0o7777 == mode && int(st.Uid) == owner && (gid < 0 || int(st.Gid) == gid) && sameContent(dfd, base, data) {
			c.count(func(k *counters) { k.uploadsSkipped.Add(1) })
			return false, nil
		}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK: // replaced below, never followed
	default:
		return fail(errors.New("not a regular file"))
	}
	var tmp string
	var fd int
	for attempt := 1; ; attempt++ {
		tmp = path.Base(tempName(p))
		fd, err = unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil || attempt >= tempAttempts || !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return fail(&os.PathError{Op: "create", Path: path.Join(path.Dir(p), tmp), Err: err})
	}
	f := os.NewFile(uintptr(fd), path.Join(path.Dir(p), tmp))
	ok := false
	defer func() {
		if !ok {
			f.Close()
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), c: c}
	if _, err := io.Copy(f, r); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	// chown first: it clears setuid and setgid bits.
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := f.Chmod(FileMode(mode)); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return fail(&os.LinkError{Op: "rename", Old: tmp, New: p, Err: err})
	}
	ok = true
	return true, nil
}

// sameContent says whether the regular file name in dfd holds data,
// read through a descriptor that follows no symlink.
func sameContent(dfd int, name string, data []byte) bool {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, int64(len(data))+1)); err != nil {
		return false
	}
	want := sha256.Sum256(data)
	return bytes.Equal(h.Sum(nil), want[:])
}

// removeLocal is RemoveFile on the controller.
func (c *Conn) removeLocal(p string) error {
	res, err := resolveLocal(p, -1)
	if uid, ok := removeRetry(err); ok {
		res, err = resolveLocal(p, int(uid))
	}
	if err == nil && len(res.Missing) > 0 {
		return nil
	}
	dfd := -1
	if err == nil {
		dfd, err = openResolved(res, 0)
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, path.Base(p), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func (c *Conn) dialDockerLocal(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.dockerSocket())
	if err != nil {
		return nil, fmt.Errorf("docker socket: %w", err)
	}
	c.count(func(k *counters) { k.streams.Add(1) })
	return conn, nil
}
