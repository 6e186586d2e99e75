// Command simfleet serves a simulated fleet of SSH hosts with fake Docker
// engines on loopback (package simfleet) and measures a controller
// process against it; scripts/bench-scale.sh (make bench-scale) drives it.
//
//	simfleet serve -hosts 1000 -dir DIR     # writes DIR/inventory.vgo, known_hosts, id_ed25519; serves until TERM
//	simfleet measure -out LOG -- CMD ARGS   # runs CMD, prints wall, CPU, max RSS and max open descriptors as JSON
//	simfleet probe -i KEY -known-hosts F HOST:PORT...  # the login floor: parallel handshakes + one round trip each
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/vigo-sh/vigocli/simfleet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "simfleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: simfleet serve|measure|probe [flags]")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:])
	case "measure":
		return measure(args[1:])
	case "probe":
		return probe(ctx, args[1:], os.Stdout)
	}
	return fmt.Errorf("unknown command %q: want serve, measure or probe", args[0])
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	hosts := fs.Int("hosts", 100, "number of simulated hosts")
	dir := fs.String("dir", "", "directory for inventory.vgo, known_hosts and id_ed25519 (required)")
	base := fs.String("base", "127.20.0.0", "hosts listen on the addresses after this one")
	port := fs.Int("port", 2222, "port every host listens on")
	verbose := fs.Bool("v", false, "log what is not simulated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("serve: -dir is required")
	}
	b, err := netip.ParseAddr(*base)
	if err != nil {
		return fmt.Errorf("serve: -base: %w", err)
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	f, err := simfleet.New(simfleet.Options{Hosts: *hosts, Dir: *dir, Base: b, Port: *port,
		Images: []string{"redis:7-alpine", "myregistry.example.com/webapp:v2.1.0", "myregistry.example.com/webapp:v2.2.0"},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	if err := f.Listen(ctx); err != nil {
		return err
	}
	fmt.Printf("ready %d\n", f.Hosts())
	f.Wait()
	return nil
}

// result is what measure prints.
type result struct {
	Exit     int     `json:"exit"`
	WallS    float64 `json:"wall_s"`
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	MaxRSSKB int64   `json:"max_rss_kb"`
	MaxFDs   int     `json:"max_fds"`
}

func measure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fs.String("out", os.DevNull, "file for the command's stdout and stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("measure: no command")
	}
	log, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	done := make(chan struct{})
	maxFDs := make(chan int, 1)
	go func() {
		fdDir := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd"
		m := 0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if ents, err := os.ReadDir(fdDir); err == nil && len(ents) > m {
				m = len(ents)
			}
			select {
			case <-done:
				maxFDs <- m
				return
			case <-t.C:
			}
		}
	}()
	err = cmd.Wait()
	wall := time.Since(start)
	close(done)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("measure: %w", err)
	}
	r := result{Exit: cmd.ProcessState.ExitCode(), WallS: wall.Seconds(), MaxFDs: <-maxFDs}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.UserS = time.Duration(ru.Utime.Nano()).Seconds()
		r.SysS = time.Duration(ru.Stime.Nano()).Seconds()
		r.MaxRSSKB = ru.Maxrss
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
