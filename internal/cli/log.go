package cli

import (
	"fmt"
	"strconv"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

func expFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "experiment", Aliases: []string{"e"}, Usage: "experiment `NAME` (the folder experiments/NAME/)"}
}

func jsonFlag() *cli.BoolFlag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts instead of a table"}
}

// leaderboardRow is one line of `git evolve log`, also its --json shape.
type leaderboardRow struct {
	Rank     int            `json:"rank"`
	ID       string         `json:"id"`
	Short    string         `json:"short"`
	Score    *float64       `json:"score"`
	Delta    *float64       `json:"delta_vs_baseline"`
	Status   evolve.Status  `json:"status"`
	Parent   string         `json:"parent,omitempty"`
	Title    string         `json:"title"`
	Baseline bool           `json:"baseline,omitempty"`
	Metrics  map[string]any `json:"metrics,omitempty"`
	Tokens   int64          `json:"tokens,omitempty"`
	CostUSD  float64        `json:"cost_usd,omitempty"`
	Reason   string         `json:"reason,omitempty"`
}

func leaderboard(cands []evolve.Candidate, dir evolve.Direction) []leaderboardRow {
	evolve.Rank(cands, dir)
	var base *float64
	for _, c := range cands {
		if c.Baseline {
			if s, ok := c.Score(); ok {
				base = &s
			}
		}
	}
	rows := make([]leaderboardRow, 0, len(cands))
	for i, c := range cands {
		r := leaderboardRow{Rank: i + 1, ID: c.ID, Short: c.Short(), Status: c.Status(), Title: c.DisplayTitle(), Baseline: c.Baseline}
		if s, ok := c.Score(); ok {
			r.Score = &s
			if base != nil {
				d := s - *base
				r.Delta = &d
			}
		}
		if c.Parent != "" {
			r.Parent = c.Parent
		}
		if c.Evaluated != nil {
			r.Metrics = c.Evaluated.Metrics
			r.Reason = c.Evaluated.Reason
		}
		t, usd := c.Tokens()
		r.Tokens, r.CostUSD = t.Total(), usd
		rows = append(rows, r)
	}
	return rows
}

func logCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "show the leaderboard of an experiment",
		Description: `Ranks the candidates of an experiment, best first: evaluated ones by score
(eval.direction decides whether higher or lower is better), then pending, then
failed. Δ is the difference to the baseline's score.

Examples:
   git evolve log -e circle_packing_demo
   git evolve log -e circle_packing_demo --top 5 --json
   git evolve log -e circle_packing_demo --all --status failed`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.IntFlag{Name: "top", Value: 20, Usage: "show the best `N` candidates"},
			&cli.BoolFlag{Name: "all", Usage: "show every candidate (overrides --top)"},
			&cli.StringFlag{Name: "status", Usage: "only candidates with `STATUS` (ok, failed, timeout, invalid, pending)"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("log takes no arguments (got %q); use -e NAME", c.Args().First())
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{})
			if err != nil {
				return err
			}
			status := evolve.Status(c.String("status"))
			if status != "" && !status.Valid() && status != evolve.StatusPending {
				return usageErr("--status %q: use ok, failed, timeout, invalid or pending", status)
			}
			cands, err := e.Store.Candidates(c.Context, e.Name)
			if err != nil {
				return err
			}
			if len(cands) == 0 {
				if c.Bool("json") {
					return writeJSON(sio.Out, []leaderboardRow{})
				}
				fmt.Fprintf(sio.Err, "experiment %s has no candidates yet; run: git evolve step -e %s\n", e.Name, e.Name)
				return nil
			}
			rows := leaderboard(cands, e.Config.Eval.Direction)
			if status != "" {
				kept := rows[:0]
				for _, r := range rows {
					if r.Status == status {
						kept = append(kept, r)
					}
				}
				rows = kept
			}
			if top := c.Int("top"); !c.Bool("all") && top > 0 && len(rows) > top {
				rows = rows[:top]
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, rows)
			}
			out := make([][]string, 0, len(rows))
			for _, r := range rows {
				delta := "-"
				if r.Delta != nil {
					delta = fmtDelta(*r.Delta)
				}
				parent := "-"
				if r.Parent != "" {
					parent = r.Parent[:min(8, len(r.Parent))]
				}
				t := r.Title
				if r.Baseline {
					t = "(baseline) " + t
				}
				out = append(out, []string{strconv.Itoa(r.Rank), r.Short, fmtScore(r.Score), delta, string(r.Status), parent, oneLine(t, 60)})
			}
			return table(sio.Out, sio.Terminal, []string{"rank", "id", "score", "Δ base", "status", "parent", "title"}, out)
		},
	}
}
