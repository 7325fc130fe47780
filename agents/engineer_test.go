//go:build linux

package agents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// evalSetup copies testdata/eval/<script> with the given mode into the
// experiment folder of a fresh workspace and returns a request for it. Every
// request has its own candidate id, which its processes inherit as
// EVOLVE_CANDIDATE: assertNoLeftovers looks for it.
func evalSetup(t testing.TB, script string, mode os.FileMode) evolve.EvalRequest {
	t.Helper()
	ws := t.TempDir()
	work := filepath.Join(ws, "experiments", "demo")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	program := filepath.Join(work, "initial_program.py")
	if err := os.WriteFile(program, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "eval", script))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(work, script)
	if err := os.WriteFile(dst, src, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil { // WriteFile's mode is filtered by the umask
		t.Fatal(err)
	}
	var id [20]byte
	_, _ = rand.Read(id[:])
	return evolve.EvalRequest{
		Exp:       "demo",
		Candidate: hex.EncodeToString(id[:]),
		Workspace: ws,
		Script:    dst,
		Program:   program,
		WorkDir:   work,
		Timeout:   10 * time.Second,
		Config:    evolve.EvalConfig{MaxOutput: 1 << 20},
	}
}

// assertNoLeftovers fails when any process of the evaluation is still alive
// (or a zombie): those whose environment carries its candidate id, and those
// whose pids the scripts wrote to the file pids in the working directory.
func assertNoLeftovers(t *testing.T, req evolve.EvalRequest) {
	t.Helper()
	needle := []byte("EVOLVE_CANDIDATE=" + req.Candidate + "\x00")
	for _, p := range listProcs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/environ")
		if err == nil && bytes.Contains(env, needle) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline")
			t.Errorf("process %d (%q, state %c) of the evaluation is still alive", p.pid, cmdline, p.state)
		}
	}
	b, err := os.ReadFile(filepath.Join(req.WorkDir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pids file holds %q", f)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			p, _ := readProc(pid)
			t.Errorf("process %d started by the evaluation still exists (state %c, kill -0: %v)", pid, p.state, err)
		}
	}
}

func pidCount(t *testing.T, req evolve.EvalRequest) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(req.WorkDir, "pids"))
	return len(strings.Fields(string(b)))
}

func wantStatus(t *testing.T, got evolve.EvalResult, want evolve.Status, reasonHas ...string) {
	t.Helper()
	if got.Status != want {
		t.Fatalf("status = %q, want %q (reason %q, stderr %q, stdout %q)", got.Status, want, got.Reason, got.StderrTail, got.StdoutTail)
	}
	for _, s := range reasonHas {
		if !strings.Contains(got.Reason, s) {
			t.Errorf("reason %q does not mention %q", got.Reason, s)
		}
	}
	if want == evolve.StatusOK {
		if got.Score == nil {
			t.Error("ok result without a score")
		}
		if got.Reason != "" || got.StderrTail != "" || got.StdoutTail != "" {
			t.Errorf("ok result keeps reason %q / tails %q %q", got.Reason, got.StderrTail, got.StdoutTail)
		}
	} else if got.Score != nil {
		t.Errorf("%s result has score %v", want, *got.Score)
	}
	if len(got.StderrTail) > tailLimit || len(got.StdoutTail) > tailLimit {
		t.Errorf("tails of %d and %d bytes exceed %d", len(got.StderrTail), len(got.StdoutTail), tailLimit)
	}
}

func wantScore(t *testing.T, got evolve.EvalResult, want float64) {
	t.Helper()
	if got.Score == nil || *got.Score != want {
		t.Fatalf("score = %v, want %v", got.Score, want)
	}
}

func TestEvaluateOK(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "ok.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	wantScore(t, got, 1.5)
	if got.Feedback != "fine" || got.Metrics["n"] != 3.0 || got.Metrics["name"] != "ok" {
		t.Errorf("feedback %q metrics %v", got.Feedback, got.Metrics)
	}
	if got.ExitCode == nil || *got.ExitCode != 0 || got.Signal != "" {
		t.Errorf("exit code %v signal %q", got.ExitCode, got.Signal)
	}
	if got.Duration <= 0 {
		t.Error("no duration")
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateInfiniteLoopTimesOut(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "loop.sh", 0o755)
	req.Timeout = 0
	req.Config.Timeout = evolve.Duration(time.Second) // the config's timeout applies without req.Timeout
	start := time.Now()
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusTimeout, "timed out after 1s")
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("Evaluate took %s for a 1s timeout", took)
	}
	if got.Signal != "SIGKILL" {
		t.Errorf("signal = %q, want SIGKILL", got.Signal)
	}
	if !strings.Contains(got.StdoutTail, "looping") {
		t.Errorf("stdout tail %q lost the output before the timeout", got.StdoutTail)
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateCancelled(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "loop.sh", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	got := (&Engineer{}).Evaluate(ctx, req)
	wantStatus(t, got, evolve.StatusFailed, "cancelled")
	assertNoLeftovers(t, req)

	got = (&Engineer{}).Evaluate(ctx, req) // already cancelled: nothing starts
	wantStatus(t, got, evolve.StatusFailed, "cancelled before")
}

func TestEvaluateGrandchildHoldingStdout(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "grandchild.sh", 0o755)
	start := time.Now()
	got := (&Engineer{Grace: 100 * time.Millisecond}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Evaluate took %s: it waited for the grandchild", took)
	}
	if n := pidCount(t, req); n != 2 {
		t.Errorf("pids file has %d pids, want 2", n)
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateDaemon(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "daemon.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	if pidCount(t, req) != 1 {
		t.Fatal("the daemon did not start")
	}
	assertNoLeftovers(t, req)
}

// TestEvaluateDaemonWithoutEnvironment is not parallel: a daemon that cleared
// its environment can only be attributed when no other evaluation runs.
func TestEvaluateDaemonWithoutEnvironment(t *testing.T) {
	req := evalSetup(t, "daemon_noenv.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	if pidCount(t, req) != 1 {
		t.Fatal("the daemon did not start")
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateManyProcesses(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "forkbomb.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	wantScore(t, got, 2)
	if n := pidCount(t, req); n != 50 {
		t.Errorf("pids file has %d pids, want 50", n)
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateManyProcessesTimeout(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "forkbomb.sh", 0o755)
	req.Timeout = 50 * time.Millisecond // killed while it is still forking (or, on a fast machine, just after)
	got := (&Engineer{Env: append(os.Environ(), "FORKBOMB_HANG=1")}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusTimeout)
	assertNoLeftovers(t, req)
}

// TestEvaluateHugeOutput is not parallel: it measures the allocations of the
// whole test binary.
func TestEvaluateHugeOutput(t *testing.T) {
	for _, exit := range []string{"0", "1"} {
		t.Run("exit"+exit, func(t *testing.T) {
			req := evalSetup(t, "bigout.sh", 0o755)
			req.Timeout = 60 * time.Second
			e := &Engineer{Env: append(os.Environ(), "BIG_EXIT="+exit)}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got := e.Evaluate(context.Background(), req)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("evaluating 200 MB of stdout allocated %d MiB", alloc>>20)
			}
			if exit == "0" {
				wantStatus(t, got, evolve.StatusOK)
				wantScore(t, got, 3)
			} else {
				wantStatus(t, got, evolve.StatusFailed, "status 1")
				if len(got.StdoutTail) != tailLimit || !strings.HasSuffix(got.StdoutTail, `{"score": 3}`+"\n") {
					t.Errorf("stdout tail is %d bytes ending %q", len(got.StdoutTail), got.StdoutTail[max(0, len(got.StdoutTail)-20):])
				}
				if got.StderrTail != "big error output\n" {
					t.Errorf("stderr tail %q", got.StderrTail)
				}
			}
			assertNoLeftovers(t, req)
		})
	}
}

func TestEvaluateBadResults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		status evolve.Status
		reason []string
	}{
		{"nojson.sh", evolve.StatusFailed, []string{"no result", "looks like a JSON object does not parse"}},
		{"nan.sh", evolve.StatusInvalid, []string{"score is NaN, not a finite number"}},
		{"inf.sh", evolve.StatusInvalid, []string{"score is Infinity, not a finite number"}},
		{"string.sh", evolve.StatusInvalid, []string{`score is the string "0.5"`}},
		{"missing.sh", evolve.StatusInvalid, []string{"no score"}},
		{"truncated.sh", evolve.StatusInvalid, []string{"results.json at ", "evolve-eval-", "truncated"}},
		{"truncated_cwd.sh", evolve.StatusInvalid, []string{"results.json at ", filepath.Join("experiments", "demo", "results.json"), "truncated"}},
		{"kill9.sh", evolve.StatusFailed, []string{"killed by signal SIGKILL"}},
		{"asi_fail.sh", evolve.StatusFailed, []string{"success: false"}},
		{"exitjson.sh", evolve.StatusFailed, []string{"exited with status 3 after writing a result", "score is not recorded"}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			req := evalSetup(t, tt.script, 0o755)
			got := (&Engineer{}).Evaluate(context.Background(), req)
			wantStatus(t, got, tt.status, tt.reason...)
			assertNoLeftovers(t, req)
		})
	}
}

func TestEvaluateBadResultDetails(t *testing.T) {
	t.Parallel()
	run := func(script string) evolve.EvalResult {
		req := evalSetup(t, script, 0o755)
		got := (&Engineer{}).Evaluate(context.Background(), req)
		assertNoLeftovers(t, req)
		return got
	}
	if got := run("nojson.sh"); got.StdoutTail != "hello\n{this is not json}\n" || got.StderrTail != "something went wrong\n" {
		t.Errorf("tails %q / %q", got.StdoutTail, got.StderrTail)
	}
	if got := run("nan.sh"); got.Metrics["loss"] != "NaN" {
		t.Errorf("a NaN metric became %#v, want the string NaN", got.Metrics["loss"])
	}
	if got := run("inf.sh"); got.Metrics["low"] != "-Infinity" {
		t.Errorf("a -Infinity metric became %#v", got.Metrics["low"])
	}
	if got := run("missing.sh"); got.Feedback != "forgot the score" || got.Metrics["accuracy"] != 0.9 {
		t.Errorf("feedback %q metrics %v", got.Feedback, got.Metrics)
	}
	got := run("kill9.sh")
	if got.Signal != "SIGKILL" || got.ExitCode != nil {
		t.Errorf("signal %q exit code %v", got.Signal, got.ExitCode)
	}
	if got.StdoutTail != "about to die\n" || got.StderrTail != "dying\n" {
		t.Errorf("tails %q / %q", got.StdoutTail, got.StderrTail)
	}
	got = run("exitjson.sh")
	if got.ExitCode == nil || *got.ExitCode != 3 || got.Feedback != "crashed late" || got.Metrics["steps"] != 10.0 {
		t.Errorf("exit %v feedback %q metrics %v", got.ExitCode, got.Feedback, got.Metrics)
	}
	if got := run("asi_fail.sh"); got.Feedback != "Evaluation failed. See eval.log for details." {
		t.Errorf("feedback %q", got.Feedback)
	}
}

func TestEvaluateScriptProblems(t *testing.T) {
	t.Parallel()
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "ok.sh", 0o755)
		req.Script = filepath.Join(req.WorkDir, "nope.sh")
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusFailed, req.Script, "does not exist")
	})
	t.Run("relative", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "ok.sh", 0o755)
		req.Script = "experiments/demo/ok.sh"
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusFailed, "not an absolute path")
	})
	t.Run("not executable", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "noexec", 0o644)
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusFailed, req.Script, "not executable", "chmod +x")
	})
	t.Run("not executable .sh runs with sh", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "noexec.sh", 0o644)
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusOK)
		wantScore(t, got, 4)
	})
	t.Run("not executable .py runs with python3", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("no python3")
		}
		req := evalSetup(t, "noexec.py", 0o644)
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusOK)
		wantScore(t, got, 4.5)
		if got.Metrics["argv1"] != req.Program {
			t.Errorf("$1 = %v, want %s", got.Metrics["argv1"], req.Program)
		}
	})
	t.Run("executable without #! line", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "noshebang.sh", 0o755)
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusOK)
		wantScore(t, got, 6)
	})
	t.Run("missing working directory", func(t *testing.T) {
		t.Parallel()
		req := evalSetup(t, "ok.sh", 0o755)
		req.WorkDir = filepath.Join(req.Workspace, "gone")
		got := (&Engineer{}).Evaluate(context.Background(), req)
		wantStatus(t, got, evolve.StatusFailed, req.WorkDir)
	})
}

func TestEvaluateScriptDeletesWorkspace(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "rmworkspace.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	wantScore(t, got, 5)
	if _, err := os.Stat(req.Workspace); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the script did not delete its workspace: %v", err)
	}
	assertNoLeftovers(t, req)
}

func TestEvaluateASIEvolveResults(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "asi.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	wantScore(t, got, 2.61) // eval_score wins over combined_score, as in ASI-Evolve
	want := map[string]any{"sum_radii": 2.61, "validity": 1.0, "combined_score": 0.99}
	for k, v := range want {
		if got.Metrics[k] != v {
			t.Errorf("metric %s = %#v, want %v (metrics %v)", k, got.Metrics[k], v, got.Metrics)
		}
	}
	for _, k := range []string{"success", "temp", "eval_score"} {
		if _, ok := got.Metrics[k]; ok {
			t.Errorf("metrics hold %q: %v", k, got.Metrics)
		}
	}
}

func TestEvaluateIgnoresStaleResultsFile(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "silent.sh", 0o755)
	stale := filepath.Join(req.WorkDir, "results.json")
	if err := os.WriteFile(stale, []byte(`{"eval_score": 99, "success": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusFailed, "no result")
}

func TestEvaluateEnvironment(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "env.sh", 0o755)
	req.KeyEnv = []string{"MY_LLM_KEY"}
	req.Config.DenyEnv = []string{"DENIED_ONE", "PATTERN_*"}
	e := &Engineer{Env: []string{
		"PATH=" + os.Getenv("PATH"),
		"OPENAI_API_KEY=sk-leak", "GITHUB_TOKEN=ghp-leak", "GH_TOKEN=gh-leak",
		"ACTIONS_RUNTIME_TOKEN=rt-leak", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=id-leak",
		"HF_TOKEN=hf-leak", "ANTHROPIC_API_KEY=a-leak", "AWS_SECRET_ACCESS_KEY=aws-leak", "DB_PASSWORD=pw-leak",
		"MY_LLM_KEY=key-leak", "DENIED_ONE=d-leak", "PATTERN_A=p-leak", "PATTERN_B=p-leak",
		"HARMLESS=kept", "CUDA_VISIBLE_DEVICES=0",
		"PWD=/somewhere/else", "EVOLVE_CANDIDATE=spoofed",
	}}
	got := e.Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	env := readEnvFile(t, filepath.Join(req.WorkDir, "env.txt"))
	for name, v := range env {
		if strings.Contains(v, "leak") {
			t.Errorf("%s=%s is visible to the evaluation", name, v)
		}
	}
	if env["HARMLESS"] != "kept" || env["CUDA_VISIBLE_DEVICES"] != "0" {
		t.Errorf("ordinary variables were removed: %v", env)
	}
	if env["EVOLVE_CANDIDATE"] != req.Candidate || env["EVOLVE_EXPERIMENT"] != "demo" ||
		env["EVOLVE_WORKSPACE"] != req.Workspace || env["PWD"] != req.WorkDir {
		t.Errorf("EVOLVE_* / PWD wrong: %v", env)
	}
	if len(env[runIDEnv]) != 24 {
		t.Errorf("%s = %q", runIDEnv, env[runIDEnv])
	}
	if !strings.HasSuffix(env["EVOLVE_RESULTS"], "/results.json") || env["EVOLVE_ARTIFACTS"] == "" {
		t.Errorf("EVOLVE_RESULTS %q EVOLVE_ARTIFACTS %q", env["EVOLVE_RESULTS"], env["EVOLVE_ARTIFACTS"])
	}
	// The per-evaluation folder is gone afterwards.
	if _, err := os.Stat(filepath.Dir(env["EVOLVE_RESULTS"])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the folder of EVOLVE_RESULTS was left behind: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(req.WorkDir, "argv1.txt")); string(b) != req.Program+"\n" {
		t.Errorf("$1 = %q, want %q", b, req.Program)
	}
	if b, _ := os.ReadFile(filepath.Join(req.WorkDir, "pwd.txt")); string(b) != req.WorkDir+"\n" {
		t.Errorf("working directory %q, want %q", b, req.WorkDir)
	}
}

// TestEvaluateProcessEnvironment is not parallel: it sets variables of the
// test process, which the Engineer inherits by default.
func TestEvaluateProcessEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-process-leak")
	t.Setenv("GITHUB_TOKEN", "ghp-process-leak")
	t.Setenv("EVOLVE_TEST_VISIBLE", "yes")
	req := evalSetup(t, "env.sh", 0o755)
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	env := readEnvFile(t, filepath.Join(req.WorkDir, "env.txt"))
	if _, ok := env["OPENAI_API_KEY"]; ok {
		t.Error("OPENAI_API_KEY is visible to the evaluation")
	}
	if _, ok := env["GITHUB_TOKEN"]; ok {
		t.Error("GITHUB_TOKEN is visible to the evaluation")
	}
	if env["EVOLVE_TEST_VISIBLE"] != "yes" || env["EVOLVE_CANDIDATE"] != req.Candidate {
		t.Errorf("environment %v", env)
	}
}

func readEnvFile(t *testing.T, p string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestEvaluateArtifactsDir(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "env.sh", 0o755)
	keep := t.TempDir()
	got := (&Engineer{ArtifactsDir: keep}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	env := readEnvFile(t, filepath.Join(req.WorkDir, "env.txt"))
	if want := filepath.Join(keep, req.Candidate); env["EVOLVE_ARTIFACTS"] != want {
		t.Errorf("EVOLVE_ARTIFACTS = %q, want %q", env["EVOLVE_ARTIFACTS"], want)
	}
	if st, err := os.Stat(env["EVOLVE_ARTIFACTS"]); err != nil || !st.IsDir() {
		t.Errorf("artifacts folder not kept: %v", err)
	}
}

func TestEvaluateMemoryLimit(t *testing.T) {
	t.Parallel()
	req := evalSetup(t, "memlimit.sh", 0o755)
	req.Config.MemoryLimit = 512 << 20
	got := (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusOK)
	if got.Metrics["ulimit_v"] != strconv.Itoa(512<<10) {
		t.Errorf("ulimit -v inside the evaluation = %v, want %d KiB", got.Metrics["ulimit_v"], 512<<10)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		return
	}
	// A real allocation beyond the limit fails.
	script := filepath.Join(req.WorkDir, "alloc.py")
	if err := os.WriteFile(script, []byte("x = bytearray(400 << 20)\nprint('{\"score\": 1}')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Script = script
	req.Config.MemoryLimit = 200 << 20
	got = (&Engineer{}).Evaluate(context.Background(), req)
	wantStatus(t, got, evolve.StatusFailed, "status 1")
	if !strings.Contains(got.StderrTail, "MemoryError") {
		t.Errorf("stderr tail %q does not show a MemoryError", got.StderrTail)
	}
}

// TestEvaluateConcurrent runs evaluations that leave processes behind next to
// one whose background helper must survive them: cleaning up one evaluation
// never touches another's processes.
func TestEvaluateConcurrent(t *testing.T) {
	t.Parallel()
	e := &Engineer{}
	busy := evalSetup(t, "busy.sh", 0o755)
	var wg sync.WaitGroup
	var busyResult evolve.EvalResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		busyResult = e.Evaluate(context.Background(), busy)
	}()
	var reqs []evolve.EvalRequest
	for _, s := range []string{"grandchild.sh", "daemon.sh", "forkbomb.sh", "ok.sh"} {
		reqs = append(reqs, evalSetup(t, s, 0o755))
	}
	results := make([]evolve.EvalResult, len(reqs))
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(200 * time.Millisecond) // let busy.sh start its helper
			results[i] = e.Evaluate(context.Background(), reqs[i])
		}()
	}
	wg.Wait()
	wantStatus(t, busyResult, evolve.StatusOK)
	for i, r := range results {
		if r.Status != evolve.StatusOK {
			t.Errorf("%s: status %s (%s)", reqs[i].Script, r.Status, r.Reason)
		}
		assertNoLeftovers(t, reqs[i])
	}
	assertNoLeftovers(t, busy)
}

func TestTailBuffer(t *testing.T) {
	var want []byte
	b := newTailBuffer(10)
	for _, chunk := range []string{"abc", "", "defgh", "ijklmnop", "q", "0123456789ABC", "xy"} {
		b.Write([]byte(chunk))
		want = append(want, chunk...)
		keep := want[max(0, len(want)-10):]
		if got := b.Bytes(); !bytes.Equal(got, keep) {
			t.Fatalf("after %q: %q, want %q", chunk, got, keep)
		}
		if b.total != int64(len(want)) || b.Truncated() != (len(want) > 10) {
			t.Fatalf("total %d truncated %v", b.total, b.Truncated())
		}
	}
}

func TestTail(t *testing.T) {
	if got := tail([]byte("héllo"), 4); got != "llo" {
		t.Errorf("tail cut inside a rune: %q", got)
	}
	if got := tail([]byte("ok\xff"), 10); got != "ok\uFFFD" {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
	if got := tail(nil, 10); got != "" {
		t.Errorf("tail(nil) = %q", got)
	}
}

func TestLooksSecret(t *testing.T) {
	for _, n := range []string{"OPENAI_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN", "aws_secret_access_key",
		"AWS_ACCESS_KEY_ID", "CLIENT_SECRET", "PGPASSWORD", "ANTHROPIC_API_KEY", "TOKEN", "NPM_AUTH_TOKEN",
		"ACTIONS_ID_TOKEN_REQUEST_URL", "GOOGLE_CREDENTIALS"} {
		if !looksSecret(n) {
			t.Errorf("%s is not treated as a secret", n)
		}
	}
	for _, n := range []string{"PATH", "HOME", "CUDA_VISIBLE_DEVICES", "SSH_AUTH_SOCK", "TOKENIZERS_PARALLELISM",
		"PYTHONPATH", "KEYBOARD", "EVOLVE_RESULTS", "GITHUB_STEP_SUMMARY"} {
		if looksSecret(n) {
			t.Errorf("%s is treated as a secret", n)
		}
	}
}

func TestParseResult(t *testing.T) {
	tests := []struct {
		in       string
		score    float64
		why      string // substring of scoreValue's complaint; "" = a valid score
		parseErr bool
	}{
		{in: `{"score": 1}`, score: 1},
		{in: `{"score": -2.5e3}`, score: -2500},
		{in: `{"eval_score": 0.5, "combined_score": 0.9}`, score: 0.5},
		{in: `{"combined_score": 0.9}`, score: 0.9},
		{in: `{"score": 1, "eval_score": 2}`, score: 1},
		{in: `{"score": NaN}`, why: "NaN"},
		{in: `{"score": nan}`, why: "NaN"},
		{in: `{"score": -Infinity}`, why: "-Infinity"},
		{in: `{"score": +inf}`, why: "Infinity"},
		{in: `{"score": 1e999}`, why: "not a finite float64"},
		{in: `{"score": "NaN"}`, why: `the string "NaN"`},
		{in: `{"score": null}`, why: "null"},
		{in: `{"score": true}`, why: "not a number"},
		{in: `{"score": [1]}`, why: "not a number"},
		{in: `{"metrics": {}}`, why: "no score"},
		{in: `{"msg": "NaN Infinity inside strings", "score": 2}`, score: 2},
		{in: `{"msg": "escaped \" NaN", "score": 3}`, score: 3},
		{in: `{"score": 1`, parseErr: true},
		{in: `{"score": 1} {"score": 2}`, parseErr: true},
		{in: `null`, parseErr: true},
		{in: `[1]`, parseErr: true},
		{in: `{"score": Nope}`, parseErr: true},
		{in: ``, parseErr: true},
	}
	for _, tt := range tests {
		res, err := parseResult([]byte(tt.in))
		if (err != nil) != tt.parseErr {
			t.Errorf("parseResult(%s) error = %v, want error %v", tt.in, err, tt.parseErr)
			continue
		}
		if err != nil {
			continue
		}
		score, why := scoreValue(&res)
		if tt.why == "" && (why != "" || score != tt.score) {
			t.Errorf("%s: score %v (%q), want %v", tt.in, score, why, tt.score)
		}
		if tt.why != "" && !strings.Contains(why, tt.why) {
			t.Errorf("%s: complaint %q does not mention %q", tt.in, why, tt.why)
		}
	}
}

func TestLastJSONLine(t *testing.T) {
	out := "log {x}\n{\"score\": 1}\n{'python': 'repr'}\n  \nplain text\n"
	res, found, _ := lastJSONLine([]byte(out))
	if !found || string(res.score) != "1" {
		t.Errorf("found %v score %s", found, res.score)
	}
	_, found, broken := lastJSONLine([]byte("{'a': 1}\n"))
	if found || broken == "" {
		t.Errorf("a Python dict was taken for JSON (found %v, broken %q)", found, broken)
	}
	if _, found, _ := lastJSONLine([]byte("no json\r\n")); found {
		t.Error("found a result in plain text")
	}
	if res, found, _ := lastJSONLine([]byte("{\"score\": 2}\r\n")); !found || string(res.score) != "2" {
		t.Error("CRLF line not accepted")
	}
}

// FuzzParseResult checks that no input makes the result parser panic and that
// an accepted score is always finite.
func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"score": 1}`, `{"score": NaN, "metrics": {"a": [Infinity, -inf]}}`,
		`{"eval_score": "x", "temp": {"error": "e"}}`, `{"score": 1e999}`, `{"a": "\"NaN"}`, "{\"s\": -}", `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseResult(b)
		if err != nil {
			return
		}
		if score, why := scoreValue(&res); why == "" && (math.IsNaN(score) || math.IsInf(score, 0)) {
			t.Errorf("accepted non-finite score %v from %q", score, b)
		}
		_, _, _ = lastJSONLine(b)
	})
}

// BenchmarkEvaluateOverhead compares Evaluate with running the same script
// directly through os/exec; the difference of the medians is the runner's
// overhead (target: at most 20 ms).
func BenchmarkEvaluateOverhead(b *testing.B) {
	req := evalSetup(b, "ok.sh", 0o755)
	req.Script = filepath.Join(req.WorkDir, "score.sh")
	if err := os.WriteFile(req.Script, []byte("#!/bin/sh\necho '{\"score\":1}'\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Run("engineer", func(b *testing.B) {
		e := &Engineer{}
		var times []time.Duration
		for b.Loop() {
			start := time.Now()
			if r := e.Evaluate(context.Background(), req); r.Status != evolve.StatusOK {
				b.Fatalf("status %s: %s", r.Status, r.Reason)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
	b.Run("exec", func(b *testing.B) {
		var times []time.Duration
		for b.Loop() {
			start := time.Now()
			cmd := exec.Command(req.Script, req.Program)
			cmd.Dir = req.WorkDir
			if out, err := cmd.Output(); err != nil || !bytes.Contains(out, []byte("score")) {
				b.Fatalf("%v: %s", err, out)
			}
			times = append(times, time.Since(start))
		}
		reportMedian(b, times)
	})
}

func reportMedian(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sorted := slices.Clone(times)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds())/1000, "median-ms")
}
