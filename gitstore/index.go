package gitstore

// The index is a cache of what Candidates returns, one file per experiment
// under <common git dir>/evolve/index/<exp>.idx. Git stays the only source
// of truth: the index records which notes tree it was computed from, and
// every call brings it up to date with the current refs and notes first:
//
//   - candidate refs are listed by name (packed-refs plus the names of the
//     loose ref files; the name of a candidate ref is its value, so only new
//     ones are read);
//   - the notes tree the index was built from is diffed with the current one,
//     skipping identical subtrees, so only the notes that changed are read
//     and parsed again;
//   - commits are immutable: a candidate's parent, time and subject are read
//     once, when its ref first appears.
//
// Deleting the index loses nothing; the next call rebuilds it. The file is
// rewritten only when enough changed (small changes are re-applied from the
// diff each time), and atomically (written aside, then renamed), so readers
// in other processes always see a whole file. It is never pushed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/git-evolve/git-evolve/evolve"
)

const indexVersion = 2

var (
	crcTable    = crc32.MakeTable(crc32.Castagnoli)
	indexMagic  = []byte("git-evolve index\n")
	eventCodec  = newStructCodec(reflect.TypeOf(evolve.Event{}))
	indexSchema = schemaFingerprint(reflect.TypeOf(evolve.Event{}), reflect.TypeOf(evolve.ParseWarning{}))
)

// index is the cached state of one experiment.
type index struct {
	notesCommit plumbing.Hash // notes commit the records were read from
	notesTree   plumbing.Hash // and its tree
	entries     []indexEntry  // sorted by id
	unsaved     int           // changes not yet in the saved index
}

type indexEntry struct {
	id      plumbing.Hash
	parent  plumbing.Hash // first parent of the commit (zero: none)
	when    time.Time     // committer time
	subject string
	record  evolve.Record
}

// Candidates lists the candidates of exp (an experiment without candidates
// gives an empty list), oldest first, each with its folded record, its
// parent candidate, its number of children and whether it is the baseline
// (a commit titled "evolve(<exp>): baseline" whose parent is not a
// candidate). A candidate whose parent is not a candidate of exp (its ref
// was deleted) keeps the parent's hash in Parent.
//
// The records share memory with the store's cache: treat them as read-only.
func (s *Store) Candidates(ctx context.Context, exp string) ([]evolve.Candidate, error) {
	if err := CheckExperimentName(exp); err != nil {
		return nil, err
	}
	fp, useMemo := s.fingerprint(exp)
	if useMemo {
		if cs, ok := s.memoized(exp, fp); ok {
			return cs, nil
		}
	}
	idx, err := s.refreshIndex(ctx, exp)
	if err != nil {
		return nil, fmt.Errorf("list candidates of %q: %w", exp, err)
	}
	cs := buildCandidates(exp, idx.entries)
	if useMemo {
		s.remember(exp, fp, cs)
	}
	return cs, nil
}

func buildCandidates(exp string, entries []indexEntry) []evolve.Candidate {
	// Order by time (then id, the entries' order) through a permutation:
	// moving 100,000 candidates around costs more than sorting indexes.
	order := make([]int32, len(entries))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return entries[a].when.Compare(entries[b].when) })
	pos := make([]int32, len(entries)) // entry -> place in the result
	for k, i := range order {
		pos[i] = int32(k)
	}
	cs := make([]evolve.Candidate, len(entries))
	for k, i := range order {
		cs[k].ID = entries[i].id.String()
	}
	bsub := baselineSubject(exp)
	for k, i := range order {
		e, c := &entries[i], &cs[k]
		c.Subject, c.Time, c.Record = e.subject, e.when, e.record
		if !e.parent.IsZero() {
			if j, ok := findEntry(entries, e.parent); ok {
				p := &cs[pos[j]]
				c.Parent = p.ID
				p.Children++
				continue
			}
		}
		if e.subject == bsub {
			c.Baseline = true
		} else if !e.parent.IsZero() {
			c.Parent = e.parent.String()
		}
	}
	return cs
}

func findEntry(entries []indexEntry, id plumbing.Hash) (int, bool) {
	return slices.BinarySearchFunc(entries, id, func(e indexEntry, id plumbing.Hash) int {
		return bytes.Compare(e.id[:], id[:])
	})
}

// candidateRef is a listed candidate ref of one experiment.
type candidateRef struct {
	id    plumbing.Hash
	value plumbing.Hash
	known bool // value was read (packed-refs); loose refs are checked when new
}

func (s *Store) listCandidateRefs(exp string) ([]candidateRef, error) {
	prefix := RefPrefix + exp + "/"
	var out []candidateRef
	if d, ok := s.refs.(*diskRefs); ok {
		var err error
		if out, err = d.candidateRefs(prefix); err != nil {
			return nil, err
		}
	} else {
		refs, err := s.refs.names(prefix)
		if err != nil {
			return nil, err
		}
		out = make([]candidateRef, 0, len(refs))
		for _, r := range refs {
			var id plumbing.Hash
			if rest := r.name[len(prefix):]; len(rest) == 40 && decodeHex(id[:], rest) {
				out = append(out, candidateRef{id: id, value: r.hash, known: r.known})
			}
		}
	}
	slices.SortFunc(out, func(a, b candidateRef) int { return bytes.Compare(a.id[:], b.id[:]) })
	return slices.CompactFunc(out, func(a, b candidateRef) bool { return a.id == b.id }), nil
}

// refreshIndex brings the index of exp up to date with the refs and notes.
//
// Memory matters as much as time here (a listing of 100,000 candidates must
// stay under 300 MB), so the work is ordered: first what changed is found
// and read from git, knowing only the ids the saved index holds; then go-git's
// caches are released; only then is the saved index decoded and the changes
// merged in. A process that keeps the Store (the step loop) keeps the index
// in memory between calls instead.
func (s *Store) refreshIndex(ctx context.Context, exp string) (*index, error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	idx, err := s.refresh(ctx, exp, true)
	if errors.Is(err, errCorrupt) {
		// The saved index passed the first look but not the full read: rebuild.
		idx, err = s.refresh(ctx, exp, false)
	}
	return idx, err
}

func (s *Store) refresh(ctx context.Context, exp string, useSaved bool) (*index, error) {
	refs, err := s.listCandidateRefs(exp)
	if err != nil {
		return nil, err
	}
	notesCommit, ok, err := s.refs.read(NotesRef.String())
	if err != nil {
		return nil, err
	}

	// What the cache knows: the whole index (memo), or the header and ids
	// of the saved file, kept open so that a concurrent rewrite (a rename)
	// cannot swap it between the two reads.
	base := s.memo[exp]
	wasMemo := base != nil
	var head index // notesCommit, notesTree of base
	var baseIDs []plumbing.Hash
	var src *indexSource
	if base != nil {
		head = index{notesCommit: base.notesCommit, notesTree: base.notesTree}
		baseIDs = make([]plumbing.Hash, len(base.entries))
		for i := range base.entries {
			baseIDs[i] = base.entries[i].id
		}
	} else if src = s.openIndex(exp); useSaved && src != nil {
		defer src.close()
		h, ids, err := src.peek()
		if err == nil {
			head, baseIDs = h, ids
		} else {
			src = nil
		}
	} else {
		src.close()
		src = nil
	}
	haveBase := base != nil || src != nil

	// The tree of an unchanged notes commit is known: no object is read
	// when nothing moved.
	notesTree := head.notesTree
	if !ok {
		notesCommit, notesTree = plumbing.ZeroHash, plumbing.ZeroHash
	} else if notesCommit != head.notesCommit {
		c, err := s.readCommit(notesCommit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", NotesRef, err)
		}
		notesTree = c.TreeHash
	}
	changes := noteChanges{}
	if head.notesTree != notesTree {
		changes, err = diffNotes(s, head.notesTree, notesTree)
		if err != nil && !head.notesTree.IsZero() {
			// The tree the index was built from is gone (the notes ref was
			// rewritten and git gc ran): start over.
			base, baseIDs, haveBase, src, head = nil, nil, false, nil, index{}
			changes, err = diffNotes(s, plumbing.ZeroHash, notesTree)
		}
		if err != nil {
			return nil, err
		}
	}
	full := head.notesTree.IsZero() // changes then holds every note

	// Which candidates are new, gone, or have another note.
	var added []indexEntry
	var gone []plumbing.Hash
	updated := map[plumbing.Hash]evolve.Record{}
	i, j := 0, 0
	for i < len(refs) || j < len(baseIDs) {
		var cmp int
		switch {
		case i >= len(refs):
			cmp = 1
		case j >= len(baseIDs):
			cmp = -1
		default:
			cmp = bytes.Compare(refs[i].id[:], baseIDs[j][:])
		}
		switch {
		case cmp < 0:
			ok, err := s.checkCandidateRef(exp, refs[i])
			if err != nil {
				return nil, err
			}
			if ok {
				added = append(added, indexEntry{id: refs[i].id})
			}
			i++
		case cmp > 0:
			gone = append(gone, baseIDs[j])
			j++
		default:
			id := baseIDs[j]
			i, j = i+1, j+1
			if blobs, changed := changes[id]; changed {
				note, err := s.noteFromChange(notesTree, id, blobs)
				if err != nil {
					return nil, err
				}
				updated[id] = foldNote(id, note)
			}
		}
	}
	dirty := len(added) + len(gone) + len(updated)

	trees := map[plumbing.Hash][]object.TreeEntry{}
	filled := 0
	fill := func(e *indexEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if filled++; filled%20000 == 0 {
			s.releaseObjectCaches() // bounds go-git's memory on big first runs
		}
		c, err := s.readCommit(e.id)
		if err != nil {
			return fmt.Errorf("candidate ref %s: %w", CandidateRef(exp, e.id.String()), err)
		}
		if len(c.ParentHashes) > 0 {
			e.parent = c.ParentHashes[0]
		}
		e.when, e.subject = c.Committer.When, subject(c.Message)
		var note []byte
		if blobs, changed := changes[e.id]; changed {
			note, err = s.noteFromChange(notesTree, e.id, blobs)
		} else if !full {
			var blobs []plumbing.Hash
			if blobs, err = noteBlobs(s, notesTree, e.id, trees); err == nil {
				note, err = s.joinBlobs(blobs)
			}
		}
		if err != nil {
			return err
		}
		e.record = foldNote(e.id, note)
		return nil
	}
	stream := len(added) > streamThreshold
	if !stream {
		for k := range added {
			if err := fill(&added[k]); err != nil {
				return nil, err
			}
		}
	}
	if base == nil && haveBase && !stream && (dirty > 0 || head.notesCommit != notesCommit) {
		// Done with git: free what go-git holds before decoding.
		s.releaseObjectCaches()
		changes, trees = nil, nil
		runtime.GC()
	}
	if base == nil && haveBase {
		if base, err = src.decode(); err != nil || len(base.entries) != len(baseIDs) {
			return nil, fmt.Errorf("read the index of %q: %w", exp, errCorrupt)
		}
	}
	if base == nil {
		base = &index{}
	}

	out := base.entries
	var addedPos []int
	if dirty > 0 {
		out, addedPos = mergeEntries(base.entries, added, gone, updated)
	}
	idx := &index{notesCommit: notesCommit, notesTree: notesTree, entries: out, unsaved: base.unsaved + dirty}
	if !haveBase || head.notesCommit != notesCommit {
		idx.unsaved++ // the header moved at least
	}
	if stream {
		// Many new candidates (a first run, a large fetch): write each entry
		// to the index as soon as it is read and keep only its skeleton, then
		// read the index back. The records are held once, compactly, rather
		// than next to the garbage of reading them from git.
		if err := s.streamIndex(exp, idx, addedPos, fill); err != nil {
			return nil, err
		}
		s.releaseObjectCaches()
		idx, out, changes, trees, added = nil, nil, nil, nil, nil
		runtime.GC() // return what reading git left behind before decoding
		if idx = s.loadIndex(exp); idx == nil {
			return nil, fmt.Errorf("read back the index of %q: %w", exp, errCorrupt)
		}
		s.memo[exp] = idx
		return idx, nil
	}
	s.memo[exp] = idx
	// The first listing of a process saves any change, so that the next
	// process starts lean; later ones (a long-running process) save now and
	// then, and Close saves the rest.
	if idx.unsaved > 0 && (!wasMemo || idx.unsaved > max(256, len(out)/100)) {
		s.flushIndex(exp, idx)
	}
	return idx, nil
}

// mergeEntries returns base without the gone ids, with updated records, and
// with added (sorted by id) inserted; addedPos are the places of the added
// entries in the result.
func mergeEntries(base, added []indexEntry, gone []plumbing.Hash, updated map[plumbing.Hash]evolve.Record) ([]indexEntry, []int) {
	out := make([]indexEntry, 0, len(base)+len(added)-len(gone))
	var addedPos []int
	i, k, g := 0, 0, 0
	for i < len(base) || k < len(added) {
		if k < len(added) && (i >= len(base) || bytes.Compare(added[k].id[:], base[i].id[:]) < 0) {
			addedPos = append(addedPos, len(out))
			out = append(out, added[k])
			k++
			continue
		}
		e := base[i]
		i++
		for g < len(gone) && bytes.Compare(gone[g][:], e.id[:]) < 0 {
			g++
		}
		if g < len(gone) && gone[g] == e.id {
			continue
		}
		if r, ok := updated[e.id]; ok {
			e.record = r
		}
		out = append(out, e)
	}
	return out, addedPos
}

// flushIndex saves idx; the index is a cache, so failing to save it costs
// time later, not data.
func (s *Store) flushIndex(exp string, idx *index) {
	if s.saveIndex(exp, idx) == nil {
		idx.unsaved = 0
	}
}

// flushMemos saves the indexes kept in memory that have unsaved changes.
func (s *Store) flushMemos() {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	for exp, idx := range s.memo {
		if idx.unsaved > 0 {
			s.flushIndex(exp, idx)
		}
	}
}

// checkCandidateRef verifies that a newly seen ref points to the commit it
// is named after (packed refs carry their value; loose ones are read).
func (s *Store) checkCandidateRef(exp string, r candidateRef) (bool, error) {
	v, ok := r.value, r.known
	if !ok {
		var err error
		v, ok, err = s.refs.read(CandidateRef(exp, r.id.String()).String())
		if err != nil {
			return false, err
		}
	}
	return ok && v == r.id, nil
}

// noteFromChange reads the note a diff found changed; an empty blob list
// means the note left that place, so the tree is asked whether it lives on
// elsewhere.
func (s *Store) noteFromChange(tree, key plumbing.Hash, blobs []plumbing.Hash) ([]byte, error) {
	if len(blobs) == 0 {
		var err error
		if blobs, err = noteBlobs(s, tree, key, nil); err != nil {
			return nil, err
		}
	}
	return s.joinBlobs(blobs)
}

// DropIndex forgets the cached index of exp, in memory and on disk; the next
// Candidates call rebuilds it from git.
func (s *Store) DropIndex(exp string) error {
	if err := CheckExperimentName(exp); err != nil {
		return err
	}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	delete(s.memo, exp)
	delete(s.memIndex, exp)
	if s.evolveDir == "" {
		return nil
	}
	if err := os.Remove(s.indexPath(exp)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// forgetMemo drops the in-memory copies so the next call reads the saved
// index (tests use it to exercise the file format).
func (s *Store) forgetMemo() {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.memo = map[string]*index{}
}

func (s *Store) indexPath(exp string) string {
	return filepath.Join(s.evolveDir, "index", exp+".idx")
}

// indexSource is a saved index being read: the open file, or the bytes an
// in-memory store keeps.
type indexSource struct {
	f    *os.File
	data []byte
}

func (s *Store) openIndex(exp string) *indexSource {
	if s.evolveDir == "" {
		if b, ok := s.memIndex[exp]; ok {
			return &indexSource{data: b}
		}
		return nil
	}
	f, err := os.Open(s.indexPath(exp))
	if err != nil {
		return nil
	}
	return &indexSource{f: f}
}

func (src *indexSource) reader() (*bufio.Reader, error) {
	if src.f == nil {
		return bufio.NewReader(bytes.NewReader(src.data)), nil
	}
	if _, err := src.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(src.f, 1<<20), nil
}

func (src *indexSource) peek() (index, []plumbing.Hash, error) {
	r, err := src.reader()
	if err != nil {
		return index{}, nil, err
	}
	return peekIndex(r)
}

func (src *indexSource) decode() (*index, error) {
	r, err := src.reader()
	if err != nil {
		return nil, err
	}
	return decodeIndex(r)
}

func (src *indexSource) close() {
	if src != nil && src.f != nil {
		src.f.Close()
	}
}

// loadIndex reads the saved index of exp; nil when there is none or it
// cannot be used (corrupt, another format), which means: rebuild.
func (s *Store) loadIndex(exp string) *index {
	src := s.openIndex(exp)
	if src == nil {
		return nil
	}
	defer src.close()
	idx, err := src.decode()
	if err != nil {
		return nil
	}
	return idx
}

// streamThreshold is the number of new candidates past which refreshIndex
// streams them to the index file instead of holding them all.
var streamThreshold = 5000

func (s *Store) saveIndex(exp string, idx *index) error {
	return s.writeIndex(exp, func(w io.Writer) error { return encodeIndex(w, idx, nil) })
}

// streamIndex writes idx, calling fill on the entries listed in added just
// before writing each, and dropping their records once written.
func (s *Store) streamIndex(exp string, idx *index, added []int, fill func(*indexEntry) error) error {
	next := 0
	return s.writeIndex(exp, func(w io.Writer) error {
		return encodeIndex(w, idx, func(k int) (func(), error) {
			if next >= len(added) || added[next] != k {
				return nil, nil
			}
			next++
			if err := fill(&idx.entries[k]); err != nil {
				return nil, err
			}
			return func() { idx.entries[k].record = evolve.Record{} }, nil
		})
	})
}

// writeIndex replaces the index of exp with what write produces: written
// aside, then renamed over, so that readers see the old or the new file.
func (s *Store) writeIndex(exp string, write func(io.Writer) error) error {
	if s.evolveDir == "" {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return err
		}
		s.memIndex[exp] = b.Bytes()
		return nil
	}
	dir := filepath.Dir(s.indexPath(exp))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, exp+".idx.tmp-*")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.indexPath(exp))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// The file: magic, version, schema fingerprint, notes commit and tree,
// entry count, then each entry as a length-prefixed record followed by its
// CRC-32C, so that reading needs one entry's bytes at a time and damage is
// noticed (the index is then rebuilt).
// before, when not nil, is called before entry k is encoded and may return
// a function to call after.
func encodeIndex(w io.Writer, idx *index, before func(k int) (func(), error)) error {
	e := &encoder{}
	e.raw(indexMagic)
	e.uvarint(indexVersion)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, indexSchema)
	e.raw(idx.notesCommit[:])
	e.raw(idx.notesTree[:])
	e.uvarint(uint64(len(idx.entries)))
	if _, err := w.Write(e.buf); err != nil {
		return err
	}
	body := &encoder{}
	for i := range idx.entries {
		var after func()
		if before != nil {
			var err error
			if after, err = before(i); err != nil {
				return err
			}
		}
		body.buf = body.buf[:0]
		encodeEntry(body, &idx.entries[i])
		if after != nil {
			after()
		}
		size := len(body.buf)
		body.buf = binary.LittleEndian.AppendUint32(body.buf, crc32.Checksum(body.buf, crcTable))
		e.buf = binary.AppendUvarint(e.buf[:0], uint64(size))
		if _, err := w.Write(e.buf); err != nil {
			return err
		}
		if _, err := w.Write(body.buf); err != nil {
			return err
		}
	}
	return nil
}

func encodeEntry(e *encoder, en *indexEntry) {
	e.raw(en.id[:])
	e.raw(en.parent[:])
	_, off := en.when.Zone()
	e.varint(en.when.Unix())
	e.uvarint(uint64(en.when.Nanosecond()))
	e.varint(int64(off))
	e.str(en.subject)
	e.uvarint(uint64(len(en.record.Events)))
	for i := range en.record.Events {
		eventCodec.encode(e, reflect.ValueOf(&en.record.Events[i]).Elem())
	}
	e.uvarint(uint64(len(en.record.Warnings)))
	for _, w := range en.record.Warnings {
		e.uvarint(uint64(w.Line))
		e.str(w.Text)
		msg := ""
		if w.Err != nil {
			msg = w.Err.Error()
		}
		e.str(msg)
	}
}

// readIndexHeader reads the header and returns the number of entries.
func readIndexHeader(r *bufio.Reader) (index, uint64, error) {
	head := make([]byte, len(indexMagic))
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, indexMagic) {
		return index{}, 0, errCorrupt
	}
	if v, err := binary.ReadUvarint(r); err != nil || v != indexVersion {
		return index{}, 0, errCorrupt
	}
	var fixed [8 + 20 + 20]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil || binary.LittleEndian.Uint64(fixed[:8]) != indexSchema {
		return index{}, 0, errCorrupt
	}
	var idx index
	copy(idx.notesCommit[:], fixed[8:28])
	copy(idx.notesTree[:], fixed[28:])
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 1<<28 {
		return index{}, 0, errCorrupt
	}
	return idx, n, nil
}

// peekIndex reads the header and the ids of the entries, skipping the rest.
func peekIndex(r *bufio.Reader) (index, []plumbing.Hash, error) {
	head, n, err := readIndexHeader(r)
	if err != nil {
		return index{}, nil, err
	}
	ids := make([]plumbing.Hash, 0, min(n, 1<<20))
	for k := uint64(0); k < n; k++ {
		size, err := binary.ReadUvarint(r)
		if err != nil || size < 20 || size > 1<<30 {
			return index{}, nil, errCorrupt
		}
		var id plumbing.Hash
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return index{}, nil, errCorrupt
		}
		if _, err := r.Discard(int(size) - 20 + 4); err != nil {
			return index{}, nil, errCorrupt
		}
		if k > 0 && bytes.Compare(ids[k-1][:], id[:]) >= 0 {
			return index{}, nil, errCorrupt
		}
		ids = append(ids, id)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return index{}, nil, errCorrupt
	}
	return head, ids, nil
}

func decodeIndex(r *bufio.Reader) (*index, error) {
	head, n, err := readIndexHeader(r)
	if err != nil {
		return nil, err
	}
	idx := &head
	idx.entries = make([]indexEntry, 0, min(n, 1<<20))
	d := &decoder{intern: newInternTable()}
	var buf []byte
	var scratch []evolve.Event
	for k := uint64(0); k < n; k++ {
		size, err := binary.ReadUvarint(r)
		if err != nil || size > 1<<30 {
			return nil, errCorrupt
		}
		if uint64(cap(buf)) < size+4 {
			buf = make([]byte, size+4)
		}
		buf = buf[:size+4]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, errCorrupt
		}
		if crc32.Checksum(buf[:size], crcTable) != binary.LittleEndian.Uint32(buf[size:]) {
			return nil, errCorrupt
		}
		buf = buf[:size]
		d.buf, d.off, d.err = buf, 0, nil
		var en indexEntry
		scratch = decodeEntry(d, &en, scratch)
		if d.err != nil || d.off != len(buf) {
			return nil, errCorrupt
		}
		if k > 0 && bytes.Compare(idx.entries[k-1].id[:], en.id[:]) >= 0 {
			return nil, errCorrupt
		}
		idx.entries = append(idx.entries, en)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, errCorrupt
	}
	return idx, nil
}

// decodeEntry decodes one entry; scratch is reused for the events, which
// evolve.Fold copies into the record.
func decodeEntry(d *decoder, en *indexEntry, scratch []evolve.Event) []evolve.Event {
	copy(en.id[:], d.next(20))
	copy(en.parent[:], d.next(20))
	sec, nsec, off := d.varint(), d.uvarint(), d.varint()
	en.when = time.Unix(sec, int64(nsec)).In(time.FixedZone("", int(off)))
	en.subject = d.str()
	nev := int(d.uvarint())
	if nev > len(d.buf) {
		d.fail()
		return scratch
	}
	scratch = slices.Grow(scratch[:0], nev)[:nev]
	for i := range scratch {
		scratch[i] = evolve.Event{}
		eventCodec.decode(d, reflect.ValueOf(&scratch[i]).Elem())
	}
	if nev > 0 {
		en.record = evolve.Fold(scratch)
	}
	nw := int(d.uvarint())
	if nw > len(d.buf) {
		d.fail()
		return scratch
	}
	for i := 0; i < nw && d.err == nil; i++ {
		w := evolve.ParseWarning{Line: int(d.uvarint()), Text: d.str()}
		if msg := d.str(); msg != "" {
			w.Err = errors.New(msg)
		}
		en.record.Warnings = append(en.record.Warnings, w)
	}
	return scratch
}
