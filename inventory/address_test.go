package inventory

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigo-sh/vigocli/stockpile"
)

func TestAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // "" valid; else a piece of the error line
	}{
		{"10.251.0.15", ""},
		{"web1.example.com", ""},
		{"web1.example.com.", ""},
		{"localhost", ""},
		{"xn--bcher-kva.example", ""},
		{"2001:db8::1", ""},
		{"fe80::1%eth0", ""},
		{"::1", ""},
		{"10.251.0..15", "is not an IPv4 address: it has an empty part"},
		{"10.0.0.999", "is not an IPv4 address: 999 is more than 255"},
		{"10.0.0", "is not an IPv4 address: it has 3 parts, not 4"},
		{"10.0.0.010", "leading zero"},
		{"web1 .example.com", "holds a space"},
		{" web1", "holds a space"},
		{"web1\t", "holds a space"},
		{"host:22", `address "host:22" of host "web1" has a port in it (hint: write address: host and port: 22)`},
		{"10.0.0.1:2222", "write address: 10.0.0.1 and port: 2222"},
		{"[2001:db8::1]:22", "write address: 2001:db8::1 and port: 22"},
		{"[2001:db8::1]", "without the brackets"},
		{"2001:db8:::1", "is not an IPv6 address"},
		{"web..example.com", "has an empty label"},
		{".example.com", "has an empty label"},
		{"-web.example.com", "starting or ending with a hyphen"},
		{"web_1.example.com", `has '_'`},
		{"root@web1", `has '@'`},
		{"-oProxyCommand=x", "hyphen"},
		{strings.Repeat("a", 64) + ".com", "longer than 63"},
		{strings.Repeat("a.", 127) + "com", "longer than 253"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			data := "hosts:\n  - name: web1\n    address: \"" + strings.ReplaceAll(tc.addr, "\t", `\t`) + "\"\n"
			inv, err := Parse("inv.vgo", []byte(data), "/s", "/h")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got := inv.Hosts[0].Address; got != tc.addr {
					t.Fatalf("address %q, want %q", got, tc.addr)
				}
				return
			}
			var es stockpile.Errors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("want one error containing %q, got %v", tc.want, err)
			}
			if es[0].Pos != (stockpile.Pos{File: "inv.vgo", Line: 3, Col: 14}) {
				t.Errorf("error at %s, want inv.vgo:3:14 (the value)", es[0].Pos)
			}
			if got := es[0].Error(); !strings.Contains(got, tc.want) || !strings.Contains(got, fmt.Sprintf("address %q of host \"web1\"", tc.addr)) {
				t.Errorf("error %q does not say %q", got, tc.want)
			}
			if len(inv.Hosts) != 0 {
				t.Errorf("a host with a bad address was kept: %+v", inv.Hosts)
			}
		})
	}
}

// Every problem of an inventory comes in one pass, and the hosts without
// one are still returned for further checking.
func TestParseEveryError(t *testing.T) {
	data := `defaults:
  port: 0
hosts:
  - name: a
    address: 10.0.0.999
    port: 70000
  - name: b
    address: b:22
  - name: c
    address: 10.0.0.3
    port: 22
`
	inv, err := Parse("inv.vgo", []byte(data), "/s", "/h")
	var es stockpile.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want stockpile.Errors, got %v", err)
	}
	var lines []string
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"inv.vgo:2:9: port of defaults must be a number from 1 to 65535",
		`inv.vgo:5:14: address "10.0.0.999" of host "a" is not an IPv4 address: 999 is more than 255`,
		`inv.vgo:6:11: port of host "a" must be a number from 1 to 65535, not "70000"`,
		`inv.vgo:8:14: address "b:22" of host "b" has a port in it`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if inv == nil || len(inv.Hosts) != 1 || inv.Hosts[0].Name != "c" {
		t.Fatalf("want the good host c returned with the errors, got %+v", inv)
	}
}

// FuzzParse feeds arbitrary bytes to the inventory parser: it must never
// panic, must finish quickly, and every error must carry a position in the
// file. A host it returns has a valid address and port.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("hosts:\n  - name: a\n    address: 10.251.0..15\n"))
	f.Add([]byte("hosts:\n  - name: a\n    address: host:22\n    port: 99999\n"))
	f.Add([]byte("hosts:\n  - name: a\n    address: '[::1]:22'\n"))
	f.Add([]byte("defaults: &d {port: 22}\nhosts: [{name: a, address: fe80::1%eth0}, *d]\n"))
	f.Add([]byte("hosts:\n  - &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return // bounded work: the loader's own limits are tested elsewhere
		}
		var inv *Inventory
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			inv, err = Parse("inv.vgo", data, "/s", "/h")
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("parse of %q takes more than 10s", data)
		}
		if err != nil {
			es, ok := err.(stockpile.Errors)
			if !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range es {
				if e.Pos.File != "inv.vgo" || e.Pos.Line < 1 {
					t.Fatalf("error without position: %v", e)
				}
			}
		}
		if inv == nil {
			return
		}
		for _, h := range inv.Hosts {
			if h.Address != "" {
				if p, _ := checkAddress(h.Address); p != "" {
					t.Fatalf("host %q kept with address %q: %s", h.Name, h.Address, p)
				}
			}
			if h.Port < 0 || h.Port > 65535 {
				t.Fatalf("host %q kept with port %d", h.Name, h.Port)
			}
		}
	})
}
