package evolve

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"
)

// Record is a candidate's state: the fold of the events of its note. It is a
// value: to change it, change the events and Fold them again. The latest
// event of each kind wins (by At, ties broken by the encoded line so that every
// machine folds the same way); earlier events stay in Events as history.
type Record struct {
	Events    []Event
	Proposed  *Event
	Evaluated *Event
	Analyzed  *Event
	Warnings  []ParseWarning

	// A summary computed by Fold, so that samplers and ranking read the
	// status, score and island of 100,000 candidates without following
	// pointers. A Record built by hand (folded false) computes them on demand.
	folded   bool
	hasScore bool
	status   Status
	score    float64
	island   int32
}

// Fold builds a Record from events in any order.
func Fold(events []Event) Record {
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return eventLess(evs[i], evs[j]) })
	r := Record{Events: evs}
	for i := range evs {
		e := &evs[i]
		switch e.Event {
		case EventProposed:
			r.Proposed = e
		case EventEvaluated:
			r.Evaluated = e
		case EventAnalyzed:
			r.Analyzed = e
		}
	}
	r.status = r.computeStatus()
	r.score, r.hasScore = r.computeScore()
	r.island = int32(r.computeIsland())
	r.folded = true
	return r
}

func eventLess(a, b Event) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	la, _ := a.Line()
	lb, _ := b.Line()
	return string(la) < string(lb)
}

// Status is the status of the latest evaluation, or StatusPending.
func (r Record) Status() Status {
	if r.folded {
		return r.status
	}
	return r.computeStatus()
}

func (r Record) computeStatus() Status {
	if r.Evaluated == nil {
		return StatusPending
	}
	return r.Evaluated.Status
}

// Score returns the score of the latest evaluation when it succeeded with a
// finite score.
func (r Record) Score() (float64, bool) {
	if r.folded {
		return r.score, r.hasScore
	}
	return r.computeScore()
}

func (r Record) computeScore() (float64, bool) {
	if r.Evaluated == nil || r.Evaluated.Status != StatusOK || r.Evaluated.Score == nil {
		return 0, false
	}
	s := *r.Evaluated.Score
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, false
	}
	return s, true
}

// Title is the title of the proposal, if any.
func (r Record) Title() string {
	if r.Proposed == nil {
		return ""
	}
	return r.Proposed.Title
}

// Island is the island recorded in the proposal, or -1.
func (r Record) Island() int {
	if r.folded {
		return int(r.island)
	}
	return r.computeIsland()
}

func (r Record) computeIsland() int {
	if r.Proposed == nil || r.Proposed.Island == nil {
		return -1
	}
	return *r.Proposed.Island
}

// Tokens sums the tokens of every event of the record (proposal and analysis).
func (r Record) Tokens() (Tokens, float64) {
	var t Tokens
	var usd float64
	for _, e := range r.Events {
		if e.Tokens != nil {
			t = t.Add(*e.Tokens)
		}
		usd += e.CostUSD
	}
	return t, usd
}

// Candidate is one node of an experiment's DAG with its folded record.
type Candidate struct {
	ID       string    // full commit hash
	Parent   string    // full hash of the parent candidate; "" for the baseline
	Subject  string    // first line of the commit message
	Time     time.Time // committer time
	Children int       // candidates whose Parent is this one
	Baseline bool      // the root of the experiment
	Record
}

// DisplayTitle is the title of the proposal, or the commit subject without
// its "evolve(<exp>): " prefix.
func (c Candidate) DisplayTitle() string {
	if t := c.Title(); t != "" {
		return t
	}
	s := c.Subject
	if i := strings.Index(s, "): "); i >= 0 && strings.HasPrefix(s, "evolve(") {
		s = s[i+3:]
	}
	return s
}

// Short is the abbreviated id shown to users.
func (c Candidate) Short() string {
	if len(c.ID) > 8 {
		return c.ID[:8]
	}
	return c.ID
}

// Direction says whether higher or lower scores are better.
type Direction string

// Directions.
const (
	Maximize Direction = "maximize"
	Minimize Direction = "minimize"
)

// Better reports whether score a is strictly better than b.
func (d Direction) Better(a, b float64) bool {
	if d == Minimize {
		return a < b
	}
	return a > b
}

// Fitness maps a score to a value where higher is always better.
func (d Direction) Fitness(score float64) float64 {
	if d == Minimize {
		return -score
	}
	return score
}

// Rank sorts candidates best first: evaluated ok by score (per direction), then
// pending, then the failed ones; ties by time then id, so the order is stable
// on every machine. Each candidate's class and score are computed once and an
// index is sorted, which keeps ranking 100,000 candidates cheap.
func Rank(cs []Candidate, d Direction) {
	type key struct {
		class int
		score float64
		time  time.Time
		id    string
		i     int
	}
	keys := make([]key, len(cs))
	for i := range cs {
		k := key{class: 2, time: cs[i].Time, id: cs[i].ID, i: i}
		if s, ok := cs[i].Score(); ok {
			k.class, k.score = 0, d.Fitness(s)
		} else if cs[i].Status() == StatusPending {
			k.class = 1
		}
		keys[i] = k
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := &keys[i], &keys[j]
		if a.class != b.class {
			return a.class < b.class
		}
		if a.class == 0 && a.score != b.score {
			return a.score > b.score
		}
		if !a.time.Equal(b.time) {
			return a.time.Before(b.time)
		}
		return a.id < b.id
	})
	sorted := make([]Candidate, len(cs))
	for i, k := range keys {
		sorted[i] = cs[k.i]
	}
	copy(cs, sorted)
}

// Best returns the best evaluated candidate, if any.
func Best(cs []Candidate, d Direction) (Candidate, bool) {
	var best Candidate
	found := false
	for _, c := range cs {
		s, ok := c.Score()
		if !ok {
			continue
		}
		bs, _ := best.Score()
		if !found || d.Better(s, bs) || (s == bs && c.ID < best.ID) {
			best, found = c, true
		}
	}
	return best, found
}

// MetricFloat reads a metric value as a finite number: JSON numbers (float64,
// json.Number), Go integers and floats, and booleans (1 or 0). Anything else,
// NaN and ±Inf give false.
func MetricFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	case bool:
		if x {
			f = 1
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}
