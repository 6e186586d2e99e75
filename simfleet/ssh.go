package simfleet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigo-sh/vigocli/transport"
)

// serveConn runs one SSH connection: sessions (exec) and streams to the
// engine socket; anything else is refused.
func (f *Fleet) serveConn(ctx context.Context, h *host, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, h.cfg)
	if err != nil {
		f.log.Debug("handshake failed", "host", h.name, "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs) // keepalive@openssh.com gets its (negative) reply
	go func() {
		<-ctx.Done()
		sc.Close()
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go f.session(ctx, h, ch, creqs)
		case "direct-streamlocal@openssh.com":
			f.engineStream(ctx, h, nc)
		default:
			f.log.Warn("channel refused", "host", h.name, "type", nc.ChannelType())
			_ = nc.Reject(ssh.UnknownChannelType, "not simulated")
		}
	}
}

// engineStream connects a direct-streamlocal channel to the host's fake
// engine, as sshd connects it to the engine socket.
func (f *Fleet) engineStream(ctx context.Context, h *host, nc ssh.NewChannel) {
	path, ok := streamLocalPath(nc.ExtraData())
	if !ok || path != "/var/run/docker.sock" {
		_ = nc.Reject(ssh.ConnectionFailed, "no such socket: "+path)
		return
	}
	ch, creqs, err := nc.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(creqs)
	eng, err := h.engine.DialDocker(ctx)
	if err != nil {
		ch.Close()
		return
	}
	go func() {
		_, _ = io.Copy(eng, ch)
		eng.Close()
	}()
	go func() {
		_, _ = io.Copy(ch, eng)
		ch.Close()
	}()
}

// streamLocalPath reads the socket path of a direct-streamlocal request
// (RFC 4254-style string, then a reserved string and uint32).
func streamLocalPath(b []byte) (string, bool) {
	if len(b) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", false
	}
	return string(b[4 : 4+n]), true
}

// session answers one session channel: one exec request, then its
// output and exit status. Subsystems (sftp) and shells are refused.
func (f *Fleet) session(ctx context.Context, h *host, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			line, ok := sshString(req.Payload)
			_ = req.Reply(ok, nil)
			if !ok {
				return
			}
			go ssh.DiscardRequests(reqs)
			code := f.exec(ctx, h, line, ch)
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
			return
		case "env", "signal":
			_ = req.Reply(true, nil)
		default:
			f.log.Warn("session request refused", "host", h.name, "type", req.Type)
			_ = req.Reply(false, nil)
		}
	}
}

func sshString(b []byte) (string, bool) {
	s, ok := streamLocalPath(b)
	return s, ok
}

// pidPrefix is what the transport puts before every command (see
// transport/exec.go): it prints the shell's pid, then execs the command.
const pidPrefix = `printf 'vigo-pid:%s\n' "$$" && exec `

// exec runs one command line and returns its exit code.
func (f *Fleet) exec(ctx context.Context, h *host, line string, ch ssh.Channel) int {
	rest, marked := strings.CutPrefix(line, pidPrefix)
	if marked {
		fmt.Fprintf(ch, "vigo-pid:%d\n", 100000+f.pids.Add(1))
	}
	rest = strings.TrimPrefix(rest, "sudo -n -- ")
	argv, err := splitWords(rest)
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "simfleet: %v\n", err)
		return 2
	}
	if code, ok := h.lock.exec(argv, ch); ok {
		return code
	}
	res, err := h.engine.Exec(ctx, transport.Cmd{Argv: argv})
	_, _ = ch.Write(res.Stdout)
	_, _ = ch.Stderr().Write(res.Stderr)
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		if len(res.Stderr) == 0 {
			fmt.Fprintln(ch.Stderr(), ee.Stderr)
		}
		return ee.ExitCode
	}
	if err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		return 1
	}
	if !known(argv) {
		f.log.Warn("command not simulated, answered with exit 0", "host", h.name, "argv0", argv[0])
	}
	return res.ExitCode
}

// known reports whether the fake engine host gives a meaningful answer
// to argv (else it answers exit 0 with no output).
func known(argv []string) bool {
	switch {
	case len(argv) >= 4 && argv[0] == "sh" && argv[1] == "-c" && (argv[3] == "vigo-observe" || argv[3] == "vigo-env"):
		return true
	case len(argv) >= 2 && argv[0] == "docker" && argv[1] == "pull":
		return true
	case len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c":
		return true // a health check: simulated as passing
	case argv[0] == "kill" || argv[0] == "true":
		return true
	}
	return false
}

// splitWords splits a command line written by shellquote.Join: bare
// words and single-quoted parts ('\” for a quote), separated by spaces.
// It is not a shell parser; anything else is an error.
func splitWords(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			i++
			inWord = true
		case strings.IndexByte("\"$`;&|<>(){}*?[]~#\t\n", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q not simulated in %q", c, s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	if len(out) == 0 {
		return nil, errors.New("empty command")
	}
	return out, nil
}
