package main

import "github.com/urfave/cli/v2"

func secretsCommand() *cli.Command { return &cli.Command{Name: "secrets", Usage: "TODO"} }
