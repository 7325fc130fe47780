package sampling_test

import (
	"crypto/sha1"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// bigPopulation builds n candidates as a store would list them: a random
// tree under the baseline, 40-hex ids (in no particular order), five
// islands, code sizes, sketches and a metric, 10% failed and 2% pending.
// With shuffle, the slice is also shuffled, so that reading it in order
// jumps around memory: the worst case.
func bigPopulation(n int, shuffle bool) []evolve.Candidate {
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
	if shuffle {
		rng.Shuffle(n, func(i, j int) { pop[i], pop[j] = pop[j], pop[i] })
	}
	return pop
}

// BenchmarkSample100k measures one Sample (parent and 2 inspirations) over
// 100,000 candidates, once the population is loaded. Target: 20 ms.
// Besides the wall clock it reports cpu-ns/op, the process's CPU time per
// sample (garbage collection included), steadier on a busy machine.
// "shuffled" lists the candidates in an order unrelated to where they sit in
// memory (the worst case); "loaded" in the order they were built.
func BenchmarkSample100k(b *testing.B) {
	for _, order := range []string{"shuffled", "loaded"} {
		pop := bigPopulation(100_000, order == "shuffled")
		for _, name := range []string{"ucb1", "greedy", "random", "island"} {
			b.Run(order+"/"+name, func(b *testing.B) { benchSample(b, pop, name) })
		}
	}
}

func benchSample(b *testing.B, pop []evolve.Candidate, name string) {
	s := mustNew(b, configs()[name], "")
	rng := seeded(1)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := cpuTime()
	for b.Loop() {
		sel, err := s.Sample(pop, 3, rng)
		if err != nil {
			b.Fatal(err)
		}
		s.Release(sel.Parent)
	}
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "gc/op")
}

// BenchmarkReadScores100k is the floor the samplers are measured against:
// one pass reading the score of each of the 100,000 candidates, nothing else.
func BenchmarkReadScores100k(b *testing.B) {
	pop := bigPopulation(100_000, true)
	start := cpuTime()
	for b.Loop() {
		n := 0
		for i := range pop {
			if _, ok := pop[i].Score(); ok {
				n++
			}
		}
		if n == 0 {
			b.Fatal("no score")
		}
	}
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
