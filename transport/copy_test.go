package transport

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// onlyReader hides a reader's WriteTo, as an SSH channel has none.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestGrowingCopyCopiesAll: sizes around each buffer growth, one byte at a
// time and all at once, arrive whole and in order.
func TestGrowingCopyCopiesAll(t *testing.T) {
	for _, size := range []int{0, 1, copyMinBuf - 1, copyMinBuf, copyMinBuf + 1, 3 * copyMinBuf, copyMaxBuf, 5*copyMaxBuf + 7} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i * 7)
		}
		for name, r := range map[string]io.Reader{
			"reads":      onlyReader{bytes.NewReader(src)},
			"one byte":   iotest.OneByteReader(bytes.NewReader(src)),
			"half reads": iotest.HalfReader(bytes.NewReader(src)),
			"writer to":  bytes.NewReader(src),
		} {
			var dst bytes.Buffer
			n, err := growingCopy(&dst, r)
			if err != nil || n != int64(size) || !bytes.Equal(dst.Bytes(), src) {
				t.Errorf("size %d, %s: copied %d (%d bytes equal: %v), err %v", size, name, n, dst.Len(), bytes.Equal(dst.Bytes(), src), err)
			}
		}
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestGrowingCopyErrors: a read error, a write error and a short write end
// the copy with that error, as io.Copy's.
func TestGrowingCopyErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := growingCopy(io.Discard, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: got %v", err)
	}
	if _, err := growingCopy(failWriter{boom}, onlyReader{bytes.NewReader([]byte("x"))}); !errors.Is(err, boom) {
		t.Errorf("write error: got %v", err)
	}
	if _, err := growingCopy(shortWriter{}, onlyReader{bytes.NewReader([]byte("xy"))}); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: got %v", err)
	}
}

// TestSessionWritersSkipBigCopyBuffer: x/crypto copies a session's
// channel into Stdout and Stderr with io.Copy; the writers exec gives it
// take the copy over (ReadFrom), so a few lines of output cost a small
// buffer, not io.Copy's 32 KiB. (A size, not a time.)
func TestSessionWritersSkipBigCopyBuffer(t *testing.T) {
	out, _ := (&Conn{}).outputBuffers()
	w := smallCopyWriter{&pidWriter{dst: out, got: make(chan struct{})}}
	line := []byte("vigo-pid:42\nlocked\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		if _, err := io.Copy(w, onlyReader{bytes.NewReader(line)}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per >= 16<<10 {
		t.Errorf("%d bytes allocated per copy of %d bytes, want under 16 KiB", per, len(line))
	}
}
