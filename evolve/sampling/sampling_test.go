package sampling_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/evolve/sampling"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		algorithm, want string
	}{
		{"", "ucb1"}, {"ucb1", "ucb1"}, {"greedy", "greedy"}, {"random", "random"}, {"island", "island"}, {" island ", "island"},
	} {
		cfg := evolve.DefaultConfig("x").Database.Sampling
		cfg.Algorithm = tc.algorithm
		s, err := sampling.New(cfg, evolve.Maximize)
		if err != nil {
			t.Fatalf("New(%q): %v", tc.algorithm, err)
		}
		if s.Name() != tc.want {
			t.Errorf("New(%q).Name() = %q, want %q", tc.algorithm, s.Name(), tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	island := func(mut func(*evolve.IslandConfig)) evolve.SamplingConfig { return islandConfig(mut) }
	for _, tc := range []struct {
		name string
		cfg  evolve.SamplingConfig
		dir  evolve.Direction
		want string
	}{
		{"unknown algorithm", evolve.SamplingConfig{Algorithm: "map-elites"}, "",
			`unknown sampling algorithm "map-elites" in database.sampling.algorithm: use one of ucb1, greedy, random, island`},
		{"unknown direction", evolve.SamplingConfig{Algorithm: "greedy"}, "up", `unknown score direction "up" in eval.direction`},
		{"negative c", evolve.SamplingConfig{UCB1C: -1}, "", "database.sampling.ucb1_c is -1"},
		{"nan c", evolve.SamplingConfig{UCB1C: math.NaN()}, "", "database.sampling.ucb1_c is NaN"},
		{"no islands", island(func(c *evolve.IslandConfig) { c.NumIslands = 0 }), "", "database.sampling.island.num_islands is 0: use 1 or more"},
		{"negative interval", island(func(c *evolve.IslandConfig) { c.MigrationInterval = -1 }), "", "island.migration_interval is -1"},
		{"rate above 1", island(func(c *evolve.IslandConfig) { c.MigrationRate = 1.5 }), "", "island.migration_rate is 1.5"},
		{"ratios above 1", island(func(c *evolve.IslandConfig) { c.ExplorationRatio, c.ExploitationRatio = 0.6, 0.6 }), "", "their sum must be at most 1"},
		{"no bins", island(func(c *evolve.IslandConfig) { c.Bins = 0 }), "", "island.bins is 0"},
		{"empty feature", island(func(c *evolve.IslandConfig) { c.Features = []string{"complexity", " "} }), "", "island.features[1] is empty"},
		{"duplicate feature", island(func(c *evolve.IslandConfig) { c.Features = []string{"complexity", "complexity"} }), "", `lists "complexity" twice`},
		{"too many cells", island(func(c *evolve.IslandConfig) { c.Bins, c.Features = 1000, []string{"a", "b", "c", "d", "e"} }), "", "too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sampling.New(tc.cfg, tc.dir)
			if err == nil {
				t.Fatalf("New succeeded with %s", s.Name())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if s != nil {
				t.Errorf("sampler %v returned with an error", s)
			}
		})
	}
}

func TestEmptyPopulations(t *testing.T) {
	for _, tc := range []struct{ name, dag string }{
		{"empty", ``},
		// base(failed)
		{"baseline failed", `base - failed`},
		// base(pending)
		{"baseline pending", `base - pending`},
		// base(failed) ── a(timeout)
		//             └── b(invalid)
		{"all failed", `
			base - failed
			a    base timeout
			b    base invalid`},
	} {
		for name, cfg := range configs() {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				s := mustNew(t, cfg, evolve.Maximize)
				sel, err := s.Sample(dag(t, tc.dag), 3, seeded(1))
				if !errors.Is(err, sampling.ErrEmpty) {
					t.Fatalf("Sample = %+v, %v; want ErrEmpty", sel, err)
				}
				if !strings.HasPrefix(err.Error(), "no evaluated candidate to sample from") {
					t.Errorf("error %q", err)
				}
			})
		}
	}
	// An ok status without a score, or with an id missing, is not a parent either.
	pop := dag(t, `base - ok`)
	noID := dag(t, `base - ok 1`)
	noID[0].ID = ""
	for name, cfg := range configs() {
		for _, p := range [][]evolve.Candidate{pop, noID} {
			if _, err := mustNew(t, cfg, "").Sample(p, 1, seeded(1)); !errors.Is(err, sampling.ErrEmpty) {
				t.Errorf("%s: err = %v, want ErrEmpty", name, err)
			}
		}
	}
}

func TestSingleNode(t *testing.T) {
	// base(1.0)
	pop := dag(t, `base - ok 1.0`)
	for name, cfg := range configs() {
		for n := range 4 {
			sel, err := mustNew(t, cfg, "").Sample(pop, n, seeded(7))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if sel.Parent != "base" || len(sel.Inspirations) != 0 || sel.Sampler != name {
				t.Errorf("%s n=%d: %+v", name, n, sel)
			}
			if (sel.Island != nil) != (name == sampling.NameIsland) {
				t.Errorf("%s: island %v", name, sel.Island)
			}
			if len(sel.Explain) == 0 {
				t.Errorf("%s: no explanation", name)
			}
		}
	}
}

// TestDeterministicParents lists, for hand-drawn DAGs, the parent that the
// deterministic algorithms must choose.
func TestDeterministicParents(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dag          string
		dir          evolve.Direction
		ucb1, greedy string
	}{
		{
			// base(1) ── a(3) ── c(failed 9)
			//        └── b(2)
			// visits: base 2, a 1, b 0 -> b is the only unvisited one.
			name: "failed child is a visit, never a parent",
			dag: `
				base - ok 1
				a base ok 3
				b base ok 2
				c a failed 9`,
			ucb1: "b", greedy: "a",
		},
		{
			// base(1) ── a(2) ── c(5)
			//        └── b(4) ── d(pending)
			// b's pending child counts as a visit: c is the only unvisited one.
			name: "pending is a visit, never a parent",
			dag: `
				base - ok 1
				a base ok 2
				b base ok 4
				c a ok 5
				d b pending`,
			ucb1: "c", greedy: "c",
		},
		{
			// base(1) ── y(2)      z(2) is a second root-like candidate
			//        └── x(2)
			// tie on score: the smaller id wins, unvisited first.
			name: "ties by id",
			dag: `
				base - ok 1
				y base ok 2
				x base ok 2
				z base ok 2`,
			ucb1: "x", greedy: "x",
		},
		{
			// base(5) ── a(3) ── b(1)
			// minimize: b is best and unvisited.
			name: "minimize",
			dag: `
				base - ok 5
				a base ok 3
				b a ok 1`,
			dir:  evolve.Minimize,
			ucb1: "b", greedy: "b",
		},
		{
			// base(1) ── a(2) ── b(failed)
			//        │        └── c(failed)
			//        └── (in the list twice, out of order)
			// every ok candidate is visited: base 1 visit (norm 0), a 2 visits (norm 1).
			// N = 4; base: 0 + 1.414·sqrt(ln 4/1) = 1.665; a: 1 + 1.414·sqrt(ln 4/2) = 2.177.
			name: "ucb value, unsorted with duplicates",
			dag: `
				c a failed
				a base ok 2
				base - ok 1
				b a failed
				a base ok 2`,
			ucb1: "a", greedy: "a",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pop := dag(t, tc.dag)
			if tc.name == "ucb value, unsorted with duplicates" {
				// dag counted a twice as base's child; the DAG has one edge.
				for i := range pop {
					if pop[i].ID == "base" {
						pop[i].Children = 1
					}
				}
			}
			for name, want := range map[string]string{"ucb1": tc.ucb1, "greedy": tc.greedy} {
				sel, err := mustNew(t, configs()[name], tc.dir).Sample(pop, 1, seeded(1))
				if err != nil {
					t.Fatal(err)
				}
				if sel.Parent != want {
					t.Errorf("%s chose %s, want %s\n%s", name, sel.Parent, want, strings.Join(sel.Explain, "\n"))
				}
			}
		})
	}
}

func TestUCB1FormulaAndC(t *testing.T) {
	// base(0) ── a(1) ── a1..a3(failed)
	//        └── (base also has a)
	// a: norm 1, visits 3; base: norm 0, visits 1; N = 1 + 4 = 5.
	// c=1.414: a = 1 + 1.414·sqrt(ln5/3) = 2.036; base = 1.414·sqrt(ln5) = 1.794 -> a.
	// c=3:     a = 1 + 3·sqrt(ln5/3) = 3.197;     base = 3·sqrt(ln5) = 3.806 -> base.
	pop := dag(t, `
		base - ok 0
		a base ok 1
		a1 a failed
		a2 a failed
		a3 a failed`)
	for _, tc := range []struct {
		c    float64
		want string
		ucb  string
	}{{1.414, "a", "ucb 2.036"}, {3, "base", "ucb 3.806"}} {
		s, err := sampling.NewUCB1(tc.c, evolve.Maximize)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := s.Sample(pop, 1, seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		if sel.Parent != tc.want {
			t.Errorf("c=%g: parent %s, want %s", tc.c, sel.Parent, tc.want)
		}
		text := strings.Join(sel.Explain, "\n")
		if !strings.Contains(text, "N = 5") || !strings.Contains(text, tc.ucb+"  <- parent") {
			t.Errorf("c=%g: explanation lacks N = 5 or %q:\n%s", tc.c, tc.ucb, text)
		}
	}
}

func TestGreedyAndRandomTies(t *testing.T) {
	// base(1) ── b(3)
	//        ├── c(3)
	//        └── a(3)
	pop := dag(t, `
		base - ok 1
		b base ok 3
		c base ok 3
		a base ok 3`)
	slices.Reverse(pop)
	for seed := range uint64(20) {
		sel, err := mustNew(t, configs()["greedy"], "").Sample(pop, 1, seeded(seed))
		if err != nil || sel.Parent != "a" {
			t.Fatalf("greedy: %v %v, want a", sel.Parent, err)
		}
	}
}

func TestRandomIsUniformOverEvaluated(t *testing.T) {
	// base(1) ── a(5) ── x(failed)
	//        ├── b(2) ── y(pending)
	//        └── c(9)
	pop := dag(t, `
		base - ok 1
		a base ok 5
		b base ok 2
		c base ok 9
		x a failed
		y b pending`)
	s := mustNew(t, configs()["random"], "")
	rng := seeded(3)
	counts := map[string]int{}
	const draws = 8000
	for range draws {
		sel, err := s.Sample(pop, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		counts[sel.Parent]++
	}
	if counts["x"]+counts["y"] != 0 {
		t.Fatalf("failed or pending drawn: %v", counts)
	}
	for _, id := range []string{"base", "a", "b", "c"} {
		if got := counts[id]; math.Abs(float64(got)-draws/4) > draws/4*0.1 {
			t.Errorf("%s drawn %d times, want about %d: %v", id, got, draws/4, counts)
		}
	}
}

func TestInspirations(t *testing.T) {
	// base(1) ── a(2) ── d(5)
	//        ├── b(3) ── e(failed)
	//        └── c(4) ── f(pending)
	pop := dag(t, `
		base - ok 1 island=0
		a base ok 2 island=1
		b base ok 3 island=0
		c base ok 4 island=1
		d a ok 5 island=0
		e b failed island=1
		f c pending island=0`)
	ok := map[string]bool{"base": true, "a": true, "b": true, "c": true, "d": true}
	for name, cfg := range configs() {
		for n := -1; n <= 9; n++ {
			for seed := range uint64(10) {
				sel, err := mustNew(t, cfg, "").Sample(pop, n, seeded(seed))
				if err != nil {
					t.Fatal(err)
				}
				want := min(max(n-1, 0), len(ok)-1)
				if len(sel.Inspirations) != want {
					t.Errorf("%s n=%d: %d inspirations %v, want %d", name, n, len(sel.Inspirations), sel.Inspirations, want)
				}
				seen := map[string]bool{sel.Parent: true}
				for _, id := range sel.Inspirations {
					if seen[id] || !ok[id] {
						t.Errorf("%s n=%d seed=%d: inspiration %s (parent %s, all %v)", name, n, seed, id, sel.Parent, sel.Inspirations)
					}
					seen[id] = true
				}
			}
		}
	}
	// The best half comes first: greedy's parent is d, the best other is c.
	sel, err := mustNew(t, configs()["greedy"], "").Sample(pop, 3, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if sel.Parent != "d" || sel.Inspirations[0] != "c" {
		t.Errorf("greedy n=3: %+v", sel)
	}
}

// TestShuffledAndDuplicatedGiveTheSameSelection: the order of the population
// and duplicate entries do not change the choice, for every algorithm.
func TestShuffledAndDuplicatedGiveTheSameSelection(t *testing.T) {
	pop := grownPopulation(t, 300, 11)
	for name, cfg := range configs() {
		for seed := range uint64(25) {
			want, err := mustNew(t, cfg, "").Sample(pop, 4, seeded(seed))
			if err != nil {
				t.Fatal(err)
			}
			mixed := slices.Clone(pop)
			r := seeded(seed + 1000)
			r.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
			mixed = append(mixed, mixed[:50]...)
			got, err := mustNew(t, cfg, "").Sample(mixed, 4, seeded(seed))
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != show(want) {
				t.Fatalf("%s seed %d: shuffled population chose\n%s\nwant\n%s", name, seed, show(got), show(want))
			}
		}
	}
}

func TestDuplicatesPreferTheCopyWithMoreChildren(t *testing.T) {
	// base(1) ── a(2)    a is listed twice: once as unvisited, once with 2 children.
	pop := dag(t, `
		base - ok 1
		a base ok 2`)
	visited := pop[1]
	visited.Children = 5
	for _, order := range [][]evolve.Candidate{{pop[0], pop[1], visited}, {visited, pop[0], pop[1]}} {
		sel, err := mustNew(t, configs()["ucb1"], "").Sample(order, 1, seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		// With a at 5 visits, base (1 visit) ... both visited; N = 7.
		// a: 1 + 1.414·sqrt(ln7/5) = 1.881; base: 0 + 1.414·sqrt(ln7) = 1.972.
		if sel.Parent != "base" {
			t.Errorf("parent %s, want base (the copy of a with 5 children must win)\n%s", sel.Parent, strings.Join(sel.Explain, "\n"))
		}
	}
}

func TestDoesNotModifyThePopulation(t *testing.T) {
	pop := grownPopulation(t, 50, 3)
	before := fmt.Sprint(pop)
	for name, cfg := range configs() {
		if _, err := mustNew(t, cfg, "").Sample(pop, 3, seeded(1)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if fmt.Sprint(pop) != before {
		t.Error("Sample modified its input")
	}
}

// grownPopulation grows a population of n candidates the way the loop would,
// with the island sampler so that islands, sizes and sketches vary, some
// candidates failed and some pending.
func grownPopulation(t testing.TB, n int, seed uint64) []evolve.Candidate {
	t.Helper()
	pop := dag(t, `base - ok 10 size=1000 sketch=0123456789abcdef`)
	s := mustNew(t, islandConfig(func(c *evolve.IslandConfig) { c.MigrationInterval = 5 }), "")
	rng := seeded(seed)
	for i := 1; len(pop) < n; i++ {
		sel, err := s.Sample(pop, 1, rng)
		if err != nil {
			t.Fatal(err)
		}
		parent := byID(pop)[sel.Parent]
		ps, _ := parent.Score()
		pop = addChild(pop, sel, idn("c", i), ps+rng.NormFloat64())
		c := &pop[len(pop)-1]
		c.Proposed.CodeSize = 500 + rng.Int64N(2000)
		c.Proposed.Sketch = fmt.Sprintf("%016x", rng.Uint64())
		c.Evaluated.Metrics = map[string]any{"speed": rng.Float64()}
		switch rng.IntN(10) {
		case 0:
			c.Evaluated.Status, c.Evaluated.Score = evolve.StatusFailed, nil
		case 1:
			c.Evaluated = nil
		}
		events := []evolve.Event{*c.Proposed} // a Record is a fold: fold again after changing events
		if c.Evaluated != nil {
			events = append(events, *c.Evaluated)
		}
		c.Record = evolve.Fold(events)
		s.Release(sel.Parent)
	}
	return pop
}

// TestLargePopulationsAreOrderIndependent covers the paths taken by large
// populations only (reading in parallel, bucket sort, many migrants).
func TestLargePopulationsAreOrderIndependent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 40,000 candidates")
	}
	pop := bigPopulation(40_000, false)
	mixed := slices.Clone(pop)
	seeded(8).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	mixed = append(mixed, mixed[:1000]...)
	for name, cfg := range configs() {
		for seed := range uint64(3) {
			want, err := mustNew(t, cfg, "").Sample(pop, 4, seeded(seed))
			if err != nil {
				t.Fatal(err)
			}
			got, err := mustNew(t, cfg, "").Sample(mixed, 4, seeded(seed))
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != show(want) {
				t.Fatalf("%s seed %d: shuffled population chose\n%s\nwant\n%s", name, seed, show(got), show(want))
			}
		}
	}
}
