package gitstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/git-evolve/git-evolve/evolve"
)

// Commit creates a candidate of req.Exp: a commit whose only parent is
// req.Parent (a candidate of the same experiment) and whose tree is the
// parent's with req.Files written (nested directories created as needed;
// an existing file keeps its mode), the ref refs/evolve/<exp>/<sha>, and the
// proposed event as the note's first line. Exp, At and Event of the event
// are filled when empty, and so are Parent, Title, Motivation, Inspirations
// and Island from the request. A file outside req.Allowed is refused with
// ErrEditNotAllowed before anything is written.
func (s *Store) Commit(ctx context.Context, req evolve.CommitRequest) (string, error) {
	if err := CheckExperimentName(req.Exp); err != nil {
		return "", err
	}
	if req.When.IsZero() {
		return "", errors.New("commit candidate: the request has no time")
	}
	parent, err := parseID(req.Parent)
	if err != nil {
		return "", fmt.Errorf("commit candidate: parent: %w", err)
	}
	for p := range req.Files {
		if err := checkPath(p); err != nil {
			return "", fmt.Errorf("commit candidate: %w", err)
		}
		ok, err := evolve.MatchFiles(p, req.Allowed)
		if err != nil {
			return "", fmt.Errorf("commit candidate: %w", err)
		}
		if !ok {
			return "", fmt.Errorf("%w: %s is not one of the editable files of experiment %q (evolve.files: %s)",
				ErrEditNotAllowed, p, req.Exp, strings.Join(req.Allowed, ", "))
		}
	}
	if _, ok, err := s.refs.read(CandidateRef(req.Exp, parent.String()).String()); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("%w: parent %s is not a candidate of experiment %q (list them with: git evolve log -e %s)",
			ErrUnknownCandidate, short(parent), req.Exp, req.Exp)
	}
	msg := req.Message
	if msg.Exp == "" {
		msg.Exp = req.Exp
	}
	if msg.Exp != req.Exp {
		return "", fmt.Errorf("commit candidate: message is for experiment %q, request for %q", msg.Exp, req.Exp)
	}
	pc, err := s.readCommit(parent)
	if err != nil {
		return "", err
	}
	tree, err := s.writeFiles(pc.TreeHash, req.Files)
	if err != nil {
		return "", fmt.Errorf("commit candidate: %w", err)
	}
	who := s.Author()
	sig := object.Signature{Name: who.Name, Email: who.Email, When: req.When}
	id, err := s.writeCommit(&object.Commit{Author: sig, Committer: sig, Message: msg.String(), TreeHash: tree, ParentHashes: []plumbing.Hash{parent}})
	if err != nil {
		return "", err
	}
	if err := s.createCandidateRef(req.Exp, id); err != nil {
		return "", err
	}
	ev := req.Proposed
	fill(&ev.Exp, req.Exp)
	fill(&ev.Event, evolve.EventProposed)
	fill(&ev.Parent, parent.String())
	fill(&ev.Title, msg.Title)
	fill(&ev.Motivation, msg.Motivation)
	if ev.At.IsZero() {
		ev.At = req.When
	}
	if len(ev.Inspirations) == 0 {
		ev.Inspirations = msg.Inspirations
	}
	if ev.Island == nil {
		ev.Island = msg.Island
	}
	if err := s.Append(ctx, id.String(), ev); err != nil {
		return id.String(), fmt.Errorf("candidate %s was committed but its proposed event was not recorded: %w", short(id), err)
	}
	return id.String(), nil
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// createCandidateRef creates refs/evolve/<exp>/<id>; an existing ref with
// the same value is fine (the same commit was made twice).
func (s *Store) createCandidateRef(exp string, id plumbing.Hash) error {
	name := CandidateRef(exp, id.String()).String()
	err := s.refs.update(name, id, plumbing.ZeroHash)
	if errors.Is(err, errRefChanged) {
		if cur, ok, rerr := s.refs.read(name); rerr == nil && ok && cur == id {
			return nil
		}
	}
	return err
}

// EnsureBaseline returns the baseline of req.Exp, creating it when the
// experiment has none: a commit on top of req.Parent (a revision, "" for
// HEAD) with the same tree and the message "evolve(<exp>): baseline", its
// ref and a proposed event. The baseline commit carries its parent's
// committer as author and committer, so two machines starting the same
// experiment from the same commit make the very same baseline. When several
// baselines exist (made from different commits), the oldest is returned.
func (s *Store) EnsureBaseline(ctx context.Context, req evolve.BaselineRequest) (string, bool, error) {
	if err := CheckExperimentName(req.Exp); err != nil {
		return "", false, err
	}
	if req.When.IsZero() {
		return "", false, errors.New("create baseline: the request has no time")
	}
	if id, ok, err := s.findBaseline(ctx, req.Exp); err != nil || ok {
		return id, false, err
	}
	unlock, err := s.lockNotes(ctx)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	// Another process may have created it while we waited for the lock.
	if id, ok, err := s.findBaseline(ctx, req.Exp); err != nil || ok {
		return id, false, err
	}
	rev := req.Parent
	if rev == "" {
		rev = "HEAD"
	}
	s.objMu.Lock()
	ph, err := s.repo.ResolveRevision(plumbing.Revision(rev))
	s.objMu.Unlock()
	if err != nil {
		if rev == "HEAD" {
			return "", false, fmt.Errorf("create baseline of %q: HEAD does not name a commit (commit the experiment first): %w", req.Exp, err)
		}
		return "", false, fmt.Errorf("create baseline of %q: resolve %q: %w", req.Exp, rev, err)
	}
	pc, err := s.readCommit(*ph)
	if err != nil {
		return "", false, err
	}
	msg := evolve.CommitMessage{Exp: req.Exp, Title: "baseline"}
	id, err := s.writeCommit(&object.Commit{Author: pc.Committer, Committer: pc.Committer, Message: msg.String(),
		TreeHash: pc.TreeHash, ParentHashes: []plumbing.Hash{*ph}})
	if err != nil {
		return "", false, err
	}
	if err := s.createCandidateRef(req.Exp, id); err != nil {
		return "", false, err
	}
	ev := evolve.Event{V: evolve.FormatVersion, Exp: req.Exp, Event: evolve.EventProposed, At: req.When, By: req.By, Title: "baseline"}
	lines, _, err := encodeEvents(id, []evolve.Event{ev})
	if err != nil {
		return "", false, err
	}
	if err := s.appendNotesLocked(ctx, []noteAppend{{key: id, lines: lines}}, fmt.Sprintf("Notes added by 'git evolve': baseline of %s\n", req.Exp)); err != nil {
		return id.String(), true, fmt.Errorf("baseline %s was committed but its proposed event was not recorded: %w", short(id), err)
	}
	return id.String(), true, nil
}

// findBaseline returns the oldest baseline of exp, if any.
func (s *Store) findBaseline(ctx context.Context, exp string) (string, bool, error) {
	refs, err := s.refs.names(RefPrefix + exp + "/")
	if err != nil || len(refs) == 0 {
		return "", false, err
	}
	cs, err := s.Candidates(ctx, exp)
	if err != nil {
		return "", false, err
	}
	var best *evolve.Candidate
	for i := range cs {
		c := &cs[i]
		if c.Baseline && (best == nil || c.Time.Before(best.Time) || c.Time.Equal(best.Time) && c.ID < best.ID) {
			best = c
		}
	}
	if best == nil {
		return "", false, nil
	}
	return best.ID, true, nil
}

// baselineSubject is the first line of a baseline commit of exp.
func baselineSubject(exp string) string {
	return subject(evolve.CommitMessage{Exp: exp, Title: "baseline"}.String())
}

// subject is the first line of a commit message.
func subject(msg string) string {
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

// checkPath accepts a clean, relative, slash-separated path inside the
// worktree (no "..", no .git).
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." {
		return fmt.Errorf("invalid path %q: want a clean path relative to the repository root", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || strings.EqualFold(c, ".git") || strings.ContainsRune(c, 0) {
			return fmt.Errorf("invalid path %q: it leaves the worktree or enters .git", p)
		}
	}
	return nil
}

// changeDir is a directory of pending file writes.
type changeDir struct {
	files map[string][]byte
	dirs  map[string]*changeDir
}

func (c *changeDir) add(p string, data []byte) {
	dir, rest, nested := strings.Cut(p, "/")
	if !nested {
		if c.files == nil {
			c.files = map[string][]byte{}
		}
		c.files[dir] = data
		return
	}
	if c.dirs == nil {
		c.dirs = map[string]*changeDir{}
	}
	sub := c.dirs[dir]
	if sub == nil {
		sub = &changeDir{}
		c.dirs[dir] = sub
	}
	sub.add(rest, data)
}

// writeFiles returns the tree root with files written.
func (s *Store) writeFiles(root plumbing.Hash, files map[string][]byte) (plumbing.Hash, error) {
	if len(files) == 0 {
		return root, nil
	}
	c := &changeDir{}
	for p, data := range files {
		c.add(p, data)
	}
	return s.rewriteDir(root, c, "")
}

func (s *Store) rewriteDir(tree plumbing.Hash, c *changeDir, prefix string) (plumbing.Hash, error) {
	old, err := s.treeEntries(tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	entries := make([]object.TreeEntry, 0, len(old)+len(c.files)+len(c.dirs))
	byName := map[string]object.TreeEntry{}
	for _, e := range old {
		byName[e.Name] = e
	}
	for name, data := range c.files {
		mode := filemode.Regular
		if e, ok := byName[name]; ok {
			switch {
			case e.Mode == filemode.Dir:
				return plumbing.ZeroHash, fmt.Errorf("cannot write %s%s: it is a directory in the parent's tree", prefix, name)
			case e.Mode == filemode.Executable:
				mode = filemode.Executable
			}
		}
		h, err := s.writeBlob(data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		byName[name] = object.TreeEntry{Name: name, Mode: mode, Hash: h}
	}
	for name, sub := range c.dirs {
		var subTree plumbing.Hash
		if e, ok := byName[name]; ok {
			if e.Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("cannot write into %s%s/: it is a file in the parent's tree", prefix, name)
			}
			subTree = e.Hash
		}
		h, err := s.rewriteDir(subTree, sub, prefix+name+"/")
		if err != nil {
			return plumbing.ZeroHash, err
		}
		byName[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	for _, e := range byName {
		entries = append(entries, e)
	}
	return s.writeTree(entries)
}

// Files reads paths from the tree of commit id (a full hash). A path that
// is missing, or is not a file, is absent from the result.
func (s *Store) Files(ctx context.Context, id string, paths []string) (map[string][]byte, error) {
	h, err := parseID(id)
	if err != nil {
		return nil, err
	}
	c, err := s.readCommit(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnknownCandidate, short(h), err)
	}
	out := map[string][]byte{}
	cache := map[plumbing.Hash][]object.TreeEntry{}
	for _, p := range paths {
		e, ok, err := s.lookupPath(c.TreeHash, p, cache)
		if err != nil {
			return nil, err
		}
		if !ok || !e.Mode.IsFile() || e.Mode == filemode.Symlink {
			continue
		}
		data, err := s.readBlob(e.Hash)
		if err != nil {
			return nil, err
		}
		out[p] = data
	}
	return out, nil
}

func (s *Store) lookupPath(root plumbing.Hash, p string, cache map[plumbing.Hash][]object.TreeEntry) (object.TreeEntry, bool, error) {
	tree := root
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, name := range parts {
		entries, ok := cache[tree]
		if !ok {
			var err error
			if entries, err = s.treeEntries(tree); err != nil {
				return object.TreeEntry{}, false, err
			}
			cache[tree] = entries
		}
		var found *object.TreeEntry
		for j := range entries {
			if entries[j].Name == name {
				found = &entries[j]
				break
			}
		}
		if found == nil {
			return object.TreeEntry{}, false, nil
		}
		if i == len(parts)-1 {
			return *found, true, nil
		}
		if found.Mode != filemode.Dir {
			return object.TreeEntry{}, false, nil
		}
		tree = found.Hash
	}
	return object.TreeEntry{}, false, nil
}

// Resolve returns the full id of the candidate of exp ("" = any
// experiment) whose id starts with prefix (at least 4 hex digits).
// Errors wrap ErrUnknownCandidate or ErrAmbiguousCandidate.
func (s *Store) Resolve(ctx context.Context, exp, prefix string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(prefix))
	if len(p) < 4 || len(p) > 40 || !isHex(p) {
		return "", fmt.Errorf("invalid candidate id %q: give at least 4 hex digits of its commit hash", prefix)
	}
	listPrefix := RefPrefix
	if exp != "" {
		if err := CheckExperimentName(exp); err != nil {
			return "", err
		}
		listPrefix = RefPrefix + exp + "/" + p
	}
	refs, err := s.refs.names(listPrefix)
	if err != nil {
		return "", err
	}
	type match struct{ id, exp string }
	var matches []match
	seen := map[string]bool{}
	for _, r := range refs {
		e, id, ok := splitCandidateRef(r.name)
		if !ok || !strings.HasPrefix(id, p) || seen[id] {
			continue
		}
		seen[id] = true
		matches = append(matches, match{id, e})
	}
	switch len(matches) {
	case 1:
		return matches[0].id, nil
	case 0:
		if exp != "" {
			return "", fmt.Errorf("%w %q in experiment %q: list its candidates with: git evolve log -e %s", ErrUnknownCandidate, prefix, exp, exp)
		}
		return "", fmt.Errorf("%w %q: no experiment has a candidate with this id; list candidates with: git evolve log -e <experiment>", ErrUnknownCandidate, prefix)
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].id < matches[j].id })
	var names []string
	for i, m := range matches {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(matches)-5))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s)", m.id[:12], m.exp))
	}
	return "", fmt.Errorf("%w %q matches %d candidates: %s; give more digits", ErrAmbiguousCandidate, prefix, len(matches), strings.Join(names, ", "))
}

// splitCandidateRef splits refs/evolve/<exp>/<40 hex>.
func splitCandidateRef(name string) (exp, id string, ok bool) {
	rest, found := strings.CutPrefix(name, RefPrefix)
	if !found {
		return "", "", false
	}
	exp, id, found = strings.Cut(rest, "/")
	if !found || len(id) != 40 || !isHex(id) || CheckExperimentName(exp) != nil {
		return "", "", false
	}
	return exp, strings.ToLower(id), true
}

// Experiments lists the experiments that have candidates, sorted.
func (s *Store) Experiments(ctx context.Context) ([]string, error) {
	refs, err := s.refs.names(RefPrefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		if exp, _, ok := splitCandidateRef(r.name); ok && !seen[exp] {
			seen[exp] = true
			out = append(out, exp)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Diff returns the unified diff from revision from to revision to (commit
// ids or anything git-style revision syntax go-git resolves); from "" is
// the empty tree.
func (s *Store) Diff(ctx context.Context, from, to string) (string, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	treeOf := func(rev string) (*object.Tree, error) {
		if rev == "" {
			return nil, nil
		}
		h, err := s.repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return nil, fmt.Errorf("diff: resolve %q: %w", rev, err)
		}
		c, err := object.GetCommit(s.st, *h)
		if err != nil {
			return nil, fmt.Errorf("diff: read commit %s: %w", h, err)
		}
		return c.Tree()
	}
	a, err := treeOf(from)
	if err != nil {
		return "", err
	}
	b, err := treeOf(to)
	if err != nil {
		return "", err
	}
	changes, err := object.DiffTreeWithOptions(ctx, a, b, object.DefaultDiffTreeOptions)
	if err != nil {
		return "", fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	patch, err := changes.PatchContext(ctx)
	if err != nil {
		return "", fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	return patch.String(), nil
}
