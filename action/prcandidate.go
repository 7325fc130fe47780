package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
)

// Fields of the proposed event of a candidate imported from a pull request
// (kept by older readers as unknown fields).
const (
	FieldPR     = "pr"      // pull request number
	FieldPRHead = "pr_head" // head commit the candidate was made from
)

// maxAncestors bounds the walk of the merge base's history that looks for
// candidates; histories longer than this are cut (the oldest part is not
// searched).
const maxAncestors = 200000

// ImportRequest turns a pull request's head into a candidate.
type ImportRequest struct {
	Exp       string
	PR        PullRequest
	Allowed   []string // evolve.files of the trusted (base) configuration
	Direction evolve.Direction
	When      time.Time
	By        string
}

// Imported says what ImportPullRequest did.
type Imported struct {
	ID        string   // the candidate ("" when Unchanged)
	Parent    string   // its parent candidate
	Files     []string // editable files taken from the head
	Outside   []string // files the pull request changes outside evolve.files (not part of the candidate)
	Existing  bool     // the head was imported before (or is itself a candidate): nothing was written
	Unchanged bool     // the head changes none of the editable files: no candidate was made
}

// ImportPullRequest makes the head of a pull request a candidate of
// req.Exp. Its parent is the best evaluated candidate that the merge base
// of head and base contains (a candidate merged earlier), or else the
// baseline (created on the base commit when the experiment has none). Its
// tree is the parent's with the editable files (req.Allowed, from the
// trusted base configuration) of the head; everything else of the head,
// scripts included, is left out. The proposed event records the pull
// request's number and head, so that running again for the same head finds
// the same candidate (Existing) instead of making another.
func ImportPullRequest(ctx context.Context, s *gitstore.Store, req ImportRequest) (Imported, error) {
	pr := req.PR
	if len(req.Allowed) == 0 {
		return Imported{}, fmt.Errorf("experiment %s lists no editable files (evolve.files)", req.Exp)
	}
	repo := s.Repository()
	head, err := commitOf(repo, pr.HeadSHA, fmt.Sprintf("head of pull request #%d", pr.Number))
	if err != nil {
		return Imported{}, err
	}
	baseCommit, err := commitOf(repo, pr.BaseSHA, fmt.Sprintf("base of pull request #%d", pr.Number))
	if err != nil {
		return Imported{}, err
	}
	cands, err := s.Candidates(ctx, req.Exp)
	if err != nil {
		return Imported{}, err
	}
	for _, c := range cands {
		if c.ID == head.Hash.String() || c.Proposed != nil && extraString(c.Proposed.Extra[FieldPRHead]) == head.Hash.String() {
			made, err := commitOf(repo, c.ID, "candidate")
			if err != nil {
				return Imported{}, err
			}
			files, err := matchingFiles(made, req.Allowed)
			if err != nil {
				return Imported{}, err
			}
			return Imported{ID: c.ID, Parent: c.Parent, Files: files, Existing: true}, nil
		}
	}
	if len(cands) == 0 {
		if _, _, err := s.EnsureBaseline(ctx, evolve.BaselineRequest{Exp: req.Exp, Parent: baseCommit.Hash.String(), When: req.When, By: req.By}); err != nil {
			return Imported{}, err
		}
		if cands, err = s.Candidates(ctx, req.Exp); err != nil {
			return Imported{}, err
		}
	}
	bases, err := head.MergeBase(baseCommit)
	if err != nil {
		return Imported{}, fmt.Errorf("merge base of pull request #%d: %w", pr.Number, err)
	}
	parent, err := reachableParent(bases, cands, req.Direction)
	if err != nil {
		return Imported{}, err
	}
	out := Imported{Parent: parent}

	files, err := matchingFiles(head, req.Allowed)
	if err != nil {
		return Imported{}, err
	}
	if len(files) == 0 {
		return Imported{}, fmt.Errorf("the head of pull request #%d has none of the editable files of %s (evolve.files: %s)",
			pr.Number, req.Exp, strings.Join(req.Allowed, ", "))
	}
	headFiles, err := s.Files(ctx, head.Hash.String(), files)
	if err != nil {
		return Imported{}, err
	}
	parentFiles, err := s.Files(ctx, parent, files)
	if err != nil {
		return Imported{}, err
	}
	changed := map[string][]byte{}
	for _, p := range files {
		if old, ok := parentFiles[p]; !ok || !bytes.Equal(old, headFiles[p]) {
			changed[p] = headFiles[p]
		}
	}
	out.Files = files
	if len(bases) > 0 {
		out.Outside, err = changedOutside(bases[0], head, req.Allowed)
		if err != nil {
			return Imported{}, err
		}
	}
	if len(changed) == 0 {
		out.Unchanged = true
		return out, nil
	}
	title := fmt.Sprintf("PR #%d: %s", pr.Number, oneLine(pr.Title))
	motivation := strings.TrimSpace(pr.Body)
	if motivation == "" {
		motivation = fmt.Sprintf("Pull request #%d (%s), evaluated as a candidate.", pr.Number, pr.HeadRef)
	}
	motivation = cut(motivation, maxMotivation)
	prNum, _ := json.Marshal(pr.Number)
	prHead, _ := json.Marshal(head.Hash.String())
	id, err := s.Commit(ctx, evolve.CommitRequest{
		Exp: req.Exp, Parent: parent, Files: changed, Allowed: req.Allowed, When: req.When,
		Message: evolve.CommitMessage{Exp: req.Exp, Title: cut(title, 200), Motivation: motivation},
		Proposed: evolve.Event{V: evolve.FormatVersion, Exp: req.Exp, Event: evolve.EventProposed, At: req.When, By: req.By,
			Sampler: "pull-request", Title: cut(title, 200), Motivation: motivation,
			Extra: map[string]json.RawMessage{FieldPR: prNum, FieldPRHead: prHead}},
	})
	if err != nil {
		return out, fmt.Errorf("make pull request #%d a candidate: %w", pr.Number, err)
	}
	out.ID = id
	return out, nil
}

func commitOf(repo *git.Repository, sha, what string) (*object.Commit, error) {
	h := plumbing.NewHash(sha)
	if h.IsZero() {
		return nil, fmt.Errorf("%s: %q is not a commit id", what, sha)
	}
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("%s: commit %s is not in this repository (check out with fetch-depth: 0, or fetch it): %w", what, sha[:min(8, len(sha))], err)
	}
	return c, nil
}

func extraString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// reachableParent returns the best evaluated candidate among the ancestors
// of bases (themselves included), else the experiment's baseline.
func reachableParent(bases []*object.Commit, cands []evolve.Candidate, dir evolve.Direction) (string, error) {
	byID := make(map[plumbing.Hash]evolve.Candidate, len(cands))
	var base *evolve.Candidate
	for i := range cands {
		c := cands[i]
		byID[plumbing.NewHash(c.ID)] = c
		if c.Baseline && (base == nil || c.Time.Before(base.Time) || c.Time.Equal(base.Time) && c.ID < base.ID) {
			base = &cands[i]
		}
	}
	var reachable []evolve.Candidate
	seen := map[plumbing.Hash]bool{}
	for _, b := range bases {
		it := object.NewCommitPreorderIter(b, seen, nil)
		n := 0
		err := it.ForEach(func(c *object.Commit) error {
			if n++; n > maxAncestors {
				return storer.ErrStop
			}
			seen[c.Hash] = true
			if cand, ok := byID[c.Hash]; ok {
				reachable = append(reachable, cand)
			}
			return nil
		})
		if err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
			return "", fmt.Errorf("walk the history of the merge base: %w", err)
		}
	}
	if best, ok := evolve.Best(reachable, dir); ok {
		return best.ID, nil
	}
	if base == nil {
		return "", errors.New("the experiment has no baseline")
	}
	return base.ID, nil
}

// matchingFiles lists the files of c's tree that match patterns, in the
// order of the patterns (matches of one pattern sorted).
func matchingFiles(c *object.Commit, patterns []string) ([]string, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s: %w", c.Hash.String()[:8], err)
	}
	matches := make([][]string, len(patterns))
	err = tree.Files().ForEach(func(f *object.File) error {
		if f.Mode == filemode.Symlink || f.Mode == filemode.Submodule {
			return nil
		}
		for i, p := range patterns {
			ok, err := evolve.MatchFiles(f.Name, []string{p})
			if err != nil {
				return err
			}
			if ok {
				matches[i] = append(matches[i], f.Name)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// changedOutside lists the files that differ between from and to and are
// not editable.
func changedOutside(from, to *object.Commit, patterns []string) ([]string, error) {
	a, err := from.Tree()
	if err != nil {
		return nil, err
	}
	b, err := to.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from.Hash.String()[:8], to.Hash.String()[:8], err)
	}
	var out []string
	for _, ch := range changes {
		name := ch.To.Name
		if name == "" {
			name = ch.From.Name
		}
		if ok, _ := evolve.MatchFiles(name, patterns); !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ExtractDir writes the files under dir (a repository path, "" for the
// whole tree) of commit sha into dst, keeping the executable bit; symbolic
// links and submodules are left out. It is how the Action runs the
// evaluation script of the trusted base commit rather than whatever the
// checked-out pull request holds.
func ExtractDir(repo *git.Repository, sha, dir, dst string) error {
	c, err := commitOf(repo, sha, "extract "+dir)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		if tree, err = tree.Tree(dir); err != nil {
			return fmt.Errorf("%s is not a folder of commit %s: %w", dir, sha[:8], err)
		}
	}
	return tree.Files().ForEach(func(f *object.File) error {
		if f.Mode != filemode.Regular && f.Mode != filemode.Executable && f.Mode != filemode.Deprecated {
			return nil
		}
		if strings.HasPrefix(f.Name, "../") || strings.Contains(f.Name, "/../") {
			return fmt.Errorf("unsafe path %q in commit %s", f.Name, sha[:8])
		}
		p := filepath.Join(dst, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if f.Mode == filemode.Executable {
			mode = 0o755
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
		return w.Close()
	})
}
