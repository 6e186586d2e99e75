package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// DialDocker opens a stream to the host's Docker engine API over the same
// connection: a direct-streamlocal@openssh.com channel to the Docker
// socket, which needs no remote process, or, when sshd refuses that
// (AllowStreamLocalForwarding no, socket not readable by the login user,
// become), a `docker system dial-stdio` session. The choice is remembered
// for the connection.
func (c *Conn) DialDocker(ctx context.Context) (net.Conn, error) {
	if c.local {
		return c.dialDockerLocal(ctx)
	}
	if c.becomes() {
		// The socket is root's; the login user may not reach it.
		return c.dialStdio(ctx)
	}
	c.dockerMu.Lock()
	via := c.dockerVia
	c.dockerMu.Unlock()
	if via == "dial-stdio" {
		return c.dialStdio(ctx)
	}
	conn, err := c.client.DialContext(ctx, "unix", c.dockerSocket())
	if err == nil {
		c.count(func(k *counters) { k.streams.Add(1) })
		c.setDockerVia("streamlocal")
		return conn, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("docker socket: %w", ctx.Err())
	}
	var oce *ssh.OpenChannelError
	if via == "streamlocal" || !errors.As(err, &oce) {
		// It worked before, or the connection itself failed.
		return nil, unreachable(fmt.Errorf("docker socket %s: %w", c.dockerSocket(), err))
	}
	c.pool.log.Debug("docker socket stream refused, using dial-stdio", "host", c.String(), "err", err)
	conn, err = c.dialStdio(ctx)
	if err != nil {
		return nil, err
	}
	c.setDockerVia("dial-stdio")
	return conn, nil
}

func (c *Conn) setDockerVia(v string) {
	c.dockerMu.Lock()
	c.dockerVia = v
	c.dockerMu.Unlock()
}

// dialStdio runs `docker system dial-stdio` and speaks to it over the
// session's stdin and stdout; the stream holds a session slot until closed.
func (c *Conn) dialStdio(ctx context.Context) (net.Conn, error) {
	argv := []string{"docker", "system", "dial-stdio"}
	if sock := c.dockerSocket(); sock != "/var/run/docker.sock" {
		argv = []string{"docker", "-H", "unix://" + sock, "system", "dial-stdio"}
	}
	line, _ := commandLine(Cmd{Argv: argv}, c.becomes())
	sess, release, err := c.newSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker dial-stdio: %w", err)
	}
	stderr := &tailBuffer{}
	sess.Stderr = smallCopyWriter{stderr}
	in, err := sess.StdinPipe()
	if err == nil {
		var out io.Reader
		if out, err = sess.StdoutPipe(); err == nil {
			if err = sess.Start(line); err == nil {
				c.count(func(k *counters) { k.streams.Add(1) })
				return &sessionConn{sess: sess, in: in, out: out, stderr: stderr, release: release, host: c.name}, nil
			}
		}
	}
	sess.Close()
	release()
	return nil, fmt.Errorf("docker dial-stdio: %w", err)
}

// sessionConn is a net.Conn over a session's stdin and stdout.
type sessionConn struct {
	sess    *ssh.Session
	in      io.WriteCloser
	out     io.Reader
	stderr  *tailBuffer
	release func()
	host    string
	once    sync.Once
}

// Read reports why dial-stdio ended when it printed a reason.
func (s *sessionConn) Read(p []byte) (int, error) {
	n, err := s.out.Read(p)
	if err == io.EOF {
		if msg := s.stderr.String(); msg != "" {
			err = fmt.Errorf("docker system dial-stdio: %s", msg)
		}
	}
	return n, err
}

// tailBuffer keeps the end of what is written to it (at most twice the
// tail shown); String shows its last whole lines only.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	cut bool // the start was dropped: the first line may be partial
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*tailMaxBytes {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-2*tailMaxBytes:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.buf)
	if b.cut {
		// Never show a line whose start was dropped.
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return fmt.Sprintf("... (a line of more than %d bytes not shown)", len(s))
		}
		s = s[i+1:]
		if strings.TrimSpace(s) == "" {
			return "... (a line of more than " + fmt.Sprint(i) + " bytes not shown)"
		}
		return "...\n" + strings.TrimPrefix(TailLines(s, tailMaxLines, tailMaxBytes), "...\n")
	}
	return TailLines(s, tailMaxLines, tailMaxBytes)
}

func (s *sessionConn) Write(p []byte) (int, error) { return s.in.Write(p) }
func (s *sessionConn) Close() error {
	s.once.Do(func() {
		s.in.Close()
		s.sess.Close()
		s.release()
	})
	return nil
}
func (s *sessionConn) LocalAddr() net.Addr                { return stdioAddr(s.host) }
func (s *sessionConn) RemoteAddr() net.Addr               { return stdioAddr(s.host) }
func (s *sessionConn) SetDeadline(t time.Time) error      { return nil }
func (s *sessionConn) SetReadDeadline(t time.Time) error  { return nil }
func (s *sessionConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr string

func (a stdioAddr) Network() string { return "docker-dial-stdio" }
func (a stdioAddr) String() string  { return string(a) }
