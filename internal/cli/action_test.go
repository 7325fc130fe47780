package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// prEvent writes a pull_request event payload and returns its path.
func prEvent(t *testing.T, number int, head, headRepo, base, baseRepo string) string {
	t.Helper()
	ev := map[string]any{
		"action": "synchronize", "number": number,
		"pull_request": map[string]any{
			"number": number, "title": "exact constants", "body": "Fit the target exactly.",
			"html_url": fmt.Sprintf("https://github.example/%s/pull/%d", baseRepo, number),
			"head":     map[string]any{"sha": head, "ref": "feature", "repo": map[string]any{"full_name": headRepo}},
			"base":     map[string]any{"sha": base, "ref": "main", "repo": map[string]any{"full_name": baseRepo}},
		},
		"repository": map[string]any{"full_name": baseRepo},
	}
	b, _ := json.Marshal(ev)
	p := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			out[k] = v // the last value of a name wins, as on GitHub
		}
	}
	return out
}

func candidateRows(t *testing.T, repo string) []leaderboardRow {
	t.Helper()
	var rows []leaderboardRow
	if err := json.Unmarshal([]byte(mustCLI(t, repo, nil, "log", "-e", "fit", "--all", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestActionEvaluatePullRequest: the pull request's head becomes a candidate
// evaluated with the base's evaluation script, its result is pushed before
// the comment, and running again finds the same candidate.
func TestActionEvaluatePullRequest(t *testing.T) {
	repo, remote := fitRepo(t, 2)
	runGit(t, repo, "push", "-q", "origin", "refs/evolve/*:refs/evolve/*", "refs/notes/evolve")
	base := runGit(t, repo, "rev-parse", "HEAD")

	// The pull request: the exact constants (score 0), plus an evaluation
	// script that would claim a huge score and a file outside evolve.files.
	runGit(t, repo, "checkout", "-q", "-b", "feature")
	prog := filepath.Join(repo, "experiments", "fit", "initial_program.py")
	b, _ := os.ReadFile(prog)
	s := strings.NewReplacer("A = 1.0", "A = 3.0", "B = 0.5", "B = -2.0", "C = 0.0", "C = 0.75").Replace(string(b))
	os.WriteFile(prog, []byte(s), 0o644)
	os.WriteFile(filepath.Join(repo, "experiments", "fit", "eval.sh"), []byte("#!/bin/sh\necho '{\"score\": 1e9}'\n"), 0o755)
	os.WriteFile(filepath.Join(repo, "NOTES.md"), []byte("notes\n"), 0o644)
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", "exact constants")
	head := runGit(t, repo, "rev-parse", "HEAD")

	g := newFakeGitHub(t, "octo/fit")
	g.openPull(7, "feature", "main")
	work := t.TempDir()
	env := ghEnv(g, map[string]string{
		"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": prEvent(t, 7, head, "octo/fit", base, "octo/fit"),
		"GITHUB_OUTPUT": filepath.Join(work, "output"), "GITHUB_STEP_SUMMARY": filepath.Join(work, "summary.md"),
	})
	out := mustCLI(t, repo, env, "action", "--mode", "evaluate", "-e", "fit")
	if !strings.Contains(out, "evaluating it with the evaluation script of the base commit "+base[:8]) ||
		!strings.Contains(out, "created the leaderboard comment on octo/fit#7") {
		t.Fatalf("output:\n%s", out)
	}

	var prCand *leaderboardRow
	rows := candidateRows(t, repo)
	for i, r := range rows {
		if strings.HasPrefix(r.Title, "PR #7: ") {
			prCand = &rows[i]
		}
	}
	if prCand == nil || prCand.ID == head {
		t.Fatalf("no candidate made from the pull request: %+v", rows)
	}
	if prCand.Score == nil || *prCand.Score != 0 {
		t.Fatalf("candidate score = %v, want 0: it must be evaluated by the base's eval.sh, not the pull request's", fmtScore(prCand.Score))
	}
	files := mustCLI(t, repo, nil, "show", prCand.Short)
	if !strings.Contains(files, "Fit the target exactly.") {
		t.Errorf("the pull request's body is not the motivation:\n%s", files)
	}
	// The candidate holds the head's editable file and nothing else of it.
	runGit(t, repo, "cat-file", "-e", prCand.ID+":experiments/fit/initial_program.py")
	if diff := runGit(t, repo, "diff", "--name-only", prCand.Parent, prCand.ID); diff != "experiments/fit/initial_program.py" {
		t.Fatalf("candidate changes %q, want only the editable file", diff)
	}

	o := readOutputs(t, filepath.Join(work, "output"))
	if o["evaluated"] != "1" || o["best-candidate"] != prCand.ID || o["best-score"] != "0" {
		t.Fatalf("outputs = %v", o)
	}
	summary, _ := os.ReadFile(filepath.Join(work, "summary.md"))
	comments := g.commentsOf(7)
	if len(comments) != 1 || comments[0] != strings.TrimRight(string(summary), "\n")+"\n" && comments[0]+"\n" != string(summary) {
		t.Fatalf("%d comments; the comment and the summary differ:\n%q\n%q", len(comments), comments, summary)
	}
	for _, want := range []string{"<!-- git-evolve:leaderboard:fit -->", "**Pull request #7** is candidate [`" + prCand.Short + "`]",
		"evaluated with the evaluation script of the base commit `" + base[:8] + "`", "score **0**", "rank 1 of 4",
		"`NOTES.md`", "`experiments/fit/eval.sh`"} {
		if !strings.Contains(comments[0], want) {
			t.Errorf("comment lacks %q:\n%s", want, comments[0])
		}
	}
	// The result is on the remote.
	note := runGit(t, remote, "notes", "--ref=evolve", "show", prCand.ID)
	if !strings.Contains(note, `"event":"evaluated"`) || !strings.Contains(note, `"pr_head":"`+head+`"`) {
		t.Fatalf("remote note of the candidate:\n%s", note)
	}

	// Again for the same head: the same candidate, not evaluated twice, the comment edited.
	out = mustCLI(t, repo, env, "action", "--mode", "evaluate", "-e", "fit")
	if !strings.Contains(out, "already evaluated") || !strings.Contains(out, "updated the leaderboard comment") {
		t.Fatalf("second run:\n%s", out)
	}
	if n := len(candidateRows(t, repo)); n != 4 {
		t.Fatalf("%d candidates after the second run, want 4", n)
	}
	if o := readOutputs(t, filepath.Join(work, "output")); o["evaluated"] != "0" {
		t.Fatalf("second run outputs = %v", o)
	}
	if len(g.commentsOf(7)) != 1 || g.count("PATCH /repos/octo/fit/issues/comments/*") != 1 {
		t.Fatalf("comments %d, calls %v", len(g.commentsOf(7)), g.calls)
	}

	// A new head while GitHub refuses the comment: the run fails, but the
	// result was pushed first.
	os.WriteFile(prog, []byte(strings.Replace(s, "C = 0.75", "C = 0.5", 1)), 0o644)
	runGit(t, repo, "commit", "-q", "-am", "tweak")
	head2 := runGit(t, repo, "rev-parse", "HEAD")
	env["GITHUB_EVENT_PATH"] = prEvent(t, 7, head2, "octo/fit", base, "octo/fit")
	g.fail[fmt.Sprintf("PATCH /repos/octo/fit/issues/comments/%d", g.comments[7][0].ID)] = 403
	out, errs, code := runCLI(t, repo, env, "action", "--mode", "evaluate", "-e", "fit")
	if code != ExitError || !strings.Contains(errs, "pull-requests: write") || !strings.Contains(errs, "only the comment failed") {
		t.Fatalf("refused comment: exit %d\n%s\n%s", code, out, errs)
	}
	found := false
	for _, r := range candidateRows(t, repo) {
		if r.Status == "ok" && strings.HasPrefix(r.Title, "PR #7") && r.ID != prCand.ID {
			found = true
			if note := runGit(t, remote, "notes", "--ref=evolve", "show", r.ID); !strings.Contains(note, `"event":"evaluated"`) {
				t.Fatalf("the new result is not on the remote:\n%s", note)
			}
			// Its parent is still the baseline-side candidate, not the first PR candidate.
			if r.Parent == prCand.ID {
				t.Errorf("the second head's parent is the first head's candidate, which its merge base does not contain")
			}
		}
	}
	if !found {
		t.Fatal("the second head was not evaluated")
	}

	// A pull request that changes none of the editable files.
	runGit(t, repo, "checkout", "-q", "main")
	runGit(t, repo, "checkout", "-q", "-b", "docs")
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("docs\n"), 0o644)
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", "docs")
	g.openPull(8, "docs", "main")
	env["GITHUB_EVENT_PATH"] = prEvent(t, 8, runGit(t, repo, "rev-parse", "HEAD"), "octo/fit", base, "octo/fit")
	out = mustCLI(t, repo, env, "action", "--mode", "evaluate", "-e", "fit")
	if !strings.Contains(out, "changes none of the editable files") || !strings.Contains(g.commentsOf(8)[0], "nothing to evaluate") {
		t.Fatalf("docs-only pull request:\n%s\n%v", out, g.commentsOf(8))
	}
}

// actWorkflow runs the action of the repository's root (`uses: ./`) the way
// a user's workflow does, plus what the test needs to look inside the job.
// act truncates $GITHUB_STEP_SUMMARY at the start of every step (the post
// step of the action included) and deletes the job's files at its end, so a
// step before the action replaces the summary file by a link to a FIFO that
// the test reads (summaryTap): everything written to the summary reaches the
// test, truncations are empty writes. A second job writes the first job's
// outputs to $OUTPUTS_COPY.
const actWorkflow = `name: evolve-test
on: pull_request
jobs:
  evolve:
    runs-on: [self-hosted, gpu]
    permissions:
      contents: write
      pull-requests: write
    outputs:
      best-score: ${{ steps.evolve.outputs.best-score }}
      best-candidate: ${{ steps.evolve.outputs.best-candidate }}
      evaluated: ${{ steps.evolve.outputs.evaluated }}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - name: keep the job summary for the test
        run: ln -sf "$SUMMARY_FIFO" "$GITHUB_STEP_SUMMARY"
      - id: evolve
        uses: ./
        with:
          mode: ${{ vars.EVOLVE_MODE }}
          experiment: fit
          steps: "1"
  outputs:
    needs: evolve
    runs-on: self-hosted
    steps:
      - run: |
          printf 'best-score=%s\nbest-candidate=%s\nevaluated=%s\n' '${{ needs.evolve.outputs.best-score }}' '${{ needs.evolve.outputs.best-candidate }}' '${{ needs.evolve.outputs.evaluated }}' > "$OUTPUTS_COPY"
`

// summaryTap reads a FIFO in the background and keeps what every writer
// wrote, until stop.
type summaryTap struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
	stop atomic.Bool
}

func newSummaryTap(t *testing.T, path string) *summaryTap {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	tap := &summaryTap{path: path, done: make(chan struct{})}
	go func() {
		defer close(tap.done)
		for !tap.stop.Load() {
			f, err := os.Open(path) // blocks until a writer opens it
			if err != nil {
				t.Errorf("summary FIFO: %v", err)
				return
			}
			b, _ := io.ReadAll(f)
			f.Close()
			tap.mu.Lock()
			tap.buf.Write(b)
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(tap.close)
	return tap
}

// take returns what was written since the last take.
func (tap *summaryTap) take() string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	s := tap.buf.String()
	tap.buf.Reset()
	return s
}

func (tap *summaryTap) close() {
	if tap.stop.Swap(true) {
		return
	}
	// Unblock the reader waiting for a writer.
	if f, err := os.OpenFile(tap.path, os.O_WRONLY, 0); err == nil {
		f.Close()
	}
	<-tap.done
}

// copyModule copies the git-evolve module (sources, not tests or test data)
// from root to dst, so that the action builds git-evolve from its own source.
func copyModule(t *testing.T, root, dst string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := d.Name()
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "__pycache__") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestActionYAMLWithAct runs the real action.yml with nektos/act in host
// mode (no Docker) on a pull_request event, against a fake GitHub on
// 127.0.0.1 and a local bare remote, twice: mode evaluate, then mode step.
func TestActionYAMLWithAct(t *testing.T) {
	actBin, err := exec.LookPath("act")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("act is not on PATH; CI must run this test (.ci/run installs github.com/nektos/act@v0.2.89): %v", err)
		}
		t.Skip("act is not on PATH (go install github.com/nektos/act@v0.2.89)")
	}
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("-short: skipping the act run")
	}
	// The Go caches of this machine, read before HOME changes.
	goenv := map[string]string{}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOMOD"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		goenv[k] = strings.TrimSpace(string(out))
	}
	moduleRoot := filepath.Dir(goenv["GOMOD"])

	gitEnv(t)
	root := t.TempDir()
	repo, remote := filepath.Join(root, "repo"), filepath.Join(root, "remote.git")
	copyModule(t, moduleRoot, repo)
	if _, err := os.Stat(filepath.Join(repo, "action.yml")); err != nil {
		t.Fatalf("the module has no action.yml: %v", err)
	}
	os.MkdirAll(filepath.Join(repo, ".github", "workflows"), 0o755)
	if err := os.WriteFile(filepath.Join(repo, ".github", "workflows", "evolve-test.yml"), []byte(actWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, root, "init", "-q", "--bare", remote)
	runGit(t, root, "init", "-q", repo)
	mustCLI(t, repo, nil, "init", "fit")
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", "git-evolve with an experiment")
	runGit(t, repo, "remote", "add", "origin", remote)
	runGit(t, repo, "push", "-q", "origin", "main")
	mustCLI(t, repo, nil, "step", "-e", "fit", "--steps", "2", "--offline", "--seed", "3")
	runGit(t, repo, "push", "-q", "origin", "refs/evolve/*:refs/evolve/*", "refs/notes/evolve")
	base := runGit(t, repo, "rev-parse", "HEAD")

	// The pull request: exact constants, and an eval.sh claiming 1e9.
	runGit(t, repo, "checkout", "-q", "-b", "feature")
	prog := filepath.Join(repo, "experiments", "fit", "initial_program.py")
	b, _ := os.ReadFile(prog)
	os.WriteFile(prog, []byte(strings.NewReplacer("A = 1.0", "A = 3.0", "B = 0.5", "B = -2.0", "C = 0.0", "C = 0.75").Replace(string(b))), 0o644)
	os.WriteFile(filepath.Join(repo, "experiments", "fit", "eval.sh"), []byte("#!/bin/sh\necho '{\"score\": 1e9}'\n"), 0o755)
	runGit(t, repo, "commit", "-q", "-am", "exact constants")
	head := runGit(t, repo, "rev-parse", "HEAD")
	runGit(t, repo, "push", "-q", "origin", "feature")

	g := newFakeGitHub(t, "octo/fit")
	g.openPull(7, "feature", "main")
	event := prEvent(t, 7, head, "octo/fit", base, "octo/fit")

	// PATH without any git-evolve, so that the action builds it from source.
	var path []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "git-evolve")); err != nil {
			path = append(path, d)
		}
	}
	work := t.TempDir()
	tap := newSummaryTap(t, filepath.Join(work, "summary.fifo"))
	outputs := filepath.Join(work, "outputs.txt")
	run := func(mode string) string {
		t.Helper()
		os.Remove(outputs)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, actBin, "pull_request",
			"-e", event,
			"-W", filepath.Join(".github", "workflows", "evolve-test.yml"),
			"-P", "self-hosted=-self-hosted", "-P", "gpu=-self-hosted",
			"--env", "GITHUB_API_URL="+g.apiURL(),
			"--env", "GITHUB_SERVER_URL=https://github.example",
			"--env", "GITHUB_REPOSITORY=octo/fit",
			"-s", "GITHUB_TOKEN="+g.token,
			"--var", "EVOLVE_MODE="+mode,
			"--action-cache-path", filepath.Join(work, "act-cache"),
			"--no-cache-server",
		)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(),
			"PATH="+strings.Join(path, string(os.PathListSeparator)),
			"GOCACHE="+goenv["GOCACHE"], "GOMODCACHE="+goenv["GOMODCACHE"], "GOPATH="+goenv["GOPATH"],
			"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=readonly"),
			"ACT_DISABLE_VERSION_CHECK=1",
			"SUMMARY_FIFO="+tap.path, "OUTPUTS_COPY="+outputs,
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("act (mode %s): %v\n%s", mode, err, out)
		}
		if !strings.Contains(string(out), "Job succeeded") {
			t.Fatalf("act (mode %s) did not report success:\n%s", mode, out)
		}
		return string(out)
	}

	// First run: the pull request is evaluated and the comment created.
	log := run("evaluate")
	if !strings.Contains(log, "building git-evolve from") {
		t.Errorf("the action did not build git-evolve from its source:\n%s", log)
	}
	o := readOutputs(t, outputs)
	if o["evaluated"] != "1" || len(o["best-candidate"]) != 40 || o["best-score"] != "0" {
		t.Fatalf("job outputs = %v, want the pull request's candidate with score 0 (the base's eval.sh)\n%s", o, log)
	}
	s := tap.take()
	if !strings.HasPrefix(s, "<!-- git-evolve:leaderboard:fit -->") || !strings.Contains(s, "**Pull request #7** is candidate") {
		t.Fatalf("job summary:\n%s\nact log:\n%s", s, log)
	}
	if n, e := g.count("POST /repos/octo/fit/issues/7/comments"), g.count("PATCH /repos/octo/fit/issues/comments/*"); n != 1 || e != 0 {
		t.Fatalf("after the first run: %d comments created, %d edited; want 1 and 0 (calls %v)", n, e, g.calls)
	}
	note := runGit(t, remote, "notes", "--ref=evolve", "show", o["best-candidate"])
	if !strings.Contains(note, `"event":"evaluated"`) || !strings.Contains(note, `"pr":7`) {
		t.Fatalf("the remote's note of %s:\n%s", o["best-candidate"], note)
	}

	// Second run, mode step: one more candidate, the same comment edited.
	before := strings.Count(runGit(t, remote, "for-each-ref", "refs/evolve/fit/"), "\n") + 1
	run("step")
	after := strings.Count(runGit(t, remote, "for-each-ref", "refs/evolve/fit/"), "\n") + 1
	if after != before+1 {
		t.Fatalf("%d candidates on the remote after a step, want %d", after, before+1)
	}
	if o := readOutputs(t, outputs); o["evaluated"] != "1" || len(o["best-candidate"]) != 40 {
		t.Fatalf("job outputs of the step run = %v", o)
	}
	if n, e := g.count("POST /repos/octo/fit/issues/7/comments"), g.count("PATCH /repos/octo/fit/issues/comments/*"); n != 1 || e != 1 {
		t.Fatalf("after the second run: %d comments created, %d edited; want 1 and 1 (calls %v)", n, e, g.calls)
	}
	if c := g.commentsOf(7); len(c) != 1 || !strings.Contains(c[0], fmt.Sprintf("**%d** candidates", after)) {
		t.Fatalf("comments: %q", c)
	}
	if s := tap.take(); !strings.HasPrefix(s, "<!-- git-evolve:leaderboard:fit -->") || strings.Contains(s, "Pull request #7") {
		t.Fatalf("job summary of the step run:\n%s", s)
	}
}
