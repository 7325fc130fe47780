package gitstore

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/go-git/go-git/v5/plumbing"
)

// A step of the loop lists the candidates several times (to sample, to
// retrieve the Analyzer's lessons) while nothing changed in between. Listing
// 10,000 candidates means reading 10,000 loose refs' names; the memo below
// answers such repeated calls from the last result when a cheap fingerprint
// of what a listing reads is unchanged: the notes ref's value, and the size
// and modification time of the experiment's refs folder and of packed-refs.
// Candidate refs are named by their commit and never change value, so adding
// or removing one changes the folder; a missed change costs one stale
// listing, never data.

type candFingerprint struct {
	notes        plumbing.Hash
	notesOK      bool
	dirMod       time.Time
	dirSize      int64
	dirOK        bool
	packedMod    time.Time
	packedSize   int64
	packedExists bool
}

type candMemo struct {
	fp    candFingerprint
	cands []evolve.Candidate
}

var candMemoMu sync.Mutex

// fingerprint returns what a listing of exp depends on; ok is false for a
// store without a git directory on disk (no memo then).
func (s *Store) fingerprint(exp string) (candFingerprint, bool) {
	if s.gitDir == "" {
		return candFingerprint{}, false
	}
	if _, ok := s.refs.(*diskRefs); !ok {
		return candFingerprint{}, false
	}
	var fp candFingerprint
	h, ok, err := s.refs.read(NotesRef.String())
	if err != nil {
		return fp, false
	}
	fp.notes, fp.notesOK = h, ok
	if fi, err := os.Stat(filepath.Join(s.gitDir, "refs", "evolve", exp)); err == nil {
		fp.dirMod, fp.dirSize, fp.dirOK = fi.ModTime(), fi.Size(), true
	}
	if fi, err := os.Stat(filepath.Join(s.gitDir, "packed-refs")); err == nil {
		fp.packedMod, fp.packedSize, fp.packedExists = fi.ModTime(), fi.Size(), true
	}
	return fp, true
}

// memoized returns a copy of the last listing of exp if its fingerprint is fp.
func (s *Store) memoized(exp string, fp candFingerprint) ([]evolve.Candidate, bool) {
	candMemoMu.Lock()
	defer candMemoMu.Unlock()
	m, ok := s.candMemos[exp]
	if !ok || m.fp != fp {
		return nil, false
	}
	return slices.Clone(m.cands), true
}

func (s *Store) remember(exp string, fp candFingerprint, cands []evolve.Candidate) {
	candMemoMu.Lock()
	defer candMemoMu.Unlock()
	if s.candMemos == nil {
		s.candMemos = map[string]candMemo{}
	}
	s.candMemos[exp] = candMemo{fp: fp, cands: slices.Clone(cands)}
}
