package main

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/vigo-sh/vigocli/stockpile"
)

// findStockpile is where the stockpile is, in this order: --stockpile/-s
// (after or before the command), VIGO_STOCKPILE, the current directory
// when it is a stockpile itself (it holds modules/, roles/ or envoys/, so
// that `cd examples/docker-stack && vigocli validate` works), else
// ./stockpile. When none of them exists the result is ./stockpile, and
// stockpile.Load's error says where vigo looked.
func findStockpile(c *cli.Context) string {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), "stockpile") {
			if v := ctx.String("stockpile"); v != "" {
				return v
			}
		}
	}
	if v := os.Getenv("VIGO_STOCKPILE"); v != "" {
		return v
	}
	return discoverStockpile(".")
}

// discoverStockpile is dir when dir is a stockpile, else dir/stockpile
// (which may not exist).
func discoverStockpile(dir string) string {
	if stockpile.IsStockpile(dir) {
		return dir
	}
	return filepath.Join(dir, stockpile.DefaultDir)
}
