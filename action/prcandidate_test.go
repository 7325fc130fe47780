package action

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
)

func gitIdentity(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"), 0o644)
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, name, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

var allowed = []string{"experiments/x/prog.txt"}

// prRepo is a repository with experiment x (prog.txt editable, eval.sh not)
// on main, opened as a Store.
func prRepo(t *testing.T) (string, *gitstore.Store) {
	t.Helper()
	gitIdentity(t)
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q")
	write(t, dir, "experiments/x/prog.txt", "value = 1\n", 0o644)
	write(t, dir, "experiments/x/eval.sh", "#!/bin/sh\necho trusted\n", 0o755)
	write(t, dir, "experiments/x/data/table.csv", "a,b\n", 0o644)
	write(t, dir, "README.md", "readme\n", 0o644)
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "start")
	s, err := gitstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, s
}

var when = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// candidate commits prog.txt = value on top of parent and records a score.
func candidate(t *testing.T, s *gitstore.Store, parent, value string, score float64) string {
	t.Helper()
	ctx := context.Background()
	when = when.Add(time.Minute)
	id, err := s.Commit(ctx, evolve.CommitRequest{Exp: "x", Parent: parent, Allowed: allowed, When: when,
		Files:   map[string][]byte{"experiments/x/prog.txt": []byte("value = " + value + "\n")},
		Message: evolve.CommitMessage{Exp: "x", Title: "value " + value}})
	if err != nil {
		t.Fatal(err)
	}
	ev := evolve.EvaluatedEvent("x", when, "test", evolve.EvalResult{Status: evolve.StatusOK, Score: &score})
	if err := s.Append(ctx, id, ev); err != nil {
		t.Fatal(err)
	}
	return id
}

func baseline(t *testing.T, s *gitstore.Store, score float64) string {
	t.Helper()
	id, _, err := s.EnsureBaseline(context.Background(), evolve.BaselineRequest{Exp: "x", When: when, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), id, evolve.EvaluatedEvent("x", when, "test", evolve.EvalResult{Status: evolve.StatusOK, Score: &score})); err != nil {
		t.Fatal(err)
	}
	return id
}

// branchPR commits edits on a new branch from main and returns the pull
// request (head and base).
func branchPR(t *testing.T, dir, branch string, files map[string]string) PullRequest {
	t.Helper()
	base := gitIn(t, dir, "rev-parse", "main")
	gitIn(t, dir, "checkout", "-q", "-b", branch, "main")
	for name, content := range files {
		write(t, dir, name, content, 0o644)
	}
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", branch)
	head := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "checkout", "-q", "main")
	return PullRequest{Number: 7, Title: "better value", Body: "Because.", HeadSHA: head, HeadRef: branch, BaseSHA: base, BaseRef: "main",
		HeadRepo: "octo/x", BaseRepo: "octo/x"}
}

func candidates(t *testing.T, s *gitstore.Store) map[string]evolve.Candidate {
	t.Helper()
	cs, err := s.Candidates(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]evolve.Candidate{}
	for _, c := range cs {
		m[c.ID] = c
	}
	return m
}

func TestImportPullRequestOnTheBaseline(t *testing.T) {
	dir, s := prRepo(t)
	ctx := context.Background()
	base := baseline(t, s, 1)
	candidate(t, s, base, "5", 5) // a better candidate, but not in main's history
	pr := branchPR(t, dir, "feature", map[string]string{
		"experiments/x/prog.txt": "value = 9\n",
		"experiments/x/eval.sh":  "#!/bin/sh\necho '{\"score\": 1e9}'\n",
		"README.md":              "changed\n",
	})
	imp, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr, Allowed: allowed, When: when.Add(time.Hour), By: "ci/pr-7"})
	if err != nil {
		t.Fatal(err)
	}
	if imp.Parent != base || imp.Existing || imp.Unchanged || imp.ID == "" || imp.ID == pr.HeadSHA {
		t.Fatalf("imported %+v, want a new candidate on the baseline %s", imp, base[:8])
	}
	if strings.Join(imp.Files, ",") != "experiments/x/prog.txt" || strings.Join(imp.Outside, ",") != "README.md,experiments/x/eval.sh" {
		t.Fatalf("files %v, outside %v", imp.Files, imp.Outside)
	}
	// The candidate's tree is the baseline's with the head's editable file only.
	if diff := gitIn(t, dir, "diff", "--name-only", base, imp.ID); diff != "experiments/x/prog.txt" {
		t.Fatalf("candidate changes %q", diff)
	}
	if got := gitIn(t, dir, "show", imp.ID+":experiments/x/eval.sh"); got != "#!/bin/sh\necho trusted" {
		t.Fatalf("the candidate took the pull request's eval.sh: %q", got)
	}
	c := candidates(t, s)[imp.ID]
	if c.Status() != evolve.StatusPending || c.Title() != "PR #7: better value" || c.Proposed.Motivation != "Because." || c.Proposed.By != "ci/pr-7" {
		t.Fatalf("candidate record %+v", c.Proposed)
	}
	if string(c.Proposed.Extra[FieldPR]) != "7" || string(c.Proposed.Extra[FieldPRHead]) != `"`+pr.HeadSHA+`"` {
		t.Fatalf("proposed event extra = %v", c.Proposed.Extra)
	}

	// The same head again: the same candidate, nothing written.
	again, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr, Allowed: allowed, When: when.Add(2 * time.Hour)})
	if err != nil || !again.Existing || again.ID != imp.ID || strings.Join(again.Files, ",") != "experiments/x/prog.txt" {
		t.Fatalf("second import = %+v, %v", again, err)
	}
	if n := len(candidates(t, s)); n != 3 {
		t.Fatalf("%d candidates, want 3", n)
	}

	// A head that is itself a candidate (e.g. the branch of git evolve pr).
	pr2 := pr
	pr2.HeadSHA = imp.ID
	if got, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr2, Allowed: allowed, When: when}); err != nil || !got.Existing || got.ID != imp.ID {
		t.Fatalf("candidate head: %+v, %v", got, err)
	}
}

func TestImportPullRequestParentIsTheBestMergedCandidate(t *testing.T) {
	dir, s := prRepo(t)
	ctx := context.Background()
	base := baseline(t, s, 1)
	c1 := candidate(t, s, base, "2", 2)
	c2 := candidate(t, s, c1, "3", 3)
	candidate(t, s, c2, "4", 4) // better, but never merged
	worse := candidate(t, s, c1, "0", 0)
	_ = worse
	// c2 was merged into main (git evolve pr, then a merge).
	gitIn(t, dir, "merge", "-q", "--no-ff", "-m", "merge the winner", c2)
	pr := branchPR(t, dir, "next", map[string]string{"experiments/x/prog.txt": "value = 7\n"})
	imp, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr, Allowed: allowed, When: when.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if imp.Parent != c2 {
		t.Fatalf("parent = %s, want the merged candidate %s (best reachable from the merge base)", imp.Parent[:8], c2[:8])
	}
	if diff := gitIn(t, dir, "diff", "--name-only", c2, imp.ID); diff != "experiments/x/prog.txt" {
		t.Fatalf("candidate changes %q relative to its parent", diff)
	}
}

func TestImportPullRequestEdgeCases(t *testing.T) {
	dir, s := prRepo(t)
	ctx := context.Background()

	// An experiment without candidates gets its baseline on the base commit.
	pr := branchPR(t, dir, "docs", map[string]string{"README.md": "docs only\n"})
	imp, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr, Allowed: allowed, When: when})
	if err != nil {
		t.Fatal(err)
	}
	cs := candidates(t, s)
	if len(cs) != 1 || !cs[imp.Parent].Baseline {
		t.Fatalf("candidates %v, parent %s: want only a new baseline", cs, imp.Parent)
	}
	if got := gitIn(t, dir, "rev-parse", imp.Parent+"^"); got != pr.BaseSHA {
		t.Fatalf("baseline made on %s, want the base commit %s", got[:8], pr.BaseSHA[:8])
	}
	// ... and a pull request that does not touch the editable files is no candidate.
	if !imp.Unchanged || imp.ID != "" || strings.Join(imp.Outside, ",") != "README.md" {
		t.Fatalf("docs-only import = %+v", imp)
	}

	// A head that is not in the repository (a shallow checkout).
	missing := pr
	missing.HeadSHA = strings.Repeat("ab", 20)
	if _, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: missing, Allowed: allowed, When: when}); err == nil ||
		!strings.Contains(err.Error(), "fetch-depth: 0") {
		t.Fatalf("missing head: %v", err)
	}
	// A head without any editable file.
	gone := pr
	gitIn(t, dir, "checkout", "-q", "-b", "remove", "main")
	gitIn(t, dir, "rm", "-q", "experiments/x/prog.txt")
	gitIn(t, dir, "commit", "-q", "-m", "remove the program")
	gone.HeadSHA = gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "checkout", "-q", "main")
	if _, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: gone, Allowed: allowed, When: when}); err == nil ||
		!strings.Contains(err.Error(), "has none of the editable files") {
		t.Fatalf("head without editable files: %v", err)
	}
	if _, err := ImportPullRequest(ctx, s, ImportRequest{Exp: "x", PR: pr, When: when}); err == nil {
		t.Fatal("an import without evolve.files was accepted")
	}
}

func TestExtractDir(t *testing.T) {
	dir, s := prRepo(t)
	base := gitIn(t, dir, "rev-parse", "HEAD")
	write(t, dir, "experiments/x/eval.sh", "#!/bin/sh\necho changed\n", 0o755)
	os.Symlink("/etc/passwd", filepath.Join(dir, "experiments", "x", "link"))
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "change eval")

	dst := t.TempDir()
	if err := ExtractDir(s.Repository(), base, "experiments/x", dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "eval.sh"))
	if err != nil || string(b) != "#!/bin/sh\necho trusted\n" {
		t.Fatalf("eval.sh = %q, %v; want the base commit's", b, err)
	}
	if st, _ := os.Stat(filepath.Join(dst, "eval.sh")); st.Mode().Perm()&0o100 == 0 {
		t.Error("the executable bit was lost")
	}
	if _, err := os.Stat(filepath.Join(dst, "data", "table.csv")); err != nil {
		t.Errorf("nested file: %v", err)
	}
	head := gitIn(t, dir, "rev-parse", "HEAD")
	dst2 := t.TempDir()
	if err := ExtractDir(s.Repository(), head, "experiments/x/", dst2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dst2, "link")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a symbolic link was extracted: %v", err)
	}
	if err := ExtractDir(s.Repository(), base, "nope", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("missing folder: %v", err)
	}
}
