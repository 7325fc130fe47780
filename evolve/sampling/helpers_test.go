package sampling_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/evolve/sampling"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// dag builds a population from one line per candidate:
//
//	id parent status [score] [island=N] [size=N] [sketch=HEX] [time=SECONDS] [m.NAME=X]
//
// parent "-" marks the baseline; status is ok, failed, timeout, invalid or
// pending; children counts come from the parents listed; a candidate's time
// is its line number in seconds unless time= says otherwise.
func dag(t testing.TB, text string) []evolve.Candidate {
	t.Helper()
	var pop []evolve.Candidate
	line := 0
	for _, raw := range strings.Split(text, "\n") {
		f := strings.Fields(raw)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			t.Fatalf("dag line %q: want id parent status", raw)
		}
		line++
		c := evolve.Candidate{ID: f[0], Subject: "evolve(x): " + f[0], Time: t0.Add(time.Duration(line) * time.Second)}
		if f[1] == "-" {
			c.Baseline = true
		} else {
			c.Parent = f[1]
		}
		prop := evolve.Event{V: 1, Exp: "x", Event: evolve.EventProposed, At: c.Time, Parent: c.Parent}
		var eval *evolve.Event
		rest := f[3:]
		if st := evolve.Status(f[2]); st != evolve.StatusPending {
			eval = &evolve.Event{V: 1, Exp: "x", Event: evolve.EventEvaluated, At: c.Time.Add(time.Minute), Status: st}
			if len(rest) > 0 && !strings.Contains(rest[0], "=") {
				s, err := strconv.ParseFloat(rest[0], 64)
				if err != nil {
					t.Fatalf("dag line %q: score: %v", raw, err)
				}
				eval.Score = &s
				rest = rest[1:]
			}
		}
		for _, kv := range rest {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("dag line %q: %q is not key=value", raw, kv)
			}
			num, _ := strconv.ParseFloat(val, 64)
			switch {
			case k == "island":
				n := int(num)
				prop.Island = &n
			case k == "size":
				prop.CodeSize = int64(num)
			case k == "sketch":
				prop.Sketch = val
			case k == "time":
				c.Time = t0.Add(time.Duration(num) * time.Second)
			case strings.HasPrefix(k, "m."):
				if eval == nil {
					t.Fatalf("dag line %q: metric on a pending candidate", raw)
				}
				if eval.Metrics == nil {
					eval.Metrics = map[string]any{}
				}
				eval.Metrics[k[2:]] = num
			default:
				t.Fatalf("dag line %q: unknown key %q", raw, k)
			}
		}
		events := []evolve.Event{prop}
		if eval != nil {
			events = append(events, *eval)
		}
		c.Record = evolve.Fold(events)
		pop = append(pop, c)
	}
	for i := range pop {
		for j := range pop {
			if pop[j].Parent == pop[i].ID {
				pop[i].Children++
			}
		}
	}
	return pop
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }

func mustNew(t testing.TB, cfg evolve.SamplingConfig, dir evolve.Direction) evolve.Sampler {
	t.Helper()
	s, err := sampling.New(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configs returns one configuration per algorithm, the defaults otherwise.
func configs() map[string]evolve.SamplingConfig {
	out := map[string]evolve.SamplingConfig{}
	for _, name := range sampling.Algorithms() {
		cfg := evolve.DefaultConfig("x").Database.Sampling
		cfg.Algorithm = name
		out[name] = cfg
	}
	return out
}

func islandConfig(mut func(*evolve.IslandConfig)) evolve.SamplingConfig {
	cfg := evolve.DefaultConfig("x").Database.Sampling
	cfg.Algorithm = sampling.NameIsland
	mut(&cfg.Island)
	return cfg
}

// byID indexes a population.
func byID(pop []evolve.Candidate) map[string]*evolve.Candidate {
	m := map[string]*evolve.Candidate{}
	for i := range pop {
		m[pop[i].ID] = &pop[i]
	}
	return m
}

// addChild appends a child of sel.Parent, as the step loop would after a
// sample: with sel.Island recorded, evaluated ok with score, and the
// parent's children count updated.
func addChild(pop []evolve.Candidate, sel evolve.Selection, id string, score float64) []evolve.Candidate {
	at := t0.Add(time.Duration(len(pop)+1) * time.Second)
	s := score
	c := evolve.Candidate{ID: id, Parent: sel.Parent, Time: at, Record: evolve.Fold([]evolve.Event{
		{V: 1, Exp: "x", Event: evolve.EventProposed, At: at, Parent: sel.Parent, Island: sel.Island, Sampler: sel.Sampler},
		{V: 1, Exp: "x", Event: evolve.EventEvaluated, At: at, Status: evolve.StatusOK, Score: &s},
	})}
	for i := range pop {
		if pop[i].ID == sel.Parent {
			pop[i].Children++
		}
	}
	return append(pop, c)
}

func idn(prefix string, i int) string { return fmt.Sprintf("%s%04d", prefix, i) }

// show prints a Selection with its island dereferenced, for comparisons.
func show(sel evolve.Selection) string {
	island := "none"
	if sel.Island != nil {
		island = strconv.Itoa(*sel.Island)
	}
	return fmt.Sprintf("parent %s inspirations %v sampler %s island %s\n%s",
		sel.Parent, sel.Inspirations, sel.Sampler, island, strings.Join(sel.Explain, "\n"))
}
