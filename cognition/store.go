package cognition

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

// Options configures Open.
type Options struct {
	Root   string // work tree of the repository
	GitDir string // its git directory; the cache lives in GitDir/evolve/cognition/<exp>/ ("" = no cache)
	Exp    string

	Cognition evolve.CognitionConfig
	API       evolve.APIConfig // base_url, key_env, timeout and retry_times of the embeddings endpoint
	// Getenv reads the variable named by api.key_env (and OPENAI_BASE_URL
	// when no base URL is configured); nil reads nothing.
	Getenv func(string) string

	// Lessons supplies the Analyzer's lessons; nil means none.
	Lessons LessonSource
	// OfflineFallback makes Search and Retrieve use the offline embedder, with
	// a warning, when the configured embeddings endpoint fails. Without it
	// the failure is returned.
	OfflineFallback bool
	// Warn receives the warnings of Retrieve, which cannot return them; nil
	// drops them. Other methods return their warnings.
	Warn func(string)
	// Embedder, when set, replaces the embedder chosen from the configuration.
	Embedder Embedder
	// HTTPClient is used for the embeddings endpoint (default: a client
	// whose timeout is api.timeout, at most a minute).
	HTTPClient *http.Client
}

// Store is an experiment's cognition: the items of its cognition/ folder and
// its lessons, with a lexical index and a vector index per embedder. Its
// methods are safe for concurrent use.
type Store struct {
	opts    Options
	cogDir  string // absolute path of experiments/<exp>/cognition
	relDir  string // the same, repo-relative with slashes
	primary Embedder
	offline *Offline

	mu        sync.Mutex
	loaded    bool
	files     map[string]*fileEntry // by file name in cogDir
	lessonIDs map[string]string     // lesson text -> ContentID, saves hashing again
	items     []Item
	byID      map[string]int
	gen       int                 // bumped when items change
	lexDocs   map[textKey]*lexDoc // by text of the item
	lex       *lexIndex
	vec       map[string]*vectorIndex // by embedder name
	synced    map[string]int          // embedder name -> gen its index holds
	reported  map[string]bool         // warnings already returned
	degraded  bool                    // the endpoint failed: search offline (OfflineFallback)
}

type fileEntry struct {
	size int64
	mod  time.Time
	item *Item  // nil when the file was skipped
	warn string // why it was skipped
}

// Open prepares the store of experiment opts.Exp. It reads nothing yet: the
// items are read by the first method that needs them.
func Open(opts Options) (*Store, error) {
	if err := validExp(opts.Exp); err != nil {
		return nil, err
	}
	if opts.Root == "" {
		return nil, errors.New("cognition: the repository root is empty")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("cognition: repository root %s: %w", opts.Root, err)
	}
	opts.Root = root
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	s := &Store{
		opts:     opts,
		relDir:   path.Join("experiments", opts.Exp, "cognition"),
		offline:  NewOffline(DefaultOfflineDim),
		files:    map[string]*fileEntry{},
		byID:     map[string]int{},
		lexDocs:  map[textKey]*lexDoc{},
		lex:      buildLex(nil),
		vec:      map[string]*vectorIndex{},
		synced:   map[string]int{},
		reported: map[string]bool{},
	}
	s.cogDir = filepath.Join(opts.Root, filepath.FromSlash(s.relDir))
	switch {
	case opts.Embedder != nil:
		s.primary = opts.Embedder
	case opts.Cognition.Embedding.Model != "":
		base := opts.Cognition.Embedding.BaseURL
		if base == "" {
			base = opts.API.BaseURL
		}
		if base == "" {
			base = opts.Getenv("OPENAI_BASE_URL")
		}
		key := ""
		if opts.API.KeyEnv != "" {
			key = opts.Getenv(opts.API.KeyEnv)
		}
		// api.timeout is sized for chat completions; an embeddings call
		// that takes over a minute is a dead endpoint.
		timeout := time.Minute
		if t := opts.API.Timeout.D(); t > 0 && t < timeout {
			timeout = t
		}
		s.primary = NewOpenAIEmbedder(OpenAIOptions{Model: opts.Cognition.Embedding.Model, BaseURL: base, Key: key,
			HTTPClient: opts.HTTPClient, Timeout: timeout, Retries: opts.API.RetryTimes})
	default:
		s.primary = s.offline
	}
	return s, nil
}

func validExp(exp string) error {
	if exp == "" {
		return errors.New("cognition: the experiment name is empty (give it with -e)")
	}
	if exp == "." || exp == ".." || strings.ContainsAny(exp, `/\`) || strings.HasPrefix(exp, ".") {
		return fmt.Errorf("cognition: %q is not an experiment name (a folder name under experiments/)", exp)
	}
	return nil
}

// Exp is the experiment of the store.
func (s *Store) Exp() string { return s.opts.Exp }

// Dir is the repo-relative folder of the experiment's cognition files.
func (s *Store) Dir() string { return s.relDir }

// Embedder is the embedder chosen from the configuration.
func (s *Store) Embedder() Embedder { return s.primary }

// Refresh reads the cognition files (again; unchanged files are not re-read)
// and the lessons. It returns warnings about skipped files.
func (s *Store) Refresh(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh(ctx)
}

// List returns the items: files by name, then lessons oldest first.
func (s *Store) List(ctx context.Context) ([]Item, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	warns, err := s.ensureLoaded(ctx)
	if err != nil {
		return nil, warns, err
	}
	return append([]Item(nil), s.items...), warns, nil
}

func (s *Store) ensureLoaded(ctx context.Context) ([]string, error) {
	if s.loaded {
		return nil, nil
	}
	return s.refresh(ctx)
}

func (s *Store) refresh(ctx context.Context) ([]string, error) {
	var warns []string
	files, err := s.scanFiles()
	if err != nil {
		return nil, err
	}
	var lessons []Lesson
	if s.opts.Lessons != nil {
		lessons, err = s.opts.Lessons.Lessons(ctx, s.opts.Exp)
		if err != nil {
			return nil, fmt.Errorf("read the lessons of experiment %s: %w", s.opts.Exp, err)
		}
	}
	sort.SliceStable(lessons, func(i, j int) bool {
		a, b := lessons[i], lessons[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.Candidate != b.Candidate {
			return a.Candidate < b.Candidate
		}
		return a.Text < b.Text
	})

	items := make([]Item, 0, len(files)+len(lessons))
	byID := make(map[string]int, cap(items))
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fe := files[name]
		if fe.item == nil {
			warns = append(warns, fe.warn)
			continue
		}
		if j, dup := byID[fe.item.ID]; dup {
			warns = append(warns, fmt.Sprintf("cognition file %s has the same content as %s; skipped", fe.item.Path, items[j].Path))
			continue
		}
		byID[fe.item.ID] = len(items)
		items = append(items, *fe.item)
	}
	lessonIDs := make(map[string]string, len(lessons))
	for _, l := range lessons {
		content := normalizeContent(l.Text)
		if content == "" || l.Candidate == "" {
			continue
		}
		id, ok := s.lessonIDs[content]
		if !ok {
			id = ContentID(content)
		}
		lessonIDs[content] = id
		it := Item{ID: id, Title: "Lesson from " + shortID(l.Candidate), Content: content,
			Source: "lesson:" + shortID(l.Candidate), Exp: s.opts.Exp, Candidate: l.Candidate, At: l.At}
		if _, dup := byID[it.ID]; dup {
			continue // the same lesson learnt twice, or already written down
		}
		byID[it.ID] = len(items)
		items = append(items, it)
	}

	s.files, s.lessonIDs = files, lessonIDs
	if !sameItems(s.items, items) || !s.loaded {
		s.setItems(items, byID)
	}
	s.loaded = true
	return s.fresh(warns), nil
}

// fresh drops warnings that were already returned once.
func (s *Store) fresh(warns []string) []string {
	var out []string
	for _, w := range warns {
		if !s.reported[w] {
			s.reported[w] = true
			out = append(out, w)
		}
	}
	return out
}

func sameItems(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Title != b[i].Title || a[i].Source != b[i].Source {
			return false
		}
	}
	return true
}

func (s *Store) setItems(items []Item, byID map[string]int) {
	docs := make([]*lexDoc, len(items))
	keep := make(map[textKey]*lexDoc, len(items))
	keys := make([]textKey, len(items))
	var todo []int
	for i, it := range items {
		keys[i] = keyOf(it.text())
		if d := s.lexDocs[keys[i]]; d != nil {
			docs[i], keep[keys[i]] = d, d
		} else {
			todo = append(todo, i)
		}
	}
	// Tokenise the new items on all processors (a cold start of 10,000).
	workers := min(runtime.GOMAXPROCS(0), (len(todo)+63)/64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(todo); j += workers {
				docs[todo[j]] = newLexDoc(items[todo[j]].text())
			}
		}()
	}
	wg.Wait()
	for _, i := range todo {
		keep[keys[i]] = docs[i]
	}
	s.items, s.byID, s.lexDocs = items, byID, keep
	s.lex = buildLex(docs)
	s.gen++
}

// scanFiles reads the *.md files of the cognition folder, reusing the
// entries of files whose size and modification time did not change.
func (s *Store) scanFiles() (map[string]*fileEntry, error) {
	out := map[string]*fileEntry{}
	entries, err := os.ReadDir(s.cogDir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cognition folder %s: %w", s.relDir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), ".md") {
			continue
		}
		rel := path.Join(s.relDir, name)
		full := filepath.Join(s.cogDir, name)
		info, err := os.Stat(full)
		if err != nil {
			out[name] = &fileEntry{warn: fmt.Sprintf("cognition file %s: %v; skipped", rel, err)}
			continue
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if fe := s.files[name]; fe != nil && fe.size == info.Size() && fe.mod.Equal(info.ModTime()) {
			out[name] = fe
			continue
		}
		out[name] = s.readFile(full, rel, name, info)
	}
	return out, nil
}

func (s *Store) readFile(full, rel, name string, info fs.FileInfo) *fileEntry {
	fe := &fileEntry{size: info.Size(), mod: info.ModTime()}
	data, err := os.ReadFile(full)
	switch {
	case err != nil:
		fe.warn = fmt.Sprintf("cognition file %s: %v; skipped", rel, err)
		return fe
	case isBinary(data):
		fe.warn = fmt.Sprintf("cognition file %s is not UTF-8 text; skipped", rel)
		return fe
	}
	title, content := parseMarkdown(string(data), strings.TrimSuffix(name, filepath.Ext(name)))
	if content == "" {
		fe.warn = fmt.Sprintf("cognition file %s is empty; skipped", rel)
		return fe
	}
	fe.item = &Item{ID: ContentID(content), Title: title, Content: content, Source: "file:" + rel,
		Exp: s.opts.Exp, Path: rel}
	return fe
}

// AddResult is what Add did.
type AddResult struct {
	Item      Item
	Path      string // repo-relative path of the file written ("" for a duplicate)
	Duplicate bool   // an item with the same content exists; nothing was written
}

// Add writes a new item as experiments/<exp>/cognition/<slug of title>.md
// ("# title", a blank line, the content), so that knowledge is versioned
// with the code. An empty title is taken from the content's first heading or
// line. Content that an item already has is not written again.
func (s *Store) Add(ctx context.Context, title, content string) (AddResult, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	warns, err := s.refresh(ctx)
	if err != nil {
		return AddResult{}, warns, err
	}
	res, err := s.write(title, content, nil)
	if err != nil || res.Duplicate {
		return res, warns, err
	}
	more, err := s.refresh(ctx)
	warns = append(warns, more...)
	if err != nil {
		return res, warns, err
	}
	if i, ok := s.byID[res.Item.ID]; ok {
		res.Item = s.items[i]
	}
	return res, warns, nil
}

// write creates the file of one item unless its content is already known
// (in the store or in pending, the items written by this import so far).
func (s *Store) write(title, content string, pending map[string]Item) (AddResult, error) {
	text, gotTitle, gotContent, err := fileItem(title, content)
	if err != nil {
		return AddResult{}, err
	}
	it := Item{ID: ContentID(gotContent), Title: gotTitle, Content: gotContent, Exp: s.opts.Exp}
	if i, ok := s.byID[it.ID]; ok {
		return AddResult{Item: s.items[i], Duplicate: true}, nil
	}
	if p, ok := pending[it.ID]; ok {
		return AddResult{Item: p, Duplicate: true}, nil
	}
	if err := os.MkdirAll(s.cogDir, 0o755); err != nil {
		return AddResult{}, fmt.Errorf("create cognition folder %s: %w", s.relDir, err)
	}
	stem := slug(gotTitle)
	for n := 1; ; n++ {
		name := stem + ".md"
		if n > 1 {
			name = fmt.Sprintf("%s-%d.md", stem, n)
		}
		f, err := os.OpenFile(filepath.Join(s.cogDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return AddResult{}, fmt.Errorf("write cognition file %s: %w", path.Join(s.relDir, name), err)
		}
		_, werr := f.WriteString(text)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		rel := path.Join(s.relDir, name)
		if werr != nil {
			os.Remove(f.Name())
			return AddResult{}, fmt.Errorf("write cognition file %s: %w", rel, werr)
		}
		it.Path, it.Source = rel, "file:"+rel
		if pending != nil {
			pending[it.ID] = it
		}
		return AddResult{Item: it, Path: rel}, nil
	}
}

// Remove deletes the file of an item, named by its id, a unique prefix of
// its id (4 characters at least), or its path (repo-relative, absolute, or
// a file name in the cognition folder). Lessons are part of the candidates'
// records and cannot be removed. Removing an id that is unknown or ambiguous
// is an error.
func (s *Store) Remove(ctx context.Context, ref string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Item{}, errors.New("cognition rm: give an item id or file")
	}
	if _, err := s.refresh(ctx); err != nil {
		return Item{}, err
	}
	it, file, err := s.resolve(ref)
	if err != nil {
		return Item{}, err
	}
	if err := os.Remove(file); err != nil {
		return Item{}, fmt.Errorf("remove cognition file: %w", err)
	}
	if _, err := s.refresh(ctx); err != nil {
		return it, err
	}
	return it, nil
}

func (s *Store) resolve(ref string) (Item, string, error) {
	// A path?
	for _, cand := range []string{ref, filepath.Join(s.opts.Root, filepath.FromSlash(ref)), filepath.Join(s.cogDir, filepath.FromSlash(ref))} {
		if !filepath.IsAbs(cand) {
			continue
		}
		rel, err := filepath.Rel(s.cogDir, filepath.Clean(cand))
		if err != nil || filepath.Dir(rel) != "." || rel == "." {
			continue
		}
		if fe, ok := s.files[rel]; ok {
			// A skipped (empty or binary) file has no id but can be removed.
			it := Item{Path: path.Join(s.relDir, rel), Source: "file:" + path.Join(s.relDir, rel), Exp: s.opts.Exp}
			if fe.item != nil {
				it = *fe.item
			}
			return it, filepath.Join(s.cogDir, rel), nil
		}
	}
	// An id or a prefix of one.
	p := strings.ToLower(ref)
	if len(p) < 4 || strings.Trim(p, "0123456789abcdef") != "" {
		return Item{}, "", fmt.Errorf("no cognition file %q in %s, and it is not an item id (4 or more hex digits); see `git evolve cognition list -e %s`", ref, s.relDir, s.opts.Exp)
	}
	var found []Item
	for _, it := range s.items {
		if strings.HasPrefix(it.ID, p) {
			found = append(found, it)
		}
	}
	switch {
	case len(found) == 0:
		return Item{}, "", fmt.Errorf("no cognition item %q in experiment %s; see `git evolve cognition list -e %s`", ref, s.opts.Exp, s.opts.Exp)
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, it := range found {
			ids[i] = it.ID
		}
		return Item{}, "", fmt.Errorf("cognition item id %q is ambiguous (%s); give more digits", ref, strings.Join(ids, ", "))
	case found[0].IsLesson():
		return Item{}, "", fmt.Errorf("cognition item %s is a lesson recorded on candidate %s; lessons are part of the record and cannot be removed", found[0].ID, shortID(found[0].Candidate))
	}
	return found[0], filepath.Join(s.opts.Root, filepath.FromSlash(found[0].Path)), nil
}

// Hit is one search result.
type Hit struct {
	Item
	Score   float64 // combined score in [0,1] (see the package comment)
	Vector  float64 // cosine similarity of the embeddings, clamped to [0,1]
	Lexical float64 // normalised BM25 in [0,1]
}

// SearchResult is what Search found.
type SearchResult struct {
	Hits     []Hit
	Embedder string // name of the embedder that scored the query
	Warnings []string
}

// Search returns the k items most relevant to query, best first (k <= 0
// means cognition.retrieval.top_k). Items are read on the first call; call
// Refresh to see later changes made by others. When the embeddings endpoint
// fails the error is returned, or, with Options.OfflineFallback, a warning
// says so and the offline embedder is used by this and every later search
// of the store.
func (s *Store) Search(ctx context.Context, query string, k int) (SearchResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	warns, err := s.ensureLoaded(ctx)
	if err != nil {
		return SearchResult{Warnings: warns}, err
	}
	if k <= 0 {
		k = s.opts.Cognition.Retrieval.TopK
	}
	if k <= 0 {
		k = 3
	}
	res, err := s.search(ctx, query, k)
	res.Warnings = append(warns, res.Warnings...)
	return res, err
}

// Retrieve implements evolve.Retriever: it reads the items again (so lessons
// recorded by the previous step are seen), and returns at most k items
// (none when k <= 0) whose score is at least threshold, best first, each
// once. Warnings go to Options.Warn.
func (s *Store) Retrieve(ctx context.Context, exp, query string, k int, threshold float64) ([]evolve.Knowledge, error) {
	if exp != s.opts.Exp {
		return nil, fmt.Errorf("cognition store of experiment %s asked for experiment %s", s.opts.Exp, exp)
	}
	if k <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	warns, err := s.refresh(ctx)
	if err != nil {
		s.warn(warns)
		return nil, err
	}
	res, err := s.search(ctx, query, k)
	s.warn(append(warns, res.Warnings...))
	if err != nil {
		return nil, err
	}
	var out []evolve.Knowledge
	for _, h := range res.Hits {
		if h.Score < threshold {
			break
		}
		out = append(out, evolve.Knowledge{ID: h.ID, Title: h.Title, Content: h.Content, Source: h.Source, Score: h.Score})
	}
	return out, nil
}

func (s *Store) warn(warns []string) {
	if s.opts.Warn == nil {
		return
	}
	for _, w := range warns {
		s.opts.Warn(w)
	}
}

var _ evolve.Retriever = (*Store)(nil)

// search scores the candidates of both indexes; s.mu is held.
func (s *Store) search(ctx context.Context, query string, k int) (SearchResult, error) {
	res := SearchResult{Embedder: s.primary.Name()}
	if strings.TrimSpace(query) == "" || len(s.items) == 0 {
		return res, nil
	}
	emb := s.primary
	if s.degraded {
		emb = s.offline
	}
	res.Embedder = emb.Name()
	x, q, err := s.embedQuery(ctx, emb, query, &res.Warnings)
	if err != nil && s.opts.OfflineFallback && emb != Embedder(s.offline) && ctx.Err() == nil {
		// Stay offline from now on: a dead endpoint would otherwise cost a
		// timeout at every step of a run.
		s.degraded = true
		res.Warnings = append(res.Warnings, fmt.Sprintf("%v; searched with the offline embedder instead (for the rest of this run)", err))
		res.Embedder = s.offline.Name()
		x, q, err = s.embedQuery(ctx, s.offline, query, &res.Warnings)
	}
	if err != nil {
		return res, err
	}

	// Candidates: the m nearest by vector and the m best by BM25. An item
	// in neither list scores below both lists' last entries in both
	// components, so with m well above k the top k are exact in practice.
	m := max(50, 5*k)
	vecScores, err := x.nearest(ctx, q, m)
	if err != nil {
		return res, err
	}
	lexScores := s.lex.score(query)
	type docScore struct {
		doc   int
		score float64
	}
	var lexTop []docScore
	for d, l := range lexScores {
		if l > 0 {
			lexTop = append(lexTop, docScore{d, l})
		}
	}
	slices.SortFunc(lexTop, func(a, b docScore) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.doc, b.doc)
	})
	if len(lexTop) > m {
		lexTop = lexTop[:m]
	}
	cands := make(map[int]bool, len(vecScores)+len(lexTop))
	for id := range vecScores {
		cands[s.byID[id]] = true
	}
	for _, d := range lexTop {
		cands[d.doc] = true
	}
	hits := make([]Hit, 0, len(cands))
	for i := range cands {
		it := s.items[i]
		v, ok := vecScores[it.ID]
		if !ok {
			v = x.similarity(q, it.ID)
		}
		v = math.Max(0, math.Min(1, v))
		l := lexScores[i]
		if v == 0 && l == 0 {
			continue
		}
		hits = append(hits, Hit{Item: it, Score: combine(v, l), Vector: v, Lexical: l})
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	res.Hits = hits
	return res, nil
}

// combine is the score of an item: max(v, (v+l)/2). Agreement of the words
// raises an item above its vector similarity; their absence never pulls a
// semantically close item below it.
func combine(v, l float64) float64 { return math.Max(v, (v+l)/2) }

// embedQuery brings the index of emb up to date with the items and embeds
// the query; a query vector of another dimension than the index (the model
// changed behind the same name) rebuilds the index.
func (s *Store) embedQuery(ctx context.Context, emb Embedder, query string, warns *[]string) (*vectorIndex, []float32, error) {
	x := s.vec[emb.Name()]
	if x == nil {
		p := ""
		if s.opts.GitDir != "" {
			p = cacheFile(filepath.Join(s.opts.GitDir, "evolve", "cognition", s.opts.Exp), emb.Name())
		}
		x = newVectorIndex(emb, p)
		s.vec[emb.Name()] = x
	}
	if s.synced[emb.Name()] != s.gen || x.coll == nil {
		w, err := x.sync(ctx, s.items)
		*warns = append(*warns, s.fresh(w)...)
		if err != nil {
			return nil, nil, err
		}
		s.synced[emb.Name()] = s.gen
	}
	var q []float32
	if o, ok := emb.(*Offline); ok {
		q = o.EmbedQuery(query, s.lex.idf)
	} else {
		vecs, err := emb.Embed(ctx, []string{query})
		if err != nil {
			return nil, nil, err
		}
		if len(vecs) != 1 {
			return nil, nil, fmt.Errorf("embedder %s returned %d vectors for one query", emb.Name(), len(vecs))
		}
		q = append([]float32(nil), vecs[0]...)
		normalize(q)
	}
	if x.dim != 0 && len(q) != x.dim {
		w, err := x.rebuild(ctx, s.items, len(q), nil)
		*warns = append(*warns, s.fresh(w)...)
		if err != nil {
			return nil, nil, err
		}
	}
	return x, q, nil
}

// BuildQuery makes the retrieval query of a step: the parent's analysis and
// motivation first (they are the most specific), then the problem statement.
func BuildQuery(problem, motivation, analysis string) string {
	var parts []string
	for _, p := range []string{analysis, motivation, problem} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "\n\n")
}
