package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// These tests play a hostile local user (nobody, through setpriv) on the
// host vigo writes to as root: planting symlinks, swapping the temporary
// file under inotify, replacing a managed file with a link to a root
// file, and watching for a secret while it is written. Each runs against
// every transport (root login over real sshd, sudo, local), under the
// kernel's defaults and under Debian's fs.protected_symlinks=1 and
// fs.protected_regular=2.

// safeConns returns the three ways vigo writes as root.
func safeConns(t *testing.T) map[string]*Conn {
	t.Helper()
	_, _, root := up(t)
	sudo, _ := becomeConn(t, "ok")
	env := newEnv(t)
	local, err := env.pool(t, env.options()).Get(context.Background(), Target{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Conn{"ssh-root": root, "sudo": sudo, "local": local}
}

// hostile is an unprivileged user's view of a scratch tree.
type hostile struct {
	root     string // a root-owned 0755 directory
	uid, gid int
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	dir, err := os.MkdirTemp("/tmp", "vigo-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &hostile{root: dir}
	fmt.Sscan(u.Uid, &h.uid)
	fmt.Sscan(u.Gid, &h.gid)
	return h
}

// userDir makes a directory the user owns.
func (h *hostile) userDir(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(h.root, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, h.uid, h.gid); err != nil {
		t.Fatal(err)
	}
	return d
}

// as runs a command as the user.
func (h *hostile) as(t *testing.T, argv ...string) {
	t.Helper()
	args := append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"}, argv...)
	if out, err := exec.Command("setpriv", args...).CombinedOutput(); err != nil {
		t.Fatalf("as nobody %v: %v: %s", argv, err, out)
	}
}

// victim is a root-only file the user would love to own.
func (h *hostile) victim(t *testing.T) string {
	t.Helper()
	v := filepath.Join(h.root, "victim")
	if err := os.WriteFile(v, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

func (h *hostile) checkVictim(t *testing.T, v string) {
	t.Helper()
	st, err := os.Lstat(v)
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if b, _ := os.ReadFile(v); string(b) != "precious" || sys.Uid != 0 || sys.Gid != 0 || st.Mode() != 0o600 {
		t.Fatalf("root file changed: %q owner %d:%d mode %v", b, sys.Uid, sys.Gid, st.Mode())
	}
}

// debianSysctls runs f under the kernel's defaults and under Debian's
// protected_symlinks/protected_regular, restoring the settings after.
func debianSysctls(t *testing.T, f func(t *testing.T)) {
	for _, set := range []struct{ name, symlinks, regular string }{{"protected-off", "0", "0"}, {"protected-debian", "1", "2"}} {
		t.Run(set.name, func(t *testing.T) {
			for k, v := range map[string]string{"fs/protected_symlinks": set.symlinks, "fs/protected_regular": set.regular} {
				p := "/proc/sys/" + k
				old, err := os.ReadFile(p)
				if err != nil {
					t.Skipf("sysctl %s: %v", k, err)
				}
				if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
					t.Skipf("sysctl %s: %v", k, err)
				}
				t.Cleanup(func() { os.WriteFile(p, old, 0o644) })
			}
			f(t)
		})
	}
}

// TestWriteRefusesSymlinkedParentPlantedByUser: a user plants a symlink
// to a root directory in a directory it owns; a root write below it is
// refused with an error naming the component and its owner, and nothing
// is written anywhere.
func TestWriteRefusesSymlinkedParentPlantedByUser(t *testing.T) {
	conns := safeConns(t)
	debianSysctls(t, func(t *testing.T) {
		for name, c := range conns {
			t.Run(name, func(t *testing.T) {
				h := newHostile(t)
				app := h.userDir(t, "app")
				rootDir := filepath.Join(h.root, "etc")
				os.Mkdir(rootDir, 0o755)
				h.as(t, "ln", "-s", rootDir, filepath.Join(app, "conf.d"))
				for _, owner := range []string{"", "nobody"} {
					p := filepath.Join(app, "conf.d", "sub", "x.conf")
					_, err := c.WriteFile(context.Background(), p, []byte("root data"), FileOptions{Mode: 0o644, Owner: owner})
					var ue *UnsafePathError
					if !errors.As(err, &ue) {
						t.Fatalf("owner %q: want an unsafe path error, got %v", owner, err)
					}
					if !strings.Contains(err.Error(), ue.Component) || !strings.Contains(err.Error(), "nobody") || ue.UID != uint32(h.uid) {
						t.Errorf("owner %q: error does not name the component and its owner: %v", owner, err)
					}
					if ents, _ := os.ReadDir(rootDir); len(ents) != 0 {
						t.Fatalf("wrote through the planted symlink: %v", ents)
					}
				}
				// Removing through it is refused as well.
				os.WriteFile(filepath.Join(rootDir, "keep"), []byte("k"), 0o644)
				if err := c.RemoveFile(context.Background(), filepath.Join(app, "conf.d", "keep")); err == nil {
					t.Fatal("remove through a user's symlink accepted")
				}
				if _, err := os.Stat(filepath.Join(rootDir, "keep")); err != nil {
					t.Fatalf("removed through the planted symlink: %v", err)
				}
			})
		}
	})
}

// TestManagedFileReplacedBySymlinkBeforeNextPush: the owner of a managed
// file's directory replaces the file with a symlink to a root file; the
// next write (same content, other mode: only metadata differs) replaces
// the link and leaves the root file's owner and mode alone. The root file
// holds the same content as the managed one (the worst case: a check by
// content alone would call it converged and only fix metadata).
func TestManagedFileReplacedBySymlinkBeforeNextPush(t *testing.T) {
	conns := safeConns(t)
	debianSysctls(t, func(t *testing.T) {
		for name, c := range conns {
			t.Run(name, func(t *testing.T) {
				h := newHostile(t)
				app := h.userDir(t, "app")
				v := h.victim(t)
				p := filepath.Join(app, "app.conf")
				ctx := context.Background()
				if _, err := c.WriteFile(ctx, p, []byte("precious"), FileOptions{Mode: 0o640, Owner: "nobody"}); err != nil {
					t.Fatal(err)
				}
				h.as(t, "sh", "-c", `rm -f -- "$1" && ln -s -- "$2" "$1"`, "x", p, v)
				ch, err := c.WriteFile(ctx, p, []byte("precious"), FileOptions{Mode: 0o600, Owner: "nobody"})
				if err != nil || !ch {
					t.Fatalf("second write: %v %v", ch, err)
				}
				h.checkVictim(t, v)
				st, err := os.Lstat(p)
				if err != nil || !st.Mode().IsRegular() || st.Sys().(*syscall.Stat_t).Uid != uint32(h.uid) || st.Mode().Perm() != 0o600 {
					t.Fatalf("%s now: %v %v", p, st.Mode(), err)
				}
				// And removing the file when it is a link removes the link.
				h.as(t, "sh", "-c", `rm -f -- "$1" && ln -s -- "$2" "$1"`, "x", p, v)
				if err := c.RemoveFile(ctx, p); err != nil {
					t.Fatal(err)
				}
				h.checkVictim(t, v)
			})
		}
	})
}

// watcher runs this test binary as nobody, watching dir with inotify
// (see TestHelperWatcher); ready once it has said so.
type watcher struct {
	cmd *exec.Cmd
	out *bufio.Reader
	dir string
}

func startWatcher(t *testing.T, h *hostile, mode, dir, target string) *watcher {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a root-only build directory: copy it where
	// nobody can run it.
	bin := filepath.Join(h.root, "watcher")
	if _, err := os.Stat(bin); err != nil {
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
		bin, "-test.run=^TestHelperWatcher$")
	cmd.Env = []string{"VIGO_WATCH_MODE=" + mode, "VIGO_WATCH_DIR=" + dir, "VIGO_WATCH_TARGET=" + target}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{cmd: cmd, out: bufio.NewReader(stdout), dir: dir}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := w.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("watcher: %q %v", line, err)
	}
	return w
}

// stop ends the watcher and returns what it reported.
func (w *watcher) stop(t *testing.T) string {
	t.Helper()
	w.cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(w.out)
	w.cmd.Wait()
	return string(rest)
}

// TestHelperWatcher is the watcher process, not a test: as nobody it
// watches VIGO_WATCH_DIR and, in mode "read", opens every file that
// appears and prints what it can read through those descriptors when
// told to stop; in mode "swap", it moves every temporary file away as
// soon as it is closed after writing and puts a symlink to
// VIGO_WATCH_TARGET in its place.
func TestHelperWatcher(t *testing.T) {
	mode, dir, target := os.Getenv("VIGO_WATCH_MODE"), os.Getenv("VIGO_WATCH_DIR"), os.Getenv("VIGO_WATCH_TARGET")
	if mode == "" {
		t.Skip("helper process for the hostile-user tests")
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		fmt.Println("inotify:", err)
		os.Exit(2)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_MODIFY); err != nil {
		fmt.Println("watch:", err)
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	var opened []*os.File
	var report []string
	events := make(chan string, 1024)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if err != nil {
				close(events)
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				name := strings.TrimRight(string(nameBytes), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				p := filepath.Join(dir, name)
				switch mode {
				case "read":
					if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
						opened = append(opened, f)
					}
				case "swap":
					if ev.Mask&unix.IN_CLOSE_WRITE != 0 && strings.Contains(name, ".vigo-") {
						if os.Rename(p, p+".moved") == nil && os.Symlink(target, p) == nil {
							events <- "swapped " + name
						}
					}
				}
			}
		}
	}()
	fmt.Println("ready")
	<-stop
	time.Sleep(50 * time.Millisecond)
	for {
		select {
		case e := <-events:
			report = append(report, e)
			continue
		default:
		}
		break
	}
	for _, f := range opened {
		b := make([]byte, 4096)
		n, _ := f.ReadAt(b, 0)
		report = append(report, fmt.Sprintf("read %s: %q", filepath.Base(f.Name()), b[:n]))
	}
	fmt.Println(strings.Join(report, "\n"))
	os.Exit(0)
}

// TestTempFileSwappedOnCloseWrite: the owner of the target directory
// swaps vigo's temporary file for a symlink to a root file the moment it
// is closed after writing; the owner and mode vigo sets must land on its
// own file, never on the link's target.
func TestTempFileSwappedOnCloseWrite(t *testing.T) {
	conns := safeConns(t)
	debianSysctls(t, func(t *testing.T) {
		for name, c := range conns {
			t.Run(name, func(t *testing.T) {
				h := newHostile(t)
				app := h.userDir(t, "app")
				v := h.victim(t)
				w := startWatcher(t, h, "swap", app, v)
				for i := 0; i < 3; i++ {
					p := filepath.Join(app, fmt.Sprintf("app%d.conf", i))
					// An error is fine (the file vigo wrote is gone); the root
					// file must not change.
					_, _ = c.WriteFile(context.Background(), p, []byte("data for nobody"), FileOptions{Mode: 0o4755, Owner: "nobody"})
				}
				rep := w.stop(t)
				t.Logf("watcher: %s", strings.TrimSpace(rep))
				h.checkVictim(t, v)
			})
		}
	})
}

// TestSecretNeverReadableWhileWritten: a user watching a directory it
// can read opens every file that appears there while vigo writes a
// secret with mode 0600; it must never get the content.
func TestSecretNeverReadableWhileWritten(t *testing.T) {
	conns := safeConns(t)
	debianSysctls(t, func(t *testing.T) {
		for name, c := range conns {
			t.Run(name, func(t *testing.T) {
				h := newHostile(t)
				dir := filepath.Join(h.root, "etc")
				os.Mkdir(dir, 0o755)
				w := startWatcher(t, h, "read", dir, "")
				for i := 0; i < 5; i++ {
					p := filepath.Join(dir, fmt.Sprintf("secret%d", i))
					if _, err := c.WriteFile(context.Background(), p, []byte("s3cr3t-value"), FileOptions{Mode: 0o600}); err != nil {
						t.Fatal(err)
					}
				}
				rep := w.stop(t)
				if strings.Contains(rep, "s3cr3t") {
					t.Fatalf("another user read the secret while it was written:\n%s", rep)
				}
			})
		}
	})
}

// TestSetuidWithOwnerConverges: mode 4755 with an owner keeps its setuid
// bit (chown clears it, so chown comes first), and a second write
// changes nothing.
func TestSetuidWithOwnerConverges(t *testing.T) {
	for name, c := range safeConns(t) {
		t.Run(name, func(t *testing.T) {
			h := newHostile(t)
			p := filepath.Join(h.root, "bin", "tool")
			ctx := context.Background()
			opts := FileOptions{Mode: os.ModeSetuid | os.ModeSetgid | 0o755, Owner: "nobody", Group: "nogroup"}
			if _, err := c.WriteFile(ctx, p, []byte("#!/bin/sh\n"), opts); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil || st.Mode() != opts.Mode || st.Sys().(*syscall.Stat_t).Uid != uint32(h.uid) {
				t.Fatalf("mode %v owner %d: %v", st.Mode(), st.Sys().(*syscall.Stat_t).Uid, err)
			}
			if ch, err := c.WriteFile(ctx, p, []byte("#!/bin/sh\n"), opts); err != nil || ch {
				t.Fatalf("second write: changed %v %v", ch, err)
			}
		})
	}
}

// TestNumericOwnerConverges: owner "0" and group "0" are ids; a second
// write of the same file changes nothing.
func TestNumericOwnerConverges(t *testing.T) {
	for name, c := range safeConns(t) {
		t.Run(name, func(t *testing.T) {
			h := newHostile(t)
			p := filepath.Join(h.root, "numeric.conf")
			ctx := context.Background()
			opts := FileOptions{Mode: 0o644, Owner: "0", Group: "0"}
			if _, err := c.WriteFile(ctx, p, []byte("x"), opts); err != nil {
				t.Fatal(err)
			}
			if ch, err := c.WriteFile(ctx, p, []byte("x"), opts); err != nil || ch {
				t.Fatalf("second write: changed %v %v", ch, err)
			}
			opts.Owner = fmt.Sprint(h.uid)
			if ch, err := c.WriteFile(ctx, p, []byte("x"), opts); err != nil || !ch {
				t.Fatalf("owner change: changed %v %v", ch, err)
			}
			if st, _ := os.Stat(p); st.Sys().(*syscall.Stat_t).Uid != uint32(h.uid) {
				t.Fatalf("owner now %d", st.Sys().(*syscall.Stat_t).Uid)
			}
		})
	}
}

// A file another user planted at the target, in a sticky directory where
// they may create entries, with exactly the content and mode asked for,
// is not "already up to date": with no owner asked for, the file must be
// the writer's own, else the planter keeps a file root services read and
// can rewrite it after the push.
func TestFilePlantedWithRightContentIsReplaced(t *testing.T) {
	conns := safeConns(t)
	for name, c := range conns {
		t.Run(name, func(t *testing.T) {
			h := newHostile(t)
			spool := filepath.Join(h.root, "spool")
			if err := os.Mkdir(spool, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(spool, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(spool, "app.conf")
			h.as(t, "sh", "-c", `umask 022 && printf config > "$1"`, "x", p)
			ch, err := c.WriteFile(context.Background(), p, []byte("config"), FileOptions{Mode: 0o644})
			if err != nil || !ch {
				t.Fatalf("write over the planted file: changed %v, err %v (want changed)", ch, err)
			}
			st, err := os.Lstat(p)
			if err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 || st.Mode().Perm() != 0o644 {
				t.Fatalf("%s now: %v uid %d %v", p, st.Mode(), st.Sys().(*syscall.Stat_t).Uid, err)
			}
		})
	}
}
