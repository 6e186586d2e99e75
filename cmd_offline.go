package main

import "github.com/urfave/cli/v2"

// Offline commands never touch a host.

func validateCommand() *cli.Command   { return &cli.Command{Name: "validate", Usage: "TODO"} }
func renderCommand() *cli.Command     { return &cli.Command{Name: "render", Usage: "TODO"} }
func envoysListCommand() *cli.Command { return &cli.Command{Name: "list", Usage: "TODO"} }
