package sampling

import (
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"time"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

func BigPop(n int) []evolve.Candidate {
	rng := seeded(2026)
	pop := make([]evolve.Candidate, n)
	for i := range pop {
		at := t0.Add(time.Duration(i) * time.Second)
		c := &pop[i]
		c.ID = fmt.Sprintf("%x", sha1.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)}))
		c.Time = at
		prop := evolve.Event{V: 1, Exp: "x", Event: evolve.EventProposed, At: at,
			CodeSize: 1000 + rng.Int64N(9000), Sketch: fmt.Sprintf("%016x", rng.Uint64())}
		if i == 0 {
			c.Baseline = true
		} else {
			p := rng.IntN(i)
			c.Parent = pop[p].ID
			pop[p].Children++
			island := i % 5
			prop.Island = &island
		}
		events := []evolve.Event{prop}
		switch k := rng.IntN(100); {
		case k < 10:
			events = append(events, evolve.Event{V: 1, Exp: "x", Event: evolve.EventEvaluated, At: at, Status: evolve.StatusFailed})
		case k < 12:
		default:
			s := rng.NormFloat64() + float64(i)/float64(n)
			events = append(events, evolve.Event{V: 1, Exp: "x", Event: evolve.EventEvaluated, At: at,
				Status: evolve.StatusOK, Score: &s, Metrics: map[string]any{"speed": rng.Float64()}})
		}
		c.Record = evolve.Fold(events)
	}
	rng.Shuffle(n, func(i, j int) { pop[i], pop[j] = pop[j], pop[i] })
	return pop
}


var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }


func BenchmarkViewParts(b *testing.B) {
	pop := BigPop(100_000)
	b.Run("read", func(b *testing.B) {
		v := &view{pop: pop}
		es := make([]entry, len(pop))
		for b.Loop() {
			v.read(pop, es, 0, evolve.Maximize)
		}
	})
	b.Run("newView", func(b *testing.B) {
		for b.Loop() {
			newView(pop, evolve.Maximize, false)
		}
	})
	b.Run("sort", func(b *testing.B) {
		v := &view{pop: pop}
		es := make([]entry, len(pop))
		v.read(pop, es, 0, evolve.Maximize)
		for b.Loop() {
			v.sort(es)
		}
	})
}

func BenchmarkReadParts(b *testing.B) {
	pop := BigPop(100_000)
	b.Run("score", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for i := range pop {
				if _, ok := pop[i].Score(); ok {
					n++
				}
			}
		}
	})
	b.Run("hexkey", func(b *testing.B) {
		for b.Loop() {
			var x uint64
			for i := range pop {
				k, _ := hexKey(pop[i].ID)
				x ^= k
			}
		}
	})
	b.Run("both", func(b *testing.B) {
		for b.Loop() {
			var x uint64
			for i := range pop {
				k, _ := hexKey(pop[i].ID)
				x ^= k
				if s, ok := pop[i].Score(); ok {
					x += uint64(s)
				}
			}
		}
	})
}
