package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vigo-sh/vigocli/secrets"
)

// secretsCommand manages the stockpile's encrypted age store. Only
// `secrets get` ever prints a value; `set` never takes one as an argument.
func secretsCommand() *cli.Command {
	cmd := &cli.Command{
		Name:  "secrets",
		Usage: "manage the stockpile's encrypted secrets (secrets.age)",
		Description: "Values live in STOCKPILE/secrets.age, encrypted with age to every recipient's public key;\n" +
			"STOCKPILE/secrets.recipients lists the recipients. Your identity comes from VIGO_AGE_KEY,\n" +
			"VIGO_AGE_KEY_FILE or $XDG_CONFIG_HOME/vigo/age.key. Resources refer to a value as\n" +
			"\"secret:PATH\"; pushes resolve it (from VIGO_SECRET_* variables first, see docs/secrets.md).",
		Subcommands: []*cli.Command{
			{
				Name:      "init",
				Usage:     "create the store (and your identity if you have none); prints your public key",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "comment", Usage: "who the key belongs to (default USER@HOST)"},
				},
				Action: secretsInit,
			},
			{
				Name:      "keygen",
				Usage:     "create a new age identity in a file (e.g. for a CI job) and print its public key",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "identity file to create (mode 0600; never overwritten); required"},
				},
				Action: func(c *cli.Context) error {
					// Checked here rather than with Required: urfave/cli prints the whole help then.
					if c.String("output") == "" {
						return withCode(exitInvalid, errors.New("secrets keygen needs --output FILE"))
					}
					id, err := secrets.GenerateIdentity(c.String("output"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "created age identity %s (keep it private)\n", id.Source)
					fmt.Fprintln(c.App.Writer, id.Recipients[0])
					return nil
				},
			},
			{
				Name:      "set",
				Usage:     "store a value read from stdin (or typed at a prompt without echo)",
				ArgsUsage: "PATH",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "raw", Usage: "keep stdin byte for byte (default: drop one trailing newline)"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 1 {
						// Never echo the extra arguments: one of them is likely the value.
						return withCode(exitInvalid, errors.New("secrets set takes one argument, the path; the value is read from stdin or a prompt, never from an argument (it would land in shell history and the process list)"))
					}
					path, err := pathArg(c, "set")
					if err != nil {
						return err
					}
					store, err := openStore(c)
					if err != nil {
						return err
					}
					value, err := readSecretValue(c, path)
					if err != nil {
						return err
					}
					if err := store.Set(path, value); err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "stored %s in %s\n", path, store.Path())
					return nil
				},
			},
			{
				Name:      "get",
				Usage:     "print a value (the one command that does)",
				ArgsUsage: "PATH",
				Action: withPathStore("get", func(c *cli.Context, path string, store *secrets.AgeStore) error {
					v, err := store.Get(c.Context, path)
					if err != nil {
						return fmt.Errorf("secret %q: %w", path, err)
					}
					fmt.Fprintln(c.App.Writer, v)
					return nil
				}),
			},
			{
				Name:      "list",
				Aliases:   []string{"ls"},
				Usage:     "list the stored paths (never values)",
				ArgsUsage: " ",
				Action: func(c *cli.Context) error {
					store, err := openStore(c)
					if err != nil {
						return err
					}
					paths, err := store.Paths()
					if err != nil {
						return err
					}
					for _, p := range paths {
						fmt.Fprintln(c.App.Writer, p)
					}
					return nil
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a value",
				ArgsUsage: "PATH",
				Action: withPathStore("rm", func(c *cli.Context, path string, store *secrets.AgeStore) error {
					if err := store.Remove(path); err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "removed %s from %s\n", path, store.Path())
					return nil
				}),
			},
			{
				Name:  "recipients",
				Usage: "list, add or remove the public keys the store is encrypted to",
				Subcommands: []*cli.Command{
					{
						Name:      "list",
						Aliases:   []string{"ls"},
						Usage:     "list recipients (reads secrets.recipients; no key needed)",
						ArgsUsage: " ",
						Action:    secretsRecipientsList,
					},
					{
						Name:      "add",
						Usage:     "add a public key (age1..., or - to read it from stdin) and re-encrypt the store",
						ArgsUsage: "KEY|-",
						Flags: []cli.Flag{
							&cli.StringFlag{Name: "comment", Usage: "who the key belongs to"},
						},
						Action: withKeyStore("add", func(c *cli.Context, key string, store *secrets.AgeStore) error {
							if err := store.AddRecipient(key, c.String("comment")); err != nil {
								return err
							}
							fmt.Fprintf(c.App.ErrWriter, "added %s; re-encrypted %s\n", key, store.Path())
							return nil
						}),
					},
					{
						Name:      "rm",
						Usage:     "remove a public key and re-encrypt the store (rotate the values it could read)",
						ArgsUsage: "KEY|-",
						Action: withKeyStore("rm", func(c *cli.Context, key string, store *secrets.AgeStore) error {
							if err := store.RemoveRecipient(key); err != nil {
								return err
							}
							fmt.Fprintf(c.App.ErrWriter, "removed %s; re-encrypted %s\n"+
								"note: that key can still read old copies of the file (e.g. in git history): rotate the values it could see\n",
								key, store.Path())
							return nil
						}),
					},
				},
			},
		},
	}
	addStockpileFlag(cmd)
	return cmd
}

// addStockpileFlag lets every secrets command take --stockpile after it
// too (`vigocli secrets list -s DIR`), like the other commands.
func addStockpileFlag(cmd *cli.Command) {
	if len(cmd.Subcommands) == 0 {
		cmd.Flags = append(cmd.Flags, &cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Usage: "stockpile directory (default: ./stockpile, or $VIGO_STOCKPILE)"})
		return
	}
	for _, sub := range cmd.Subcommands {
		addStockpileFlag(sub)
	}
}

// stockpileDir returns the stockpile directory, which must exist.
func stockpileDir(c *cli.Context) (string, error) {
	dir := stockpileFlag(c)
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", withCode(exitInvalid, fmt.Errorf("stockpile directory %q does not exist (set --stockpile or VIGO_STOCKPILE)", dir))
	}
	return dir, nil
}

// pathArg is the one PATH argument of a secrets command, validated.
func pathArg(c *cli.Context, verb string) (string, error) {
	if c.NArg() != 1 {
		return "", withCode(exitInvalid, fmt.Errorf("secrets %s takes exactly one argument, the secret's path", verb))
	}
	p := c.Args().First()
	if err := secrets.ValidatePath(p); err != nil {
		return "", withCode(exitInvalid, err)
	}
	return p, nil
}

// withPathStore is the action of a command taking one PATH argument and
// working on the store.
func withPathStore(verb string, fn func(c *cli.Context, path string, store *secrets.AgeStore) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		path, err := pathArg(c, verb)
		if err != nil {
			return err
		}
		store, err := openStore(c)
		if err != nil {
			return err
		}
		return fn(c, path, store)
	}
}

// withKeyStore is the action of a recipients command taking one public
// key argument (or - for stdin) and working on the store.
func withKeyStore(verb string, fn func(c *cli.Context, key string, store *secrets.AgeStore) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != 1 {
			return withCode(exitInvalid, fmt.Errorf("secrets recipients %s takes exactly one argument, a public key (age1...)", verb))
		}
		store, err := openStore(c)
		if err != nil {
			return err
		}
		key, err := keyArg(c)
		if err != nil {
			return err
		}
		return fn(c, key, store)
	}
}

func openStore(c *cli.Context) (*secrets.AgeStore, error) {
	dir, err := stockpileDir(c)
	if err != nil {
		return nil, err
	}
	return secrets.NewAgeStore(dir, secrets.OSEnv().LoadIdentity), nil
}

func secretsInit(c *cli.Context) error {
	dir, err := stockpileDir(c)
	if err != nil {
		return err
	}
	env := secrets.OSEnv()
	out, errw := c.App.Writer, c.App.ErrWriter
	id, err := env.LoadIdentity()
	if errors.Is(err, secrets.ErrNoIdentity) {
		file, ferr := env.KeyFile()
		if ferr != nil {
			return ferr
		}
		if id, err = secrets.GenerateIdentity(file); err != nil {
			return err
		}
		fmt.Fprintf(errw, "created age identity %s (keep it private and back it up)\n", id.Source)
	} else if err != nil {
		return err
	} else {
		fmt.Fprintf(errw, "using %s\n", id)
	}
	store := secrets.NewAgeStore(dir, func() (*secrets.Identity, error) { return id, nil })
	if store.Exists() {
		rs, lerr := store.ListRecipients()
		member := false
		for _, r := range rs {
			member = member || r.Key == id.Recipients[0]
		}
		fmt.Fprintf(errw, "%s already exists\n", store.Path())
		if lerr == nil && !member {
			fmt.Fprintf(errw, "your key is not one of its recipients: ask a recipient to run `vigocli secrets recipients add %s`\n", id.Recipients[0])
		}
	} else {
		comment := c.String("comment")
		if comment == "" {
			comment = defaultKeyComment()
		}
		if err := store.Init(id, comment); err != nil {
			return err
		}
		fmt.Fprintf(errw, "created %s and %s\n", store.Path(), store.RecipientsPath())
	}
	fmt.Fprintln(out, id.Recipients[0])
	return nil
}

func defaultKeyComment() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return user + "@" + host
}

func secretsRecipientsList(c *cli.Context) error {
	store, err := openStore(c)
	if err != nil {
		return err
	}
	rs, err := store.ListRecipients()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Comment != "" {
			fmt.Fprintf(c.App.Writer, "%s  # %s\n", r.Key, r.Comment)
		} else {
			fmt.Fprintln(c.App.Writer, r.Key)
		}
	}
	// With a key at hand, check the plain file against the encrypted list.
	if ok, err := store.VerifyRecipients(); err == nil && !ok {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s differs from the recipients inside %s (edited by hand?); the next write restores it\n",
			store.RecipientsPath(), store.Path())
	}
	return nil
}

// readSecretValue reads a value from a prompt without echo when stdin is a
// terminal, else from stdin (dropping one trailing newline unless --raw).
func readSecretValue(c *cli.Context, path string) (string, error) {
	if f, ok := c.App.Reader.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptValue(f, c.App.ErrWriter, path)
	}
	data, err := io.ReadAll(io.LimitReader(c.App.Reader, secrets.MaxValueLen+2))
	if err != nil {
		return "", fmt.Errorf("read value from stdin: %w", err)
	}
	if !c.Bool("raw") {
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
	}
	return string(data), nil
}

// keyArg returns the public key argument; "-" reads it from stdin (e.g.
// `vigocli secrets keygen -o ci.key | vigocli secrets recipients add -`).
func keyArg(c *cli.Context) (string, error) {
	key := c.Args().First()
	if key == "-" {
		data, err := io.ReadAll(io.LimitReader(c.App.Reader, 4096))
		if err != nil {
			return "", fmt.Errorf("read public key from stdin: %w", err)
		}
		key = string(data)
	}
	return strings.TrimSpace(key), nil
}

// promptValue asks for a value twice on the terminal. Echo is switched off
// (raw mode) before the prompt appears, so nothing typed after it is
// echoed, however fast.
func promptValue(tty *os.File, w io.Writer, path string) (string, error) {
	fd := int(tty.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(fd, old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{tty, w}, "")
	v1, err := t.ReadPassword("value for " + path + ": ")
	if err != nil {
		return "", errors.New("cancelled; nothing stored")
	}
	v2, err := t.ReadPassword("again: ")
	if err != nil {
		return "", errors.New("cancelled; nothing stored")
	}
	if v1 != v2 {
		return "", errors.New("the two values differ; nothing stored")
	}
	return v1, nil
}
