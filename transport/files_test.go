package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

	// A temp file left by a run killed outright is overwritten, not kept.
	os.WriteFile(tempName(p), []byte("junk"), 0o600)

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
	if left := dirNames(t, dir); strings.Join(left, ",") != "big.bin" {
		t.Fatalf("junk after upload: %v", left)
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
