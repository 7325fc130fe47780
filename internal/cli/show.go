package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

// findCandidate resolves an id prefix (within exp when given) and returns the
// candidate with its experiment's population.
func findCandidate(c *cli.Context, sio *IO, exp, prefix string) (*experiment, evolve.Candidate, []evolve.Candidate, error) {
	s, err := openStore(c)
	if err != nil {
		return nil, evolve.Candidate{}, nil, err
	}
	if exp != "" {
		if err := checkExpName(exp); err != nil {
			return nil, evolve.Candidate{}, nil, err
		}
	}
	id, err := s.Resolve(c.Context, exp, prefix)
	if err != nil {
		return nil, evolve.Candidate{}, nil, err
	}
	if exp == "" {
		exps, err := s.Experiments(c.Context)
		if err != nil {
			return nil, evolve.Candidate{}, nil, err
		}
		for _, x := range exps {
			if got, err := s.Resolve(c.Context, x, id); err == nil && got == id {
				exp = x
				break
			}
		}
		if exp == "" {
			return nil, evolve.Candidate{}, nil, fmt.Errorf("%s is not a candidate of any experiment", id)
		}
	}
	e, err := loadExperiment(c.Context, c, sio, exp, expOptions{})
	if err != nil {
		return nil, evolve.Candidate{}, nil, err
	}
	cands, err := s.Candidates(c.Context, exp)
	if err != nil {
		return nil, evolve.Candidate{}, nil, err
	}
	for _, cand := range cands {
		if cand.ID == id {
			return e, cand, cands, nil
		}
	}
	return nil, evolve.Candidate{}, nil, fmt.Errorf("candidate %s is not in experiment %s", id[:8], exp)
}

type showJSON struct {
	ID           string         `json:"id"`
	Experiment   string         `json:"experiment"`
	Title        string         `json:"title"`
	Baseline     bool           `json:"baseline,omitempty"`
	Parent       string         `json:"parent,omitempty"`
	Inspirations []string       `json:"inspirations,omitempty"`
	Status       evolve.Status  `json:"status"`
	Score        *float64       `json:"score"`
	Metrics      map[string]any `json:"metrics,omitempty"`
	Feedback     string         `json:"feedback,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	Motivation   string         `json:"motivation,omitempty"`
	Analysis     string         `json:"analysis,omitempty"`
	Lessons      []string       `json:"lessons,omitempty"`
	Events       []evolve.Event `json:"events"`
	Diff         string         `json:"diff,omitempty"`
}

func showCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show a candidate: motivation, metrics, analysis and the diff against its parent",
		ArgsUsage: "<id>",
		Description: `Any unambiguous prefix of a candidate's commit hash works as <id>.

Examples:
   git evolve show 1a2b3c4d
   git evolve show 1a2b --no-diff
   git evolve show 1a2b --json`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.BoolFlag{Name: "no-diff", Usage: "leave out the diff against the parent"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErr("show needs exactly one candidate id (see: git evolve log -e NAME)")
			}
			e, cand, cands, err := findCandidate(c, sio, c.String("experiment"), c.Args().First())
			if err != nil {
				return err
			}
			var diff string
			if !c.Bool("no-diff") {
				from := cand.Parent
				if from == "" {
					from = cand.ID + "^"
				}
				diff, err = e.Store.Diff(c.Context, from, cand.ID)
				if err != nil {
					return err
				}
			}
			if c.Bool("json") {
				j := showJSON{ID: cand.ID, Experiment: e.Name, Title: cand.DisplayTitle(), Baseline: cand.Baseline, Parent: cand.Parent,
					Status: cand.Status(), Events: cand.Events, Diff: diff}
				if s, ok := cand.Score(); ok {
					j.Score = &s
				}
				if p := cand.Proposed; p != nil {
					j.Inspirations, j.Motivation = p.Inspirations, p.Motivation
				}
				if ev := cand.Evaluated; ev != nil {
					j.Metrics, j.Feedback, j.Reason = ev.Metrics, ev.Feedback, ev.Reason
				}
				if a := cand.Analyzed; a != nil {
					j.Analysis, j.Lessons = a.Analysis, a.Lessons
				}
				return writeJSON(sio.Out, j)
			}
			printCandidate(sio.Out, e, cand, cands)
			for _, w := range cand.Warnings {
				fmt.Fprintf(sio.Err, "warning: note of %s: %s\n", cand.Short(), w)
			}
			if diff != "" {
				fmt.Fprintf(sio.Out, "\ndiff against parent:\n%s", diff)
			}
			return nil
		},
	}
}

func printCandidate(w io.Writer, e *experiment, cand evolve.Candidate, cands []evolve.Candidate) {
	byID := map[string]evolve.Candidate{}
	var base *evolve.Candidate
	for i, c := range cands {
		byID[c.ID] = c
		if c.Baseline {
			base = &cands[i]
		}
	}
	fmt.Fprintf(w, "candidate %s  (experiment %s)\n", cand.ID, e.Name)
	t := cand.DisplayTitle()
	if cand.Baseline {
		t += "  [baseline]"
	}
	fmt.Fprintf(w, "title:     %s\n", t)
	score := "-"
	if s, ok := cand.Score(); ok {
		score = fmtScore(&s)
		var deltas []string
		if p, ok := byID[cand.Parent]; ok {
			if ps, ok := p.Score(); ok {
				deltas = append(deltas, fmtDelta(s-ps)+" vs parent")
			}
		}
		if base != nil && !cand.Baseline {
			if bs, ok := base.Score(); ok {
				deltas = append(deltas, fmtDelta(s-bs)+" vs baseline")
			}
		}
		if len(deltas) > 0 {
			score += " (" + strings.Join(deltas, ", ") + ")"
		}
	}
	fmt.Fprintf(w, "status:    %s\nscore:     %s\n", cand.Status(), score)
	if cand.Parent != "" {
		fmt.Fprintf(w, "parent:    %s  %s\n", cand.Parent[:8], byID[cand.Parent].DisplayTitle())
	}
	if p := cand.Proposed; p != nil {
		if len(p.Inspirations) > 0 {
			var ins []string
			for _, id := range p.Inspirations {
				ins = append(ins, id[:min(8, len(id))])
			}
			fmt.Fprintf(w, "inspired:  %s\n", strings.Join(ins, ", "))
		}
		var meta []string
		if p.Sampler != "" {
			meta = append(meta, "sampler "+p.Sampler)
		}
		if p.Island != nil {
			meta = append(meta, fmt.Sprintf("island %d", *p.Island))
		}
		if p.Model != "" {
			meta = append(meta, "model "+p.Model)
		}
		if p.By != "" {
			meta = append(meta, "by "+p.By)
		}
		if !p.At.IsZero() {
			meta = append(meta, "at "+p.At.UTC().Format("2006-01-02 15:04:05Z"))
		}
		if len(meta) > 0 {
			fmt.Fprintf(w, "proposed:  %s\n", strings.Join(meta, ", "))
		}
	}
	if tok, usd := cand.Tokens(); tok.Total() > 0 || usd > 0 {
		fmt.Fprintf(w, "cost:      %d prompt + %d completion tokens, $%.4f\n", tok.Prompt, tok.Completion, usd)
	}
	if p := cand.Proposed; p != nil && strings.TrimSpace(p.Motivation) != "" {
		fmt.Fprintf(w, "\nmotivation:\n%s\n", indent(p.Motivation))
	}
	if ev := cand.Evaluated; ev != nil {
		if len(ev.Metrics) > 0 {
			fmt.Fprintf(w, "\nmetrics:\n")
			keys := make([]string, 0, len(ev.Metrics))
			for k := range ev.Metrics {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    %s: %v\n", k, ev.Metrics[k])
			}
		}
		if ev.Reason != "" {
			fmt.Fprintf(w, "\nreason:\n%s\n", indent(ev.Reason))
		}
		if ev.Feedback != "" {
			fmt.Fprintf(w, "\nfeedback:\n%s\n", indent(ev.Feedback))
		}
		if ev.StderrTail != "" && ev.Status != evolve.StatusOK {
			fmt.Fprintf(w, "\nstderr (tail):\n%s\n", indent(ev.StderrTail))
		}
		fmt.Fprintf(w, "\nevaluation: %s in %dms", ev.Status, ev.DurationMS)
		if ev.ExitCode != nil {
			fmt.Fprintf(w, ", exit code %d", *ev.ExitCode)
		}
		if ev.Signal != "" {
			fmt.Fprintf(w, ", signal %s", ev.Signal)
		}
		fmt.Fprintln(w)
	}
	if a := cand.Analyzed; a != nil {
		if a.Analysis != "" {
			fmt.Fprintf(w, "\nanalysis:\n%s\n", indent(a.Analysis))
		}
		if len(a.Lessons) > 0 {
			fmt.Fprintf(w, "\nlessons:\n")
			for _, l := range a.Lessons {
				fmt.Fprintf(w, "  - %s\n", oneLine(l, 0))
			}
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}
