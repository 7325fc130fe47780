package sampling_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

// parents draws many samples (each released at once, so the island's turn
// stays the same) and returns how often each parent was chosen, and the
// islands the samples were for.
func parents(t *testing.T, cfg evolve.SamplingConfig, pop []evolve.Candidate, draws int) (map[string]int, map[int]bool) {
	t.Helper()
	s := mustNew(t, cfg, "")
	rng := seeded(99)
	counts, islands := map[string]int{}, map[int]bool{}
	for range draws {
		sel, err := s.Sample(pop, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		counts[sel.Parent]++
		islands[*sel.Island] = true
		s.Release(sel.Parent)
	}
	return counts, islands
}

func keys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }

func TestIslandsTakeTurns(t *testing.T) {
	cfg := islandConfig(func(c *evolve.IslandConfig) { c.NumIslands = 3 })
	pop := dag(t, `base - ok 1`)
	s := mustNew(t, cfg, "")
	rng := seeded(5)
	var got []int
	for i := range 12 {
		sel, err := s.Sample(pop, 2, rng)
		if err != nil {
			t.Fatal(err)
		}
		// A second machine (a fresh sampler) reading the same population
		// gives the new candidate the same island.
		other, err := mustNew(t, cfg, "").Sample(pop, 2, seeded(77))
		if err != nil {
			t.Fatal(err)
		}
		if *other.Island != *sel.Island {
			t.Fatalf("step %d: a fresh sampler chose island %d, the running one %d", i, *other.Island, *sel.Island)
		}
		got = append(got, *sel.Island)
		pop = addChild(pop, sel, idn("c", i), float64(i))
		s.Release(sel.Parent)
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("islands %v, want %v", got, want)
	}
	// Samples in flight take the next turns; releasing them gives the turns back.
	var inFlight []int
	for range 3 {
		sel, err := s.Sample(pop, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, *sel.Island)
		defer s.Release(sel.Parent)
	}
	if !slices.Equal(inFlight, []int{0, 1, 2}) {
		t.Errorf("islands of samples in flight %v, want [0 1 2]", inFlight)
	}
}

func TestIslandMembership(t *testing.T) {
	// Five islands. base has no island: it is shared by every island.
	// x says island 7: its home is 7 mod 5 = 2.
	//
	//	base ── x(island 7)
	cfg := islandConfig(func(c *evolve.IslandConfig) { c.ExplorationRatio, c.ExploitationRatio = 1, 0 })
	pop := dag(t, `
		base - ok 1
		x base ok 5 island=7`)
	// One candidate carries an island: turn of island 1, whose only member is base.
	counts, islands := parents(t, cfg, pop, 50)
	if !slices.Equal(keys(counts), []string{"base"}) || !islands[1] || len(islands) != 1 {
		t.Errorf("turn 1: parents %v islands %v, want base on island 1", counts, islands)
	}
	// One more candidate (pending) moves the turn to island 2: base and x.
	pop = append(pop, dag(t, `y base pending island=0`)...)
	counts, islands = parents(t, cfg, pop, 200)
	if !slices.Equal(keys(counts), []string{"base", "x"}) || !islands[2] {
		t.Errorf("turn 2: parents %v islands %v, want base and x on island 2", counts, islands)
	}
}

func TestIslandWithoutMembersSamplesTheArchive(t *testing.T) {
	// base(failed) ── a(island 0)
	// Turn of island 1, which has no evaluated member.
	cfg := islandConfig(func(c *evolve.IslandConfig) { c.NumIslands = 3 })
	pop := dag(t, `
		base - failed
		a base ok 2 island=0`)
	sel, err := mustNew(t, cfg, "").Sample(pop, 3, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if sel.Parent != "a" || *sel.Island != 1 || len(sel.Inspirations) != 0 {
		t.Errorf("got %s", show(sel))
	}
	if !strings.Contains(strings.Join(sel.Explain, "\n"), "whole archive") {
		t.Errorf("explanation does not say it fell back to the archive:\n%s", show(sel))
	}
}

func TestMigrantsAppearAfterTheInterval(t *testing.T) {
	// Two islands; every 5 generations the best 20% of island 0 joins island 1.
	// Exploration only, so that every member of island 1 may be drawn.
	cfg := islandConfig(func(c *evolve.IslandConfig) {
		c.NumIslands, c.MigrationInterval, c.MigrationRate = 2, 5, 0.2
		c.ExplorationRatio, c.ExploitationRatio = 1, 0
	})
	//	base ── p1..p4 (island 0; p2 is its best), q1 (island 1)
	// Island 0 is at generation 4: no migration yet. 5 carry an island: turn 1.
	pop := dag(t, `
		base - ok 0
		p1 base ok 5 island=0
		p2 base ok 9 island=0
		p3 base ok 2 island=0
		p4 base ok 1 island=0
		q1 base ok 3 island=1`)
	check := func(want ...string) {
		t.Helper()
		counts, islands := parents(t, cfg, pop, 400)
		if !islands[1] || len(islands) != 1 {
			t.Fatalf("islands %v, want the turn of island 1", islands)
		}
		if got := keys(counts); !slices.Equal(got, want) {
			t.Errorf("island 1 parents %v, want %v", got, want)
		}
	}
	check("base", "q1")

	// p5 brings island 0 to generation 5: its best (p2) migrates.
	pop = append(pop, dag(t, `
		p5 base ok 4 island=0 time=10
		q2 base ok 3 island=1 time=11`)...)
	check("base", "p2", "q1", "q2")

	// p6, the new best of island 0, was born after the migration point:
	// it waits for the next one.
	pop = append(pop, dag(t, `
		p6 base ok 100 island=0 time=12
		q3 base ok 3 island=1 time=13`)...)
	check("base", "p2", "q1", "q2", "q3")

	// Generation 10 (p7..p10, one of them failed): the best 2 of the 9 ok
	// natives born so far migrate: p6 and p2.
	pop = append(pop, dag(t, `
		p7 base ok 1 island=0 time=14
		p8 base ok 1 island=0 time=15
		p9 base failed island=0 time=16
		p10 base ok 1 island=0 time=17
		q4 base ok 3 island=1 time=18
		q5 base ok 3 island=1 time=19`)...)
	check("base", "p2", "p6", "q1", "q2", "q3", "q4", "q5")

	// Migration reads commit times, not list order: p6 listed first changes nothing.
	slices.Reverse(pop)
	check("base", "p2", "p6", "q1", "q2", "q3", "q4", "q5")
}

// TestGridDrivesExploitation: with exploitation only, the parent is always
// the elite of an occupied cell, and moving a candidate to another cell
// changes which candidates are elites.
func TestGridDrivesExploitation(t *testing.T) {
	cfg := islandConfig(func(c *evolve.IslandConfig) {
		c.NumIslands, c.Features, c.Bins = 1, []string{"complexity"}, 4
		c.ExplorationRatio, c.ExploitationRatio = 0, 1
	})
	// complexity range 100..1000, 4 bins of 225 bytes:
	//   bin 0: base(1, 100) a(5, 120) b(3, 150)   elite a
	//   bin 2: c(2, 550)                          elite c
	//   bin 3: d(1, 1000) e(0.5, 900)             elite d
	const grid = `
		base - ok 1 size=100
		a base ok 5 size=120 island=0
		b base ok 3 size=%s island=0
		c base ok 2 size=550 island=0
		d base ok 1 size=1000 island=0
		e base ok 0.5 size=900 island=0`
	counts, _ := parents(t, cfg, dag(t, strings.Replace(grid, "%s", "150", 1)), 300)
	if got := keys(counts); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("parents %v, want the cell elites a, c, d", got)
	}
	// b moves to 350 bytes: alone in bin 1, it becomes an elite.
	counts, _ = parents(t, cfg, dag(t, strings.Replace(grid, "%s", "350", 1)), 300)
	if got := keys(counts); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("parents %v, want the cell elites a, b, c, d", got)
	}
	// Exploration samples the island uniformly, elites or not.
	cfg.Island.ExplorationRatio, cfg.Island.ExploitationRatio = 1, 0
	counts, _ = parents(t, cfg, dag(t, strings.Replace(grid, "%s", "150", 1)), 400)
	if got := keys(counts); !slices.Equal(got, []string{"a", "b", "base", "c", "d", "e"}) {
		t.Errorf("exploration parents %v, want every member", got)
	}
}

func TestGridOverAMetric(t *testing.T) {
	cfg := islandConfig(func(c *evolve.IslandConfig) {
		c.NumIslands, c.Features, c.Bins = 1, []string{"speed"}, 3
		c.ExplorationRatio, c.ExploitationRatio = 0, 1
	})
	// speed range 1..10, 3 bins of 3: a in bin 0, b and c in bin 2 (b elite).
	// base has no metric: first bin, where a beats it.
	const grid = `
		base - ok 0
		a base ok 9 m.speed=1 island=0
		b base ok 8 m.speed=10 island=0
		c base ok 1 m.speed=%s island=0`
	counts, _ := parents(t, cfg, dag(t, strings.Replace(grid, "%s", "9", 1)), 200)
	if got := keys(counts); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("parents %v, want a, b", got)
	}
	// c at speed 5 is alone in the middle bin.
	counts, _ = parents(t, cfg, dag(t, strings.Replace(grid, "%s", "5", 1)), 200)
	if got := keys(counts); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("parents %v, want a, b, c", got)
	}
}

func TestGridOverDiversity(t *testing.T) {
	cfg := islandConfig(func(c *evolve.IslandConfig) {
		c.NumIslands, c.Features, c.Bins = 1, []string{"diversity"}, 2
		c.ExplorationRatio, c.ExploitationRatio = 0, 1
	})
	// a..e have nearly the same code, f and g very different code. Distances
	// to the best others: about 0.2 for a..e, about 0.95 for f and g: two
	// cells, elites a and f.
	pop := dag(t, `
		base - ok 0
		a base ok 9 island=0 sketch=0000000000000000
		b base ok 8 island=0 sketch=0000000000000001
		c base ok 7 island=0 sketch=0000000000000003
		d base ok 6 island=0 sketch=0000000000000007
		e base ok 5 island=0 sketch=000000000000000f
		f base ok 2 island=0 sketch=ffffffffffffffff
		g base ok 1 island=0 sketch=fffffffffffffffe`)
	counts, _ := parents(t, cfg, pop, 200)
	if got := keys(counts); !slices.Equal(got, []string{"a", "f"}) {
		t.Errorf("parents %v, want a, f", got)
	}
	// Without features, the grid is one cell: exploitation is the best.
	cfg.Island.Features = nil
	counts, _ = parents(t, cfg, pop, 100)
	if got := keys(counts); !slices.Equal(got, []string{"a"}) {
		t.Errorf("parents %v, want a", got)
	}
}

func TestIslandRankWeighted(t *testing.T) {
	cfg := islandConfig(func(c *evolve.IslandConfig) {
		c.NumIslands = 1
		c.ExplorationRatio, c.ExploitationRatio = 0, 0
	})
	// Weights 1, 1/2, 1/3, 1/4 by rank: d 48%, c 24%, b 16%, a 12%.
	pop := dag(t, `
		a - ok 1
		b a ok 2 island=0
		c a ok 3 island=0
		d a ok 4 island=0`)
	counts, _ := parents(t, cfg, pop, 4000)
	for id, want := range map[string]float64{"d": 0.48, "c": 0.24, "b": 0.16, "a": 0.12} {
		if got := float64(counts[id]) / 4000; got < want-0.03 || got > want+0.03 {
			t.Errorf("%s drawn %.3f of the time, want %.2f: %v", id, got, want, counts)
		}
	}
}

func TestIslandExplanation(t *testing.T) {
	pop := grownPopulation(t, 120, 2)
	sel, err := mustNew(t, configs()["island"], "").Sample(pop, 3, seeded(4))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(sel.Explain, "\n")
	for _, want := range []string{"turn of island", "generation", "migrants from island", "grid: features [complexity diversity], 10 bins",
		"mode: ", "<- parent", " cell [", "complexity=", "diversity=", "inspirations"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
}
