package cognition

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"testing"
)

type qualityQuery struct {
	Query    string   `json:"query"`
	Relevant []string `json:"relevant"` // titles
}

// recallAt3 is the mean over queries of |relevant ∩ top 3| / min(|relevant|, 3).
func recallAt3(t *testing.T, s *Store, queries []qualityQuery, rank func([]Hit)) float64 {
	t.Helper()
	total := 0.0
	for _, q := range queries {
		res, err := s.Search(context.Background(), q.Query, 100)
		if err != nil {
			t.Fatal(err)
		}
		hits := res.Hits
		rank(hits)
		rel := map[string]bool{}
		for _, r := range q.Relevant {
			rel[r] = true
		}
		found := 0
		var top []string
		for i := 0; i < 3 && i < len(hits); i++ {
			top = append(top, hits[i].Title)
			if rel[hits[i].Title] {
				found++
			}
		}
		r := float64(found) / float64(min(len(q.Relevant), 3))
		if r < 1 && testing.Verbose() {
			t.Logf("recall %.2f for %q: top 3 %q", r, q.Query, top)
		}
		total += r
	}
	return total / float64(len(queries))
}

func byField(f func(Hit) float64) func([]Hit) {
	return func(h []Hit) {
		sort.SliceStable(h, func(i, j int) bool { return f(h[i]) > f(h[j]) })
	}
}

// TestRetrievalQuality measures recall@3 of the offline embedder on 36
// knowledge items and 14 queries written as a user would ask them (see
// testdata). Chance level is about 3/36 ≈ 0.08. The floor 0.75 asks that on
// average three of four relevant items make the top three: a purely lexical
// method cannot reach 1.0 on paraphrased queries ("biggest total radius" vs
// "largest total radius"), and the floor leaves room for ties while failing
// as soon as one component (vector or BM25) breaks. The hybrid score must also
// be at least as good as either component alone.
func TestRetrievalQuality(t *testing.T) {
	s := newTestStore(t, nil)
	f, err := os.Open("testdata/fixture.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := s.Import(context.Background(), f)
	if err != nil || res.New != 36 || len(res.Errors) != 0 {
		t.Fatalf("import fixture: %+v, %v", res, err)
	}
	var queries []qualityQuery
	data, err := os.ReadFile("testdata/queries.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &queries); err != nil {
		t.Fatal(err)
	}

	hybrid := recallAt3(t, s, queries, func([]Hit) {})
	vector := recallAt3(t, s, queries, byField(func(h Hit) float64 { return h.Vector }))
	lexical := recallAt3(t, s, queries, byField(func(h Hit) float64 { return h.Lexical }))
	t.Logf("recall@3 over %d queries: hybrid %.3f, vector only %.3f, BM25 only %.3f", len(queries), hybrid, vector, lexical)
	if hybrid < 0.75 {
		t.Errorf("hybrid recall@3 = %.3f, want >= 0.75", hybrid)
	}
	if hybrid+1e-9 < max(vector, lexical) {
		t.Errorf("hybrid recall@3 %.3f is below a single component (vector %.3f, BM25 %.3f)", hybrid, vector, lexical)
	}
}
