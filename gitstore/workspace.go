package gitstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/git-evolve/git-evolve/evolve"
)

var _ evolve.Store = (*Store)(nil)

// WorkspaceStateFile is the file inside a workspace that records what the
// last Checkout wrote there. A directory without it is not a workspace.
const WorkspaceStateFile = ".evolve-workspace"

// ErrNotWorkspace: Checkout was asked to write into a directory that is not
// empty and holds no WorkspaceStateFile. Nothing was changed; remove the
// directory (or pick another) and try again.
var ErrNotWorkspace = errors.New("not a git-evolve workspace")

const workspaceHeader = "git-evolve workspace 1"

// Checkout makes dir hold exactly the tree of candidate id (a full commit
// hash): its files with their executable bits, its symbolic links, an empty
// directory per submodule, and nothing else besides WorkspaceStateFile. It
// reads objects only; the repository's worktree, index and refs are never
// touched. dir is created when missing; it must not lie inside the
// repository's working tree (a folder under the git directory, such as
// .git/evolve/workspaces/, is fine).
//
// Checkout is incremental. It compares the candidate's tree with the tree the
// previous Checkout into dir wrote (recorded in WorkspaceStateFile) and
// rewrites only the files that differ; subtrees with the same hash are not
// even read. It also repairs what happened to dir since: every file is
// checked with lstat against the size, modification time and mode it was
// written with (Checkout sets each file's mtime to the commit time, as git
// archive does, so a later edit always shows), and files that changed or
// vanished are rewritten, while files, directories and links that are not
// in the tree are removed. Existing paths are removed before being written,
// so a link planted in the workspace is never followed.
//
// Errors: ErrNotWorkspace for a non-empty directory that is not a workspace;
// an id that is not a full hash or not a commit of the repository, and a
// directory inside the working tree, are refused with an error naming them;
// ctx cancellation stops the work with ctx.Err() wrapped (the next Checkout
// repairs a half-written workspace).
func (s *Store) Checkout(ctx context.Context, id string, dir string) error {
	h, err := parseID(id)
	if err != nil {
		return err
	}
	if dir == "" {
		return errors.New("checkout: no workspace directory given")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("checkout into %s: %w", dir, err)
	}
	if err := s.checkWorkspacePlace(dir); err != nil {
		return err
	}
	unlock := lockWorkspace(dir)
	defer unlock()

	commit, err := s.readCommit(h)
	if err != nil {
		return fmt.Errorf("checkout of candidate %s: %w", short(h), err)
	}
	w := &workspace{s: s, ctx: ctx, dir: dir, mtime: commit.Committer.When}
	if err := w.load(); err != nil {
		return err
	}
	if err := w.plan(commit.TreeHash); err != nil {
		return fmt.Errorf("checkout of candidate %s into %s: %w", short(h), dir, err)
	}
	if err := w.sync(); err != nil {
		return fmt.Errorf("checkout of candidate %s into %s: %w", short(h), dir, err)
	}
	w.commit, w.tree = h, commit.TreeHash
	if err := w.save(); err != nil {
		return fmt.Errorf("checkout of candidate %s into %s: %w", short(h), dir, err)
	}
	return nil
}

// checkWorkspacePlace refuses a workspace inside the user's working tree,
// unless it is inside the git directory.
func (s *Store) checkWorkspacePlace(dir string) error {
	if s.root == "" {
		return nil
	}
	inside := func(root string) bool {
		if root == "" {
			return false
		}
		rel, err := filepath.Rel(root, dir)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	if !inside(s.root) {
		return nil
	}
	if inside(s.gitDir) || (s.evolveDir != "" && inside(filepath.Dir(s.evolveDir))) {
		return nil
	}
	return fmt.Errorf("workspace %s is inside the working tree %s: use a folder outside it, e.g. under .git/evolve/workspaces/", dir, s.root)
}

var workspaceLocks sync.Map // absolute dir -> *sync.Mutex

func lockWorkspace(dir string) func() {
	m, _ := workspaceLocks.LoadOrStore(dir, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// wsEntry is one non-directory entry of a workspace: what the tree says and,
// once written, what lstat said about it.
type wsEntry struct {
	mode  filemode.FileMode
	hash  plumbing.Hash
	size  int64
	mtime int64 // unix nanoseconds; 0 = unknown, check the content instead
}

type workspace struct {
	s     *Store
	ctx   context.Context
	dir   string
	mtime time.Time // modification time given to written files

	known        bool // the state file was read: files may be trusted by their stamps
	commit, tree plumbing.Hash
	files        map[string]*wsEntry // slash-separated path -> entry, after plan: the new tree
	dirty        map[string]bool     // paths whose content the plan changed
	dirs         map[string]bool     // directories the new tree needs ("" is dir itself)
}

// load reads the state file. A missing directory or an empty one is an
// empty workspace; a non-empty one without a state file is refused; an
// unreadable state file means nothing on disk can be trusted.
func (w *workspace) load() error {
	w.files = map[string]*wsEntry{}
	f, err := os.Open(filepath.Join(w.dir, WorkspaceStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		names, rerr := readDirNames(w.dir)
		if rerr == nil && len(names) > 0 {
			return fmt.Errorf("%w: %s is not empty and has no %s; remove it or choose another folder", ErrNotWorkspace, w.dir, WorkspaceStateFile)
		}
		w.known = true // empty or missing: nothing to distrust
		return nil
	}
	if err != nil {
		return fmt.Errorf("read workspace state %s: %w", filepath.Join(w.dir, WorkspaceStateFile), err)
	}
	defer f.Close()
	files, commit, tree, ok := parseWorkspaceState(f)
	if !ok {
		return nil // damaged state: full rewrite
	}
	w.files, w.commit, w.tree, w.known = files, commit, tree, true
	return nil
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

func parseWorkspaceState(r io.Reader) (files map[string]*wsEntry, commit, tree plumbing.Hash, ok bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var head []string
	for len(head) < 3 && sc.Scan() {
		head = append(head, sc.Text())
	}
	if len(head) < 3 || head[0] != workspaceHeader {
		return nil, commit, tree, false
	}
	c, okC := strings.CutPrefix(head[1], "commit ")
	t, okT := strings.CutPrefix(head[2], "tree ")
	if !okC || !okT || !plumbing.IsHash(c) || !plumbing.IsHash(t) {
		return nil, commit, tree, false
	}
	files = map[string]*wsEntry{}
	for sc.Scan() {
		// <mode> <hash> <size> <mtime-ns> <path>
		f := strings.SplitN(sc.Text(), " ", 5)
		if len(f) != 5 || !plumbing.IsHash(f[1]) {
			return nil, commit, tree, false
		}
		mode, err1 := filemode.New(f[0])
		size, err2 := strconv.ParseInt(f[2], 10, 64)
		mtime, err3 := strconv.ParseInt(f[3], 10, 64)
		p := f[4]
		var err4 error
		if strings.HasPrefix(p, `"`) {
			p, err4 = strconv.Unquote(p)
		}
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !safePath(p) {
			return nil, commit, tree, false
		}
		files[p] = &wsEntry{mode: mode, hash: plumbing.NewHash(f[1]), size: size, mtime: mtime}
	}
	if sc.Err() != nil {
		return nil, commit, tree, false
	}
	return files, plumbing.NewHash(c), plumbing.NewHash(t), true
}

// save writes the state file atomically (a crash leaves the old state or
// none, and an old state is repaired by the checks of the next Checkout).
func (w *workspace) save() error {
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b bytes.Buffer
	b.Grow(len(paths) * 100)
	fmt.Fprintf(&b, "%s\ncommit %s\ntree %s\n", workspaceHeader, w.commit, w.tree)
	for _, p := range paths {
		e := w.files[p]
		q := p
		if strings.ContainsAny(p, "\n\r") || strings.HasPrefix(p, `"`) {
			q = strconv.Quote(p)
		}
		b.WriteString(e.mode.String())
		b.WriteByte(' ')
		b.WriteString(e.hash.String())
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(e.size, 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(e.mtime, 10))
		b.WriteByte(' ')
		b.WriteString(q)
		b.WriteByte('\n')
	}
	tmp := filepath.Join(w.dir, WorkspaceStateFile+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write workspace state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, WorkspaceStateFile)); err != nil {
		return fmt.Errorf("write workspace state: %w", err)
	}
	return nil
}

// plan turns w.files into the entries of tree, marking what changed. With a
// trusted state, only the subtrees whose hash differs from the previous
// tree's are read.
func (w *workspace) plan(tree plumbing.Hash) error {
	w.dirty = map[string]bool{}
	old := w.tree
	if !w.known || !old.IsZero() && !w.s.hasObject(old) {
		// Nothing to compare with (the previous tree may have been pruned):
		// every file is rewritten.
		old = plumbing.ZeroHash
		w.files = map[string]*wsEntry{}
	}
	if err := w.diff("", old, tree); err != nil {
		return err
	}
	w.dirs = map[string]bool{"": true}
	for p, e := range w.files {
		if e.mode == filemode.Submodule {
			w.dirs[p] = true
		}
		for d := path.Dir(p); d != "." && !w.dirs[d]; d = path.Dir(d) {
			w.dirs[d] = true
		}
	}
	return nil
}

// diff applies the differences between the trees old and new, both at
// prefix, to w.files.
func (w *workspace) diff(prefix string, old, new plumbing.Hash) error {
	if old == new {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	oldEntries, err := w.s.treeEntries(old)
	if err != nil {
		return err
	}
	newEntries, err := w.s.treeEntries(new)
	if err != nil {
		return err
	}
	olds := make(map[string]object.TreeEntry, len(oldEntries))
	for _, e := range oldEntries {
		olds[e.Name] = e
	}
	seen := make(map[string]bool, len(newEntries))
	for _, n := range newEntries {
		if !safeName(n.Name) {
			return fmt.Errorf("tree %s has an unsafe entry name %q", new, n.Name)
		}
		if prefix == "" && (n.Name == WorkspaceStateFile || n.Name == WorkspaceStateFile+".tmp") {
			return fmt.Errorf("the tree holds %s at its root, a name git-evolve reserves for its workspace state", n.Name)
		}
		seen[n.Name] = true
		p := prefix + n.Name
		o, had := olds[n.Name]
		if had && o.Mode == n.Mode && o.Hash == n.Hash {
			continue
		}
		switch {
		case n.Mode == filemode.Dir:
			oldSub := plumbing.ZeroHash
			if had && o.Mode == filemode.Dir {
				oldSub = o.Hash
			} else if had {
				w.remove(p, o.Mode)
			}
			if err := w.diff(p+"/", oldSub, n.Hash); err != nil {
				return err
			}
		default:
			if had && o.Mode == filemode.Dir {
				w.remove(p, o.Mode)
			}
			w.files[p] = &wsEntry{mode: n.Mode, hash: n.Hash}
			w.dirty[p] = true
		}
	}
	for _, o := range oldEntries {
		if !seen[o.Name] {
			w.remove(prefix+o.Name, o.Mode)
		}
	}
	return nil
}

// remove drops p (a file, or a whole directory) from w.files.
func (w *workspace) remove(p string, mode filemode.FileMode) {
	if mode != filemode.Dir {
		delete(w.files, p)
		return
	}
	prefix := p + "/"
	for q := range w.files {
		if strings.HasPrefix(q, prefix) {
			delete(w.files, q)
		}
	}
}

// sync makes the disk match w.files: a walk removes what is not in the tree
// and finds what was damaged, then the missing, changed and damaged entries
// are written.
func (w *workspace) sync() error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	todo := map[string]bool{}
	for p := range w.files {
		todo[p] = true // cleared for the files the walk finds intact
	}
	if err := w.walk("", todo); err != nil {
		return err
	}
	paths := make([]string, 0, len(todo))
	for p := range todo {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children, stable errors
	for i, p := range paths {
		if i%64 == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		if err := w.write(p, w.files[p]); err != nil {
			return err
		}
	}
	return nil
}

// walk visits the directory rel (slash-separated, "" = the workspace) and
// removes from todo the files that are intact.
func (w *workspace) walk(rel string, todo map[string]bool) error {
	full := filepath.Join(w.dir, filepath.FromSlash(rel))
	entries, err := os.ReadDir(full)
	if err != nil {
		return fmt.Errorf("read workspace directory %s: %w", full, err)
	}
	for _, de := range entries {
		name := de.Name()
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		if rel == "" && (name == WorkspaceStateFile || name == WorkspaceStateFile+".tmp") {
			continue
		}
		fp := filepath.Join(full, name)
		e := w.files[p]
		switch {
		case e != nil && e.mode == filemode.Submodule:
			if !de.IsDir() {
				if err := os.RemoveAll(fp); err != nil {
					return err
				}
				continue
			}
			if err := w.emptyDir(fp); err != nil {
				return err
			}
			delete(todo, p)
		case e != nil:
			if w.intact(p, fp, e, de) {
				delete(todo, p)
			}
		case de.IsDir() && w.dirs[p]:
			if err := w.walk(p, todo); err != nil {
				return err
			}
		default:
			if err := os.RemoveAll(fp); err != nil {
				return fmt.Errorf("remove %s: %w", fp, err)
			}
		}
	}
	return nil
}

// emptyDir removes everything inside dir (a submodule's placeholder).
func (w *workspace) emptyDir(dir string) error {
	names, err := readDirNames(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

// intact reports whether the file at fp is what the last Checkout wrote for
// e, and still what the plan wants (not dirty).
func (w *workspace) intact(p, fp string, e *wsEntry, de fs.DirEntry) bool {
	if !w.known || w.dirty[p] || e.mtime == 0 {
		return false
	}
	info, err := de.Info()
	if err != nil {
		return false
	}
	if e.mode == filemode.Symlink {
		if info.Mode()&fs.ModeSymlink == 0 {
			return false
		}
		target, err := os.Readlink(fp)
		return err == nil && int64(len(target)) == e.size && info.ModTime().UnixNano() == e.mtime
	}
	if !info.Mode().IsRegular() || info.Size() != e.size || info.ModTime().UnixNano() != e.mtime {
		return false
	}
	return (info.Mode().Perm()&0o100 != 0) == (e.mode == filemode.Executable)
}

// write replaces whatever is at p by entry e and records its stamp.
func (w *workspace) write(p string, e *wsEntry) error {
	fp := filepath.Join(w.dir, filepath.FromSlash(p))
	if err := w.makeParents(p); err != nil {
		return err
	}
	if err := os.RemoveAll(fp); err != nil {
		return fmt.Errorf("replace %s: %w", fp, err)
	}
	switch e.mode {
	case filemode.Submodule:
		e.size, e.mtime = 0, 0
		return os.Mkdir(fp, 0o755)
	case filemode.Symlink:
		target, err := w.s.readBlob(e.hash)
		if err != nil {
			return err
		}
		if err := os.Symlink(string(target), fp); err != nil {
			return fmt.Errorf("write %s: %w", fp, err)
		}
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		perm := os.FileMode(0o644)
		if e.mode == filemode.Executable {
			perm = 0o755
		}
		if err := w.writeBlob(fp, e.hash, perm); err != nil {
			return err
		}
	default:
		return fmt.Errorf("write %s: unsupported tree entry mode %s", fp, e.mode)
	}
	info, err := os.Lstat(fp)
	if err != nil {
		return fmt.Errorf("write %s: %w", fp, err)
	}
	e.size, e.mtime = info.Size(), info.ModTime().UnixNano()
	return nil
}

// makeParents creates the parent directories of p, replacing any file or
// link that stands where a directory must be.
func (w *workspace) makeParents(p string) error {
	parent := path.Dir(p)
	if parent == "." {
		return nil
	}
	full := filepath.Join(w.dir, filepath.FromSlash(parent))
	if info, err := os.Lstat(full); err == nil && info.IsDir() {
		return nil
	}
	// Walk down from the workspace so that no link is followed.
	cur := w.dir
	for _, name := range strings.Split(parent, "/") {
		cur = filepath.Join(cur, name)
		info, err := os.Lstat(cur)
		if err == nil && info.IsDir() {
			continue
		}
		if err == nil {
			if err := os.Remove(cur); err != nil {
				return fmt.Errorf("replace %s by a directory: %w", cur, err)
			}
		}
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create directory %s: %w", cur, err)
		}
	}
	return nil
}

// writeBlob streams blob h into a new file at fp with the commit's time as
// its modification time.
func (w *workspace) writeBlob(fp string, h plumbing.Hash, perm os.FileMode) error {
	f, err := os.OpenFile(fp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", fp, err)
	}
	if err := w.s.copyBlob(f, h); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", fp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", fp, err)
	}
	if err := os.Chmod(fp, perm); err != nil { // the umask may have dropped bits
		return fmt.Errorf("write %s: %w", fp, err)
	}
	if err := os.Chtimes(fp, w.mtime, w.mtime); err != nil {
		return fmt.Errorf("write %s: %w", fp, err)
	}
	return nil
}

// copyBlob streams the content of blob h to dst.
func (s *Store) copyBlob(dst io.Writer, h plumbing.Hash) error {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	o, err := s.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	if _, err := io.Copy(dst, r); err != nil {
		return fmt.Errorf("read blob %s: %w", h, err)
	}
	return nil
}

// safeName reports whether a tree entry name can be written inside a
// workspace without escaping it.
func safeName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\\\x00")
}

func safePath(p string) bool {
	for _, n := range strings.Split(p, "/") {
		if !safeName(n) {
			return false
		}
	}
	return true
}
