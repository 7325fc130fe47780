package gitstore

// A notes tree maps the hex name of an annotated object to the blob of its
// note. Small trees hold the 40-hex names directly; larger ones fan out into
// two-hex-digit directories ("ab/cdef…", "ab/cd/ef…"), and readers must
// accept any depth. The layout written here is the one `git notes` (notes.c)
// writes, so that a tree changed by git-evolve is byte-for-byte the tree git
// would have produced from the same notes:
//
//   - notes live in a 16-ary trie over the nibbles of their object name; a
//     slot holds a single note, a not-yet-read subtree, or an inner node;
//   - walking the trie to write it, an inner node at an even nibble depth n
//     adds a fanout level when n ≤ 2·fanout and all 16 of its slots are inner
//     nodes or subtrees (each holds at least two notes, or a directory);
//   - subtrees that were never read and sit above the fanout level are kept
//     as they are; the others are read and laid out again.
//
// For random object names that means a flat tree up to roughly a hundred
// notes, then "ab/" directories, then "ab/cd/" from roughly twenty thousand.

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// objectIO is what the notes code needs from the object store.
type objectIO interface {
	treeEntries(h plumbing.Hash) ([]object.TreeEntry, error)
	readBlob(h plumbing.Hash) ([]byte, error)
	writeBlob(data []byte) (plumbing.Hash, error)
	writeTree(entries []object.TreeEntry) (plumbing.Hash, error)
}

const (
	slotEmpty uint8 = iota
	slotInner
	slotNote
	slotSubtree
)

// trieSlot is one of the 16 slots of a trie node.
type trieSlot struct {
	kind uint8
	plen uint8         // subtree: how many leading bytes of key its path fixes
	key  plumbing.Hash // note: the annotated object; subtree: the prefix, zero padded
	val  plumbing.Hash // note: the blob; subtree: the tree
	node *trieNode     // inner
}

type trieNode struct{ slots [16]trieSlot }

// nonNote is an entry of the notes tree that is not a note (git keeps them).
type nonNote struct {
	path string
	mode filemode.FileMode
	hash plumbing.Hash
}

// combineFunc merges two notes for the same object into one blob.
type combineFunc func(cur, add plumbing.Hash) (plumbing.Hash, error)

// notesTree is a notes tree being read lazily and changed.
type notesTree struct {
	io       objectIO
	root     trieNode
	nonNotes []nonNote
}

// loadNotesTree starts reading the notes tree h (zero: no notes yet).
func loadNotesTree(io objectIO, h plumbing.Hash) (*notesTree, error) {
	t := &notesTree{io: io}
	if h.IsZero() {
		return t, nil
	}
	if err := t.loadSubtree(trieSlot{kind: slotSubtree, val: h}, &t.root, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func nibble(key plumbing.Hash, n int) int {
	b := key[n/2]
	if n%2 == 0 {
		return int(b >> 4)
	}
	return int(b & 0x0f)
}

// prefixOf reports whether key starts with the prefix of subtree sub.
func prefixOf(key plumbing.Hash, sub trieSlot) bool {
	return string(key[:sub.plen]) == string(sub.key[:sub.plen])
}

// concatNotes is the combine function used while reading: git concatenates
// two notes found for the same object; for JSON Lines the union of lines
// reads the same.
func (t *notesTree) concatNotes(cur, add plumbing.Hash) (plumbing.Hash, error) {
	a, err := t.io.readBlob(cur)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	b, err := t.io.readBlob(add)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return t.io.writeBlob(catSortUniq(a, b))
}

// loadSubtree reads the tree of subtree sub into node, which is at nibble
// depth n.
func (t *notesTree) loadSubtree(sub trieSlot, node *trieNode, n int) error {
	entries, err := t.io.treeEntries(sub.val)
	if err != nil {
		return fmt.Errorf("read notes tree: %w", err)
	}
	plen := int(sub.plen)
	for _, e := range entries {
		var k plumbing.Hash
		copy(k[:plen], sub.key[:plen])
		var slot trieSlot
		switch {
		case len(e.Name) == 2*(20-plen) && isNoteMode(e.Mode) && decodeHex(k[plen:], e.Name):
			slot = trieSlot{kind: slotNote, key: k, val: e.Hash}
		case len(e.Name) == 2 && plen < 19 && e.Mode == filemode.Dir && decodeHex(k[plen:plen+1], e.Name):
			slot = trieSlot{kind: slotSubtree, plen: uint8(plen + 1), key: k, val: e.Hash}
		default:
			t.nonNotes = append(t.nonNotes, nonNote{path: fanoutDirs(sub.key, plen) + e.Name, mode: e.Mode, hash: e.Hash})
			continue
		}
		if err := t.insert(node, n, slot, t.concatNotes); err != nil {
			return err
		}
	}
	return nil
}

func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// fanoutDirs is the directory path of a subtree with the given prefix:
// "ab/cd/" for a two-byte prefix.
func fanoutDirs(key plumbing.Hash, plen int) string {
	var b strings.Builder
	h := key.String()
	for i := 0; i < plen; i++ {
		b.WriteString(h[2*i : 2*i+2])
		b.WriteByte('/')
	}
	return b.String()
}

// search finds the slot where key belongs, reading the subtrees on the way.
// It returns the node holding the slot and that node's depth.
func (t *notesTree) search(node *trieNode, n int, key plumbing.Hash) (*trieNode, int, *trieSlot, error) {
	for {
		// A subtree with a shorter prefix than the depth sits in slot 0
		// (its key is zero padded); read it if key falls inside it.
		if s0 := node.slots[0]; s0.kind == slotSubtree && prefixOf(key, s0) {
			node.slots[0] = trieSlot{}
			if err := t.loadSubtree(s0, node, n); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		slot := &node.slots[nibble(key, n)]
		switch slot.kind {
		case slotInner:
			node, n = slot.node, n+1
			continue
		case slotSubtree:
			if prefixOf(key, *slot) {
				sub := *slot
				*slot = trieSlot{}
				if err := t.loadSubtree(sub, node, n); err != nil {
					return nil, 0, nil, err
				}
				continue
			}
		}
		return node, n, slot, nil
	}
}

// insert adds a note or subtree entry e below node (depth n). Two notes for
// the same object are merged with combine; a zero combined value removes it.
func (t *notesTree) insert(node *trieNode, n int, e trieSlot, combine combineFunc) error {
	node, n, slot, err := t.search(node, n, e.key)
	if err != nil {
		return err
	}
	switch slot.kind {
	case slotEmpty:
		if e.kind == slotNote && e.val.IsZero() {
			return nil
		}
		*slot = e
		return nil
	case slotNote:
		switch e.kind {
		case slotNote:
			if slot.key == e.key {
				if slot.val == e.val {
					return nil
				}
				v, err := combine(slot.val, e.val)
				if err != nil {
					return err
				}
				if v.IsZero() {
					return t.remove(e.key)
				}
				slot.val = v
				return nil
			}
		case slotSubtree:
			if prefixOf(slot.key, e) {
				return t.loadSubtree(e, node, n)
			}
		}
	case slotSubtree:
		if prefixOf(e.key, *slot) {
			sub := *slot
			*slot = trieSlot{}
			if err := t.loadSubtree(sub, node, n); err != nil {
				return err
			}
			return t.insert(node, n, e, combine)
		}
	}
	// Another entry is here: push both one level down.
	if e.kind == slotNote && e.val.IsZero() {
		return nil
	}
	child := &trieNode{}
	if err := t.insert(child, n+1, *slot, combine); err != nil {
		return err
	}
	*slot = trieSlot{kind: slotInner, node: child}
	return t.insert(child, n+1, e, combine)
}

// get returns the blob of key's note, or the zero hash.
func (t *notesTree) get(key plumbing.Hash) (plumbing.Hash, error) {
	_, _, slot, err := t.search(&t.root, 0, key)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if slot.kind == slotNote && slot.key == key {
		return slot.val, nil
	}
	return plumbing.ZeroHash, nil
}

// set makes blob the note of key (zero: removes the note).
func (t *notesTree) set(key, blob plumbing.Hash) error {
	if blob.IsZero() {
		return t.remove(key)
	}
	overwrite := func(_, add plumbing.Hash) (plumbing.Hash, error) { return add, nil }
	return t.insert(&t.root, 0, trieSlot{kind: slotNote, key: key, val: blob}, overwrite)
}

// remove deletes key's note and, like git, folds up inner nodes left with a
// single note (or nothing).
func (t *notesTree) remove(key plumbing.Hash) error {
	node, n, slot, err := t.search(&t.root, 0, key)
	if err != nil {
		return err
	}
	if slot.kind != slotNote || slot.key != key {
		return nil
	}
	*slot = trieSlot{}
	// The path from the root to node, following key's nibbles.
	path := []*trieNode{&t.root}
	for i := 0; i < n; i++ {
		next := path[i].slots[nibble(key, i)]
		if next.kind != slotInner {
			return nil // not a plain path (slot-0 subtrees): leave as is
		}
		path = append(path, next.node)
	}
	if path[n] != node {
		return nil
	}
	for i := n; i > 0; i-- {
		if !consolidate(path[i], path[i-1], nibble(key, i-1)) {
			break
		}
	}
	return nil
}

// consolidate replaces node (slot idx of parent) by its only entry when
// that entry is a note, or by nothing when node is empty.
func consolidate(node, parent *trieNode, idx int) bool {
	var only *trieSlot
	for i := range node.slots {
		if node.slots[i].kind == slotEmpty {
			continue
		}
		if only != nil {
			return false
		}
		only = &node.slots[i]
	}
	if only == nil {
		parent.slots[idx] = trieSlot{}
		return true
	}
	if only.kind != slotNote {
		return false
	}
	parent.slots[idx] = *only
	return true
}

// determineFanout is git's heuristic: at an even depth not deeper than the
// current fanout allows, a node whose 16 slots all hold inner nodes or
// subtrees gets one more level of directories.
func determineFanout(node *trieNode, n, fanout int) int {
	if n%2 == 1 || n > 2*fanout {
		return fanout
	}
	for i := range node.slots {
		if k := node.slots[i].kind; k != slotInner && k != slotSubtree {
			return fanout
		}
	}
	return fanout + 1
}

// pathWithFanout is key in hex with a '/' after each of the first fanout
// bytes.
func pathWithFanout(key plumbing.Hash, fanout int) string {
	h := key.String()
	var b strings.Builder
	for i := 0; i < fanout; i++ {
		b.WriteString(h[2*i : 2*i+2])
		b.WriteByte('/')
	}
	b.WriteString(h[2*fanout:])
	return b.String()
}

// forEach visits the notes and the kept subtrees in name order, giving the
// path each gets in the written tree.
func (t *notesTree) forEach(node *trieNode, n, fanout int, fn func(path string, mode filemode.FileMode, h plumbing.Hash)) error {
	fanout = determineFanout(node, n, fanout)
	for i := 0; i < 16; i++ {
		slot := node.slots[i]
		switch slot.kind {
		case slotInner:
			if err := t.forEach(slot.node, n+1, fanout, fn); err != nil {
				return err
			}
		case slotSubtree:
			if n < 2*fanout {
				p := pathWithFanout(slot.key, fanout)[:2*int(slot.plen)+fanout]
				fn(strings.TrimSuffix(p, "/"), filemode.Dir, slot.val)
				continue
			}
			node.slots[i] = trieSlot{}
			if err := t.loadSubtree(slot, node, n); err != nil {
				return err
			}
			i-- // visit what the subtree put in this slot
		case slotNote:
			fn(pathWithFanout(slot.key, fanout), filemode.Regular, slot.val)
		}
	}
	return nil
}

// write stores the tree (and the directories that changed) and returns its
// hash.
func (t *notesTree) write() (plumbing.Hash, error) {
	root := &dirBuilder{}
	var addErr error
	err := t.forEach(&t.root, 0, 0, func(path string, mode filemode.FileMode, h plumbing.Hash) {
		if err := root.add(t.io, path, mode, h); err != nil && addErr == nil {
			addErr = err
		}
	})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if addErr != nil {
		return plumbing.ZeroHash, addErr
	}
	for _, nn := range t.nonNotes {
		if err := root.add(t.io, nn.path, nn.mode, nn.hash); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return root.write(t.io)
}

// dirBuilder is a directory being assembled: entries kept by hash (files and
// untouched subtrees) and subdirectories being built.
type dirBuilder struct {
	entries map[string]object.TreeEntry
	dirs    map[string]*dirBuilder
}

func (d *dirBuilder) add(io objectIO, path string, mode filemode.FileMode, h plumbing.Hash) error {
	dir, rest, nested := strings.Cut(path, "/")
	if !nested {
		if d.entries == nil {
			d.entries = map[string]object.TreeEntry{}
		}
		if _, dup := d.dirs[dir]; dup {
			return fmt.Errorf("notes tree: %q is both a file and a directory", path)
		}
		d.entries[dir] = object.TreeEntry{Name: dir, Mode: mode, Hash: h}
		return nil
	}
	sub := d.dirs[dir]
	if sub == nil {
		sub = &dirBuilder{}
		// Adding into a directory kept by hash: open it up.
		if e, ok := d.entries[dir]; ok {
			if e.Mode != filemode.Dir {
				return fmt.Errorf("notes tree: %q is both a file and a directory", dir)
			}
			entries, err := io.treeEntries(e.Hash)
			if err != nil {
				return err
			}
			for _, c := range entries {
				if err := sub.add(io, c.Name, c.Mode, c.Hash); err != nil {
					return err
				}
			}
			delete(d.entries, dir)
		}
		if d.dirs == nil {
			d.dirs = map[string]*dirBuilder{}
		}
		d.dirs[dir] = sub
	}
	return sub.add(io, rest, mode, h)
}

func (d *dirBuilder) write(io objectIO) (plumbing.Hash, error) {
	entries := make([]object.TreeEntry, 0, len(d.entries)+len(d.dirs))
	for _, e := range d.entries {
		entries = append(entries, e)
	}
	for name, sub := range d.dirs {
		if sub.empty() {
			continue
		}
		h, err := sub.write(io)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	return io.writeTree(entries)
}

func (d *dirBuilder) empty() bool {
	if len(d.entries) > 0 {
		return false
	}
	for _, sub := range d.dirs {
		if !sub.empty() {
			return false
		}
	}
	return true
}

// Reading without the trie: lookups and walks over the tree objects.

// noteBlobs returns the blobs holding key's note in notes tree root: usually
// one, none when there is no note, several when the tree holds the same name
// at two depths (git then concatenates them).
func noteBlobs(io objectIO, root, key plumbing.Hash, cache map[plumbing.Hash][]object.TreeEntry) ([]plumbing.Hash, error) {
	h := key.String()
	var out []plumbing.Hash
	var walk func(tree plumbing.Hash, depth int) error
	walk = func(tree plumbing.Hash, depth int) error {
		entries, ok := cache[tree]
		if !ok {
			var err error
			if entries, err = io.treeEntries(tree); err != nil {
				return fmt.Errorf("read notes tree: %w", err)
			}
			if cache != nil {
				cache[tree] = entries
			}
		}
		rest := h[2*depth:]
		for _, e := range entries {
			switch {
			case len(e.Name) == len(rest) && isNoteMode(e.Mode) && strings.EqualFold(e.Name, rest):
				out = append(out, e.Hash)
			case len(e.Name) == 2 && depth < 19 && e.Mode == filemode.Dir && strings.EqualFold(e.Name, rest[:2]):
				if err := walk(e.Hash, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if root.IsZero() {
		return nil, nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// walkNotes calls fn for every note in tree (prefix: the hex already fixed
// by the directories above it).
func walkNotes(io objectIO, tree plumbing.Hash, prefix string, fn func(key, blob plumbing.Hash)) error {
	if tree.IsZero() {
		return nil
	}
	entries, err := io.treeEntries(tree)
	if err != nil {
		return fmt.Errorf("read notes tree: %w", err)
	}
	for _, e := range entries {
		if err := walkEntry(io, e, prefix, fn); err != nil {
			return err
		}
	}
	return nil
}

func walkEntry(io objectIO, e object.TreeEntry, prefix string, fn func(key, blob plumbing.Hash)) error {
	full := len(prefix) + len(e.Name)
	switch {
	case full == 40 && isNoteMode(e.Mode) && isHex(e.Name):
		fn(plumbing.NewHash(strings.ToLower(prefix+e.Name)), e.Hash)
	case len(e.Name) == 2 && full < 40 && e.Mode == filemode.Dir && isHex(e.Name):
		return walkNotes(io, e.Hash, prefix+e.Name, fn)
	}
	return nil
}

// noteChanges lists, for the notes that differ between two notes trees, the
// blobs each has in the new tree (none: removed). Identical subtrees are
// skipped, so the cost follows the size of the change, not of the tree.
type noteChanges map[plumbing.Hash][]plumbing.Hash

func diffNotes(io objectIO, oldTree, newTree plumbing.Hash) (noteChanges, error) {
	out := noteChanges{}
	err := diffNotesAt(io, oldTree, newTree, "", out)
	return out, err
}

func diffNotesAt(io objectIO, a, b plumbing.Hash, prefix string, out noteChanges) error {
	if a == b {
		return nil
	}
	ea, err := io.treeEntries(a)
	if err != nil {
		return fmt.Errorf("read notes tree: %w", err)
	}
	eb, err := io.treeEntries(b)
	if err != nil {
		return fmt.Errorf("read notes tree: %w", err)
	}
	byName := make(map[string]object.TreeEntry, len(ea))
	for _, e := range ea {
		byName[e.Name] = e
	}
	removed := func(key, _ plumbing.Hash) {
		if _, ok := out[key]; !ok {
			out[key] = nil
		}
	}
	added := func(key, blob plumbing.Hash) {
		out[key] = append(out[key], blob)
	}
	for _, e := range eb {
		old, ok := byName[e.Name]
		delete(byName, e.Name)
		switch {
		case ok && old.Hash == e.Hash && old.Mode == e.Mode:
		case ok && old.Mode == filemode.Dir && e.Mode == filemode.Dir && len(e.Name) == 2:
			if err := diffNotesAt(io, old.Hash, e.Hash, prefix+e.Name, out); err != nil {
				return err
			}
		default:
			if ok {
				if err := walkEntry(io, old, prefix, removed); err != nil {
					return err
				}
			}
			if err := walkEntry(io, e, prefix, added); err != nil {
				return err
			}
		}
	}
	for _, old := range byName {
		if err := walkEntry(io, old, prefix, removed); err != nil {
			return err
		}
	}
	return nil
}
