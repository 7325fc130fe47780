package evolve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrBudget is returned (wrapped) when a budget stopped the run.
var ErrBudget = errors.New("budget reached")

// ErrInterrupted is returned when the run was cancelled before all steps ran.
var ErrInterrupted = errors.New("interrupted")

// Loop runs the research loop of DESIGN.md section 4 on one experiment.
// Every field except Retriever, Progress, Sync and Features must be set.
type Loop struct {
	Exp        string
	Problem    string   // input.md
	Editable   []string // repo-relative editable files; the first is the evaluation's $1
	RepoRoot   string   // where eval.script is resolved when relative
	Config     Config
	Store      Store
	Sampler    Sampler
	Researcher Researcher
	Engineer   Engineer
	Analyzer   Analyzer
	Retriever  Retriever // optional

	// Workspace returns the directory worker w evaluates in (reused between steps).
	Workspace func(worker int) (string, error)
	// Features returns the code size and sketch recorded in the proposed event.
	Features func(files map[string][]byte) (int64, string)
	// Now returns the current time (injected so tests control it).
	Now func() time.Time
	// Host names this machine in the "by" field of events.
	Host string
	// Seed makes sampling and the offline researcher reproducible.
	Seed uint64
	// Grace is how long in-flight evaluations may go on after cancellation
	// before they are killed (and left pending).
	Grace time.Duration
	// Progress is called after every finished step (from worker goroutines,
	// serialised by the loop).
	Progress func(StepResult)
	// Sync is called after every Config.Sync.Every candidates and at the end.
	Sync func(ctx context.Context) error
	// Nonce returns a random string recorded in each candidate's commit, so
	// that identical proposals of two workers stay two candidates; optional.
	Nonce func() string
	// Log receives warnings and notices (e.g. sync failures); optional.
	Log func(format string, args ...any)

	mu       sync.Mutex
	tokens   Tokens
	usd      float64
	lastCall float64 // cost of the most expensive call so far, to stop before passing max_usd
	lastTok  int64
	done     int
}

// StepResult describes one finished step.
type StepResult struct {
	Step      int // 1-based within this run
	Worker    int
	Candidate Candidate
	Status    Status
	Score     *float64
	Best      *float64
	BestID    string
	Tokens    Tokens  // of this step
	CostUSD   float64 // of this step
	Err       error   // a step-level problem that did not stop the run
}

// Summary is the outcome of Run.
type Summary struct {
	Steps     int
	Created   []string // ids of the candidates created by this run
	Evaluated int
	Failed    int
	Tokens    Tokens
	CostUSD   float64
	Best      *Candidate
	Baseline  *Candidate
}

func (l *Loop) logf(format string, args ...any) {
	if l.Log != nil {
		l.Log(format, args...)
	}
}

func (l *Loop) nonce() string {
	if l.Nonce == nil {
		return ""
	}
	return l.Nonce()
}

func (l *Loop) by(worker int) string {
	return fmt.Sprintf("%s/w%d", l.Host, worker)
}

// Prepare makes sure the baseline exists and that every pending candidate is
// evaluated (recovery after a crash). It returns the ids it evaluated.
func (l *Loop) Prepare(ctx context.Context) ([]string, error) {
	if _, _, err := l.Store.EnsureBaseline(ctx, BaselineRequest{Exp: l.Exp, When: l.Now(), By: l.by(0)}); err != nil {
		return nil, err
	}
	cands, err := l.Store.Candidates(ctx, l.Exp)
	if err != nil {
		return nil, err
	}
	var pending []Candidate
	for _, c := range cands {
		if c.Status() == StatusPending {
			pending = append(pending, c)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].Time.Before(pending[j].Time) })
	var done []string
	for _, c := range pending {
		if ctx.Err() != nil {
			return done, ErrInterrupted
		}
		if _, err := l.evaluate(ctx, 0, c.ID); err != nil {
			return done, err
		}
		done = append(done, c.ID)
	}
	return done, nil
}

// Evaluate runs the Engineer on candidate id in worker's workspace and records
// the evaluated event. A cancelled evaluation records nothing (the candidate
// stays pending).
func (l *Loop) Evaluate(ctx context.Context, worker int, id string) (EvalResult, error) {
	return l.evaluate(ctx, worker, id)
}

func (l *Loop) evaluate(ctx context.Context, worker int, id string) (EvalResult, error) {
	dir, err := l.Workspace(worker)
	if err != nil {
		return EvalResult{}, err
	}
	if err := l.Store.Checkout(ctx, id, dir); err != nil {
		return EvalResult{}, fmt.Errorf("prepare workspace for %s: %w", short(id), err)
	}
	if len(l.Editable) == 0 {
		return EvalResult{}, fmt.Errorf("experiment %s has no editable file (evolve.files)", l.Exp)
	}
	script := l.Config.Eval.Script
	if !filepath.IsAbs(script) {
		script = filepath.Join(l.RepoRoot, filepath.FromSlash(script))
	}
	req := EvalRequest{
		Exp:       l.Exp,
		Candidate: id,
		Workspace: dir,
		Script:    script,
		Program:   filepath.Join(dir, filepath.FromSlash(l.Editable[0])),
		WorkDir:   filepath.Join(dir, "experiments", l.Exp),
		Timeout:   l.Config.Eval.Timeout.D(),
		Config:    l.Config.Eval,
		KeyEnv:    []string{l.Config.API.KeyEnv},
	}
	res := l.Engineer.Evaluate(ctx, req)
	if ctx.Err() != nil {
		return res, ErrInterrupted
	}
	ev := EvaluatedEvent(l.Exp, l.Now(), l.by(worker), res)
	if err := l.Store.Append(context.WithoutCancel(ctx), id, ev); err != nil {
		return res, fmt.Errorf("record evaluation of %s: %w", short(id), err)
	}
	return res, nil
}

// Run executes steps more steps with Config.Pipeline.Parallel.NumWorkers
// workers. It stops early, cleanly, on a budget (ErrBudget), on cancellation of
// ctx (ErrInterrupted; in-flight evaluations get Grace to finish, then are
// killed and left pending), or on an error of the Researcher.
func (l *Loop) Run(ctx context.Context, steps int) (Summary, error) {
	var sum Summary
	if _, err := l.Prepare(ctx); err != nil {
		return sum, err
	}
	cands, err := l.Store.Candidates(ctx, l.Exp)
	if err != nil {
		return sum, err
	}
	for _, c := range cands {
		t, usd := c.Tokens()
		l.tokens = l.tokens.Add(t)
		l.usd += usd
	}
	startIndex := len(cands)

	workers := l.Config.Pipeline.Parallel.NumWorkers
	if workers < 1 {
		workers = 1
	}
	if workers > steps && steps > 0 {
		workers = steps
	}
	// Evaluations run under their own context: cancelling ctx stops new steps
	// at once and kills in-flight evaluations only after the grace period.
	evalCtx, cancelEval := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelEval()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(l.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelEval()
		case <-evalCtx.Done():
		}
	})
	defer stopGrace()

	var (
		next      int
		firstErr  error
		resMu     sync.Mutex
		wg        sync.WaitGroup
		sinceSync int
	)
	take := func() (int, bool) {
		resMu.Lock()
		defer resMu.Unlock()
		if firstErr != nil || ctx.Err() != nil || next >= steps {
			return 0, false
		}
		if err := l.budgetErr(); err != nil {
			firstErr = err
			return 0, false
		}
		next++
		return next, true
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for {
				step, ok := take()
				if !ok {
					return
				}
				res, err := l.step(ctx, evalCtx, worker, step, startIndex+step)
				resMu.Lock()
				if err != nil && firstErr == nil && !errors.Is(err, ErrInterrupted) {
					firstErr = err
				}
				if res.Candidate.ID != "" {
					sum.Created = append(sum.Created, res.Candidate.ID)
					sum.Steps++
					switch res.Status {
					case StatusOK:
						sum.Evaluated++
					case StatusPending:
					default:
						sum.Evaluated++
						sum.Failed++
					}
					sum.Tokens = sum.Tokens.Add(res.Tokens)
					sum.CostUSD += res.CostUSD
					if l.Progress != nil {
						l.Progress(res)
					}
					sinceSync++
					every := l.Config.Sync.Every
					if every < 1 {
						every = 1
					}
					if l.Sync != nil && sinceSync >= every {
						sinceSync = 0
						if err := l.Sync(context.WithoutCancel(ctx)); err != nil {
							l.logf("sync failed (will retry at the next sync point): %v", err)
						}
					}
				}
				resMu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if l.Sync != nil && sinceSync > 0 {
		if err := l.Sync(context.WithoutCancel(ctx)); err != nil {
			l.logf("final sync failed: %v", err)
			if firstErr == nil {
				firstErr = fmt.Errorf("final sync: %w", err)
			}
		}
	}
	if final, err := l.Store.Candidates(context.WithoutCancel(ctx), l.Exp); err == nil {
		if b, ok := Best(final, l.Config.Eval.Direction); ok {
			sum.Best = &b
		}
		for i := range final {
			if final[i].Baseline {
				c := final[i]
				sum.Baseline = &c
			}
		}
	}
	if firstErr != nil {
		return sum, firstErr
	}
	if ctx.Err() != nil && sum.Steps < steps {
		return sum, ErrInterrupted
	}
	return sum, nil
}

// CheckBudget returns a wrapped ErrBudget when the next LLM call could pass
// budget.max_tokens or budget.max_usd. Agents call it before every request.
func (l *Loop) CheckBudget() error { return l.budgetErr() }

func (l *Loop) budgetErr() error {
	b := l.Config.Budget
	l.mu.Lock()
	defer l.mu.Unlock()
	if b.MaxTokens > 0 && l.tokens.Total()+l.lastTok > b.MaxTokens {
		return fmt.Errorf("%w: %d tokens used, budget.max_tokens is %d", ErrBudget, l.tokens.Total(), b.MaxTokens)
	}
	if b.MaxUSD > 0 && l.usd+l.lastCall > b.MaxUSD {
		return fmt.Errorf("%w: $%.4f spent, budget.max_usd is $%.4f", ErrBudget, l.usd, b.MaxUSD)
	}
	return nil
}

// step runs one sample → research → commit → evaluate → analyze cycle.
func (l *Loop) step(ctx, evalCtx context.Context, worker, step, index int) (StepResult, error) {
	res := StepResult{Step: step, Worker: worker, Status: StatusPending}
	rng := rand.New(rand.NewPCG(l.Seed, uint64(index)))

	l.mu.Lock()
	pop, err := l.Store.Candidates(ctx, l.Exp)
	if err != nil {
		l.mu.Unlock()
		return res, err
	}
	sel, err := l.Sampler.Sample(pop, max(1, l.Config.Pipeline.SampleN), rng)
	l.mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("sample a parent: %w", err)
	}
	defer l.Sampler.Release(sel.Parent)

	byID := make(map[string]Candidate, len(pop))
	for _, c := range pop {
		byID[c.ID] = c
	}
	parent, err := l.node(ctx, byID[sel.Parent])
	if err != nil {
		return res, err
	}
	in := ResearchInput{Exp: l.Exp, Problem: l.Problem, Parent: parent, Editable: l.Editable, Step: index}
	for _, id := range sel.Inspirations {
		n, err := l.node(ctx, byID[id])
		if err != nil {
			return res, err
		}
		in.Inspirations = append(in.Inspirations, n)
	}
	in.Failures = recentFailures(pop, 3)
	if l.Retriever != nil && l.Config.Cognition.Retrieval.TopK > 0 {
		k, err := l.Retriever.Retrieve(ctx, l.Exp, retrievalQuery(l.Problem, parent), l.Config.Cognition.Retrieval.TopK, l.Config.Cognition.Retrieval.ScoreThreshold)
		if err != nil {
			l.logf("cognition retrieval failed, going on without: %v", err)
		}
		in.Knowledge = k
	}

	prop, err := l.Researcher.Propose(ctx, in, rng)
	if err != nil {
		l.account(prop.Tokens, prop.CostUSD) // tokens spent before the failure still count
		if ctx.Err() != nil {
			return res, ErrInterrupted
		}
		return res, fmt.Errorf("researcher: %w", err)
	}
	l.account(prop.Tokens, prop.CostUSD)
	res.Tokens, res.CostUSD = prop.Tokens, prop.CostUSD

	files := prop.Files
	if prop.Invalid != "" || len(files) == 0 {
		files = map[string][]byte{}
	}
	proposed := Event{V: FormatVersion, Exp: l.Exp, Event: EventProposed, At: l.Now(), By: l.by(worker),
		Parent: sel.Parent, Inspirations: sel.Inspirations, Sampler: sel.Sampler, Island: sel.Island,
		Title: prop.Title, Motivation: prop.Motivation, Model: prop.Model, CostUSD: prop.CostUSD}
	if prop.Tokens.Total() > 0 {
		t := prop.Tokens
		proposed.Tokens = &t
	}
	if l.Features != nil {
		all := map[string][]byte{}
		for p, c := range parent.Files {
			all[p] = []byte(c)
		}
		for p, c := range files {
			all[p] = c
		}
		proposed.CodeSize, proposed.Sketch = l.Features(all)
	}
	id, err := l.Store.Commit(context.WithoutCancel(ctx), CommitRequest{
		Exp: l.Exp, Parent: sel.Parent, Files: files, Allowed: l.Editable,
		Message: CommitMessage{Exp: l.Exp, Title: prop.Title, Motivation: prop.Motivation, Inspirations: sel.Inspirations, Island: sel.Island,
			Worker: l.by(worker), Nonce: l.nonce()},
		Proposed: proposed, When: l.Now(),
	})
	if err != nil {
		return res, fmt.Errorf("commit candidate: %w", err)
	}
	res.Candidate = Candidate{ID: id, Parent: sel.Parent, Subject: prop.Title}

	var er EvalResult
	if prop.Invalid != "" {
		er = EvalResult{Status: StatusInvalid, Reason: prop.Invalid}
		ev := EvaluatedEvent(l.Exp, l.Now(), l.by(worker), er)
		if err := l.Store.Append(context.WithoutCancel(ctx), id, ev); err != nil {
			return res, fmt.Errorf("record invalid candidate %s: %w", short(id), err)
		}
	} else {
		er, err = l.evaluate(evalCtx, worker, id)
		if errors.Is(err, ErrInterrupted) {
			return res, err
		}
		if err != nil {
			return res, err
		}
	}
	res.Status, res.Score = er.Status, er.Score

	// Analyze against the parent and the best so far. The candidate's record
	// is folded from the events this step wrote, and the best is taken from
	// the population sampled at the start of the step plus this candidate:
	// no second listing of the whole experiment.
	evs := []Event{proposed, EvaluatedEvent(l.Exp, l.Now(), l.by(worker), er)}
	me := Candidate{ID: id, Parent: sel.Parent, Subject: CommitMessage{Exp: l.Exp, Title: prop.Title}.Subject(), Time: proposed.At, Record: Fold(evs)}
	res.Candidate = me
	cands := append(pop[:len(pop):len(pop)], me)
	if b, ok := Best(cands, l.Config.Eval.Direction); ok {
		s, _ := b.Score()
		res.Best, res.BestID = &s, b.ID
	}
	if ctx.Err() != nil {
		return res, nil // analysis is skipped when interrupted; the evaluation is recorded
	}
	an := AnalysisInput{Exp: l.Exp, Problem: l.Problem, Direction: l.Config.Eval.Direction}
	if an.Candidate, err = l.node(ctx, me); err != nil {
		return res, err
	}
	an.Parent = &parent
	if b, ok := Best(cands, l.Config.Eval.Direction); ok && b.ID != id {
		bn, err := l.node(ctx, b)
		if err != nil {
			return res, err
		}
		an.Best = &bn
	}
	a, err := l.Analyzer.Analyze(ctx, an)
	l.account(a.Tokens, a.CostUSD)
	if err != nil {
		res.Err = fmt.Errorf("analyzer: %w", err)
		l.logf("analysis of %s failed: %v", short(id), err)
		return res, nil
	}
	res.Tokens = res.Tokens.Add(a.Tokens)
	res.CostUSD += a.CostUSD
	if err := l.Store.Append(context.WithoutCancel(ctx), id, AnalyzedEvent(l.Exp, l.Now(), l.by(worker), a)); err != nil {
		return res, fmt.Errorf("record analysis of %s: %w", short(id), err)
	}
	return res, nil
}

func (l *Loop) account(t Tokens, usd float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = l.tokens.Add(t)
	l.usd += usd
	if usd > l.lastCall {
		l.lastCall = usd
	}
	if t.Total() > l.lastTok {
		l.lastTok = t.Total()
	}
}

func (l *Loop) node(ctx context.Context, c Candidate) (Node, error) {
	if c.ID == "" {
		return Node{}, errors.New("sampler chose a candidate that is not in the population")
	}
	files, err := l.Store.Files(ctx, c.ID, l.Editable)
	if err != nil {
		return Node{}, fmt.Errorf("read files of %s: %w", short(c.ID), err)
	}
	n := Node{Candidate: c, Files: make(map[string]string, len(files))}
	for p, b := range files {
		n.Files[p] = string(b)
	}
	return n, nil
}

func recentFailures(pop []Candidate, n int) []Node {
	var failed []Candidate
	for _, c := range pop {
		switch c.Status() {
		case StatusFailed, StatusInvalid, StatusTimeout:
			failed = append(failed, c)
		}
	}
	sort.Slice(failed, func(i, j int) bool {
		if !failed[i].Time.Equal(failed[j].Time) {
			return failed[i].Time.After(failed[j].Time)
		}
		return failed[i].ID < failed[j].ID
	})
	if len(failed) > n {
		failed = failed[:n]
	}
	out := make([]Node, len(failed))
	for i, c := range failed {
		out[i] = Node{Candidate: c}
	}
	return out
}

func retrievalQuery(problem string, parent Node) string {
	var b strings.Builder
	b.WriteString(problem)
	if parent.Analyzed != nil {
		b.WriteString("\n")
		b.WriteString(parent.Analyzed.Analysis)
		b.WriteString("\n")
		b.WriteString(strings.Join(parent.Analyzed.Lessons, "\n"))
	}
	if parent.Proposed != nil {
		b.WriteString("\n")
		b.WriteString(parent.Proposed.Motivation)
	}
	return b.String()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
