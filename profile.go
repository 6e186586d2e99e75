package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/urfave/cli/v2"
)

// profileFlags are hidden global flags for benchmarks (make bench-scale):
// pprof profiles of the controller itself.
func profileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpuprofile", Hidden: true, EnvVars: []string{"VIGO_CPUPROFILE"}, Usage: "write a CPU profile of this run to `FILE`"},
		&cli.StringFlag{Name: "memprofile", Hidden: true, EnvVars: []string{"VIGO_MEMPROFILE"}, Usage: "write a heap profile at the end of this run to `FILE`"},
	}
}

// profiler starts and stops the profiles the flags ask for. It lives for
// one run of the app; nothing is global.
type profiler struct {
	cpu *os.File
}

func (p *profiler) before(c *cli.Context) error {
	path := c.String("cpuprofile")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	p.cpu = f
	return nil
}

func (p *profiler) after(c *cli.Context) error {
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--cpuprofile: %w", err))
		}
		p.cpu = nil
	}
	if path := c.String("memprofile"); path != "" {
		runtime.GC() // up-to-date statistics of what is still live
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--memprofile: %w", err))
		}
	}
	return errors.Join(errs...)
}
