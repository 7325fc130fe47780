package cognition

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

const testKey = "sk-test-secret-0123456789"

// remoteStore opens a store of root that embeds with model on the fake server.
func remoteStore(t *testing.T, root, gitDir string, srv *fakeopenai.Server, mod func(*Options)) *Store {
	t.Helper()
	opts := Options{Root: root, GitDir: gitDir, Exp: testExp,
		Cognition: evolve.CognitionConfig{Embedding: evolve.EmbeddingConfig{Model: "text-embedding-3-small"}},
		API:       evolve.APIConfig{BaseURL: srv.URL(), KeyEnv: "MY_KEY", Timeout: evolve.Duration(10 * time.Second)},
		Getenv: func(k string) string {
			if k == "MY_KEY" {
				return testKey
			}
			return ""
		},
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeNotes(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "experiments", testExp, "cognition")
	writeFile(t, filepath.Join(dir, "anneal.md"), "# Annealing\n\nCool the temperature slowly to escape local minima.")
	writeFile(t, filepath.Join(dir, "kahan.md"), "# Kahan\n\nCompensated summation keeps the lost low-order bits.")
	writeFile(t, filepath.Join(dir, "tiles.md"), "# Tiling\n\nShared memory tiles make matrix multiplication compute bound.")
}

func cacheDim(t *testing.T, gitDir, model string) int {
	t.Helper()
	_, dim, err := readCache(cacheFile(filepath.Join(gitDir, "evolve", "cognition", testExp), model), model)
	if err != nil {
		t.Fatal(err)
	}
	return dim
}

func TestOpenAIEmbeddings(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.RequireKey(testKey)
	root, gitDir := testRepo(t)
	writeNotes(t, root)

	s := remoteStore(t, root, gitDir, srv, nil)
	res, err := s.Search(ctx, "temperature of annealing", 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Embedder != "text-embedding-3-small" || len(res.Hits) == 0 || res.Hits[0].Title != "Annealing" || res.Hits[0].Vector <= 0 {
		t.Fatalf("search = %+v", res)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (items, query)", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != "POST" || r.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer "+testKey ||
			r.Embedding == nil || r.Embedding.Model != "text-embedding-3-small" {
			t.Errorf("request %d = %s %s %+v", i, r.Method, r.Path, r.Embedding)
		}
	}
	if n := len(reqs[0].Embedding.Input); n != 3 {
		t.Errorf("first request embeds %d texts, want the 3 items", n)
	}
	if got := reqs[1].Embedding.Input; len(got) != 1 || got[0] != "temperature of annealing" {
		t.Errorf("query request input = %q", got)
	}
	if d := cacheDim(t, gitDir, "text-embedding-3-small"); d != fakeopenai.DefaultDimension {
		t.Errorf("cached dimension %d, want %d", d, fakeopenai.DefaultDimension)
	}

	// Warm start: only the query is sent.
	s2 := remoteStore(t, root, gitDir, srv, nil)
	if _, err := s2.Search(ctx, "summation", 1); err != nil {
		t.Fatal(err)
	}
	if reqs := srv.Requests(); len(reqs) != 3 || len(reqs[2].Embedding.Input) != 1 {
		t.Errorf("warm start sent %d requests in all", len(reqs))
	}
}

func TestEmbeddingBaseURLOverridesAPI(t *testing.T) {
	srv := fakeopenai.New(t)
	root, gitDir := testRepo(t)
	writeNotes(t, root)
	s := remoteStore(t, root, gitDir, srv, func(o *Options) {
		o.API.BaseURL = "http://127.0.0.1:1/v1" // nothing listens there
		o.Cognition.Embedding.BaseURL = srv.URL()
	})
	if _, err := s.Search(ctx, "tiles", 1); err != nil {
		t.Fatal(err)
	}
	if len(srv.Requests()) != 2 {
		t.Errorf("requests = %d", len(srv.Requests()))
	}
}

func TestOpenAIFailureAndFallback(t *testing.T) {
	srv := fakeopenai.New(t)
	root, gitDir := testRepo(t)
	writeNotes(t, root)

	srv.EnqueueEmbeddings(fakeopenai.Response{Status: 500, ErrorMessage: "model overloaded"})
	s := remoteStore(t, root, gitDir, srv, nil)
	_, err := s.Search(ctx, "annealing", 2)
	if err == nil {
		t.Fatal("search succeeded with a failing endpoint")
	}
	msg := err.Error()
	for _, want := range []string{"embeddings request to " + srv.URL(), `(model "text-embedding-3-small")`, "model overloaded", "unset cognition.embedding.model"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, testKey) {
		t.Errorf("error reveals the key: %q", msg)
	}

	// A wrong key: 401, and the key is not in the message either.
	srv.RequireKey("sk-other")
	_, err = remoteStore(t, root, gitDir, srv, nil).Search(ctx, "annealing", 2)
	if err == nil || strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}

	// With the fallback the offline embedder answers, with a warning.
	fb := remoteStore(t, root, gitDir, srv, func(o *Options) { o.OfflineFallback = true })
	res, err := fb.Search(ctx, "annealing temperature", 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Embedder != NewOffline(0).Name() || len(res.Hits) == 0 || res.Hits[0].Title != "Annealing" {
		t.Errorf("fallback result = %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "searched with the offline embedder instead") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestOpenAIRetriesServerErrors(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.EnqueueEmbeddings(fakeopenai.Response{Status: 503}, fakeopenai.Response{Status: 429})
	e := NewOpenAIEmbedder(OpenAIOptions{Model: "m", BaseURL: srv.URL(), Retries: 2})
	var slept []time.Duration
	e.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	vecs, err := e.Embed(ctx, []string{"a b", "c"})
	if err != nil || len(vecs) != 2 || len(vecs[0]) != fakeopenai.DefaultDimension {
		t.Fatalf("Embed = %d vectors, %v", len(vecs), err)
	}
	if len(slept) != 2 || slept[1] <= slept[0] {
		t.Errorf("backoff = %v", slept)
	}

	// A client error is not retried.
	srv.EnqueueEmbeddings(fakeopenai.Response{Status: 400, ErrorMessage: "bad input"})
	if _, err := e.Embed(ctx, []string{"x"}); err == nil || !strings.Contains(err.Error(), "bad input") {
		t.Errorf("400: %v", err)
	}
	if len(slept) != 2 {
		t.Errorf("a 400 was retried")
	}

	// A reply with the wrong number of vectors is an error, not a panic.
	srv.EnqueueEmbeddings(fakeopenai.Response{Body: `{"object":"list","data":[],"model":"m","usage":{}}`})
	if _, err := e.Embed(ctx, []string{"x"}); err == nil || !strings.Contains(err.Error(), "returned 0 vectors for 1 texts") {
		t.Errorf("short reply: %v", err)
	}
}

func TestDimensionChangeRebuildsCache(t *testing.T) {
	srv := fakeopenai.New(t)
	root, gitDir := testRepo(t)
	writeNotes(t, root)
	const model = "text-embedding-3-small"

	if _, err := remoteStore(t, root, gitDir, srv, nil).Search(ctx, "annealing", 1); err != nil {
		t.Fatal(err)
	}
	if d := cacheDim(t, gitDir, model); d != 64 {
		t.Fatalf("dimension %d", d)
	}

	// The model behind the same name now answers 32 dimensions: the cached
	// vectors do not fit the query, the cache is rebuilt.
	srv.SetEmbedder(32, nil)
	res, err := remoteStore(t, root, gitDir, srv, nil).Search(ctx, "annealing temperature", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].Title != "Annealing" {
		t.Errorf("hits = %+v", res.Hits)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "changed from 64 to 32; cognition cache rebuilt") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if d := cacheDim(t, gitDir, model); d != 32 {
		t.Errorf("cache dimension %d after the change, want 32", d)
	}

	// Same when the change shows on new items rather than on the query.
	srv.SetEmbedder(16, nil)
	writeFile(t, filepath.Join(root, "experiments", testExp, "cognition", "new.md"), "# New\n\nNewton damping.")
	res, err = remoteStore(t, root, gitDir, srv, nil).Search(ctx, "newton damping", 1)
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Title != "New" {
		t.Fatalf("search = %+v, %v", res, err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "changed from 32 to 16") || cacheDim(t, gitDir, model) != 16 {
		t.Errorf("warnings = %q, cache dimension %d", res.Warnings, cacheDim(t, gitDir, model))
	}
	entries, _ := os.ReadDir(filepath.Join(gitDir, "evolve", "cognition", testExp))
	if len(entries) != 1 {
		t.Errorf("cache folder holds %d files, want 1", len(entries))
	}
}
