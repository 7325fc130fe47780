package gitstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/git-evolve/git-evolve/evolve"
)

// Interoperability with the git CLI: what git-evolve writes, git reads, and
// the other way round.

func TestGitReadsOurNotesPastFanout(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	ids := []string{base}
	for i := 0; i < 305; i++ {
		ids = append(ids, f.candidate(t, base, fmt.Sprintf("V = %d\n", i), i+1))
	}
	if err := f.s.Append(ctx(t), ids[7], evaluated(4.25, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	// The tree is fanned out, as git would have it.
	if out := runGit(t, f.dir, "ls-tree", "refs/notes/evolve"); !strings.HasPrefix(out, "040000 tree ") {
		t.Fatalf("notes root is not fanned out:\n%.300s", out)
	}
	// git log --notes shows every note.
	out := runGit(t, f.dir, "log", "--no-walk", "--notes=evolve", "--format=%H%n%N%x00", "--glob=refs/evolve/demo/*")
	shown := map[string]string{}
	for _, rec := range strings.Split(out, "\x00") {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		id, note, _ := strings.Cut(rec, "\n")
		shown[id] = note
	}
	if len(shown) != len(ids) {
		t.Fatalf("git log showed %d commits, want %d", len(shown), len(ids))
	}
	for _, id := range ids {
		ours, err := f.s.Note(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimRight(shown[id], "\n") != strings.TrimRight(string(ours), "\n") {
			t.Fatalf("git log --notes=evolve for %s:\n%q\nwant\n%q", id[:8], shown[id], ours)
		}
	}
	// git notes show agrees, byte for byte.
	for _, id := range []string{ids[0], ids[7], ids[300]} {
		ours, _ := f.s.Note(ctx(t), id)
		if got := runGit(t, f.dir, "notes", "--ref=evolve", "show", id); got != string(ours) {
			t.Errorf("git notes show %s = %q, want %q", id[:8], got, ours)
		}
	}
	if !strings.Contains(runGit(t, f.dir, "notes", "--ref=evolve", "show", ids[7]), `"score":4.25`) {
		t.Error("evaluated event not shown by git")
	}
	if n := len(strings.Fields(runGit(t, f.dir, "notes", "--ref=evolve", "list"))); n != 2*len(ids) {
		t.Errorf("git notes list: %d fields, want %d", n, 2*len(ids))
	}
}

// makeBlobs stores n small blobs with git fast-import and returns their ids,
// objects to hang notes on.
func makeBlobs(t *testing.T, dir string, n int) []string {
	t.Helper()
	var stream strings.Builder
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("object %d\n", i)
		fmt.Fprintf(&stream, "blob\nmark :%d\ndata %d\n%s\n", i, len(body), body)
	}
	marks := filepath.Join(t.TempDir(), "marks")
	gitIn(t, dir, stream.String(), "fast-import", "--quiet", "--export-marks="+marks)
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		_, h, _ := strings.Cut(line, " ")
		ids = append(ids, h)
	}
	return ids
}

// gitNotesTree writes note "hello" on each object with git notes (one
// process, like a batch `git notes add`) into ref and returns its tree.
func gitNotesTree(t *testing.T, dir, ref string, objs []string) string {
	t.Helper()
	runGit(t, dir, "notes", "--ref="+ref, "add", "-f", "-m", "hello", objs[0])
	var in strings.Builder
	for _, o := range objs[1:] {
		fmt.Fprintf(&in, "%s %s\n", objs[0], o)
	}
	if len(objs) > 1 {
		gitIn(t, dir, in.String(), "notes", "--ref="+ref, "copy", "-f", "--stdin")
	}
	return strings.TrimSpace(runGit(t, dir, "rev-parse", "refs/notes/"+ref+"^{tree}"))
}

// TestNotesLayoutIsGits compares, tree hash for tree hash, the notes trees
// git-evolve writes with the ones `git notes` writes for the same notes:
// flat, one level of fanout, and two levels in part of the tree.
func TestNotesLayoutIsGits(t *testing.T) {
	f := newDiskFixture(t)
	objs := makeBlobs(t, f.dir, 30000)
	hello := []byte("hello\n")
	add := func(objs []string) {
		t.Helper()
		edits := make([]noteAppend, len(objs))
		for i, o := range objs {
			edits[i] = noteAppend{key: plumbing.NewHash(o), lines: hello}
		}
		unlock, err := f.s.lockNotes(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if err := f.s.appendNotesLocked(ctx(t), edits, "test\n"); err != nil {
			t.Fatal(err)
		}
	}
	// One note at a time, as Append does, checking along the way.
	done := 0
	for _, n := range []int{1, 2, 17, 60, 100, 150, 310} {
		for ; done < n; done++ {
			add(objs[done : done+1])
		}
		_, tree, _ := f.s.notesHead()
		if want := gitNotesTree(t, f.dir, "git", objs[:n]); tree.String() != want {
			t.Fatalf("%d notes added one by one: tree %s, git writes %s", n, tree, want)
		}
	}
	// Then the rest at once; some "ab/" directories get a second level.
	add(objs[done:])
	_, tree, _ := f.s.notesHead()
	if want := gitNotesTree(t, f.dir, "git", objs); tree.String() != want {
		t.Fatalf("30000 notes: tree %s, git writes %s", tree, want)
	}
	if !strings.Contains(runGit(t, f.dir, "ls-tree", "-r", "-d", "--name-only", tree.String()), "/") {
		t.Fatal("no second fanout level at 30000 notes")
	}
	// Starting from git's tree, git-evolve changes it as git would: both add
	// the same notes one by one to the same tree.
	gitTree := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/git"))
	head, _, _ := f.s.notesHead()
	if err := f.s.refs.update(NotesRef.String(), plumbing.NewHash(gitTree), head); err != nil {
		t.Fatal(err)
	}
	more := makeBlobs(t, f.dir, 30040)[30000:]
	for _, o := range more {
		add([]string{o})
		runGit(t, f.dir, "notes", "--ref=git", "add", "-m", "hello", o)
	}
	_, tree, _ = f.s.notesHead()
	if want := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/git^{tree}")); tree.String() != want {
		t.Fatalf("adding to git's tree: %s, git writes %s", tree, want)
	}
	// Every note is read back, whatever its depth.
	count := 0
	if err := walkNotes(f.s, tree, "", func(key, blob plumbing.Hash) { count++ }); err != nil {
		t.Fatal(err)
	}
	if count != 30040 {
		t.Errorf("walked %d notes, want 30040", count)
	}
	for _, o := range []string{objs[0], objs[12345], objs[29999], more[39]} {
		n, err := f.s.Note(ctx(t), o)
		if err != nil || string(n) != "hello\n" {
			t.Errorf("Note(%s) = %q, %v", o[:8], n, err)
		}
	}
}

func TestWeReadGitsNotes(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, f.candidate(t, base, fmt.Sprintf("V = %d\n", i), i+1))
	}
	if _, err := f.s.Candidates(ctx(t), testExp); err != nil { // an index to bring up to date
		t.Fatal(err)
	}
	line, _ := evaluated(7.5, t0.Add(time.Hour)).Line()
	runGit(t, f.dir, "notes", "--ref=evolve", "append", "-m", string(line), ids[2])
	// A note git wrote for a commit that had none; and one with a bad line.
	runGit(t, f.dir, "notes", "--ref=evolve", "add", "-m", `{"v":1,"exp":"demo","event":"proposed","at":"2026-11-26T12:00:00Z","title":"by hand"}`, f.head)
	runGit(t, f.dir, "notes", "--ref=evolve", "append", "-m", "oops, not json", ids[3])
	rec, err := f.s.Events(ctx(t), ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := rec.Score(); !ok || s != 7.5 || len(rec.Events) != 2 {
		t.Errorf("events after git notes append: %v", lines(t, rec.Events))
	}
	cs, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	if c := findCandidate(t, cs, ids[2]); c.Status() != evolve.StatusOK {
		t.Errorf("index missed git's append: %v", lines(t, c.Events))
	}
	if c := findCandidate(t, cs, ids[3]); len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].String(), ids[3][:8]) {
		t.Errorf("warnings = %v", c.Warnings)
	}
	if rec, _ := f.s.Events(ctx(t), f.head); rec.Title() != "by hand" {
		t.Errorf("note added by git on a plain commit: %+v", rec)
	}
}

// TestWeReadGitsFanout reads notes that git (notes.c and fast-import) laid
// out itself, past 300 notes.
func TestWeReadGitsFanout(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	// 310 candidates made by fast-import, their notes by fast-import too
	// (its own fanout rule), then one appended by git notes.
	var stream strings.Builder
	for i := 1; i <= 310; i++ {
		msg := evolve.CommitMessage{Exp: testExp, Title: fmt.Sprintf("imported %d", i)}.String()
		fmt.Fprintf(&stream, "commit refs/imported\nmark :%d\ncommitter A <a@b> %d +0000\ndata %d\n%s\nfrom %s\n\n",
			i, t0.Unix()+int64(i), len(msg), msg, base)
	}
	stream.WriteString("commit refs/notes/evolve\ncommitter A <a@b> 1800000000 +0000\ndata 3\nfi\nfrom refs/notes/evolve^0\n")
	for i := 1; i <= 310; i++ {
		line := fmt.Sprintf(`{"v":1,"exp":"demo","event":"proposed","at":"2026-11-26T12:00:00Z","title":"imported %d"}`, i)
		fmt.Fprintf(&stream, "N inline :%d\ndata %d\n%s\n", i, len(line)+1, line)
	}
	marks := filepath.Join(t.TempDir(), "marks")
	gitIn(t, f.dir, stream.String()+"\n", "fast-import", "--quiet", "--export-marks="+marks)
	b, _ := os.ReadFile(marks)
	var upd strings.Builder
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		_, h, _ := strings.Cut(l, " ")
		ids = append(ids, h)
		fmt.Fprintf(&upd, "create %s %s\n", CandidateRef(testExp, h), h)
	}
	gitIn(t, f.dir, upd.String(), "update-ref", "--stdin")
	runGit(t, f.dir, "update-ref", "-d", "refs/imported")
	if out := runGit(t, f.dir, "ls-tree", "refs/notes/evolve"); !strings.HasPrefix(out, "040000 tree ") {
		t.Fatalf("fast-import did not fan out:\n%.200s", out)
	}
	line, _ := evaluated(1.25, t0.Add(time.Hour)).Line()
	runGit(t, f.dir, "notes", "--ref=evolve", "append", "-m", string(line), ids[100])
	cs, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 311 {
		t.Fatalf("%d candidates", len(cs))
	}
	for i, id := range ids {
		c := findCandidate(t, cs, id)
		if c.Title() != fmt.Sprintf("imported %d", i+1) || c.Parent != base {
			t.Fatalf("candidate %d: title %q parent %s", i+1, c.Title(), c.Parent)
		}
	}
	if c := findCandidate(t, cs, ids[100]); c.Status() != evolve.StatusOK {
		t.Errorf("appended by git: %v", lines(t, c.Events))
	}
	// And writing on top of git's layout keeps git reading it.
	if err := f.s.Append(ctx(t), ids[200], evaluated(2, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got := runGit(t, f.dir, "notes", "--ref=evolve", "show", ids[200]); !strings.Contains(got, `"score":2`) || !strings.Contains(got, "imported 201") {
		t.Errorf("git notes show after our append: %q", got)
	}
}

// TestMergeMatchesGit diverges two notes refs (one written by git-evolve,
// one by the git CLI), merges them with `git notes merge -s cat_sort_uniq`
// and with MergeNotesRefs, and compares the trees.
func TestMergeMatchesGit(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, f.candidate(t, base, fmt.Sprintf("V = %d\n", i), i+1))
	}
	runGit(t, f.dir, "update-ref", "refs/notes/theirs", "refs/notes/evolve")
	// Ours: both-sides note (0), ours-only (1), changed here but removed there (4).
	for _, i := range []int{0, 1, 4} {
		if err := f.s.Append(ctx(t), ids[i], evaluated(float64(i), t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	// Theirs, by git: both-sides (0), theirs-only (2), a new note (head),
	// removals (3 unchanged here, 4 changed here).
	theirLine := func(score float64) string {
		l, _ := evaluated(score, t0.Add(2*time.Hour)).Line()
		return string(l)
	}
	runGit(t, f.dir, "notes", "--ref=theirs", "append", "-m", theirLine(10), ids[0])
	runGit(t, f.dir, "notes", "--ref=theirs", "append", "-m", theirLine(20), ids[2])
	runGit(t, f.dir, "notes", "--ref=theirs", "add", "-m", theirLine(30), f.head)
	runGit(t, f.dir, "notes", "--ref=theirs", "remove", ids[3], ids[4])
	ours := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/evolve"))

	runGit(t, f.dir, "notes", "--ref=evolve", "merge", "-q", "-s", "cat_sort_uniq", "refs/notes/theirs")
	gitTree := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/evolve^{tree}"))
	gitMerge := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/evolve"))
	runGit(t, f.dir, "update-ref", "refs/notes/evolve", ours, gitMerge)

	if err := f.s.MergeNotesRefs(ctx(t), NotesRef, "refs/notes/theirs"); err != nil {
		t.Fatal(err)
	}
	head, tree, _ := f.s.notesHead()
	if tree.String() != gitTree {
		t.Errorf("merged tree %s, git's %s\nours:\n%s\ngit's:\n%s", tree, gitTree,
			runGit(t, f.dir, "ls-tree", "-r", tree.String()), runGit(t, f.dir, "ls-tree", "-r", gitTree))
	}
	parents := strings.Fields(runGit(t, f.dir, "log", "-1", "--format=%P", head.String()))
	theirs := strings.TrimSpace(runGit(t, f.dir, "rev-parse", "refs/notes/theirs"))
	if !slices.Equal(parents, []string{ours, theirs}) {
		t.Errorf("merge commit parents %v, want [%s %s]", parents, ours, theirs)
	}
	// Every event of both sides is read.
	rec, _ := f.s.Events(ctx(t), ids[0])
	if len(rec.Events) != 3 {
		t.Errorf("note changed on both sides: %v", lines(t, rec.Events))
	}
	if rec, _ := f.s.Events(ctx(t), ids[2]); rec.Status() != evolve.StatusOK {
		t.Errorf("theirs-only change lost")
	}
	if rec, _ := f.s.Events(ctx(t), ids[3]); len(rec.Events) != 0 {
		t.Errorf("removal on theirs not applied: %v", lines(t, rec.Events))
	}
	if rec, _ := f.s.Events(ctx(t), ids[4]); len(rec.Events) != 2 {
		t.Errorf("changed here, removed there: %v", lines(t, rec.Events))
	}
	cs, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	if c := findCandidate(t, cs, ids[0]); len(c.Events) != 3 {
		t.Errorf("index after merge: %v", lines(t, c.Events))
	}
}

func TestOpen(t *testing.T) {
	f := newDiskFixture(t)
	sub := filepath.Join(f.dir, "experiments", "demo")
	s, err := Open(sub)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, _ := filepath.EvalSymlinks(f.dir)
	if got, _ := filepath.EvalSymlinks(s.Root()); got != root {
		t.Errorf("Root = %s, want %s", s.Root(), f.dir)
	}
	if got, _ := filepath.EvalSymlinks(s.GitDir()); got != filepath.Join(root, ".git") {
		t.Errorf("GitDir = %s", s.GitDir())
	}
	nowhere := t.TempDir()
	_, err = Open(nowhere)
	if !errors.Is(err, ErrNotRepository) || err.Error() != "not a git repository (or any parent): "+nowhere {
		t.Errorf("Open(not a repo) = %v", err)
	}
	// A linked worktree shares refs and notes with the main one.
	wt := filepath.Join(t.TempDir(), "wt")
	runGit(t, f.dir, "worktree", "add", "-q", "--detach", wt)
	ws, err := Open(wt)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	id, _, err := ws.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: testExp, When: t0})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(runGit(t, f.dir, "rev-parse", CandidateRef(testExp, id).String())); got != id {
		t.Errorf("baseline made in the worktree not seen in the main repository: %q", got)
	}
	if _, err := ws.Candidates(ctx(t), testExp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".git", "evolve", "index", testExp+".idx")); err != nil {
		t.Errorf("index not in the common git dir: %v", err)
	}
}

func TestCorruptIndexIsRebuilt(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	f.candidate(t, base, "x\n", 1)
	want, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.dir, ".git", "evolve", "index", testExp+".idx")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte{}, good...)
	flipped[len(flipped)*2/3] ^= 0x20 // inside an entry: only the checksum notices
	for _, bad := range [][]byte{[]byte("garbage"), good[:len(good)/2], append(append([]byte{}, good...), 'x'), nil, flipped} {
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		f.s.forgetMemo()
		got, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		compareCandidates(t, got, want)
	}
}
