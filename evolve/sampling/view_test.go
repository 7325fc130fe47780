package sampling

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

func TestKeysOrderLikeIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"0000000000000000", "000000000000000f", "0000000000000010", "ffffffffffffffff",
		"ffffffffffffffff0", "ffffffffffffffff00", "abcdef0123456789abcd"}
	for range 2000 {
		ids = append(ids, fmt.Sprintf("%016x%x", rng.Uint64(), rng.Uint32()&0xff))
	}
	for range 200 {
		a, b := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
		ka, _ := hexKey(a)
		kb, _ := hexKey(b)
		if ka < kb && a > b || ka > kb && a < b {
			t.Fatalf("hexKey orders %q and %q wrongly", a, b)
		}
		if ba, bb := byteKey(a), byteKey(b); ba < bb && a > b || ba > bb && a < b {
			t.Fatalf("byteKey orders %q and %q wrongly", a, b)
		}
	}
	for _, bad := range []string{"", "abc", "ABCDEF0123456789", "0123456789abcdeg", "0123456789abcde"} {
		if _, ok := hexKey(bad); ok {
			t.Errorf("hexKey(%q) accepted", bad)
		}
	}
	// A prefix and its extension may share a key (the full ids break the
	// tie) but never order the other way round.
	if byteKey("ab") > byteKey("ab\x00") {
		t.Error("byteKey orders a prefix after its extension")
	}
}

// TestViewSortsAndDeduplicates checks the view of populations small and large
// (bucket sort, parallel reading), hex ids and others, against a plain sort.
func TestViewSortsAndDeduplicates(t *testing.T) {
	for _, tc := range []struct {
		n        int
		hex, odd bool // hex ids; odd: one of them upper case
	}{{10, true, false}, {10, false, false}, {5000, true, false}, {5000, false, false},
		{40000, true, false}, {40000, true, true}, {40000, false, false}} {
		t.Run(fmt.Sprintf("%d hex=%v odd=%v", tc.n, tc.hex, tc.odd), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 7))
			var pop []evolve.Candidate
			for i := range tc.n {
				id := fmt.Sprintf("%016x%08x", rng.Uint64(), i)
				if !tc.hex {
					id = fmt.Sprintf("c%d", rng.IntN(tc.n*10))
				}
				pop = append(pop, evolve.Candidate{ID: id})
			}
			pop = append(pop, pop[:tc.n/3]...)    // duplicates
			pop = append(pop, evolve.Candidate{}) // no id
			if tc.odd {
				pop[len(pop)/2].ID = strings.ToUpper(pop[len(pop)/2].ID)
			}
			var want []string
			for _, c := range pop {
				if c.ID != "" {
					want = append(want, c.ID)
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)
			v := newView(pop, evolve.Maximize, true)
			defer v.release()
			got := make([]string, len(v.es))
			for i := range v.es {
				got[i] = v.id(int32(i))
			}
			if v.hex != (tc.hex && !tc.odd) {
				t.Errorf("hex keys = %v", v.hex)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("view order differs from sorted ids (%d vs %d entries)", len(got), len(want))
			}
			if v.noID != 1 {
				t.Errorf("noID = %d", v.noID)
			}
			for _, id := range want[:min(10, len(want))] {
				if i := v.find(id); i < 0 || v.id(i) != id {
					t.Errorf("find(%q) = %d", id, i)
				}
			}
			if v.find("not-there") != -1 {
				t.Error("find found a missing id")
			}
		})
	}
}

// TestBestMatchesAFullSort checks both ways best finds the top k (insertion
// for few, quickselect for many) against sorting everything, with ties.
func TestBestMatchesAFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	v := &view{es: make([]entry, n)}
	for i := range v.es {
		v.es[i].fit = float64(rng.IntN(200)) // many ties
	}
	idx := make([]int32, 0, n)
	for i := range int32(n) {
		if rng.IntN(4) != 0 {
			idx = append(idx, i)
		}
	}
	skip := idx[len(idx)/2]
	sorted := slices.DeleteFunc(slices.Clone(idx), func(i int32) bool { return i == skip })
	slices.SortFunc(sorted, func(a, b int32) int {
		if v.better(a, b) {
			return -1
		}
		return 1
	})
	for _, k := range []int{0, 1, 5, 64, 65, 500, len(idx) - 1, len(idx) + 5} {
		got := v.best(idx, k, skip)
		want := sorted[:max(0, min(k, len(sorted)))]
		if !slices.Equal(got, want) {
			t.Errorf("best(k=%d) differs from the first %d of a full sort", k, len(want))
		}
	}
}
