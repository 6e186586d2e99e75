package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/vigo-sh/vigocli/secrets"
	"github.com/vigo-sh/vigocli/transport"
)

// TestDebugLogMasksValuesBeforeQuoting: a value a host already escaped
// (docker inspect prints JSON) is quoted once more by the log handler; it
// must be masked in every attribute, before that quoting.
func TestDebugLogMasksValuesBeforeQuoting(t *testing.T) {
	const value = `pw"with\quotes-0123456789`
	m := secrets.NewMasker()
	m.Add(value)
	var buf bytes.Buffer
	mw := m.Writer(&buf)
	log := slog.New(slog.NewTextHandler(mw, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: maskAttr(m)}))
	jsonEscaped := strconv.Quote(value) // what a host printing JSON shows
	log.Debug("exec", "error", errors.New("exit 1: "+jsonEscaped), "out", jsonEscaped, "any", []string{value})
	mw.Close()
	out := buf.String()
	for _, leak := range []string{"0123456789", "with"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log shows the value: %s", out)
		}
	}
	if !strings.Contains(out, secrets.Masked) {
		t.Errorf("nothing masked: %s", out)
	}
}

func TestRequestLine(t *testing.T) {
	for in, want := range map[string]string{
		"GET /v1.47/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n": "GET /v1.47/containers/json?all=1",
		"POST /v1.47/containers/create?name=web HTTP/1.1\r\n":               "POST /v1.47/containers/create?name=web",
		`{"Env":["A=b"]}`:     "",
		"HTTP/1.1 200 OK\r\n": "",
	} {
		got, ok := requestLine([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("requestLine(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestCommandSummary(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		cmd  transport.Cmd
		want string
	}{
		{transport.Cmd{Argv: []string{"docker", "ps"}}, "docker ps"},
		{transport.Cmd{Shell: "curl -sf http://localhost:8080/health"}, "curl -sf http://localhost:8080/health"},
		{transport.Cmd{Shell: "set -e\na\nb\n"}, "set -e … (3 lines)"},
		{transport.Cmd{Shell: long}, long[:200] + "…"},
	} {
		if got := commandSummary(tc.cmd); got != tc.want {
			t.Errorf("commandSummary(%q) = %q, want %q", tc.cmd.Shell+strings.Join(tc.cmd.Argv, " "), got, tc.want)
		}
	}
}
