// Command storebench measures package gitstore on a large synthetic
// experiment (issue 2, "Performance"). bench/store.sh drives it:
//
//	storebench fixture -dir D -n 100000 [-packed]   build the repository
//	storebench log -dir D [-top 20]                 what `git evolve log --top 20` does
//	storebench record -dir D [-n 50]                record candidates, print per-candidate times
//	storebench compare -dir D [-runs 5]             `log` vs `git log --notes` side by side
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: storebench fixture|log|record|compare [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "repository")
	exp := fs.String("exp", "bench", "experiment")
	n := fs.Int("n", 0, "fixture: candidates; record: candidates to record")
	packed := fs.Bool("packed", false, "fixture: pack the refs as git gc would")
	top := fs.Int("top", 20, "log: rows")
	runs := fs.Int("runs", 5, "compare: runs of each command")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	verbose := fs.Bool("v", false, "log: print where the time goes to stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	switch args[0] {
	case "fixture":
		if *n == 0 {
			*n = 100000
		}
		start := time.Now()
		if err := buildFixture(fixtureOptions{Dir: *dir, Exp: *exp, N: *n, Packed: *packed, Seed: 1}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fixture: %d candidates in %s (%s)\n", *n, *dir, time.Since(start).Round(time.Millisecond))
		return nil
	case "log":
		return logTop(*dir, *exp, *top, *verbose, stdout)
	case "record":
		if *n == 0 {
			*n = 50
		}
		return record(*dir, *exp, *n, stdout)
	case "compare":
		return compare(*dir, *exp, *runs, stdout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// logTop prints the leaderboard the way `git evolve log --top N` does:
// every candidate folded, ranked, the first N printed.
func logTop(dir, exp string, top int, verbose bool, w io.Writer) error {
	start := time.Now()
	s, err := gitstore.Open(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	opened := time.Now()
	cs, err := s.Candidates(context.Background(), exp)
	if err != nil {
		return err
	}
	listed := time.Now()
	if verbose {
		defer func() {
			fmt.Fprintf(os.Stderr, "open %s, Candidates %s (%d), rank+print %s\n", opened.Sub(start).Round(time.Millisecond),
				listed.Sub(opened).Round(time.Millisecond), len(cs), time.Since(listed).Round(time.Millisecond))
		}()
	}
	var base float64
	for _, c := range cs {
		if c.Baseline {
			base, _ = c.Score()
		}
	}
	evolve.Rank(cs, evolve.Maximize)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "RANK\tID\tSCORE\tΔ\tSTATUS\tPARENT\tTITLE")
	for i, c := range cs[:min(top, len(cs))] {
		score, ok := c.Score()
		sc, delta := "-", "-"
		if ok {
			sc, delta = fmt.Sprintf("%.4f", score), fmt.Sprintf("%+.4f", score-base)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, c.Short(), sc, delta, c.Status(), short(c.Parent), c.Title())
	}
	return tw.Flush()
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// record adds n candidates (commit + ref + proposed note, then an evaluated
// note) to the experiment in one process and reports the time of each.
func record(dir, exp string, n int, w io.Writer) error {
	start := time.Now()
	s, err := gitstore.Open(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	opened := time.Since(start)
	cs, err := s.Candidates(ctx, exp)
	if err != nil {
		return err
	}
	listed := time.Since(start) - opened
	parent := cs[len(cs)-1].ID
	files, err := s.Files(ctx, parent, []string{"experiments/" + exp + "/initial_program.py"})
	if err != nil {
		return err
	}
	prog := files["experiments/"+exp+"/initial_program.py"]
	var commitTimes, totalTimes []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		id, err := s.Commit(ctx, evolve.CommitRequest{
			Exp: exp, Parent: parent, Allowed: []string{"experiments/" + exp + "/initial_program*"},
			Files:    map[string][]byte{"experiments/" + exp + "/initial_program.py": append(prog, fmt.Sprintf("# recorded %d\n", i)...)},
			Message:  evolve.CommitMessage{Title: fmt.Sprintf("recorded %d", i), Motivation: "benchmark"},
			Proposed: evolve.Event{By: "storebench", Sampler: "ucb1"},
			When:     t0,
		})
		if err != nil {
			return err
		}
		t1 := time.Now()
		score := float64(i)
		if err := s.Append(ctx, id, evolve.Event{Exp: exp, Event: evolve.EventEvaluated, At: t1, Status: evolve.StatusOK, Score: &score}); err != nil {
			return err
		}
		commitTimes = append(commitTimes, t1.Sub(t0))
		totalTimes = append(totalTimes, time.Since(t0))
		parent = id
	}
	fmt.Fprintf(w, "record: open %s, first Candidates (%d) %s\n", opened.Round(time.Millisecond), len(cs), listed.Round(time.Millisecond))
	fmt.Fprintf(w, "record: commit+ref+proposed note: median %s p90 %s\n", median(commitTimes), pct(commitTimes, 90))
	fmt.Fprintf(w, "record: ... plus evaluated note:   median %s p90 %s (n=%d)\n", median(totalTimes), pct(totalTimes, 90), n)
	return nil
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}

// measured is one run of a command.
type measured struct {
	wall  time.Duration
	cpu   time.Duration // user + system
	maxKB int64
	bytes int64
}

func measure(dir string, name string, args ...string) (measured, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var count countingWriter
	cmd.Stdout = &count
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return measured{}, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	m := measured{wall: time.Since(start), bytes: count.n}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.maxKB = int64(ru.Maxrss)
	}
	m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return m, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// compare runs this program's log and git's, alternately, runs times each.
func compare(dir, exp string, runs int, w io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	gitArgs := []string{"log", "--no-walk", "--notes=evolve", "--format=%N", "--glob=refs/evolve/" + exp + "/*"}
	ourArgs := []string{"log", "-dir", dir, "-exp", exp, "-top", "20"}
	// One warm-up each: the page cache, and the index if it is missing.
	warm, err := measure(dir, self, ourArgs...)
	if err != nil {
		return err
	}
	if _, err := measure(dir, "git", gitArgs...); err != nil {
		return err
	}
	var ours, theirs []measured
	for i := 0; i < runs; i++ {
		o, err := measure(dir, self, ourArgs...)
		if err != nil {
			return err
		}
		g, err := measure(dir, "git", gitArgs...)
		if err != nil {
			return err
		}
		ours, theirs = append(ours, o), append(theirs, g)
	}
	mo, mg := medianOf(ours), medianOf(theirs)
	co, cg := medianCPU(ours), medianCPU(theirs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "command\tmedian wall\tmedian cpu\tpeak RSS\tstdout\n")
	fmt.Fprintf(tw, "storebench log --top 20 (first run)\t%s\t%s\t%d MB\t\n", warm.wall.Round(time.Millisecond), warm.cpu.Round(time.Millisecond), warm.maxKB/1024)
	fmt.Fprintf(tw, "storebench log --top 20\t%s\t%s\t%d MB\t%d B\n", mo.wall.Round(time.Millisecond), co.Round(time.Millisecond), maxRSS(ours)/1024, mo.bytes)
	fmt.Fprintf(tw, "git %s\t%s\t%s\t%d MB\t%d B\n", strings.Join(gitArgs, " "), mg.wall.Round(time.Millisecond), cg.Round(time.Millisecond), maxRSS(theirs)/1024, mg.bytes)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "ratio git-evolve/git: wall %.2f, cpu %.2f (median of %d alternating runs; below 1 means faster than git)\n",
		float64(mo.wall)/float64(mg.wall), float64(co)/float64(cg), runs)
	return nil
}

func medianCPU(ms []measured) time.Duration {
	var c []time.Duration
	for _, m := range ms {
		c = append(c, m.cpu)
	}
	slices.Sort(c)
	return c[len(c)/2]
}

func medianOf(ms []measured) measured {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measured) int { return int(a.wall - b.wall) })
	return s[len(s)/2]
}

func maxRSS(ms []measured) int64 {
	var m int64
	for _, x := range ms {
		m = max(m, x.maxKB)
	}
	return m
}
