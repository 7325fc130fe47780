package gitstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
)

// The sync tests run between real repositories made by the git CLI: bare
// remotes reached through file paths (go-git runs git-upload-pack and
// git-receive-pack) and, once, over smart HTTP served by git http-backend.

const syncExp = "packing"

var (
	syncProgram = "experiments/packing/initial_program.py"
	syncAllowed = []string{"experiments/packing/initial_program*"}
	syncT0      = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

// syncGit runs git in dir and returns its trimmed stdout; failure fails t.
func syncGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := syncGitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s (in %s): %v", strings.Join(args, " "), dir, err)
	}
	return out
}

func syncGitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// syncFsck runs git fsck --strict; only dangling objects are tolerated.
func syncFsck(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command("git", "fsck", "--strict", "--no-progress")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git fsck --strict in %s: %v\n%s", dir, err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "dangling ") && !strings.HasPrefix(l, "notice: HEAD points to an unborn branch") {
			t.Errorf("git fsck --strict in %s: %s", dir, l)
		}
	}
}

// syncBare makes an empty bare repository.
func syncBare(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	syncGit(t, t.TempDir(), "init", "-q", "--bare", dir)
	return dir
}

// syncRepo makes a repository holding the experiment, with origin = remote
// when remote is not "", and opens it.
func syncRepo(t testing.TB, remote string) (*gitstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	syncGit(t, dir, "init", "-q", "-b", "main")
	for p, c := range map[string]string{
		"README.md":                       "# project\n",
		"experiments/packing/input.md":    "Pack circles.\n",
		"experiments/packing/eval.sh":     "#!/bin/sh\necho '{\"score\": 1}'\n",
		syncProgram:                       "R = 0.1\n",
		"experiments/packing/notes.txt":   "unchanged by candidates\n",
		"experiments/packing/lib/util.py": "X = 1\n",
	} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	syncGit(t, dir, "add", "-A")
	syncGit(t, dir, "-c", "user.name=Fixed", "-c", "user.email=fixed@example.com", "commit", "-q", "-m", "initial", "--date", "2026-01-01T00:00:00Z")
	if remote != "" {
		syncGit(t, dir, "remote", "add", "origin", remote)
	}
	return syncOpen(t, dir), dir
}

// syncClone clones remote with the git CLI as over a network (it brings
// main and its objects only) and opens the clone.
func syncClone(t testing.TB, remote string) (*gitstore.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	syncGit(t, filepath.Dir(dir), "clone", "-q", "--no-local", remote, dir)
	return syncOpen(t, dir), dir
}

func syncOpen(t testing.TB, dir string) *gitstore.Store {
	t.Helper()
	s, err := gitstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// syncBaseline makes (or finds) the experiment's baseline, evaluated.
func syncBaseline(t testing.TB, s *gitstore.Store) string {
	t.Helper()
	ctx := context.Background()
	id, created, err := s.EnsureBaseline(ctx, evolve.BaselineRequest{Exp: syncExp, When: syncT0, By: "test/w0"})
	if err != nil {
		t.Fatal(err)
	}
	if created {
		syncEvaluate(t, s, id, 1, syncT0)
	}
	return id
}

// syncCandidates adds n candidates, each a child of the previous one (the
// first a child of parent), proposed and evaluated. tag makes the programs
// of different callers differ.
func syncCandidates(t testing.TB, s *gitstore.Store, parent string, n int, tag string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i < n; i++ {
		when := syncT0.Add(time.Duration(len(tag)*1000+i+1) * time.Second)
		id, err := s.Commit(ctx, evolve.CommitRequest{
			Exp: syncExp, Parent: parent,
			Files:    map[string][]byte{syncProgram: []byte(fmt.Sprintf("R = 0.1\n# %s %d\n", tag, i))},
			Allowed:  syncAllowed,
			Message:  evolve.CommitMessage{Title: fmt.Sprintf("%s %d", tag, i), Motivation: "try"},
			Proposed: evolve.Event{By: "test/" + tag, Sampler: "greedy"},
			When:     when,
		})
		if err != nil {
			t.Fatal(err)
		}
		syncEvaluate(t, s, id, float64(i), when)
		ids = append(ids, id)
		parent = id
	}
	return ids
}

func syncEvaluate(t testing.TB, s *gitstore.Store, id string, score float64, at time.Time) {
	t.Helper()
	code := 0
	ev := evolve.Event{Exp: syncExp, Event: evolve.EventEvaluated, At: at, By: "test/w0",
		Status: evolve.StatusOK, Score: &score, ExitCode: &code}
	if err := s.Append(context.Background(), id, ev); err != nil {
		t.Fatal(err)
	}
}

// syncRefs lists the candidate refs of dir with the git CLI.
func syncRefs(t testing.TB, dir string) []string {
	t.Helper()
	out := syncGit(t, dir, "for-each-ref", "--format=%(refname) %(objectname)", "refs/evolve/")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func syncRev(t testing.TB, dir, rev string) string {
	t.Helper()
	out, err := syncGitErr(dir, "rev-parse", "-q", "--verify", rev)
	if err != nil {
		return ""
	}
	return out
}

func syncOptions(t testing.TB, s *gitstore.Store, remote string) gitstore.SyncOptions {
	t.Helper()
	r, err := s.ResolveRemote(remote)
	if err != nil {
		t.Fatal(err)
	}
	return gitstore.SyncOptions{Remote: r, Backoff: time.Millisecond}
}

func syncRun(t testing.TB, s *gitstore.Store, opt gitstore.SyncOptions) gitstore.SyncResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Sync(ctx, opt)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

func TestSyncPublishesThenChangesNothing(t *testing.T) {
	remote := syncBare(t)
	s, dir := syncRepo(t, remote)
	base := syncBaseline(t, s)
	ids := append([]string{base}, syncCandidates(t, s, base, 5, "a")...)

	res := syncRun(t, s, syncOptions(t, s, "origin"))
	if len(res.Pushed) != len(ids) || !res.NotesPushed || len(res.Fetched) != 0 || res.Attempts != 1 {
		t.Fatalf("first sync = %+v, want %d candidates and the notes pushed in one attempt", res, len(ids))
	}
	if res.BytesSent == 0 {
		t.Error("first sync reports no bytes sent")
	}
	if got, want := syncRefs(t, remote), syncRefs(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(ids) {
		t.Fatalf("remote refs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a, b := syncRev(t, dir, "refs/notes/evolve"), syncRev(t, remote, "refs/notes/evolve"); a == "" || a != b {
		t.Fatalf("notes: local %q, remote %q", a, b)
	}
	if tracking := syncRev(t, dir, "refs/notes/remotes/origin/evolve"); tracking != syncRev(t, dir, "refs/notes/evolve") {
		t.Errorf("refs/notes/remotes/origin/evolve = %q after the push, want the pushed notes", tracking)
	}
	syncFsck(t, remote)
	// git itself reads the published notes.
	if note := syncGit(t, remote, "notes", "--ref=evolve", "show", ids[3]); !strings.Contains(note, `"event":"evaluated"`) {
		t.Errorf("git notes show on the remote: %q", note)
	}

	before := syncGit(t, dir, "for-each-ref")
	remoteBefore := syncGit(t, remote, "for-each-ref")
	again := syncRun(t, s, syncOptions(t, s, "origin"))
	if len(again.Pushed)+len(again.Fetched) != 0 || again.NotesPushed || again.Notes != "unchanged" || again.BytesSent != 0 || again.BytesReceived != 0 {
		t.Errorf("second sync = %+v, want nothing done", again)
	}
	if after := syncGit(t, dir, "for-each-ref"); after != before {
		t.Errorf("second sync changed local refs:\n%s\nwas:\n%s", after, before)
	}
	if after := syncGit(t, remote, "for-each-ref"); after != remoteBefore {
		t.Errorf("second sync changed remote refs:\n%s\nwas:\n%s", after, remoteBefore)
	}
	syncFsck(t, dir)
}

func TestSyncBetweenClonesConverges(t *testing.T) {
	remote := syncBare(t)
	a, dirA := syncRepo(t, remote)
	base := syncBaseline(t, a)
	// 40 candidates: the first fetch of B has more objects than the unpack
	// limit (stored as a pack), later ones fewer (stored loose).
	fromA := syncCandidates(t, a, base, 40, "a")
	syncGit(t, dirA, "push", "-q", "origin", "main")
	syncRun(t, a, syncOptions(t, a, "origin"))

	b, dirB := syncClone(t, remote)
	packsBefore := syncPacks(t, dirB)
	res := syncRun(t, b, syncOptions(t, b, "origin"))
	if got := syncPacks(t, dirB); got != packsBefore+1 {
		t.Errorf("the first fetch (%d candidates) left %d packs, want %d: more objects than the unpack limit make a pack", len(fromA)+1, got, packsBefore+1)
	}
	if len(res.Fetched) != len(fromA)+1 || res.Notes != "fast-forward" || len(res.Pushed) != 0 || res.NotesPushed {
		t.Fatalf("first sync of the clone = %+v, want %d candidates fetched and the notes fast-forwarded", res, len(fromA)+1)
	}
	cands, err := b.Candidates(context.Background(), syncExp)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != len(fromA)+1 {
		t.Fatalf("clone sees %d candidates, want %d", len(cands), len(fromA)+1)
	}
	for _, c := range cands {
		if c.Record.Status() != evolve.StatusOK {
			t.Errorf("candidate %s in the clone: status %s, want its evaluation fetched", c.Short(), c.Record.Status())
		}
	}

	// Both sides work on, then sync in turn: A, B, A.
	moreA := syncCandidates(t, a, fromA[10], 3, "aa")
	moreB := syncCandidates(t, b, fromA[20], 4, "bbb")
	// Both record an event on the same candidate: the notes conflict.
	syncEvaluate(t, a, fromA[5], 50, syncT0.Add(time.Hour))
	syncEvaluate(t, b, fromA[5], 60, syncT0.Add(2*time.Hour))

	if r := syncRun(t, a, syncOptions(t, a, "origin")); len(r.Pushed) != 3 || len(r.Fetched) != 0 {
		t.Errorf("A's sync = %+v, want its 3 new candidates pushed", r)
	}
	r := syncRun(t, b, syncOptions(t, b, "origin"))
	if len(r.Pushed) != 4 || len(r.Fetched) != 3 || r.Notes != "merged" || !r.NotesPushed {
		t.Errorf("B's sync = %+v, want 3 fetched, 4 pushed, notes merged and pushed", r)
	}
	packsA := syncPacks(t, dirA)
	if r := syncRun(t, a, syncOptions(t, a, "origin")); len(r.Fetched) != 4 || r.Notes != "fast-forward" || r.NotesPushed {
		t.Errorf("A's last sync = %+v, want B's 4 candidates and a fast-forward", r)
	}
	if got := syncPacks(t, dirA); got != packsA {
		t.Errorf("a small fetch made a pack (%d packs, were %d): few objects are stored loose", got, packsA)
	}

	if ra, rb := syncRefs(t, dirA), syncRefs(t, dirB); strings.Join(ra, "\n") != strings.Join(rb, "\n") || len(ra) != 1+40+3+4 {
		t.Fatalf("candidate refs differ or miss some: A has %d, B has %d", len(ra), len(rb))
	}
	ta, tb := syncRev(t, dirA, "refs/notes/evolve^{tree}"), syncRev(t, dirB, "refs/notes/evolve^{tree}")
	if ta == "" || ta != tb || ta != syncRev(t, remote, "refs/notes/evolve^{tree}") {
		t.Fatalf("notes trees: A %s, B %s, remote %s", ta, tb, syncRev(t, remote, "refs/notes/evolve^{tree}"))
	}
	rec, err := a.Events(context.Background(), fromA[5])
	if err != nil {
		t.Fatal(err)
	}
	if n := countEvents(rec, evolve.EventEvaluated); n != 3 {
		t.Errorf("candidate %s has %d evaluated events after the merge, want 3 (its own and one from each side)", fromA[5][:8], n)
	}
	if s, ok := rec.Score(); !ok || s != 60 {
		t.Errorf("candidate %s folds to score %v, want the latest evaluation (60)", fromA[5][:8], s)
	}
	for _, id := range append(moreA, moreB...) {
		if note := syncGit(t, dirA, "notes", "--ref=evolve", "show", id); !strings.Contains(note, `"event":"proposed"`) {
			t.Errorf("git notes show %s in A: %q", id[:8], note)
		}
	}
	for _, d := range []string{dirA, dirB, remote} {
		syncFsck(t, d)
	}
}

// syncPacks counts the pack files of the repository at dir; an index
// without its pack, or the reverse, fails t.
func syncPacks(t testing.TB, dir string) int {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.pack"))
	idxs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.idx"))
	if len(packs) != len(idxs) {
		t.Errorf("%s: %d packs but %d indexes", dir, len(packs), len(idxs))
	}
	return len(packs)
}

func countEvents(r evolve.Record, kind string) int {
	n := 0
	for _, e := range r.Events {
		if e.Event == kind {
			n++
		}
	}
	return n
}

// A remote whose notes were written by stock git (git notes append, git
// push) merges by the union of lines, as git notes merge -s cat_sort_uniq
// would.
func TestSyncMergesNotesWrittenByGit(t *testing.T) {
	remote := syncBare(t)
	a, dirA := syncRepo(t, remote)
	base := syncBaseline(t, a)
	ids := syncCandidates(t, a, base, 3, "a")
	syncGit(t, dirA, "push", "-q", "origin", "main")
	syncRun(t, a, syncOptions(t, a, "origin"))

	// Another machine uses git alone.
	other := filepath.Join(t.TempDir(), "other")
	syncGit(t, filepath.Dir(other), "clone", "-q", remote, other)
	syncGit(t, other, "fetch", "-q", "origin", "+refs/evolve/*:refs/evolve/*", "+refs/notes/evolve:refs/notes/evolve")
	line := `{"v":1,"exp":"packing","event":"analyzed","at":"2026-11-27T00:00:00Z","by":"git-cli","analysis":"from git"}`
	syncGit(t, other, "notes", "--ref=evolve", "append", "-m", line, ids[1])
	syncGit(t, other, "notes", "--ref=evolve", "add", "-m", line, "main") // a commit without a note
	syncGit(t, other, "push", "-q", "origin", "refs/notes/evolve")

	// Meanwhile A records on the same candidate.
	syncEvaluate(t, a, ids[1], 9, syncT0.Add(time.Hour))
	wantLocal, err := a.Note(context.Background(), ids[1])
	if err != nil {
		t.Fatal(err)
	}

	res := syncRun(t, a, syncOptions(t, a, "origin"))
	if res.Notes != "merged" || !res.NotesPushed {
		t.Fatalf("sync = %+v, want the notes merged and pushed", res)
	}
	got, err := a.Note(context.Background(), ids[1])
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(wantLocal)+line+"\n", "\n") {
		if l != "" {
			want = append(want, l)
		}
	}
	sort.Strings(want)
	if string(got) != strings.Join(want, "\n")+"\n" {
		t.Errorf("merged note:\n%s\nwant the sorted union:\n%s", got, strings.Join(want, "\n"))
	}

	// git computes the same merge from the same two notes commits.
	syncGit(t, other, "fetch", "-q", dirA, "+refs/notes/evolve:refs/notes/theirs")
	syncGit(t, other, "-c", "user.name=X", "-c", "user.email=x@example.com",
		"notes", "--ref=evolve", "merge", "-q", "-s", "cat_sort_uniq", "refs/notes/theirs")
	if a, b := syncGit(t, other, "notes", "--ref=evolve", "show", ids[1]), strings.TrimSpace(string(got)); a != b {
		t.Errorf("git's cat_sort_uniq merge gives:\n%s\nsync gave:\n%s", a, b)
	}
	syncFsck(t, dirA)
	syncFsck(t, remote)
}

// installHook writes an executable hook into a bare repository.
func installHook(t testing.TB, bare, name, script string) {
	t.Helper()
	p := filepath.Join(bare, "hooks", name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// When another machine moves the remote's notes between our fetch and our
// push, the lease refuses the push; the next round fetches, merges and
// succeeds, and nobody's lines are lost.
func TestSyncRetriesWhenTheRemoteMoves(t *testing.T) {
	remote := syncBare(t)
	a, _ := syncRepo(t, remote)
	base := syncBaseline(t, a)
	ids := syncCandidates(t, a, base, 2, "a")
	syncRun(t, a, syncOptions(t, a, "origin"))

	// The update hook plays the other machine, once: it writes a note on the
	// remote just before receive-pack updates refs/notes/evolve.
	line := `{"v":1,"exp":"packing","event":"analyzed","at":"2026-11-27T00:00:00Z","by":"racer","analysis":"raced"}`
	installHook(t, remote, "update", fmt.Sprintf(`#!/bin/sh
if [ "$1" = refs/notes/evolve ] && [ ! -e raced ]; then
	touch raced
	git -c user.name=Racer -c user.email=racer@example.com notes --ref=evolve append -m '%s' %s || exit 1
fi
exit 0
`, line, ids[0]))
	syncEvaluate(t, a, ids[1], 7, syncT0.Add(time.Hour))
	res := syncRun(t, a, syncOptions(t, a, "origin"))
	if res.Attempts != 2 || !res.NotesPushed || res.Notes != "merged" {
		t.Fatalf("sync = %+v, want a second attempt that merges and pushes", res)
	}
	note := syncGit(t, remote, "notes", "--ref=evolve", "show", ids[0])
	if !strings.Contains(note, `"by":"racer"`) {
		t.Errorf("remote note lost the racer's line:\n%s", note)
	}
	if note := syncGit(t, remote, "notes", "--ref=evolve", "show", ids[1]); !strings.Contains(note, `"score":7`) {
		t.Errorf("remote note lost our line:\n%s", note)
	}
	syncFsck(t, remote)
}

func TestSyncGivesUpAfterTheBound(t *testing.T) {
	remote := syncBare(t)
	a, dir := syncRepo(t, remote)
	base := syncBaseline(t, a)
	ids := syncCandidates(t, a, base, 2, "a")
	installHook(t, remote, "update", `#!/bin/sh
if [ "$1" = refs/notes/evolve ]; then echo "notes are frozen" >&2; exit 1; fi
exit 0
`)
	notesBefore := syncRev(t, dir, "refs/notes/evolve")
	opt := syncOptions(t, a, "origin")
	opt.MaxAttempts = 3
	res, err := a.Sync(context.Background(), opt)
	if !errors.Is(err, gitstore.ErrSyncRejected) {
		t.Fatalf("sync error = %v, want ErrSyncRejected", err)
	}
	for _, want := range []string{"origin", "3 times", "refs/notes/evolve", "intact"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if res.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", res.Attempts)
	}
	// Candidate refs went through (updates are not atomic); nothing local moved.
	if got := len(syncRefs(t, remote)); got != len(ids)+1 {
		t.Errorf("remote has %d candidate refs, want %d", got, len(ids)+1)
	}
	if after := syncRev(t, dir, "refs/notes/evolve"); after != notesBefore {
		t.Errorf("local notes moved from %s to %s", notesBefore, after)
	}
	if syncRev(t, remote, "refs/notes/evolve") != "" {
		t.Error("the remote's notes were written despite the hook")
	}
}

func TestSyncOneExperiment(t *testing.T) {
	remote := syncBare(t)
	a, dir := syncRepo(t, remote)
	base := syncBaseline(t, a)
	syncCandidates(t, a, base, 2, "a")
	other, _, err := a.EnsureBaseline(context.Background(), evolve.BaselineRequest{Exp: "other", When: syncT0, By: "t"})
	if err != nil {
		t.Fatal(err)
	}
	opt := syncOptions(t, a, "origin")
	opt.Exp = "other"
	res := syncRun(t, a, opt)
	if len(res.Pushed) != 1 || res.Pushed[0] != other || !res.NotesPushed {
		t.Fatalf("sync -e other = %+v, want only %s and the notes", res, other[:8])
	}
	if refs := syncRefs(t, remote); len(refs) != 1 || !strings.HasPrefix(refs[0], "refs/evolve/other/") {
		t.Errorf("remote refs = %v", refs)
	}
	// The notes are whole: packing's notes are there too.
	if a, b := syncRev(t, dir, "refs/notes/evolve"), syncRev(t, remote, "refs/notes/evolve"); a != b {
		t.Errorf("notes: local %s, remote %s", a, b)
	}
	opt.Exp = "../bad"
	if _, err := a.Sync(context.Background(), opt); err == nil {
		t.Error("sync with an invalid experiment name succeeded")
	}
}

func TestCheckSync(t *testing.T) {
	remote := syncBare(t)
	a, dirA := syncRepo(t, remote)
	base := syncBaseline(t, a)
	syncCandidates(t, a, base, 2, "a")
	syncGit(t, dirA, "push", "-q", "origin", "main")

	ctx := context.Background()
	chk, err := a.CheckSync(ctx, syncOptions(t, a, "origin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.OnlyLocal) != 3 || len(chk.OnlyRemote) != 0 || chk.Notes != "remote has none" || chk.InSync() {
		t.Errorf("check before any sync = %+v", chk)
	}
	syncRun(t, a, syncOptions(t, a, "origin"))
	b, dirB := syncClone(t, remote)
	syncRun(t, b, syncOptions(t, b, "origin"))
	if chk, err := a.CheckSync(ctx, syncOptions(t, a, "origin")); err != nil || !chk.InSync() || chk.Common != 3 || chk.Notes != "same" {
		t.Errorf("check after sync = %+v, %v; want in sync", chk, err)
	}

	newB := syncCandidates(t, b, base, 1, "b")
	syncRun(t, b, syncOptions(t, b, "origin"))
	newA := syncCandidates(t, a, base, 2, "aa")
	beforeA, beforeRemote := syncGit(t, dirA, "for-each-ref"), syncGit(t, remote, "for-each-ref")
	chk, err = a.CheckSync(ctx, syncOptions(t, a, "origin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.OnlyLocal) != 2 || chk.OnlyLocal[0].Exp != syncExp || len(chk.OnlyRemote) != 1 || chk.OnlyRemote[0].ID != newB[0] {
		t.Errorf("check = %+v, want %v only here and %v only there", chk, newA, newB)
	}
	if chk.Notes != "remote unknown" {
		t.Errorf("notes relation = %q, want \"remote unknown\" (B's notes commit was never fetched here)", chk.Notes)
	}
	if syncGit(t, dirA, "for-each-ref") != beforeA || syncGit(t, remote, "for-each-ref") != beforeRemote {
		t.Error("CheckSync wrote refs")
	}
	syncRun(t, a, syncOptions(t, a, "origin"))
	syncRun(t, b, syncOptions(t, b, "origin"))
	chk, err = b.CheckSync(ctx, syncOptions(t, b, "origin"))
	if err != nil || !chk.InSync() {
		t.Errorf("check after both synced = %+v, %v", chk, err)
	}
	_ = dirB
}

func TestResolveRemote(t *testing.T) {
	remote := syncBare(t)
	s, dir := syncRepo(t, "")
	syncGit(t, dir, "remote", "add", "rel", "../"+filepath.Base(filepath.Dir(remote))+"/remote.git")
	// A relative url is taken from the worktree root: make one that works.
	relTarget := filepath.Join(filepath.Dir(dir), filepath.Base(filepath.Dir(remote)), "remote.git")
	r, err := s.ResolveRemote("rel")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "rel" || r.URL != relTarget {
		t.Errorf("rel = %+v, want url %s", r, relTarget)
	}
	r, err = s.ResolveRemote(remote)
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != remote || !strings.HasPrefix(r.Name, "url-") || strings.ContainsAny(r.Name, "/:") {
		t.Errorf("path remote = %+v", r)
	}
	if err := gitstore.RemoteNotesRef(r.Name).Validate(); err != nil {
		t.Errorf("tracking ref of %q: %v", r.Name, err)
	}
	r, err = s.ResolveRemote("https://github.com/o/r.git")
	if err != nil || r.URL != "https://github.com/o/r.git" || r.Name != "url-https___github.com_o_r.git" {
		t.Errorf("https remote = %+v, %v", r, err)
	}
	_, err = s.ResolveRemote("nosuch")
	if err == nil || !strings.Contains(err.Error(), "git remote add nosuch") || !strings.Contains(err.Error(), "rel") {
		t.Errorf("unknown remote error = %v", err)
	}

	// Syncing with a path that is not a repository names it and says what to do.
	missing := filepath.Join(t.TempDir(), "missing.git")
	_, err = s.Sync(context.Background(), gitstore.SyncOptions{Remote: gitstore.Remote{Name: "m", URL: missing}})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("sync with a missing remote: %v", err)
	}
}

// The smart HTTP transport, served by git http-backend behind basic
// authentication: a token is accepted, no credentials are refused.
func TestSyncOverHTTPWithToken(t *testing.T) {
	backend, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not found")
	}
	root := t.TempDir()
	bare := filepath.Join(root, "r.git")
	syncGit(t, root, "init", "-q", "--bare", bare)
	syncGit(t, bare, "config", "http.receivepack", "true")
	const token = "s3cr3t-token"
	h := &cgi.Handler{Path: backend, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + os.Getenv("HOME"), "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "x-access-token" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	s, _ := syncRepo(t, "")
	base := syncBaseline(t, s)
	ids := syncCandidates(t, s, base, 2, "a")
	r, err := s.ResolveRemote(srv.URL + "/r.git")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(context.Background(), gitstore.SyncOptions{Remote: r}); err == nil || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Errorf("sync without credentials: %v, want an authentication error with a hint", err)
	}
	opt := gitstore.SyncOptions{Remote: r, Auth: &githttp.BasicAuth{Username: "x-access-token", Password: token}}
	res, err := s.Sync(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != len(ids)+1 || !res.NotesPushed {
		t.Errorf("sync over http = %+v", res)
	}
	if got := len(syncRefs(t, bare)); got != len(ids)+1 {
		t.Errorf("remote has %d candidate refs, want %d", got, len(ids)+1)
	}
	syncFsck(t, bare)

	// And back: a fresh repository fetches everything over http.
	s2, _ := syncRepo(t, "")
	res, err = s2.Sync(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fetched) != len(ids)+1 || res.Notes != "fast-forward" {
		t.Errorf("fetch over http = %+v", res)
	}
}

// Fetching a few candidates from an experiment of more than haveAllLimit
// (1000) candidates takes two rounds: the notes first, which name the new
// candidates' parents, then the candidates, telling the remote only about
// those parents rather than about every candidate in common.
func TestSyncFetchFromALargeExperiment(t *testing.T) {
	writer, _, remote := syncBenchFixture(t, 1200)
	readerDir := filepath.Join(t.TempDir(), "reader")
	syncGit(t, filepath.Dir(readerDir), "clone", "-q", "--mirror", remote, filepath.Join(readerDir, ".git"))
	syncGit(t, readerDir, "config", "--bool", "core.bare", "false")
	reader := syncOpen(t, readerDir)

	cands, err := writer.Candidates(context.Background(), syncExp)
	if err != nil {
		t.Fatal(err)
	}
	old := cands[len(cands)/3].ID
	fresh := append(syncCandidates(t, writer, old, 2, "old"), syncCandidates(t, writer, cands[len(cands)-1].ID, 1, "tip")...)
	if r := syncRun(t, writer, syncOptions(t, writer, remote)); len(r.Pushed) != 3 {
		t.Fatalf("writer's sync = %+v", r)
	}

	trace := filepath.Join(t.TempDir(), "packets")
	t.Setenv("GIT_TRACE_PACKET", trace)
	res := syncRun(t, reader, syncOptions(t, reader, remote))
	os.Unsetenv("GIT_TRACE_PACKET")
	if len(res.Fetched) != 3 || res.Notes != "fast-forward" {
		t.Fatalf("reader's sync = %+v, want 3 candidates and a fast-forward", res)
	}
	packets, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	haves := strings.Count(string(packets), "upload-pack< have ")
	wants := strings.Count(string(packets), "upload-pack< want ")
	if wants != 4 || haves > 10 {
		t.Errorf("the remote received %d wants and %d haves, want 4 (the notes, then 3 candidates) and a handful", wants, haves)
	}
	if res.BytesReceived > 64<<10 {
		t.Errorf("received %d bytes for 3 candidates", res.BytesReceived)
	}
	got, err := reader.Candidates(context.Background(), syncExp)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cands)+3 {
		t.Errorf("reader has %d candidates, want %d", len(got), len(cands)+3)
	}
	for _, id := range fresh {
		if rec, err := reader.Events(context.Background(), id); err != nil || rec.Status() != evolve.StatusOK {
			t.Errorf("candidate %s in the reader: %v, %v", id[:8], rec.Status(), err)
		}
	}
	syncFsck(t, readerDir)
}

// A candidate ref whose value is not the commit its name says (made by hand
// on either side) is reported and never overwritten, in either direction.
func TestSyncLeavesMismatchedRefsAlone(t *testing.T) {
	remote := syncBare(t)
	a, dir := syncRepo(t, remote)
	base := syncBaseline(t, a)
	ids := syncCandidates(t, a, base, 2, "a")
	syncRun(t, a, syncOptions(t, a, "origin"))
	// On the remote, a ref named after a commit that points to another one.
	bogus := "refs/evolve/packing/" + strings.Repeat("ab", 20)
	syncGit(t, remote, "update-ref", bogus, ids[0])
	// Here, the same mistake: a ref whose name is not its value.
	mine := syncCandidates(t, a, base, 1, "m")[0]
	wrong := "refs/evolve/packing/" + strings.Repeat("cd", 20)
	syncGit(t, dir, "update-ref", wrong, mine)

	res := syncRun(t, a, syncOptions(t, a, "origin"))
	reported := strings.Join(res.Skipped, "\n")
	if len(res.Skipped) != 2 || !strings.Contains(reported, bogus+" (") || !strings.Contains(reported, wrong+" (") {
		t.Errorf("skipped = %q, want %s and %s reported", res.Skipped, bogus, wrong)
	}
	if len(res.Pushed) != 1 || res.Pushed[0] != mine {
		t.Errorf("pushed = %v, want only %s", res.Pushed, mine[:8])
	}
	if got := syncRev(t, dir, bogus); got != "" {
		t.Errorf("the remote's mismatched ref was fetched: %s", got)
	}
	if got := syncRev(t, remote, wrong); got != "" {
		t.Errorf("the local mismatched ref was pushed: %s", got)
	}
	if got := syncRev(t, remote, bogus); got != ids[0] {
		t.Errorf("the remote's ref changed to %s", got)
	}
}

// The pack pushed holds only what the remote lacks, even when the
// experiment starts from a commit the remote has only as an ancestor of
// one of its branches.
func TestSyncSendsOnlyWhatTheRemoteLacks(t *testing.T) {
	remote := syncBare(t)
	s, dir := syncRepo(t, remote)
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(uint64(i)*0x9E3779B97F4A7C15>>56) ^ byte(i>>7)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	syncGit(t, dir, "add", "-A")
	syncGit(t, dir, "commit", "-q", "-m", "data")
	start := syncGit(t, dir, "rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syncGit(t, dir, "commit", "-q", "-am", "later")
	syncGit(t, dir, "push", "-q", "origin", "main")

	// The experiment starts from the commit before the remote's main.
	base, _, err := s.EnsureBaseline(context.Background(), evolve.BaselineRequest{Exp: syncExp, Parent: start, When: syncT0, By: "t"})
	if err != nil {
		t.Fatal(err)
	}
	syncCandidates(t, s, base, 3, "a")
	res := syncRun(t, s, syncOptions(t, s, "origin"))
	if len(res.Pushed) != 4 || !res.NotesPushed {
		t.Fatalf("sync = %+v", res)
	}
	if res.BytesSent > 32<<10 {
		t.Errorf("pushed %d bytes: the %d KiB the remote already had were sent again", res.BytesSent, len(big)>>10)
	}
	syncFsck(t, remote)
}
