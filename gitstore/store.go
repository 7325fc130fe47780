package gitstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// NotesRef is the notes ref that holds the candidates' records.
const NotesRef plumbing.ReferenceName = "refs/notes/evolve"

// RefPrefix is the prefix of every candidate ref: refs/evolve/<exp>/<sha>.
const RefPrefix = "refs/evolve/"

// Errors callers may test with errors.Is.
var (
	// ErrNotRepository: Open found no repository at or above the path.
	ErrNotRepository = errors.New("not a git repository (or any parent)")
	// ErrUnknownCandidate: no candidate matches an id or prefix.
	ErrUnknownCandidate = errors.New("unknown candidate")
	// ErrAmbiguousCandidate: a prefix matches several candidates.
	ErrAmbiguousCandidate = errors.New("ambiguous candidate id")
	// ErrEditNotAllowed: a candidate changes a file outside evolve.files.
	ErrEditNotAllowed = errors.New("edit outside the editable files")
	// ErrLocked: the notes lock could not be taken in time.
	ErrLocked = errors.New("notes lock is held by another process")
)

// Store is an experiment store in one git repository. Create it with Open
// (a repository on disk) or New (any go-git storage, e.g. memory in tests).
type Store struct {
	repo   *git.Repository
	st     storage.Storer
	closer interface{ Close() error } // filesystem storage keeping pack descriptors open
	cache  interface{ Clear() }       // its object cache

	// objMu guards every call into st: go-git's storages are not safe for
	// concurrent use.
	objMu sync.Mutex

	refs refBackend

	root      string // worktree root; "" for bare or in-memory repositories
	gitDir    string // the .git directory; "" in memory
	evolveDir string // <common git dir>/evolve; "" in memory

	notesMu sync.Mutex // serialises this process's writers of the notes ref

	idxMu sync.Mutex        // serialises index refreshes
	memo  map[string]*index // refreshed index per experiment, reused between calls
	// candMemos holds the last listing per experiment (candmemo.go).
	candMemos map[string]candMemo
	memIndex  map[string][]byte // encoded index of in-memory stores (stands in for the file)

	clockMu sync.Mutex
	clock   func() time.Time
}

// Open opens the repository containing path (path itself or any parent
// directory holding .git). Linked worktrees and bare repositories work; the
// refs, notes and the evolve/ directory live in the common git directory.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", path, err)
	}
	probe, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%w: %s", ErrNotRepository, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", abs, err)
	}
	fsStorage, ok := probe.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("open repository at %s: unexpected storage %T", abs, probe.Storer)
	}
	dotFS := fsStorage.Filesystem()
	var wt billy.Filesystem
	root := ""
	if w, err := probe.Worktree(); err == nil {
		wt = w.Filesystem
		root = wt.Root()
	}
	// Reopen with pack descriptors kept open: go-git otherwise reopens the
	// pack for every object it reads, which is several times slower. The
	// object cache is small: a first listing of 100,000 candidates must stay
	// under 300 MB, and go-git's pack indexes already take a hundred.
	objCache := cache.NewObjectLRU(8 * cache.MiByte)
	st := filesystem.NewStorageWithOptions(dotFS, objCache, filesystem.Options{KeepDescriptors: true})
	repo, err := git.Open(st, wt)
	if err != nil {
		return nil, fmt.Errorf("open repository at %s: %w", abs, err)
	}
	gitDir := dotFS.Root()
	common := commonDir(gitDir)
	s := newStore(repo, st)
	s.closer = st
	s.cache = objCache
	s.root = root
	s.gitDir = gitDir
	s.evolveDir = filepath.Join(common, "evolve")
	s.refs = &diskRefs{dir: common}
	return s, nil
}

// New makes a Store over any go-git storage; worktree may be nil. It is
// meant for go-git's memory storage: references are updated through the
// storer's CheckAndSetReference, there is no lock file (the in-process
// mutex is enough for storage no other process can see) and the index is
// kept in memory. Use Open for repositories on disk.
func New(st storage.Storer, worktree billy.Filesystem) (*Store, error) {
	if st == nil {
		return nil, errors.New("gitstore.New: nil storage")
	}
	repo, err := git.Open(st, worktree)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		// A fresh memory storage has no HEAD yet: initialise it like `git init`.
		repo, err = git.Init(st, worktree)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository storage: %w", err)
	}
	s := newStore(repo, st)
	s.refs = &storerRefs{st: st, mu: &s.objMu}
	if worktree != nil {
		s.root = worktree.Root()
		if s.root == "/" || s.root == "" {
			s.root = "" // memfs reports "/": there is no directory on disk
		}
	}
	return s, nil
}

func newStore(repo *git.Repository, st storage.Storer) *Store {
	return &Store{repo: repo, st: st, memo: map[string]*index{}, memIndex: map[string][]byte{}, clock: time.Now}
}

// commonDir returns the directory holding the refs and objects shared by
// all worktrees (gitDir itself unless gitDir/commondir points elsewhere).
func commonDir(gitDir string) string {
	b, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if err != nil {
		return gitDir
	}
	p := strings.TrimSpace(string(b))
	if !filepath.IsAbs(p) {
		p = filepath.Join(gitDir, p)
	}
	return filepath.Clean(p)
}

// Root is the root of the worktree ("" for bare and in-memory repositories).
func (s *Store) Root() string { return s.root }

// GitDir is the repository's .git directory ("" in memory).
func (s *Store) GitDir() string { return s.gitDir }

// Repository gives access to the underlying go-git repository. Calls on it
// are not serialised with the Store's own: do not use it concurrently with
// the Store.
func (s *Store) Repository() *git.Repository { return s.repo }

// Close saves the index changes a long-running Store kept in memory and
// releases the pack file descriptors of an on-disk store. The Store must not
// be used afterwards.
func (s *Store) Close() error {
	s.flushMemos()
	if s.closer == nil {
		return nil
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	return s.closer.Close()
}

// SetClock replaces time.Now as the source of the time of notes commits
// (tests use it for deterministic hashes). Lock files always use the real
// time, which other processes compare with theirs.
func (s *Store) SetClock(now func() time.Time) {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	s.clock = now
}

func (s *Store) now() time.Time {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	return s.clock()
}

// Identity is a name and e-mail address as they appear in commits.
type Identity struct {
	Name  string
	Email string
}

// String formats the identity as in a commit header: "Name <email>".
func (i Identity) String() string { return fmt.Sprintf("%s <%s>", i.Name, i.Email) }

// DefaultIdentity is used when neither the environment nor git config name
// anyone.
var DefaultIdentity = Identity{Name: "git-evolve", Email: "git-evolve@localhost"}

// Author is the identity git-evolve commits as: GIT_AUTHOR_NAME and
// GIT_AUTHOR_EMAIL when set (as git does), else user.name and user.email
// from the repository's config and the global ~/.gitconfig, else
// DefaultIdentity.
func (s *Store) Author() Identity {
	id := Identity{Name: os.Getenv("GIT_AUTHOR_NAME"), Email: os.Getenv("GIT_AUTHOR_EMAIL")}
	if id.Name == "" || id.Email == "" {
		// Local config first, then global. (Repository.ConfigScoped is not
		// used: it merges the global config into the storage's own config
		// object, which a memory storage then keeps.)
		var cfgs []*config.Config
		s.objMu.Lock()
		if local, err := s.st.Config(); err == nil {
			cfgs = append(cfgs, local)
		}
		s.objMu.Unlock()
		if global, err := config.LoadConfig(config.GlobalScope); err == nil {
			cfgs = append(cfgs, global)
		}
		for _, cfg := range cfgs {
			if id.Name == "" {
				id.Name = firstNonEmpty(cfg.Author.Name, cfg.User.Name)
			}
			if id.Email == "" {
				id.Email = firstNonEmpty(cfg.Author.Email, cfg.User.Email)
			}
		}
	}
	if id.Name == "" {
		id.Name = DefaultIdentity.Name
	}
	if id.Email == "" {
		id.Email = DefaultIdentity.Email
	}
	return id
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

var expName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckExperimentName reports whether exp can name an experiment: it becomes
// one component of refs/evolve/<exp>/, so it is letters, digits, '.', '_'
// and '-', starting with a letter or digit, without ".." or a ".lock" end.
func CheckExperimentName(exp string) error {
	switch {
	case exp == "":
		return errors.New("no experiment given: pass -e <experiment>")
	case len(exp) > 100:
		return fmt.Errorf("experiment name %q is longer than 100 characters", exp)
	case !expName.MatchString(exp), strings.Contains(exp, ".."), strings.HasSuffix(exp, ".lock"):
		return fmt.Errorf("invalid experiment name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", exp)
	}
	return nil
}

// CandidateRef is the ref of candidate id (a full hash) in experiment exp.
func CandidateRef(exp, id string) plumbing.ReferenceName {
	return plumbing.ReferenceName(RefPrefix + exp + "/" + id)
}

// parseID accepts a full 40-digit commit hash.
func parseID(id string) (plumbing.Hash, error) {
	if len(id) != 40 || !isHex(id) {
		return plumbing.ZeroHash, fmt.Errorf("candidate id %q is not a full commit hash (40 hex digits): resolve a short id first", id)
	}
	return plumbing.NewHash(strings.ToLower(id)), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func short(h plumbing.Hash) string { return h.String()[:8] }
