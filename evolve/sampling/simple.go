package sampling

import (
	"fmt"
	"math/rand/v2"

	"github.com/git-evolve/git-evolve/evolve"
)

// Greedy always chooses the best evaluated candidate (ties: the smaller id).
// It keeps no state; Release does nothing. It is safe for concurrent use.
type Greedy struct {
	dir evolve.Direction
}

// NewGreedy returns a Greedy sampler for scores in direction dir.
func NewGreedy(dir evolve.Direction) (*Greedy, error) {
	d, err := checkDirection(dir)
	if err != nil {
		return nil, err
	}
	return &Greedy{dir: d}, nil
}

// Name is "greedy".
func (s *Greedy) Name() string { return NameGreedy }

// Release does nothing: greedy does not count visits.
func (s *Greedy) Release(string) {}

// Sample chooses the best candidate as parent and n-1 inspirations (the next
// best half, then uniformly at random). It returns ErrEmpty when no candidate
// is evaluated ok.
func (s *Greedy) Sample(pop []evolve.Candidate, n int, rng *rand.Rand) (evolve.Selection, error) {
	rng = orDefault(rng)
	v := newView(pop, s.dir, false)
	defer v.release()
	if len(v.ok) == 0 {
		return evolve.Selection{}, v.emptyError()
	}
	m := n - 1
	top := v.best(v.ok, max(3, (m+1)/2+1), -1)
	parent := top[0]
	explain := []string{fmt.Sprintf("greedy: %d candidates, %d evaluated ok; the best is the parent", len(v.es), len(v.ok))}
	for rank, i := range top[:min(3, len(top))] {
		explain = append(explain, fmt.Sprintf("  %d. %s", rank+1, v.describe(i)))
	}
	ids, line := v.pickInspirations(parent, m, top[1:], [][]int32{v.ok}, rng)
	if line != "" {
		explain = append(explain, line)
	}
	return evolve.Selection{Parent: v.id(parent), Inspirations: ids, Sampler: NameGreedy, Explain: explain}, nil
}

// Random chooses the parent uniformly among the evaluated candidates, in id
// order so that the same draw picks the same candidate on every machine. It
// keeps no state; Release does nothing. It is safe for concurrent use as long
// as concurrent calls do not share one *rand.Rand.
type Random struct {
	dir evolve.Direction
}

// NewRandom returns a Random sampler; dir ranks the inspirations.
func NewRandom(dir evolve.Direction) (*Random, error) {
	d, err := checkDirection(dir)
	if err != nil {
		return nil, err
	}
	return &Random{dir: d}, nil
}

// Name is "random".
func (s *Random) Name() string { return NameRandom }

// Release does nothing: random does not count visits.
func (s *Random) Release(string) {}

// Sample draws the parent uniformly and n-1 inspirations (the best half, then
// uniformly at random). It returns ErrEmpty when no candidate is evaluated ok.
func (s *Random) Sample(pop []evolve.Candidate, n int, rng *rand.Rand) (evolve.Selection, error) {
	rng = orDefault(rng)
	v := newView(pop, s.dir, false)
	defer v.release()
	if len(v.ok) == 0 {
		return evolve.Selection{}, v.emptyError()
	}
	k := rng.IntN(len(v.ok))
	parent := v.ok[k]
	explain := []string{
		fmt.Sprintf("random: %d candidates, %d evaluated ok; drew number %d in id order", len(v.es), len(v.ok), k+1),
		"  " + v.describe(parent) + "  <- parent",
	}
	m := n - 1
	ranked := v.best(v.ok, (m+1)/2+1, parent)
	ids, line := v.pickInspirations(parent, m, ranked, [][]int32{v.ok}, rng)
	if line != "" {
		explain = append(explain, line)
	}
	return evolve.Selection{Parent: v.id(parent), Inspirations: ids, Sampler: NameRandom, Explain: explain}, nil
}
