package cognition

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchCorpus returns n synthetic items of 40 to 120 words: words of the
// fixture (real vocabulary) and 5,000 made-up words, drawn with a Zipf law as
// in natural text, so that postings and idf look like a real corpus.
func benchCorpus(tb testing.TB, n int) []Lesson {
	tb.Helper()
	f, err := os.Open("testdata/fixture.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vocab []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		for _, w := range strings.Fields(r.Title + " " + r.Content) {
			w = strings.Trim(w, ".,;:()'\"")
			if w != "" && !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "an", "er", "ol", "is", "um"}
	for len(vocab) < 5000+len(seen) {
		var b strings.Builder
		for k := 2 + rng.IntN(3); k > 0; k-- {
			b.WriteString(syll[rng.IntN(len(syll))])
		}
		vocab = append(vocab, b.String())
	}
	rng.Shuffle(len(vocab), func(i, j int) { vocab[i], vocab[j] = vocab[j], vocab[i] })
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 2, uint64(len(vocab)-1))
	out := make([]Lesson, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		words := make([]string, 40+rng.IntN(81))
		for j := range words {
			words[j] = vocab[zipf.Uint64()]
		}
		out[i] = Lesson{Candidate: fmt.Sprintf("%040x", i+1), Text: strings.Join(words, " ") + ".", At: t0.Add(time.Duration(i) * time.Second)}
	}
	return out
}

var benchQueries = []string{
	"how should I arrange circles in a square to get the biggest total radius",
	"reduce tail latency of requests in an LLM serving scheduler",
	"temperature drops too fast and the search gets stuck in a local optimum",
	"matrix multiply kernel is slow because of global memory reads",
	"derivative-free optimiser for a noisy objective",
}

// longQuery is the size of a Researcher query: problem statement, motivation
// and analysis (about 400 words).
func longQuery(tb testing.TB) string {
	data, err := os.ReadFile("testdata/fixture.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	words := strings.Fields(string(data))
	return strings.Join(words[:min(400, len(words))], " ")
}

func benchStore(tb testing.TB, lessons []Lesson, gitDir string) *Store {
	tb.Helper()
	src := &memLessons{lessons: map[string][]Lesson{testExp: lessons}}
	s, err := Open(Options{Root: tb.TempDir(), GitDir: gitDir, Exp: testExp, Lessons: src})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// reportMedian records the median of the per-iteration durations.
func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkSearch10k: a search over 10,000 items with everything loaded
// (the target is a median of 50 ms or less).
func BenchmarkSearch10k(b *testing.B) {
	for _, tc := range []struct {
		name    string
		queries []string
	}{{"short", benchQueries}, {"long", []string{longQuery(b)}}} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchStore(b, benchCorpus(b, 10000), b.TempDir())
			if _, err := s.Search(context.Background(), "warm up", 3); err != nil {
				b.Fatal(err)
			}
			var ds []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				res, err := s.Search(context.Background(), tc.queries[i%len(tc.queries)], 3)
				ds = append(ds, time.Since(start))
				if err != nil || len(res.Hits) != 3 {
					b.Fatalf("search: %d hits, %v", len(res.Hits), err)
				}
				i++
			}
			reportMedian(b, ds)
		})
	}
}

// BenchmarkRetrieve10k is the step loop's call: it reads the 10,000 lessons
// again (unchanged) before searching.
func BenchmarkRetrieve10k(b *testing.B) {
	s := benchStore(b, benchCorpus(b, 10000), b.TempDir())
	q := longQuery(b)
	if _, err := s.Retrieve(context.Background(), testExp, q, 3, 0); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Retrieve(context.Background(), testExp, q, 3, 0.3); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}

// BenchmarkColdRebuild10k: the first search of a store without a cache:
// embed 10,000 items offline, index them, write the cache (target: 5 s).
func BenchmarkColdRebuild10k(b *testing.B) {
	lessons := benchCorpus(b, 10000)
	var ds []time.Duration
	for b.Loop() {
		s := benchStore(b, lessons, b.TempDir())
		start := time.Now()
		if _, err := s.Search(context.Background(), benchQueries[0], 3); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}

// BenchmarkWarmStart10k: the first search of a new store (a new process)
// when the cache holds every vector.
func BenchmarkWarmStart10k(b *testing.B) {
	lessons := benchCorpus(b, 10000)
	gitDir := b.TempDir()
	if _, err := benchStore(b, lessons, gitDir).Search(context.Background(), "warm up", 3); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	for b.Loop() {
		s := benchStore(b, lessons, gitDir)
		start := time.Now()
		if _, err := s.Search(context.Background(), benchQueries[0], 3); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}

// BenchmarkOfflineEmbed measures the offline embedder alone, per item.
func BenchmarkOfflineEmbed(b *testing.B) {
	lessons := benchCorpus(b, 1000)
	texts := make([]string, len(lessons))
	for i, l := range lessons {
		texts[i] = l.Text
	}
	o := NewOffline(0)
	i := 0
	for b.Loop() {
		o.vector(texts[i%len(texts)], nil)
		i++
	}
}

// BenchmarkRefresh10kFiles: reading a cognition folder of 10,000 unchanged
// files again (what Retrieve does before each search when items are files).
func BenchmarkRefresh10kFiles(b *testing.B) {
	s := benchStore(b, nil, "")
	for i, l := range benchCorpus(b, 10000) {
		writeFile(b, filepath.Join(s.cogDir, fmt.Sprintf("item-%05d.md", i)), "# Item "+fmt.Sprint(i)+"\n\n"+l.Text)
	}
	if _, err := s.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
