package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener accepts TCP connections on loopback, counts them and
// closes them at once: a stand-in sshd that proves whether vigo dialled.
func countingListener(t *testing.T) (port int, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dials = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, dials
}

// writeStockpile writes files (path -> content) under a new directory.
func writeStockpile(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := app.RunContext(ctx, append([]string{"vigocli"}, args...))
	code := exitCode(err)
	if err != nil {
		fmt.Fprintln(&out, "vigocli:", err)
	}
	return code, out.String()
}

// Everything validate checks is checked by push and task run before any
// host is dialled: a mistake anywhere exits 4 and no connection reaches
// the (otherwise good) host listening on loopback. The control case
// proves the listener sees a push that does dial.
func TestNothingDialledBeforeValidation(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	port, dials := countingListener(t)
	const envoys = "envoys:\n  - match: \"*\"\n    roles: [app]\n"
	const role = "name: app\nmodules: [app]\n"
	good := fmt.Sprintf("hosts:\n  - name: good\n    address: 127.0.0.1\n    port: %d\n    user: root\n", port)
	module := func(res string) string {
		return "name: app\nresources:\n  - name: motd\n    type: file\n    target_path: /etc/motd\n    content: hi\n" + res
	}
	for _, tc := range []struct {
		name      string
		inventory string
		module    string
		args      []string
		want      string
	}{
		{"bad address", good + "  - name: bad\n    address: 10.251.0..15\n", module(""), []string{"envoys", "push", "--all"}, `address "10.251.0..15" of host "bad" is not an IPv4 address`},
		{"port in address", good + "  - name: bad\n    address: host:22\n", module(""), []string{"envoys", "push", "--all"}, `has a port in it`},
		{"octet", good + "  - name: bad\n    address: 10.0.0.999\n", module(""), []string{"envoys", "push", "--target", "good"}, `999 is more than 255`},
		{"image flag", good, module("  - name: c\n    type: docker_container\n    container: cc\n    image: \"--privileged\"\n"), []string{"envoys", "push", "--all"}, `"--privileged" is not an image reference`},
		{"container flag", good, module("  - name: c\n    type: docker_container\n    container: \"-x\"\n    image: nginx\n"), []string{"envoys", "push", "--all"}, `"-x" is not a container name`},
		{"relative target", good, module("  - name: f\n    type: file\n    target_path: etc/x\n    content: x\n"), []string{"envoys", "push", "--all"}, `want a clean absolute path`},
		{"two owners", good, module("  - name: again\n    type: file\n    target_path: /etc/motd\n    content: other\n"), []string{"envoys", "push", "--all"}, `file "/etc/motd" of resource "again" (file) is already owned by resource "app/motd"`},
		{"env key", good, module("  - name: c\n    type: docker_container\n    container: cc\n    image: nginx\n    environment: {\"A=B\": x}\n"), []string{"envoys", "push", "--all"}, `"A=B" is not a variable name`},
		{"task run bad address", good + "  - name: bad\n    address: \"web 1\"\n", module(""), []string{"task", "run", "--all", "true"}, `holds a space`},
		{"lock status bad address", good + "  - name: bad\n    address: \"[::1]\"\n", module(""), []string{"lock", "status"}, `in brackets`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeStockpile(t, map[string]string{
				"envoys/e.vgo": envoys, "roles/app.vgo": role, "modules/app.vgo": tc.module, "inventory.vgo": tc.inventory,
			})
			before := dials.Load()
			code, out := runCLI(t, append([]string{"-s", dir}, tc.args...)...)
			if code != 4 {
				t.Errorf("exit %d, want 4\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if n := dials.Load() - before; n != 0 {
				t.Errorf("%d connections reached the good host before validation failed\n%s", n, out)
			}
			// validate says the same, also exit 4.
			if code, vout := runCLI(t, "-s", dir, "validate"); code != 4 || !strings.Contains(vout, tc.want) {
				t.Errorf("validate: exit %d, want 4 and %q:\n%s", code, tc.want, vout)
			}
		})
	}
	t.Run("control: a valid stockpile is dialled", func(t *testing.T) {
		dir := writeStockpile(t, map[string]string{
			"envoys/e.vgo": envoys, "roles/app.vgo": role, "modules/app.vgo": module(""), "inventory.vgo": good,
		})
		before := dials.Load()
		code, out := runCLI(t, "-s", dir, "envoys", "push", "--all")
		if code == 0 || code == 4 {
			t.Errorf("exit %d, want a connection failure\n%s", code, out)
		}
		if dials.Load() == before {
			t.Errorf("the push never dialled the listener: this test cannot see a dial\n%s", out)
		}
	})
}

// Every mistake comes in one pass: a schema error, a missing variable, an
// executor value and an inventory address together (today's main showed
// the missing variable only once the schema error was fixed, and the
// executor values never).
func TestValidateOnePass(t *testing.T) {
	dir := writeStockpile(t, map[string]string{
		"envoys/e.vgo":  "envoys:\n  - match: \"*\"\n    roles: [app]\n",
		"roles/app.vgo": "name: app\nmodules: [app]\n",
		"modules/app.vgo": "name: app\nresources:\n" +
			"  - name: web\n    type: docker_container\n    container: web\n    image: \"nginx:{{ .Vars.nginx_versoin }}\"\n    restart_polcy: always\n" +
			"  - name: side\n    type: docker_container\n    container: side\n    image: \"--privileged\"\n",
		"inventory.vgo": "hosts:\n  - name: web1\n    address: 10.0.0.1\n  - name: web2\n    address: 10.0.0.999\n",
	})
	code, out := runCLI(t, "-s", dir, "validate")
	if code != 4 {
		t.Errorf("exit %d, want 4", code)
	}
	for _, want := range []string{
		dir + "/inventory.vgo:5:14: address \"10.0.0.999\" of host \"web2\"",
		dir + "/modules/app.vgo:6:12: image of resource \"web\" (module app): missing variable .Vars.nginx_versoin (host web1)",
		dir + "/modules/app.vgo:7:5: unknown field \"restart_polcy\"",
		dir + "/modules/app.vgo:11:12: image of resource \"side\" (module app): \"--privileged\" is not an image reference",
		"invalid stockpile " + dir + " and inventory " + dir + "/inventory.vgo: 4 errors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
