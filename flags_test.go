package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestFlagStringLineage: a flag not given after the command reads the
// global one (its default, its environment variable, or its explicit
// value), also from a sub-subcommand; a value given after the command wins.
func TestFlagStringLineage(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"unset, subcommand", "-", []string{"validate"}, "stockpile"},
		{"unset, sub-subcommand", "-", []string{"envoys", "list"}, "stockpile"},
		{"default, subcommand", "", []string{"validate"}, "stockpile"},
		{"default, sub-subcommand", "", []string{"envoys", "list"}, "stockpile"},
		{"default, task run", "", []string{"task", "run"}, "stockpile"},
		{"environment", "envdir", []string{"envoys", "list"}, "envdir"},
		{"global explicit", "envdir", []string{"-s", "g", "envoys", "list"}, "g"},
		{"local explicit", "envdir", []string{"-s", "g", "envoys", "list", "-s", "l"}, "l"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VIGO_STOCKPILE", tc.env) // "" too: set but empty means the default
			if tc.env == "-" {
				os.Unsetenv("VIGO_STOCKPILE")
			}
			got := "<not run>"
			probe := func(c *cli.Context) error { got = stockpileFlag(c); return nil }
			app := &cli.App{Name: "vigocli", Flags: globalFlags(), Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
			app.Commands = []*cli.Command{
				{Name: "validate", Flags: sharedFlags(), Action: probe},
				{Name: "envoys", Subcommands: []*cli.Command{{Name: "list", Flags: sharedFlags(), Action: probe}}},
				{Name: "task", Subcommands: []*cli.Command{{Name: "run", Flags: sharedFlags(), Action: probe}}},
			}
			if err := app.Run(append([]string{"vigocli"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("vigocli %v: stockpile %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}
