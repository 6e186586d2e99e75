package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// probe is the login floor of a no-op push: every host at once, an SSH
// handshake (host key verified) and one round trip (exec true), nothing
// else. It prints the wall time of the whole.
func probe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	identity := fs.String("i", "", "private key file (required)")
	known := fs.String("known-hosts", "", "known_hosts file (required)")
	user := fs.String("l", "root", "login user")
	timeout := fs.Duration("timeout", 30*time.Second, "limit of the whole probe")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hosts := fs.Args()
	if *identity == "" || *known == "" || len(hosts) == 0 {
		return errors.New("usage: simfleet probe -i KEY -known-hosts FILE HOST:PORT (one or more)")
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
	fmt.Printf("%.3f\n", wall.Seconds())
	return nil
}

func login(ctx context.Context, addr string, cfg *ssh.ClientConfig) error {
	type result struct {
		c   *ssh.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ssh.Dial("tcp", addr, cfg)
		ch <- result{c, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", addr, ctx.Err())
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", addr, r.err)
	}
	defer r.c.Close()
	s, err := r.c.NewSession()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer s.Close()
	if err := s.Run("true"); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return nil
}
