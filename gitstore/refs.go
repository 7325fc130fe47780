package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// errRefChanged means a compare-and-swap found another value than expected.
var errRefChanged = errors.New("reference changed concurrently")

// refEntry is a reference as listed. When known is false the value was not
// read (a loose ref listed by name only) and hash is zero.
type refEntry struct {
	name  string
	hash  plumbing.Hash
	known bool
}

// refBackend reads and updates direct references.
type refBackend interface {
	// read returns the hash name points to (symbolic refs followed).
	read(name string) (plumbing.Hash, bool, error)
	// update sets name to newHash if it holds oldHash now; a zero oldHash
	// means the ref must not exist. A mismatch wraps errRefChanged.
	update(name string, newHash, oldHash plumbing.Hash) error
	// names lists the refs whose name starts with prefix, sorted by name,
	// without necessarily reading their values.
	names(prefix string) ([]refEntry, error)
}

// storerRefs updates references through a go-git storer. mu is the Store's
// object mutex, which makes check-then-set atomic within the process: the
// only writers a memory storage can have.
type storerRefs struct {
	st interface {
		storer.ReferenceStorer
	}
	mu *sync.Mutex
}

func (r *storerRefs) read(name string) (plumbing.Hash, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, err := storer.ResolveReference(r.st, plumbing.ReferenceName(name))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read %s: %w", name, err)
	}
	return ref.Hash(), true, nil
}

func (r *storerRefs) update(name string, newHash, oldHash plumbing.Hash) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := plumbing.NewHashReference(plumbing.ReferenceName(name), newHash)
	cur, err := r.st.Reference(ref.Name())
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !oldHash.IsZero() {
			return fmt.Errorf("update %s: %w (expected %s, found none)", name, errRefChanged, oldHash)
		}
		err = r.st.SetReference(ref)
	case err != nil:
		return fmt.Errorf("update %s: %w", name, err)
	case oldHash.IsZero():
		return fmt.Errorf("update %s: %w (expected none, found %s)", name, errRefChanged, cur.Hash())
	default:
		err = r.st.CheckAndSetReference(ref, plumbing.NewHashReference(ref.Name(), oldHash))
		if errors.Is(err, storage.ErrReferenceHasChanged) {
			err = fmt.Errorf("%w (expected %s)", errRefChanged, oldHash)
		}
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	return nil
}

func (r *storerRefs) names(prefix string) ([]refEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	it, err := r.st.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	var out []refEntry
	err = it.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && strings.HasPrefix(ref.Name().String(), prefix) {
			out = append(out, refEntry{name: ref.Name().String(), hash: ref.Hash(), known: true})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// diskRefs reads and writes references in a git directory exactly as git
// does: loose files shadowing packed-refs, and updates through an
// exclusively created "<ref>.lock" renamed over the ref. git's own commands
// honour the same lock, so updates never interleave with theirs. It never
// rewrites packed-refs (that is `git pack-refs`' job).
type diskRefs struct {
	dir string // common git directory

	mu        sync.Mutex
	packed    *packedRefs
	packedKey packedStat
}

// lockWait bounds how long update waits for another writer's ref lock.
const lockWait = 2 * time.Second

func (d *diskRefs) path(name string) string {
	return filepath.Join(d.dir, filepath.FromSlash(name))
}

func (d *diskRefs) read(name string) (plumbing.Hash, bool, error) {
	for depth := 0; depth < 5; depth++ {
		b, err := os.ReadFile(d.path(name))
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
			p, err := d.packedRefs()
			if err != nil {
				return plumbing.ZeroHash, false, err
			}
			h, ok := p.lookup(name)
			return h, ok, nil
		default:
			return plumbing.ZeroHash, false, fmt.Errorf("read %s: %w", name, err)
		}
		line := strings.TrimSpace(string(b))
		if target, ok := strings.CutPrefix(line, "ref: "); ok {
			name = target
			continue
		}
		if len(line) != 40 || !isHex(line) {
			// A half-written file cannot be seen (writers rename); this is
			// a broken ref, as git would report it.
			return plumbing.ZeroHash, false, fmt.Errorf("read %s: broken ref file %s", name, d.path(name))
		}
		return plumbing.NewHash(line), true, nil
	}
	return plumbing.ZeroHash, false, fmt.Errorf("read %s: symbolic refs nested too deeply", name)
}

func (d *diskRefs) update(name string, newHash, oldHash plumbing.Hash) error {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	lock := p + ".lock"
	f, err := createLock(lock, lockWait)
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(lock)
		}
	}()
	cur, ok, err := d.read(name)
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	switch {
	case oldHash.IsZero() && ok:
		return fmt.Errorf("update %s: %w (expected none, found %s)", name, errRefChanged, cur)
	case !oldHash.IsZero() && !ok:
		return fmt.Errorf("update %s: %w (expected %s, found none)", name, errRefChanged, oldHash)
	case !oldHash.IsZero() && cur != oldHash:
		return fmt.Errorf("update %s: %w (expected %s, found %s)", name, errRefChanged, oldHash, cur)
	}
	if _, err := f.WriteString(newHash.String() + "\n"); err != nil {
		return fmt.Errorf("update %s: write %s: %w", name, lock, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update %s: write %s: %w", name, lock, err)
	}
	if err := os.Rename(lock, p); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	committed = true
	return nil
}

// refLockStale is the age past which a <ref>.lock is taken to be left by a
// process that died while holding it: ref updates hold the lock for
// milliseconds, so seconds mean nobody will remove it.
const refLockStale = 5 * time.Second

// createLock creates path exclusively, waiting up to wait for another
// holder to finish, as git does for ref locks (core.filesRefLockTimeout).
// A lock older than refLockStale is removed and taken over; a second
// exclusive file (path + ".takeover") makes sure that only one process
// removes it, and that none removes a lock just made by another.
func createLock(path string, wait time.Duration) (*os.File, error) {
	if wait < refLockStale+2*time.Second {
		wait = refLockStale + 2*time.Second
	}
	deadline := time.Now().Add(wait)
	delay := time.Millisecond
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > refLockStale {
			removeStaleLock(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s exists: another git process seems to be running; if it crashed, remove the file", path)
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// removeStaleLock removes a stale lock under the protection of a takeover
// file. A takeover file itself older than refLockStale is left by a dead
// process too and is removed.
func removeStaleLock(path string) {
	takeover := path + ".takeover"
	t, err := os.OpenFile(takeover, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		if fi, err := os.Stat(takeover); err == nil && time.Since(fi.ModTime()) > refLockStale {
			_ = os.Remove(takeover)
		}
		time.Sleep(5 * time.Millisecond)
		return
	}
	defer func() {
		t.Close()
		_ = os.Remove(takeover)
	}()
	// Check again under the takeover file: another process may have replaced
	// the stale lock with a fresh one in the meantime.
	if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > refLockStale {
		_ = os.Remove(path)
	}
}

func (d *diskRefs) names(prefix string) ([]refEntry, error) {
	p, err := d.packedRefs()
	if err != nil {
		return nil, err
	}
	out := p.withPrefix(prefix)
	loose, err := d.looseNames(prefix)
	if err != nil {
		return nil, err
	}
	if len(loose) == 0 {
		return out, nil
	}
	// Loose refs shadow packed ones of the same name.
	seen := make(map[string]int, len(out))
	for i, e := range out {
		seen[e.name] = i
	}
	for _, name := range loose {
		if i, ok := seen[name]; ok {
			out[i] = refEntry{name: name}
			continue
		}
		out = append(out, refEntry{name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// looseNames lists loose ref names starting with prefix. Only the directory
// holding the prefix and what is below it are read; file contents are not.
func (d *diskRefs) looseNames(prefix string) ([]string, error) {
	dirName, rest := prefix, ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirName, rest = prefix[:i+1], prefix[i+1:]
	}
	var out []string
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		f, err := os.Open(dir)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list refs in %s: %w", dir, err)
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return fmt.Errorf("list refs in %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if rel == dirName && !strings.HasPrefix(name, rest) {
				continue
			}
			if strings.HasSuffix(name, ".lock") || strings.HasPrefix(name, ".") {
				continue
			}
			if e.IsDir() {
				if err := walk(filepath.Join(dir, name), rel+name+"/"); err != nil {
					return err
				}
				continue
			}
			if e.Type().IsRegular() {
				out = append(out, rel+name)
			}
		}
		return nil
	}
	if err := walk(d.path(strings.TrimSuffix(dirName, "/")), dirName); err != nil {
		return nil, err
	}
	return out, nil
}

// packedStat identifies a version of the packed-refs file.
type packedStat struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// packedRefs is a parsed packed-refs file: the raw bytes and, for each ref
// line, where its name is and its hash, sorted by name.
type packedRefs struct {
	data []byte
	refs []packedRef
}

type packedRef struct {
	start, end int32 // name = data[start:end]
	hash       plumbing.Hash
}

func (p *packedRefs) name(i int) string { return string(p.data[p.refs[i].start:p.refs[i].end]) }

func (p *packedRefs) nameBytes(i int) []byte { return p.data[p.refs[i].start:p.refs[i].end] }

func (p *packedRefs) lookup(name string) (plumbing.Hash, bool) {
	i := sort.Search(len(p.refs), func(i int) bool { return string(p.nameBytes(i)) >= name })
	if i < len(p.refs) && string(p.nameBytes(i)) == name {
		return p.refs[i].hash, true
	}
	return plumbing.ZeroHash, false
}

func (p *packedRefs) withPrefix(prefix string) []refEntry {
	i := sort.Search(len(p.refs), func(i int) bool { return string(p.nameBytes(i)) >= prefix })
	var out []refEntry
	for ; i < len(p.refs) && bytes.HasPrefix(p.nameBytes(i), []byte(prefix)); i++ {
		out = append(out, refEntry{name: p.name(i), hash: p.refs[i].hash, known: true})
	}
	return out
}

// packedRefs returns the parsed packed-refs, reparsed only when the file
// changed (git replaces it by rename, so its inode or mtime moves).
func (d *diskRefs) packedRefs() (*packedRefs, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	path := filepath.Join(d.dir, "packed-refs")
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		d.packed, d.packedKey = &packedRefs{}, packedStat{}
		return d.packed, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := packedStat{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
	if d.packed != nil && key == d.packedKey {
		return d.packed, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	p, err := parsePackedRefs(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	d.packed, d.packedKey = p, key
	return p, nil
}

func parsePackedRefs(data []byte) (*packedRefs, error) {
	p := &packedRefs{data: data}
	off := 0
	for off < len(data) {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off
		}
		line := data[off:end]
		start := off
		off = end + 1
		switch {
		case len(line) == 0:
		case line[0] == '#': // header: "# pack-refs with: <traits>"
		case line[0] == '^': // peeled value of the tag above
		default:
			if len(line) < 42 || line[40] != ' ' || !isHex(string(line[:40])) {
				return nil, fmt.Errorf("bad line %q", line)
			}
			p.refs = append(p.refs, packedRef{start: int32(start + 41), end: int32(end), hash: plumbing.NewHash(string(line[:40]))})
		}
	}
	// git writes the file sorted (trait "sorted"); checking costs one pass
	// and protects lookups from files written by other tools.
	less := func(i, j int) bool { return bytes.Compare(p.nameBytes(i), p.nameBytes(j)) < 0 }
	if !sort.SliceIsSorted(p.refs, less) {
		sort.SliceStable(p.refs, less)
	}
	return p, nil
}

// candidateRefs lists the refs prefix<40 hex> (one experiment's candidates)
// straight from the packed-refs bytes and the loose directory's names, with
// no per-ref allocation: at 100,000 candidates this is most of the cost of
// listing them. Loose refs shadow packed ones; their values are not read.
func (d *diskRefs) candidateRefs(prefix string) ([]candidateRef, error) {
	p, err := d.packedRefs()
	if err != nil {
		return nil, err
	}
	var out []candidateRef
	i := sort.Search(len(p.refs), func(i int) bool { return string(p.nameBytes(i)) >= prefix })
	for ; i < len(p.refs); i++ {
		name := p.nameBytes(i)
		if !bytes.HasPrefix(name, []byte(prefix)) {
			break
		}
		var id plumbing.Hash
		if rest := name[len(prefix):]; len(rest) == 40 && decodeHex(id[:], string(rest)) {
			out = append(out, candidateRef{id: id, value: p.refs[i].hash, known: true})
		}
	}
	dir := d.path(strings.TrimSuffix(prefix, "/"))
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list refs in %s: %w", dir, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list refs in %s: %w", dir, err)
	}
	packed := len(out)
	for _, n := range names {
		var id plumbing.Hash
		if len(n) == 40 && decodeHex(id[:], n) {
			out = append(out, candidateRef{id: id})
		}
	}
	if packed > 0 && len(out) > packed {
		// A loose ref shadows the packed one of the same name.
		loose := make(map[plumbing.Hash]bool, len(out)-packed)
		for _, r := range out[packed:] {
			loose[r.id] = true
		}
		kept := out[:0]
		for _, r := range out[:packed] {
			if !loose[r.id] {
				kept = append(kept, r)
			}
		}
		out = append(kept, out[packed:]...)
	}
	return out, nil
}
