// Command git-evolve is the `git evolve` research loop. See internal/cli.
package main

import (
	"os"

	"github.com/git-evolve/git-evolve/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args, cli.StdIO())) }
