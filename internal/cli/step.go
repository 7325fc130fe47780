package cli

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/git-evolve/git-evolve/agents"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/evolve/sampling"
	"github.com/urfave/cli/v2"
)

// loopFlags are shared by step and eval: the flags of ASI-Evolve's main.py.
func loopFlags() []cli.Flag {
	return []cli.Flag{
		expFlag(),
		&cli.StringFlag{Name: "config", Usage: "merge `FILE` over the experiment's config.yaml"},
		&cli.StringFlag{Name: "eval-script", Usage: "evaluation `SCRIPT` (default eval.script = experiments/<exp>/eval.sh); relative to the current directory"},
		&cli.StringFlag{Name: "timeout", Usage: "evaluation timeout, e.g. 90s (default eval.timeout)"},
		&cli.IntFlag{Name: "workers", Aliases: []string{"j"}, Usage: "`W` concurrent workers (default pipeline.parallel.num_workers)"},
	}
}

// applyLoopFlags turns flags into config overrides.
func applyLoopFlags(c *cli.Context) func(*evolve.Config) error {
	return func(cfg *evolve.Config) error {
		if v := c.String("eval-script"); v != "" {
			abs, err := filepath.Abs(v)
			if err != nil {
				return usageErr("--eval-script %s: %v", v, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return usageErr("--eval-script %s: %v", v, unwrapPath(err))
			}
			cfg.Eval.Script = abs
		}
		if v := c.String("timeout"); v != "" {
			d, err := evolve.ParseDuration(v)
			if err != nil || d <= 0 {
				return usageErr("--timeout %s: use a positive duration such as 90s or 10m", v)
			}
			cfg.Eval.Timeout = d
		}
		if c.IsSet("workers") {
			if c.Int("workers") < 1 {
				return usageErr("--workers must be at least 1")
			}
			cfg.Pipeline.Parallel.NumWorkers = c.Int("workers")
		}
		if c.IsSet("sample-n") {
			if c.Int("sample-n") < 1 {
				return usageErr("--sample-n must be at least 1")
			}
			cfg.Pipeline.SampleN = c.Int("sample-n")
		}
		if c.IsSet("algorithm") {
			cfg.Database.Sampling.Algorithm = c.String("algorithm")
		}
		if c.IsSet("remote") {
			cfg.Sync.Remote = c.String("remote")
		}
		return nil
	}
}

func stepCommand(sio *IO) *cli.Command {
	flags := append(loopFlags(),
		&cli.IntFlag{Name: "steps", Value: 10, Usage: "run `N` more steps (on a resumed experiment: N more)"},
		&cli.IntFlag{Name: "sample-n", Usage: "`K` nodes shown to the Researcher: a parent and K-1 inspirations (default pipeline.sample_n)"},
		&cli.StringFlag{Name: "algorithm", Usage: "parent selection `ALG`: ucb1, greedy, random or island"},
		&cli.Uint64Flag{Name: "seed", Usage: "make sampling and the offline researcher reproducible (default: from the clock)"},
		&cli.BoolFlag{Name: "offline", Usage: "use the offline researcher and analyzer even if an LLM endpoint is configured"},
		&cli.BoolFlag{Name: "sync", Usage: "sync with the remote after every sync.every candidates and at the end"},
		&cli.StringFlag{Name: "remote", Usage: "`REMOTE` for --sync (default sync.remote = origin)"},
		&cli.DurationFlag{Name: "grace", Value: 10 * time.Second, Usage: "on Ctrl-C, let in-flight evaluations run this long before killing them"},
		jsonFlag(),
	)
	return &cli.Command{
		Name:  "step",
		Usage: "run the research loop: sample, research, commit, evaluate, analyze",
		Description: `Each step samples a parent (and inspirations) from the experiment's DAG,
asks the Researcher for a better program, commits it as a candidate, evaluates
it with the experiment's eval.sh and records an analysis. Every result is a git
note on the candidate's commit, so an interrupted run loses nothing: the next
step evaluates pending candidates first.

The first step of a new experiment creates and evaluates the baseline: a commit
of the current HEAD's tree.

Without an LLM endpoint (api.base_url / OPENAI_BASE_URL, key in the variable
named by api.key_env) or with --offline, the Researcher mutates the numeric
literals of the editable region and the Analyzer is rule-based.

Examples:
   git evolve step -e circle_packing_demo --steps 20
   git evolve step -e infer_scheduler --steps 40 --sample-n 3 --workers 4
   git evolve step -e my_exp --steps 100 --sync       # share with other runners
Exit codes: 0 done, 1 error, 3 budget reached, 130 interrupted.`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("step takes no arguments (got %q); use -e NAME", c.Args().First())
			}
			if c.Int("steps") < 0 {
				return usageErr("--steps must be 0 or more")
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{
				configFile: c.String("config"), needFolder: true, apply: applyLoopFlags(c)})
			if err != nil {
				return err
			}
			return runStep(c, sio, e)
		},
	}
}

func runStep(c *cli.Context, sio *IO, e *experiment) error {
	ctx := c.Context
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(sio.Now().UnixNano())
	}
	researcher, analyzer, llm, notice, err := buildAgents(sio, e, c.Bool("offline"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		fmt.Fprintln(sio.Err, notice) // stdout stays pure JSON
	} else {
		fmt.Fprintln(sio.Out, notice)
	}
	l, closeLoop, err := newLoop(ctx, sio, e, researcher, analyzer, seed)
	if err != nil {
		return err
	}
	defer closeLoop()
	if llm != nil {
		llm.Budget = agents.BudgetFunc(l.CheckBudget)
	}
	l.Grace = c.Duration("grace")
	if c.Bool("sync") {
		remote := e.Config.Sync.Remote
		l.Sync = func(ctx context.Context) error { return syncRemote(ctx, e, remote) }
	}
	steps := c.Int("steps")
	total := steps
	l.Progress = func(r evolve.StepResult) {
		if c.Bool("json") {
			return
		}
		fmt.Fprintln(sio.Out, progressLine(r, total))
	}
	start := time.Now()
	sum, runErr := l.Run(ctx, steps)
	if c.Bool("json") {
		if err := writeJSON(sio.Out, summaryJSON(sum, time.Since(start))); err != nil {
			return err
		}
	} else {
		printSummary(sio, e, sum, time.Since(start))
	}
	switch {
	case runErr == nil:
		return nil
	case errors.Is(runErr, evolve.ErrBudget):
		return &exitError{code: ExitBudget, err: runErr, hint: "raise budget.max_usd / budget.max_tokens in config.yaml to go on"}
	case errors.Is(runErr, evolve.ErrInterrupted) || ctx.Err() != nil:
		return &exitError{code: ExitInterrupted, err: errors.New("interrupted: candidates left pending are evaluated first by the next step (or git evolve eval --pending)")}
	}
	var auth *agents.AuthError
	if errors.As(runErr, &auth) {
		return withHint(runErr, "check the key in $"+e.Config.API.KeyEnv+" and api.base_url, or run with --offline")
	}
	return runErr
}

// buildAgents picks the LLM agents when an endpoint is configured, else the
// offline ones, and says which on one line.
func buildAgents(sio *IO, e *experiment, offline bool) (evolve.Researcher, evolve.Analyzer, *agents.LLM, string, error) {
	why := ""
	switch {
	case offline:
		why = "--offline given"
	case e.Config.API.BaseURL == "" && sio.Getenv("OPENAI_BASE_URL") == "" && sio.Getenv(e.Config.API.KeyEnv) == "":
		why = fmt.Sprintf("no LLM endpoint configured ($%s is not set and api.base_url is empty)", e.Config.API.KeyEnv)
	}
	if why != "" {
		return &agents.OfflineResearcher{}, &agents.RuleAnalyzer{}, nil,
			"offline mode: " + why + "; the Researcher mutates numeric literals and the Analyzer is rule-based", nil
	}
	llm, err := agents.NewLLM(e.Config.API, sio.Getenv)
	if err != nil {
		return nil, nil, nil, "", withHint(err, "set "+e.Config.API.KeyEnv+" or api.base_url, or run with --offline")
	}
	promptDir := filepath.Join(e.Dir, "prompts")
	r, err := agents.NewLLMResearcher(llm, e.Config, promptDir)
	if err != nil {
		return nil, nil, nil, "", err
	}
	a, err := agents.NewLLMAnalyzer(llm, promptDir)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return r, a, llm, fmt.Sprintf("researcher: model %s at %s", e.Config.API.Model, llm.BaseURL()), nil
}

// newLoop wires the store, sampler, engineer and cognition into an evolve.Loop.
func newLoop(ctx context.Context, sio *IO, e *experiment, r evolve.Researcher, a evolve.Analyzer, seed uint64) (*evolve.Loop, func(), error) {
	sampler, err := sampling.New(e.Config.Database.Sampling, e.Config.Eval.Direction)
	if err != nil {
		return nil, nil, usageErr("database.sampling.algorithm: %v", err)
	}
	ws := newWorkspaces(e.Store.GitDir(), e.Name)
	host, _ := os.Hostname()
	if host == "" {
		host = "host"
	}
	l := &evolve.Loop{
		Exp: e.Name, Problem: e.Problem, Editable: e.Editable, RepoRoot: e.Root, Config: e.Config,
		Store: e.Store, Sampler: sampler, Researcher: r, Engineer: &agents.Engineer{}, Analyzer: a,
		Workspace: ws.dir,
		Features: func(files map[string][]byte) (int64, string) {
			return sampling.CodeSize(files), sampling.Sketch(files)
		},
		Now: sio.Now, Host: host, Seed: seed, Grace: 10 * time.Second, Nonce: nonce,
		Log: func(format string, args ...any) { fmt.Fprintf(sio.Err, "warning: "+format+"\n", args...) },
	}
	if ret, err := newRetriever(ctx, sio, e); err != nil {
		fmt.Fprintf(sio.Err, "warning: cognition store unavailable, going on without it: %v\n", err)
	} else {
		l.Retriever = ret
	}
	return l, ws.close, nil
}

// nonce is 8 random hex digits from the operating system's generator.
func nonce() string {
	var b [4]byte
	if _, err := crand.Read(b[:]); err != nil {
		return ""
	}
	return hex.EncodeToString(b[:])
}

func progressLine(r evolve.StepResult, total int) string {
	s := fmt.Sprintf("step %d/%d  %s  %-7s", r.Step, total, r.Candidate.Short(), r.Status)
	if r.Score != nil {
		s += "  score " + fmtScore(r.Score)
	}
	if r.Best != nil {
		s += fmt.Sprintf("  best %s (%s)", fmtScore(r.Best), r.BestID[:min(8, len(r.BestID))])
	}
	if r.Tokens.Total() > 0 {
		s += fmt.Sprintf("  %d tok $%.4f", r.Tokens.Total(), r.CostUSD)
	}
	if t := r.Candidate.DisplayTitle(); t != "" {
		s += "  " + oneLine(t, 50)
	}
	return s
}

type stepSummary struct {
	Steps     int      `json:"steps"`
	Created   []string `json:"created"`
	Evaluated int      `json:"evaluated"`
	Failed    int      `json:"failed"`
	Tokens    int64    `json:"tokens"`
	CostUSD   float64  `json:"cost_usd"`
	Best      string   `json:"best,omitempty"`
	BestScore *float64 `json:"best_score,omitempty"`
	Baseline  *float64 `json:"baseline_score,omitempty"`
	Seconds   float64  `json:"seconds"`
}

func summaryJSON(sum evolve.Summary, d time.Duration) stepSummary {
	j := stepSummary{Steps: sum.Steps, Created: sum.Created, Evaluated: sum.Evaluated, Failed: sum.Failed,
		Tokens: sum.Tokens.Total(), CostUSD: sum.CostUSD, Seconds: d.Seconds()}
	if j.Created == nil {
		j.Created = []string{}
	}
	if sum.Best != nil {
		j.Best = sum.Best.ID
		if s, ok := sum.Best.Score(); ok {
			j.BestScore = &s
		}
	}
	if sum.Baseline != nil {
		if s, ok := sum.Baseline.Score(); ok {
			j.Baseline = &s
		}
	}
	return j
}

func printSummary(sio *IO, e *experiment, sum evolve.Summary, d time.Duration) {
	fmt.Fprintf(sio.Out, "\n%d steps in %s: %d evaluated, %d failed", sum.Steps, d.Round(time.Millisecond), sum.Evaluated, sum.Failed)
	if sum.Tokens.Total() > 0 {
		fmt.Fprintf(sio.Out, ", %d tokens, $%.4f", sum.Tokens.Total(), sum.CostUSD)
	}
	fmt.Fprintln(sio.Out)
	if sum.Best != nil {
		bs, _ := sum.Best.Score()
		line := fmt.Sprintf("best: %s score %s", sum.Best.Short(), fmtScore(&bs))
		if sum.Baseline != nil {
			if b, ok := sum.Baseline.Score(); ok {
				line += fmt.Sprintf(" (baseline %s, %s)", fmtScore(&b), fmtDelta(bs-b))
			}
		}
		fmt.Fprintln(sio.Out, line+"  "+oneLine(sum.Best.DisplayTitle(), 60))
	}
	cands, err := e.Store.Candidates(context.Background(), e.Name)
	if err == nil && len(cands) > 0 {
		rows := leaderboard(cands, e.Config.Eval.Direction)
		if len(rows) > 5 {
			rows = rows[:5]
		}
		var out [][]string
		for _, r := range rows {
			delta := "-"
			if r.Delta != nil {
				delta = fmtDelta(*r.Delta)
			}
			out = append(out, []string{fmt.Sprint(r.Rank), r.Short, fmtScore(r.Score), delta, string(r.Status), oneLine(r.Title, 50)})
		}
		fmt.Fprintln(sio.Out)
		_ = table(sio.Out, sio.Terminal, []string{"rank", "id", "score", "Δ base", "status", "title"}, out)
	}
}
