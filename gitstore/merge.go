package gitstore

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// MergeNotesRefs merges the notes of ref theirs into ref ours the way
// `git notes merge -s cat_sort_uniq` does, so that nothing either side
// recorded is lost:
//
//   - theirs missing or already contained in ours: nothing changes;
//   - ours missing or an ancestor of theirs: ours fast-forwards to theirs;
//   - otherwise a three-way merge against their merge base (the empty tree
//     when they share no history): a note changed on one side only takes
//     that side's version, a note changed on both takes the sorted union of
//     both versions' lines; the result is a merge commit whose parents are
//     ours then theirs, and ours moves to it.
//
// Both refs are read and ours is updated with compare-and-swap under the
// notes lock; on a lost race the merge is redone. The resulting tree is the
// one git computes from the same inputs.
func (s *Store) MergeNotesRefs(ctx context.Context, ours, theirs plumbing.ReferenceName) error {
	unlock, err := s.lockNotes(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.tryMergeNotes(ctx, ours, theirs)
		if !errors.Is(err, errRefChanged) || attempt >= casRetries {
			if err != nil {
				return fmt.Errorf("merge notes %s into %s: %w", theirs, ours, err)
			}
			return nil
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

func (s *Store) tryMergeNotes(ctx context.Context, ours, theirs plumbing.ReferenceName) error {
	theirsH, ok, err := s.refs.read(theirs.String())
	if err != nil || !ok {
		return err
	}
	oursH, ok, err := s.refs.read(ours.String())
	if err != nil {
		return err
	}
	if !ok {
		return s.refs.update(ours.String(), theirsH, plumbing.ZeroHash)
	}
	if oursH == theirsH {
		return nil
	}
	mb, err := s.mergeBase(ctx, oursH, theirsH)
	if err != nil {
		return err
	}
	switch {
	case mb.theirsInOurs:
		return nil
	case mb.oursInTheirs:
		return s.refs.update(ours.String(), theirsH, oursH)
	}
	var baseTree plumbing.Hash
	if !mb.base.IsZero() {
		c, err := s.readCommit(mb.base)
		if err != nil {
			return err
		}
		baseTree = c.TreeHash
	}
	oc, err := s.readCommit(oursH)
	if err != nil {
		return err
	}
	tc, err := s.readCommit(theirsH)
	if err != nil {
		return err
	}
	t, err := s.mergeNotesTrees(baseTree, oc.TreeHash, tc.TreeHash)
	if err != nil {
		return err
	}
	tree, err := t.write()
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Merged notes from %s into %s\n", theirs, ours)
	return s.commitNotesTree(ours, tree, []plumbing.Hash{oursH, theirsH}, oursH, msg)
}

// mergeNotesTrees applies to ours the changes theirs made since base,
// combining the notes both changed with cat_sort_uniq.
func (s *Store) mergeNotesTrees(base, ours, theirs plumbing.Hash) (*notesTree, error) {
	ourChanges, err := diffNotes(s, base, ours)
	if err != nil {
		return nil, err
	}
	theirChanges, err := diffNotes(s, base, theirs)
	if err != nil {
		return nil, err
	}
	t, err := loadNotesTree(s, ours)
	if err != nil {
		return nil, err
	}
	for key, blobs := range theirChanges {
		theirBlob, err := s.singleBlob(theirs, key, blobs)
		if err != nil {
			return nil, err
		}
		ourBlobs, bothChanged := ourChanges[key]
		if !bothChanged {
			if err := t.set(key, theirBlob); err != nil {
				return nil, err
			}
			continue
		}
		ourBlob, err := s.singleBlob(ours, key, ourBlobs)
		if err != nil {
			return nil, err
		}
		if ourBlob == theirBlob {
			continue
		}
		// Conflict: union of the lines. A side that deleted the note
		// contributes nothing (git then keeps the other side's lines,
		// sorted, or theirs as is when ours has no note).
		if ourBlob.IsZero() {
			if err := t.set(key, theirBlob); err != nil {
				return nil, err
			}
			continue
		}
		var parts [][]byte
		for _, b := range []plumbing.Hash{ourBlob, theirBlob} {
			if b.IsZero() {
				continue
			}
			data, err := s.readBlob(b)
			if err != nil {
				return nil, err
			}
			parts = append(parts, data)
		}
		merged, err := s.writeBlob(catSortUniq(parts...))
		if err != nil {
			return nil, err
		}
		if err := t.set(key, merged); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// singleBlob returns key's note in tree as one blob: the changed-blob list
// of a diff, confirmed in the tree when the diff saw the note disappear
// from one place (it may live on at another depth), joined when the tree
// holds several.
func (s *Store) singleBlob(tree, key plumbing.Hash, blobs []plumbing.Hash) (plumbing.Hash, error) {
	if len(blobs) == 0 {
		var err error
		if blobs, err = noteBlobs(s, tree, key, nil); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	switch len(blobs) {
	case 0:
		return plumbing.ZeroHash, nil
	case 1:
		return blobs[0], nil
	}
	data, err := s.joinBlobs(blobs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return s.writeBlob(data)
}

// mergeBaseResult says how two commits relate.
type mergeBaseResult struct {
	base         plumbing.Hash // a best common ancestor; zero when none
	theirsInOurs bool          // theirs is an ancestor of ours (or equal)
	oursInTheirs bool          // ours is an ancestor of theirs
}

// mergeBase walks back from both commits, newest first, painting what each
// reaches, until every commit still queued lies below a common ancestor
// (git's paint-down-to-common). The walk costs what the histories diverge,
// not their length.
func (s *Store) mergeBase(ctx context.Context, ours, theirs plumbing.Hash) (mergeBaseResult, error) {
	const (
		fromOurs   = 1
		fromTheirs = 2
		stale      = 4
	)
	flags := map[plumbing.Hash]uint8{}
	q := &commitQueue{}
	push := func(h plumbing.Hash) error {
		c, err := s.readCommit(h)
		if err != nil {
			return err
		}
		heap.Push(q, queued{hash: h, when: c.Committer.When, parents: c.ParentHashes})
		return nil
	}
	flags[ours] |= fromOurs
	flags[theirs] |= fromTheirs
	if err := push(ours); err != nil {
		return mergeBaseResult{}, err
	}
	if err := push(theirs); err != nil {
		return mergeBaseResult{}, err
	}
	var commons []plumbing.Hash
	for q.hasNonStale(flags, stale) {
		if err := ctx.Err(); err != nil {
			return mergeBaseResult{}, err
		}
		it := heap.Pop(q).(queued)
		f := flags[it.hash]
		if f&(fromOurs|fromTheirs) == fromOurs|fromTheirs && f&stale == 0 {
			commons = append(commons, it.hash)
			f |= stale
			flags[it.hash] = f
		}
		for _, p := range it.parents {
			if flags[p]&f == f {
				continue
			}
			flags[p] |= f
			if err := push(p); err != nil {
				return mergeBaseResult{}, err
			}
		}
	}
	r := mergeBaseResult{
		theirsInOurs: flags[theirs]&fromOurs != 0,
		oursInTheirs: flags[ours]&fromTheirs != 0,
	}
	if len(commons) > 0 {
		r.base = commons[0]
	}
	return r, nil
}

type queued struct {
	hash    plumbing.Hash
	when    time.Time
	parents []plumbing.Hash
}

// commitQueue is a max-heap of commits by committer time.
type commitQueue []queued

func (q commitQueue) Len() int           { return len(q) }
func (q commitQueue) Less(i, j int) bool { return q[i].when.After(q[j].when) }
func (q commitQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)        { *q = append(*q, x.(queued)) }
func (q *commitQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

func (q commitQueue) hasNonStale(flags map[plumbing.Hash]uint8, stale uint8) bool {
	for _, it := range q {
		if flags[it.hash]&stale == 0 {
			return true
		}
	}
	return false
}
