package experiments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/agents"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/experiments"
)

func TestNames(t *testing.T) {
	want := []string{"circle_packing_demo", "infer_scheduler"}
	if got := experiments.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// TestCopyToLayout checks each demo against DESIGN.md section 2 once copied.
func TestCopyToLayout(t *testing.T) {
	for _, name := range experiments.Names() {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := experiments.CopyTo(name, root); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, "experiments", name)
			for _, f := range []string{"input.md", "config.yaml", "initial_program.py", "eval.sh", "evaluator.py"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s is missing: %v", f, err)
				}
			}
			for f, want := range map[string]os.FileMode{"eval.sh": 0o755, "evaluator.py": 0o644, "input.md": 0o644} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s has mode %v, want %v", f, st.Mode().Perm(), want)
				}
			}
			script, _ := os.ReadFile(filepath.Join(dir, "eval.sh"))
			if !bytes.HasPrefix(script, []byte("#!/bin/sh\n")) {
				t.Errorf("eval.sh does not start with #!/bin/sh")
			}

			data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			cfgName := "experiments/" + name + "/config.yaml"
			cfg, err := evolve.LoadConfig(name, []evolve.ConfigSource{{Name: cfgName, Data: data}}, nil)
			if err != nil {
				t.Fatalf("config.yaml does not load: %v", err)
			}
			program := "experiments/" + name + "/initial_program.py"
			if !reflect.DeepEqual(cfg.Evolve.Files, []string{program}) {
				t.Errorf("evolve.files = %v, want [%s]", cfg.Evolve.Files, program)
			}
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(program)))
			if err != nil {
				t.Fatal(err)
			}
			start := bytes.Index(src, []byte("# EVOLVE-BLOCK-START"))
			end := bytes.Index(src, []byte("# EVOLVE-BLOCK-END"))
			if start < 0 || end < start {
				t.Errorf("%s has no EVOLVE-BLOCK-START ... EVOLVE-BLOCK-END region", program)
			}

			items, err := filepath.Glob(filepath.Join(dir, "cognition", "*.md"))
			if err != nil || len(items) < 3 {
				t.Fatalf("cognition/ holds %d items (err %v), want at least 3", len(items), err)
			}
			for _, it := range items {
				b, _ := os.ReadFile(it)
				first, _, _ := strings.Cut(string(b), "\n")
				if !strings.HasPrefix(first, "# ") || len(strings.TrimSpace(first)) < 4 {
					t.Errorf("%s: first line %q is not a '# Title'", filepath.Base(it), first)
				}
			}
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
					t.Errorf("copied a hidden or cache file: %s", p)
				}
				return nil
			})
		})
	}
}

func TestCopyToRefusesToOverwrite(t *testing.T) {
	root := t.TempDir()
	if err := experiments.CopyTo("circle_packing_demo", root); err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(root, "experiments", "circle_packing_demo", "config.yaml")
	if err := os.WriteFile(edited, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := experiments.CopyTo("circle_packing_demo", root)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second CopyTo: err = %v, want an 'already exists' error", err)
	}
	if b, _ := os.ReadFile(edited); string(b) != "# mine\n" {
		t.Errorf("CopyTo overwrote %s", edited)
	}
	// Another demo beside it is fine.
	if err := experiments.CopyTo("infer_scheduler", root); err != nil {
		t.Fatal(err)
	}
}

func TestCopyToUnknownDemo(t *testing.T) {
	for _, name := range []string{"", "nope", "../circle_packing_demo", "circle_packing_demo/cognition", "."} {
		err := experiments.CopyTo(name, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "circle_packing_demo, infer_scheduler") {
			t.Errorf("CopyTo(%q): err = %v, want an error listing the demos", name, err)
		}
	}
}

// result is the evaluation contract's final line (DESIGN.md section 6).
type result struct {
	Score    float64        `json:"score"`
	Metrics  map[string]any `json:"metrics"`
	Feedback string         `json:"feedback"`
}

// copyDemo copies a demo into a temporary repository and returns the
// experiment folder.
func copyDemo(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed; the demo evaluators need it")
	}
	root := t.TempDir()
	if err := experiments.CopyTo(name, root); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "experiments", name)
}

// evaluate runs dir/eval.sh on program the way the Engineer does: $1 is the
// absolute path of the program, the working directory is the experiment
// folder. It checks that stdout is exactly one JSON line.
func evaluate(t *testing.T, dir, program string, env ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "eval.sh"), program)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("eval.sh %s: %v\nstderr: %s", filepath.Base(program), err, stderr.String())
	}
	out := strings.TrimRight(stdout.String(), "\n")
	if strings.Contains(out, "\n") || out == "" {
		t.Fatalf("eval.sh %s printed %q, want exactly one line of JSON", filepath.Base(program), stdout.String())
	}
	var r result
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("eval.sh %s: %v in %s", filepath.Base(program), err, out)
	}
	if r.Metrics == nil || r.Feedback == "" {
		t.Fatalf("eval.sh %s: no metrics or feedback in %s", filepath.Base(program), out)
	}
	return r
}

func writeProgram(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// grid is a valid packing: a 5 x 5 grid of radius 0.1 and a small circle in
// the gap between the first four, sum 2.5 + (sqrt(2) - 1) / 10.
const grid = `
import math
def construct_packing():
    centers = [(0.1 + 0.2 * (i % 5), 0.1 + 0.2 * (i // 5)) for i in range(25)] + [(0.2, 0.2)]
    radii = [0.1] * 25 + [0.1 * math.sqrt(2) - 0.1 - EXTRA]
    return centers, radii
`

func TestCirclePackingEvaluator(t *testing.T) {
	dir := copyDemo(t, "circle_packing_demo")

	initial := evaluate(t, dir, filepath.Join(dir, "initial_program.py"))
	if initial.Score < 0.95 || initial.Score > 0.97 || initial.Metrics["valid"] != 1.0 {
		t.Errorf("initial program: score %v, metrics %v; want a valid packing scoring about 0.96", initial.Score, initial.Metrics)
	}
	if w, _ := initial.Metrics["worst_violation"].(float64); w > 1e-12 {
		t.Errorf("initial program: worst violation %g, want below 1e-12", w)
	}

	valid := []struct {
		name, src string
		score     float64
	}{
		{"grid", strings.Replace(grid, "EXTRA", "1e-12", 1), 2.5 + (math.Sqrt2-1)/10},
		{"grid within tolerance", strings.Replace(grid, "EXTRA", "-5e-10", 1), 2.5 + (math.Sqrt2-1)/10},
		{"a reported sum is ignored", strings.NewReplacer("EXTRA", "0", "return centers, radii", "return centers, radii, 99.0").Replace(grid),
			2.5 + (math.Sqrt2-1)/10},
	}
	for _, c := range valid {
		t.Run(c.name, func(t *testing.T) {
			r := evaluate(t, dir, writeProgram(t, dir, "valid.py", c.src))
			if math.Abs(r.Score-c.score) > 1e-6 || r.Metrics["valid"] != 1.0 {
				t.Errorf("score %v, metrics %v, feedback %q; want valid with score %v", r.Score, r.Metrics, r.Feedback, c.score)
			}
		})
	}

	invalid := []struct {
		name, src, feedback string
		env                 []string
	}{
		{"the 4.01 cheat: stacked circles",
			"def construct_packing():\n    return [(0.5, 0.5)] * 26, [4.01 / 26] * 26\n",
			"circles 0 and 1 overlap by", nil},
		{"the 4.01 cheat: an inflated grid",
			"def construct_packing():\n    return [(0.1 + 0.2 * (i % 5), 0.1 + 0.2 * (i // 5)) for i in range(25)] + [(0.5, 0.5)], [0.16] * 25 + [0.01]\n",
			"circle 0 crosses the left side", nil},
		{"overlap by 1e-3", strings.Replace(grid, "EXTRA", "-1e-3", 1), "circles 0 and 25 overlap by 0.001", nil},
		{"overlap by 2e-9", strings.Replace(grid, "EXTRA", "-2e-9", 1), "circles 0 and 25 overlap by 2e-09", nil},
		{"outside the square",
			"def construct_packing():\n    return [(0.05 + 0.036 * i, 0.5) for i in range(26)], [0.01] * 25 + [0.2]\n",
			"circle 25 crosses the right side", nil},
		{"nan radius", "def construct_packing():\n    return [(0.5, 0.5)] * 26, [float('nan')] * 26\n", "circle 0 is not finite", nil},
		{"infinite centre", "def construct_packing():\n    return [(float('inf'), 0.5)] * 26, [0.0] * 26\n", "circle 0 is not finite", nil},
		{"negative radius",
			"def construct_packing():\n    return [(0.1 + 0.2 * (i % 5), 0.1 + 0.2 * (i // 5)) for i in range(25)] + [(0.5, 0.5)], [0.1] * 25 + [-0.5]\n",
			"circle 25 has a negative radius", nil},
		{"25 circles", "def construct_packing():\n    return [(0.5, 0.5)] * 25, [0.0] * 25\n", "expected 26 centres and 26 radii, got 25 centres and 25 radii", nil},
		{"27 radii", "def construct_packing():\n    return [(0.5, 0.5)] * 26, [0.0] * 27\n", "got 26 centres and 27 radii", nil},
		{"three coordinates", "def construct_packing():\n    return [(0.5, 0.5, 0.5)] * 26, [0.0] * 26\n", "centre 0 has 3 coordinates", nil},
		{"not numbers", "def construct_packing():\n    return [('a', 'b')] * 26, [0.0] * 26\n", "non-numeric", nil},
		{"not a pair", "def construct_packing():\n    return 1.0\n", "must return (centers, radii)", nil},
		{"no function", "x = 1\n", "no construct_packing", nil},
		{"exception", "def construct_packing():\n    raise RuntimeError('no layout today')\n", "no layout today", nil},
		{"exit", "import sys\ndef construct_packing():\n    sys.exit(0)\n", "printed no result", nil},
		{"forged result line",
			"import json, sys\ndef construct_packing():\n    print('@@circle-packing-result@@' + json.dumps({'centers': 5, 'radii': []}))\n    sys.exit(0)\n",
			"not a list of (x, y) centres", nil},
		{"infinite loop", "def construct_packing():\n    while True:\n        pass\n", "did not finish within 1s",
			[]string{"EVOLVE_DEMO_CHILD_TIMEOUT=1"}},
	}
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			r := evaluate(t, dir, writeProgram(t, dir, "candidate.py", c.src), c.env...)
			if r.Score != 0 || r.Metrics["valid"] != 0.0 {
				t.Errorf("score %v, metrics %v; want 0 and valid 0", r.Score, r.Metrics)
			}
			if !strings.Contains(r.Feedback, c.feedback) {
				t.Errorf("feedback %q does not contain %q", r.Feedback, c.feedback)
			}
		})
	}
}

// TestCirclePackingMutationsStayValid: the offline researcher's literal
// mutations of the initial program must give valid packings (the radii are
// derived from the centres), and some must beat the initial score.
func TestCirclePackingMutationsStayValid(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 evaluations")
	}
	dir := copyDemo(t, "circle_packing_demo")
	const program = "experiments/circle_packing_demo/initial_program.py"
	src, err := os.ReadFile(filepath.Join(dir, "initial_program.py"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	better := 0
	for i := range 20 {
		p, err := agents.OfflineResearcher{}.Propose(context.Background(), evolve.ResearchInput{
			Exp:      "circle_packing_demo",
			Parent:   evolve.Node{Files: map[string]string{program: string(src)}},
			Editable: []string{program},
		}, rng)
		if err != nil || p.Invalid != "" {
			t.Fatalf("proposal %d: %v %s", i, err, p.Invalid)
		}
		r := evaluate(t, dir, writeProgram(t, dir, "mutant.py", string(p.Files[program])))
		if r.Metrics["valid"] != 1.0 {
			t.Errorf("mutation %d (%s) gave an invalid packing: %s", i, p.Title, r.Feedback)
		}
		if r.Score > 0.97 {
			better++
		}
	}
	if better == 0 {
		t.Errorf("none of 20 mutations beat the initial score: the constants do not steer the packing")
	}
}

func TestInferSchedulerEvaluator(t *testing.T) {
	dir := copyDemo(t, "infer_scheduler")
	initialPath := filepath.Join(dir, "initial_program.py")

	fcfs := evaluate(t, dir, initialPath)
	if fcfs.Score <= 0 || fcfs.Metrics["valid"] != 1.0 || fcfs.Metrics["completed"] != 600.0 {
		t.Fatalf("FCFS: score %v, metrics %v, feedback %q; want a positive score with all 600 requests completed",
			fcfs.Score, fcfs.Metrics, fcfs.Feedback)
	}
	if p99, _ := fcfs.Metrics["p99_latency_ms"].(float64); p99 <= 0 || p99 >= 500 {
		t.Errorf("FCFS: P99 latency %v ms, want in (0, 500)", fcfs.Metrics["p99_latency_ms"])
	}
	for _, k := range []string{"throughput", "p50_latency_ms", "preemptions", "rate_rps"} {
		if _, ok := fcfs.Metrics[k]; !ok {
			t.Errorf("FCFS: metric %s missing from %v", k, fcfs.Metrics)
		}
	}
	again := evaluate(t, dir, initialPath)
	if again.Score != fcfs.Score {
		t.Errorf("not deterministic: %v then %v", fcfs.Score, again.Score)
	}

	// Shortest prompt first (with ageing) sustains a higher load than FCFS.
	src, err := os.ReadFile(initialPath)
	if err != nil {
		t.Fatal(err)
	}
	sjf := strings.Replace(string(src), "LENGTH_WEIGHT = 0.0", "LENGTH_WEIGHT = 2.0", 1)
	if sjf == string(src) {
		t.Fatal("initial_program.py has no 'LENGTH_WEIGHT = 0.0' line to change")
	}
	if r := evaluate(t, dir, writeProgram(t, dir, "sjf.py", sjf)); r.Score <= fcfs.Score*1.1 {
		t.Errorf("shortest-first scores %v (%s), want well above FCFS's %v", r.Score, r.Feedback, fcfs.Score)
	}

	bad := []struct {
		name, src, feedback string
		env                 []string
	}{
		{"exception", "def schedule(queue, free):\n    raise ValueError('boom')\n", "schedule() raised ValueError: boom", nil},
		{"unknown id", "def schedule(queue, free):\n    return [123456789] if queue else []\n", "id 123456789, which is not in the queue", nil},
		{"string ids", "def schedule(queue, free):\n    return [str(r['id']) for r in queue]\n", "not a request id", nil},
		{"duplicate ids", "def schedule(queue, free):\n    return [queue[0]['id']] * 2 if queue else []\n", "twice", nil},
		{"not a list", "def schedule(queue, free):\n    return None\n", "must return a list of ids", nil},
		{"admits nothing", "def schedule(queue, free):\n    return []\n", "fails even at the lowest load", nil},
		{"no function", "x = 1\n", "defines no schedule", nil},
		{"exit", "import sys\nsys.exit(0)\n", "without a result", nil},
		{"infinite loop", "def schedule(queue, free):\n    while True:\n        pass\n", "did not finish within 1s",
			[]string{"EVOLVE_DEMO_CHILD_TIMEOUT=1"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := evaluate(t, dir, writeProgram(t, dir, "candidate.py", c.src), c.env...)
			if r.Score != 0 {
				t.Errorf("score %v, want 0", r.Score)
			}
			if !strings.Contains(r.Feedback, c.feedback) {
				t.Errorf("feedback %q does not contain %q", r.Feedback, c.feedback)
			}
		})
	}
}
