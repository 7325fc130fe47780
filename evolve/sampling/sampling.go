// Package sampling chooses the parent of the next candidate, and the
// inspirations shown beside it, from an experiment's population (DESIGN.md
// section 7). Four algorithms implement evolve.Sampler: UCB1, Greedy, Random
// and Island (islands in a ring, each with a MAP-Elites grid).
//
// The package is pure: the population (the []evolve.Candidate the store folds
// from git) and the random source come from the caller, and everything an
// algorithm needs — visits, island turns, migrants, grid cells — is derived
// from that population on every call. A resumed run, or a second machine
// reading the same repository, therefore makes the same choice under the same
// seed. The only state a Sampler keeps is the samples it handed out and that
// were not released yet (in flight), so that the concurrent workers of one
// process spread out instead of all picking the same parent.
//
// Only candidates evaluated ok with a finite score are parents or
// inspirations. The population may come in any order and may list an id more
// than once: it is sorted by id and deduplicated first, and every tie is
// broken by id.
package sampling

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/git-evolve/git-evolve/evolve"
)

// ErrEmpty is returned (wrapped, with the counts) by every Sampler when no
// candidate of the population is evaluated ok: the loop evaluates the baseline
// before it samples.
var ErrEmpty = errors.New("no evaluated candidate to sample from")

// Algorithm names, as written in database.sampling.algorithm and recorded in
// the proposed event's "sampler" field.
const (
	NameUCB1   = "ucb1"
	NameGreedy = "greedy"
	NameRandom = "random"
	NameIsland = "island"
)

// Algorithms returns the names New accepts.
func Algorithms() []string {
	return []string{NameUCB1, NameGreedy, NameRandom, NameIsland}
}

// New returns the Sampler named by cfg.Algorithm ("" means ucb1, the default)
// for scores in direction dir ("" means maximize). An unknown name, an unknown
// direction or out-of-range settings are an error naming the config key.
func New(cfg evolve.SamplingConfig, dir evolve.Direction) (evolve.Sampler, error) {
	switch name := strings.TrimSpace(cfg.Algorithm); name {
	case "", NameUCB1:
		return wrap(NewUCB1(cfg.UCB1C, dir))
	case NameGreedy:
		return wrap(NewGreedy(dir))
	case NameRandom:
		return wrap(NewRandom(dir))
	case NameIsland:
		return wrap(NewIsland(cfg.Island, dir))
	default:
		return nil, fmt.Errorf("unknown sampling algorithm %q in database.sampling.algorithm: use one of %s",
			name, strings.Join(Algorithms(), ", "))
	}
}

// wrap keeps a typed nil pointer out of the returned interface.
func wrap[S evolve.Sampler](s S, err error) (evolve.Sampler, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

func checkDirection(dir evolve.Direction) (evolve.Direction, error) {
	switch dir {
	case "":
		return evolve.Maximize, nil
	case evolve.Maximize, evolve.Minimize:
		return dir, nil
	}
	return "", fmt.Errorf("unknown score direction %q in eval.direction: use %s or %s", dir, evolve.Maximize, evolve.Minimize)
}

// view is the population as the samplers see it: one entry per id, sorted by
// id, so that an index order is the id order and ties broken by index are
// broken by id.
type view struct {
	all     []*evolve.Candidate // sorted by id, one per id
	isOK    []bool              // evaluated ok with a finite score: may be a parent
	fit     []float64           // fitness (higher is better) where isOK
	ok      []int32             // indices of the isOK candidates, ascending
	lo, hi  float64             // fitness range over ok
	scale   float64             // 1/(hi-lo), computed so that it never overflows
	half    bool                // hi-lo overflows: normalise halves
	dups    int                 // entries dropped as duplicates
	noID    int                 // entries dropped for an empty id
	pending int                 // candidates not evaluated yet
	failed  int                 // failed, timed out, invalid or without a finite score
}

type keyed struct {
	key uint64 // the first 8 bytes of the id, big-endian: orders like the id
	c   *evolve.Candidate
}

func idKey(id string) uint64 {
	var k uint64
	for i := range 8 {
		k <<= 8
		if i < len(id) {
			k |= uint64(id[i])
		}
	}
	return k
}

// newView sorts and deduplicates pop and computes the fitness of the
// candidates that may be parents. It never modifies pop.
func newView(pop []evolve.Candidate, dir evolve.Direction) *view {
	v := &view{}
	ks := make([]keyed, 0, len(pop))
	for i := range pop {
		if pop[i].ID == "" {
			v.noID++
			continue
		}
		ks = append(ks, keyed{idKey(pop[i].ID), &pop[i]})
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return strings.Compare(a.c.ID, b.c.ID)
	})
	v.all = make([]*evolve.Candidate, 0, len(ks))
	for _, k := range ks {
		if last := len(v.all) - 1; last >= 0 && v.all[last].ID == k.c.ID {
			v.dups++
			if preferDuplicate(v.all[last], k.c) {
				v.all[last] = k.c
			}
			continue
		}
		v.all = append(v.all, k.c)
	}
	v.isOK = make([]bool, len(v.all))
	v.fit = make([]float64, len(v.all))
	for i, c := range v.all {
		s, ok := c.Score()
		if !ok {
			if c.Status() == evolve.StatusPending {
				v.pending++
			} else {
				v.failed++
			}
			continue
		}
		f := dir.Fitness(s)
		if len(v.ok) == 0 || f < v.lo {
			v.lo = f
		}
		if len(v.ok) == 0 || f > v.hi {
			v.hi = f
		}
		v.isOK[i], v.fit[i] = true, f
		v.ok = append(v.ok, int32(i))
	}
	if r := v.hi - v.lo; r > 0 {
		if math.IsInf(r, 0) {
			v.half = true
			r = v.hi/2 - v.lo/2
		}
		v.scale = 1 / r
	}
	return v
}

// preferDuplicate reports whether b should replace a, two entries with the
// same id. The copy with more children wins, then the one whose latest
// evaluation and proposal encode greater, then the one with more events:
// an order that does not depend on which copy came first.
func preferDuplicate(a, b *evolve.Candidate) bool {
	if a.Children != b.Children {
		return b.Children > a.Children
	}
	if c := strings.Compare(eventLine(a.Evaluated), eventLine(b.Evaluated)); c != 0 {
		return c < 0
	}
	if c := strings.Compare(eventLine(a.Proposed), eventLine(b.Proposed)); c != 0 {
		return c < 0
	}
	return len(b.Events) > len(a.Events)
}

func eventLine(e *evolve.Event) string {
	if e == nil {
		return ""
	}
	b, err := e.Line()
	if err != nil {
		return ""
	}
	return string(b)
}

// emptyError explains why nothing can be sampled.
func (v *view) emptyError() error {
	return fmt.Errorf("%w: %d candidates, %d not evaluated yet, %d failed, timed out or invalid; "+
		"evaluate the baseline first (git evolve eval --pending)", ErrEmpty, len(v.all), v.pending, v.failed)
}

// norm is the fitness of candidate i scaled to [0, 1] over the ok candidates
// (1 when they all have the same fitness).
func (v *view) norm(i int32) float64 {
	if v.scale == 0 {
		return 1
	}
	if v.half {
		return (v.fit[i]/2 - v.lo/2) * v.scale
	}
	return (v.fit[i] - v.lo) * v.scale
}

// find returns the index of id, or -1.
func (v *view) find(id string) int32 {
	i, found := slices.BinarySearchFunc(v.all, id, func(c *evolve.Candidate, id string) int {
		return strings.Compare(c.ID, id)
	})
	if !found {
		return -1
	}
	return int32(i)
}

// better orders candidates best first: higher fitness, then lower index (id).
func (v *view) better(a, b int32) bool {
	if v.fit[a] != v.fit[b] {
		return v.fit[a] > v.fit[b]
	}
	return a < b
}

// best returns up to k of idx, best first, skipping skip.
func (v *view) best(idx []int32, k int, skip int32) []int32 {
	if k <= 0 {
		return nil
	}
	top := make([]int32, 0, k+1)
	for _, i := range idx {
		if i == skip {
			continue
		}
		if len(top) == k && !v.better(i, top[k-1]) {
			continue
		}
		pos, _ := slices.BinarySearchFunc(top, i, func(t, i int32) int {
			if v.better(t, i) {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, pos, i)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// short is the abbreviated id used in explanations.
func (v *view) short(i int32) string { return v.all[i].Short() }

// describe is the id and score of candidate i, for explanations.
func (v *view) describe(i int32) string {
	s, _ := v.all[i].Score()
	return fmt.Sprintf("%s score %s", v.short(i), fmtFloat(s))
}

func fmtFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.4g", f)
}

// pickInspirations chooses up to m candidates other than parent: the first
// ceil(m/2) from ranked (best first), the rest uniformly at random from each
// pool in turn, the next pool used only once the previous one ran out, and
// last whatever ranked still holds. It returns the ids and an explanation.
func (v *view) pickInspirations(parent int32, m int, ranked []int32, pools [][]int32, rng *rand.Rand) ([]string, string) {
	if m <= 0 {
		return nil, ""
	}
	chosen := []int32{parent}
	taken := func(i int32) bool { return slices.Contains(chosen, i) }
	var fromBest, fromRandom []string
	for _, i := range ranked {
		if len(fromBest) == (m+1)/2 {
			break
		}
		if !taken(i) {
			chosen = append(chosen, i)
			fromBest = append(fromBest, v.short(i))
		}
	}
	for _, pool := range pools {
		need := m - (len(chosen) - 1)
		if need <= 0 {
			break
		}
		for _, i := range randomPicks(pool, need, taken, rng) {
			chosen = append(chosen, i)
			fromRandom = append(fromRandom, v.short(i))
		}
	}
	for _, i := range ranked {
		if len(chosen)-1 == m {
			break
		}
		if !taken(i) {
			chosen = append(chosen, i)
			fromBest = append(fromBest, v.short(i))
		}
	}
	ids := make([]string, 0, len(chosen)-1)
	for _, i := range chosen[1:] {
		ids = append(ids, v.all[i].ID)
	}
	line := fmt.Sprintf("inspirations (%d of %d asked): best [%s], random [%s]", len(ids), m,
		strings.Join(fromBest, " "), strings.Join(fromRandom, " "))
	return ids, line
}

// randomPicks draws up to need distinct elements of pool (distinct values)
// that are not taken, uniformly without replacement.
func randomPicks(pool []int32, need int, taken func(int32) bool, rng *rand.Rand) []int32 {
	var out []int32
	has := func(i int32) bool { return taken(i) || slices.Contains(out, i) }
	// A large pool: rejection sampling touches only a few elements.
	if len(pool) > 8*(need+16) {
		for tries := 0; len(out) < need && tries < 64*need; tries++ {
			if i := pool[rng.IntN(len(pool))]; !has(i) {
				out = append(out, i)
			}
		}
		if len(out) == need {
			return out
		}
	}
	free := make([]int32, 0, len(pool))
	for _, i := range pool {
		if !has(i) {
			free = append(free, i)
		}
	}
	for k := 0; len(out) < need && k < len(free); k++ {
		j := k + rng.IntN(len(free)-k)
		free[k], free[j] = free[j], free[k]
		out = append(out, free[k])
	}
	return out
}

// inflight counts the samples a Sampler handed out and that were not
// released. Its mutex also serialises Sample, so that two concurrent workers
// see each other's samples.
type inflight struct {
	mu    sync.Mutex
	n     map[string]int
	total int
}

func (f *inflight) add(id string) {
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[id]++
	f.total++
}

func (f *inflight) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[id] == 0 {
		return
	}
	f.n[id]--
	f.total--
	if f.n[id] == 0 {
		delete(f.n, id)
	}
}

// byIndex returns the in-flight count of every candidate of v, or nil when
// nothing is in flight. Ids no longer in the population are ignored.
func (f *inflight) byIndex(v *view) []int32 {
	if f.total == 0 {
		return nil
	}
	out := make([]int32, len(v.all))
	for id, n := range f.n {
		if i := v.find(id); i >= 0 {
			out[i] += int32(n)
		}
	}
	return out
}

func orDefault(rng *rand.Rand) *rand.Rand {
	if rng == nil {
		return rand.New(rand.NewPCG(0, 0))
	}
	return rng
}
