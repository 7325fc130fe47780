package gitstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/gitstore"
)

// wsGit runs the git CLI in dir with a fixed identity and clock and returns
// its trimmed stdout.
func wsGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func wsWrite(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		fp := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wsRepo makes a repository whose history has a base commit and a child
// that changes it in every way a tree can change. It returns the worktree
// root and the two commit ids.
func wsRepo(t testing.TB) (root, base, child string) {
	t.Helper()
	root = t.TempDir()
	wsGit(t, root, "init", "-q", "-b", "main")
	wsWrite(t, root, map[string]string{
		"a.txt":                   "alpha\n",
		"bin/run.sh":              "#!/bin/sh\necho run\n",
		"dir/sub/deep.txt":        "deep\n",
		"dir/keep.txt":            "keep\n",
		"with space.txt":          "spaces\n",
		"thing":                   "a file that becomes a directory\n",
		"experiments/x/eval.sh":   "#!/bin/sh\necho '{\"score\": 1}'\n",
		"experiments/x/prog.py":   "x = 1\n",
		"mode/only.sh":            "echo mode\n",
		"unchanged/u1.txt":        "u1\n",
		"unchanged/deeper/u2.txt": "u2\n",
	})
	if err := os.Chmod(filepath.Join(root, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	wsGit(t, root, "add", "-A")
	wsGit(t, root, "commit", "-q", "-m", "base")
	base = wsGit(t, root, "rev-parse", "HEAD")

	wsWrite(t, root, map[string]string{"a.txt": "alpha, changed\n", "new/x.txt": "new\n", "experiments/x/prog.py": "x = 2\n"})
	if err := os.RemoveAll(filepath.Join(root, "dir/sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "thing")); err != nil {
		t.Fatal(err)
	}
	wsWrite(t, root, map[string]string{"thing/inner.txt": "now a directory\n"})
	if err := os.Chmod(filepath.Join(root, "mode/only.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dir/keep.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	wsGit(t, root, "add", "-A")
	wsGit(t, root, "commit", "-q", "-m", "child")
	child = wsGit(t, root, "rev-parse", "HEAD")
	return root, base, child
}

func wsOpen(t testing.TB, root string) *gitstore.Store {
	t.Helper()
	s, err := gitstore.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wsSnapshot describes every entry under dir except the workspace state:
// "f <exec> <content>", "l <target>" or "d".
func wsSnapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || rel == gitstore.WorkspaceStateFile {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			snap[rel] = "l " + target
		case info.IsDir():
			snap[rel] = "d"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			snap[rel] = fmt.Sprintf("f %v %s", info.Mode().Perm()&0o100 != 0, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// wsAssertTree checks that dir holds exactly what `git archive id` holds.
func wsAssertTree(t testing.TB, root, id, dir string) {
	t.Helper()
	want := t.TempDir()
	archive := exec.Command("sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", id, want)
	archive.Dir = root
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	w, g := wsSnapshot(t, want), wsSnapshot(t, dir)
	var diffs []string
	for p, v := range w {
		if g[p] != v {
			diffs = append(diffs, fmt.Sprintf("%s: have %q, want %q", p, g[p], v))
		}
	}
	for p, v := range g {
		if _, ok := w[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: extra %q", p, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("workspace %s differs from %s:\n%s", dir, id[:8], strings.Join(diffs, "\n"))
	}
}

// wsUserState is what a Checkout must never change: the worktree's status,
// the index file and HEAD.
func wsUserState(t testing.TB, root string) string {
	t.Helper()
	index, err := os.ReadFile(filepath.Join(root, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	return wsGit(t, root, "status", "--porcelain", "--untracked-files=all") + "\n" +
		wsGit(t, root, "rev-parse", "HEAD") + "\n" + fmt.Sprintf("%x", index)
}

func TestCheckoutFreshWorkspace(t *testing.T) {
	root, base, _ := wsRepo(t)
	s := wsOpen(t, root)
	before := wsUserState(t, root)
	dir := filepath.Join(root, ".git", "evolve", "workspaces", "w0") // missing: created
	if err := s.Checkout(context.Background(), base, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, base, dir)
	if after := wsUserState(t, root); after != before {
		t.Errorf("Checkout changed the user's worktree, index or HEAD:\n%s\n---\n%s", before, after)
	}
	if out := wsGit(t, root, "fsck", "--no-progress"); strings.Contains(out, "error") {
		t.Errorf("git fsck: %s", out)
	}
	state, err := os.ReadFile(filepath.Join(dir, gitstore.WorkspaceStateFile))
	if err != nil || !bytes.Contains(state, []byte("commit "+base)) {
		t.Errorf("state file %q (%v) does not record %s", state, err, base)
	}
}

func TestCheckoutIncremental(t *testing.T) {
	root, base, child := wsRepo(t)
	s := wsOpen(t, root)
	dir := filepath.Join(t.TempDir(), "ws")
	ctx := context.Background()
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	// Hard links outside the workspace tell whether a file was replaced (the
	// link keeps the old inode alive, so a new file cannot reuse it) and
	// whether it was written in place (the link would see the new content).
	links := t.TempDir()
	link := func(p string) string {
		l := filepath.Join(links, strings.ReplaceAll(p, "/", "_"))
		_ = os.Remove(l)
		if err := os.Link(filepath.Join(dir, p), l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	same := func(p, l string) bool {
		a, err1 := os.Lstat(filepath.Join(dir, p))
		b, err2 := os.Lstat(l)
		return err1 == nil && err2 == nil && os.SameFile(a, b)
	}
	keep, changed := link("unchanged/deeper/u2.txt"), link("a.txt")

	if err := s.Checkout(ctx, child, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, child, dir)
	if !same("unchanged/deeper/u2.txt", keep) {
		t.Error("an unchanged file was rewritten")
	}
	if same("a.txt", changed) {
		t.Error("a changed file was not replaced")
	}
	if b, _ := os.ReadFile(changed); string(b) != "alpha\n" {
		t.Errorf("a changed file was written in place (through whatever stood there): %q", b)
	}

	// And back: directories become files again, added files go away.
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, base, dir)
	if !same("unchanged/deeper/u2.txt", keep) {
		t.Error("an unchanged file was rewritten on the way back")
	}
	// The same candidate again changes nothing.
	again := link("a.txt")
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	if !same("a.txt", again) {
		t.Error("checking out the same candidate rewrote a file")
	}
}

func TestCheckoutRepairsDamage(t *testing.T) {
	root, base, _ := wsRepo(t)
	s := wsOpen(t, root)
	dir := filepath.Join(t.TempDir(), "ws")
	ctx := context.Background()
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "precious.txt")
	if err := os.WriteFile(outside, []byte("must not change\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	damage := []func() error{
		func() error { return os.Remove(in("dir/keep.txt")) },
		func() error { return os.WriteFile(in("unchanged/u1.txt"), []byte("U1\n"), 0o644) }, // same size
		func() error { return os.Chmod(in("bin/run.sh"), 0o644) },
		func() error { return os.WriteFile(in("experiments/x/results.json"), []byte(`{"score": 9}`), 0o644) },
		func() error { return os.MkdirAll(in("experiments/x/__pycache__/deep"), 0o755) },
		func() error { return os.RemoveAll(in("dir/sub")) },
		func() error { return os.WriteFile(in("dir/sub"), []byte("a file where a directory was"), 0o644) },
		func() error { return os.Remove(in("a.txt")) },
		func() error { return os.Symlink(outside, in("a.txt")) }, // must be replaced, not written through
		func() error { return os.RemoveAll(in("unchanged/deeper")) },
		func() error { return os.Symlink(filepath.Dir(outside), in("unchanged/deeper")) },
		func() error { return os.Remove(in("link")) },
		func() error { return os.WriteFile(in("link"), []byte("a.txt"), 0o644) },
		func() error { return os.WriteFile(in("thing"), []byte("a file that becomes a directorY\n"), 0o644) },
	}
	for i, d := range damage {
		if err := d(); err != nil {
			t.Fatalf("damage %d: %v", i, err)
		}
	}
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, base, dir)
	if b, _ := os.ReadFile(outside); string(b) != "must not change\n" {
		t.Errorf("a file outside the workspace was written through a link: %q", b)
	}
	if names, _ := os.ReadDir(filepath.Dir(outside)); len(names) != 1 {
		t.Errorf("files were written outside the workspace: %v", names)
	}
}

func TestCheckoutAfterWorkspaceLoss(t *testing.T) {
	root, base, child := wsRepo(t)
	s := wsOpen(t, root)
	dir := filepath.Join(t.TempDir(), "ws")
	ctx := context.Background()
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	// The evaluation deleted the whole workspace.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, child, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, child, dir)

	// A damaged state file: everything is rewritten.
	if err := os.WriteFile(filepath.Join(dir, gitstore.WorkspaceStateFile), []byte("git-evolve workspace 1\ncommit zz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("ALPHA, CHANGED\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, base, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, base, dir)

	// A state file naming a tree the repository does not have.
	state := filepath.Join(dir, gitstore.WorkspaceStateFile)
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 4)
	lines[2] = "tree " + strings.Repeat("1", 40)
	if err := os.WriteFile(state, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, child, dir); err != nil {
		t.Fatal(err)
	}
	wsAssertTree(t, root, child, dir)
}

func TestCheckoutRefuses(t *testing.T) {
	root, base, _ := wsRepo(t)
	s := wsOpen(t, root)
	ctx := context.Background()
	before := wsUserState(t, root)

	if err := s.Checkout(ctx, base, filepath.Join(root, "experiments", "ws")); err == nil || !strings.Contains(err.Error(), "inside the working tree") {
		t.Errorf("a workspace inside the working tree: %v", err)
	}
	if err := s.Checkout(ctx, base, root); err == nil {
		t.Error("the working tree itself was accepted as a workspace")
	}
	if after := wsUserState(t, root); after != before {
		t.Fatalf("a refused Checkout changed the user's repository:\n%s\n---\n%s", before, after)
	}

	busy := t.TempDir()
	wsWrite(t, busy, map[string]string{"mine.txt": "user data\n"})
	err := s.Checkout(ctx, base, busy)
	if !errors.Is(err, gitstore.ErrNotWorkspace) {
		t.Errorf("a non-empty folder that is not a workspace: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(busy, "mine.txt")); string(b) != "user data\n" {
		t.Error("a refused Checkout touched the folder")
	}

	dir := t.TempDir()
	if err := s.Checkout(ctx, strings.Repeat("ab", 20), dir); err == nil || !strings.Contains(err.Error(), "abababab") {
		t.Errorf("an unknown commit: %v", err)
	}
	if err := s.Checkout(ctx, base[:8], dir); err == nil {
		t.Error("a short id was accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Checkout(cancelled, base, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v", err)
	}
	// An empty folder is fine.
	if err := s.Checkout(ctx, base, t.TempDir()); err != nil {
		t.Error(err)
	}
}

func TestCheckoutSubmodule(t *testing.T) {
	root, base, _ := wsRepo(t)
	wsGit(t, root, "update-index", "--add", "--cacheinfo", "160000,"+base+",vendor/lib")
	wsGit(t, root, "commit", "-q", "-m", "submodule")
	id := wsGit(t, root, "rev-parse", "HEAD")
	s := wsOpen(t, root)
	dir := filepath.Join(t.TempDir(), "ws")
	if err := s.Checkout(context.Background(), id, dir); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "vendor", "lib")); err != nil || !info.IsDir() {
		t.Fatalf("submodule placeholder: %v", err)
	}
	wsWrite(t, dir, map[string]string{"vendor/lib/junk": "x"})
	if err := s.Checkout(context.Background(), id, dir); err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "vendor", "lib")); len(names) != 0 {
		t.Errorf("submodule placeholder not emptied: %v", names)
	}
}

// wsBigRepo makes a repository of n files in 100 directories, and a child
// commit that modifies 5 files, adds 2 and deletes 1.
func wsBigRepo(b testing.TB, n int) (root, parent, child string) {
	root = b.TempDir()
	wsGit(b, root, "init", "-q", "-b", "main")
	wsGit(b, root, "config", "gc.auto", "0") // no background gc racing the benchmark
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("pkg%02d/sub%d/file%05d.py", i%100, i%7, i)] = fmt.Sprintf("# file %d\nvalue = %d\n%s", i, i, strings.Repeat("x", i%500))
	}
	wsWrite(b, root, files)
	wsGit(b, root, "add", "-A")
	wsGit(b, root, "commit", "-q", "-m", "parent")
	parent = wsGit(b, root, "rev-parse", "HEAD")
	wsWrite(b, root, map[string]string{
		"pkg01/sub1/file00001.py": "changed 1\n", "pkg42/sub0/file00042.py": "changed 2\n",
		"pkg99/sub1/file00099.py": "changed 3\n", "pkg10/sub3/file00710.py": "changed 4\n",
		"pkg50/sub1/file00050.py": "changed 5\n", "pkg50/new.py": "added 1\n", "newpkg/a.py": "added 2\n",
	})
	if err := os.Remove(filepath.Join(root, "pkg07/sub0/file00007.py")); err != nil {
		b.Fatal(err)
	}
	wsGit(b, root, "add", "-A")
	wsGit(b, root, "commit", "-q", "-m", "child")
	child = wsGit(b, root, "rev-parse", "HEAD")
	return root, parent, child
}

// BenchmarkCheckoutIncremental10k measures preparing the workspace of a
// candidate whose parent was checked out in the same folder, in a repository
// of 10,000 files (target: at most 200 ms).
func BenchmarkCheckoutIncremental10k(b *testing.B) {
	root, parent, child := wsBigRepo(b, 10000)
	wsGit(b, root, "repack", "-a", "-d", "-q") // objects packed, as in a real repository
	s := wsOpen(b, root)
	dir := filepath.Join(b.TempDir(), "ws")
	ctx := context.Background()
	start := time.Now()
	if err := s.Checkout(ctx, parent, dir); err != nil {
		b.Fatal(err)
	}
	full := time.Since(start)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := s.Checkout(ctx, parent, dir); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		if err := s.Checkout(ctx, child, dir); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(full.Milliseconds()), "full-checkout-ms")
	wsAssertTree(b, root, child, dir)
}
