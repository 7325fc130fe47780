// Command demos measures issue 7's figures: on each demo, with the offline
// researcher, the best score that evolution reaches in N evaluations against a
// best-of-N control that only ever mutates the initial program (no lineage).
//
//	go run ./bench/demos -evals 100 -seeds 1,2,3
//
// Evolution runs the real `git evolve demo` (baseline + N-1 steps) in a
// temporary repository. The control evaluates the initial program and N-1
// independent offline mutations of it with the same Engineer and evaluator.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/git-evolve/git-evolve/agents"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/experiments"
	"github.com/git-evolve/git-evolve/internal/cli"
)

func main() {
	evals := flag.Int("evals", 100, "evaluations per run (evolution: baseline + evals-1 steps)")
	seeds := flag.String("seeds", "1,2,3", "comma-separated seeds")
	exps := flag.String("experiments", strings.Join(experiments.Names(), ","), "demos to run")
	algorithm := flag.String("algorithm", "", "sampling algorithm for the evolution arm (default: the demo's config)")
	flag.Parse()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "experiment\tseed\tinitial\tevolution best\tbest-of-N best\twinner\tevolution s\tcontrol s")
	for _, exp := range strings.Split(*exps, ",") {
		var sumEvo, sumCtl float64
		n := 0
		for _, s := range strings.Split(*seeds, ",") {
			seed, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				fail(err)
			}
			t0 := time.Now()
			initial, evo, err := evolution(exp, seed, *evals, *algorithm)
			if err != nil {
				fail(err)
			}
			te := time.Since(t0)
			t1 := time.Now()
			ctl, err := control(exp, seed, *evals)
			if err != nil {
				fail(err)
			}
			tc := time.Since(t1)
			winner := "evolution"
			if ctl > evo {
				winner = "best-of-N"
			} else if ctl == evo {
				winner = "tie"
			}
			fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\t%s\t%.0f\t%.0f\n", exp, seed, initial, evo, ctl, winner, te.Seconds(), tc.Seconds())
			sumEvo += evo
			sumCtl += ctl
			n++
		}
		fmt.Fprintf(tw, "%s\tmean\t\t%.4f\t%.4f\t\t\t\n", exp, sumEvo/float64(n), sumCtl/float64(n))
	}
	tw.Flush()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demos:", err)
	os.Exit(1)
}

type row struct {
	Score    *float64 `json:"score"`
	Baseline bool     `json:"baseline"`
}

// evolution runs `git evolve demo` and returns the baseline and best scores.
func evolution(exp string, seed uint64, evals int, algorithm string) (float64, float64, error) {
	tmp, err := os.MkdirTemp("", "bench-demos-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "repo")
	var out, errb bytes.Buffer
	io := cli.IO{Out: &out, Err: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
	args := []string{"git-evolve", "demo", "--experiment", exp, "--dir", dir, "--steps", "0", "--offline"}
	if code := cli.Main(args, io); code != 0 {
		return 0, 0, fmt.Errorf("demo: %s", errb.String())
	}
	args = []string{"git-evolve", "-C", dir, "step", "-e", exp, "--steps", strconv.Itoa(evals - 1), "--seed", strconv.FormatUint(seed, 10), "--offline"}
	if algorithm != "" {
		args = append(args, "--algorithm", algorithm)
	}
	if code := cli.Main(args, io); code != 0 {
		return 0, 0, fmt.Errorf("step: %s", errb.String())
	}
	out.Reset()
	if code := cli.Main([]string{"git-evolve", "-C", dir, "log", "-e", exp, "--all", "--json"}, io); code != 0 {
		return 0, 0, fmt.Errorf("log: %s", errb.String())
	}
	var rows []row
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		return 0, 0, err
	}
	var base, best float64
	for i, r := range rows {
		if r.Score == nil {
			continue
		}
		if i == 0 {
			best = *r.Score
		}
		if r.Baseline {
			base = *r.Score
		}
	}
	return base, best, nil
}

// control evaluates the initial program and evals-1 independent mutations of it.
func control(exp string, seed uint64, evals int) (float64, error) {
	root, err := os.MkdirTemp("", "bench-control-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	if err := experiments.CopyTo(exp, root); err != nil {
		return 0, err
	}
	rel := "experiments/" + exp + "/initial_program.py"
	prog := filepath.Join(root, filepath.FromSlash(rel))
	orig, err := os.ReadFile(prog)
	if err != nil {
		return 0, err
	}
	eng := &agents.Engineer{}
	res := &agents.OfflineResearcher{}
	parent := evolve.Node{Files: map[string]string{rel: string(orig)}}
	best := 0.0
	for i := 0; i < evals; i++ {
		content := orig
		if i > 0 {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			p, err := res.Propose(context.Background(), evolve.ResearchInput{Exp: exp, Parent: parent, Editable: []string{rel}}, rng)
			if err != nil {
				return 0, err
			}
			if p.Invalid != "" {
				continue
			}
			content = p.Files[rel]
		}
		if err := os.WriteFile(prog, content, 0o644); err != nil {
			return 0, err
		}
		r := eng.Evaluate(context.Background(), evolve.EvalRequest{
			Exp: exp, Candidate: fmt.Sprintf("control-%d", i), Workspace: root,
			Script: filepath.Join(root, "experiments", exp, "eval.sh"), Program: prog,
			WorkDir: filepath.Join(root, "experiments", exp), Timeout: time.Minute,
			Config: evolve.EvalConfig{MaxOutput: 1 << 20},
		})
		if r.Status == evolve.StatusOK && r.Score != nil && (i == 0 || *r.Score > best) {
			best = *r.Score
		}
	}
	return best, nil
}
