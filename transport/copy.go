package transport

import (
	"errors"
	"io"
)

// Buffer sizes of growingCopy: a session's streams are mostly a few lines
// (a lock's handshake, a probe's answer), and io.Copy gave each of them a
// 32 KiB buffer — three per command (stdin, stdout, stderr), the largest
// allocation site of a fleet's no-op, held for as long as a lock session
// lives; the holder's relay (--persist) copies four streams per channel
// of every host it serves. Big transfers still reach io.Copy's 32 KiB
// after six full reads.
const (
	copyMinBuf = 1 << 10
	copyMaxBuf = 32 << 10
)

var errInvalidWrite = errors.New("invalid write result")

// growingCopy copies src to dst until EOF, as io.Copy does (src's WriteTo
// if it has one), with a buffer that starts at copyMinBuf and doubles,
// up to copyMaxBuf, each time a read fills it.
func growingCopy(dst io.Writer, src io.Reader) (int64, error) {
	if wt, ok := src.(io.WriterTo); ok {
		return wt.WriteTo(dst)
	}
	buf := make([]byte, copyMinBuf)
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			if nw < 0 || nw > nr {
				nw = 0
				if werr == nil {
					werr = errInvalidWrite
				}
			}
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
			if nr == len(buf) && len(buf) < copyMaxBuf {
				buf = make([]byte, 2*len(buf))
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// smallCopyWriter is a session's Stdout or Stderr: x/crypto copies the
// channel into it with io.Copy, which calls ReadFrom when the writer has
// one, so the copy gets growingCopy's buffer instead of 32 KiB.
type smallCopyWriter struct{ w io.Writer }

func (s smallCopyWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s smallCopyWriter) ReadFrom(r io.Reader) (int64, error) { return growingCopy(s.w, r) }
