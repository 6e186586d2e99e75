package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile/didyoumean"
)

// globalFlags are accepted before any command. The same flags (without
// their environment variables) are accepted after a command too, through
// sharedFlags, so that `vigocli validate -s DIR` and `vigocli -s DIR
// validate` both work; read them with flagString / flagVars, which take
// the innermost explicitly given value, then the global one (which holds
// the environment variable or the default).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Value: "stockpile", EnvVars: []string{"VIGO_STOCKPILE"}, Usage: "stockpile directory (default: the current directory when it holds modules/, roles/ or envoys/, else ./stockpile)"},
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, EnvVars: []string{"VIGO_INVENTORY"}, Usage: "inventory file (default: STOCKPILE/inventory.vgo)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", EnvVars: []string{"VIGO_OUTPUT"}, Usage: "output format: text or json"},
		varFlag(),
		// Only global (never in sharedFlags): normalizeArgs puts them
		// before the command wherever they are typed.
		&cli.BoolFlag{Name: "verbose", Usage: "envoys push, task run: log connections and each host's phase timings to stderr (or --log-file); secrets masked"},
		&cli.BoolFlag{Name: "debug", Usage: "log what --verbose logs plus every remote command, file operation and Docker engine request; secrets masked"},
		&cli.StringFlag{Name: "log-file", Usage: "write the --verbose/--debug log to `FILE` (created 0600, appended to) instead of stderr"},
	}
}

// varFlag is --var k=v, repeatable. It is a GenericFlag rather than a
// StringSliceFlag so that values keep their commas (--var hosts=a,b).
func varFlag() cli.Flag {
	return &cli.GenericFlag{Name: "var", Value: &varList{}, Usage: "set a variable, highest precedence: --var k=v (repeatable)"}
}

// varList collects repeated --var values as given.
type varList struct{ items []string }

func (v *varList) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE")
	}
	v.items = append(v.items, s)
	return nil
}

func (v *varList) String() string { return strings.Join(v.items, " ") }

// sharedFlags are the global flags again, for a command's own flag list
// (commands that use the stockpile add them: Flags: sharedFlags()).
func sharedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Usage: "stockpile directory (default: $VIGO_STOCKPILE, else the current directory when it holds modules/, roles/ or envoys/, else ./stockpile)"},
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "inventory file (default: STOCKPILE/inventory.vgo, or $VIGO_INVENTORY)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: text or json (default text, or $VIGO_OUTPUT)"},
		varFlag(),
	}
}

// flagString returns the innermost non-empty value given for a flag (after
// a command, before it, or through its environment variable), else the
// global flag's default. An empty value counts as not given, so that
// VIGO_STOCKPILE= (set but empty) means ./stockpile rather than "".
//
// The default is read from a fresh globalFlags(), not from the parsed
// contexts: urfave/cli's outermost context in Lineage() is an empty root
// without flags, and a command's own copy of a global flag has no default.
func flagString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			if v := ctx.String(name); v != "" {
				return v
			}
		}
	}
	return globalDefault(name)
}

// globalDefault is a global flag's value when it is not given: its
// environment variable, else its default.
func globalDefault(name string) string {
	for _, f := range globalFlags() {
		sf, ok := f.(*cli.StringFlag)
		if !ok || sf.Name != name {
			continue
		}
		for _, env := range sf.EnvVars {
			if v := os.Getenv(env); v != "" {
				return v
			}
		}
		return sf.Value
	}
	return ""
}

// stockpileFlag is the stockpile directory: --stockpile, VIGO_STOCKPILE,
// the current directory when it is one, else ./stockpile (discover.go).
func stockpileFlag(c *cli.Context) string { return findStockpile(c) }

// inventoryPath is the --inventory file; explicit is false when it is the
// default STOCKPILE/inventory.vgo.
func inventoryPath(c *cli.Context) (path string, explicit bool) {
	if p := flagString(c, "inventory"); p != "" {
		return p, true
	}
	return inventory.DefaultPath(stockpileFlag(c)), false
}

// outputFormat is --output, checked.
func outputFormat(c *cli.Context) (string, error) {
	o := flagString(c, "output")
	switch o {
	case "", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", withCode(exitInvalid, fmt.Errorf("--output %q: want text or json", o))
}

// flagVars collects every --var k=v given (global ones first, so a
// command's own --var wins).
func flagVars(c *cli.Context) (map[string]string, error) {
	out := map[string]string{}
	lineage := c.Lineage()
	for i := len(lineage) - 1; i >= 0; i-- {
		ctx := lineage[i]
		if !slices.Contains(ctx.LocalFlagNames(), "var") {
			continue
		}
		vl, _ := ctx.Generic("var").(*varList)
		if vl == nil {
			continue
		}
		for _, kv := range vl.items {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, withCode(exitInvalid, fmt.Errorf("--var %q: want NAME=VALUE", kv))
			}
			out[k] = v
		}
	}
	return out, nil
}

// normalizeArgs reorders a command line so that urfave/cli, which stops
// reading flags at the first argument, accepts flags anywhere, as git,
// docker and kubectl do: `vigocli render HOST -s DIR` and `vigocli envoys
// push --all --var k=v` become `vigocli render -s DIR HOST` and `vigocli
// envoys push --all --var k=v`. Each flag goes to the innermost command
// that defines it, at or above where it was typed (so that `vigocli -o
// json secrets keygen -o FILE` keeps its two meanings of -o), else to the
// first below (`vigocli envoys --dry-run push`); the arguments go last,
// after "--" when one of them looks like a flag. "--" ends the flags.
//
// Mistakes are found here, before any command runs, and returned as one
// line that main prints with exit code 4: an unknown command or flag (with
// a suggestion), a flag without its value. A line that asks for help
// (`vigocli help ...`) is returned unchanged.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	type level struct {
		name  string
		flags []cli.Flag
		subs  []*cli.Command
		out   []string
	}
	type given struct {
		name   string
		tokens []string
		at     int // the level it was typed at
	}
	levels := []*level{{name: args[0], flags: app.Flags, subs: app.Commands}}
	var flags []given
	var pos []string
	dashdash := false
	var typed []string // the commands, as typed
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		cur := levels[len(levels)-1]
		if a == "--" {
			pos, dashdash = append(pos, rest[i+1:]...), true
			break
		}
		if len(a) > 1 && a[0] == '-' {
			name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
			var scope [][]cli.Flag
			for _, l := range levels {
				scope = append(scope, l.flags)
			}
			f := findFlag(name, append(scope, subtreeFlags(cur.subs)...))
			g := given{name: name, tokens: []string{a}, at: len(levels) - 1}
			if f != nil && takesValue(f) && !inline {
				if i+1 >= len(rest) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				g.tokens = append(g.tokens, rest[i])
			}
			flags = append(flags, g)
			continue
		}
		if len(pos) == 0 && len(cur.subs) > 0 {
			if a == "help" || a == "h" {
				return args, checkHelpTopic(cur.subs, typed, rest[i+1:])
			}
			cmd := findCommand(cur.subs, a)
			if cmd == nil {
				var names []string
				for _, c := range cur.subs {
					if !c.Hidden {
						names = append(names, c.Names()...)
					}
				}
				return nil, fmt.Errorf("unknown command %q%s", commandPath(typed, a), hint(suggestName(a, names), func(s string) string { return fmt.Sprintf("%q", commandPath(typed, s)) }))
			}
			levels = append(levels, &level{name: a, flags: cmd.Flags, subs: cmd.Subcommands})
			typed = append(typed, a)
			continue
		}
		pos = append(pos, a)
	}
	for _, g := range flags {
		// Where it was typed or above, innermost first; else below.
		order := make([]int, 0, len(levels))
		for j := g.at; j >= 0; j-- {
			order = append(order, j)
		}
		for j := len(levels) - 1; j > g.at; j-- {
			order = append(order, j)
		}
		placed := false
		for _, j := range order {
			f := findFlag(g.name, [][]cli.Flag{levels[j].flags})
			if f == nil && !implicitFlag(g.name, j == 0) {
				continue
			}
			if f != nil {
				if err := checkValue(f, g.name, g.tokens); err != nil {
					return nil, err
				}
			}
			levels[j].out = append(levels[j].out, g.tokens...)
			placed = true
			break
		}
		if !placed {
			var names []string
			for _, l := range levels {
				for _, f := range l.flags {
					if !hidden(f) {
						names = append(names, f.Names()...)
					}
				}
			}
			where := ""
			if len(levels) > 1 {
				where = fmt.Sprintf(" for %q", commandPath(typed, ""))
			}
			return nil, fmt.Errorf("unknown flag %s%s%s", g.tokens[0], where, hint(suggestName(g.name, names), dashed))
		}
	}
	out := []string{args[0]}
	for j, l := range levels {
		if j > 0 {
			out = append(out, l.name)
		}
		out = append(out, l.out...)
	}
	if len(pos) > 0 && (dashdash || slices.ContainsFunc(pos, func(p string) bool { return strings.HasPrefix(p, "-") })) {
		out = append(out, "--")
	}
	return append(out, pos...), nil
}

// checkHelpTopic checks the commands named after `help` (urfave/cli
// would say "No help topic" and exit 3).
func checkHelpTopic(subs []*cli.Command, typed, words []string) error {
	for _, w := range words {
		if strings.HasPrefix(w, "-") || len(subs) == 0 {
			return nil
		}
		cmd := findCommand(subs, w)
		if cmd == nil {
			var names []string
			for _, c := range subs {
				if !c.Hidden {
					names = append(names, c.Names()...)
				}
			}
			return fmt.Errorf("no help for %q%s", commandPath(typed, w), hint(suggestName(w, names), func(s string) string { return fmt.Sprintf("%q", commandPath(typed, s)) }))
		}
		typed = append(typed, w)
		subs = cmd.Subcommands
	}
	return nil
}

// checkValue parses a flag's value as urfave/cli will, so that a bad one
// is said in our words: `--parallel "lots": want a whole number`.
func checkValue(f cli.Flag, name string, tokens []string) error {
	if !takesValue(f) {
		return nil
	}
	value := ""
	if _, v, inline := strings.Cut(tokens[0], "="); inline {
		value = v
	} else if len(tokens) > 1 {
		value = tokens[1]
	}
	if gf, ok := f.(*cli.GenericFlag); ok {
		// Its Value is the one the real parse fills: check with a fresh one.
		if _, ours := gf.Value.(*varList); ours {
			if err := (&varList{}).Set(value); err != nil {
				return fmt.Errorf("%s %q: %w", dashed(name), value, err)
			}
		}
		return nil
	}
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	if err := f.Apply(set); err != nil {
		return nil // not ours to judge
	}
	err := set.Set(name, value)
	if err == nil {
		return nil
	}
	want := "a valid value"
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		want = "a whole number"
	case *cli.DurationFlag:
		want = "a duration such as 500ms, 30s or 2m"
	case *cli.Float64Flag:
		want = "a number"
	}
	return fmt.Errorf("%s %q: want %s", dashed(name), value, want)
}

// implicitFlag: urfave/cli adds --help everywhere and --version to the app.
func implicitFlag(name string, app bool) bool {
	return name == "help" || name == "h" || (app && (name == "version" || name == "v"))
}

func findFlag(name string, sets [][]cli.Flag) cli.Flag {
	if implicitFlag(name, true) {
		return cli.HelpFlag // a bool, like --version
	}
	for _, set := range sets {
		for _, f := range set {
			if slices.Contains(f.Names(), name) {
				return f
			}
		}
	}
	return nil
}

// subtreeFlags are the flags of every command below: a flag may come
// before the command that defines it (`vigocli envoys --var k=v push`).
func subtreeFlags(cmds []*cli.Command) [][]cli.Flag {
	var out [][]cli.Flag
	for _, c := range cmds {
		out = append(out, c.Flags)
		out = append(out, subtreeFlags(c.Subcommands)...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	if tv, ok := f.(interface{ TakesValue() bool }); ok {
		return tv.TakesValue()
	}
	return true
}

func hidden(f cli.Flag) bool {
	if vf, ok := f.(cli.VisibleFlag); ok {
		return !vf.IsVisible()
	}
	return false
}

// commandPath joins the commands typed so far and one more word.
func commandPath(typed []string, last string) string {
	return strings.TrimSpace(strings.Join(append(slices.Clone(typed), last), " "))
}

// suggestName is the closest name (didyoumean), else the only name that
// starts with name; "" when there is none.
func suggestName(name string, names []string) string {
	if s := didyoumean.Suggest(name, names); s != "" {
		return s
	}
	var pre []string
	for _, n := range names {
		if strings.HasPrefix(n, name) && name != "" {
			pre = append(pre, n)
		}
	}
	if len(pre) == 1 {
		return pre[0]
	}
	return ""
}

// hint formats a suggestion as the loaders do: ` (hint: did you mean X?)`.
func hint(s string, format func(string) string) string {
	if s == "" {
		return ""
	}
	return " (hint: did you mean " + format(s) + "?)"
}

// dashed writes a flag name as typed: --name, or -n for one letter.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
