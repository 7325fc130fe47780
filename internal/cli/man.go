package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

func manCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the man page (or install it so that 'git evolve --help' finds it)",
		Description: `git runs 'man git-evolve' for 'git evolve --help'. Install the page with:
   git evolve man --install-dir /usr/local/share/man/man1
or print it with 'git evolve man > git-evolve.1'.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "install-dir", Usage: "write git-evolve.1 into `DIR` instead of printing it"},
		},
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			dir := c.String("install-dir")
			if dir == "" {
				_, err := fmt.Fprint(sio.Out, page)
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			p := filepath.Join(dir, "git-evolve.1")
			if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "wrote %s\n", p)
			return nil
		},
	}
}
