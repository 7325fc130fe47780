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
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
// id, so that index order is id order and ties broken by index are broken by
// id. At 100,000 candidates the cost is reading memory scattered over the
// heap, so the population is read once, in order, into compact entries that
// hold what later steps need of every candidate; only then is it sorted.
type view struct {
	pop     []evolve.Candidate
	es      []entry  // sorted by id, one per id
	ok      []int32  // indices of the entries that may be parents, ascending
	lo, hi  float64  // fitness range over ok
	scale   float64  // 1/(hi-lo), computed so that it never overflows
	half    bool     // hi-lo overflows: normalise halves
	dups    int      // entries dropped as duplicates
	noID    int      // entries dropped for an empty id
	pending int      // candidates not evaluated yet
	failed  int      // failed, timed out, invalid or without a finite score
	hex     bool     // every id is lowercase hex: keys are hexKey, else byteKey
	islands bool     // entries hold their island
	buf     *scratch // where es and ok live; see release
}

// entry is one candidate of a view.
type entry struct {
	key      uint64  // orders like the id: hexKey, or byteKey when an id is not hex
	fit      float64 // fitness (higher is better) where ok
	at       int32   // index in the population
	children int32   // children in the DAG (negative counts as 0)
	island   int32   // Record.Island(), when the view was asked for islands
	ok       bool    // evaluated ok with a finite score: may be a parent
	pending  bool    // not evaluated yet
}

// hexKey packs the first 16 hex digits of a lowercase hex id into 64 bits,
// which orders like the ids; ok is false for any other id. It looks digits
// up in a table: branches on random digits would be mispredicted half the
// time.
func hexKey(id string) (uint64, bool) {
	if len(id) < 16 {
		return 0, false
	}
	var k uint64
	var bad uint8
	for _, c := range []byte(id[:16]) {
		d := hexDigit[c]
		bad |= d
		k = k<<4 | uint64(d&0xf)
	}
	return k, bad&0x80 == 0
}

// hexDigit maps '0'-'9' and 'a'-'f' to their value, anything else to 0x80.
var hexDigit = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0x80
	}
	for i := range 10 {
		t['0'+i] = uint8(i)
	}
	for i := range 6 {
		t['a'+i] = uint8(10 + i)
	}
	return t
}()

// byteKey is the first 8 bytes of id, big-endian: it orders like the ids.
func byteKey(id string) uint64 {
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
// candidates that may be parents; withIsland also copies their islands. It
// never modifies pop.
func newView(pop []evolve.Candidate, dir evolve.Direction, withIsland bool) *view {
	v := &view{pop: pop, hex: true, islands: withIsland, buf: scratchPool.Get().(*scratch)}
	es := resize(v.buf.es, len(pop))
	v.buf.es = es
	var notHex atomic.Bool
	inParallel(len(pop), func(lo, hi int) {
		if v.read(pop[lo:hi], es[lo:hi], lo, dir) {
			notHex.Store(true)
		}
	})
	v.hex = !notHex.Load()
	es = slices.DeleteFunc(es, func(e entry) bool { return e.at < 0 })
	v.noID = len(pop) - len(es)
	if !v.hex {
		for i := range es {
			es[i].key = byteKey(pop[es[i].at].ID)
		}
	}
	es = v.sort(es)
	v.es = es[:0]
	v.ok = v.buf.ok[:0]
	for _, e := range es {
		if last := len(v.es) - 1; last >= 0 && v.es[last].key == e.key && pop[v.es[last].at].ID == pop[e.at].ID {
			v.dups++
			if preferDuplicate(&pop[v.es[last].at], &pop[e.at]) {
				v.es[last] = e
			}
			continue
		}
		v.es = append(v.es, e)
	}
	for i, e := range v.es {
		switch {
		case e.ok:
			if len(v.ok) == 0 || e.fit < v.lo {
				v.lo = e.fit
			}
			if len(v.ok) == 0 || e.fit > v.hi {
				v.hi = e.fit
			}
			v.ok = append(v.ok, int32(i))
		case e.pending:
			v.pending++
		default:
			v.failed++
		}
	}
	if r := v.hi - v.lo; r > 0 {
		if math.IsInf(r, 0) {
			v.half = true
			r = v.hi/2 - v.lo/2
		}
		v.scale = 1 / r
	}
	v.buf.ok = v.ok
	return v
}

// scratch holds the large buffers of a view, reused between calls through a
// pool: at 100,000 candidates they weigh megabytes, and allocating them on
// every call would make the garbage collector scan the population often.
type scratch struct {
	es, sorted  []entry
	start, next []int32
	ok          []int32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// resize returns s with length n, reallocated when too small; the contents
// are not cleared.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/8)
	}
	return s[:n]
}

// release hands the view's buffers back to the pool; the view must not be
// used afterwards.
func (v *view) release() {
	if v.buf != nil {
		scratchPool.Put(v.buf)
	}
	*v = view{}
}

// inParallel calls fn on consecutive ranges covering [0, n): one range for
// small n, one per processor (at most 8) for large n. Reading candidates
// scattered in memory waits on memory, not on the processor, so several
// goroutines finish sooner. fn must only write to its own range.
func inParallel(n int, fn func(lo, hi int)) {
	workers := 1
	if n >= 1<<14 {
		workers = max(1, min(runtime.GOMAXPROCS(0), 8, n>>13))
	}
	if workers == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// read fills es with the entries of pop, which starts at index base of the
// population; a candidate without id gets at = -1. It reports whether an id
// is not lowercase hex. The scores and the ids are read in two passes: each
// tight loop keeps many memory loads in flight at once, one loop doing both
// does not.
func (v *view) read(pop []evolve.Candidate, es []entry, base int, dir evolve.Direction) (notHex bool) {
	minimize := dir == evolve.Minimize
	for i := range pop {
		c := &pop[i]
		e := entry{at: int32(base + i), children: int32(min(max(c.Children, 0), math.MaxInt32))}
		if s, ok := c.Score(); ok {
			if minimize {
				s = -s
			}
			e.fit, e.ok = s, true
		} else {
			e.pending = c.Evaluated == nil
		}
		es[i] = e
	}
	if v.islands {
		for i := range pop {
			es[i].island = int32(min(pop[i].Island(), math.MaxInt32))
		}
	}
	for i := range pop {
		id := pop[i].ID
		if id == "" {
			es[i].at = -1
			continue
		}
		if !notHex {
			var ok bool
			es[i].key, ok = hexKey(id)
			notHex = !ok
		}
	}
	return notHex
}

// compare orders entries by id.
func (v *view) compare(a, b entry) int {
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	return strings.Compare(v.pop[a.at].ID, v.pop[b.at].ID)
}

// sort orders es by id. Large populations are distributed into 65536
// buckets by the top 16 bits of the key (hex ids are uniform there), each
// bucket then sorted on its own: linear time instead of n·log n comparisons.
func (v *view) sort(es []entry) []entry {
	const bits = 16
	if len(es) < 1<<12 {
		slices.SortFunc(es, v.compare)
		return es
	}
	start := resize(v.buf.start, 1<<bits+1)
	clear(start)
	v.buf.start = start
	for _, e := range es {
		start[e.key>>(64-bits)+1]++
	}
	for b := 1; b < len(start); b++ {
		start[b] += start[b-1]
	}
	out := resize(v.buf.sorted, len(es))
	v.buf.sorted = out
	next := resize(v.buf.next, 1<<bits)
	copy(next, start)
	v.buf.next = next
	for _, e := range es {
		b := e.key >> (64 - bits)
		out[next[b]] = e
		next[b]++
	}
	for b := range 1 << bits {
		bucket := out[start[b]:start[b+1]]
		switch {
		case len(bucket) < 2:
		case len(bucket) <= 12:
			for i := 1; i < len(bucket); i++ {
				for j := i; j > 0 && v.compare(bucket[j], bucket[j-1]) < 0; j-- {
					bucket[j], bucket[j-1] = bucket[j-1], bucket[j]
				}
			}
		default:
			slices.SortFunc(bucket, v.compare)
		}
	}
	return out
}

// cand is the candidate of entry i.
func (v *view) cand(i int32) *evolve.Candidate { return &v.pop[v.es[i].at] }

// id is the id of entry i.
func (v *view) id(i int32) string { return v.pop[v.es[i].at].ID }

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
		"evaluate the baseline first (git evolve eval --pending)", ErrEmpty, len(v.es), v.pending, v.failed)
}

// norm is the fitness of candidate i scaled to [0, 1] over the ok candidates
// (1 when they all have the same fitness).
func (v *view) norm(i int32) float64 {
	if v.scale == 0 {
		return 1
	}
	if v.half {
		return (v.es[i].fit/2 - v.lo/2) * v.scale
	}
	return (v.es[i].fit - v.lo) * v.scale
}

// find returns the index of id, or -1.
func (v *view) find(id string) int32 {
	key := byteKey(id)
	if v.hex {
		var ok bool
		if key, ok = hexKey(id); !ok {
			return -1
		}
	}
	i, found := slices.BinarySearchFunc(v.es, id, func(e entry, id string) int {
		if e.key != key {
			return cmp.Compare(e.key, key)
		}
		return strings.Compare(v.pop[e.at].ID, id)
	})
	if !found {
		return -1
	}
	return int32(i)
}

// better orders candidates best first: higher fitness, then lower index (id).
func (v *view) better(a, b int32) bool {
	if fa, fb := v.es[a].fit, v.es[b].fit; fa != fb {
		return fa > fb
	}
	return a < b
}

// best returns up to k of idx, best first, skipping skip.
func (v *view) best(idx []int32, k int, skip int32) []int32 {
	if k <= 0 {
		return nil
	}
	order := func(a, b int32) int {
		if v.better(a, b) {
			return -1
		}
		if a == b {
			return 0
		}
		return 1
	}
	if k > 64 { // many: select on copies of the fitness, then sort those
		all := make([]fitIndex, 0, len(idx))
		for _, i := range idx {
			if i != skip {
				all = append(all, fitIndex{v.es[i].fit, i})
			}
		}
		k = min(k, len(all))
		selectFirst(all, k)
		all = all[:k]
		slices.SortFunc(all, func(a, b fitIndex) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		top := make([]int32, k)
		for j := range top {
			top[j] = all[j].i
		}
		return top
	}
	top := make([]int32, 0, k+1)
	for _, i := range idx {
		if i == skip {
			continue
		}
		if len(top) == k && !v.better(i, top[k-1]) {
			continue
		}
		pos, _ := slices.BinarySearchFunc(top, i, order)
		top = slices.Insert(top, pos, i)
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

// fitIndex is a candidate's fitness beside its index, for selections.
type fitIndex struct {
	fit float64
	i   int32
}

// before is the order of view.better: higher fitness, then lower index.
func (a fitIndex) before(b fitIndex) bool {
	if a.fit != b.fit {
		return a.fit > b.fit
	}
	return a.i < b.i
}

// selectFirst moves the k first of xs (in the order of before) to xs[:k], in
// no particular order: quickselect, linear time on average. The indices make
// every element distinct, so the order is total and the result unique.
func selectFirst(xs []fitIndex, k int) {
	lo, hi := 0, len(xs)
	for hi-lo > 1 {
		// The median of three as the pivot, moved to the end.
		a, m, z := lo, lo+(hi-lo)/2, hi-1
		if xs[m].before(xs[a]) {
			xs[a], xs[m] = xs[m], xs[a]
		}
		if xs[z].before(xs[m]) {
			xs[m], xs[z] = xs[z], xs[m]
			if xs[m].before(xs[a]) {
				xs[a], xs[m] = xs[m], xs[a]
			}
		}
		xs[m], xs[z] = xs[z], xs[m]
		pivot, store := xs[z], lo
		for i := lo; i < z; i++ {
			if xs[i].before(pivot) {
				xs[i], xs[store] = xs[store], xs[i]
				store++
			}
		}
		xs[store], xs[z] = xs[z], xs[store]
		switch {
		case k < store:
			hi = store
		case k > store+1:
			lo = store + 1
		default:
			return
		}
	}
}

// short is the abbreviated id used in explanations.
func (v *view) short(i int32) string { return v.cand(i).Short() }

// describe is the id and score of candidate i, for explanations.
func (v *view) describe(i int32) string {
	s, _ := v.cand(i).Score()
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
		ids = append(ids, v.id(i))
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

// counts is the number of samples in flight per entry of a view, sorted by
// entry: a few entries, so lookups are a short binary search.
type counts []struct{ i, n int32 }

// byIndex returns the in-flight counts of the candidates of v. Ids no longer
// in the population are ignored.
func (f *inflight) byIndex(v *view) counts {
	var out counts
	for id, n := range f.n {
		if i := v.find(id); i >= 0 {
			out = append(out, struct{ i, n int32 }{i, int32(n)})
		}
	}
	slices.SortFunc(out, func(a, b struct{ i, n int32 }) int { return cmp.Compare(a.i, b.i) })
	return out
}

// of returns the count of entry i.
func (c counts) of(i int32) int {
	if len(c) == 0 {
		return 0
	}
	j, found := slices.BinarySearchFunc(c, i, func(x struct{ i, n int32 }, i int32) int { return cmp.Compare(x.i, i) })
	if !found {
		return 0
	}
	return int(c[j].n)
}

func orDefault(rng *rand.Rand) *rand.Rand {
	if rng == nil {
		return rand.New(rand.NewPCG(0, 0))
	}
	return rng
}
