package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/transport"
)

// persistFlag is --persist, on the commands that connect to hosts.
func persistFlag() cli.Flag {
	return &cli.DurationFlag{Name: "persist", EnvVars: []string{"VIGO_PERSIST"},
		Usage: "keep each host's SSH connection open for `D` after its last use, in a holder process of yours " +
			"(started when needed), so that the next run skips the handshake; `vigocli connections` lists and closes them",
		DefaultText: "off"}
}

// persistOptions turns --persist into the pool's options; the holder is
// this same program, run as `connections hold`.
func persistOptions(c *cli.Context) (transport.PersistOptions, error) {
	d := c.Duration("persist")
	if d < 0 {
		return transport.PersistOptions{}, withCode(exitInvalid, fmt.Errorf("--persist %s: want a positive duration (0: off)", d))
	}
	if d == 0 {
		return transport.PersistOptions{}, nil
	}
	// VIGO_RUNTIME_DIR reaches the holder through its environment.
	return transport.PersistOptions{Idle: d, Dir: os.Getenv("VIGO_RUNTIME_DIR"), Start: []string{selfPath(), "connections", "hold"}}, nil
}

// selfPath is the path this program was run by (kept, rather than the
// resolved executable, so that a multi-call binary keeps its name), made
// absolute: the holder runs in /.
func selfPath() string {
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		if lp, err := exec.LookPath(p); err == nil {
			p = lp
		}
	}
	if abs, err := filepath.Abs(p); err == nil && strings.Contains(p, "/") {
		return abs
	}
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return p
}

func connectionsCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "runtime-dir", EnvVars: []string{"VIGO_RUNTIME_DIR"},
		Usage:       "the holder's directory `DIR` (its socket and key; created 0700, must be yours)",
		DefaultText: "$XDG_RUNTIME_DIR/vigo, else ~/.vigo/run"}
	return &cli.Command{
		Name:  "connections",
		Usage: "list or close the SSH connections kept open between runs (--persist)",
		Description: "With --persist D (or VIGO_PERSIST), push, task, check and rollback get their\n" +
			"SSH connections from a holder process of yours, started when needed, which\n" +
			"keeps each host's connection open for D after its last use: the next run skips\n" +
			"the TCP connection, key exchange and authentication. Host keys are checked\n" +
			"when a connection is made, exactly as without --persist, and again against\n" +
			"the run's known_hosts each time a held connection is reused (a changed key\n" +
			"is refused). The holder listens on DIR/holder.sock (DIR 0700, socket 0600) and\n" +
			"serves only your own uid; it exits once it holds nothing.\n\n" +
			"vigocli connections lists what is held (host, since, last use, runs and\n" +
			"channels using it now); vigocli connections close HOST... or --all closes.",
		Flags:  []cli.Flag{dirFlag, &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: text or json (default text, or $VIGO_OUTPUT)"}},
		Action: runConnectionsList,
		Subcommands: []*cli.Command{
			{
				Name:      "close",
				Usage:     "close held connections: to the hosts named (inventory name, host or user@host:port), or --all",
				ArgsUsage: "[HOST...]",
				Flags:     []cli.Flag{dirFlag, &cli.BoolFlag{Name: "all", Usage: "every held connection"}},
				Action:    runConnectionsClose,
			},
			{
				Name:   "hold",
				Usage:  "run the holder in the foreground (started by --persist when none runs)",
				Hidden: true,
				Flags: []cli.Flag{dirFlag,
					&cli.DurationFlag{Name: "linger", Value: 10 * time.Second, Usage: "exit after holding nothing for `D`"}},
				Action: runConnectionsHold,
			},
		},
	}
}

func runConnectionsList(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	held, err := transport.ListHeld(c.Context, c.String("runtime-dir"))
	if err != nil && !errors.Is(err, transport.ErrNoHolder) {
		return err
	}
	if format == "json" {
		if held == nil {
			held = []transport.HeldConn{}
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(held)
	}
	if err != nil {
		fmt.Fprintln(c.App.Writer, "no connection holder running (nothing held)")
		return nil
	}
	printHeld(c.App.Writer, held, time.Now())
	return nil
}

// printHeld is the text form of the held connections.
func printHeld(w io.Writer, held []transport.HeldConn, now time.Time) {
	if len(held) == 0 {
		fmt.Fprintln(w, "no connections held")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tSINCE\tLAST USED\tCLOSES AFTER\tRUNS\tCHANNELS")
	ago := func(t time.Time) string { return now.Sub(t).Truncate(time.Second).String() + " ago" }
	for _, h := range held {
		host := h.Host
		if len(h.Via) > 0 {
			host += " via " + strings.Join(h.Via, ",")
		}
		closes := "idle " + h.Idle.String()
		if h.Clients == 0 {
			closes = "in " + (h.Idle - now.Sub(h.LastUsed)).Truncate(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", h.Name, host, ago(h.Since), ago(h.LastUsed), closes, h.Clients, h.Channels)
	}
	tw.Flush()
}

func runConnectionsClose(c *cli.Context) error {
	hosts := c.Args().Slice()
	if len(hosts) == 0 && !c.Bool("all") {
		return withCode(exitInvalid, fmt.Errorf("connections close needs HOST... or --all"))
	}
	n, err := transport.CloseHeld(c.Context, c.String("runtime-dir"), hosts, c.Bool("all"))
	if errors.Is(err, transport.ErrNoHolder) {
		fmt.Fprintln(c.App.Writer, "no connection holder running (nothing held)")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "closed %d connection(s)\n", n)
	return nil
}

func runConnectionsHold(c *cli.Context) error {
	err := transport.RunHolder(c.Context, transport.HolderOptions{Dir: c.String("runtime-dir"), Linger: c.Duration("linger")})
	if errors.Is(err, transport.ErrHolderRunning) {
		return nil // started twice by two runs at once: the other one serves
	}
	return err
}
