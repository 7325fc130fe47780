package gitstore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// Benchmarks on a large repository made by bench/store.sh (storebench
// fixture). They skip unless GITSTORE_BENCH_REPO names it; BenchmarkRecord
// adds candidates to it.
//
//	GITSTORE_BENCH_REPO=/tmp/evolve-bench go test -run XXX -bench Store ./gitstore

func benchRepo(b *testing.B) (*Store, string) {
	b.Helper()
	dir := os.Getenv("GITSTORE_BENCH_REPO")
	if dir == "" {
		b.Skip("GITSTORE_BENCH_REPO is not set (make one with bench/store.sh)")
	}
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	exp := os.Getenv("GITSTORE_BENCH_EXP")
	if exp == "" {
		exp = "bench"
	}
	return s, exp
}

// BenchmarkStoreCandidates is a fresh process's Candidates: the saved index
// is read and checked against the refs and the notes.
func BenchmarkStoreCandidates(b *testing.B) {
	s, exp := benchRepo(b)
	if _, err := s.Candidates(ctx(b), exp); err != nil { // builds the index if missing
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.forgetMemo()
		cs, err := s.Candidates(ctx(b), exp)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(cs)), "candidates")
	}
}

// BenchmarkStoreCandidatesMemo is a long-running process's Candidates (the
// step loop): the index is already in memory.
func BenchmarkStoreCandidatesMemo(b *testing.B) {
	s, exp := benchRepo(b)
	if _, err := s.Candidates(ctx(b), exp); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Candidates(ctx(b), exp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreRecord records one candidate: commit, ref and proposed
// note, then an evaluated note.
func BenchmarkStoreRecord(b *testing.B) {
	s, exp := benchRepo(b)
	cs, err := s.Candidates(ctx(b), exp)
	if err != nil {
		b.Fatal(err)
	}
	parent := cs[len(cs)-1].ID
	prog := "experiments/" + exp + "/initial_program.py"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := time.Now()
		id, err := s.Commit(ctx(b), evolve.CommitRequest{Exp: exp, Parent: parent, Allowed: []string{prog},
			Files:   map[string][]byte{prog: []byte(fmt.Sprintf("X = %d %d\n", i, now.UnixNano()))},
			Message: evolve.CommitMessage{Title: "bench"}, When: now})
		if err != nil {
			b.Fatal(err)
		}
		score := float64(i)
		if err := s.Append(ctx(b), id, evolve.Event{Exp: exp, Event: evolve.EventEvaluated, At: now, Status: evolve.StatusOK, Score: &score}); err != nil {
			b.Fatal(err)
		}
		parent = id
	}
}
