package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The guarantees of issue 9, each proven against the real CLI: the
// git-evolve command that TestMain (testscript.Main) puts in PATH, which is
// this test binary under another name running Main. Every repository is
// read back with the real git CLI.

// concProgram and concEval make an experiment whose evaluation is one awk
// call: the score is computed from the program's two constants.
const (
	concExp     = "quick"
	concProgram = `# EVOLVE-BLOCK-START
A = 1.0
B = 2.0
# EVOLVE-BLOCK-END
`
	concEval = `#!/bin/sh
awk -F= '/^A/{a=$2+0} /^B/{b=$2+0} END{printf "{\"score\": %.6f}\n", -((a-3)*(a-3))-((b+1)*(b+1))}' "$1"
`
)

// concEnv is the environment of the processes a test starts: a private HOME
// with a git identity, no system config, no LLM endpoint.
func concEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	gitconfig := "[user]\n\tname = Concurrency Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GIT_"), strings.HasPrefix(k, "OPENAI_"), k == "HOME", k == "GITHUB_TOKEN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "GIT_CONFIG_NOSYSTEM=1")
}

// concBin finds the git-evolve command set up by testscript.Main.
func concBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("git-evolve")
	if err != nil {
		t.Fatalf("git-evolve is not in PATH (testscript.Main in TestMain puts it there): %v", err)
	}
	return p
}

func concGit(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// concFsck runs git fsck --strict; anything but dangling objects fails t.
func concFsck(t *testing.T, env []string, dir string) {
	t.Helper()
	cmd := exec.Command("git", "fsck", "--strict", "--no-progress")
	cmd.Dir, cmd.Env = dir, env
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

// concRepo makes a repository holding the quick experiment, committed.
func concRepo(t *testing.T, env []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	files := map[string]string{
		"experiments/quick/input.md":           "Bring A to 3 and B to -1.\n",
		"experiments/quick/initial_program.py": concProgram,
		"experiments/quick/eval.sh":            concEval,
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	concGit(t, env, dir, "init", "-q")
	concGit(t, env, dir, "add", "-A")
	concGit(t, env, dir, "commit", "-q", "-m", "quick experiment")
	return dir
}

// concCmd prepares git-evolve with args, run in dir.
func concCmd(ctx context.Context, t *testing.T, env []string, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, concBin(t), args...)
	cmd.Dir, cmd.Env = dir, env
	return cmd
}

// concRun runs git-evolve to completion; failure fails t.
func concRun(ctx context.Context, t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	cmd := concCmd(ctx, t, env, dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git-evolve %s in %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// concCreated reads the "created" list of `step --json` (stdout may start
// with the offline-mode notice line).
func concCreated(t *testing.T, stdout string) []string {
	t.Helper()
	i := strings.Index(stdout, "{")
	if i < 0 {
		t.Fatalf("no JSON in step output:\n%s", stdout)
	}
	var sum struct {
		Created []string `json:"created"`
	}
	if err := json.Unmarshal([]byte(stdout[i:]), &sum); err != nil {
		t.Fatalf("step --json: %v\n%s", err, stdout)
	}
	return sum.Created
}

// concRefs lists refs/evolve/<exp>/ with the git CLI: name -> commit.
func concRefs(t *testing.T, env []string, dir string) map[string]string {
	t.Helper()
	out := concGit(t, env, dir, "for-each-ref", "--format=%(refname) %(objectname)", "refs/evolve/")
	refs := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if name, sha, ok := strings.Cut(l, " "); ok {
			refs[name] = sha
		}
	}
	return refs
}

// concNoteLines reads every note of refs/notes/evolve with the git CLI: the
// set of "<annotated object> <line>".
func concNoteLines(t *testing.T, env []string, dir string) map[string]bool {
	t.Helper()
	lines := map[string]bool{}
	list := exec.Command("git", "notes", "--ref=evolve", "list")
	list.Dir, list.Env = dir, env
	out, err := list.Output()
	if err != nil {
		return lines // no notes yet
	}
	var blobs, objects []string
	var in strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if blob, obj, ok := strings.Cut(l, " "); ok {
			blobs, objects = append(blobs, blob), append(objects, obj)
			in.WriteString(blob + "\n")
		}
	}
	if len(blobs) == 0 {
		return lines
	}
	cat := exec.Command("git", "cat-file", "--batch")
	cat.Dir, cat.Env = dir, env
	cat.Stdin = strings.NewReader(in.String())
	raw, err := cat.Output()
	if err != nil {
		t.Fatalf("git cat-file --batch in %s: %v", dir, err)
	}
	r := bufio.NewReader(bytes.NewReader(raw))
	for i := range blobs {
		header, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("git cat-file --batch: %v", err)
		}
		var sha, typ string
		var size int
		fmt.Sscanf(header, "%s %s %d", &sha, &typ, &size)
		body := make([]byte, size+1)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatalf("git cat-file --batch: %v", err)
		}
		for _, l := range strings.Split(string(body[:size]), "\n") {
			if l != "" {
				lines[objects[i]+" "+l] = true
			}
		}
	}
	return lines
}

// concEvents counts the events of each kind in the note of id, read by git.
func concEvents(t *testing.T, env []string, dir, id string) map[string]int {
	t.Helper()
	cmd := exec.Command("git", "notes", "--ref=evolve", "show", id)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	n := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		var ev struct {
			Event string `json:"event"`
		}
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Event != "" {
			n[ev.Event]++
		}
	}
	return n
}

// concCheckRecorded fails t unless each id has a ref and proposed, evaluated
// and analyzed events.
func concCheckRecorded(t *testing.T, env []string, dir string, ids []string) {
	t.Helper()
	refs := concRefs(t, env, dir)
	for _, id := range ids {
		if refs["refs/evolve/"+concExp+"/"+id] != id {
			t.Errorf("candidate %s: ref lost", id[:8])
		}
		ev := concEvents(t, env, dir, id)
		for _, kind := range []string{"proposed", "evaluated", "analyzed"} {
			if ev[kind] < 1 {
				t.Errorf("candidate %s: no %s event in its note (events: %v)", id[:8], kind, ev)
			}
		}
	}
}

func concContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFourWorkersInOneProcess(t *testing.T) {
	env := concEnv(t)
	dir := concRepo(t, env)
	ctx := concContext(t, 3*time.Minute)
	out := concRun(ctx, t, env, dir, "step", "-e", concExp, "--steps", "100", "--workers", "4", "--offline", "--seed", "7", "--json")
	ids := concCreated(t, out)
	unique := map[string]bool{}
	for _, id := range ids {
		unique[id] = true
	}
	if len(ids) != 100 || len(unique) != 100 {
		t.Fatalf("step created %d candidates (%d distinct), want exactly 100", len(ids), len(unique))
	}
	concCheckRecorded(t, env, dir, ids)
	if refs := concRefs(t, env, dir); len(refs) != 101 {
		t.Errorf("%d candidate refs, want 100 and the baseline", len(refs))
	}
	concFsck(t, env, dir)
}

func TestThreeProcessesOnOneRepository(t *testing.T) {
	env := concEnv(t)
	dir := concRepo(t, env)
	ctx := concContext(t, 3*time.Minute)
	const procs, steps = 3, 10
	outs := make([]string, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := concCmd(ctx, t, env, dir, "step", "-e", concExp, "--steps", fmt.Sprint(steps), "--offline", "--seed", fmt.Sprint(100+i), "--json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("process %d: %v\n%s", i, err, stderr.String())
			}
			outs[i] = stdout.String()
		}(i)
	}
	wg.Wait()
	var all []string
	for i := 0; i < procs; i++ {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		ids := concCreated(t, outs[i])
		if len(ids) != steps {
			t.Errorf("process %d created %d candidates, want %d", i, len(ids), steps)
		}
		all = append(all, ids...)
	}
	concCheckRecorded(t, env, dir, all)
	refs := concRefs(t, env, dir)
	if len(refs) != procs*steps+1 {
		t.Errorf("%d candidate refs, want %d and the baseline", len(refs), procs*steps)
	}
	concFsck(t, env, dir)
}

func TestThreeClonesSyncingThroughOneRemote(t *testing.T) {
	env := concEnv(t)
	seed := concRepo(t, env)
	remote := filepath.Join(t.TempDir(), "remote.git")
	concGit(t, env, seed, "init", "-q", "--bare", remote)
	concGit(t, env, seed, "push", "-q", remote, "main")
	ctx := concContext(t, 4*time.Minute)

	const clones, steps = 3, 8
	dirs := make([]string, clones)
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("clone%d", i))
		concGit(t, env, seed, "clone", "-q", remote, dirs[i])
	}
	outs := make([]string, clones)
	errs := make([]error, clones)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := concCmd(ctx, t, env, dirs[i], "step", "-e", concExp, "--steps", fmt.Sprint(steps), "--offline", "--sync", "--seed", fmt.Sprint(200+i), "--json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("clone %d: %v\n%s", i, err, stderr.String())
			}
			outs[i] = stdout.String()
		}(i)
	}
	wg.Wait()
	var all []string
	for i := range dirs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		all = append(all, concCreated(t, outs[i])...)
	}
	if len(all) != clones*steps {
		t.Fatalf("the clones created %d candidates, want %d", len(all), clones*steps)
	}
	// step --sync pushed as it went: the remote has every candidate already.
	if n := len(concRefs(t, env, remote)); n != clones*steps+1 {
		t.Fatalf("after step --sync the remote has %d candidates, want %d and the baseline (does step --sync call syncRemote?)", n, clones*steps)
	}

	// A final sync of each clone, in turn, until a whole round changes nothing.
	for round := 0; round < 3; round++ {
		changed := false
		for _, d := range dirs {
			if out := concRun(ctx, t, env, d, "sync"); !strings.Contains(out, "already in sync") {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	want := concRefs(t, env, remote)
	wantTree := concGit(t, env, remote, "rev-parse", "refs/notes/evolve^{tree}")
	for i, d := range dirs {
		got := concRefs(t, env, d)
		if fmt.Sprint(concSortedKeys(got)) != fmt.Sprint(concSortedKeys(want)) {
			t.Errorf("clone %d has %d candidates, the remote %d", i, len(got), len(want))
		}
		if tree := concGit(t, env, d, "rev-parse", "refs/notes/evolve^{tree}"); tree != wantTree {
			t.Errorf("clone %d notes tree %s, remote %s", i, tree, wantTree)
		}
		concCheckRecorded(t, env, d, all)
		concFsck(t, env, d)
	}
	if len(want) != clones*steps+1 {
		t.Errorf("%d candidates in the end, want %d and the baseline", len(want), clones*steps)
	}
	concFsck(t, env, remote)
}

func concSortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A process killed with SIGKILL at a random moment of step or sync loses
// nothing it had recorded, leaves a repository git fsck accepts, and the
// next sync and step succeed.
func TestKilledStepAndSyncLoseNothing(t *testing.T) {
	env := concEnv(t)
	dir := concRepo(t, env)
	remote := filepath.Join(t.TempDir(), "remote.git")
	concGit(t, env, dir, "init", "-q", "--bare", remote)
	concGit(t, env, dir, "remote", "add", "origin", remote)
	concGit(t, env, dir, "push", "-q", "origin", "main")
	// Another clone feeds the remote, so that syncs have something to fetch.
	other := filepath.Join(t.TempDir(), "other")
	concGit(t, env, dir, "clone", "-q", remote, other)
	ctx := concContext(t, 5*time.Minute)
	concRun(ctx, t, env, dir, "step", "-e", concExp, "--steps", "2", "--offline", "--seed", "1")
	concRun(ctx, t, env, dir, "sync")

	// Trials go on until 30 processes were killed while running (a process
	// may finish before its kill time), within a bound of time and trials.
	const wantKills, maxTrials = 30, 90
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	killed := 0
	deadline := time.Now().Add(4 * time.Minute)
	for i := 0; killed < wantKills; i++ {
		if i >= maxTrials || time.Now().After(deadline) {
			t.Fatalf("only %d kills of a running process in %d trials", killed, i)
		}
		var args []string
		var delay time.Duration
		if i%2 == 0 {
			args = []string{"step", "-e", concExp, "--steps", "20", "--offline", "--seed", fmt.Sprint(1000 + i)}
			delay = time.Duration(50+rng.IntN(450)) * time.Millisecond
		} else {
			concRun(ctx, t, env, other, "step", "-e", concExp, "--steps", "2", "--offline", "--seed", fmt.Sprint(2000+i), "--sync")
			args = []string{"sync"}
			delay = time.Duration(5+rng.IntN(150)) * time.Millisecond
		}
		cmd := concCmd(ctx, t, env, dir, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var beforeRefs map[string]string
		var beforeLines map[string]bool
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("trial %d: git-evolve %s failed before the kill: %v\n%s", i, strings.Join(args, " "), err, stderr.String())
			}
			beforeRefs, beforeLines = concRefs(t, env, dir), concNoteLines(t, env, dir)
		case <-time.After(delay):
			// What git sees now was written: it must survive the kill.
			beforeRefs, beforeLines = concRefs(t, env, dir), concNoteLines(t, env, dir)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signaled() {
				killed++
			}
		}

		concFsck(t, env, dir)
		afterRefs, afterLines := concRefs(t, env, dir), concNoteLines(t, env, dir)
		for name, sha := range beforeRefs {
			if afterRefs[name] != sha {
				t.Fatalf("trial %d (%s killed after %v): ref %s lost", i, args[0], delay, name)
			}
		}
		for l := range beforeLines {
			if !afterLines[l] {
				t.Fatalf("trial %d (%s killed after %v): note line lost: %s", i, args[0], delay, l)
			}
		}
		// The next sync succeeds, and so does the next step now and then.
		concRun(ctx, t, env, dir, "sync")
		if i%3 == 2 {
			concRun(ctx, t, env, dir, "step", "-e", concExp, "--steps", "1", "--offline", "--seed", fmt.Sprint(3000+i))
		}
	}
	t.Logf("%d processes killed while running", killed)
	concRun(ctx, t, env, other, "sync")
	concRun(ctx, t, env, dir, "sync")
	local, theirs := concRefs(t, env, dir), concRefs(t, env, remote)
	if fmt.Sprint(concSortedKeys(local)) != fmt.Sprint(concSortedKeys(theirs)) {
		t.Errorf("after the last sync: %d candidates here, %d on the remote", len(local), len(theirs))
	}
	concFsck(t, env, remote)
}
