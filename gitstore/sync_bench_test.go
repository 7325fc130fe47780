package gitstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/gitstore"
)

// Performance target of issue 9: publishing one new candidate into a remote
// that already holds 10,000 costs at most a second over a file-path remote,
// and the bytes sent follow what is new, not the experiment's size.
//
//	go test -run '^$' -bench 'Sync' -benchtime 20x ./gitstore/
//
// prints ns/op and the pack bytes pushed (sent-B/op) or fetched (recv-B/op)
// per synced candidate; bench/sync.sh runs it for 1,000 and 10,000.

// syncBenchSizes are the experiment sizes measured: the cost must not grow
// with them.
var syncBenchSizes = []int{1000, 10000}

func BenchmarkSyncPushOneCandidate(b *testing.B) {
	for _, n := range syncBenchSizes {
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			s, _, remote := syncBenchFixture(b, n)
			opt := syncOptions(b, s, remote)
			ctx := context.Background()
			parent := syncBenchTip(b, s)
			var sent, steps int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				parent = syncCandidates(b, s, parent, 1, fmt.Sprintf("push-%d-%d", n, i))[0]
				b.StartTimer()
				res, err := s.Sync(ctx, opt)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Pushed) != 1 || !res.NotesPushed {
					b.Fatalf("sync = %+v, want one candidate and the notes pushed", res)
				}
				sent += res.BytesSent
				steps++
			}
			b.ReportMetric(float64(sent)/float64(steps), "sent-B/op")
		})
	}
}

func BenchmarkSyncFetchOneCandidate(b *testing.B) {
	for _, n := range syncBenchSizes {
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			writer, _, remote := syncBenchFixture(b, n)
			readerDir := filepath.Join(b.TempDir(), "reader")
			syncGit(b, filepath.Dir(readerDir), "clone", "-q", "--mirror", remote, filepath.Join(readerDir, ".git"))
			syncGit(b, readerDir, "config", "--bool", "core.bare", "false")
			reader := syncOpen(b, readerDir)
			wopt, ropt := syncOptions(b, writer, remote), syncOptions(b, reader, remote)
			ctx := context.Background()
			parent := syncBenchTip(b, writer)
			var recv, steps int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				parent = syncCandidates(b, writer, parent, 1, fmt.Sprintf("fetch-%d-%d", n, i))[0]
				if _, err := writer.Sync(ctx, wopt); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := reader.Sync(ctx, ropt)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Fetched) != 1 || res.Notes != "fast-forward" {
					b.Fatalf("sync = %+v, want one candidate fetched and the notes fast-forwarded", res)
				}
				recv += res.BytesReceived
				steps++
			}
			b.ReportMetric(float64(recv)/float64(steps), "recv-B/op")
		})
	}
}

// syncBenchTip is the newest candidate of the fixture's experiment.
func syncBenchTip(b *testing.B, s *gitstore.Store) string {
	b.Helper()
	cands, err := s.Candidates(context.Background(), syncExp)
	if err != nil {
		b.Fatal(err)
	}
	return cands[len(cands)-1].ID
}

// syncBenchFixture makes a repository whose experiment has a baseline and
// n candidates (a random tree of them, each with proposed and evaluated
// events in one notes commit written by git fast-import), and a bare
// remote holding the same refs and notes, as after a sync.
func syncBenchFixture(b testing.TB, n int) (s *gitstore.Store, dir, remote string) {
	b.Helper()
	s, dir = syncRepo(b, "")
	base := syncBaseline(b, s)
	s.Close()

	marks := filepath.Join(b.TempDir(), "marks")
	cmd := exec.Command("git", "fast-import", "--quiet", "--export-marks="+marks)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	rng := uint64(42)
	next := func(k int) int { // xorshift: a fixed random tree
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(k))
	}
	t0 := syncT0.Unix()
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "blob\nmark :%d\n", 2*n+i)
		data(fmt.Sprintf("R = 0.1\n# candidate %d\n", i))
		fmt.Fprintf(w, "commit refs/heads/fixture\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\n", i, t0+int64(i))
		data(fmt.Sprintf("evolve(%s): candidate %d\n\nbecause\n\nEvolve-Experiment: %s\n", syncExp, i, syncExp))
		if p := next(i); p == 0 {
			fmt.Fprintf(w, "from %s\n", base)
		} else {
			fmt.Fprintf(w, "from :%d\n", p)
		}
		fmt.Fprintf(w, "M 100644 :%d %s\n\n", 2*n+i, syncProgram)
	}
	fmt.Fprintf(w, "commit %s\ncommitter Bench <bench@example.com> %d +0000\n", gitstore.NotesRef, t0+int64(n)+1)
	data("notes of the fixture\n")
	fmt.Fprintf(w, "from %s^0\n", gitstore.NotesRef)
	for i := 1; i <= n; i++ {
		at := time.Unix(t0+int64(i), 0).UTC().Format(time.RFC3339)
		note := fmt.Sprintf(`{"v":1,"exp":"%s","event":"proposed","at":"%s","by":"bench","title":"candidate %d"}`+"\n"+
			`{"v":1,"exp":"%s","event":"evaluated","at":"%s","by":"bench","status":"ok","score":%d}`+"\n",
			syncExp, at, i, syncExp, at, i%97)
		fmt.Fprintf(w, "N inline :%d\n", i)
		fmt.Fprintf(w, "data %d\n%s\n", len(note), note)
	}
	fmt.Fprintf(w, "\nreset refs/heads/fixture\nfrom %s\n\n", strings.Repeat("0", 40))
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, stderr.String())
	}
	markData, err := os.ReadFile(marks)
	if err != nil {
		b.Fatal(err)
	}
	var updates strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(markData)), "\n") {
		mark, sha, _ := strings.Cut(l, " ")
		var m int
		fmt.Sscanf(mark, ":%d", &m)
		if m >= 1 && m <= n {
			fmt.Fprintf(&updates, "create %s %s\n", gitstore.CandidateRef(syncExp, sha), sha)
		}
	}
	up := exec.Command("git", "update-ref", "--stdin")
	up.Dir = dir
	up.Stdin = strings.NewReader(updates.String())
	if out, err := up.CombinedOutput(); err != nil {
		b.Fatalf("git update-ref: %v\n%s", err, out)
	}
	syncGit(b, dir, "pack-refs", "--all")
	remote = filepath.Join(b.TempDir(), "remote.git")
	syncGit(b, filepath.Dir(remote), "clone", "-q", "--mirror", dir, remote)
	s = syncOpen(b, dir)
	if res, err := s.Sync(context.Background(), syncOptions(b, s, remote)); err != nil || len(res.Pushed) != 0 {
		b.Fatalf("first sync of the fixture = %+v, %v: want nothing to push", res, err)
	}
	return s, dir, remote
}
