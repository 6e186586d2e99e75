package main

import "github.com/urfave/cli/v2"

// globalFlags are accepted before any command.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "stockpile", Aliases: []string{"s"}, Value: "stockpile", EnvVars: []string{"VIGO_STOCKPILE"}, Usage: "stockpile directory"},
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, EnvVars: []string{"VIGO_INVENTORY"}, Usage: "inventory file (default: STOCKPILE/inventory.vgo)"},
	}
}
