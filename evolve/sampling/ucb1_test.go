package sampling_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/evolve/sampling"
)

// arms is a bandit: five evaluated candidates whose normalised fitness is
// 0, 0.25, 0.5, 0.75 and 1.
//
//	base(0) ── a(1)
//	       ├── b(2)
//	       ├── c(3)
//	       └── d(4)
const arms = `
	base - ok 0
	a base ok 1
	b base ok 2
	c base ok 3
	d base ok 4`

var armOrder = []string{"base", "a", "b", "c", "d"}

// bandit draws parents from the arms. With countChildren, each draw gives the
// parent a child (a visit in the DAG: a child that failed, so the arms stay
// the same); with keepInFlight, samples are never released (visits in flight).
func bandit(t *testing.T, s evolve.Sampler, draws int, countChildren, keepInFlight bool) map[string]int {
	t.Helper()
	pop := dag(t, arms)
	idx := map[string]int{}
	for i, c := range pop {
		idx[c.ID] = i
	}
	rng := seeded(42)
	counts := map[string]int{}
	for range draws {
		sel, err := s.Sample(pop, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		counts[sel.Parent]++
		if countChildren {
			pop[idx[sel.Parent]].Children++
		}
		if !keepInFlight {
			s.Release(sel.Parent)
		}
	}
	return counts
}

// spreadsAndConcentrates is what a working UCB1 does over many draws: every
// arm is tried several times, better arms are tried more, and the best arm
// takes the largest share.
func spreadsAndConcentrates(counts map[string]int, draws int) error {
	for i, id := range armOrder {
		if counts[id] < 5 {
			return fmt.Errorf("visits do not spread: %s was chosen %d times: %v", id, counts[id], counts)
		}
		if i > 0 && counts[id] < counts[armOrder[i-1]] {
			return fmt.Errorf("a worse arm was chosen more often (%s %d < %s %d): %v",
				id, counts[id], armOrder[i-1], counts[armOrder[i-1]], counts)
		}
	}
	if best := counts["d"]; best*2 < draws {
		return fmt.Errorf("visits do not concentrate: the best arm got %d of %d draws: %v", best, draws, counts)
	}
	return nil
}

func TestUCB1SpreadsVisitsAndConcentratesOnTheBest(t *testing.T) {
	const draws = 3000
	for _, tc := range []struct {
		name                        string
		countChildren, keepInFlight bool
	}{
		{"visits from children in the DAG", true, false},
		{"visits from samples in flight", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, configs()["ucb1"], "")
			counts := bandit(t, s, draws, tc.countChildren, tc.keepInFlight)
			t.Log(counts)
			if err := spreadsAndConcentrates(counts, draws); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBanditCheckCatchesVisitsNeverCounted shows that the check above fails
// for the two ways a UCB1 breaks when visits are not counted (ASI-Evolve's
// bug): stuck on one unvisited arm, or uniform random.
func TestBanditCheckCatchesVisitsNeverCounted(t *testing.T) {
	const draws = 3000
	stuck := bandit(t, mustNew(t, configs()["ucb1"], ""), draws, false, false)
	if err := spreadsAndConcentrates(stuck, draws); err == nil || !strings.Contains(err.Error(), "do not spread") {
		t.Errorf("UCB1 that never sees a visit passed the check: %v (%v)", stuck, err)
	}
	uniform := bandit(t, mustNew(t, configs()["random"], ""), draws, true, false)
	if err := spreadsAndConcentrates(uniform, draws); err == nil {
		t.Errorf("uniform random passed the check: %v", uniform)
	}
}

func TestUCB1UnvisitedFirstAndInFlight(t *testing.T) {
	// base(1) ── a(2)
	//        └── b(3)
	// a and b are unvisited; b is the better one.
	pop := dag(t, `
		base - ok 1
		a base ok 2
		b base ok 3`)
	s, err := sampling.NewUCB1(1.414, evolve.Maximize)
	if err != nil {
		t.Fatal(err)
	}
	sample := func() string {
		t.Helper()
		sel, err := s.Sample(pop, 1, seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		return sel.Parent
	}
	if got := sample(); got != "b" {
		t.Fatalf("first sample %s, want b (best unvisited)", got)
	}
	// b is now in flight: a is the only unvisited candidate.
	if got := sample(); got != "a" {
		t.Fatalf("second sample %s, want a (b is in flight)", got)
	}
	s.Release("a")
	s.Release("b")
	s.Release("b")       // more releases than samples: ignored
	s.Release("unknown") // ignored
	if got := sample(); got != "b" {
		t.Fatalf("after release %s, want b", got)
	}
}

func TestSamplersAreSafeForConcurrentUse(t *testing.T) {
	pop := grownPopulation(t, 200, 9)
	for name, cfg := range configs() {
		s := mustNew(t, cfg, "")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := seeded(uint64(w))
				for range 20 {
					sel, err := s.Sample(pop, 3, rng)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", name, err)
						return
					}
					s.Release(sel.Parent)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
