package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// execLocal runs the same command line as a remote host would, under sh
// in a process group of its own so that cancelling kills all of it.
func (c *Conn) execLocal(ctx context.Context, cmd Cmd, line string) (ExecResult, error) {
	start := time.Now()
	c.count(func(k *counters) { k.sessions.Add(1) })
	var stdout, stderr bytes.Buffer
	x := exec.Command("sh", "-c", line)
	x.Stdin = cmd.Stdin
	x.Stdout = teeTo(&stdout, cmd.Stdout)
	x.Stderr = teeTo(&stderr, cmd.Stderr)
	x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := x.Start(); err != nil {
		return ExecResult{ExitCode: -1}, fmt.Errorf("%s: %s: %w", c.name, line, err)
	}
	done := make(chan error, 1)
	go func() { done <- x.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
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
			fmt.Errorf("%s: %s: %w", c.name, line, ctx.Err())
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
	return res, fmt.Errorf("%s: %s: %w", c.name, line, err)
}

// writeLocal is WriteFile on the controller: same rules, local calls.
func (c *Conn) writeLocal(ctx context.Context, p string, data []byte, opts FileOptions) (bool, error) {
	mode := unixMode(opts.Mode)
	fmode := FileMode(mode)
	uid, gid := -1, -1
	if opts.Owner != "" {
		u, err := user.Lookup(opts.Owner)
		if err != nil {
			return false, fmt.Errorf("%s: write %s: %w", c.name, p, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if opts.Group != "" {
		g, err := user.LookupGroup(opts.Group)
		if err != nil {
			return false, fmt.Errorf("%s: write %s: %w", c.name, p, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if old, err := os.ReadFile(p); err == nil {
		a, b := sha256.Sum256(old), sha256.Sum256(data)
		if hex.EncodeToString(a[:]) == hex.EncodeToString(b[:]) {
			st, err := os.Stat(p)
			if err != nil {
				return false, fmt.Errorf("%s: %w", c.name, err)
			}
			sys, _ := st.Sys().(*syscall.Stat_t)
			if st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) == fmode &&
				(uid < 0 || sys == nil || int(sys.Uid) == uid) && (gid < 0 || sys == nil || int(sys.Gid) == gid) {
				c.count(func(k *counters) { k.uploadsSkipped.Add(1) })
				return false, nil
			}
			if err := os.Chmod(p, fmode); err != nil {
				return false, fmt.Errorf("%s: %w", c.name, err)
			}
			if err := os.Lchown(p, uid, gid); err != nil {
				return false, fmt.Errorf("%s: %w", c.name, err)
			}
			return true, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	var tmp string
	var f *os.File
	var err error
	for attempt := 1; ; attempt++ {
		tmp = tempName(p)
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || attempt >= tempAttempts || !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), c: c}
	if _, err := f.ReadFrom(r); err != nil {
		return false, fmt.Errorf("%s: write %s: %w", c.name, tmp, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	if err := f.Chmod(fmode); err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return false, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%s: write %s: %w", c.name, p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return false, fmt.Errorf("%s: %w", c.name, err)
	}
	ok = true
	return true, nil
}

func (c *Conn) dialDockerLocal(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.pool.opts.DockerSocket)
	if err != nil {
		return nil, fmt.Errorf("%s: docker socket: %w", c.name, err)
	}
	c.count(func(k *counters) { k.streams.Add(1) })
	return conn, nil
}
