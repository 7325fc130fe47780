package cognition

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// memLessons is an in-memory LessonSource.
type memLessons struct {
	mu      sync.Mutex
	lessons map[string][]Lesson
	err     error
	calls   int
}

func (m *memLessons) Lessons(_ context.Context, exp string) ([]Lesson, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return nil, m.err
	}
	return append([]Lesson(nil), m.lessons[exp]...), nil
}

func (m *memLessons) add(exp, cand, text string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lessons == nil {
		m.lessons = map[string][]Lesson{}
	}
	m.lessons[exp] = append(m.lessons[exp], Lesson{Candidate: cand, Text: text, At: at})
}

const testExp = "demo"

// testRepo makes a repository-like layout: root/experiments/demo and root/.git.
func testRepo(t testing.TB) (root, gitDir string) {
	t.Helper()
	root = t.TempDir()
	gitDir = filepath.Join(root, ".git")
	for _, d := range []string{gitDir, filepath.Join(root, "experiments", testExp)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, gitDir
}

func newTestStore(t testing.TB, mod func(*Options)) *Store {
	t.Helper()
	root, gitDir := testRepo(t)
	opts := Options{Root: root, GitDir: gitDir, Exp: testExp,
		Cognition: evolve.CognitionConfig{Retrieval: evolve.RetrievalConfig{TopK: 3, ScoreThreshold: 0.3}}}
	if mod != nil {
		mod(&opts)
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func cogPath(s *Store, name string) string { return filepath.Join(s.cogDir, name) }

func titles(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Title
	}
	return out
}

func sortedNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
