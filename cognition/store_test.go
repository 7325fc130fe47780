package cognition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var ctx = context.Background()

func TestFilesBecomeItems(t *testing.T) {
	s := newTestStore(t, nil)
	writeFile(t, cogPath(s, "a.md"), "# Hexagonal packing\r\n\r\nRows shifted by half a diameter.\r\n")
	writeFile(t, cogPath(s, "no-heading.md"), "Just text about annealing.\n")
	writeFile(t, cogPath(s, "empty.md"), "  \n\n")
	writeFile(t, cogPath(s, "heading-only.md"), "# Title only\n")
	writeFile(t, cogPath(s, "binary.md"), "abc\x00def")
	writeFile(t, cogPath(s, "latin1.md"), "caf\xe9")
	writeFile(t, cogPath(s, "copy.md"), "# Another title\n\nRows shifted by half a diameter.")
	writeFile(t, cogPath(s, "notes.txt"), "not markdown")
	writeFile(t, cogPath(s, ".hidden.md"), "# hidden")
	if err := os.MkdirAll(cogPath(s, "sub.md"), 0o755); err != nil {
		t.Fatal(err)
	}

	items, warns, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("items = %+v, want 2", items)
	}
	a := items[0]
	if a.Title != "Hexagonal packing" || a.Content != "Rows shifted by half a diameter." ||
		a.Source != "file:experiments/demo/cognition/a.md" || a.Path != "experiments/demo/cognition/a.md" ||
		a.Exp != testExp || a.ID != ContentID("Rows shifted by half a diameter.") || len(a.ID) != 16 {
		t.Errorf("item a = %+v", a)
	}
	if b := items[1]; b.Title != "no-heading" || b.Content != "Just text about annealing." {
		t.Errorf("item without heading = %+v", b)
	}
	want := []string{
		"cognition file experiments/demo/cognition/binary.md is not UTF-8 text; skipped",
		"cognition file experiments/demo/cognition/copy.md has the same content as experiments/demo/cognition/a.md; skipped",
		"cognition file experiments/demo/cognition/empty.md is empty; skipped",
		"cognition file experiments/demo/cognition/heading-only.md is empty; skipped",
		"cognition file experiments/demo/cognition/latin1.md is not UTF-8 text; skipped",
	}
	if !slices.Equal(warns, want) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(warns, "\n"), strings.Join(want, "\n"))
	}
	// Warnings are given once per store, not at every refresh.
	if warns, err := s.Refresh(ctx); err != nil || len(warns) != 0 {
		t.Errorf("second refresh warnings = %q, %v", warns, err)
	}
}

func TestMissingFolderIsEmpty(t *testing.T) {
	s := newTestStore(t, nil)
	items, warns, err := s.List(ctx)
	if err != nil || len(items) != 0 || len(warns) != 0 {
		t.Fatalf("List = %v, %v, %v", items, warns, err)
	}
	res, err := s.Search(ctx, "anything", 3)
	if err != nil || len(res.Hits) != 0 {
		t.Fatalf("Search = %+v, %v", res, err)
	}
}

func TestOpenRejectsBadExperiment(t *testing.T) {
	for _, exp := range []string{"", ".", "..", "a/b", `a\b`, ".git"} {
		if _, err := Open(Options{Root: t.TempDir(), Exp: exp}); err == nil {
			t.Errorf("Open(exp %q) succeeded", exp)
		}
	}
}

func TestAddWritesMarkdownOnce(t *testing.T) {
	s := newTestStore(t, nil)
	res, warns, err := s.Add(ctx, "Use  SLSQP\nfor constraints", "scipy's SLSQP handles inequality constraints.\n")
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if res.Duplicate || res.Path != "experiments/demo/cognition/use-slsqp-for-constraints.md" {
		t.Fatalf("Add = %+v", res)
	}
	data, err := os.ReadFile(filepath.Join(s.opts.Root, res.Path))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data); got != "# Use SLSQP for constraints\n\nscipy's SLSQP handles inequality constraints.\n" {
		t.Errorf("file = %q", got)
	}
	if res.Item.ID != ContentID("scipy's SLSQP handles inequality constraints.") || res.Item.Source != "file:"+res.Path {
		t.Errorf("item = %+v", res.Item)
	}

	// The same content under another title is a duplicate: nothing written.
	again, _, err := s.Add(ctx, "Other title", "  scipy's SLSQP handles inequality constraints.  ")
	if err != nil || !again.Duplicate || again.Path != "" || again.Item.ID != res.Item.ID {
		t.Fatalf("second Add = %+v, %v", again, err)
	}
	// The same title with other content gets a new file name.
	other, _, err := s.Add(ctx, "Use SLSQP for constraints", "Give analytic Jacobians.")
	if err != nil || other.Path != "experiments/demo/cognition/use-slsqp-for-constraints-2.md" {
		t.Fatalf("third Add = %+v, %v", other, err)
	}
	if names := sortedNames(t, s.cogDir); !slices.Equal(names, []string{"use-slsqp-for-constraints-2.md", "use-slsqp-for-constraints.md"}) {
		t.Errorf("files = %v", names)
	}
	items, _, _ := s.List(ctx)
	if len(items) != 2 {
		t.Errorf("items = %+v", items)
	}
	if _, _, err := s.Add(ctx, "Empty", " \n "); err == nil || !strings.Contains(err.Error(), `"Empty" has no content`) {
		t.Errorf("Add without content: %v", err)
	}
	// No title: the content's heading is used and the file keeps it once.
	h, _, err := s.Add(ctx, "", "# Warp divergence\n\nBranches serialise a warp.")
	if err != nil || h.Item.Title != "Warp divergence" || h.Item.Content != "Branches serialise a warp." {
		t.Fatalf("Add without title = %+v, %v", h, err)
	}
	if data, _ := os.ReadFile(filepath.Join(s.opts.Root, h.Path)); string(data) != "# Warp divergence\n\nBranches serialise a warp.\n" {
		t.Errorf("file = %q", data)
	}
}

func TestImportJSONL(t *testing.T) {
	s := newTestStore(t, nil)
	in := strings.Join([]string{
		`{"title": "Kahan summation", "content": "Carry a compensation term.", "source": "paper"}`,
		``,
		`{"title": "broken", "content": `,
		`{"title": "Kahan again", "content": "Carry a compensation term."}`,
		`{"title": "no content"}`,
		`{"content": "# Warp divergence\nBranches serialise a warp."}`,
		`["not", "an object"]`,
		`{"title": 3, "content": "x"}`,
		`{"content": "Plain first line\nsecond line"}`,
	}, "\n")
	res, err := s.Import(ctx, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if res.New != 3 || res.Duplicate != 1 {
		t.Errorf("new %d duplicate %d, want 3 and 1", res.New, res.Duplicate)
	}
	var lines []int
	for _, e := range res.Errors {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int{3, 5, 7, 8}) {
		t.Errorf("error lines = %v (%v), want [3 5 7 8]", lines, res.Errors)
	}
	if got := res.Errors[1].Error(); got != `line 5: "content" is missing or empty` {
		t.Errorf("error = %q", got)
	}
	var got []string
	for _, it := range res.Added {
		got = append(got, it.Title)
	}
	if !slices.Equal(got, []string{"Kahan summation", "Warp divergence", "Plain first line"}) {
		t.Errorf("added titles = %q", got)
	}
	// Importing the same file again adds nothing.
	res, err = s.Import(ctx, strings.NewReader(in))
	if err != nil || res.New != 0 || res.Duplicate != 4 {
		t.Errorf("second import = %+v, %v", res, err)
	}
	if names := sortedNames(t, s.cogDir); len(names) != 3 {
		t.Errorf("files = %v", names)
	}
}

func TestImportJSONArray(t *testing.T) {
	s := newTestStore(t, nil)
	in := "[\n  {\"title\": \"A\", \"content\": \"alpha\"},\n  {\"title\": \"B\"},\n  {\"title\": \"C\", \"content\": \"gamma\"}\n]\n"
	res, err := s.Import(ctx, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if res.New != 2 || len(res.Errors) != 1 || res.Errors[0].Line != 3 {
		t.Errorf("import = %+v", res)
	}

	// Invalid JSON: an error with the line, and nothing written.
	s2 := newTestStore(t, nil)
	_, err = s2.Import(ctx, strings.NewReader("[\n {\"title\": \"A\", \"content\": \"alpha\"},\n {\"title\": \"B\" \"content\": \"beta\"}\n]"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: ") {
		t.Fatalf("invalid array: %v", err)
	}
	if items, _, _ := s2.List(ctx); len(items) != 0 {
		t.Errorf("items after a failed import: %+v", items)
	}

	// One object spread over lines.
	res, err = s2.Import(ctx, strings.NewReader("{\n  \"title\": \"Solo\",\n  \"content\": \"one item\"\n}\n"))
	if err != nil || res.New != 1 || res.Added[0].Title != "Solo" {
		t.Errorf("single object: %+v, %v", res, err)
	}
}

func TestSearchHonoursTopKAndThreshold(t *testing.T) {
	s := newTestStore(t, nil)
	f, err := os.Open("testdata/fixture.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Import(ctx, f); err != nil {
		t.Fatal(err)
	}
	const q = "circle packing overlap constraints and radii"
	for _, k := range []int{1, 2, 5, 7} {
		res, err := s.Search(ctx, q, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) != k {
			t.Errorf("Search k=%d returned %d hits", k, len(res.Hits))
		}
		for i := 1; i < len(res.Hits); i++ {
			if res.Hits[i].Score > res.Hits[i-1].Score {
				t.Errorf("hits not sorted: %v", res.Hits)
			}
		}
		kn, err := s.Retrieve(ctx, testExp, q, k, 0)
		if err != nil || len(kn) != k {
			t.Errorf("Retrieve k=%d returned %d items, %v", k, len(kn), err)
		}
	}
	// k <= 0: Search uses cognition.retrieval.top_k, Retrieve returns nothing.
	if res, _ := s.Search(ctx, q, 0); len(res.Hits) != 3 {
		t.Errorf("Search k=0 returned %d hits, want top_k 3", len(res.Hits))
	}
	if kn, err := s.Retrieve(ctx, testExp, q, 0, 0); err != nil || len(kn) != 0 {
		t.Errorf("Retrieve k=0 = %v, %v", kn, err)
	}

	all, err := s.Search(ctx, q, 36)
	if err != nil {
		t.Fatal(err)
	}
	top := all.Hits[0]
	if top.Score < top.Vector || top.Score < (top.Vector+top.Lexical)/2-1e-12 || top.Score > 1 {
		t.Errorf("score %v does not follow max(v, (v+l)/2) for v %v l %v", top.Score, top.Vector, top.Lexical)
	}
	seen := map[string]bool{}
	for _, h := range all.Hits {
		if seen[h.ID] {
			t.Errorf("item %s returned twice", h.ID)
		}
		seen[h.ID] = true
	}
	// A threshold between two scores keeps exactly the items above it.
	threshold := (all.Hits[2].Score + all.Hits[3].Score) / 2
	kn, err := s.Retrieve(ctx, testExp, q, 10, threshold)
	if err != nil || len(kn) != 3 {
		t.Fatalf("Retrieve threshold %.3f returned %d items (scores %v), %v", threshold, len(kn), kn, err)
	}
	for i, k := range kn {
		if k.Score < threshold || k.ID != all.Hits[i].ID || k.Source != all.Hits[i].Source || k.Content == "" {
			t.Errorf("knowledge %d = %+v", i, k)
		}
	}
	if kn, _ := s.Retrieve(ctx, testExp, q, 10, 1.01); len(kn) != 0 {
		t.Errorf("threshold above 1 returned %d items", len(kn))
	}
	if _, err := s.Retrieve(ctx, "other", q, 3, 0); err == nil {
		t.Error("Retrieve for another experiment succeeded")
	}
	if res, err := s.Search(ctx, "   ", 3); err != nil || len(res.Hits) != 0 {
		t.Errorf("blank query = %+v, %v", res, err)
	}
}

func TestLessonsAreRetrievedNextStep(t *testing.T) {
	lessons := &memLessons{}
	var warned []string
	s := newTestStore(t, func(o *Options) {
		o.Lessons = lessons
		o.Warn = func(w string) { warned = append(warned, w) }
	})
	writeFile(t, cogPath(s, "radii.md"), "# Radii\n\nGrow the radii of the corner circles first.")
	query := BuildQuery("Pack 26 circles in a unit square.", "Shrink overlapping circles.", "Score dropped: circles near the walls overlap.")
	if !strings.HasPrefix(query, "Score dropped") {
		t.Errorf("query = %q", query)
	}

	before, err := s.Retrieve(ctx, testExp, query, 5, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range before {
		if strings.HasPrefix(k.Source, "lesson:") {
			t.Fatalf("lesson before any was recorded: %+v", k)
		}
	}

	// A step records a lesson; the next step's retrieval shows it.
	cand := "0123456789abcdef0123456789abcdef01234567"
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lessons.add(testExp, cand, "Circles near the walls overlap: clamp centres to [r, 1-r] before scoring.", t0)
	lessons.add(testExp, "fedcba9876543210fedcba9876543210fedcba98", "Circles near the walls overlap: clamp centres to [r, 1-r] before scoring.", t0.Add(time.Hour))
	lessons.add(testExp, cand, "Grow the radii of the corner circles first.", t0) // same as the file
	after, err := s.Retrieve(ctx, testExp, query, 5, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, k := range after {
		if strings.HasPrefix(k.Source, "lesson:") {
			found = append(found, k.Source)
			if k.Title != "Lesson from 01234567" || !strings.Contains(k.Content, "clamp centres") {
				t.Errorf("lesson knowledge = %+v", k)
			}
		}
	}
	if !slices.Equal(found, []string{"lesson:01234567"}) {
		t.Errorf("lessons retrieved = %v (all: %+v)", found, after)
	}
	items, _, _ := s.List(ctx)
	if len(items) != 2 || items[0].Source != "file:experiments/demo/cognition/radii.md" || !items[1].IsLesson() || !items[1].At.Equal(t0) {
		t.Errorf("items = %+v", items)
	}
	if lessons.calls < 2 {
		t.Errorf("lessons read %d times, want once per Retrieve", lessons.calls)
	}
	if len(warned) != 0 {
		t.Errorf("warnings: %q", warned)
	}

	lessons.err = errors.New("notes unreadable")
	if _, err := s.Retrieve(ctx, testExp, query, 5, 0); err == nil || !strings.Contains(err.Error(), "read the lessons of experiment demo: notes unreadable") {
		t.Errorf("lesson source failure: %v", err)
	}
}

func TestRemove(t *testing.T) {
	lessons := &memLessons{}
	s := newTestStore(t, func(o *Options) { o.Lessons = lessons })
	lessons.add(testExp, "aaaaaaaabbbb", "a lesson that stays", time.Time{})
	a, _, _ := s.Add(ctx, "Alpha", "alpha content")
	b, _, _ := s.Add(ctx, "Beta", "beta content")
	c, _, _ := s.Add(ctx, "Gamma", "gamma content")
	writeFile(t, cogPath(s, "empty.md"), "")

	if it, err := s.Remove(ctx, a.Item.ID[:6]); err != nil || it.ID != a.Item.ID {
		t.Fatalf("remove by prefix = %+v, %v", it, err)
	}
	if it, err := s.Remove(ctx, "beta.md"); err != nil || it.ID != b.Item.ID {
		t.Fatalf("remove by file name = %+v, %v", it, err)
	}
	if it, err := s.Remove(ctx, filepath.Join(s.opts.Root, c.Path)); err != nil || it.ID != c.Item.ID {
		t.Fatalf("remove by absolute path = %+v, %v", it, err)
	}
	if it, err := s.Remove(ctx, "experiments/demo/cognition/empty.md"); err != nil || it.ID != "" || it.Path != "experiments/demo/cognition/empty.md" {
		t.Fatalf("remove a skipped file by repo path = %+v, %v", it, err)
	}
	if names, _ := os.ReadDir(s.cogDir); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
	items, _, _ := s.List(ctx)
	if len(items) != 1 || !items[0].IsLesson() {
		t.Fatalf("items = %+v", items)
	}
	if _, err := s.Remove(ctx, items[0].ID); err == nil || !strings.Contains(err.Error(), "is a lesson recorded on candidate aaaaaaaa") {
		t.Errorf("remove lesson: %v", err)
	}
	for _, ref := range []string{"abc", "zzzz", "ffffffff", "../../../etc/passwd", ""} {
		if _, err := s.Remove(ctx, ref); err == nil {
			t.Errorf("Remove(%q) succeeded", ref)
		}
	}

	// Two ids sharing a 4-digit prefix make that prefix ambiguous.
	seen := map[string]string{}
	var p, x, y string
	for i := 0; p == ""; i++ {
		content := fmt.Sprintf("item %d", i)
		id := ContentID(content)
		if prev, ok := seen[id[:4]]; ok {
			p, x, y = id[:4], prev, content
		}
		seen[id[:4]] = content
	}
	s.Add(ctx, "x", x)
	s.Add(ctx, "y", y)
	if _, err := s.Remove(ctx, p); err == nil || !strings.Contains(err.Error(), "is ambiguous") {
		t.Errorf("ambiguous prefix %s: %v", p, err)
	}
}

// countingEmbedder counts the texts it embeds. Wrapped, the offline embedder
// embeds the query through Embed too: every search counts one text more.
type countingEmbedder struct {
	Embedder
	texts atomic.Int64
	fail  error
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.fail != nil {
		return nil, c.fail
	}
	c.texts.Add(int64(len(texts)))
	return c.Embedder.Embed(ctx, texts)
}

type renamed struct {
	Embedder
	name string
}

func (r renamed) Name() string { return r.name }

func TestCacheWarmStartAndRebuild(t *testing.T) {
	root, gitDir := testRepo(t)
	open := func(emb Embedder) *Store {
		s, err := Open(Options{Root: root, GitDir: gitDir, Exp: testExp, Embedder: emb})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for i := 0; i < 20; i++ {
		writeFile(t, filepath.Join(root, "experiments", testExp, "cognition", fmt.Sprintf("n%02d.md", i)),
			fmt.Sprintf("# Note %d\n\nTopic %d about packing circles and scheduling jobs, variant %d.", i, i, i*7))
	}
	search := func(emb *countingEmbedder) []Hit {
		t.Helper()
		res, err := open(emb).Search(ctx, "packing circles variant 21", 5)
		if err != nil {
			t.Fatal(err)
		}
		return res.Hits
	}
	cold := &countingEmbedder{Embedder: NewOffline(0)}
	want := search(cold)
	if cold.texts.Load() != 20+1 {
		t.Fatalf("cold start embedded %d texts, want 20 items and the query", cold.texts.Load())
	}
	cache := cacheFile(filepath.Join(gitDir, "evolve", "cognition", testExp), NewOffline(0).Name())
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache file: %v", err)
	}

	warm := &countingEmbedder{Embedder: NewOffline(0)}
	if got := search(warm); !slices.Equal(titles(got), titles(want)) || got[0].Score != want[0].Score {
		t.Errorf("warm results %v differ from cold %v", titles(got), titles(want))
	}
	if warm.texts.Load() != 1 {
		t.Errorf("warm start embedded %d texts, want the query only", warm.texts.Load())
	}

	// One new item: only it is embedded.
	writeFile(t, filepath.Join(root, "experiments", testExp, "cognition", "new.md"), "# New\n\nSomething new on annealing.")
	one := &countingEmbedder{Embedder: NewOffline(0)}
	search(one)
	if one.texts.Load() != 1+1 {
		t.Errorf("after adding one item %d texts were embedded, want it and the query", one.texts.Load())
	}

	// Another model: its own cache, everything embedded once.
	other := &countingEmbedder{Embedder: renamed{NewOffline(0), "other-model"}}
	search(other)
	if other.texts.Load() != 21+1 {
		t.Errorf("model change embedded %d texts, want 21 items and the query", other.texts.Load())
	}

	// A damaged cache is rebuilt with a warning; deleting it loses nothing.
	if err := os.WriteFile(cache, []byte("GEVEC1\n{\"model\":\""+NewOffline(0).Name()+"\",\"dim\":1024,\"count\":5}\nshort"), 0o644); err != nil {
		t.Fatal(err)
	}
	dmg := &countingEmbedder{Embedder: NewOffline(0)}
	res, err := open(dmg).Search(ctx, "packing circles variant 21", 5)
	if err != nil || dmg.texts.Load() != 21+1 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "truncated or damaged") {
		t.Errorf("damaged cache: embedded %d, warnings %q, %v", dmg.texts.Load(), res.Warnings, err)
	}
	if err := os.RemoveAll(filepath.Join(gitDir, "evolve")); err != nil {
		t.Fatal(err)
	}
	gone := &countingEmbedder{Embedder: NewOffline(0)}
	if got := search(gone); gone.texts.Load() != 21+1 || len(got) != len(want) {
		t.Errorf("after deleting the cache: embedded %d, hits %v", gone.texts.Load(), titles(got))
	}

	// Without a git directory nothing is cached, and nothing fails.
	s, err := Open(Options{Root: root, Exp: testExp})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Search(ctx, "annealing", 1); err != nil || len(res.Hits) != 1 || res.Hits[0].Title != "New" {
		t.Errorf("search without cache = %+v, %v", res, err)
	}
}

func TestEmbedderFailure(t *testing.T) {
	failing := &countingEmbedder{Embedder: renamed{NewOffline(0), "remote"}, fail: errors.New("connection refused")}
	s := newTestStore(t, func(o *Options) { o.Embedder = failing })
	writeFile(t, cogPath(s, "a.md"), "# Annealing\n\nCool slowly.")
	if _, err := s.Search(ctx, "annealing", 3); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Search with a failing embedder: %v", err)
	}

	var warned []string
	s = newTestStore(t, func(o *Options) {
		o.Embedder = failing
		o.OfflineFallback = true
		o.Warn = func(w string) { warned = append(warned, w) }
	})
	writeFile(t, cogPath(s, "a.md"), "# Annealing\n\nCool slowly.")
	res, err := s.Search(ctx, "annealing", 3)
	if err != nil || len(res.Hits) != 1 || res.Embedder != NewOffline(0).Name() {
		t.Fatalf("fallback search = %+v, %v", res, err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "connection refused; searched with the offline embedder instead") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	// The store stays offline: the endpoint is not tried again.
	failing.fail = errors.New("must not be called again")
	if kn, err := s.Retrieve(ctx, testExp, "annealing", 3, 0); err != nil || len(kn) != 1 || len(warned) != 0 {
		t.Errorf("retrieve after the fallback = %+v, %v, warnings %q", kn, err, warned)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newTestStore(t, nil)
	for i := 0; i < 10; i++ {
		writeFile(t, cogPath(s, fmt.Sprintf("%d.md", i)), fmt.Sprintf("# N%d\n\nnote number %d on packing", i, i))
	}
	done := make(chan error)
	for w := 0; w < 4; w++ {
		go func(w int) {
			var err error
			for i := 0; i < 5 && err == nil; i++ {
				if w%2 == 0 {
					_, err = s.Retrieve(ctx, testExp, "packing note", 3, 0)
				} else {
					_, _, err = s.Add(ctx, fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("added by %d, %d", w, i))
				}
			}
			done <- err
		}(w)
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if items, _, _ := s.List(ctx); len(items) != 20 {
		t.Errorf("%d items, want 20", len(items))
	}
}
