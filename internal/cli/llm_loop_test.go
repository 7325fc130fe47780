package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

// gitRun runs the real git CLI in dir with a private HOME and identity.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// runMain runs the CLI in-process with the given environment.
func runMain(t *testing.T, dir string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(append([]string{"git-evolve", "-C", dir}, args...), IO{
		Out: &out, Err: &errb,
		Getenv: func(k string) string { return env[k] },
		Now:    time.Now,
	})
	return code, out.String(), errb.String()
}

// newExperimentRepo makes a repository with the scaffolded experiment "exp",
// committed, and returns its path.
func newExperimentRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q")
	if code, _, errs := runMain(t, dir, nil, "init", "exp"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	return dir
}

const fakeKey = "sk-test-3f9a0c1e5b7d2468ace0" // never a real key

var aLine = regexp.MustCompile(`(?m)^A = (-?[0-9.]+)$`)

// TestLLMLoopEndToEnd runs `step --steps 5 --workers 2` against a fake
// OpenAI-compatible server: every candidate gets its three events, tokens and
// cost are recorded, and the API key reaches neither git nor the evaluation.
func TestLLMLoopEndToEnd(t *testing.T) {
	dir := newExperimentRepo(t)
	// An evaluator that would leak its whole environment into the notes.
	eval := `#!/bin/sh
set -eu
python3 - "$1" <<'PY'
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("c", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
xs = [i / 10 for i in range(-20, 21)]
err = sum((m.predict(x) - (3*x*x - 2*x + 0.75)) ** 2 for x in xs) / len(xs)
print(json.dumps({"score": -err, "metrics": {"env": " ".join("%s=%s" % kv for kv in os.environ.items())}}))
PY
`
	if err := os.WriteFile(filepath.Join(dir, "experiments/exp/eval.sh"), []byte(eval), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "evolve:\n  files: [experiments/exp/initial_program.py]\napi:\n  pricing:\n    gpt-4o-mini: {prompt: 0.15, completion: 0.6}\n"
	if err := os.WriteFile(filepath.Join(dir, "experiments/exp/config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "experiment")

	srv := fakeopenai.New(t)
	var researcherCalls, analyzerCalls atomic.Int32
	srv.SetDefault(func(r fakeopenai.Request) fakeopenai.Response {
		if r.Chat == nil || len(r.Chat.Messages) == 0 {
			return fakeopenai.Response{Status: 400}
		}
		if strings.Contains(r.Chat.Messages[0].Content, "You analyse") {
			analyzerCalls.Add(1)
			return fakeopenai.Response{Content: "ANALYSIS: the leading coefficient moved towards 3.\nLESSONS:\n- move A towards the curvature of the target\n", PromptTokens: 300, CompletionTokens: 40}
		}
		n := researcherCalls.Add(1)
		m := aLine.FindStringSubmatch(r.Chat.Last())
		if m == nil {
			return fakeopenai.Response{Content: "I cannot see the program."}
		}
		old, _ := strconv.ParseFloat(m[1], 64)
		reply := fmt.Sprintf("TITLE: raise A (%d)\nMOTIVATION: the target is steeper than the program.\n\nexperiments/exp/initial_program.py\n```python\n<<<<<<< SEARCH\nA = %s\n=======\nA = %g\n>>>>>>> REPLACE\n```\n", n, m[1], old+0.25)
		return fakeopenai.Response{Content: reply, PromptTokens: 1000, CompletionTokens: 100}
	})
	t.Setenv("OPENAI_API_KEY", fakeKey) // the evaluation inherits the process environment
	env := map[string]string{"OPENAI_API_KEY": fakeKey, "OPENAI_BASE_URL": srv.URL()}
	code, out, errs := runMain(t, dir, env, "step", "-e", "exp", "--steps", "5", "--workers", "2", "--seed", "1")
	if code != 0 {
		t.Fatalf("step exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.HasPrefix(out, "researcher: model gpt-4o-mini at "+srv.URL()) {
		t.Errorf("first line should name the model and endpoint, got %q", strings.SplitN(out, "\n", 2)[0])
	}
	if researcherCalls.Load() != 5 || analyzerCalls.Load() != 5 {
		t.Errorf("calls: researcher %d analyzer %d, want 5 and 5", researcherCalls.Load(), analyzerCalls.Load())
	}
	for _, r := range srv.Requests() {
		if got := r.Header.Get("Authorization"); got != "Bearer "+fakeKey {
			t.Errorf("request %s sent Authorization %q", r.Path, got)
		}
	}
	// The cognition store primes the prompts: the experiment's knowledge file
	// from the first step on, and the Analyzer's lessons in later steps.
	var sawFile, sawLesson bool
	for _, r := range srv.ChatRequests() {
		if strings.Contains(r.Messages[0].Content, "You analyse") {
			continue
		}
		p := r.Last()
		sawFile = sawFile || strings.Contains(p, "Fit the curvature first")
		sawLesson = sawLesson || strings.Contains(p, "move A towards the curvature of the target")
	}
	if !sawFile || !sawLesson {
		t.Errorf("cognition missing from the Researcher's prompts: file item %v, lesson %v", sawFile, sawLesson)
	}

	code, js, errs := runMain(t, dir, nil, "log", "-e", "exp", "--all", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	if strings.Count(js, `"rank":`) != 6 {
		t.Fatalf("want baseline + 5 candidates:\n%s", js)
	}
	ids := strings.Fields(gitRun(t, dir, "for-each-ref", "--format=%(objectname)", "refs/evolve/exp/"))
	var withTokens int
	for _, id := range ids {
		note := gitRun(t, dir, "notes", "--ref=evolve", "show", id)
		if !strings.Contains(note, `"event":"evaluated"`) {
			t.Errorf("%s has no evaluated event:\n%s", id, note)
		}
		if strings.Contains(note, `"title":"baseline"`) {
			continue
		}
		for _, ev := range []string{`"event":"proposed"`, `"event":"analyzed"`, `"tokens":{"prompt":1000,"completion":100}`, `"cost_usd":`, `"lessons":["move A towards`} {
			if !strings.Contains(note, ev) {
				t.Errorf("note of %s lacks %s:\n%s", id[:8], ev, note)
			}
		}
		withTokens++
	}
	if withTokens != 5 {
		t.Errorf("%d candidates with LLM records, want 5", withTokens)
	}

	// The key is in no git object, no output, and not in the evaluation's environment.
	all := gitRun(t, dir, "cat-file", "--batch-all-objects", "--batch")
	if !strings.Contains(all, "EVOLVE_CANDIDATE=") {
		t.Fatal("the evaluator's environment dump is missing: the leak check would prove nothing")
	}
	if strings.Contains(all, fakeKey) || strings.Contains(out, fakeKey) || strings.Contains(errs, fakeKey) {
		t.Fatal("the API key leaked into git objects or output")
	}
	walk := filepath.Join(dir, ".git")
	_ = filepath.Walk(walk, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Size() > 10<<20 {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(fakeKey)) {
			t.Errorf("the API key is in %s", p)
		}
		return nil
	})
	gitRun(t, dir, "fsck", "--strict")
}

// commitExperiment commits the experiment so that the baseline has it.
func commitExperiment(t *testing.T, dir string) {
	t.Helper()
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "experiment")
}

func editReply(r fakeopenai.Request) fakeopenai.Response {
	if strings.Contains(r.Chat.Messages[0].Content, "You analyse") {
		return fakeopenai.Response{Content: "ANALYSIS: fine.\nLESSONS:\n- keep going\n", PromptTokens: 10, CompletionTokens: 10}
	}
	m := aLine.FindStringSubmatch(r.Chat.Last())
	old, _ := strconv.ParseFloat(m[1], 64)
	return fakeopenai.Response{Content: fmt.Sprintf("TITLE: t\nMOTIVATION: m\n\nexperiments/exp/initial_program.py\n<<<<<<< SEARCH\nA = %s\n=======\nA = %g\n>>>>>>> REPLACE\n", m[1], old+0.1),
		PromptTokens: 100000, CompletionTokens: 10000}
}

// TestBudgetStopsTheRunCleanly: budget.max_usd stops before the call that
// would pass it, with exit code 3, and what was recorded stays consistent.
func TestBudgetStopsTheRunCleanly(t *testing.T) {
	dir := newExperimentRepo(t)
	// each researcher call costs 0.1M*1 + 0.01M*2 = $0.12; the budget allows two such calls
	cfg := "evolve:\n  files: [experiments/exp/initial_program.py]\napi:\n  pricing:\n    gpt-4o-mini: {prompt: 1, completion: 2}\nbudget:\n  max_usd: 0.3\n"
	if err := os.WriteFile(filepath.Join(dir, "experiments/exp/config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	commitExperiment(t, dir)
	srv := fakeopenai.New(t)
	srv.SetDefault(editReply)
	env := map[string]string{"OPENAI_API_KEY": fakeKey, "OPENAI_BASE_URL": srv.URL()}
	code, out, errs := runMain(t, dir, env, "step", "-e", "exp", "--steps", "10")
	if code != ExitBudget {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitBudget, out, errs)
	}
	if !strings.Contains(errs, "budget reached") || !strings.Contains(errs, "budget.max_usd") {
		t.Errorf("stderr should explain the budget: %s", errs)
	}
	_, js, _ := runMain(t, dir, nil, "log", "-e", "exp", "--all", "--json")
	n := strings.Count(js, `"rank":`) - 1
	if n < 1 || n > 2 {
		t.Fatalf("%d candidates were made under a $0.30 budget at $0.12+ a step", n)
	}
	if strings.Contains(js, `"status": "pending"`) {
		t.Error("a candidate was left pending by a budget stop")
	}
	var spent float64
	for _, m := range regexp.MustCompile(`"cost_usd": ([0-9.]+)`).FindAllStringSubmatch(js, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		spent += v
	}
	if spent > 0.3 {
		t.Errorf("spent $%.3f, more than budget.max_usd", spent)
	}
}

// TestAuthErrorStopsAtOnce: a 401 is not retried and the run stops with a hint.
func TestAuthErrorStopsAtOnce(t *testing.T) {
	dir := newExperimentRepo(t)
	commitExperiment(t, dir)
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{Status: 401, ErrorMessage: "Incorrect API key provided"})
	env := map[string]string{"OPENAI_API_KEY": fakeKey, "OPENAI_BASE_URL": srv.URL()}
	code, out, errs := runMain(t, dir, env, "step", "-e", "exp", "--steps", "5")
	if code != ExitError {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if len(srv.Requests()) != 1 {
		t.Errorf("%d requests; a 401 must not be retried", len(srv.Requests()))
	}
	if !strings.Contains(errs, "hint:") || strings.Contains(errs+out, fakeKey) {
		t.Errorf("stderr: %s", errs)
	}
	// the baseline was evaluated; no candidate was made
	_, js, _ := runMain(t, dir, nil, "log", "-e", "exp", "--all", "--json")
	if strings.Count(js, `"rank":`) != 1 {
		t.Errorf("want the baseline only:\n%s", js)
	}
}
