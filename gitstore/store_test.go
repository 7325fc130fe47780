package gitstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/git-evolve/git-evolve/evolve"
)

// The conformance suite: every test here runs against memory and disk.

func TestBaseline(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		id, created, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: testExp, When: t0, By: "test/w0"})
		if err != nil || !created {
			t.Fatalf("EnsureBaseline = %s, %v, %v; want a new baseline", id, created, err)
		}
		again, created, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: testExp, When: t0.Add(time.Hour), By: "x"})
		if err != nil || created || again != id {
			t.Fatalf("second EnsureBaseline = %s, %v, %v; want %s, false", again, created, err, id)
		}
		c, err := f.s.readCommit(plumbing.NewHash(id))
		if err != nil {
			t.Fatal(err)
		}
		head, _ := f.s.readCommit(plumbing.NewHash(f.head))
		if len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != f.head {
			t.Errorf("baseline parents = %v, want [%s]", c.ParentHashes, f.head)
		}
		if c.TreeHash != head.TreeHash {
			t.Errorf("baseline tree %s differs from HEAD's %s", c.TreeHash, head.TreeHash)
		}
		if got := subject(c.Message); got != "evolve(demo): baseline" {
			t.Errorf("baseline subject = %q", got)
		}
		if c.Author.Email != head.Committer.Email || !c.Author.When.Equal(head.Committer.When) {
			t.Errorf("baseline author %v, want HEAD's committer %v (deterministic baseline)", c.Author, head.Committer)
		}
		rec, err := f.s.Events(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Events) != 1 || rec.Proposed == nil || rec.Proposed.Title != "baseline" || rec.Proposed.By != "test/w0" {
			t.Fatalf("baseline record = %+v", rec)
		}
		cs, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || !cs[0].Baseline || cs[0].Parent != "" || cs[0].ID != id {
			t.Fatalf("candidates = %+v", cs)
		}
	})
}

func TestBaselineFromRevisionAndErrors(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		_, _, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: "x", Parent: "no-such-rev", When: t0})
		if err == nil || !strings.Contains(err.Error(), "no-such-rev") {
			t.Errorf("bad revision: err = %v", err)
		}
		_, _, err = f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: "bad/name", When: t0})
		if err == nil || !strings.Contains(err.Error(), "invalid experiment name") {
			t.Errorf("bad name: err = %v", err)
		}
		id, _, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: "x", Parent: f.head, When: t0})
		if err != nil {
			t.Fatal(err)
		}
		// Same parent, same experiment: the very same commit.
		f2 := newMemFixture(t)
		id2, _, err := f2.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: "x", Parent: f2.head, When: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if f.dir == "" && id != id2 {
			t.Errorf("two stores made different baselines from the same commit: %s, %s", id, id2)
		}
	})
}

func TestCommitCandidate(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		isl := 2
		id, err := f.s.Commit(ctx(t), evolve.CommitRequest{
			Exp: testExp, Parent: base,
			Files: map[string][]byte{
				testProgram:                          []byte("RADIUS = 0.2\n"),
				"experiments/demo/lib/deep/util.py":  []byte("X = 1\n"),
				"experiments/demo/initial_program.c": []byte("int main(){}\n"),
			},
			Allowed:  testAllowed,
			Message:  evolve.CommitMessage{Title: "bigger radius", Motivation: "grow", Inspirations: []string{base}, Island: &isl},
			Proposed: evolve.Event{By: "test/w1", Model: "offline"},
			When:     t0.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.s.readCommit(plumbing.NewHash(id))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != base {
			t.Errorf("parents = %v, want [%s]", c.ParentHashes, base)
		}
		if !strings.HasPrefix(c.Message, "evolve(demo): bigger radius\n\ngrow\n") || !strings.Contains(c.Message, "Evolve-Island: 2") {
			t.Errorf("message = %q", c.Message)
		}
		if c.Author.Name != "Test User" || !c.Author.When.Equal(t0.Add(time.Minute)) {
			t.Errorf("author = %v", c.Author)
		}
		files, err := f.s.Files(ctx(t), id, []string{testProgram, "experiments/demo/lib/deep/util.py", "README.md", "missing", "experiments"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{testProgram: []byte("RADIUS = 0.2\n"), "experiments/demo/lib/deep/util.py": []byte("X = 1\n"), "README.md": []byte("# project\n")}
		if !reflect.DeepEqual(files, want) {
			t.Errorf("Files = %q, want %q", files, want)
		}
		// Untouched files keep their blob and mode (eval.sh stays executable).
		pc, _ := f.s.readCommit(plumbing.NewHash(base))
		cache := map[plumbing.Hash][]object.TreeEntry{}
		for _, p := range []string{"experiments/demo/eval.sh", "README.md"} {
			a, _, _ := f.s.lookupPath(pc.TreeHash, p, cache)
			b, _, _ := f.s.lookupPath(c.TreeHash, p, cache)
			if a != b {
				t.Errorf("%s changed: %v -> %v", p, a, b)
			}
		}
		if e, _, _ := f.s.lookupPath(c.TreeHash, "experiments/demo/eval.sh", cache); e.Mode != filemode.Executable {
			t.Errorf("eval.sh mode = %v", e.Mode)
		}
		// The ref and the proposed event.
		if h, ok, err := f.s.refs.read(CandidateRef(testExp, id).String()); err != nil || !ok || h.String() != id {
			t.Errorf("candidate ref = %s, %v, %v", h, ok, err)
		}
		rec, err := f.s.Events(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		p := rec.Proposed
		if p == nil || p.Exp != testExp || p.Parent != base || p.Title != "bigger radius" || p.By != "test/w1" ||
			!p.At.Equal(t0.Add(time.Minute)) || p.Island == nil || *p.Island != 2 || !slices.Equal(p.Inspirations, []string{base}) {
			t.Errorf("proposed = %+v", p)
		}
		d, err := f.s.Diff(ctx(t), base, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"-RADIUS = 0.1", "+RADIUS = 0.2", "+X = 1", "experiments/demo/lib/deep/util.py"} {
			if !strings.Contains(d, s) {
				t.Errorf("diff lacks %q:\n%s", s, d)
			}
		}
	})
}

func TestCommitRefusals(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		refsBefore, _ := f.s.refs.names(RefPrefix)
		notesBefore, _, _ := f.s.notesHead()
		cases := []struct {
			name  string
			files map[string][]byte
			par   string
			want  string
			is    error
		}{
			{"outside", map[string][]byte{testProgram: []byte("x"), "README.md": []byte("no")}, base, "README.md is not one of the editable files", ErrEditNotAllowed},
			{"dotdot", map[string][]byte{"experiments/demo/../../etc/passwd": []byte("x")}, base, "invalid path", nil},
			{"git dir", map[string][]byte{".git/config": []byte("x")}, base, "enters .git", nil},
			{"short parent", map[string][]byte{testProgram: []byte("x")}, base[:8], "not a full commit hash", nil},
			{"unknown parent", map[string][]byte{testProgram: []byte("x")}, f.head, "is not a candidate of experiment", ErrUnknownCandidate},
		}
		for _, c := range cases {
			_, err := f.s.Commit(ctx(t), evolve.CommitRequest{Exp: testExp, Parent: c.par, Files: c.files, Allowed: testAllowed, When: t0})
			if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
			}
		}
		// A directory of the parent cannot become a file, nor a file a directory.
		x, err := f.s.Commit(ctx(t), evolve.CommitRequest{Exp: testExp, Parent: base, When: t0, Allowed: testAllowed,
			Files: map[string][]byte{"experiments/demo/lib/deep/util.py": []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{"experiments/demo/lib": "it is a directory", "README.md/x": "it is a file"} {
			_, err = f.s.Commit(ctx(t), evolve.CommitRequest{Exp: testExp, Parent: x, When: t0, Files: map[string][]byte{p: []byte("x")}, Allowed: []string{p}})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("writing %s: err = %v, want %q", p, err, want)
			}
		}
		refsAfter, _ := f.s.refs.names(RefPrefix)
		if len(refsAfter) != len(refsBefore)+1 {
			t.Errorf("refused commits left refs: %d before, %d after", len(refsBefore), len(refsAfter))
		}
		notesAfter, _, _ := f.s.notesHead()
		if c, _ := f.s.readCommit(notesAfter); len(c.ParentHashes) != 1 || c.ParentHashes[0] != notesBefore {
			t.Errorf("refused commits wrote notes")
		}
	})
}

func TestAppendFoldAndWarnings(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		id := f.candidate(t, base, "RADIUS = 0.3\n", 1)
		if err := f.s.Append(ctx(t), id, evaluated(1.5, t0.Add(2*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Append(ctx(t), id, evaluated(2.5, t0.Add(3*time.Minute)),
			evolve.Event{Exp: testExp, Event: evolve.EventAnalyzed, At: t0.Add(4 * time.Minute), Analysis: "better", Lessons: []string{"grow"}}); err != nil {
			t.Fatal(err)
		}
		// A corrupt line, a line from a newer version with unknown fields,
		// and a blank line, written around git-evolve's own.
		future := `{"v":2,"exp":"demo","event":"evaluated","at":"2026-11-26T13:00:00Z","status":"ok","score":3.5,"gpu":{"kind":"h100"},"new_field":[1,2]}`
		raw := []byte("not json at all\n\n" + future + "\n{\"v\":1}\n")
		if err := f.s.appendRaw(id, raw); err != nil {
			t.Fatal(err)
		}
		rec, err := f.s.Events(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Events) != 5 {
			t.Fatalf("events = %d, want 5: %v", len(rec.Events), lines(t, rec.Events))
		}
		if s, ok := rec.Score(); !ok || s != 3.5 {
			t.Errorf("score = %v, %v; want the v2 evaluation's 3.5", s, ok)
		}
		if rec.Evaluated.V != 2 || string(rec.Evaluated.Extra["gpu"]) != `{"kind":"h100"}` || string(rec.Evaluated.Extra["new_field"]) != `[1,2]` {
			t.Errorf("unknown fields not kept: %+v", rec.Evaluated)
		}
		if l, _ := rec.Evaluated.Line(); !strings.Contains(string(l), `"gpu":{"kind":"h100"}`) {
			t.Errorf("unknown fields not written back: %s", l)
		}
		if rec.Analyzed == nil || rec.Analyzed.Analysis != "better" {
			t.Errorf("analyzed = %+v", rec.Analyzed)
		}
		if len(rec.Warnings) != 2 {
			t.Fatalf("warnings = %v", rec.Warnings)
		}
		for _, w := range rec.Warnings {
			if !strings.Contains(w.String(), "note of candidate "+id[:8]) {
				t.Errorf("warning does not name the candidate: %s", w)
			}
		}
		// Candidates folds the same way, from the index as well.
		for round := 0; round < 2; round++ {
			cs, err := f.s.Candidates(ctx(t), testExp)
			if err != nil {
				t.Fatal(err)
			}
			c := findCandidate(t, cs, id)
			if !slices.Equal(lines(t, c.Events), lines(t, rec.Events)) || len(c.Warnings) != 2 || c.Warnings[0].String() != rec.Warnings[0].String() {
				t.Errorf("round %d: candidate record differs from Events:\n%v\n%v\n%v", round, lines(t, c.Events), lines(t, rec.Events), c.Warnings)
			}
			f.s.forgetMemo()
		}
		// Invalid events are refused and write nothing.
		before, _, _ := f.s.notesHead()
		bad := evaluated(1, t0)
		bad.Status = "great"
		if err := f.s.Append(ctx(t), id, bad); err == nil || !strings.Contains(err.Error(), "invalid status") {
			t.Errorf("invalid event: err = %v", err)
		}
		if err := f.s.Append(ctx(t), strings.Repeat("ab", 20), evaluated(1, t0)); !errors.Is(err, ErrUnknownCandidate) {
			t.Errorf("append to a missing commit: err = %v", err)
		}
		if after, _, _ := f.s.notesHead(); after != before {
			t.Errorf("refused appends moved the notes ref")
		}
		if n, err := f.s.Note(ctx(t), base); err != nil || !strings.Contains(string(n), `"title":"baseline"`) {
			t.Errorf("Note(baseline) = %q, %v", n, err)
		}
		if n, err := f.s.Note(ctx(t), f.head); err != nil || n != nil {
			t.Errorf("Note(no note) = %q, %v", n, err)
		}
	})
}

// appendRaw appends bytes to a note as they are (tests write what other
// tools might).
func (s *Store) appendRaw(id string, raw []byte) error {
	unlock, err := s.lockNotes(ctxBackground())
	if err != nil {
		return err
	}
	defer unlock()
	return s.appendNotesLocked(ctxBackground(), []noteAppend{{key: plumbing.NewHash(id), lines: raw}}, "raw\n")
}

func findCandidate(t testing.TB, cs []evolve.Candidate, id string) evolve.Candidate {
	t.Helper()
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("candidate %s not listed", id)
	return evolve.Candidate{}
}

func TestCandidatesDAG(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		a := f.candidate(t, base, "A\n", 1)
		b := f.candidate(t, base, "B\n", 2)
		c := f.candidate(t, a, "C\n", 3)
		if err := f.s.Append(ctx(t), c, evaluated(9, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		// Another experiment does not leak in.
		other, _, err := f.s.EnsureBaseline(ctx(t), evolve.BaselineRequest{Exp: "other", When: t0})
		if err != nil {
			t.Fatal(err)
		}
		check := func(label string) {
			t.Helper()
			cs, err := f.s.Candidates(ctx(t), testExp)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range cs {
				got = append(got, fmt.Sprintf("%s parent=%s children=%d baseline=%v status=%s", x.ID[:7], short7(x.Parent), x.Children, x.Baseline, x.Status()))
			}
			want := []string{
				fmt.Sprintf("%s parent= children=2 baseline=true status=pending", base[:7]),
				fmt.Sprintf("%s parent=%s children=1 baseline=false status=pending", a[:7], base[:7]),
				fmt.Sprintf("%s parent=%s children=0 baseline=false status=pending", b[:7], base[:7]),
				fmt.Sprintf("%s parent=%s children=0 baseline=false status=ok", c[:7], a[:7]),
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s:\n got %q\nwant %q", label, got, want)
			}
		}
		check("fresh")
		f.s.forgetMemo()
		check("from the saved index")
		if err := f.s.DropIndex(testExp); err != nil {
			t.Fatal(err)
		}
		check("after DropIndex")
		exps, err := f.s.Experiments(ctx(t))
		if err != nil || !slices.Equal(exps, []string{testExp, "other"}) {
			t.Errorf("Experiments = %v, %v", exps, err)
		}
		if cs, err := f.s.Candidates(ctx(t), "other"); err != nil || len(cs) != 1 || cs[0].ID != other {
			t.Errorf("other experiment = %v, %v", cs, err)
		}
		if cs, err := f.s.Candidates(ctx(t), "nothing-here"); err != nil || len(cs) != 0 {
			t.Errorf("empty experiment = %v, %v", cs, err)
		}
	})
}

func short7(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// TestIndexFollowsGit changes refs and notes behind the index's back (as
// another process or git would) and checks each refresh against a rebuild.
func TestIndexFollowsGit(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		var ids []string
		for i := 0; i < 12; i++ {
			ids = append(ids, f.candidate(t, base, fmt.Sprintf("P%d\n", i), i+1))
		}
		if _, err := f.s.Candidates(ctx(t), testExp); err != nil {
			t.Fatal(err)
		}
		// A second store on the same repository writes (another process).
		other := f.s
		if f.dir != "" {
			var err error
			if other, err = Open(f.dir); err != nil {
				t.Fatal(err)
			}
			defer other.Close()
		}
		for i, id := range ids[:5] {
			if err := other.Append(ctx(t), id, evaluated(float64(i), t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		newID := f.candidate(t, ids[3], "new\n", 50)
		// Delete one ref.
		gone := CandidateRef(testExp, ids[7])
		if f.dir != "" {
			runGit(t, f.dir, "update-ref", "-d", gone.String())
		} else if err := f.s.st.RemoveReference(gone); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		fresh := rebuilt(t, f)
		compareCandidates(t, got, fresh)
		if len(got) != 13 {
			t.Errorf("%d candidates, want 13", len(got))
		}
		findCandidate(t, got, newID)
		if f.dir != "" {
			// git gc packs the refs: listing and the index still agree.
			runGit(t, f.dir, "pack-refs", "--all")
			got, err = f.s.Candidates(ctx(t), testExp)
			if err != nil {
				t.Fatal(err)
			}
			compareCandidates(t, got, fresh)
		}
	})
}

// rebuilt lists candidates with a fresh store and no index.
func rebuilt(t *testing.T, f *fixture) []evolve.Candidate {
	t.Helper()
	if err := f.s.DropIndex(testExp); err != nil {
		t.Fatal(err)
	}
	cs, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func compareCandidates(t *testing.T, got, want []evolve.Candidate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d candidates, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Parent != w.Parent || g.Children != w.Children || g.Baseline != w.Baseline ||
			g.Subject != w.Subject || !g.Time.Equal(w.Time) || !slices.Equal(lines(t, g.Events), lines(t, w.Events)) {
			t.Errorf("candidate %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestResolve(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		id := f.candidate(t, base, "x\n", 1)
		for _, p := range []string{id, id[:4], strings.ToUpper(id[:10]), " " + id[:12] + " "} {
			got, err := f.s.Resolve(ctx(t), testExp, p)
			if err != nil || got != id {
				t.Errorf("Resolve(%q) = %s, %v", p, got, err)
			}
			if got, err := f.s.Resolve(ctx(t), "", p); err != nil || got != id {
				t.Errorf("Resolve(any, %q) = %s, %v", p, got, err)
			}
		}
		for _, p := range []string{"abc", "xyz1", "", strings.Repeat("a", 41)} {
			if _, err := f.s.Resolve(ctx(t), testExp, p); err == nil || !strings.Contains(err.Error(), "at least 4 hex digits") {
				t.Errorf("Resolve(%q) err = %v", p, err)
			}
		}
		// Find an unused prefix for the "unknown" case.
		unknown := "0000"
		for _, c := range []string{"0000", "1111", "2222", "3333"} {
			if !strings.HasPrefix(id, c) && !strings.HasPrefix(base, c) {
				unknown = c
				break
			}
		}
		_, err := f.s.Resolve(ctx(t), testExp, unknown)
		if !errors.Is(err, ErrUnknownCandidate) || !strings.Contains(err.Error(), "git evolve log -e demo") {
			t.Errorf("unknown id: err = %v", err)
		}
		if _, err := f.s.Resolve(ctx(t), "other", id[:8]); !errors.Is(err, ErrUnknownCandidate) {
			t.Errorf("id of another experiment: err = %v", err)
		}
		// Ambiguity: make refs until two ids share 4 hex digits.
		seen := map[string]string{base[:4]: base, id[:4]: id}
		var pair [2]string
		for i := 0; pair[0] == ""; i++ {
			c, err := f.s.writeCommit(&object.Commit{Message: fmt.Sprintf("filler %d\n", i), TreeHash: mustTree(t, f, base),
				ParentHashes: []plumbing.Hash{plumbing.NewHash(base)}, Author: object.Signature{Name: "x", Email: "x", When: t0}, Committer: object.Signature{Name: "x", Email: "x", When: t0}})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.s.createCandidateRef(testExp, c); err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[c.String()[:4]]; ok {
				pair = [2]string{prev, c.String()}
			}
			seen[c.String()[:4]] = c.String()
		}
		_, err = f.s.Resolve(ctx(t), testExp, pair[0][:4])
		if !errors.Is(err, ErrAmbiguousCandidate) || !strings.Contains(err.Error(), pair[0][:12]) || !strings.Contains(err.Error(), pair[1][:12]) {
			t.Errorf("ambiguous: err = %v", err)
		}
		if got, err := f.s.Resolve(ctx(t), testExp, pair[1]); err != nil || got != pair[1] {
			t.Errorf("full id of an ambiguous prefix: %s, %v", got, err)
		}
	})
}

func mustTree(t *testing.T, f *fixture, id string) plumbing.Hash {
	c, err := f.s.readCommit(plumbing.NewHash(id))
	if err != nil {
		t.Fatal(err)
	}
	return c.TreeHash
}

// TestManyNotesFanout writes past git's fanout threshold and reads back
// every note, through the index and one by one.
func TestManyNotesFanout(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		var ids []string
		for i := 0; i < 320; i++ {
			ids = append(ids, f.candidate(t, base, fmt.Sprintf("V = %d\n", i), i+1))
		}
		for i, id := range ids {
			if i%3 == 0 {
				if err := f.s.Append(ctx(t), id, evaluated(float64(i), t0.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
			}
		}
		_, tree, _ := f.s.notesHead()
		entries, _ := f.s.treeEntries(tree)
		for _, e := range entries {
			if e.Mode != filemode.Dir || len(e.Name) != 2 {
				t.Fatalf("notes root entry %q (%v): want only fanout directories past 300 notes", e.Name, e.Mode)
			}
		}
		cs, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 321 {
			t.Fatalf("%d candidates", len(cs))
		}
		byID := map[string]evolve.Candidate{}
		for _, c := range cs {
			byID[c.ID] = c
		}
		for i, id := range ids {
			c := byID[id]
			wantEvents := 1
			if i%3 == 0 {
				wantEvents = 2
			}
			if len(c.Events) != wantEvents || c.Proposed == nil || c.Proposed.Title != fmt.Sprintf("change %d", i+1) {
				t.Fatalf("candidate %d: %d events, proposed %+v", i, len(c.Events), c.Proposed)
			}
			rec, err := f.s.Events(ctx(t), id)
			if err != nil || !slices.Equal(lines(t, rec.Events), lines(t, c.Events)) {
				t.Fatalf("Events(%d) = %v, %v", i, lines(t, rec.Events), err)
			}
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		const workers, each = 8, 6
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		idsCh := make(chan string, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				parent := base
				for i := 0; i < each; i++ {
					id, err := f.s.Commit(ctx(t), evolve.CommitRequest{Exp: testExp, Parent: parent, Allowed: testAllowed,
						Files:   map[string][]byte{testProgram: []byte(fmt.Sprintf("W%d I%d\n", w, i))},
						Message: evolve.CommitMessage{Title: fmt.Sprintf("w%d-%d", w, i)}, When: t0.Add(time.Duration(w*100+i) * time.Second)})
					if err != nil {
						errs <- err
						return
					}
					if err := f.s.Append(ctx(t), id, evaluated(float64(w*100+i), t0.Add(time.Hour))); err != nil {
						errs <- err
						return
					}
					if _, err := f.s.Candidates(ctx(t), testExp); err != nil {
						errs <- err
						return
					}
					idsCh <- id
					parent = id
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		close(idsCh)
		for err := range errs {
			t.Fatal(err)
		}
		cs, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != workers*each+1 {
			t.Fatalf("%d candidates, want %d", len(cs), workers*each+1)
		}
		for id := range idsCh {
			c := findCandidate(t, cs, id)
			if len(c.Events) != 2 || c.Status() != evolve.StatusOK {
				t.Errorf("candidate %s lost an event: %v", id[:8], lines(t, c.Events))
			}
		}
		compareCandidates(t, cs, rebuilt(t, f))
	})
}

func TestMergeNotesRefs(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		a := f.candidate(t, base, "A\n", 1)
		b := f.candidate(t, base, "B\n", 2)
		fork, _, _ := f.s.notesHead()
		const theirs = plumbing.ReferenceName("refs/notes/remotes/origin/evolve")
		if err := f.s.refs.update(theirs.String(), fork, plumbing.ZeroHash); err != nil {
			t.Fatal(err)
		}
		// Up to date: nothing happens.
		if err := f.s.MergeNotesRefs(ctx(t), NotesRef, theirs); err != nil {
			t.Fatal(err)
		}
		if h, _, _ := f.s.notesHead(); h != fork {
			t.Fatal("merging an identical ref moved the notes ref")
		}
		// Ours moves on: theirs is contained, nothing happens.
		if err := f.s.Append(ctx(t), a, evaluated(1, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		ours1, _, _ := f.s.notesHead()
		if err := f.s.MergeNotesRefs(ctx(t), NotesRef, theirs); err != nil {
			t.Fatal(err)
		}
		if h, _, _ := f.s.notesHead(); h != ours1 {
			t.Fatal("merging an ancestor moved the notes ref")
		}
		// Theirs diverges: appends to a (both sides changed) and b (only theirs).
		theirEvents := []evolve.Event{evaluated(2, t0.Add(2*time.Hour))}
		if err := f.s.appendOnRef(theirs, a, theirEvents); err != nil {
			t.Fatal(err)
		}
		if err := f.s.appendOnRef(theirs, b, theirEvents); err != nil {
			t.Fatal(err)
		}
		theirsHead, _, _ := f.s.refs.read(theirs.String())
		if err := f.s.MergeNotesRefs(ctx(t), NotesRef, theirs); err != nil {
			t.Fatal(err)
		}
		merged, _, _ := f.s.notesHead()
		mc, _ := f.s.readCommit(merged)
		if !slices.Equal(mc.ParentHashes, []plumbing.Hash{ours1, theirsHead}) {
			t.Errorf("merge parents = %v, want ours, theirs", mc.ParentHashes)
		}
		recA, _ := f.s.Events(ctx(t), a)
		if len(recA.Events) != 3 {
			t.Errorf("a after merge: %v", lines(t, recA.Events))
		}
		recB, _ := f.s.Events(ctx(t), b)
		if len(recB.Events) != 2 || recB.Evaluated == nil {
			t.Errorf("b after merge: %v", lines(t, recB.Events))
		}
		// A note changed on one side only keeps that side's bytes (order).
		noteB, _ := f.s.Note(ctx(t), b)
		if !strings.HasPrefix(string(noteB), `{"v":1,"exp":"demo","event":"proposed"`) {
			t.Errorf("b's note was rewritten: %s", noteB)
		}
		// Ours is now contained in theirs' future: fast-forward.
		if err := f.s.refs.update(theirs.String(), merged, theirsHead); err != nil {
			t.Fatal(err)
		}
		if err := f.s.appendOnRef(theirs, base, theirEvents); err != nil {
			t.Fatal(err)
		}
		ff, _, _ := f.s.refs.read(theirs.String())
		if err := f.s.MergeNotesRefs(ctx(t), NotesRef, theirs); err != nil {
			t.Fatal(err)
		}
		if h, _, _ := f.s.notesHead(); h != ff {
			t.Errorf("not fast-forwarded: %s, want %s", h, ff)
		}
		// Missing ours: created from theirs. Missing theirs: nothing.
		if err := f.s.MergeNotesRefs(ctx(t), "refs/notes/new", theirs); err != nil {
			t.Fatal(err)
		}
		if h, ok, _ := f.s.refs.read("refs/notes/new"); !ok || h != ff {
			t.Errorf("refs/notes/new = %s, %v", h, ok)
		}
		if err := f.s.MergeNotesRefs(ctx(t), NotesRef, "refs/notes/none"); err != nil {
			t.Errorf("merging a missing ref: %v", err)
		}
	})
}

// appendOnRef appends events to a note on another notes ref (what a second
// machine does to its own refs/notes/evolve).
func (s *Store) appendOnRef(ref plumbing.ReferenceName, id string, events []evolve.Event) error {
	key := plumbing.NewHash(id)
	lines, _, err := encodeEvents(key, events)
	if err != nil {
		return err
	}
	oldCommit, oldTree, err := s.notesHeadOf(ref)
	if err != nil {
		return err
	}
	t, err := loadNotesTree(s, oldTree)
	if err != nil {
		return err
	}
	cur, err := t.get(key)
	if err != nil {
		return err
	}
	var content []byte
	if !cur.IsZero() {
		content, _ = s.readBlob(cur)
	}
	blob, err := s.writeBlob(append(content, lines...))
	if err != nil {
		return err
	}
	if err := t.set(key, blob); err != nil {
		return err
	}
	tree, err := t.write()
	if err != nil {
		return err
	}
	return s.commitNotesTree(ref, tree, []plumbing.Hash{oldCommit}, oldCommit, "other machine\n")
}

func TestAuthor(t *testing.T) {
	f := newMemFixture(t)
	if got := f.s.Author(); got.String() != "Test User <test@example.com>" {
		t.Errorf("Author from ~/.gitconfig = %s", got)
	}
	t.Setenv("GIT_AUTHOR_NAME", "Env Name")
	t.Setenv("GIT_AUTHOR_EMAIL", "env@example.com")
	if got := f.s.Author(); got.String() != "Env Name <env@example.com>" {
		t.Errorf("Author from the environment = %s", got)
	}
	t.Setenv("GIT_AUTHOR_NAME", "")
	t.Setenv("GIT_AUTHOR_EMAIL", "")
	t.Setenv("HOME", t.TempDir())
	if got := f.s.Author(); got != DefaultIdentity {
		t.Errorf("Author without config = %s", got)
	}
}

func TestDiskAuthorFromRepoConfig(t *testing.T) {
	f := newDiskFixture(t)
	runGit(t, f.dir, "config", "user.name", "Repo Person")
	runGit(t, f.dir, "config", "user.email", "repo@example.com")
	if got := f.s.Author(); got.String() != "Repo Person <repo@example.com>" {
		t.Errorf("Author = %s", got)
	}
}

func TestCodecRoundTripsEveryEventField(t *testing.T) {
	// Fill every field of evolve.Event by reflection, so a field added later
	// is covered without touching this test.
	var e evolve.Event
	fillValue(t, reflect.ValueOf(&e).Elem(), 1)
	enc := &encoder{}
	eventCodec.encode(enc, reflect.ValueOf(&e).Elem())
	var got evolve.Event
	d := &decoder{buf: enc.buf, intern: newInternTable()}
	eventCodec.decode(d, reflect.ValueOf(&got).Elem())
	if d.err != nil || d.off != len(enc.buf) {
		t.Fatalf("decode: %v at %d of %d", d.err, d.off, len(enc.buf))
	}
	a, _ := json.Marshal(e)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	// Zero values inside pointers, lists and maps survive too.
	zero, f := 0, 0.0
	z := evolve.Event{ExitCode: &zero, Score: &f, Lessons: []string{"", "x"}, Metrics: map[string]any{"n": nil, "f": false, "l": []any{0.0, "", map[string]any{}}}}
	enc = &encoder{}
	eventCodec.encode(enc, reflect.ValueOf(&z).Elem())
	var gz evolve.Event
	d = &decoder{buf: enc.buf, intern: newInternTable()}
	eventCodec.decode(d, reflect.ValueOf(&gz).Elem())
	if !reflect.DeepEqual(z, gz) {
		t.Errorf("zero values: %#v\n%#v", z, gz)
	}
}

func fillValue(t *testing.T, v reflect.Value, n int) {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600))))
		return
	case v.Type() == rawMessageType:
		v.SetBytes([]byte(`{"k":[1,"two"]}`))
		return
	case v.Type() == anyMapType:
		v.Set(reflect.ValueOf(map[string]any{"f": 1.5, "s": "x", "b": true, "l": []any{1.0, "y"}, "m": map[string]any{"z": nil}}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(n))
	case reflect.Float64:
		v.SetFloat(float64(n) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillValue(t, v.Field(i), n+i)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fillValue(t, s.Index(0), n)
		fillValue(t, s.Index(1), n+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		val := reflect.New(v.Type().Elem()).Elem()
		fillValue(t, val, n)
		m.SetMapIndex(reflect.ValueOf("key"), val)
		v.Set(m)
	default:
		t.Fatalf("fillValue: add a case for %s", v.Type())
	}
}

// TestStreamedIndexBuild builds the index the way a first run over a large
// experiment does (streamed to the file) and compares with the in-memory way.
func TestStreamedIndexBuild(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		for i := 0; i < 9; i++ {
			id := f.candidate(t, base, fmt.Sprintf("S%d\n", i), i+1)
			if i%2 == 0 {
				if err := f.s.Append(ctx(t), id, evaluated(float64(i), t0.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := rebuilt(t, f)
		defer func(n int) { streamThreshold = n }(streamThreshold)
		streamThreshold = 3
		got := rebuilt(t, f)
		compareCandidates(t, got, want)
		f.s.forgetMemo()
		again, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		compareCandidates(t, again, want)
	})
}

// TestIndexSaving: a process's first listing saves what changed, so the
// next process starts from an up-to-date index; later listings of a
// long-running store save on Close.
func TestIndexSaving(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		base := f.baseline(t)
		id := f.candidate(t, base, "x\n", 1)
		savedAt := func() plumbing.Hash {
			t.Helper()
			src := f.s.openIndex(testExp)
			if src == nil {
				t.Fatal("no saved index")
			}
			defer src.close()
			head, _, err := src.peek()
			if err != nil {
				t.Fatal(err)
			}
			return head.notesCommit
		}
		if _, err := f.s.Candidates(ctx(t), testExp); err != nil {
			t.Fatal(err)
		}
		notes, _, _ := f.s.notesHead()
		if savedAt() != notes {
			t.Fatal("first listing did not save the index")
		}
		// Long-running: a small change stays in memory...
		if err := f.s.Append(ctx(t), id, evaluated(1, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Candidates(ctx(t), testExp); err != nil {
			t.Fatal(err)
		}
		if savedAt() != notes {
			t.Fatal("a small change was saved at once by a long-running store")
		}
		// ...until Close (in-memory stores have nothing to close but save too).
		f.s.flushMemos()
		now, _, _ := f.s.notesHead()
		if savedAt() != now {
			t.Fatal("flush did not save the index")
		}
		// A new process (no memo) saves any change on its first listing.
		f.s.forgetMemo()
		if err := f.s.Append(ctx(t), id, evaluated(2, t0.Add(2*time.Hour))); err != nil {
			t.Fatal(err)
		}
		cs, err := f.s.Candidates(ctx(t), testExp)
		if err != nil {
			t.Fatal(err)
		}
		now, _, _ = f.s.notesHead()
		if savedAt() != now {
			t.Fatal("first listing after a change did not save")
		}
		if s, _ := findCandidate(t, cs, id).Score(); s != 2 {
			t.Errorf("score = %v", s)
		}
	})
}
