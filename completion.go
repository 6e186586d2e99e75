package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/inventory"
	"github.com/vigo-sh/vigocli/stockpile"
)

// completeWord is the hidden first argument the completion scripts call:
// `vigocli __complete -- WORD... CURRENT` prints the candidates for
// CURRENT, one per line. One protocol for the three shells: the scripts
// only pass the words and show the lines.
const completeWord = "__complete"

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Completes commands, flags, host names (render, envoys list, --target),\n" +
			"environments (--environment) and resource names (render HOST RESOURCE),\n" +
			"reading the stockpile and inventory the words typed so far name.\n\n" +
			"   bash: source <(vigocli completion bash)        (in ~/.bashrc)\n" +
			"   zsh:  source <(vigocli completion zsh)         (in ~/.zshrc, after compinit)\n" +
			"   fish: vigocli completion fish > ~/.config/fish/completions/vigocli.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return withCode(exitInvalid, fmt.Errorf("completion takes one shell: bash, zsh or fish"))
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return withCode(exitInvalid, fmt.Errorf("completion %q: want bash, zsh or fish", c.Args().First()))
			}
			_, err := io.WriteString(c.App.Writer, script)
			return err
		},
	}
}

var completionScripts = map[string]string{
	"bash": `# bash completion for vigocli: source <(vigocli completion bash)
_vigocli() {
    local IFS=$'\n'
    COMPREPLY=($(vigocli __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _vigocli vigocli
`,
	"zsh": `#compdef vigocli
# zsh completion for vigocli: source <(vigocli completion zsh)
_vigocli() {
    local -a cands
    cands=(${(f)"$(vigocli __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)"})
    if (( ${#cands} )); then
        compadd -- $cands
    else
        _files
    fi
}
compdef _vigocli vigocli
`,
	"fish": `# fish completion for vigocli: vigocli completion fish > ~/.config/fish/completions/vigocli.fish
function __vigocli_complete
    set -l words (commandline -opc)
    set -e words[1]
    vigocli __complete -- $words (commandline -ct) 2>/dev/null
end
complete -c vigocli -f -a '(__vigocli_complete)'
`,
}

// complete prints the candidates for the last of words (the word being
// typed, possibly empty) given the words before it. It never fails: a
// stockpile that does not load simply offers no host names.
func complete(app *cli.App, words []string, w io.Writer) error {
	if len(words) > 0 && words[0] == "--" {
		words = words[1:]
	}
	cur := ""
	if len(words) > 0 {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	type level struct {
		cmd   *cli.Command // nil: the app
		flags []cli.Flag
		subs  []*cli.Command
	}
	levels := []level{{flags: app.Flags, subs: app.Commands}}
	values := map[string]string{} // flags given, by every name
	var pos []string
	var pending cli.Flag // a flag waiting for its value
	for _, a := range words {
		cur := levels[len(levels)-1]
		if pending != nil {
			for _, n := range pending.Names() {
				values[n] = a
			}
			pending = nil
			continue
		}
		if len(a) > 1 && a[0] == '-' && a != "--" {
			name, v, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
			var scope [][]cli.Flag
			for _, l := range levels {
				scope = append(scope, l.flags)
			}
			f := findFlag(name, append(scope, subtreeFlags(cur.subs)...))
			if f != nil && takesValue(f) {
				if inline {
					for _, n := range f.Names() {
						values[n] = v
					}
				} else {
					pending = f
				}
			}
			continue
		}
		if len(pos) == 0 && len(cur.subs) > 0 {
			if cmd := findCommand(cur.subs, a); cmd != nil {
				levels = append(levels, level{cmd: cmd, flags: cmd.Flags, subs: cmd.Subcommands})
				continue
			}
		}
		pos = append(pos, a)
	}
	leaf := levels[len(levels)-1]
	var cands []string
	switch {
	case pending != nil:
		cands = completeValue(pending.Names()[0], values)
	case strings.HasPrefix(cur, "-"):
		seen := map[string]bool{}
		for i := len(levels) - 1; i >= 0; i-- {
			for _, f := range append(slices.Clone(levels[i].flags), cli.HelpFlag) {
				if hidden(f) {
					continue
				}
				for _, n := range f.Names() {
					if len(n) > 1 && !seen[n] {
						seen[n] = true
						cands = append(cands, "--"+n)
					}
				}
			}
		}
	case len(leaf.subs) > 0 && len(pos) == 0:
		for _, c := range leaf.subs {
			if !c.Hidden {
				cands = append(cands, c.Name)
			}
		}
	case leaf.cmd != nil:
		var path []string
		for _, l := range levels[1:] {
			path = append(path, l.cmd.Name)
		}
		cands = completeArg(strings.Join(path, " "), pos, values)
	}
	for _, c := range cands {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(w, c)
		}
	}
	return nil
}

// completeArg completes the positional arguments of a command (its path
// of names: "envoys list").
func completeArg(path string, pos []string, values map[string]string) []string {
	switch path {
	case "render":
		if len(pos) == 0 {
			return completionHosts(values)
		}
		return resourceIDs(values, pos[0])
	case "envoys list":
		return completionHosts(values)
	case "completion":
		return []string{"bash", "zsh", "fish"}
	}
	return nil
}

// completeValue completes the value of a flag.
func completeValue(flag string, values map[string]string) []string {
	switch flag {
	case "target":
		return completionHosts(values)
	case "environment":
		sp := loadForCompletion(values)
		if sp == nil {
			return nil
		}
		var envs []string
		for _, e := range sp.Envoys {
			if e.Environment != "" && !slices.Contains(envs, e.Environment) {
				envs = append(envs, e.Environment)
			}
		}
		return envs
	case "output":
		return []string{"text", "json"}
	}
	return nil
}

func completionStockpile(values map[string]string) string {
	if v := values["stockpile"]; v != "" {
		return v
	}
	return globalDefault("stockpile")
}

func completionInventory(values map[string]string) (*inventory.Inventory, error) {
	path := values["inventory"]
	if path == "" {
		path = globalDefault("inventory")
	}
	if path == "" {
		path = inventory.DefaultPath(completionStockpile(values))
	}
	return inventory.Load(path)
}

func completionHosts(values map[string]string) []string {
	inv, err := completionInventory(values)
	if err != nil {
		return nil
	}
	return inv.Names()
}

func loadForCompletion(values map[string]string) *stockpile.Stockpile {
	sp, err := stockpile.Load(completionStockpile(values), executors.BuiltinSchemas())
	if err != nil {
		return nil
	}
	return sp
}

// resourceIDs are the module/resource IDs of a host's rendered
// resources (render HOST RESOURCE...).
func resourceIDs(values map[string]string, host string) []string {
	sp := loadForCompletion(values)
	inv, err := completionInventory(values)
	if sp == nil || err != nil {
		return nil
	}
	name, err := inventory.ResolveName(inv.Names(), host)
	if err != nil {
		return nil
	}
	h, _, err := desired.BuildHost(sp, inv, name, desired.Options{})
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range h.Resources {
		out = append(out, r.ID())
	}
	return out
}
