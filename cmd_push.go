package main

import "github.com/urfave/cli/v2"

func envoysPushCommand() *cli.Command { return &cli.Command{Name: "push", Usage: "TODO"} }
