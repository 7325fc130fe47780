// Package cognition is an experiment's knowledge store (DESIGN.md section 8):
// the items the Researcher is shown before it designs a candidate.
//
// # Items
//
// An item has a stable id (ContentID: the first 16 hex digits of the SHA-256
// of its content), a title, its content, a source and its experiment. Items
// come from
//
//   - experiments/<exp>/cognition/*.md, one item per file, title = first
//     markdown heading or else the file name; source "file:<path>". Add and
//     Import write such files, so knowledge is committed like code. Empty
//     and binary files are skipped with a warning.
//   - the Analyzer's lessons, read through a LessonSource (the experiment
//     store); source "lesson:<short candidate id>". They cannot be removed.
//
// Content already held by an item (from any source) is not added again.
//
// # Scores
//
// Search ranks items by
//
//	score = max(v, (v+l)/2)
//
// where v is the cosine similarity of the query's and the item's embeddings
// (clamped to [0,1]) and l is the item's BM25 score normalised to [0,1] by
// min(the query's largest possible BM25, the item's BM25 against its own
// terms) — see lexIndex.score. The score is in [0,1] and never below v:
// shared words raise an item, missing words do not sink one the embedding
// finds close. cognition.retrieval.score_threshold applies to it.
//
// # Embeddings and the cache
//
// With cognition.embedding.model set, texts are embedded by an
// OpenAI-compatible endpoint (cognition.embedding.base_url, else api.base_url;
// key from the variable named by api.key_env). Otherwise the Offline
// embedder is used: hashed words, bigrams and character n-grams, no model
// and no network. Vectors are searched with chromem-go.
//
// Vectors are cached in <gitdir>/evolve/cognition/<exp>/<model>-<hash>.vec,
// keyed by the SHA-256 of the embedded text; a warm start embeds only new
// items. Another model uses another file, a change of dimension rebuilds
// the file, a damaged file is rebuilt with a warning, and deleting it loses
// nothing. The cache is derived data and is never pushed.
//
// The package prints nothing: warnings are returned (or passed to
// Options.Warn by Retrieve), and errors name the file, the item or the
// endpoint involved.
package cognition
