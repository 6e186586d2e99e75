// Package labtest finds the vigo lab (lab/lab up) for end-to-end tests and
// gives them the lab's hosts, key and known_hosts, plus helpers to run
// commands on a host over the system ssh and to inject faults.
//
// When the lab is not up, Require skips the test with the reason, except
// under CI=true where it fails it. Require never dials a lab address unless
// the lab's state files, namespace and route are present.
//
// Product code must not import this package.
package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultDir is where lab/lab keeps its state.
const DefaultDir = "/var/lib/vigo-lab"

// Lab is a running lab as seen by a test.
type Lab struct {
	Dir        string // state directory (DefaultDir, or $VIGO_LAB_DIR)
	Key        string // client private key, accepted by root on every host
	KnownHosts string // every host's key, by name and by address
	SSHConfig  string // Host entries for every lab name (ProxyJump for inner hosts)
	Hosts      []Host

	t testing.TB
}

// Host is one lab host.
type Host struct {
	Name    string // e.g. web1.app.example.com
	Address string // e.g. 10.77.0.11
	Port    int    // 22

	Netns     string // network namespace, e.g. vlab-web1
	Kind      string // "docker" (sshd + dockerd) or "ssh" (sshd only)
	Docker    bool   // the host runs its own dockerd
	ProxyJump string // set for hosts reachable only through the bastion
}

// Addr is host:port for dialing.
func (h Host) Addr() string { return net.JoinHostPort(h.Address, strconv.Itoa(h.Port)) }

type hostJSON struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Port      int    `json:"port"`
	Netns     string `json:"netns"`
	Kind      string `json:"kind"`
	Docker    bool   `json:"docker"`
	ProxyJump string `json:"proxy_jump"`
}

// Require returns the running lab, checking that the named hosts (full or
// short names: "web1" or "web1.app.example.com") exist and answer on their
// SSH port. Without a lab it skips t, or fails it when CI=true.
func Require(t testing.TB, names ...string) *Lab {
	t.Helper()
	l, err := find(names)
	if err != nil {
		msg := fmt.Sprintf("vigo lab not available: %v (bring it up with: sudo HOSTS=14 COMPOSE_HOSTS=1 BASTION=1 lab/lab up)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l.t = t
	return l
}

func find(names []string) (*Lab, error) {
	dir := os.Getenv("VIGO_LAB_DIR")
	if dir == "" {
		dir = DefaultDir
	}
	l := &Lab{
		Dir:        dir,
		Key:        filepath.Join(dir, "id_ed25519"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		SSHConfig:  filepath.Join(dir, "ssh_config"),
	}
	// Cheap local checks first: never dial a lab address when the lab is down.
	for _, f := range []string{filepath.Join(dir, "up"), l.Key, l.KnownHosts, l.SSHConfig, filepath.Join(dir, "hosts.json")} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("lab is down: %w", err)
		}
	}
	if _, err := os.Stat("/run/netns/vlab-br"); err != nil {
		return nil, fmt.Errorf("lab network namespace missing: %w", err)
	}
	if _, err := os.Stat("/sys/class/net/vlab0"); err != nil {
		return nil, fmt.Errorf("lab link vlab0 missing in this network namespace: %w", err)
	}
	if _, err := os.ReadFile(l.Key); err != nil {
		return nil, fmt.Errorf("lab key not readable (tests need root): %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "hosts.json"))
	if err != nil {
		return nil, err
	}
	var hs []hostJSON
	if err := json.Unmarshal(data, &hs); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "hosts.json"), err)
	}
	for _, h := range hs {
		l.Hosts = append(l.Hosts, Host(h))
	}
	for _, n := range names {
		h, ok := l.lookup(n)
		if !ok {
			return nil, fmt.Errorf("lab has no host %q (is HOSTS large enough? hosts: %s)", n, l.names())
		}
		if h.ProxyJump != "" {
			continue // reachable only through the bastion; checked through it by ssh
		}
		c, err := net.DialTimeout("tcp", h.Addr(), 3*time.Second)
		if err != nil {
			return nil, fmt.Errorf("lab host %s does not answer: %w", h.Name, err)
		}
		c.Close()
	}
	return l, nil
}

func (l *Lab) names() string {
	var s []string
	for _, h := range l.Hosts {
		s = append(s, h.Name)
	}
	return strings.Join(s, " ")
}

func (l *Lab) lookup(name string) (Host, bool) {
	for _, h := range l.Hosts {
		if h.Name == name || strings.SplitN(h.Name, ".", 2)[0] == name || h.Address == name {
			return h, true
		}
	}
	return Host{}, false
}

// Host returns the named host (full or short name); the test fails when the
// lab has no such host.
func (l *Lab) Host(name string) Host {
	h, ok := l.lookup(name)
	if !ok {
		if l.t != nil {
			l.t.Helper()
			l.t.Fatalf("lab has no host %q (hosts: %s)", name, l.names())
		}
		panic(fmt.Sprintf("labtest: lab has no host %q", name))
	}
	return h
}

// DockerHosts returns the hosts that run their own dockerd.
func (l *Lab) DockerHosts() []Host {
	var out []Host
	for _, h := range l.Hosts {
		if h.Docker {
			out = append(out, h)
		}
	}
	return out
}

// SSHArgs returns the system ssh arguments that reach host with the lab key
// and strict host key checking against the lab known_hosts, before the remote
// command. Useful for tests that run ssh themselves.
func (l *Lab) SSHArgs(host string) []string {
	h := l.Host(host)
	return []string{"-F", l.SSHConfig,
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + l.KnownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes",
		"-i", l.Key,
		"-l", "root",
		h.Name}
}

// SSH runs cmd (a remote shell command line) on host with the system ssh and
// returns its standard output. The error carries the exit status and stderr.
func (l *Lab) SSH(ctx context.Context, host, cmd string) (string, error) {
	args := append(l.SSHArgs(host), "--", cmd)
	c := exec.CommandContext(ctx, "ssh", args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("ssh %s %q: %w: %s", host, cmd, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Docker runs the docker CLI on host against that host's own engine (over
// ssh); every argument is quoted for the remote shell.
func (l *Lab) Docker(ctx context.Context, host string, args ...string) (string, error) {
	q := make([]string, 0, len(args)+1)
	q = append(q, "docker")
	for _, a := range args {
		q = append(q, Quote(a))
	}
	return l.SSH(ctx, host, strings.Join(q, " "))
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var undo = map[string]string{
	"sshd-stop":    "sshd-start",
	"dockerd-stop": "dockerd-start",
	"link-cut":     "link-restore",
	"latency-add":  "latency-del",
}

// Fault injects a fault on host with lab/lab fault (sshd-stop, sshd-start,
// dockerd-stop, dockerd-start, link-cut, link-restore, latency-add MS,
// latency-del) and registers a cleanup that undoes it.
func (l *Lab) Fault(t testing.TB, host, action string, args ...string) {
	t.Helper()
	h := l.Host(host)
	if err := l.fault(h.Name, action, args...); err != nil {
		t.Fatal(err)
	}
	if u, ok := undo[action]; ok {
		t.Cleanup(func() {
			if err := l.fault(h.Name, u); err != nil {
				t.Errorf("undo fault: %v", err)
			}
		})
	}
}

func (l *Lab) fault(host, action string, args ...string) error {
	cmd, err := l.labCmd()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd, append([]string{"fault", host, action}, args...)...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab fault %s %s %v: %w: %s", host, action, args, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// labCmd finds lab/lab: the path recorded by the last `lab/lab up`, else by
// walking up from the working directory.
func (l *Lab) labCmd() (string, error) {
	if b, err := os.ReadFile(filepath.Join(l.Dir, "labcmd")); err == nil {
		p := strings.TrimSpace(string(b))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "lab", "lab")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("lab/lab not found (run tests inside the vigo tree)")
		}
		d = parent
	}
}
