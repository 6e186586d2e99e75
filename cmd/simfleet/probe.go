package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// probe is the login floor of a no-op push: every host at once, an SSH
// handshake (host key verified) and one round trip (exec true), nothing
// else. It prints the wall time of the whole.
//
// With -warm it is the floor of a warm no-op (--persist): the
// connections are made first, untimed, and what is timed is every host
// at once running exec true on its open connection — what a run that
// skips the handshake cannot do for less.
func probe(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	identity := fs.String("i", "", "private key file (required)")
	known := fs.String("known-hosts", "", "known_hosts file (required)")
	user := fs.String("l", "root", "login user")
	timeout := fs.Duration("timeout", 30*time.Second, "limit of the whole probe")
	warm := fs.Bool("warm", false, "connect first (untimed), then time exec true on every open connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hosts := fs.Args()
	if *identity == "" || *known == "" || len(hosts) == 0 {
		return errors.New("usage: simfleet probe [-warm] -i KEY -known-hosts FILE HOST:PORT (one or more)")
	}
	pem, err := os.ReadFile(*identity)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("probe: %s: %w", *identity, err)
	}
	hk, err := knownhosts.New(*known)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	cfg := &ssh.ClientConfig{User: *user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: *timeout}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *warm {
		return probeWarm(ctx, hosts, cfg, out)
	}
	start := time.Now()
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { errs[i] = login(ctx, h, cfg) })
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	fmt.Fprintf(out, "%.3f\n", wall.Seconds())
	return nil
}

// probeWarm connects to every host, then times one exec true on every
// connection at once.
func probeWarm(ctx context.Context, hosts []string, cfg *ssh.ClientConfig, out io.Writer) error {
	clients := make([]*ssh.Client, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { clients[i], errs[i] = dial(ctx, h, cfg) })
	}
	wg.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	start := time.Now()
	for i, h := range hosts {
		wg.Go(func() { errs[i] = roundTrip(ctx, h, clients[i]) })
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	fmt.Fprintf(out, "%.3f\n", wall.Seconds())
	return nil
}

func login(ctx context.Context, addr string, cfg *ssh.ClientConfig) error {
	c, err := dial(ctx, addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(ctx, addr, c)
}

// dial makes one verified, authenticated connection, bounded by ctx.
func dial(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	type result struct {
		c   *ssh.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ssh.Dial("tcp", addr, cfg)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", addr, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("%s: %w", addr, ctx.Err())
	}
}

// roundTrip is one round trip on c: a session running true.
func roundTrip(ctx context.Context, addr string, c *ssh.Client) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	s, err := c.NewSession()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer s.Close()
	if err := s.Run("true"); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return nil
}
