package main

import (
	"bytes"
	"os"
	"strings"
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

// TestNormalizeArgs: flags anywhere on the line land after the deepest
// command that defines them, values stay with their flags, "--" ends the
// flags, and mistakes are one line with a suggestion.
func TestNormalizeArgs(t *testing.T) {
	app := newApp()
	for _, tc := range []struct {
		in   string
		want string // "" when an error is expected
		err  string
	}{
		{in: "render web1 --stockpile X", want: "render --stockpile X web1"},
		{in: "render web1 -s X --var a=b", want: "render -s X --var a=b web1"},
		{in: "-s X render web1", want: "-s X render web1"},
		{in: "envoys --var k=v push --all", want: "--var k=v envoys push --all"},
		{in: "envoys --dry-run push --all", want: "envoys push --dry-run --all"},
		{in: "-o json secrets keygen -o key.txt", want: "-o json secrets keygen -o key.txt"},
		{in: "envoys push --var k=v --all", want: "envoys push --var k=v --all"},
		{in: "envoys list web1 --stockpile=X", want: "envoys list --stockpile=X web1"},
		// a value that looks like a command stays a value
		{in: "envoys push --target push --all", want: "envoys push --target push --all"},
		// a value that looks like a flag stays a value
		{in: "envoys push --all --parallel -1", want: "envoys push --all --parallel -1"},
		{in: "task run 'docker ps' --target web* -b 25%", want: "task run --target web* -b 25% docker ps"},
		// -- ends the flags; an argument that looks like a flag is kept after --
		{in: "task run --all -- --not-a-flag", want: "task run --all -- --not-a-flag"},
		{in: "task run -- ls --all", want: "task run -- ls --all"},
		// a command's own -o (secrets keygen --output FILE) wins over the global one
		{in: "secrets keygen -o key.txt", want: "secrets keygen -o key.txt"},
		{in: "secrets list -o json", want: "-o json secrets list"}, // only the app defines --output here
		{in: "validate --log-file F --debug", want: "--log-file F --debug validate"},
		{in: "--debug validate", want: "--debug validate"},
		{in: "help render", want: "help render"},
		{in: "help envoys push", want: "help envoys push"},
		{in: "help rendr", err: `no help for "rendr" (hint: did you mean "render"?)`},
		{in: "envoys help psh", err: `no help for "envoys psh" (hint: did you mean "envoys push"?)`},
		{in: "render --help", want: "render --help"},
		{in: "--version", want: "--version"},
		{in: "rendr web1", err: `unknown command "rendr" (hint: did you mean "render"?)`},
		{in: "envoys lst", err: `unknown command "envoys lst" (hint: did you mean "envoys list"?)`},
		{in: "envoys push --dryrun", err: `unknown flag --dryrun for "envoys push" (hint: did you mean --dry-run?)`},
		{in: "validate --nope", err: `unknown flag --nope for "validate"`},
		{in: "render web1 --stockpile", err: `flag --stockpile needs a value`},
		{in: "envoys push --all --parallel lots", err: `--parallel "lots": want a whole number`},
		{in: "envoys push --all -p=x", err: `-p "x": want a whole number`},
		{in: "envoys push --all --lock-wait 5", err: `--lock-wait "5": want a duration such as 500ms, 30s or 2m`},
		{in: "render web1 --var novalue", err: `--var "novalue": want NAME=VALUE`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			args := append([]string{"vigocli"}, splitWords(tc.in)...)
			got, err := normalizeArgs(app, args)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got[1:], " "); g != tc.want {
				t.Errorf("got  %q\nwant %q", g, tc.want)
			}
		})
	}
}

// splitWords splits on spaces, keeping 'single quoted' words whole.
func splitWords(s string) []string {
	var out []string
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, "'") {
			end := strings.Index(s[1:], "'") + 1
			out = append(out, s[1:end])
			s = s[end+1:]
			continue
		}
		w, rest, _ := strings.Cut(s, " ")
		out = append(out, w)
		s = rest
	}
	return out
}
