package sampling

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/git-evolve/git-evolve/evolve"
)

// UCB1 treats every evaluated candidate as an arm of a bandit. A candidate's
// visits are its children in the DAG plus the samples of it this UCB1 handed
// out and that were not released yet. Unvisited candidates come first (the
// best of them, ties by id); otherwise the parent maximises
//
//	norm(fitness) + c·sqrt(ln N / visits)
//
// where norm scales fitness to [0, 1] over the evaluated candidates (min-max,
// direction-aware) and N = 1 + the sum of the visits of the evaluated
// candidates. Ties go to the better score, then the smaller id. The choice of
// the parent does not use the random source; the inspirations do.
//
// A sample stays in flight until Release, so between a child's commit and the
// Release of its parent that visit counts twice; it errs towards spreading.
//
// A UCB1 is safe for concurrent use.
type UCB1 struct {
	c      float64
	dir    evolve.Direction
	flight inflight
}

// NewUCB1 returns a UCB1 sampler with exploration constant c
// (database.sampling.ucb1_c, 1.414 by default; 0 = greedy among visited).
func NewUCB1(c float64, dir evolve.Direction) (*UCB1, error) {
	d, err := checkDirection(dir)
	if err != nil {
		return nil, err
	}
	if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
		return nil, fmt.Errorf("database.sampling.ucb1_c is %v: use a finite number >= 0 (1.414 is the usual value)", c)
	}
	return &UCB1{c: c, dir: d}, nil
}

// Name is "ucb1".
func (s *UCB1) Name() string { return NameUCB1 }

// Release ends an in-flight sample of parent; unknown ids are ignored.
func (s *UCB1) Release(parent string) { s.flight.release(parent) }

// ucbTop is how many candidates an explanation lists.
const ucbTop = 5

// Sample chooses the parent by UCB1 and n-1 inspirations (see pickInspirations:
// the best half, then uniformly at random). It returns ErrEmpty when no
// candidate is evaluated ok.
func (s *UCB1) Sample(pop []evolve.Candidate, n int, rng *rand.Rand) (evolve.Selection, error) {
	rng = orDefault(rng)
	s.flight.mu.Lock()
	defer s.flight.mu.Unlock()
	v := newView(pop, s.dir, false)
	defer v.release()
	if len(v.ok) == 0 {
		return evolve.Selection{}, v.emptyError()
	}
	flying := s.flight.byIndex(v)
	visits := func(i int32) int { return int(v.es[i].children) + flying.of(i) }
	total := 1
	for _, i := range v.ok {
		total += visits(i)
	}
	lnN := math.Log(float64(total))
	// Keep the top few by (value, norm) for the choice and the explanation;
	// an unvisited candidate has value +Inf.
	type scored struct {
		i           int32
		value, norm float64
	}
	before := func(a, b scored) bool {
		if a.value != b.value {
			return a.value > b.value
		}
		if a.norm != b.norm {
			return a.norm > b.norm
		}
		return a.i < b.i
	}
	top := make([]scored, 0, ucbTop+1)
	for _, i := range v.ok {
		x := scored{i: i, norm: v.norm(i), value: math.Inf(1)}
		if vi := visits(i); vi > 0 {
			// The explicit conversion forbids a fused multiply-add, so every
			// architecture rounds the same way.
			x.value = x.norm + float64(s.c*math.Sqrt(lnN/float64(vi)))
		}
		if len(top) == ucbTop && !before(x, top[ucbTop-1]) {
			continue
		}
		pos := len(top)
		for pos > 0 && before(x, top[pos-1]) {
			pos--
		}
		top = append(top, scored{})
		copy(top[pos+1:], top[pos:])
		top[pos] = x
		if len(top) > ucbTop {
			top = top[:ucbTop]
		}
	}
	parent := top[0].i
	mode := "highest upper confidence bound"
	if math.IsInf(top[0].value, 1) {
		mode = "unvisited first (best of the unvisited)"
	}
	explain := []string{
		fmt.Sprintf("ucb1: %d candidates, %d evaluated ok; N = %d (1 + visits), c = %g; mode: %s",
			len(v.es), len(v.ok), total, s.c, mode),
	}
	for rank, x := range top {
		vi := visits(x.i)
		ucb := fmtFloat(x.value)
		if vi == 0 {
			ucb = "inf (unvisited)"
		}
		line := fmt.Sprintf("  %d. %s norm %.3f visits %d (%d children + %d in flight) ucb %s",
			rank+1, v.describe(x.i), x.norm, vi, v.es[x.i].children, vi-int(v.es[x.i].children), ucb)
		if x.i == parent {
			line += "  <- parent"
		}
		explain = append(explain, line)
	}
	m := n - 1
	ranked := v.best(v.ok, (m+1)/2+1, parent)
	ids, line := v.pickInspirations(parent, m, ranked, [][]int32{v.ok}, rng)
	if line != "" {
		explain = append(explain, line)
	}
	s.flight.add(v.id(parent))
	return evolve.Selection{
		Parent:       v.id(parent),
		Inspirations: ids,
		Sampler:      NameUCB1,
		Explain:      explain,
	}, nil
}
