package cognition

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"The Circles and the packings!", []string{"circle", "packing"}},
		{"queries, boxes, class, status, gas", []string{"query", "boxe", "class", "status", "gas"}},
		{"x = 2.635 for n_26", []string{"2", "635", "26"}},
		{"CamelCase über-Größe", []string{"camelcase", "über", "größe"}},
		{"a I e.g. of", nil},
	} {
		if got := tokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("tokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseMarkdown(t *testing.T) {
	for _, tc := range []struct {
		name, in, title, content string
	}{
		{"heading first", "# Title\n\nBody text.\n", "Title", "Body text."},
		{"crlf and bom", "\ufeff## Title ##\r\n\r\nBody\r\n", "Title", "Body"},
		{"no heading", "Just a body.", "file", "Just a body."},
		{"heading later", "Intro line.\n\n# Later\nmore", "Later", "Intro line.\n\n# Later\nmore"},
		{"hashtag is not a heading", "#tag text", "file", "#tag text"},
		{"heading inside a fence", "```\n# not a heading\n```\nafter", "file", "```\n# not a heading\n```\nafter"},
		{"indented code is not a heading", "\n    # code\n", "file", "    # code"},
		{"indented body kept", "# T\n\n    code\n", "T", "    code"},
		{"closing hashes need a space", "# C#\n\nx", "C#", "x"},
		{"heading only", "# Only\n", "Only", ""},
		{"empty heading skipped", "#\n# Real\nbody", "Real", "#\n# Real\nbody"},
	} {
		title, content := parseMarkdown(tc.in, "file")
		if title != tc.title || content != tc.content {
			t.Errorf("%s: parseMarkdown(%q) = %q, %q; want %q, %q", tc.name, tc.in, title, content, tc.title, tc.content)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Use SLSQP for constraints":       "use-slsqp-for-constraints",
		"  --Hello,  World!-- ":           "hello-world",
		"Größe & Maß":                     "größe-maß",
		"???":                             "item",
		"":                                "item",
		strings.Repeat("abcdefghij ", 10): "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij",
		strings.Repeat("x", 60) + " more": strings.Repeat("x", 60),
		strings.Repeat("y", 70):           strings.Repeat("y", 60),
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
		if len(slug(in)) > 60 {
			t.Errorf("slug(%q) is longer than 60 bytes", in)
		}
	}
}

func TestContentIDIsStable(t *testing.T) {
	if ContentID("  a\r\nb \n") != ContentID("a\nb") {
		t.Error("ContentID depends on line endings or surrounding space")
	}
	// sha256("a\nb")[:8], computed independently.
	sum := sha256.Sum256([]byte("a\nb"))
	if got := ContentID("a\nb"); got != hex.EncodeToString(sum[:8]) || len(got) != 16 {
		t.Errorf("ContentID = %s", got)
	}
}

// TestOfflineVectorIsFixed pins the offline embedding of a sentence: a
// change of tokenizer, hash or weights must bump offlineVersion (so caches
// are rebuilt) and update this digest. A per-process hash seed fails here.
func TestOfflineVectorIsFixed(t *testing.T) {
	o := NewOffline(0)
	v := o.vector("Pack 26 circles into the unit square; maximise the sum of radii.", nil)
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	sum := sha256.Sum256(buf)
	const want = "03fc9c4a1f2fe0ce"
	if got := hex.EncodeToString(sum[:8]); got != want {
		t.Errorf("offline vector digest = %s, want %s (bump offlineVersion if the change is intended)", got, want)
	}
	if o.Name() != "offline-v1-1024" {
		t.Errorf("Name = %s", o.Name())
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-5 {
		t.Errorf("norm² = %v", norm)
	}
	if z := o.vector("the of and", nil); !isZero(z) {
		t.Error("a text of stop words has a non-zero vector")
	}
}

func TestOfflineSimilarity(t *testing.T) {
	o := NewOffline(0)
	cos := func(a, b string) float64 {
		x, y := o.vector(a, nil), o.vector(b, nil)
		s := 0.0
		for i := range x {
			s += float64(x[i]) * float64(y[i])
		}
		return s
	}
	same := cos("circle packing in a square", "circle packing in a square")
	morph := cos("packing circles", "packed circle")
	unrelated := cos("packing circles", "kernel warp divergence")
	if math.Abs(same-1) > 1e-5 || morph <= 0.3 || unrelated >= 0.1 || morph <= unrelated {
		t.Errorf("cosines: same %.3f, morphological variants %.3f, unrelated %.3f", same, morph, unrelated)
	}
	// IDF on the query side favours the rare term.
	idf := func(term string) float64 {
		if term == "kahan" {
			return 5
		}
		return 0.1
	}
	q := o.EmbedQuery("kahan summation", idf)
	d1, d2 := o.vector("kahan", nil), o.vector("summation", nil)
	var s1, s2 float64
	for i := range q {
		s1 += float64(q[i]) * float64(d1[i])
		s2 += float64(q[i]) * float64(d2[i])
	}
	if s1 <= s2 {
		t.Errorf("rare term scores %.3f, common term %.3f", s1, s2)
	}
}

func TestLexicalScoresAreNormalised(t *testing.T) {
	texts := []string{
		"circle packing in a unit square",
		"circle circle circle packing packing",
		"simulated annealing cooling schedule temperature",
		"a much longer document about circle packing with many other words about optimisation constraints penalties radii and walls",
		"",
	}
	docs := make([]*lexDoc, len(texts))
	for i, t := range texts {
		docs[i] = newLexDoc(t)
	}
	x := buildLex(docs)
	for _, q := range []string{"circle packing", "circle", "annealing temperature square", strings.Join(texts, " "), "nothing matches"} {
		for d, s := range x.score(q) {
			if s < 0 || s > 1 || math.IsNaN(s) {
				t.Errorf("score(%q)[%d] = %v", q, d, s)
			}
		}
	}
	sc := x.score("circle packing")
	if sc[2] != 0 || sc[4] != 0 {
		t.Errorf("documents without query terms have scores %v", sc)
	}
	if sc[0] <= sc[3] {
		t.Errorf("short exact document %.3f scores below a long diluted one %.3f", sc[0], sc[3])
	}
	if got := x.score("annealing"); got[2] <= 0 || got[0]+got[1]+got[3]+got[4] != 0 {
		t.Errorf("score(annealing) = %v", got)
	}
	if got := x.score(strings.Join(texts[:2], " ")); math.Abs(got[0]-1) > 1e-9 || math.Abs(got[1]-1) > 1e-9 {
		t.Errorf("documents wholly inside the query score %v, want 1", got[:2])
	}
}
