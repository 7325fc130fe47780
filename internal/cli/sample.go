package cli

import (
	"fmt"
	"math/rand/v2"

	"github.com/git-evolve/git-evolve/evolve/sampling"
	"github.com/urfave/cli/v2"
)

func sampleCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "sample",
		Usage: "show which parent and inspirations the sampler would choose next",
		Description: `Runs parent selection over the experiment's DAG without changing anything.
With --explain it prints why: the UCB value of the candidates considered, the
island and the MAP-Elites cell.

Examples:
   git evolve sample -e circle_packing_demo
   git evolve sample -e circle_packing_demo -n 4 --algorithm island --seed 7 --explain`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.IntFlag{Name: "n", Usage: "`K` nodes: the parent and K-1 inspirations (default pipeline.sample_n)"},
			&cli.StringFlag{Name: "algorithm", Usage: "`ALG`: ucb1, greedy, random or island (default database.sampling.algorithm)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed; the same repository and seed give the same choice"},
			&cli.BoolFlag{Name: "explain", Usage: "print why each node was chosen"},
			&cli.StringFlag{Name: "config", Usage: "merge `FILE` over the experiment's config.yaml"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{configFile: c.String("config")})
			if err != nil {
				return err
			}
			cfg := e.Config.Database.Sampling
			if c.IsSet("algorithm") {
				cfg.Algorithm = c.String("algorithm")
			}
			n := e.Config.Pipeline.SampleN
			if c.IsSet("n") {
				n = c.Int("n")
			}
			if n < 1 {
				return usageErr("-n must be at least 1")
			}
			s, err := sampling.New(cfg, e.Config.Eval.Direction)
			if err != nil {
				return usageErr("%v", err)
			}
			cands, err := e.Store.Candidates(c.Context, e.Name)
			if err != nil {
				return err
			}
			seed := c.Uint64("seed")
			sel, err := s.Sample(cands, n, rand.New(rand.NewPCG(seed, uint64(len(cands)))))
			if err != nil {
				return withHint(err, "evaluate the baseline first: git evolve eval -e "+e.Name)
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, sel)
			}
			byID := map[string]string{}
			for _, cand := range cands {
				sc := "-"
				if v, ok := cand.Score(); ok {
					sc = fmtScore(&v)
				}
				byID[cand.ID] = sc + "  " + oneLine(cand.DisplayTitle(), 60)
			}
			fmt.Fprintf(sio.Out, "parent       %s  %s\n", sel.Parent[:8], byID[sel.Parent])
			for _, id := range sel.Inspirations {
				fmt.Fprintf(sio.Out, "inspiration  %s  %s\n", id[:8], byID[id])
			}
			if sel.Island != nil {
				fmt.Fprintf(sio.Out, "island       %d\n", *sel.Island)
			}
			if c.Bool("explain") {
				fmt.Fprintf(sio.Out, "\n%s:\n", sel.Sampler)
				for _, l := range sel.Explain {
					fmt.Fprintf(sio.Out, "  %s\n", l)
				}
			}
			return nil
		},
	}
}
