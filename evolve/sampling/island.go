package sampling

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
)

// Island features with a built-in meaning; any other name is read from the
// metrics of the latest evaluation.
const (
	FeatureComplexity = "complexity" // code_size of the proposed event
	FeatureDiversity  = "diversity"  // sketch distance to the island's best
)

// diversityRefs is how many of an island's best candidates "diversity"
// measures the distance to.
const diversityRefs = 5

// maxCells bounds bins^len(features).
const maxCells = 1 << 40

// Island keeps islands in a ring, each with a MAP-Elites grid, all derived
// from the population on every call:
//
//   - Membership. A candidate's home island is the island of its proposed
//     event (modulo num_islands, should the setting shrink). Candidates
//     without one (the baseline, or candidates made by another sampler) are
//     shared: members of every island.
//   - Turns. The new candidate goes to island (C + F) mod num_islands, where C
//     counts the candidates that carry an island (any status) and F the samples
//     of this Island still in flight; so islands take turns, and a resumed run
//     or another machine continues the same sequence. Selection.Island says
//     which; the parent is sampled from that island. (Between a child's
//     commit and the Release of its sample, it counts twice: with several
//     workers a turn is occasionally skipped.)
//   - Generations and migration. An island's generation is the number of
//     candidates it is home to (any status). Each time it passes a multiple of
//     migration_interval, its best migration_rate fraction (rounded up) of the
//     ok candidates born so far (commit time, then id) migrates to the next
//     island of the ring; the migrants of the latest migration point are
//     members of that next island. Only natives migrate.
//   - Grid. Each island's ok members are placed in a grid with bins cells per
//     feature: "complexity" is the code size, "diversity" the mean Hamming
//     distance of the sketch to the island's 5 best other members (over 64),
//     any other name a numeric metric of the latest evaluation. A feature's
//     range is the min and max over the island's members; a member without the
//     value falls in the first bin. The elite of a cell is its best member.
//   - Selection. One draw r: r < exploration_ratio samples the island's
//     members uniformly; r < exploration_ratio + exploitation_ratio samples the
//     cell elites uniformly; otherwise a member is drawn with weight 1/rank
//     (the best twice as likely as the second...). An island with no ok member
//     samples from the whole archive (every ok candidate) instead.
//
// Inspirations: the best cell elites of the island first, then random island
// members, then random candidates of the whole archive.
//
// An Island is safe for concurrent use.
type Island struct {
	cfg    evolve.IslandConfig
	dir    evolve.Direction
	flight inflight
}

// NewIsland returns an Island sampler configured by database.sampling.island.
func NewIsland(cfg evolve.IslandConfig, dir evolve.Direction) (*Island, error) {
	d, err := checkDirection(dir)
	if err != nil {
		return nil, err
	}
	const key = "database.sampling.island."
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%s%s is %v: %s", key, name, v, want)
	}
	frac := func(f float64) bool { return f >= 0 && f <= 1 }
	switch {
	case cfg.NumIslands < 1:
		return nil, bad("num_islands", cfg.NumIslands, "use 1 or more")
	case cfg.MigrationInterval < 0:
		return nil, bad("migration_interval", cfg.MigrationInterval, "use a number of generations >= 0 (0 = never migrate)")
	case !frac(cfg.MigrationRate):
		return nil, bad("migration_rate", cfg.MigrationRate, "use a fraction between 0 and 1")
	case !frac(cfg.ExplorationRatio):
		return nil, bad("exploration_ratio", cfg.ExplorationRatio, "use a fraction between 0 and 1")
	case !frac(cfg.ExploitationRatio):
		return nil, bad("exploitation_ratio", cfg.ExploitationRatio, "use a fraction between 0 and 1")
	case cfg.ExplorationRatio+cfg.ExploitationRatio > 1+1e-9:
		return nil, fmt.Errorf("%sexploration_ratio + exploitation_ratio is %v: their sum must be at most 1",
			key, cfg.ExplorationRatio+cfg.ExploitationRatio)
	case cfg.Bins < 1:
		return nil, bad("bins", cfg.Bins, "use 1 or more")
	}
	cells := 1.0
	for i, f := range cfg.Features {
		if strings.TrimSpace(f) == "" {
			return nil, fmt.Errorf("%sfeatures[%d] is empty: use complexity, diversity or a metric name", key, i)
		}
		if slices.Index(cfg.Features, f) != i {
			return nil, fmt.Errorf("%sfeatures lists %q twice", key, f)
		}
		cells *= float64(cfg.Bins)
	}
	if cells > maxCells {
		return nil, fmt.Errorf("%sbins^len(features) = %d^%d cells is too many: use fewer bins or features", key, cfg.Bins, len(cfg.Features))
	}
	cfg.Features = slices.Clone(cfg.Features)
	return &Island{cfg: cfg, dir: d}, nil
}

// Name is "island".
func (s *Island) Name() string { return NameIsland }

// Release ends an in-flight sample of parent (which also gives back its turn);
// unknown ids are ignored.
func (s *Island) Release(parent string) { s.flight.release(parent) }

// island is one island of one call: its members and grid.
type island struct {
	id       int
	gen      int         // candidates whose home is this island, any status
	natives  int         // ok members whose home is this island
	shared   int         // ok members without an island
	migrants []int32     // ok members that migrated from the previous island, ascending
	members  []int32     // every ok member, ascending
	archive  bool        // the island was empty: members is the whole archive
	values   [][]float64 // per feature, per member (index in members): the value, NaN = missing
	cells    []uint64    // per member: its cell, the bins of each feature in mixed radix
	elites   []int32     // best member of each occupied cell, ascending
}

// Sample chooses the island of the new candidate, then a parent on it (see
// Island), and n-1 inspirations. It returns ErrEmpty when no candidate is
// evaluated ok.
func (s *Island) Sample(pop []evolve.Candidate, n int, rng *rand.Rand) (evolve.Selection, error) {
	rng = orDefault(rng)
	s.flight.mu.Lock()
	defer s.flight.mu.Unlock()
	v := newView(pop, s.dir, true)
	defer v.release()
	if len(v.ok) == 0 {
		return evolve.Selection{}, v.emptyError()
	}
	k := s.cfg.NumIslands
	carry := 0
	for _, e := range v.es {
		if e.island >= 0 {
			carry++
		}
	}
	turn := (carry + s.flight.total) % k
	is := s.build(v, turn)
	explain := []string{
		fmt.Sprintf("island: turn of island %d of %d (%d candidates carry an island + %d in flight)",
			turn, k, carry, s.flight.total),
		fmt.Sprintf("island %d: generation %d; %d ok members: %d native, %d shared, %d migrants from island %d (every %d generations, top %g)",
			turn, is.gen, len(is.members), is.natives, is.shared, len(is.migrants), (turn+k-1)%k,
			s.cfg.MigrationInterval, s.cfg.MigrationRate),
	}
	if is.archive {
		explain = append(explain, fmt.Sprintf("island %d has no evaluated member: sampling from the whole archive", turn))
	}
	explain = append(explain, fmt.Sprintf("grid: features [%s], %d bins each; %d cells occupied, one elite each",
		strings.Join(s.cfg.Features, " "), s.cfg.Bins, len(is.elites)))

	r := rng.Float64()
	var parent int32
	var mode string
	switch {
	case r < s.cfg.ExplorationRatio:
		parent = is.members[rng.IntN(len(is.members))]
		mode = fmt.Sprintf("exploration (draw %.3f < %g): uniform over the %d members", r, s.cfg.ExplorationRatio, len(is.members))
	case r < s.cfg.ExplorationRatio+s.cfg.ExploitationRatio:
		parent = is.elites[rng.IntN(len(is.elites))]
		mode = fmt.Sprintf("exploitation (draw %.3f < %g): uniform over the %d cell elites", r,
			s.cfg.ExplorationRatio+s.cfg.ExploitationRatio, len(is.elites))
	default:
		// Draw the rank first, then find who holds it: usually one of the
		// first few, found without sorting the island.
		var total float64
		for i := range is.members {
			total += 1 / float64(i+1)
		}
		u := rng.Float64() * total
		rank := len(is.members) - 1
		for i := range is.members {
			u -= 1 / float64(i+1)
			if u < 0 {
				rank = i
				break
			}
		}
		parent = v.best(is.members, rank+1, -1)[rank]
		mode = fmt.Sprintf("rank-weighted (draw %.3f >= %g): rank %d of %d members, weight 1/rank", r,
			s.cfg.ExplorationRatio+s.cfg.ExploitationRatio, rank+1, len(is.members))
	}
	explain = append(explain, "mode: "+mode)
	explain = append(explain, "  "+s.describeMember(v, is, parent)+"  <- parent")
	eliteRank := v.best(is.elites, ucbTop, -1)
	for _, e := range eliteRank {
		if e != parent {
			explain = append(explain, "  elite "+s.describeMember(v, is, e))
		}
	}

	m := n - 1
	ranked := v.best(is.elites, (m+1)/2+1, parent)
	ids, line := v.pickInspirations(parent, m, ranked, [][]int32{is.members, v.ok}, rng)
	if line != "" {
		explain = append(explain, line)
	}
	s.flight.add(v.id(parent))
	t := turn
	return evolve.Selection{
		Parent:       v.id(parent),
		Inspirations: ids,
		Sampler:      NameIsland,
		Island:       &t,
		Explain:      explain,
	}, nil
}

func (s *Island) describeMember(v *view, is *island, i int32) string {
	j, _ := slices.BinarySearch(is.members, i)
	coords := make([]int, len(s.cfg.Features))
	key := is.cells[j]
	for f := len(coords) - 1; f >= 0; f-- {
		coords[f] = int(key % uint64(s.cfg.Bins))
		key /= uint64(s.cfg.Bins)
	}
	var fs []string
	for f, name := range s.cfg.Features {
		txt := "none"
		if x := is.values[f][j]; !math.IsNaN(x) {
			txt = fmtFloat(x)
		}
		fs = append(fs, name+"="+txt)
	}
	home := "shared"
	if h := s.home(v.es[i]); h >= 0 {
		home = "home " + strconv.Itoa(h)
	}
	return strings.TrimSpace(fmt.Sprintf("%s (%s) cell %v %s", v.describe(i), home, coords, strings.Join(fs, " ")))
}

// home is the island a candidate belongs to, or -1 when it is shared.
func (s *Island) home(e entry) int {
	if e.island < 0 {
		return -1
	}
	return int(e.island) % s.cfg.NumIslands
}

// build derives island id's members and grid from the view.
func (s *Island) build(v *view, id int) *island {
	k := s.cfg.NumIslands
	prev := (id + k - 1) % k
	is := &island{id: id}
	var own []int32
	var prevNatives []int32
	for i := range v.es {
		h := s.home(v.es[i])
		switch {
		case h == id:
			is.gen++
			if v.es[i].ok {
				is.natives++
				own = append(own, int32(i))
			}
		case h < 0 && v.es[i].ok:
			is.shared++
			own = append(own, int32(i))
		}
		if k > 1 && h == prev {
			prevNatives = append(prevNatives, int32(i))
		}
	}
	if k > 1 {
		is.migrants = s.migrants(v, prevNatives)
	}
	is.members = mergeSorted(own, is.migrants)
	if len(is.members) == 0 {
		is.members, is.archive = v.ok, true
	}
	s.grid(v, is)
	return is
}

// migrants returns the candidates of the previous island (natives, any
// status, ascending) that are members of the next one: the best
// migration_rate fraction of its ok natives born before its latest migration
// point (every migration_interval generations).
func (s *Island) migrants(v *view, natives []int32) []int32 {
	every, rate := s.cfg.MigrationInterval, s.cfg.MigrationRate
	if every <= 0 || rate <= 0 || len(natives) < every {
		return nil
	}
	// The natives born after the latest migration point (fewer than every)
	// are the latest by commit time, then id.
	late := latest(v, natives, len(natives)%every)
	var ok []int32
	for _, i := range natives {
		if v.es[i].ok {
			if _, after := slices.BinarySearch(late, i); !after {
				ok = append(ok, i)
			}
		}
	}
	// Rounded up, with a margin so that 0.1*30 counts as 3, not 4.
	n := min(len(ok), int(math.Ceil(rate*float64(len(ok))-1e-9)))
	top := v.best(ok, n, -1)
	slices.Sort(top)
	return top
}

// latest returns the k candidates of idx with the latest commit times (ties:
// the greater id), ascending by index.
func latest(v *view, idx []int32, k int) []int32 {
	if k <= 0 {
		return nil
	}
	type birth struct {
		sec  int64
		nsec int32
		i    int32
	}
	later := func(a, b birth) int {
		if a.sec != b.sec {
			return -cmp.Compare(a.sec, b.sec)
		}
		if a.nsec != b.nsec {
			return -cmp.Compare(a.nsec, b.nsec)
		}
		return -cmp.Compare(a.i, b.i)
	}
	born := func(i int32) birth {
		t := v.cand(i).Time
		return birth{t.Unix(), int32(t.Nanosecond()), i}
	}
	var top []birth // latest first
	if k > 64 {
		top = make([]birth, len(idx))
		for j, i := range idx {
			top[j] = born(i)
		}
		slices.SortFunc(top, later)
	} else {
		for _, i := range idx {
			b := born(i)
			if len(top) == k && later(b, top[k-1]) >= 0 {
				continue
			}
			pos, _ := slices.BinarySearchFunc(top, b, later)
			top = slices.Insert(top, pos, b)
			if len(top) > k {
				top = top[:k]
			}
		}
	}
	out := make([]int32, 0, k)
	for _, b := range top[:min(k, len(top))] {
		out = append(out, b.i)
	}
	slices.Sort(out)
	return out
}

func mergeSorted(a, b []int32) []int32 {
	if len(b) == 0 {
		return a
	}
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// grid computes the feature values, cells and cell elites of the island.
func (s *Island) grid(v *view, is *island) {
	nf := len(s.cfg.Features)
	// One pass over the members' proposed events for what the features need.
	var size []int64
	var sketch []uint64
	var has []bool
	needSize := slices.Contains(s.cfg.Features, FeatureComplexity)
	needSketch := slices.Contains(s.cfg.Features, FeatureDiversity)
	if needSize || needSketch {
		size = make([]int64, len(is.members))
		sketch = make([]uint64, len(is.members))
		has = make([]bool, len(is.members))
		inParallel(len(is.members), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				if p := v.cand(is.members[j]).Proposed; p != nil {
					size[j] = p.CodeSize
					if needSketch {
						sketch[j], has[j] = parseSketch(p.Sketch)
					}
				}
			}
		})
	}
	vals := make([][]float64, nf) // per feature, per member
	for f, name := range s.cfg.Features {
		col := make([]float64, len(is.members))
		switch name {
		case FeatureComplexity:
			for j := range is.members {
				col[j] = math.NaN()
				if size[j] > 0 {
					col[j] = float64(size[j])
				}
			}
		case FeatureDiversity:
			diversity(v, is.members, sketch, has, col)
		default:
			for j, i := range is.members {
				col[j] = metric(v.cand(i), name)
			}
		}
		vals[f] = col
	}
	bins := s.cfg.Bins
	lo, hi := make([]float64, nf), make([]float64, nf)
	for f, col := range vals {
		lo[f], hi[f] = math.Inf(1), math.Inf(-1)
		for _, x := range col {
			if !math.IsNaN(x) {
				lo[f], hi[f] = min(lo[f], x), max(hi[f], x)
			}
		}
	}
	is.values = vals
	is.cells = make([]uint64, len(is.members))
	for j := range is.members {
		var key uint64
		for f := range nf {
			b := 0
			// t is in [0, 1]; NaN (a missing value, or a range too wide to
			// subtract) goes to the first bin.
			if t := (vals[f][j] - lo[f]) / (hi[f] - lo[f]); t > 0 {
				b = min(bins-1, int(t*float64(bins)))
			}
			key = key*uint64(bins) + uint64(b)
		}
		is.cells[j] = key
	}
	// The elite of each cell: a table for small grids, a map for large ones.
	var elites []int32
	if cells := math.Pow(float64(bins), float64(nf)); cells <= 1<<16 {
		table := make([]int32, int(cells))
		for c := range table {
			table[c] = -1
		}
		for j, i := range is.members {
			if e := table[is.cells[j]]; e < 0 || v.better(i, e) {
				table[is.cells[j]] = i
			}
		}
		for _, e := range table {
			if e >= 0 {
				elites = append(elites, e)
			}
		}
	} else {
		table := map[uint64]int32{}
		for j, i := range is.members {
			if e, ok := table[is.cells[j]]; !ok || v.better(i, e) {
				table[is.cells[j]] = i
			}
		}
		for _, e := range table {
			elites = append(elites, e)
		}
	}
	slices.Sort(elites)
	is.elites = elites
}

// diversity fills col with the mean Hamming distance (over 64) of each
// member's sketch to the sketches of the island's best other members
// (sketch and has are per member).
func diversity(v *view, members []int32, sketch []uint64, has []bool, col []float64) {
	var withSketch []int32
	for j, i := range members {
		if has[j] {
			withSketch = append(withSketch, i)
		}
	}
	refs := v.best(withSketch, diversityRefs+1, -1)
	refSketch := make([]uint64, len(refs))
	for r, i := range refs {
		j, _ := slices.BinarySearch(members, i)
		refSketch[r] = sketch[j]
	}
	for j, i := range members {
		col[j] = math.NaN()
		if !has[j] {
			continue
		}
		sum, n := 0, 0
		for r, ri := range refs {
			if ri == i || n == diversityRefs {
				continue
			}
			sum += bits.OnesCount64(sketch[j] ^ refSketch[r])
			n++
		}
		col[j] = 0
		if n > 0 {
			col[j] = float64(sum) / float64(n) / 64
		}
	}
}

// metric reads a numeric metric of the latest evaluation, or NaN.
func metric(c *evolve.Candidate, name string) float64 {
	if c.Evaluated == nil {
		return math.NaN()
	}
	f, ok := evolve.MetricFloat(c.Evaluated.Metrics[name])
	if !ok {
		return math.NaN()
	}
	return f
}
