package gitstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/git-evolve/git-evolve/evolve"
)

// TestMain gives every test (and every git command they run) a private HOME
// with a known identity and no system config, and runs the helper
// processes of the multi-process test.
func TestMain(m *testing.M) {
	if role := os.Getenv("GITSTORE_HELPER"); role != "" {
		os.Exit(runHelper(role))
	}
	home, err := os.MkdirTemp("", "gitstore-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gitconfig := "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
		"GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_NOTES_REF", "GIT_CONFIG_GLOBAL"} {
		os.Unsetenv(k)
	}
	os.Setenv("HOME", home)
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

const testExp = "demo"

var (
	testProgram = "experiments/demo/initial_program.py"
	testAllowed = []string{"experiments/demo/initial_program*", "experiments/demo/lib/**/*.py"}
	t0          = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

// fixture is a repository with one commit holding a small experiment.
type fixture struct {
	s    *Store
	dir  string // "" for the in-memory repository
	head string // the initial commit
}

var initialFiles = map[string]string{
	"README.md":                   "# project\n",
	"experiments/demo/input.md":   "Pack circles.\n",
	"experiments/demo/eval.sh":    "#!/bin/sh\necho '{\"score\": 1}'\n",
	"experiments/demo/config.yml": "evolve: {}\n",
	testProgram:                   "RADIUS = 0.1\nGROWTH = 1.05\n",
}

// backends runs fn once against go-git's memory storage and once against a
// repository on disk made by the git CLI: the conformance suite.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("memory", func(t *testing.T) { fn(t, newMemFixture(t)) })
	t.Run("disk", func(t *testing.T) { fn(t, newDiskFixture(t)) })
}

func newMemFixture(t *testing.T) *fixture {
	t.Helper()
	wt := memfs.New()
	s, err := New(memory.NewStorage(), wt)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Repository().Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range initialFiles {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			perm = 0o755
		}
		if err := util.WriteFile(wt, p, []byte(c), perm); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddWithOptions(&gogit.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test User", Email: "test@example.com", When: t0.Add(-time.Hour)}
	h, err := w.Commit("initial commit\n", &gogit.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(fakeClock())
	return &fixture{s: s, head: h.String()}
}

func newDiskFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	runGit(t, dir, "init", "-q")
	for p, c := range initialFiles {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		perm := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			perm = 0o755
		}
		if err := os.WriteFile(full, []byte(c), perm); err != nil {
			t.Fatal(err)
		}
	}
	runGit(t, dir, "add", "-A")
	date := t0.Add(-time.Hour).Format(time.RFC3339)
	if _, err := gitErr(dir, nil, "-c", "user.name=Test User", "commit", "-q", "-m", "initial commit", "--date", date); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(fakeClock())
	t.Cleanup(func() {
		s.Close()
		fsck(t, dir)
	})
	return &fixture{s: s, dir: dir, head: strings.TrimSpace(runGit(t, dir, "rev-parse", "HEAD"))}
}

// fakeClock ticks one second per call, so notes commits differ and sort.
func fakeClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)) * time.Second) }
}

// git runs the git CLI in dir and returns its stdout; failure fails the test.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitIn(t testing.TB, dir string, stdin string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, strings.NewReader(stdin), args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitErr(dir string, stdin *strings.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	// Fixed committer time for reproducible hashes and orderings.
	cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE="+t0.Add(-time.Hour).Format(time.RFC3339))
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// fsck checks the repository with `git fsck --strict`; dangling objects
// (from retried updates) are fine, errors are not.
func fsck(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command("git", "fsck", "--strict", "--no-progress")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("git fsck --strict in %s: %v\n%s", dir, err, out)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "dangling ") && !strings.HasPrefix(line, "Checking ") {
			t.Errorf("git fsck --strict: %s", line)
		}
	}
}

func ctxBackground() context.Context { return context.Background() }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// baseline creates the experiment's baseline.
func (f *fixture) baseline(t testing.TB) string {
	t.Helper()
	id, _, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: testExp, When: t0, By: "test/w0"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// candidate commits a child of parent with the program replaced.
func (f *fixture) candidate(t testing.TB, parent, program string, n int) string {
	t.Helper()
	id, err := f.s.Commit(ctx(t), evolve.CommitRequest{
		Exp: testExp, Parent: parent,
		Files:    map[string][]byte{testProgram: []byte(program)},
		Allowed:  testAllowed,
		Message:  evolve.CommitMessage{Title: fmt.Sprintf("change %d", n), Motivation: "because"},
		Proposed: evolve.Event{By: "test/w0", Sampler: "ucb1"},
		When:     t0.Add(time.Duration(n) * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func evaluated(score float64, at time.Time) evolve.Event {
	code := 0
	return evolve.Event{V: 1, Exp: testExp, Event: evolve.EventEvaluated, At: at, By: "test/w0",
		Status: evolve.StatusOK, Score: &score, ExitCode: &code, Metrics: map[string]any{"score": score}}
}

// lines returns the JSON lines of events, for comparisons that ignore how
// times and maps are represented in memory.
func lines(t testing.TB, evs []evolve.Event) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		l, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(l))
	}
	return out
}
