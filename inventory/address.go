package inventory

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// checkAddress says why s cannot be a host's address ("" when it can),
// with a hint. An address is what the transport dials: a DNS name made of
// RFC 1123 labels, or an IPv4 or IPv6 literal. Everything else (a port
// glued on, a space, an octet above 255, two dots in a row) would fail
// only at dial time, host by host, after other hosts had changed.
func checkAddress(s string) (problem, hint string) {
	switch {
	case s == "":
		return "is empty", "leave address out to dial the name (or the ssh_config HostName)"
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "holds a space or a control character", "an address is one DNS name or IP address"
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		if _, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return "is an IPv6 address in brackets", "write it without the brackets"
		}
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", ""
	}
	if host, port, ok := splitPort(s); ok {
		return "has a port in it", fmt.Sprintf("write address: %s and port: %s", host, port)
	}
	if strings.Contains(s, ":") {
		return "is not an IPv6 address", "an IPv6 address looks like 2001:db8::1"
	}
	return checkDNSName(s)
}

// splitPort recognises HOST:PORT (or [V6]:PORT) with a valid host and a
// numeric port, so that the hint can say where each part goes.
func splitPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", false
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if _, err := netip.ParseAddr(host[1 : len(host)-1]); err == nil {
			return host[1 : len(host)-1], port, true
		}
		return "", "", false
	}
	if strings.Contains(host, ":") { // an IPv6 address, or a mistyped one
		return "", "", false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, port, true
	}
	if p, _ := checkDNSName(host); p != "" {
		return "", "", false
	}
	return host, port, true
}

// checkDNSName checks RFC 1123 host name syntax: labels of 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen, at
// most 253 characters, one trailing dot allowed. A name whose last label
// is all digits is taken as a mistyped IPv4 address (no top-level domain
// is numeric, RFC 3696 section 2).
func checkDNSName(s string) (problem, hint string) {
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "is longer than 253 characters", ""
	}
	labels := strings.Split(name, ".")
	if last := labels[len(labels)-1]; last != "" && strings.Trim(last, "0123456789") == "" {
		return checkIPv4(labels)
	}
	for _, l := range labels {
		switch {
		case l == "":
			return "has an empty label", "two dots in a row, or a leading dot?"
		case len(l) > 63:
			return fmt.Sprintf("has a label longer than 63 characters (%.20s...)", l), ""
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("has label %q starting or ending with a hyphen", l), ""
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("has %q, which is not a letter, a digit, '-' or '.'", r), "a DNS name is letters, digits and hyphens, separated by dots"
			}
		}
	}
	return "", ""
}

// checkIPv4 explains why dotted decimal labels are not an IPv4 address
// (netip has refused it already).
func checkIPv4(labels []string) (problem, hint string) {
	const want = "an IPv4 address is four numbers from 0 to 255, like 10.0.0.15"
	if len(labels) != 4 {
		for _, l := range labels {
			if l == "" {
				return "is not an IPv4 address: it has an empty part", want
			}
		}
		return fmt.Sprintf("is not an IPv4 address: it has %d parts, not 4", len(labels)), want
	}
	for _, l := range labels {
		if l == "" {
			return "is not an IPv4 address: it has an empty part", want
		}
		n, err := strconv.Atoi(l)
		if err != nil {
			return fmt.Sprintf("is not an IPv4 address: %q is not a number", l), want
		}
		if n > 255 {
			return fmt.Sprintf("is not an IPv4 address: %d is more than 255", n), want
		}
		if len(l) > 1 && l[0] == '0' {
			return fmt.Sprintf("is not an IPv4 address: %q has a leading zero", l), want
		}
	}
	return "is not an IPv4 address", want
}
