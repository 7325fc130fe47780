package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/git-evolve/git-evolve/action"
	"github.com/git-evolve/git-evolve/agents"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
	"github.com/urfave/cli/v2"
)

func actionCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "action",
		Usage: "run one mode of the GitHub Action (what action.yml calls)",
		Description: `Runs inside a GitHub Actions job, reading GITHUB_EVENT_NAME, GITHUB_EVENT_PATH,
GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_SERVER_URL and RUNNER_ENVIRONMENT.

Modes:
   step      sync with the remote, run --steps steps (syncing after every
             candidate), sync back
   evaluate  on a pull_request event: make the pull request's head a candidate
             (its editable files on top of the best candidate its merge base
             contains, else the baseline) and evaluate it with the evaluation
             script and configuration of the base commit, never the head's;
             on other events: evaluate the pending candidates
   report    the leaderboard only

Every mode then writes the leaderboard to $GITHUB_STEP_SUMMARY, the outputs
best-score, best-candidate and evaluated to $GITHUB_OUTPUT, and, on a pull
request with --comment, keeps the sticky leaderboard comment. The results are
pushed to the remote before any GitHub call, so a failed comment loses nothing.

A pull request from a fork is refused on a self-hosted runner (untrusted code
on a machine with secrets) unless --allow-forks.

Example (what action.yml runs):
   git evolve action --mode step -e circle_packing_demo --steps 5`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "step", Usage: "`MODE`: step, evaluate or report"},
			expFlag(),
			&cli.IntFlag{Name: "steps", Value: 1, Usage: "`N` steps in step mode"},
			&cli.IntFlag{Name: "sample-n", Usage: "`K` nodes shown to the Researcher (default pipeline.sample_n)"},
			&cli.IntFlag{Name: "workers", Aliases: []string{"j"}, Usage: "`W` concurrent workers (default pipeline.parallel.num_workers)"},
			&cli.StringFlag{Name: "timeout", Usage: "evaluation timeout, e.g. 90s (default eval.timeout)"},
			&cli.StringFlag{Name: "model", Usage: "chat `MODEL` (default api.model)"},
			&cli.StringFlag{Name: "base-url", Usage: "OpenAI-compatible endpoint `URL` (default api.base_url)"},
			&cli.BoolFlag{Name: "offline", Usage: "use the offline researcher and analyzer"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed (default: from the clock)"},
			remoteFlag("`REMOTE` shared by every runner"),
			&cli.BoolFlag{Name: "allow-forks", Usage: "evaluate pull requests from forks on a self-hosted runner"},
			&cli.BoolFlag{Name: "comment", Value: true, Usage: "keep the leaderboard comment on the pull request"},
			topFlag(),
			tokenEnvFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("action takes no arguments (got %q)", c.Args().First())
			}
			return runAction(c, sio)
		},
	}
}

// applyActionFlags turns the action's flags into config overrides.
func applyActionFlags(c *cli.Context) func(*evolve.Config) error {
	loop := applyLoopFlags(c)
	return func(cfg *evolve.Config) error {
		if err := loop(cfg); err != nil {
			return err
		}
		if v := c.String("model"); v != "" {
			cfg.API.Model = v
		}
		if v := c.String("base-url"); v != "" {
			cfg.API.BaseURL = v
		}
		return nil
	}
}

func runAction(c *cli.Context, sio *IO) error {
	ctx := c.Context
	mode := c.String("mode")
	switch mode {
	case "step", "evaluate", "report":
	default:
		return usageErr("--mode %q: use step, evaluate or report", mode)
	}
	if c.Int("steps") < 0 {
		return usageErr("--steps must be 0 or more")
	}
	if top := c.Int("top"); top < 1 || top > action.MaxTop {
		return usageErr("--top must be between 1 and %d", action.MaxTop)
	}
	ev, err := action.ReadEvent(sio.Getenv("GITHUB_EVENT_NAME"), sio.Getenv("GITHUB_EVENT_PATH"))
	if err != nil {
		return err
	}
	pr := ev.PullRequest
	if pr != nil && mode != "report" {
		if err := action.CheckFork(*pr, action.SelfHosted(sio.Getenv("RUNNER_ENVIRONMENT")), c.Bool("allow-forks")); err != nil {
			return err
		}
	}
	e, err := loadExperiment(ctx, c, sio, c.String("experiment"), expOptions{needFolder: mode != "report", apply: applyActionFlags(c)})
	if err != nil {
		return err
	}
	remote := c.String("remote")
	token := sio.Getenv(c.String("token-env"))

	// What the other runners did comes first.
	res, err := syncWithRemote(ctx, e, remote, token)
	if err != nil {
		return withHint(fmt.Errorf("sync with %s before the run: %w", remote, err),
			"check that the remote exists and that the job may push (permissions: contents: write)")
	}
	fmt.Fprintf(sio.Out, "synced with %s: %d candidates fetched\n", remote, len(res.Fetched))

	var (
		evaluated int
		notes     []string
		modeErr   error
	)
	switch mode {
	case "step":
		evaluated, modeErr = actionStep(c, sio, e, remote, token)
	case "evaluate":
		if pr != nil {
			evaluated, notes, modeErr = actionEvaluatePR(c, sio, e, *pr)
		} else {
			evaluated, modeErr = actionEvaluatePending(c, sio, e)
		}
	}

	// Share the results before any GitHub call: a failed comment loses nothing.
	if mode != "report" {
		if res, err := syncWithRemote(context.WithoutCancel(ctx), e, remote, token); err != nil {
			modeErr = errors.Join(modeErr, fmt.Errorf("push the results to %s: %w (they are safe in this repository: run git evolve sync %s)", remote, err, remote))
		} else {
			fmt.Fprintf(sio.Out, "pushed %d candidates and the notes to %s\n", len(res.Pushed), remote)
		}
	}

	links := action.Links{}
	repo, repoErr := resolveRepo(sio, e, "", remote)
	if repoErr == nil {
		links = action.Links{ServerURL: serverURL(sio), Repository: repo.String()}
	}
	r, err := experimentReport(context.WithoutCancel(ctx), e, action.ReportOptions{Top: c.Int("top"), Links: links, Notes: notes})
	if err != nil {
		return errors.Join(modeErr, err)
	}
	md := r.Markdown()
	if p := sio.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		if err := action.AppendSummary(p, md); err != nil {
			modeErr = errors.Join(modeErr, err)
		}
	}
	if p := sio.Getenv("GITHUB_OUTPUT"); p != "" {
		outs := []action.Output{{Name: "best-score"}, {Name: "best-candidate"}, {Name: "evaluated", Value: strconv.Itoa(evaluated)}}
		if r.Best != nil && r.Best.Score != nil {
			score := *r.Best.Score
			if score == 0 {
				score = 0 // "0", not "-0"
			}
			outs[0].Value = strconv.FormatFloat(score, 'g', -1, 64)
			outs[1].Value = r.Best.ID
		}
		if err := action.WriteOutputs(p, outs); err != nil {
			modeErr = errors.Join(modeErr, err)
		}
	}
	if r.Best != nil {
		fmt.Fprintf(sio.Out, "best: %s score %s (%d evaluated by this run)\n", r.Best.Short, fmtScore(r.Best.Score), evaluated)
	}

	if !c.Bool("comment") {
		return modeErr
	}
	if pr == nil {
		fmt.Fprintf(sio.Out, "no pull request in the %s event: the leaderboard is in the job summary only\n", ev.Name)
		return modeErr
	}
	if repoErr != nil {
		return errors.Join(modeErr, fmt.Errorf("comment on pull request #%d: %w", pr.Number, repoErr))
	}
	gh, _, err := newGitHub(sio, c.String("token-env"))
	if err == nil {
		var cr action.CommentResult
		cr, err = gh.UpsertComment(ctx, repo, pr.Number, action.Marker(e.Name), md)
		if err == nil {
			verb := "updated"
			if cr.Created {
				verb = "created"
			}
			fmt.Fprintf(sio.Out, "%s the leaderboard comment on %s#%d %s\n", verb, repo, pr.Number, cr.URL)
		}
	}
	if err != nil {
		err = withHint(err, "the results are already pushed; only the comment failed")
	}
	return errors.Join(modeErr, err)
}

// syncWithRemote shares e's candidates and notes with remote (fetch, merge
// the notes, push) like git evolve sync, authenticated with token for HTTPS
// remotes (without a token, git's credential helper is asked).
func syncWithRemote(ctx context.Context, e *experiment, remote, token string) (gitstore.SyncResult, error) {
	r, err := resolveRemote(e.Store, e.Root, remote)
	if err != nil {
		return gitstore.SyncResult{}, err
	}
	return syncWithCredentials(ctx, e.Store, gitstore.SyncOptions{Remote: r, Exp: e.Name, Auth: action.TokenAuth(r.URL, token)})
}

func hostName() string {
	if h, _ := os.Hostname(); h != "" {
		return h
	}
	return "host"
}

// actionStep runs the loop, syncing after every candidate.
func actionStep(c *cli.Context, sio *IO, e *experiment, remote, token string) (int, error) {
	ctx := c.Context
	seed := c.Uint64("seed")
	if !c.IsSet("seed") {
		seed = uint64(sio.Now().UnixNano())
	}
	researcher, analyzer, llm, notice, err := buildAgents(sio, e, c.Bool("offline"))
	if err != nil {
		return 0, err
	}
	fmt.Fprintln(sio.Out, notice)
	l, closeLoop, err := newLoop(ctx, sio, e, researcher, analyzer, seed)
	if err != nil {
		return 0, err
	}
	defer closeLoop()
	if llm != nil {
		llm.Budget = agents.BudgetFunc(l.CheckBudget)
	}
	l.Sync = func(ctx context.Context) error {
		_, err := syncWithRemote(ctx, e, remote, token)
		return err
	}
	steps := c.Int("steps")
	l.Progress = func(r evolve.StepResult) { fmt.Fprintln(sio.Out, progressLine(r, steps)) }
	start := time.Now()
	sum, runErr := l.Run(ctx, steps)
	printSummary(sio, e, sum, time.Since(start))
	switch {
	case runErr == nil:
	case errors.Is(runErr, evolve.ErrBudget):
		runErr = &exitError{code: ExitBudget, err: runErr, hint: "raise budget.max_usd / budget.max_tokens in config.yaml to go on"}
	case errors.Is(runErr, evolve.ErrInterrupted) || ctx.Err() != nil:
		runErr = &exitError{code: ExitInterrupted, err: errors.New("interrupted: candidates left pending are evaluated by the next run")}
	}
	return sum.Evaluated, runErr
}

// actionEvaluatePending evaluates the candidates that were proposed but
// never evaluated (a trusted event: the checkout is the repository's own).
func actionEvaluatePending(c *cli.Context, sio *IO, e *experiment) (int, error) {
	l, closeLoop, err := newLoop(c.Context, sio, e, nil, nil, 0)
	if err != nil {
		return 0, err
	}
	defer closeLoop()
	l.Retriever = nil
	done, err := l.Prepare(c.Context)
	for _, id := range done {
		fmt.Fprintf(sio.Out, "evaluated %s\n", id[:8])
	}
	if len(done) == 0 && err == nil {
		fmt.Fprintf(sio.Out, "nothing to evaluate: experiment %s has no pending candidate\n", e.Name)
	}
	return len(done), err
}

// baseConfig loads the experiment's configuration from commit sha (the
// pull request's base) rather than from the checked-out pull request.
func baseConfig(c *cli.Context, sio *IO, e *experiment, sha string) (evolve.Config, error) {
	paths := []string{"evolve.yaml", "experiments/" + e.Name + "/config.yaml"}
	files, err := e.Store.Files(c.Context, sha, paths)
	if err != nil {
		return evolve.Config{}, err
	}
	var sources []evolve.ConfigSource
	for _, p := range paths {
		if b, ok := files[p]; ok {
			sources = append(sources, evolve.ConfigSource{Name: p + " (base " + sha[:min(8, len(sha))] + ")", Data: b})
		}
	}
	cfg, err := evolve.LoadConfig(e.Name, sources, func(k string) (string, bool) {
		v := sio.Getenv(k)
		return v, v != ""
	})
	if err != nil {
		return evolve.Config{}, err
	}
	if err := applyActionFlags(c)(&cfg); err != nil {
		return evolve.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return evolve.Config{}, usageErr("%v", err)
	}
	return cfg, nil
}

// actionEvaluatePR makes the pull request's head a candidate and evaluates
// it with the base commit's evaluation script and configuration. It returns
// the Markdown notes that head the leaderboard comment.
func actionEvaluatePR(c *cli.Context, sio *IO, e *experiment, pr action.PullRequest) (int, []string, error) {
	ctx := c.Context
	cfg, err := baseConfig(c, sio, e, pr.BaseSHA)
	if err != nil {
		return 0, nil, fmt.Errorf("configuration of the base commit %s: %w", pr.BaseSHA[:min(8, len(pr.BaseSHA))], err)
	}
	imp, err := action.ImportPullRequest(ctx, e.Store, action.ImportRequest{Exp: e.Name, PR: pr, Allowed: cfg.Evolve.Files,
		Direction: cfg.Eval.Direction, When: sio.Now(), By: fmt.Sprintf("%s/pr-%d", hostName(), pr.Number)})
	if err != nil {
		return 0, nil, err
	}
	if imp.Unchanged {
		note := fmt.Sprintf("**Pull request #%d** changes none of the editable files of `%s` (evolve.files: %s): nothing to evaluate.",
			pr.Number, e.Name, strings.Join(cfg.Evolve.Files, ", "))
		fmt.Fprintf(sio.Out, "pull request #%d changes none of the editable files: nothing to evaluate\n", pr.Number)
		return 0, []string{note}, nil
	}
	cand, err := candidateByID(ctx, e, imp.ID)
	if err != nil {
		return 0, nil, err
	}
	evaluated := 0
	if cand.Status() == evolve.StatusPending {
		fmt.Fprintf(sio.Out, "pull request #%d is candidate %s (parent %s); evaluating it with the evaluation script of the base commit %s\n",
			pr.Number, imp.ID[:8], imp.Parent[:8], pr.BaseSHA[:min(8, len(pr.BaseSHA))])
		trusted, err := os.MkdirTemp("", "git-evolve-base-")
		if err != nil {
			return 0, nil, err
		}
		defer os.RemoveAll(trusted)
		if !filepath.IsAbs(cfg.Eval.Script) {
			script := path.Clean(filepath.ToSlash(cfg.Eval.Script))
			if strings.HasPrefix(script, "../") {
				return 0, nil, fmt.Errorf("eval.script %s leaves the repository", cfg.Eval.Script)
			}
			dir := path.Dir(script)
			if err := action.ExtractDir(e.Store.Repository(), pr.BaseSHA, dir, filepath.Join(trusted, filepath.FromSlash(dir))); err != nil {
				return 0, nil, fmt.Errorf("take the evaluation files from the base commit: %w", err)
			}
			cfg.Eval.Script = filepath.Join(trusted, filepath.FromSlash(script))
			if _, err := os.Stat(cfg.Eval.Script); err != nil {
				return 0, nil, fmt.Errorf("the base commit %s has no evaluation script %s", pr.BaseSHA[:min(8, len(pr.BaseSHA))], script)
			}
		}
		pe := *e
		pe.Config = cfg
		pe.Editable = imp.Files
		l, closeLoop, err := newLoop(ctx, sio, &pe, nil, nil, 0)
		if err != nil {
			return 0, nil, err
		}
		defer closeLoop()
		l.Retriever = nil
		res, err := l.Evaluate(ctx, 0, imp.ID)
		if err != nil {
			return 0, nil, err
		}
		evaluated = 1
		line := fmt.Sprintf("%s  %-7s", imp.ID[:8], res.Status)
		if res.Score != nil {
			line += "  score " + fmtScore(res.Score)
		}
		if res.Reason != "" {
			line += "  " + oneLine(res.Reason, 100)
		}
		fmt.Fprintln(sio.Out, line)
	} else {
		fmt.Fprintf(sio.Out, "pull request #%d is candidate %s, already evaluated (%s)\n", pr.Number, imp.ID[:8], cand.Status())
	}
	cands, err := e.Store.Candidates(ctx, e.Name)
	if err != nil {
		return evaluated, nil, err
	}
	return evaluated, []string{prNote(sio, e, cands, imp, pr, cfg.Eval.Direction)}, nil
}

func candidateByID(ctx context.Context, e *experiment, id string) (evolve.Candidate, error) {
	cands, err := e.Store.Candidates(ctx, e.Name)
	if err != nil {
		return evolve.Candidate{}, err
	}
	for _, c := range cands {
		if c.ID == id {
			return c, nil
		}
	}
	return evolve.Candidate{}, fmt.Errorf("candidate %s is not in experiment %s", id[:min(8, len(id))], e.Name)
}

// prNote tells how the pull request's candidate did, for the top of the
// leaderboard comment.
func prNote(sio *IO, e *experiment, cands []evolve.Candidate, imp action.Imported, pr action.PullRequest, dir evolve.Direction) string {
	ranked := append([]evolve.Candidate(nil), cands...)
	evolve.Rank(ranked, dir)
	var cand, parent, base *evolve.Candidate
	rank := 0
	for i := range ranked {
		switch {
		case ranked[i].ID == imp.ID:
			cand, rank = &ranked[i], i+1
		case ranked[i].ID == imp.Parent:
			parent = &ranked[i]
		}
		if ranked[i].Baseline && (base == nil || ranked[i].Time.Before(base.Time)) {
			base = &ranked[i]
		}
	}
	if cand == nil {
		return fmt.Sprintf("**Pull request #%d** was not made a candidate.", pr.Number)
	}
	links := action.Links{ServerURL: serverURL(sio), Repository: sio.Getenv("GITHUB_REPOSITORY")}
	id := "`" + cand.Short() + "`"
	if u := links.Commit(cand.ID); u != "" {
		id = "[" + id + "](" + u + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Pull request #%d** is candidate %s", pr.Number, id)
	if parent != nil {
		fmt.Fprintf(&b, " (its editable files on top of `%s`)", parent.Short())
	}
	fmt.Fprintf(&b, ", evaluated with the evaluation script of the base commit `%s`: ", pr.BaseSHA[:min(8, len(pr.BaseSHA))])
	s, ok := cand.Score()
	if !ok {
		fmt.Fprintf(&b, "**%s**", cand.Status())
		if cand.Evaluated != nil && cand.Evaluated.Reason != "" {
			fmt.Fprintf(&b, " (%s)", strings.ReplaceAll(oneLine(cand.Evaluated.Reason, 200), "`", "'"))
		}
		b.WriteString(".")
	} else {
		fmt.Fprintf(&b, "score **%s**", fmtScore(&s))
		var deltas []string
		if parent != nil {
			if ps, ok := parent.Score(); ok {
				deltas = append(deltas, fmtDelta(s-ps)+" vs parent")
			}
		}
		if base != nil && base != cand {
			if bs, ok := base.Score(); ok {
				deltas = append(deltas, fmtDelta(s-bs)+" vs baseline")
			}
		}
		if len(deltas) > 0 {
			b.WriteString(" (" + strings.Join(deltas, ", ") + ")")
		}
		fmt.Fprintf(&b, ", rank %d of %d.", rank, len(ranked))
	}
	if n := len(imp.Outside); n > 0 {
		shown := append([]string(nil), imp.Outside...)
		sort.Strings(shown)
		more := ""
		if len(shown) > 5 {
			more = fmt.Sprintf(" and %d more", len(shown)-5)
			shown = shown[:5]
		}
		for i := range shown {
			shown[i] = "`" + strings.ReplaceAll(shown[i], "`", "'") + "`"
		}
		fmt.Fprintf(&b, " Changes outside evolve.files are not part of the candidate: %s%s.", strings.Join(shown, ", "), more)
	}
	return b.String()
}
