package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestWriteFileModeOwnerAndSkip(t *testing.T) {
	_, _, c := up(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "deep", "er", "app.conf")
	changed, err := c.WriteFile(ctx, p, []byte("one"), FileOptions{Mode: 0o640, Owner: "root", Group: "root"})
	if err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("mode: %v %v", st, err)
	}
	changed, err = c.WriteFile(ctx, p, []byte("one"), FileOptions{Mode: 0o640})
	if err != nil || changed {
		t.Fatalf("identical write: changed %v err %v", changed, err)
	}
	// Same content, other mode: fixed in place.
	changed, err = c.WriteFile(ctx, p, []byte("one"), FileOptions{Mode: 0o600})
	if st, _ := os.Stat(p); err != nil || !changed || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode change: %v %v %v", changed, err, st.Mode())
	}
	sums, err := c.FileSHA256(ctx, []string{p, p + ".missing", filepath.Dir(p)})
	if err != nil || len(sums) != 1 || sums[p] != sha([]byte("one")) {
		t.Fatalf("sha256: %v %v", sums, err)
	}
	if err := c.RemoveFile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveFile(ctx, p); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("file still there")
	}
	// Unknown owner: an error, and no junk.
	_, err = c.WriteFile(ctx, p, []byte("two"), FileOptions{Owner: "no-such-user-vigo"})
	if err == nil {
		t.Fatal("unknown owner accepted")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*")); len(left) != 0 {
		t.Errorf("junk left: %v", left)
	}
}

// TestUpload100MBAtomic: an upload cancelled halfway leaves the old file
// and no temporary file; the full upload replaces it; an identical second
// upload sends nothing.
func TestUpload100MBAtomic(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB upload")
	}
	_, _, c := up(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "big.bin")
	old := []byte("old content\n")
	if _, err := c.WriteFile(ctx, p, old, FileOptions{}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 100<<20)
	rand.Read(big)

	// Kill it halfway.
	cctx, cancel := context.WithCancel(ctx)
	base := c.Stats().BytesUploaded
	go func() {
		for c.Stats().BytesUploaded-base < 50<<20 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.WriteFile(cctx, p, big, FileOptions{})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancelled upload, got %v", err)
	}
	sent := c.Stats().BytesUploaded - base
	if sent >= int64(len(big)) {
		t.Fatalf("cancel came too late to test anything: %d bytes sent", sent)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, old) {
		t.Fatalf("old file damaged by a killed upload (%d bytes now)", len(got))
	}
	if left := dirNames(t, dir); strings.Join(left, ",") != "big.bin" {
		t.Fatalf("junk after a killed upload: %v", left)
	}
	t.Logf("killed after %d MB; old file intact, no temporary file", sent>>20)

	// A temp file left by a run killed outright (random name) is not
	// touched by later uploads.
	leftover := filepath.Join(dir, ".big.bin.vigo-AbC123")
	os.WriteFile(leftover, []byte("junk"), 0o600)

	start := time.Now()
	before := c.Stats()
	changed, err := c.WriteFile(ctx, p, big, FileOptions{Mode: 0o600})
	if err != nil || !changed {
		t.Fatalf("full upload: %v %v", changed, err)
	}
	took := time.Since(start)
	got, _ := os.ReadFile(p)
	if sha(got) != sha(big) {
		t.Fatal("uploaded content differs")
	}
	if left := dirNames(t, dir); strings.Join(left, ",") != ".big.bin.vigo-AbC123,big.bin" {
		t.Fatalf("junk after upload: %v", left)
	}
	if b, _ := os.ReadFile(leftover); string(b) != "junk" {
		t.Fatalf("leftover temp file overwritten: %q", b)
	}
	after := c.Stats()
	t.Logf("100 MB upload: %s (%.0f MB/s), %d bytes sent", took.Round(time.Millisecond), 100/took.Seconds(), after.BytesUploaded-before.BytesUploaded)

	changed, err = c.WriteFile(ctx, p, big, FileOptions{Mode: 0o600})
	if err != nil || changed {
		t.Fatalf("identical upload: changed %v err %v", changed, err)
	}
	again := c.Stats()
	if again.BytesUploaded != after.BytesUploaded || again.UploadsSkipped != after.UploadsSkipped+1 {
		t.Fatalf("identical upload sent %d bytes", again.BytesUploaded-after.BytesUploaded)
	}
	if again.Sessions-after.Sessions != 1 {
		t.Errorf("identical upload took %d round trips, want 1", again.Sessions-after.Sessions)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestTempNamesUnpredictable: temporary files are .NAME.vigo-XXXXXX with
// six random letters and digits.
func TestTempNamesUnpredictable(t *testing.T) {
	re := regexp.MustCompile(`^/srv/\.app\.conf\.vigo-[A-Za-z0-9]{6}$`)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		n := tempName("/srv/app.conf")
		if !re.MatchString(n) {
			t.Fatalf("temp name %q", n)
		}
		seen[n] = true
	}
	if len(seen) < 49 {
		t.Fatalf("temp names repeat: %d distinct of 50", len(seen))
	}
}

// TestWriteFileNeverWritesThroughPlantedSymlink: in a shared directory
// (/tmp) another user can plant a symlink at a predictable temporary name;
// writing as root must not follow it, whether as a root login, through sudo or
// locally.
func TestWriteFileNeverWritesThroughPlantedSymlink(t *testing.T) {
	_, _, sftpConn := up(t)
	sudoConn, _ := becomeConn(t, "ok")
	env := newEnv(t)
	localConn, err := env.pool(t, env.options()).Get(context.Background(), Target{Name: "local", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Conn{"sftp": sftpConn, "sudo": sudoConn, "local": localConn} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			os.WriteFile(victim, []byte("precious"), 0o644)
			p := filepath.Join(dir, "app.conf")
			// The old predictable name, and a guess at a random one.
			for _, planted := range []string{".app.conf.vigo-tmp", ".app.conf.vigo-XXXXXX"} {
				if err := os.Symlink(victim, filepath.Join(dir, planted)); err != nil {
					t.Fatal(err)
				}
			}
			if ch, err := c.WriteFile(context.Background(), p, []byte("new"), FileOptions{Mode: 0o600}); err != nil || !ch {
				t.Fatalf("write: %v %v", ch, err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "precious" {
				t.Fatalf("wrote through a planted symlink: victim now %q", b)
			}
			st, err := os.Lstat(p)
			if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", p, st.Mode(), err)
			}
			if b, _ := os.ReadFile(p); string(b) != "new" {
				t.Fatalf("content %q", b)
			}
			if left := dirNames(t, dir); strings.Join(left, ",") != ".app.conf.vigo-XXXXXX,.app.conf.vigo-tmp,app.conf" {
				t.Fatalf("files now: %v", left)
			}
		})
	}
}

// TestWriteScriptRefusesShortUpload: when stdin ends early (an upload
// cancelled or cut), the become write script leaves the old file and no
// temporary file, rather than renaming a partial one into place.
func TestWriteScriptRefusesShortUpload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.conf")
	os.WriteFile(p, []byte("old"), 0o644)
	full := []byte("the whole new content\n")
	st, _ := os.Stat(dir)
	sys := st.Sys().(*syscall.Stat_t)
	did := fmt.Sprintf("%d:%d", sys.Dev, sys.Ino)
	script := func(mode string) *exec.Cmd {
		return exec.Command("sh", "-c", writeScript, "vigo-write", dir, did, "app.conf", ".app.conf.vigo-AbC123", mode, "", "", sha(full), "022")
	}
	x := script("644")
	x.Stdin = bytes.NewReader(full[:5])
	out, err := x.CombinedOutput()
	if err == nil {
		t.Fatalf("short upload accepted: %s", out)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("old file replaced by a partial upload: %q", b)
	}
	if left := dirNames(t, dir); strings.Join(left, ",") != "app.conf" {
		t.Fatalf("junk left: %v", left)
	}
	if !strings.Contains(string(out), "incomplete upload") {
		t.Errorf("message: %s", out)
	}
	// The full content goes through.
	x = script("600")
	x.Stdin = bytes.NewReader(full)
	if out, err := x.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, full) {
		t.Fatalf("content %q", b)
	}
	if left := dirNames(t, dir); strings.Join(left, ",") != "app.conf" {
		t.Fatalf("junk left: %v", left)
	}
}
