package main

import "github.com/urfave/cli/v2"

func taskCommand() *cli.Command { return &cli.Command{Name: "task", Usage: "TODO"} }
