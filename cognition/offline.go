package cognition

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unicode/utf8"
)

// DefaultOfflineDim is the dimension of the offline embedder's vectors.
const DefaultOfflineDim = 1024

// offlineVersion changes whenever the offline features or weights change, so
// that vectors cached by an older binary are not mixed with new ones.
const offlineVersion = 1

// Feature groups and their weights. A word counts fully, a bigram (two
// consecutive terms) half, and each character n-gram 0.2: a word of seven
// letters has about 13 n-grams of length 3 and 4, so its n-grams together
// weigh about half of the word itself in a vector's squared norm. The n-grams
// let "packing" match "packed" and identifiers match their parts.
const (
	groupWord   = 'w'
	groupBigram = 'b'
	groupChar   = 'c'

	weightWord   = 1.0
	weightBigram = 0.5
	weightChar   = 0.2
)

// Offline is an embedder that needs no model and no network: the terms of a
// text (see tokens), the bigrams of consecutive terms and the character
// 3- and 4-grams of terms of four letters or more are hashed with FNV-1a
// (fixed, so vectors are the same in every process) into Dim signed buckets,
// weighted by 1+ln(tf), and L2-normalised.
//
// Documents are weighted by term frequency only; a query is additionally
// weighted by the inverse document frequency of its terms in the items
// (SMART "lnc.ltc", Manning et al., Introduction to Information Retrieval,
// 6.4.3). Keeping IDF out of the document vectors makes them depend on the
// document alone, so they can be cached by content hash while the corpus
// changes.
type Offline struct {
	dim int
}

// NewOffline returns an offline embedder with vectors of dimension dim
// (DefaultOfflineDim when dim <= 0).
func NewOffline(dim int) *Offline {
	if dim <= 0 {
		dim = DefaultOfflineDim
	}
	return &Offline{dim: dim}
}

// Name identifies the algorithm, its version and its dimension.
func (o *Offline) Name() string { return fmt.Sprintf("offline-v%d-%d", offlineVersion, o.dim) }

// Dim is the length of the vectors.
func (o *Offline) Dim() int { return o.dim }

// Embed returns the document vector of each text. It never fails; a text
// without terms gets the zero vector.
func (o *Offline) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	workers := min(runtime.GOMAXPROCS(0), (len(texts)+63)/64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				if ctx.Err() != nil {
					return
				}
				out[i] = o.vector(texts[i], nil)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedQuery returns the query vector of text, each feature weighted by the
// idf of the term it comes from (idf nil means 1).
func (o *Offline) EmbedQuery(text string, idf func(term string) float64) []float32 {
	return o.vector(text, idf)
}

type featureAcc struct {
	tf     float32
	weight float32 // group weight
	idf    float64 // largest idf of the terms that produced the feature
}

func (o *Offline) vector(text string, idf func(string) float64) []float32 {
	terms := tokens(text)
	acc := make(map[uint64]featureAcc, len(terms)*12)
	add := func(h uint64, weight, w float64) {
		a, ok := acc[h]
		if !ok {
			a.weight = float32(weight)
		}
		a.tf++
		a.idf = math.Max(a.idf, w)
		acc[h] = a
	}
	prevIDF := 0.0
	for i, t := range terms {
		w := 1.0
		if idf != nil {
			w = idf(t)
		}
		add(hashFeature(groupWord, t, ""), weightWord, w)
		if i > 0 {
			add(hashFeature(groupBigram, terms[i-1], t), weightBigram, math.Sqrt(w*prevIDF))
		}
		prevIDF = w
		if utf8.RuneCountInString(t) >= 4 {
			charGrams(t, func(gram string) { add(hashFeature(groupChar, gram, ""), weightChar, w) })
		}
	}
	v := make([]float32, o.dim)
	for h, a := range acc {
		x := (1 + math.Log(float64(a.tf))) * float64(a.weight) * a.idf
		if h>>63 == 1 {
			x = -x
		}
		v[h%uint64(o.dim)] += float32(x)
	}
	normalize(v)
	return v
}

// charGrams calls f with the 3- and 4-grams of "<"+t+">".
func charGrams(t string, f func(string)) {
	padded := "<" + t + ">"
	if isASCII(padded) {
		for _, n := range [2]int{3, 4} {
			for i := 0; i+n <= len(padded); i++ {
				f(padded[i : i+n])
			}
		}
		return
	}
	// bounds[i] is the byte offset of rune i; one extra entry for the end.
	bounds := make([]int, 0, len(padded)+1)
	for i := range padded {
		bounds = append(bounds, i)
	}
	bounds = append(bounds, len(padded))
	runes := len(bounds) - 1
	for _, n := range [2]int{3, 4} {
		for i := 0; i+n <= runes; i++ {
			f(padded[bounds[i]:bounds[i+n]])
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hashFeature is 64-bit FNV-1a over the group byte, a, a zero byte and b,
// followed by the MurmurHash3 finaliser so that the low bits (the bucket) and
// the top bit (the sign) are independent.
func hashFeature(group byte, a, b string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	h ^= uint64(group)
	h *= prime
	for i := 0; i < len(a); i++ {
		h ^= uint64(a[i])
		h *= prime
	}
	if b != "" {
		h *= prime // a zero byte
		for i := 0; i < len(b); i++ {
			h ^= uint64(b[i])
			h *= prime
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// normalize scales v to unit length in place; the zero vector stays zero.
func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	n := 1 / math.Sqrt(sum)
	for i := range v {
		v[i] = float32(float64(v[i]) * n)
	}
}

// isZero reports whether v has no non-zero component.
func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
