// Command vigocli manages Docker on a fleet of Linux hosts over plain SSH.
//
// main.go only wires the CLI: flags become options structs, commands call
// into the packages, and main is the only place that exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1 // unexpected error
	exitHostFailed  = 2 // some host failed
	exitUnreachable = 3 // some host unreachable (and none failed or refused)
	exitInvalid     = 4 // invalid stockpile, inventory or arguments
	exitHostKey     = 5 // some host's key refused (changed, or unknown), none failed
)

// exitError carries an exit code out of a command.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// errReported is a failure the command has already told the user about
// in full (validate --output json prints its problems on stdout): main
// exits with its code and prints nothing more.
var errReported = errors.New("reported")

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "vigocli",
		Usage:   "manage Docker on a fleet of Linux hosts over plain SSH",
		Version: version,
		Description: "vigo reads a stockpile (modules, roles, envoys) and an inventory of hosts,\n" +
			"renders each host's desired state, and converges hosts over SSH in batches.\n" +
			"Nothing is installed on the hosts but sshd and Docker.\n\n" +
			"Flags may come anywhere on the line (-- ends them); a host may be named by a\n" +
			"unique prefix or its short name (web1). Usage mistakes exit 4 with one line.\n" +
			"Exit codes: 0 ok, 1 unexpected error, 2 some host failed, 3 some host\n" +
			"unreachable, 4 invalid arguments, stockpile or inventory, 5 some host's key\n" +
			"refused (lock status/release: 3), 130 interrupted. Shell completion: vigocli completion bash|zsh|fish.",
		Flags:          append(globalFlags(), profileFlags()...),
		Writer:         os.Stdout,
		ErrWriter:      os.Stderr,
		ExitErrHandler: func(*cli.Context, error) {}, // main decides exit codes
		// A bad flag value is a usage error: one line and exit 4, not
		// the command's help (set on every command below too).
		OnUsageError: usageError,
	}
	prof := &profiler{}
	app.Before, app.After = prof.before, prof.after
	envoys := &cli.Command{
		Name:  "envoys",
		Usage: "list the hosts the stockpile assigns, push their desired state, check drift or roll back",
		Subcommands: []*cli.Command{
			envoysListCommand(),     // cmd_list.go
			envoysPushCommand(),     // cmd_push.go
			envoysCheckCommand(),    // cmd_check.go
			envoysRollbackCommand(), // cmd_rollback.go
		},
	}
	// cmd_validate.go, cmd_render.go
	app.Commands = append(app.Commands, validateCommand(), renderCommand(), envoys)
	app.Commands = append(app.Commands, taskCommand(), lockCommand()) // cmd_task.go, cmd_lock.go
	app.Commands = append(app.Commands, secretsCommand())             // cmd_secrets.go
	app.Commands = append(app.Commands, graphCommand())               // cmd_graph.go
	app.Commands = append(app.Commands, connectionsCommand())         // cmd_connections.go
	app.Commands = append(app.Commands, completionCommand())          // completion.go
	setUsageErrors(app.Commands)
	return app
}

// usageError turns urfave/cli's flag parsing errors (a bad value) into
// exit code 4, printed as one line by main.
func usageError(_ *cli.Context, err error, _ bool) error {
	return withCode(exitInvalid, err)
}

func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = usageError
		setUsageErrors(c.Subcommands)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, newApp(), os.Args)
	stop()
	os.Exit(exitCode(err))
}

// run checks and reorders the command line (normalizeArgs), then runs it.
// The hidden first word __complete answers shell completion instead.
func run(ctx context.Context, app *cli.App, args []string) error {
	if len(args) > 1 && args[1] == completeWord {
		return complete(app, args[2:], app.Writer)
	}
	norm, err := normalizeArgs(app, args)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	return app.RunContext(ctx, norm)
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != nil && !errors.Is(ce.err, errReported) {
			fmt.Fprintln(os.Stderr, "vigocli:", ce.err)
		}
		return ce.code
	}
	fmt.Fprintln(os.Stderr, "vigocli:", err)
	return exitError
}
