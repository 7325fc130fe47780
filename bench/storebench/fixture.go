package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// fixtureOptions describes the synthetic experiment written by buildFixture.
type fixtureOptions struct {
	Dir    string // repository to create (must not exist)
	Exp    string
	N      int  // candidates besides the baseline
	Packed bool // run `git pack-refs --all` at the end, as `git gc` would
	Seed   uint64
}

// buildFixture creates a repository holding one experiment with opts.N
// candidates, their refs and one notes commit, using git fast-import so
// that 100,000 candidates take seconds rather than hours.
func buildFixture(opts fixtureOptions) error {
	if _, err := os.Stat(opts.Dir); err == nil {
		return fmt.Errorf("fixture directory %s already exists: remove it or pick another -dir", opts.Dir)
	}
	if err := runCmd("", nil, "git", "init", "-q", opts.Dir); err != nil {
		return err
	}
	marks := filepath.Join(opts.Dir, ".git", "fixture-marks")
	cmd := exec.Command("git", "fast-import", "--quiet", "--export-marks="+marks)
	cmd.Dir = opts.Dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start git fast-import: %w", err)
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	genErr := writeStream(w, opts)
	if genErr == nil {
		genErr = w.Flush()
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	if genErr != nil {
		return genErr
	}

	// Candidate refs: refs/evolve/<exp>/<full sha>, created in one transaction.
	mb, err := os.ReadFile(marks)
	if err != nil {
		return err
	}
	var upd bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(string(mb)), "\n") {
		mark, sha, ok := strings.Cut(line, " ")
		if !ok || mark == ":1" { // :1 is the project's own initial commit
			continue
		}
		fmt.Fprintf(&upd, "create refs/evolve/%s/%s %s\n", opts.Exp, sha, sha)
	}
	if err := runCmd(opts.Dir, &upd, "git", "update-ref", "--stdin"); err != nil {
		return err
	}
	if err := runCmd(opts.Dir, nil, "git", "update-ref", "-d", "refs/fixture/tmp"); err != nil {
		return err
	}
	if opts.Packed {
		if err := runCmd(opts.Dir, nil, "git", "pack-refs", "--all"); err != nil {
			return err
		}
	}
	return os.Remove(marks)
}

// writeStream emits the fast-import stream: the project's initial commit on
// main, the baseline, opts.N candidates with random parents, and one notes
// commit with a proposed and an evaluated event per candidate.
func writeStream(w io.Writer, opts fixtureOptions) error {
	rng := rand.New(rand.NewPCG(opts.Seed, 42))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prog := "experiments/" + opts.Exp + "/initial_program.py"
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	when := func(i int) string { return fmt.Sprintf("%d +0000", base.Add(time.Duration(i)*time.Minute).Unix()) }

	fmt.Fprintf(w, "commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> %s\n", when(0))
	data("initial program\n")
	fmt.Fprintf(w, "M 100644 inline README.md\n")
	data("# bench\n")
	fmt.Fprintf(w, "M 100644 inline experiments/%s/input.md\n", opts.Exp)
	data("Pack circles.\n")
	fmt.Fprintf(w, "M 100755 inline experiments/%s/eval.sh\n", opts.Exp)
	data("#!/bin/sh\npython3 \"$1\"\n")
	fmt.Fprintf(w, "M 100644 inline %s\n", prog)
	data(program(0, rng))
	fmt.Fprintln(w)

	// Mark m+2 is candidate m; candidate 0 is the baseline.
	fmt.Fprintf(w, "commit refs/fixture/tmp\nmark :2\ncommitter Bench <bench@example.com> %s\n", when(1))
	data(evolve.CommitMessage{Exp: opts.Exp, Title: "baseline"}.String())
	fmt.Fprintf(w, "from :1\n")
	fmt.Fprintln(w)
	parents := make([]int, opts.N+1)
	for m := 1; m <= opts.N; m++ {
		parents[m] = rng.IntN(m)
		fmt.Fprintf(w, "commit refs/fixture/tmp\nmark :%d\ncommitter Bench <bench@example.com> %s\n", m+2, when(m+1))
		data(evolve.CommitMessage{Exp: opts.Exp, Title: fmt.Sprintf("tweak constants #%d", m),
			Motivation: "Grow the outer ring slightly and rebalance the inner circles so that the space near the boundary is used."}.String())
		fmt.Fprintf(w, "from :%d\n", parents[m]+2)
		fmt.Fprintf(w, "M 100644 inline %s\n", prog)
		data(program(m, rng))
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "commit refs/notes/evolve\ncommitter Bench <bench@example.com> %s\n", when(opts.N+2))
	data("Notes added by the storebench fixture")
	for m := 0; m <= opts.N; m++ {
		note, err := fixtureNote(opts.Exp, m, parents[m], base.Add(time.Duration(m+1)*time.Minute), rng)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "N inline :%d\n", m+2)
		data(string(note))
	}
	fmt.Fprintln(w)
	return nil
}

func program(m int, rng *rand.Rand) string {
	return fmt.Sprintf("# candidate %d\nRADIUS = %.6f\nGROWTH = %.6f\nRINGS = %d\n\ndef pack(n):\n    return [RADIUS * GROWTH ** i for i in range(n)]\n",
		m, 0.1+rng.Float64(), 1+rng.Float64()/10, 2+rng.IntN(5))
}

// fixtureNote is what a real run records: proposed, then evaluated (one in ten failed).
func fixtureNote(exp string, m, parent int, at time.Time, rng *rand.Rand) ([]byte, error) {
	island := m % 5
	p := evolve.Event{Exp: exp, Event: evolve.EventProposed, At: at, By: "bench-host/w0", Island: &island,
		Title: fmt.Sprintf("tweak constants #%d", m), Sampler: "ucb1", Model: "gpt-4o",
		Motivation: "Grow the outer ring slightly and rebalance the inner circles so that the space near the boundary is used.",
		Tokens:     &evolve.Tokens{Prompt: 5000 + int64(rng.IntN(1000)), Completion: 800}, CostUSD: 0.02}
	if m > 0 {
		p.Parent = fmt.Sprintf("candidate-%d", parent) // informational only in the fixture
	} else {
		p.Title = "baseline"
	}
	e := evolve.Event{Exp: exp, Event: evolve.EventEvaluated, At: at.Add(30 * time.Second), By: "bench-host/w0", DurationMS: int64(1000 + rng.IntN(9000))}
	code := 0
	if rng.IntN(10) == 0 {
		code = 1
		e.Status, e.Reason, e.StderrTail = evolve.StatusFailed, "exit status 1", "Traceback (most recent call last):\n  File \"initial_program.py\", line 7\nValueError: negative radius\n"
	} else {
		s := 2 + rng.Float64()
		e.Status, e.Score = evolve.StatusOK, &s
		e.Metrics = map[string]any{"sum_radii": s, "valid": 1.0}
		e.Feedback = "all circles inside the unit square"
	}
	e.ExitCode = &code
	var buf bytes.Buffer
	for _, ev := range []evolve.Event{p, e} {
		line, err := ev.Line()
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func runCmd(dir string, stdin io.Reader, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
