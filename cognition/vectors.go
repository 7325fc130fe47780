package cognition

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	chromem "github.com/philippgille/chromem-go"
)

// The embedding cache is one file per experiment and embedder:
//
//	<gitdir>/evolve/cognition/<exp>/<model>-<hash of model>.vec
//
//	"GEVEC1\n"
//	{"model":"offline-v1-1024","dim":1024,"count":2}\n
//	count × (32-byte SHA-256 of the embedded text, dim little-endian float32)
//
// It holds the vectors of the current items only. A file that does not
// parse, or belongs to another model or dimension, is ignored and rewritten.
const cacheMagic = "GEVEC1\n"

type cacheHeader struct {
	Model string `json:"model"`
	Dim   int    `json:"dim"`
	Count int    `json:"count"`
}

type textKey [sha256.Size]byte

func keyOf(text string) textKey { return sha256.Sum256([]byte(text)) }

func cacheFile(dir, model string) string {
	var b strings.Builder
	for _, r := range model {
		if r < 128 && (r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(model))
	return filepath.Join(dir, b.String()+"-"+hex.EncodeToString(sum[:4])+".vec")
}

// readCache loads the vectors of model from path. A missing file is no error;
// a damaged one is reported so that the caller can warn and rebuild.
func readCache(path, model string) (map[textKey][]float32, int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read cognition cache %s: %w", path, err)
	}
	if !bytes.HasPrefix(data, []byte(cacheMagic)) {
		return nil, 0, fmt.Errorf("cognition cache %s is not a vector cache", path)
	}
	data = data[len(cacheMagic):]
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, 0, fmt.Errorf("cognition cache %s has no header", path)
	}
	var h cacheHeader
	if err := json.Unmarshal(data[:nl], &h); err != nil {
		return nil, 0, fmt.Errorf("cognition cache %s: header: %w", path, err)
	}
	if h.Model != model {
		return nil, 0, nil
	}
	data = data[nl+1:]
	rec := sha256.Size + 4*h.Dim
	if h.Dim <= 0 || h.Count < 0 || len(data) != h.Count*rec {
		return nil, 0, fmt.Errorf("cognition cache %s is truncated or damaged (%d bytes for %d vectors of %d)", path, len(data), h.Count, h.Dim)
	}
	out := make(map[textKey][]float32, h.Count)
	floats := make([]float32, h.Count*h.Dim) // one allocation for all vectors
	for i := 0; i < h.Count; i++ {
		r := data[i*rec : (i+1)*rec]
		var k textKey
		copy(k[:], r)
		v := floats[i*h.Dim : (i+1)*h.Dim : (i+1)*h.Dim]
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(r[sha256.Size+4*j:]))
		}
		out[k] = v
	}
	return out, h.Dim, nil
}

// writeCache replaces path atomically.
func writeCache(path, model string, dim int, vecs map[textKey][]float32) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create cognition cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vec-*")
	if err != nil {
		return fmt.Errorf("write cognition cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<16)
	head, _ := json.Marshal(cacheHeader{Model: model, Dim: dim, Count: len(vecs)})
	w.WriteString(cacheMagic)
	w.Write(head)
	w.WriteByte('\n')
	buf := make([]byte, 4*dim)
	for k, v := range vecs {
		w.Write(k[:])
		for j, x := range v {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write cognition cache %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cognition cache %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write cognition cache: %w", err)
	}
	return nil
}

// vectorIndex holds the vectors of the current items for one embedder, in a
// chromem-go collection for nearest-neighbour search.
type vectorIndex struct {
	emb    Embedder
	path   string // cache file; "" = no cache
	dim    int
	loaded bool
	byKey  map[textKey][]float32 // vectors of the current items' texts (what the cache holds)
	docs   map[string]textKey    // item id -> text in the collection
	vecs   map[string][]float32  // item id -> vector (nil when the text has no terms)
	coll   *chromem.Collection
}

func newVectorIndex(emb Embedder, path string) *vectorIndex {
	return &vectorIndex{emb: emb, path: path, byKey: map[textKey][]float32{}, docs: map[string]textKey{}, vecs: map[string][]float32{}}
}

func newCollection(name string) *chromem.Collection {
	refuse := func(context.Context, string) ([]float32, error) {
		return nil, errors.New("cognition: documents and queries are embedded before they reach chromem")
	}
	c, err := chromem.NewDB().CreateCollection(name, nil, refuse)
	if err != nil {
		panic(err) // only fails on an empty name
	}
	return c
}

// sync makes the index hold exactly items, embedding what neither the index
// nor the cache has. It returns warnings (cache problems, a dimension change).
func (x *vectorIndex) sync(ctx context.Context, items []Item) ([]string, error) {
	var warns []string
	if !x.loaded {
		x.loaded = true
		if x.path != "" {
			vecs, dim, err := readCache(x.path, x.emb.Name())
			if err != nil {
				warns = append(warns, err.Error()+"; rebuilding it")
			} else if vecs != nil {
				x.byKey, x.dim = vecs, dim
			}
		}
	}
	keys := make([]textKey, len(items))
	var missing []int
	for i, it := range items {
		keys[i] = keyOf(it.text())
		if _, ok := x.byKey[keys[i]]; !ok {
			missing = append(missing, i)
		}
	}
	changed := false
	if len(missing) > 0 {
		texts := make([]string, len(missing))
		for j, i := range missing {
			texts[j] = items[i].text()
		}
		vecs, err := x.emb.Embed(ctx, texts)
		if err != nil {
			return warns, err
		}
		if len(vecs) != len(texts) {
			return warns, fmt.Errorf("embedder %s returned %d vectors for %d texts", x.emb.Name(), len(vecs), len(texts))
		}
		if d := len(vecs[0]); x.dim != 0 && d != x.dim {
			return x.rebuild(ctx, items, d, warns)
		}
		x.dim = len(vecs[0])
		for j, i := range missing {
			if len(vecs[j]) != x.dim {
				return warns, fmt.Errorf("embedder %s returned vectors of different lengths (%d and %d)", x.emb.Name(), x.dim, len(vecs[j]))
			}
			x.byKey[keys[i]] = vecs[j]
		}
		changed = true
	}
	// Forget the vectors of items that are gone.
	current := make(map[textKey]bool, len(items))
	for _, k := range keys {
		current[k] = true
	}
	for k := range x.byKey {
		if !current[k] {
			delete(x.byKey, k)
			changed = true
		}
	}
	if err := x.fill(ctx, items, keys); err != nil {
		return warns, err
	}
	if changed && x.path != "" {
		if err := writeCache(x.path, x.emb.Name(), x.dim, x.byKey); err != nil {
			warns = append(warns, err.Error()+" (continuing without it)")
		}
	}
	return warns, nil
}

// rebuild discards every vector and embeds all items again with dimension dim.
func (x *vectorIndex) rebuild(ctx context.Context, items []Item, dim int, warns []string) ([]string, error) {
	warns = append(warns, fmt.Sprintf("embedding dimension of %s changed from %d to %d; cognition cache rebuilt", x.emb.Name(), x.dim, dim))
	// dim 0 accepts whatever the embedder now returns, so a server that keeps
	// changing its mind cannot make this loop.
	x.byKey, x.docs, x.vecs, x.coll, x.dim = map[textKey][]float32{}, map[string]textKey{}, map[string][]float32{}, nil, 0
	more, err := x.sync(ctx, items)
	return append(warns, more...), err
}

// fill updates the collection to the items.
func (x *vectorIndex) fill(ctx context.Context, items []Item, keys []textKey) error {
	if x.coll == nil {
		x.coll = newCollection(x.emb.Name())
	}
	want := make(map[string]bool, len(items))
	var add []chromem.Document
	for i, it := range items {
		want[it.ID] = true
		if k, ok := x.docs[it.ID]; ok && k == keys[i] {
			continue
		}
		if _, ok := x.docs[it.ID]; ok {
			if err := x.coll.Delete(ctx, nil, nil, it.ID); err != nil {
				return fmt.Errorf("vector index: %w", err)
			}
		}
		v := x.byKey[keys[i]]
		x.docs[it.ID] = keys[i]
		if isZero(v) {
			x.vecs[it.ID] = nil // nothing to compare: vector score 0
			continue
		}
		if !isUnit(v) {
			v = append([]float32(nil), v...)
			normalize(v)
		}
		x.vecs[it.ID] = v
		add = append(add, chromem.Document{ID: it.ID, Embedding: v})
	}
	var gone []string
	for id := range x.docs {
		if !want[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		if err := x.coll.Delete(ctx, nil, nil, gone...); err != nil {
			return fmt.Errorf("vector index: %w", err)
		}
		for _, id := range gone {
			delete(x.docs, id)
			delete(x.vecs, id)
		}
	}
	if len(add) > 0 {
		if err := x.coll.AddDocuments(ctx, add, 4); err != nil {
			return fmt.Errorf("vector index: %w", err)
		}
	}
	return nil
}

// nearest returns the cosine similarity of the n items closest to q.
func (x *vectorIndex) nearest(ctx context.Context, q []float32, n int) (map[string]float64, error) {
	out := map[string]float64{}
	count := x.coll.Count()
	if count == 0 || isZero(q) {
		return out, nil
	}
	res, err := x.coll.QueryEmbedding(ctx, q, min(n, count), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	for _, r := range res {
		out[r.ID] = float64(r.Similarity)
	}
	return out, nil
}

// similarity is the cosine of q (unit length) and the vector of item id.
func (x *vectorIndex) similarity(q []float32, id string) float64 {
	v := x.vecs[id]
	if len(v) != len(q) {
		return 0
	}
	var s float32
	for i := range v {
		s += v[i] * q[i]
	}
	return float64(s)
}

func isUnit(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Abs(s-1) < 1e-6
}
