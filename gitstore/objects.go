package gitstore

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Every access to the go-git storage goes through these helpers, which hold
// objMu: go-git's storages (memory and filesystem alike) keep unsynchronised
// maps and shared pack readers.

func (s *Store) readCommit(h plumbing.Hash) (*object.Commit, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	c, err := object.GetCommit(s.st, h)
	if s.reindexed(err) {
		c, err = object.GetCommit(s.st, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// treeEntries returns the entries of tree h; the zero hash is the empty tree.
func (s *Store) treeEntries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	t, err := object.GetTree(s.st, h)
	if s.reindexed(err) {
		t, err = object.GetTree(s.st, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	return t.Entries, nil
}

func (s *Store) readBlob(h plumbing.Hash) ([]byte, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	o, err := s.st.EncodedObject(plumbing.BlobObject, h)
	if s.reindexed(err) {
		o, err = s.st.EncodedObject(plumbing.BlobObject, h)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	buf := make([]byte, 0, o.Size())
	b := bytes.NewBuffer(buf)
	if _, err := io.Copy(b, r); err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b.Bytes(), nil
}

func (s *Store) hasObject(h plumbing.Hash) bool {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	err := s.st.HasEncodedObject(h)
	if s.reindexed(err) {
		err = s.st.HasEncodedObject(h)
	}
	return err == nil
}

func (s *Store) writeBlob(data []byte) (plumbing.Hash, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	o := s.st.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	o.SetSize(int64(len(data)))
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write blob: %w", err)
	}
	return s.storeLocked(o)
}

// writeTree sorts entries in git's order and stores the tree.
func (s *Store) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	sortTreeEntries(entries)
	for i := 1; i < len(entries); i++ {
		if entries[i].Name == entries[i-1].Name {
			return plumbing.ZeroHash, fmt.Errorf("write tree: duplicate entry %q", entries[i].Name)
		}
	}
	t := &object.Tree{Entries: entries}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	o := s.st.NewEncodedObject()
	if err := t.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write tree: %w", err)
	}
	return s.storeLocked(o)
}

func (s *Store) writeCommit(c *object.Commit) (plumbing.Hash, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	o := s.st.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write commit: %w", err)
	}
	return s.storeLocked(o)
}

// storeLocked writes o unless the repository already has it (a pack may
// hold it: writing it again loose would only cost a file).
func (s *Store) storeLocked(o plumbing.EncodedObject) (plumbing.Hash, error) {
	h := o.Hash()
	if s.st.HasEncodedObject(h) == nil {
		return h, nil
	}
	if _, err := s.st.SetEncodedObject(o); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s %s: %w", o.Type(), h, err)
	}
	return h, nil
}

// sortTreeEntries orders entries as git requires: by name, a directory
// comparing as if its name ended with '/'.
func sortTreeEntries(entries []object.TreeEntry) {
	sort.Slice(entries, func(i, j int) bool { return treeSortKey(entries[i]) < treeSortKey(entries[j]) })
}

func treeSortKey(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// isNoteMode reports whether an entry can hold a note: git wants a regular
// file (S_ISREG), executable or not.
func isNoteMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

// reindexed reacts to a failed read: go-git's filesystem storage lists the
// pack files once, so packs written since (git gc, fetch, fast-import in
// another process) are invisible, and a pack removed by a repack fails to
// open. It makes the storage list them again and reports whether a retry
// is worth it. Called with objMu held.
func (s *Store) reindexed(err error) bool {
	if err == nil {
		return false
	}
	r, ok := s.st.(interface{ Reindex() })
	if !ok {
		return false
	}
	r.Reindex()
	return true
}

// releaseObjectCaches drops go-git's object cache, open packs and pack
// indexes (all reopened on the next read): after reading a large part of a
// big repository they hold a hundred megabytes that are not needed any more
// (the index of every object, the type of every offset visited).
func (s *Store) releaseObjectCaches() {
	if s.cache == nil {
		return // only on-disk stores keep such caches
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	s.cache.Clear()
	if c, ok := s.st.(interface{ Close() error }); ok {
		_ = c.Close() // closes the packs; they reopen on demand
	}
	if r, ok := s.st.(interface{ Reindex() }); ok {
		r.Reindex()
	}
}
