package gitstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// runHelper is the body of the child processes: the test binary re-executed
// with GITSTORE_HELPER set.
func runHelper(role string) int {
	switch role {
	case "writer":
		if err := helperWriter(); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", role)
	return 2
}

// helperWriter commits GITSTORE_N candidates on top of GITSTORE_PARENT and
// records an evaluation for each, listing candidates in between.
func helperWriter() error {
	n, _ := strconv.Atoi(os.Getenv("GITSTORE_N"))
	w := os.Getenv("GITSTORE_WORKER")
	s, err := Open(os.Getenv("GITSTORE_DIR"))
	if err != nil {
		return err
	}
	defer s.Close()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	parent := os.Getenv("GITSTORE_PARENT")
	for i := 0; i < n; i++ {
		id, err := s.Commit(c, evolve.CommitRequest{Exp: testExp, Parent: parent, Allowed: testAllowed,
			Files:   map[string][]byte{testProgram: []byte(fmt.Sprintf("worker %s step %d\n", w, i))},
			Message: evolve.CommitMessage{Title: fmt.Sprintf("w%s-%d", w, i)}, When: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			return err
		}
		if err := s.Append(c, id, evaluated(float64(i), t0.Add(time.Hour))); err != nil {
			return err
		}
		if i%3 == 0 {
			if _, err := s.Candidates(c, testExp); err != nil {
				return err
			}
		}
		parent = id
	}
	return nil
}

func TestManyProcesses(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	const procs, each = 4, 8
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GITSTORE_HELPER=writer", "GITSTORE_DIR="+f.dir, "GITSTORE_PARENT="+base,
			"GITSTORE_WORKER="+strconv.Itoa(p), "GITSTORE_N="+strconv.Itoa(each))
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	// This process writes too.
	for i := 0; i < each; i++ {
		id := f.candidate(t, base, fmt.Sprintf("parent process %d\n", i), 1000+i)
		if err := f.s.Append(ctx(t), id, evaluated(1, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i])
		}
	}
	cs, err := f.s.Candidates(ctx(t), testExp)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1+(procs+1)*each {
		t.Fatalf("%d candidates, want %d", len(cs), 1+(procs+1)*each)
	}
	for _, c := range cs {
		if !c.Baseline && (len(c.Events) != 2 || c.Status() != evolve.StatusOK) {
			t.Errorf("candidate %s (%s) lost an event: %v", c.Short(), c.Subject, lines(t, c.Events))
		}
	}
	if n := len(strings.Split(strings.TrimSpace(runGit(t, f.dir, "notes", "--ref=evolve", "list")), "\n")); n != len(cs) {
		t.Errorf("git notes list: %d notes, want %d", n, len(cs))
	}
	if _, err := os.Stat(filepath.Join(f.dir, ".git", "evolve", "notes.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("notes.lock left behind: %v", err)
	}
	compareCandidates(t, cs, rebuilt(t, f))
}

func writeLock(t *testing.T, f *fixture, content string, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(f.dir, ".git", "evolve", "notes.lock")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStaleLockRecovery(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name    string
		content string
		mtime   time.Time
	}{
		{"dead pid on this host", string(lockInfo{pid: dead.Process.Pid, host: hostname, at: now}.encode()), now},
		{"old lock of another host", string(lockInfo{pid: 1, host: "elsewhere", at: now.Add(-time.Minute)}.encode()), now},
		{"old lock of a live process", string(lockInfo{pid: os.Getpid(), host: hostname, at: now.Add(-time.Hour)}.encode()), now},
		{"unreadable and old", "garbage", now.Add(-time.Minute)},
	}
	for i, c := range cases {
		path := writeLock(t, f, c.content, c.mtime)
		cx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.s.Append(cx, base, evaluated(float64(i), t0.Add(time.Hour)))
		cancel()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: lock left behind", c.name)
		}
	}
	rec, _ := f.s.Events(ctx(t), base)
	if len(rec.Events) != 1+len(cases) {
		t.Errorf("events: %v", lines(t, rec.Events))
	}
}

func TestLiveLockIsRespected(t *testing.T) {
	f := newDiskFixture(t)
	base := f.baseline(t)
	// A fresh lock of a live process elsewhere: wait, then give up.
	path := writeLock(t, f, string(lockInfo{pid: 4242, host: "elsewhere", at: time.Now()}.encode()), time.Now())
	before, _, _ := f.s.notesHead()
	cx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := f.s.Append(cx, base, evaluated(1, t0))
	cancel()
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pid 4242 on elsewhere") {
		t.Errorf("err = %v", err)
	}
	if after, _, _ := f.s.notesHead(); after != before {
		t.Error("notes written while locked")
	}
	// Released by its holder: the waiting writer goes on.
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Remove(path)
	}()
	if err := f.s.Append(ctx(t), base, evaluated(1, t0)); err != nil {
		t.Fatal(err)
	}
	// A lock being written (empty, fresh) is not stale either.
	writeLock(t, f, "", time.Now())
	cx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.s.Append(cx, base, evaluated(1, t0)); !errors.Is(err, ErrLocked) {
		t.Errorf("empty fresh lock: err = %v", err)
	}
	os.Remove(path)
}
