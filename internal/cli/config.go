package cli

import (
	"fmt"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

func configCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print the effective configuration of an experiment, or list every key",
		Description: `Merges the built-in defaults, evolve.yaml, experiments/<exp>/config.yaml and
--config FILE (later wins; maps merge key by key, lists are replaced) and prints
the result. With --keys, lists every key with its default and meaning.

Examples:
   git evolve config -e circle_packing_demo
   git evolve config --keys`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.StringFlag{Name: "config", Usage: "merge `FILE` last"},
			&cli.BoolFlag{Name: "keys", Usage: "list every configuration key with its default"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Bool("keys") {
				if c.Bool("json") {
					return writeJSON(sio.Out, evolve.ConfigKeys())
				}
				var rows [][]string
				for _, k := range evolve.ConfigKeys() {
					rows = append(rows, []string{k.Key, k.Type, k.Default, k.Doc})
				}
				return table(sio.Out, sio.Terminal, []string{"key", "type", "default", "meaning"}, rows)
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{configFile: c.String("config")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, e.Config)
			}
			b, err := e.Config.YAML()
			if err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "# effective configuration of %s (from defaults", e.Name)
			for _, s := range e.Sources {
				fmt.Fprintf(sio.Out, ", %s", s)
			}
			fmt.Fprintf(sio.Out, ")\n%s", b)
			return nil
		},
	}
}
