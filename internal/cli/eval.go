package cli

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

type evalJSON struct {
	ID         string         `json:"id"`
	Status     evolve.Status  `json:"status"`
	Score      *float64       `json:"score"`
	Metrics    map[string]any `json:"metrics,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Feedback   string         `json:"feedback,omitempty"`
	DurationMS int64          `json:"duration_ms"`
	Error      string         `json:"error,omitempty"`
}

func evalCommand(sio *IO) *cli.Command {
	flags := append(loopFlags(),
		&cli.BoolFlag{Name: "pending", Usage: "evaluate every candidate that was proposed but never evaluated"},
		jsonFlag(),
	)
	return &cli.Command{
		Name:      "eval",
		Usage:     "evaluate candidates with the experiment's evaluation script (the Engineer)",
		ArgsUsage: "[<id>...]",
		Description: `Runs eval.sh on each candidate in a workspace holding the candidate's tree
(under .git/evolve/workspaces/, never your working tree) and records an
"evaluated" note: status, score, metrics, feedback, duration, and on failure the
reason and the tail of the output. Evaluating a candidate again adds a new
record; the latest one counts.

The evaluation contract:
   $1                 absolute path of the first editable file
   working directory  experiments/<exp>/ inside the workspace
   environment        EVOLVE_CANDIDATE, EVOLVE_EXPERIMENT, EVOLVE_WORKSPACE,
                      EVOLVE_RESULTS (path for an optional results.json),
                      EVOLVE_ARTIFACTS (a folder); API keys and tokens removed
   result             last stdout line that is a JSON object
                      {"score": x, "metrics": {...}, "feedback": "..."}, or a
                      results.json (eval_score / combined_score / success)
   limits             eval.timeout kills the whole process tree; output capped

Without ids (or with --pending) it evaluates the pending candidates; the first
eval of a new experiment creates and evaluates the baseline.

Examples:
   git evolve eval -e circle_packing_demo
   git evolve eval -e circle_packing_demo 1a2b3c4d --timeout 30s
   git evolve eval -e my_exp --pending -j 4 --eval-script ./other_eval.sh`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{
				configFile: c.String("config"), needFolder: true, apply: applyLoopFlags(c)})
			if err != nil {
				return err
			}
			return runEval(c, sio, e)
		},
	}
}

func runEval(c *cli.Context, sio *IO, e *experiment) error {
	ctx := c.Context
	l, closeLoop, err := newLoop(ctx, sio, e, nil, nil, 0)
	if err != nil {
		return err
	}
	defer closeLoop()
	l.Retriever = nil
	if _, _, err := e.Store.EnsureBaseline(ctx, evolve.BaselineRequest{Exp: e.Name, When: sio.Now(), By: l.Host + "/eval"}); err != nil {
		return err
	}
	var ids []string
	for _, a := range c.Args().Slice() {
		id, err := e.Store.Resolve(ctx, e.Name, a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 || c.Bool("pending") {
		cands, err := e.Store.Candidates(ctx, e.Name)
		if err != nil {
			return err
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].Time.Before(cands[j].Time) })
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		for _, cand := range cands {
			if cand.Status() == evolve.StatusPending && !seen[cand.ID] {
				ids = append(ids, cand.ID)
			}
		}
	}
	if len(ids) == 0 {
		if c.Bool("json") {
			return writeJSON(sio.Out, []evalJSON{})
		}
		fmt.Fprintf(sio.Out, "nothing to evaluate: experiment %s has no pending candidate\n", e.Name)
		return nil
	}
	workers := max(1, e.Config.Pipeline.Parallel.NumWorkers)
	results := make([]evalJSON, len(ids))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	for w := 0; w < min(workers, len(ids)); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(ids) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				start := time.Now()
				res, err := l.Evaluate(ctx, w, ids[i])
				j := evalJSON{ID: ids[i], Status: res.Status, Score: res.Score, Metrics: res.Metrics, Reason: res.Reason,
					Feedback: res.Feedback, DurationMS: res.Duration.Milliseconds()}
				if err != nil {
					j.Error = err.Error()
					if j.Status == "" {
						j.Status = evolve.StatusPending
					}
				}
				mu.Lock()
				results[i] = j
				if !c.Bool("json") {
					line := fmt.Sprintf("%s  %-7s", ids[i][:8], j.Status)
					if j.Score != nil {
						line += "  score " + fmtScore(j.Score)
					}
					line += fmt.Sprintf("  %s", time.Since(start).Round(time.Millisecond))
					if j.Reason != "" {
						line += "  " + oneLine(j.Reason, 100)
					}
					if j.Error != "" {
						line += "  error: " + j.Error
					}
					fmt.Fprintln(sio.Out, line)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if c.Bool("json") {
		if err := writeJSON(sio.Out, results); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return &exitError{code: ExitInterrupted, err: errors.New("interrupted: unfinished candidates stay pending; run git evolve eval --pending to finish them")}
	}
	for _, r := range results {
		if r.Error != "" {
			return fmt.Errorf("%s: %s", r.ID[:8], r.Error)
		}
	}
	return nil
}
