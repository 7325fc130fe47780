package cognition

import (
	"math"
	"slices"
)

// BM25 parameters (the usual Robertson–Zaragoza defaults).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// lexDoc is the bag of terms of one item, computed once per item.
type lexDoc struct {
	terms  []termFreq // sorted by term
	length int        // number of terms, repeats included
}

type termFreq struct {
	term string
	tf   int32
}

func newLexDoc(text string) *lexDoc {
	ts := tokens(text)
	slices.Sort(ts)
	d := &lexDoc{length: len(ts)}
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j] == ts[i] {
			j++
		}
		d.terms = append(d.terms, termFreq{ts[i], int32(j - i)})
		i = j
	}
	return d
}

type posting struct {
	doc int32
	tf  int32
}

// lexIndex is an inverted index scoring documents with BM25.
type lexIndex struct {
	n        int
	avgLen   float64
	postings map[string][]posting
	docLen   []int32
	self     []float64 // BM25 of each document against its own terms
}

func buildLex(docs []*lexDoc) *lexIndex {
	x := &lexIndex{n: len(docs), postings: map[string][]posting{}, docLen: make([]int32, len(docs)), self: make([]float64, len(docs))}
	total := 0
	for i, d := range docs {
		x.docLen[i] = int32(d.length)
		total += d.length
		for _, tf := range d.terms {
			x.postings[tf.term] = append(x.postings[tf.term], posting{int32(i), tf.tf})
		}
	}
	if len(docs) > 0 {
		x.avgLen = float64(total) / float64(len(docs))
	}
	for term, ps := range x.postings {
		idf := x.idf(term)
		for _, p := range ps {
			x.self[p.doc] += idf * x.saturate(p.tf, int(p.doc))
		}
	}
	return x
}

// idf is the BM25 inverse document frequency, kept positive for common terms
// (the "+1" inside the logarithm, as in Lucene).
func (x *lexIndex) idf(term string) float64 {
	df := float64(len(x.postings[term]))
	return math.Log(1 + (float64(x.n)-df+0.5)/(df+0.5))
}

// saturate is BM25's term-frequency factor tf·(k1+1)/(tf+K), below k1+1.
func (x *lexIndex) saturate(tf int32, doc int) float64 {
	k := bm25K1
	if x.avgLen > 0 {
		k = bm25K1 * (1 - bm25B + bm25B*float64(x.docLen[doc])/x.avgLen)
	}
	f := float64(tf)
	return f * (bm25K1 + 1) / (f + k)
}

// score returns the normalised lexical score in [0,1] of every document
// (0 for those that share no term with the query):
//
//	lex(q,d) = BM25(q,d) / min(U(q), BM25(d,d)),  U(q) = Σ_{t∈q, df(t)>0} idf(t)·(k1+1)
//
// U(q) bounds BM25(q,·) from above and BM25(d,d) bounds BM25(·,d), so a
// short query fully present in a document, or a document fully present in
// a long query, scores near 1 (an idf-weighted overlap coefficient). Query
// terms are counted once; terms that occur in no item are left out of U(q).
func (x *lexIndex) score(query string) []float64 {
	acc := make([]float64, x.n)
	seen := map[string]bool{}
	bound := 0.0
	for _, t := range tokens(query) {
		if seen[t] {
			continue
		}
		seen[t] = true
		ps := x.postings[t]
		if len(ps) == 0 {
			continue
		}
		idf := x.idf(t)
		bound += idf * (bm25K1 + 1)
		for _, p := range ps {
			acc[p.doc] += idf * x.saturate(p.tf, int(p.doc))
		}
	}
	for d, s := range acc {
		if s == 0 {
			continue
		}
		den := math.Min(bound, x.self[d])
		if den <= 0 {
			acc[d] = 0
			continue
		}
		acc[d] = math.Min(1, s/den)
	}
	return acc
}
