// Command enginefloor measures the engine floor of the bench's create and
// retag phases (scripts/bench.sh): the engine API calls vigo makes for the
// phase, made directly by a minimal client on every host at once, each
// host over one SSH connection and a direct-streamlocal channel to its
// Docker socket — the transport vigo uses, so the floor holds one login
// per host and the engine's own work, and nothing of vigo's (no lock, no
// observation, no plan).
//
//	enginefloor -i KEY -known-hosts FILE clean  HOST:PORT...   # remove the floor's containers
//	enginefloor -i KEY -known-hosts FILE create HOST:PORT...   # create + start redis, then webapp v2.1.0
//	enginefloor -i KEY -known-hosts FILE retag  HOST:PORT...   # webapp v2.1.0 -> v2.2.0 as vigo replaces it
//
// The images must be present on the hosts. It prints the wall time of the
// phase in seconds, from the first dial to the last host's last answer.
// The floor's containers are named PREFIX-redis and PREFIX-webapp
// (-prefix, default "floor") on their own ports (-redis-port 6381,
// -app-port 8082), apart from vigo's and Ansible's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "enginefloor:", err)
		os.Exit(1)
	}
}

const usage = "usage: enginefloor -i KEY -known-hosts FILE [-l USER] [-timeout D] create|retag|clean HOST:PORT [HOST:PORT ...]"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("enginefloor", flag.ContinueOnError)
	identity := fs.String("i", "", "private key file (required)")
	known := fs.String("known-hosts", "", "known_hosts file (required)")
	user := fs.String("l", "root", "login user")
	socket := fs.String("socket", "/var/run/docker.sock", "the engine's socket on the hosts")
	timeout := fs.Duration("timeout", deadline, "limit of the whole phase")
	var st stack
	fs.StringVar(&st.Prefix, "prefix", "floor", "container names: PREFIX-redis, PREFIX-webapp")
	fs.IntVar(&st.RedisPort, "redis-port", 6381, "host port of the floor's redis")
	fs.IntVar(&st.AppPort, "app-port", 8082, "host port of the floor's webapp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *identity == "" || *known == "" || fs.NArg() < 2 {
		return errors.New(usage)
	}
	work, err := st.phase(fs.Arg(0))
	if err != nil {
		return err
	}
	hosts := fs.Args()[1:]
	pem, err := os.ReadFile(*identity)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("%s: %w", *identity, err)
	}
	hk, err := knownhosts.New(*known)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: *user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	start := time.Now()
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			if err := onHost(ctx, h, cfg, *socket, work); err != nil {
				errs[i] = fmt.Errorf("%s: %w", h, err)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%.3f\n", wall.Seconds())
	return err
}

// onHost logs in to one host and does the phase's engine work there.
func onHost(ctx context.Context, addr string, cfg *ssh.ClientConfig, socket string, work func(context.Context, *engine) error) error {
	c, err := dial(ctx, addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// Cancelling the context closes the connection, which ends every
	// request still waiting on it.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	e := newEngine(func(ctx context.Context) (net.Conn, error) { return c.DialContext(ctx, "unix", socket) })
	defer e.close()
	return work(ctx, e)
}

// dial makes the SSH connection, the handshake bounded by ctx's deadline.
func dial(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	stop()
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}
