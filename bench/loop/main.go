// Command loop measures issue 5's figures for `git evolve step`:
//
//  1. throughput: with an evaluation that sleeps 1 s and a fake LLM that
//     answers at once, candidates per minute with --workers 4 against
//     --workers 1 (target: at least 3.6 times);
//
//  2. bookkeeping per step with 10,000 candidates already in the experiment:
//     the wall time of a step minus its evaluation and its LLM calls
//     (target: at most 50 ms median).
//
//     go run ./bench/loop            (needs git and python3; about 2 minutes)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/git-evolve/git-evolve/internal/cli"
	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

var aLine = regexp.MustCompile(`(?m)^A = (-?[0-9.e+-]+)$`)

func main() {
	steps1 := flag.Int("steps1", 6, "steps with one worker")
	steps4 := flag.Int("steps4", 24, "steps with four workers")
	big := flag.Int("candidates", 10000, "candidates already in the experiment for the bookkeeping figure")
	bsteps := flag.Int("bookkeeping-steps", 20, "steps measured for the bookkeeping figure")
	flag.Parse()

	srv, err := fakeopenai.Start()
	if err != nil {
		fail(err)
	}
	defer srv.Close()
	srv.SetDefault(reply)
	env := map[string]string{"OPENAI_API_KEY": "sk-bench-not-a-key", "OPENAI_BASE_URL": srv.URL()}

	fmt.Printf("machine: %d-core, load %s\n", numCPU(), loadavg())
	// 1. Throughput.
	r1, err := throughput(env, 1, *steps1)
	if err != nil {
		fail(err)
	}
	r4, err := throughput(env, 4, *steps4)
	if err != nil {
		fail(err)
	}
	fmt.Printf("throughput (eval sleeps 1 s, fake LLM): workers 1: %.1f candidates/min; workers 4: %.1f candidates/min; ratio %.2f (target >= 3.6)\n", r1, r4, r4/r1)

	// 2. Bookkeeping with a large experiment.
	med, mean, err := bookkeeping(env, *big, *bsteps)
	if err != nil {
		fail(err)
	}
	fmt.Printf("bookkeeping per step with %d candidates: median %.1f ms, mean %.1f ms (target median <= 50 ms)\n", *big, med, mean)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loop:", err)
	os.Exit(1)
}

// reply is the fake LLM: researcher requests get an edit of A, analyzer
// requests a one-line analysis.
func reply(r fakeopenai.Request) fakeopenai.Response {
	if r.Chat == nil || len(r.Chat.Messages) == 0 {
		return fakeopenai.Response{Status: 400}
	}
	if strings.Contains(r.Chat.Messages[0].Content, "You analyse") {
		return fakeopenai.Response{Content: "ANALYSIS: measured.\nLESSONS:\n- none\n"}
	}
	m := aLine.FindStringSubmatch(r.Chat.Last())
	if m == nil {
		return fakeopenai.Response{Content: "no program"}
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return fakeopenai.Response{Content: fmt.Sprintf("TITLE: nudge %[1]s\nMOTIVATION: bench\n\n%[2]s\n<<<<<<< SEARCH\n%[1]s = %[3]s\n=======\n%[1]s = %[4]s\n>>>>>>> REPLACE\n",
		replyName, progPath, m[1], strconv.FormatFloat(v+0.001*float64(time.Now().UnixNano()%997+1), 'f', -1, 64))}
}

var progPath = "experiments/exp/initial_program.py"

func run(env map[string]string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	io := cli.IO{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	if code := cli.Main(append([]string{"git-evolve"}, args...), io); code != 0 {
		return out.String(), fmt.Errorf("git-evolve %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), nil
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@example.com", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return nil
}

func throughput(env map[string]string, workers, steps int) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-loop-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := git(dir, "init", "-q"); err != nil {
		return 0, err
	}
	if _, err := run(env, "-C", dir, "init", "exp"); err != nil {
		return 0, err
	}
	eval := "#!/bin/sh\nsleep 1\necho '{\"score\": 1}'\n"
	if err := os.WriteFile(filepath.Join(dir, "experiments/exp/eval.sh"), []byte(eval), 0o755); err != nil {
		return 0, err
	}
	if err := git(dir, "add", "-A"); err != nil {
		return 0, err
	}
	if err := git(dir, "commit", "-q", "-m", "exp"); err != nil {
		return 0, err
	}
	if _, err := run(env, "-C", dir, "eval", "-e", "exp"); err != nil { // the baseline, outside the timing
		return 0, err
	}
	start := time.Now()
	if _, err := run(env, "-C", dir, "step", "-e", "exp", "--steps", strconv.Itoa(steps), "--workers", strconv.Itoa(workers)); err != nil {
		return 0, err
	}
	return float64(steps) / time.Since(start).Minutes(), nil
}

func bookkeeping(env map[string]string, n, steps int) (median, mean float64, err error) {
	tmp, err := os.MkdirTemp("", "bench-loop-big-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "repo")
	// The fixture of bench/storebench: an experiment "bench" of n candidates.
	cmd := exec.Command("go", "run", "./bench/storebench", "fixture", "-dir", dir, "-n", strconv.Itoa(n), "-exp", "exp")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("fixture: %w", err)
	}
	if err := git(dir, "checkout", "-q", "-f", "main"); err != nil {
		return 0, 0, err
	}
	// An instant evaluation, and a program the fake LLM can edit.
	if err := os.WriteFile(filepath.Join(dir, "experiments/exp/eval.sh"), []byte("#!/bin/sh\necho '{\"score\": 1}'\n"), 0o755); err != nil {
		return 0, 0, err
	}
	if _, err := run(env, "-C", dir, "log", "-e", "exp", "--top", "1"); err != nil { // builds the index once
		return 0, 0, err
	}
	prog := filepath.Join(dir, progPath)
	if b, err := os.ReadFile(prog); err == nil && !aLine.Match(b) {
		// fixture programs have no "A = ..." line: make the Researcher edit RADIUS instead
		progPathRadius(dir)
	}
	// One run of steps+1 steps with one worker. A step's time is the gap
	// between the analyses of consecutive candidates (read from the notes);
	// its bookkeeping is that minus its evaluation's duration.
	out, err := run(env, "-C", dir, "step", "-e", "exp", "--steps", strconv.Itoa(steps+1), "--json", "--algorithm", "greedy")
	if err != nil {
		return 0, 0, err
	}
	var sum struct {
		Created []string `json:"created"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Created) != steps+1 {
		return 0, 0, fmt.Errorf("step output: %v %s", err, out)
	}
	var per []float64
	var prev time.Time
	for i, id := range sum.Created {
		analyzed, evalMS, err := timings(dir, id)
		if err != nil {
			return 0, 0, err
		}
		if i > 0 {
			per = append(per, float64(analyzed.Sub(prev).Microseconds())/1000-evalMS)
		}
		prev = analyzed
	}
	sort.Float64s(per)
	var total float64
	for _, p := range per {
		total += p
	}
	return per[len(per)/2], total / float64(len(per)), nil
}

func progPathRadius(dir string) {
	aLine = regexp.MustCompile(`(?m)^RADIUS = (-?[0-9.e+-]+)$`)
	replyName = "RADIUS"
}

var replyName = "A"

func timings(dir, id string) (time.Time, float64, error) {
	cmd := exec.Command("git", "notes", "--ref=evolve", "show", id)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return time.Time{}, 0, err
	}
	var at time.Time
	ms := -1.0
	for _, line := range strings.Split(string(out), "\n") {
		var e struct {
			Event      string    `json:"event"`
			At         time.Time `json:"at"`
			DurationMS float64   `json:"duration_ms"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch e.Event {
		case "evaluated":
			ms = e.DurationMS
		case "analyzed":
			at = e.At
		}
	}
	if ms < 0 || at.IsZero() {
		return time.Time{}, 0, fmt.Errorf("no evaluated or analyzed event on %s", id)
	}
	return at, ms, nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
