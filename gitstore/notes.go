package gitstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/git-evolve/git-evolve/evolve"
)

// casRetries bounds the retries of a notes ref update that lost a race with
// a writer that does not take the lock file (git itself, a fetch).
const casRetries = 10

// Append records events on the note of candidate id (a full hash): each
// event becomes one JSON line appended to the note's blob, in a new notes
// commit on refs/notes/evolve. Events are validated first; nothing is
// written if one is invalid.
func (s *Store) Append(ctx context.Context, id string, events ...evolve.Event) error {
	key, err := parseID(id)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	lines, kinds, err := encodeEvents(key, events)
	if err != nil {
		return err
	}
	if !s.hasObject(key) {
		return fmt.Errorf("%w: no commit %s in the repository", ErrUnknownCandidate, key)
	}
	unlock, err := s.lockNotes(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.appendNotesLocked(ctx, []noteAppend{{key: key, lines: lines}}, fmt.Sprintf("Notes added by 'git evolve': %s on %s\n", kinds, short(key)))
}

// noteAppend is lines to add at the end of one object's note.
type noteAppend struct {
	key   plumbing.Hash
	lines []byte
}

func encodeEvents(key plumbing.Hash, events []evolve.Event) (lines []byte, kinds string, err error) {
	var names []string
	for i, e := range events {
		if e.V == 0 {
			e.V = evolve.FormatVersion
		}
		if err := e.Validate(); err != nil {
			return nil, "", fmt.Errorf("event %d (%s) for candidate %s: %w", i+1, e.Event, short(key), err)
		}
		l, err := e.Line()
		if err != nil {
			return nil, "", fmt.Errorf("event %d (%s) for candidate %s: %w", i+1, e.Event, short(key), err)
		}
		lines = append(append(lines, l...), '\n')
		names = append(names, e.Event)
	}
	return lines, strings.Join(names, ", "), nil
}

// appendNotesLocked writes a notes commit appending edits; the caller holds
// the notes lock. It retries when the ref moved under it.
func (s *Store) appendNotesLocked(ctx context.Context, edits []noteAppend, msg string) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.tryAppendNotes(edits, msg)
		if !errors.Is(err, errRefChanged) || attempt >= casRetries {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

func (s *Store) tryAppendNotes(edits []noteAppend, msg string) error {
	oldCommit, oldTree, err := s.notesHead()
	if err != nil {
		return err
	}
	t, err := loadNotesTree(s, oldTree)
	if err != nil {
		return err
	}
	for _, e := range edits {
		cur, err := t.get(e.key)
		if err != nil {
			return err
		}
		var content []byte
		if !cur.IsZero() {
			if content, err = s.readBlob(cur); err != nil {
				return err
			}
		}
		if len(content) > 0 && content[len(content)-1] != '\n' {
			content = append(content, '\n')
		}
		blob, err := s.writeBlob(append(content, e.lines...))
		if err != nil {
			return err
		}
		if err := t.set(e.key, blob); err != nil {
			return err
		}
	}
	return s.commitNotes(t, []plumbing.Hash{oldCommit}, oldCommit, msg)
}

// commitNotes writes tree t as a notes commit with the given parents (zero
// hashes dropped) and moves the notes ref from old to it.
func (s *Store) commitNotes(t *notesTree, parents []plumbing.Hash, old plumbing.Hash, msg string) error {
	tree, err := t.write()
	if err != nil {
		return err
	}
	var ps []plumbing.Hash
	for _, p := range parents {
		if !p.IsZero() {
			ps = append(ps, p)
		}
	}
	return s.commitNotesTree(NotesRef, tree, ps, old, msg)
}

func (s *Store) commitNotesTree(ref plumbing.ReferenceName, tree plumbing.Hash, parents []plumbing.Hash, old plumbing.Hash, msg string) error {
	id := s.Author()
	sig := object.Signature{Name: id.Name, Email: id.Email, When: s.now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree, ParentHashes: parents}
	h, err := s.writeCommit(c)
	if err != nil {
		return err
	}
	return s.refs.update(ref.String(), h, old)
}

// notesHead returns the notes commit and its tree (zero hashes: no notes).
func (s *Store) notesHead() (commit, tree plumbing.Hash, err error) {
	return s.notesHeadOf(NotesRef)
}

func (s *Store) notesHeadOf(ref plumbing.ReferenceName) (commit, tree plumbing.Hash, err error) {
	h, ok, err := s.refs.read(ref.String())
	if err != nil || !ok {
		return plumbing.ZeroHash, plumbing.ZeroHash, err
	}
	c, err := s.readCommit(h)
	if err != nil {
		return plumbing.ZeroHash, plumbing.ZeroHash, fmt.Errorf("%s: %w", ref, err)
	}
	return h, c.TreeHash, nil
}

// Note returns the raw note of candidate id (a full hash); nil when it has
// none. Notes stored twice in the tree (mixed fanout) are joined.
func (s *Store) Note(ctx context.Context, id string) ([]byte, error) {
	key, err := parseID(id)
	if err != nil {
		return nil, err
	}
	_, tree, err := s.notesHead()
	if err != nil {
		return nil, err
	}
	blobs, err := noteBlobs(s, tree, key, nil)
	if err != nil {
		return nil, err
	}
	return s.joinBlobs(blobs)
}

func (s *Store) joinBlobs(blobs []plumbing.Hash) ([]byte, error) {
	var out []byte
	for i, b := range blobs {
		data, err := s.readBlob(b)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out = data
			continue
		}
		out = catSortUniq(out, data)
	}
	return out, nil
}

// Events reads and folds the note of candidate id. Lines that do not parse
// are skipped and reported in Record.Warnings, each naming the candidate.
func (s *Store) Events(ctx context.Context, id string) (evolve.Record, error) {
	note, err := s.Note(ctx, id)
	if err != nil {
		return evolve.Record{}, err
	}
	key, _ := parseID(id)
	return foldNote(key, note), nil
}

// foldNote parses and folds a note, naming the candidate in its warnings.
func foldNote(key plumbing.Hash, note []byte) evolve.Record {
	evs, warns := evolve.ParseNote(note)
	r := evolve.Fold(evs)
	for i := range warns {
		warns[i].Err = fmt.Errorf("note of candidate %s: %w", short(key), warns[i].Err)
	}
	r.Warnings = warns
	return r
}

// catSortUniq is git's cat_sort_uniq notes combination: the lines of both
// notes, sorted bytewise, without duplicates or empty lines, each ending
// with a newline.
func catSortUniq(notes ...[]byte) []byte {
	var lines []string
	for _, n := range notes {
		for _, l := range strings.Split(string(n), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 && l == lines[i-1] {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
