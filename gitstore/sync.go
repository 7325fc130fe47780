package gitstore

// Sharing an experiment through a git remote (DESIGN.md section 3,
// "Sharing between machines").
//
// Sync speaks git's pack protocol through go-git's transports (file paths,
// ssh, http and https) but chooses itself what to exchange, for two reasons:
//
//   - cost: go-git's Push walks every object reachable from every remote ref
//     to find what the remote lacks, which for an experiment of 10,000
//     candidates costs seconds. Candidate refs name their commit, so what the
//     remote lacks is found from the ref names it advertises, and the objects
//     to send from a walk that stops at the first commit the remote has;
//   - safety: go-git writes fetched refs in place, which a reader (or a crash)
//     can catch half written. Here refs are written by the Store's own
//     lock-and-rename compare-and-swap, after the objects they name.

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/memory"
)

// DefaultSyncAttempts bounds the fetch-merge-push rounds of Sync when
// SyncOptions.MaxAttempts is zero.
const DefaultSyncAttempts = 8

// DefaultSyncBackoff is the wait before the second round when
// SyncOptions.Backoff is zero; each further round doubles it (up to
// maxSyncBackoff) and adds up to as much again of random jitter.
const DefaultSyncBackoff = 100 * time.Millisecond

const maxSyncBackoff = 5 * time.Second

// unpackLimit: a fetched pack of at most this many objects is stored as
// loose objects, like git's transfer.unpackLimit, so that frequent small
// syncs do not pile up packs (go-git looks an object up in every pack).
const unpackLimit = 100

// packWindow is the delta window used for the packs Sync sends.
const packWindow = 10

// ErrSyncRejected: the remote kept rejecting the push after every attempt.
var ErrSyncRejected = errors.New("push rejected by the remote")

// Remote is the remote repository Sync exchanges candidates with.
type Remote struct {
	// Name is the remote's name in the repository's config, or a name made
	// from URL when the remote was given as a URL or path. It names the
	// ref holding the remote's notes as last fetched, RemoteNotesRef(Name).
	Name string
	// URL is where the remote is: a path (made absolute) or a URL of a
	// transport go-git supports (file, ssh, git, http, https).
	URL string
}

// RemoteNotesRef is the ref that holds the notes last fetched from the
// remote called name: refs/notes/remotes/<name>/evolve.
func RemoteNotesRef(name string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/notes/remotes/" + name + "/evolve")
}

// ResolveRemote finds the remote called remote in the repository's config
// (a relative path in its URL is taken from the worktree root, as git does)
// or, when no remote has that name, takes remote as a URL or as the path of
// a repository. An unknown name that is neither is an error listing the
// configured remotes.
func (s *Store) ResolveRemote(remote string) (Remote, error) {
	if remote == "" {
		return Remote{}, errors.New("no remote given: pass a remote name (see git remote -v) or a URL")
	}
	s.objMu.Lock()
	cfg, err := s.repo.Config()
	s.objMu.Unlock()
	if err != nil {
		return Remote{}, fmt.Errorf("read the repository's config: %w", err)
	}
	if rc, ok := cfg.Remotes[remote]; ok {
		if len(rc.URLs) == 0 || rc.URLs[0] == "" {
			return Remote{}, fmt.Errorf("remote %q has no url: set one with git remote set-url %s <url>", remote, remote)
		}
		return Remote{Name: remote, URL: s.absRemoteURL(rc.URLs[0])}, nil
	}
	if isRemoteURL(remote) {
		return Remote{Name: remoteNameFromURL(remote), URL: remote}, nil
	}
	if p := s.absRemoteURL(remote); isDir(p) {
		return Remote{Name: remoteNameFromURL(p), URL: p}, nil
	}
	var names []string
	for n := range cfg.Remotes {
		names = append(names, n)
	}
	sort.Strings(names)
	known := "this repository has no remotes"
	if len(names) > 0 {
		known = "configured remotes: " + strings.Join(names, ", ")
	}
	return Remote{}, fmt.Errorf("unknown remote %q (%s): add it with git remote add %s <url>, or give a URL or the path of a repository", remote, known, remote)
}

// absRemoteURL makes a relative path absolute from the worktree root (the
// git directory of a bare repository); URLs are returned unchanged.
func (s *Store) absRemoteURL(u string) string {
	if isRemoteURL(u) || filepath.IsAbs(u) {
		return u
	}
	base := s.root
	if base == "" {
		base = s.gitDir
	}
	if base == "" {
		return u
	}
	return filepath.Join(base, u)
}

// isRemoteURL reports whether u is a URL ("scheme://...") or an scp-like
// address ("user@host:path", "host:path"), rather than a local path.
func isRemoteURL(u string) bool {
	if strings.Contains(u, "://") {
		return true
	}
	colon := strings.IndexByte(u, ':')
	slash := strings.IndexByte(u, '/')
	return colon > 0 && (slash < 0 || colon < slash) && !filepath.IsAbs(u)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// remoteNameFromURL makes a name usable as one ref component from a URL or
// path: "url-" followed by its characters, anything but letters, digits,
// '.', '_' and '-' replaced by '_'.
func remoteNameFromURL(u string) string {
	var b strings.Builder
	b.WriteString("url-")
	for _, r := range u {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.' && !strings.HasSuffix(b.String(), "."):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimSuffix(b.String(), ".")
	if strings.HasSuffix(name, ".lock") {
		name = strings.TrimSuffix(name, ".lock") + "_lock"
	}
	if len(name) > 120 {
		name = name[:120]
	}
	return name
}

// SyncOptions says what Sync exchanges with which remote.
type SyncOptions struct {
	Remote Remote
	// Exp limits the candidate refs fetched, pushed and compared to one
	// experiment; "" means all. The notes are one ref for all experiments
	// and are always merged whole.
	Exp string
	// Auth authenticates to the remote; nil uses what the transport finds
	// itself (user and password in an http URL, the ssh agent).
	Auth transport.AuthMethod
	// MaxAttempts bounds the fetch-merge-push rounds; 0 means
	// DefaultSyncAttempts.
	MaxAttempts int
	// Backoff is the wait before the second round; 0 means
	// DefaultSyncBackoff.
	Backoff time.Duration
}

// SyncResult is what a Sync did.
type SyncResult struct {
	Remote string `json:"remote"`
	URL    string `json:"url"`
	// Fetched and Pushed are the candidates (full ids) that arrived here
	// and that were published, in the order of their refs.
	Fetched []string `json:"fetched"`
	Pushed  []string `json:"pushed"`
	// Notes says what happened to the local notes: "unchanged",
	// "fast-forward" (they took the remote's) or "merged" (a merge commit
	// joins both); NotesPushed whether the remote's notes were updated.
	Notes       string `json:"notes"`
	NotesPushed bool   `json:"notes_pushed"`
	// Skipped lists candidate refs left alone because the two sides name
	// different commits with them (refs are never forced).
	Skipped []string `json:"skipped,omitempty"`
	// Attempts is the number of fetch-merge-push rounds.
	Attempts int `json:"attempts"`
	// BytesReceived and BytesSent count the pack data fetched and pushed.
	BytesReceived int64 `json:"bytes_received"`
	BytesSent     int64 `json:"bytes_sent"`
}

// Sync shares the candidates and their records with a remote repository:
//
//  1. fetch: the remote's candidate refs (refs/evolve/<exp>/<id>) missing
//     here are created here, and its refs/notes/evolve is stored as
//     RemoteNotesRef(remote);
//  2. merge: those notes are merged into refs/notes/evolve by the union of
//     lines (MergeNotesRefs: a fast-forward when possible, else a merge
//     commit), under the notes lock;
//  3. push: the candidate refs the remote lacks are created there (an
//     existing ref is never overwritten) and its refs/notes/evolve is
//     moved to ours, on the condition that it still holds what was fetched
//     in step 1 (a lease: receive-pack refuses the update otherwise).
//
// When the remote refuses an update (another machine pushed in between),
// the round starts again after a backoff with jitter, up to MaxAttempts
// rounds; then the error wraps ErrSyncRejected. Nothing is ever deleted or
// overwritten here: local refs and notes only grow, so a failed or killed
// sync loses nothing. Syncing again right after changes nothing.
func (s *Store) Sync(ctx context.Context, opt SyncOptions) (SyncResult, error) {
	res := SyncResult{Remote: opt.Remote.Name, URL: opt.Remote.URL, Notes: "unchanged", Fetched: []string{}, Pushed: []string{}}
	if err := checkSyncOptions(&opt); err != nil {
		return res, err
	}
	tr, ep, err := opt.transport()
	if err != nil {
		return res, err
	}
	delay := opt.Backoff
	var lastRejection string
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		fetched, err := s.fetchRemote(ctx, tr, ep, opt, &res)
		if err != nil {
			return res, err
		}
		if err := s.mergeFetchedNotes(ctx, opt, fetched, &res); err != nil {
			return res, err
		}
		if need, err := s.needsPush(opt, fetched); err != nil || !need {
			return res, err
		}
		rejected, err := s.pushRemote(ctx, tr, ep, opt, fetched, &res)
		if err != nil {
			return res, err
		}
		if rejected == "" {
			return res, nil
		}
		lastRejection = rejected
		if attempt >= opt.MaxAttempts {
			break
		}
		wait := delay + time.Duration(rand.Int64N(int64(delay)+1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("sync with %s: %w", opt.Remote.Name, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, maxSyncBackoff)
	}
	return res, fmt.Errorf("sync with %s (%s): %w %d times (%s); the local candidates and notes are intact: run git evolve sync again later",
		opt.Remote.Name, opt.Remote.URL, ErrSyncRejected, opt.MaxAttempts, lastRejection)
}

func checkSyncOptions(opt *SyncOptions) error {
	if opt.Remote.URL == "" {
		return errors.New("sync: no remote URL: resolve the remote with ResolveRemote first")
	}
	if opt.Remote.Name == "" {
		opt.Remote.Name = remoteNameFromURL(opt.Remote.URL)
	}
	if err := RemoteNotesRef(opt.Remote.Name).Validate(); err != nil {
		return fmt.Errorf("remote name %q cannot name the ref %s: %w", opt.Remote.Name, RemoteNotesRef(opt.Remote.Name), err)
	}
	if opt.Exp != "" {
		if err := CheckExperimentName(opt.Exp); err != nil {
			return err
		}
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultSyncAttempts
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultSyncBackoff
	}
	return nil
}

func (opt SyncOptions) transport() (transport.Transport, *transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(opt.Remote.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("remote %s: bad url %q: %w", opt.Remote.Name, opt.Remote.URL, err)
	}
	tr, err := client.NewClient(ep)
	if err != nil {
		return nil, nil, fmt.Errorf("remote %s (%s): %w", opt.Remote.Name, opt.Remote.URL, err)
	}
	return tr, ep, nil
}

// scopePrefix is the prefix of the candidate refs opt covers.
func (opt SyncOptions) scopePrefix() string {
	if opt.Exp == "" {
		return RefPrefix
	}
	return RefPrefix + opt.Exp + "/"
}

// remoteError explains a transport error, naming the remote.
func remoteError(r Remote, op string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint = ": check the URL (git remote -v); a new remote can be made with git init --bare"
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		hint = ": set GITHUB_TOKEN or GIT_TOKEN, or configure a git credential helper"
	}
	return fmt.Errorf("%s %s (%s): %w%s", op, r.Name, r.URL, err, hint)
}

// remoteRefs is what a remote advertised.
type remoteRefs struct {
	refs  map[string]plumbing.Hash
	notes plumbing.Hash // zero: the remote has no notes
}

func advertised(ar *packp.AdvRefs) *remoteRefs {
	r := &remoteRefs{refs: map[string]plumbing.Hash{}}
	if ar != nil {
		for name, h := range ar.References {
			r.refs[name] = h
		}
	}
	r.notes = r.refs[NotesRef.String()]
	return r
}

// localCandidateNames lists the candidate refs present here under prefix.
func (s *Store) localCandidateNames(prefix string) (map[string]bool, error) {
	entries, err := s.refs.names(prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[e.name] = true
	}
	return out, nil
}

// fetchRemote runs step 1 of Sync and returns what the remote advertised.
func (s *Store) fetchRemote(ctx context.Context, tr transport.Transport, ep *transport.Endpoint, opt SyncOptions, res *SyncResult) (*remoteRefs, error) {
	sess, err := tr.NewUploadPackSession(ep, opt.Auth)
	if err != nil {
		return nil, remoteError(opt.Remote, "fetch from", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return advertised(nil), nil // nothing to fetch: the push will publish everything
	}
	if err != nil {
		return nil, remoteError(opt.Remote, "fetch from", err)
	}
	remote := advertised(ar)
	local, err := s.localCandidateNames(RefPrefix)
	if err != nil {
		return nil, err
	}
	prefix := opt.scopePrefix()
	type newRef struct {
		name string
		hash plumbing.Hash
	}
	var (
		creates []newRef
		wants   []plumbing.Hash
		wanted  = map[plumbing.Hash]bool{}
		present map[plumbing.Hash]bool
	)
	want := func(h plumbing.Hash) {
		if !wanted[h] && !present[h] {
			wanted[h] = true
			wants = append(wants, h)
		}
	}
	var check []plumbing.Hash
	for name, h := range remote.refs {
		if strings.HasPrefix(name, prefix) && !local[name] {
			check = append(check, h)
		}
	}
	present = s.presentObjects(append(check, remote.notes))
	for _, name := range sortedNames(remote.refs) {
		h := remote.refs[name]
		if !strings.HasPrefix(name, prefix) || local[name] {
			continue
		}
		_, id, ok := splitCandidateRef(name)
		if !ok {
			continue // not a candidate ref: not ours to mirror
		}
		if id != h.String() {
			if !containsPrefix(res.Skipped, name+" (") {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s (the remote's ref points to %s)", name, h))
			}
			continue
		}
		creates = append(creates, newRef{name, h})
		want(h)
	}
	candWants := wants
	if !remote.notes.IsZero() {
		want(remote.notes)
	}
	if len(wants) > 0 {
		n, err := s.fetchObjects(ctx, tr, ep, opt, sess, ar, remote, local, wants, candWants)
		res.BytesReceived += n
		if err != nil {
			return nil, remoteError(opt.Remote, "fetch from", err)
		}
	}
	// Refs only after the objects they name are stored.
	for _, c := range creates {
		if !s.hasObject(c.hash) {
			return nil, fmt.Errorf("fetch from %s: the remote advertised %s but did not send commit %s", opt.Remote.Name, c.name, c.hash)
		}
		exp, id, _ := splitCandidateRef(c.name)
		if err := s.createCandidateRef(exp, c.hash); err != nil {
			return nil, fmt.Errorf("fetch from %s: %w", opt.Remote.Name, err)
		}
		res.Fetched = append(res.Fetched, id)
	}
	if !remote.notes.IsZero() {
		if !s.hasObject(remote.notes) {
			return nil, fmt.Errorf("fetch from %s: the remote advertised %s at %s but did not send it", opt.Remote.Name, NotesRef, remote.notes)
		}
		if err := s.setRef(RemoteNotesRef(opt.Remote.Name), remote.notes); err != nil {
			return nil, fmt.Errorf("fetch from %s: %w", opt.Remote.Name, err)
		}
	}
	return remote, nil
}

func sortedNames(m map[string]plumbing.Hash) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// setRef moves name to h whatever it held (for refs only Sync writes, such
// as RemoteNotesRef), retrying when a concurrent writer moved it.
func (s *Store) setRef(name plumbing.ReferenceName, h plumbing.Hash) error {
	for attempt := 0; ; attempt++ {
		cur, ok, err := s.refs.read(name.String())
		if err != nil {
			return err
		}
		if ok && cur == h {
			return nil
		}
		if !ok {
			cur = plumbing.ZeroHash
		}
		err = s.refs.update(name.String(), h, cur)
		if !errors.Is(err, errRefChanged) || attempt >= casRetries {
			return err
		}
	}
}

// haveAllLimit: with up to this many candidates in common, a fetch tells
// the remote about all of them in one round. Beyond, telling costs more
// than a round: the fetch first gets the notes, reads there the parents of
// the candidates it wants, and then names only those (go-git's client
// sends all its haves at once, without git's negotiation).
const haveAllLimit = 1000

// haveSet is what a fetch may tell the remote it has.
type haveSet struct {
	base       []plumbing.Hash // our notes (as they are and as last fetched), the remote's other refs we have
	candidates []plumbing.Hash // the remote's candidates that are here too
}

func (h haveSet) all() []plumbing.Hash {
	return append(append([]plumbing.Hash(nil), h.base...), h.candidates...)
}

// fetchHaves lists commits both sides have, so that the remote sends only
// what is new: the remote's candidate refs that exist here (a candidate
// ref names its commit), its other refs whose objects are here, and our
// notes.
func (s *Store) fetchHaves(remote *remoteRefs, local map[string]bool, r Remote) haveSet {
	var hs haveSet
	seen := map[plumbing.Hash]bool{}
	add := func(list *[]plumbing.Hash, h plumbing.Hash) {
		if !h.IsZero() && !seen[h] {
			seen[h] = true
			*list = append(*list, h)
		}
	}
	for _, ref := range []plumbing.ReferenceName{NotesRef, RemoteNotesRef(r.Name)} {
		if h, ok, err := s.refs.read(ref.String()); err == nil && ok {
			add(&hs.base, h)
		}
	}
	var others []plumbing.Hash
	for _, name := range sortedNames(remote.refs) {
		h := remote.refs[name]
		if _, id, ok := splitCandidateRef(name); ok {
			if local[name] && id == h.String() {
				add(&hs.candidates, h)
			}
			continue
		}
		others = append(others, h)
	}
	present := s.presentObjects(others)
	for _, h := range others {
		if present[h] {
			add(&hs.base, h)
		}
	}
	return hs
}

// fetchObjects fetches wants (candWants of them candidates), in one round
// or, when there are many candidates in common, in two (see haveAllLimit).
func (s *Store) fetchObjects(ctx context.Context, tr transport.Transport, ep *transport.Endpoint, opt SyncOptions,
	sess transport.UploadPackSession, ar *packp.AdvRefs, remote *remoteRefs, local map[string]bool, wants, candWants []plumbing.Hash) (int64, error) {
	hs := s.fetchHaves(remote, local, opt.Remote)
	notesWanted := len(wants) > len(candWants)
	if len(hs.candidates) <= haveAllLimit || len(candWants) == 0 || !notesWanted {
		return s.fetchPack(ctx, sess, ar, wants, hs.all())
	}
	// Round 1: the notes, which name each candidate's parent.
	n, err := s.fetchPack(ctx, sess, ar, []plumbing.Hash{remote.notes}, hs.base)
	if err != nil {
		return n, err
	}
	haves := hs.all()
	if parents, ok := s.parentsFromNotes(remote.notes, candWants); ok {
		haves = append(hs.base, parents...)
	}
	// Round 2: the candidates, on a new session.
	sess2, err := tr.NewUploadPackSession(ep, opt.Auth)
	if err != nil {
		return n, err
	}
	defer sess2.Close()
	ar2, err := sess2.AdvertisedReferencesContext(ctx)
	if err != nil {
		return n, err
	}
	n2, err := s.fetchPack(ctx, sess2, ar2, candWants, haves)
	return n + n2, err
}

// parentsFromNotes reads, in the notes commit notes, the parent recorded
// in the proposed event of each of wants, and returns those parents that
// are not among wants themselves: present here, they are what the remote
// needs to hear about. ok is false when one is unknown (a note without a
// proposed event, or a parent that is not here).
func (s *Store) parentsFromNotes(notes plumbing.Hash, wants []plumbing.Hash) (parents []plumbing.Hash, ok bool) {
	c, err := s.readCommit(notes)
	if err != nil {
		return nil, false
	}
	wanted := make(map[plumbing.Hash]bool, len(wants))
	for _, w := range wants {
		wanted[w] = true
	}
	cache := map[plumbing.Hash][]object.TreeEntry{}
	seen := map[plumbing.Hash]bool{}
	var check []plumbing.Hash
	for _, w := range wants {
		blobs, err := noteBlobs(s, c.TreeHash, w, cache)
		if err != nil || len(blobs) == 0 {
			return nil, false
		}
		note, err := s.joinBlobs(blobs)
		if err != nil {
			return nil, false
		}
		r := foldNote(w, note)
		if r.Proposed == nil || len(r.Proposed.Parent) != 40 || !isHex(r.Proposed.Parent) {
			return nil, false
		}
		p := plumbing.NewHash(strings.ToLower(r.Proposed.Parent))
		if wanted[p] || seen[p] {
			continue
		}
		seen[p] = true
		check = append(check, p)
	}
	present := s.presentObjects(check)
	for _, p := range check {
		if !present[p] {
			return nil, false
		}
	}
	return check, true
}

// fetchPack asks for wants, downloads the pack into a temporary file and
// stores its objects. It returns the size of the pack.
func (s *Store) fetchPack(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, wants, haves []plumbing.Hash) (int64, error) {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return 0, err
		}
	}
	req.Wants = wants
	req.Haves = haves
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	// On disk the pack is downloaded next to where it may end up (a rename
	// then installs it), under the name git gives its own temporary packs.
	tmpDir := ""
	if s.evolveDir != "" {
		tmpDir = s.packDir()
		if err := os.MkdirAll(tmpDir, 0o777); err != nil {
			return 0, fmt.Errorf("create %s: %w", tmpDir, err)
		}
	}
	tmp, err := os.CreateTemp(tmpDir, "tmp_pack_")
	if err != nil {
		return 0, fmt.Errorf("temporary pack file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already when installed
	}()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return n, fmt.Errorf("receive pack: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return n, err
	}
	return n, s.importPack(tmp)
}

// packDir is objects/pack of an on-disk repository.
func (s *Store) packDir() string {
	return filepath.Join(filepath.Dir(s.evolveDir), "objects", "pack")
}

// presentObjects reports which of hs the repository has. It lists the packs
// once (another process may have written some) rather than once per
// missing object.
func (s *Store) presentObjects(hs []plumbing.Hash) map[plumbing.Hash]bool {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	if r, ok := s.st.(interface{ Reindex() }); ok {
		r.Reindex()
	}
	out := make(map[plumbing.Hash]bool, len(hs))
	for _, h := range hs {
		if !h.IsZero() && s.st.HasEncodedObject(h) == nil {
			out[h] = true
		}
	}
	return out
}

// importPack stores the objects of the pack in f so that, whenever the
// process dies, an object present has everything it refers to present
// too: the next sync then asks only for what is really missing. Few
// objects are stored loose, each after those it refers to (like git's
// transfer.unpackLimit); more are installed as a pack whose index is
// renamed into place before the pack itself, both complete.
func (s *Store) importPack(f *os.File) error {
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("read pack header: %w", err)
	}
	if string(hdr[:4]) != "PACK" {
		return errors.New("the remote sent something that is not a pack")
	}
	count := binary.BigEndian.Uint32(hdr[8:12])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	switch {
	case count <= unpackLimit:
		return s.storeLoose(f)
	case s.evolveDir != "":
		return s.installPack(f)
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	if err := packfile.UpdateObjectStorage(s.st, f); err != nil {
		return fmt.Errorf("store fetched pack: %w", err)
	}
	return nil
}

// storeLoose parses the pack in memory and writes its objects one by one,
// each after the objects of the pack it refers to.
func (s *Store) storeLoose(f *os.File) error {
	mem := memory.NewStorage()
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(f), mem)
	if err != nil {
		return fmt.Errorf("read fetched pack: %w", err)
	}
	if _, err := p.Parse(); err != nil {
		return fmt.Errorf("read fetched pack: %w", err)
	}
	objs := map[plumbing.Hash]plumbing.EncodedObject{}
	var hashes []plumbing.Hash
	iter, err := mem.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		return err
	}
	if err := iter.ForEach(func(o plumbing.EncodedObject) error {
		objs[o.Hash()] = o
		hashes = append(hashes, o.Hash())
		return nil
	}); err != nil {
		return err
	}
	sort.Slice(hashes, func(i, j int) bool { return hashes[i].String() < hashes[j].String() })
	var order []plumbing.Hash
	done := map[plumbing.Hash]bool{}
	var visit func(h plumbing.Hash) error
	visit = func(h plumbing.Hash) error {
		o, ok := objs[h]
		if !ok || done[h] {
			return nil
		}
		done[h] = true
		deps, err := objectRefs(o)
		if err != nil {
			return fmt.Errorf("read fetched object %s: %w", h, err)
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		order = append(order, h)
		return nil
	}
	for _, h := range hashes {
		if err := visit(h); err != nil {
			return err
		}
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	for _, h := range order {
		if _, err := s.storeLocked(objs[h]); err != nil {
			return err
		}
	}
	return nil
}

// objectRefs lists the objects o refers to: a tree's entries (gitlinks
// excepted), a commit's tree and parents, a tag's target.
func objectRefs(o plumbing.EncodedObject) ([]plumbing.Hash, error) {
	switch o.Type() {
	case plumbing.TreeObject:
		var t object.Tree
		if err := t.Decode(o); err != nil {
			return nil, err
		}
		var out []plumbing.Hash
		for _, e := range t.Entries {
			if e.Mode != filemode.Submodule {
				out = append(out, e.Hash)
			}
		}
		return out, nil
	case plumbing.CommitObject:
		var c object.Commit
		if err := c.Decode(o); err != nil {
			return nil, err
		}
		return append([]plumbing.Hash{c.TreeHash}, c.ParentHashes...), nil
	case plumbing.TagObject:
		var t object.Tag
		if err := t.Decode(o); err != nil {
			return nil, err
		}
		return []plumbing.Hash{t.Target}, nil
	}
	return nil, nil
}

// installPack indexes the pack in f (a temporary file in objects/pack) and
// installs it as pack-<checksum>.pack: the index first, written to a
// temporary file and renamed, then the pack. A pack without its index
// would break go-git's reads; an index without its pack is ignored by git
// and go-git alike.
func (s *Store) installPack(f *os.File) error {
	w := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(f), w)
	if err != nil {
		return fmt.Errorf("index fetched pack: %w", err)
	}
	sum, err := p.Parse()
	if err != nil {
		return fmt.Errorf("index fetched pack: %w", err)
	}
	idx, err := w.Index()
	if err != nil {
		return fmt.Errorf("index fetched pack: %w", err)
	}
	dir := s.packDir()
	base := filepath.Join(dir, "pack-"+sum.String())
	if _, err := os.Stat(base + ".idx"); err != nil {
		tmpIdx, err := os.CreateTemp(dir, "tmp_idx_")
		if err != nil {
			return fmt.Errorf("write pack index: %w", err)
		}
		_, err = idxfile.NewEncoder(tmpIdx).Encode(idx)
		if err == nil {
			err = tmpIdx.Sync()
		}
		if cerr := tmpIdx.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			os.Chmod(tmpIdx.Name(), 0o444)
			err = os.Rename(tmpIdx.Name(), base+".idx")
		}
		if err != nil {
			os.Remove(tmpIdx.Name())
			return fmt.Errorf("write pack index %s.idx: %w", base, err)
		}
	}
	if _, err := os.Stat(base + ".pack"); err != nil {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("write pack %s.pack: %w", base, err)
		}
		os.Chmod(f.Name(), 0o444)
		if err := os.Rename(f.Name(), base+".pack"); err != nil {
			return fmt.Errorf("install pack %s.pack: %w", base, err)
		}
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	if r, ok := s.st.(interface{ Reindex() }); ok {
		r.Reindex()
	}
	return nil
}

// mergeFetchedNotes runs step 2 of Sync.
func (s *Store) mergeFetchedNotes(ctx context.Context, opt SyncOptions, remote *remoteRefs, res *SyncResult) error {
	if remote.notes.IsZero() {
		return nil
	}
	before, _, err := s.refs.read(NotesRef.String())
	if err != nil {
		return err
	}
	if err := s.MergeNotesRefs(ctx, NotesRef, RemoteNotesRef(opt.Remote.Name)); err != nil {
		return err
	}
	after, _, err := s.refs.read(NotesRef.String())
	if err != nil {
		return err
	}
	switch {
	case after == before:
	case after == remote.notes:
		res.Notes = "fast-forward"
	default:
		res.Notes = "merged"
	}
	return nil
}

// needsPush tells from what the fetch saw whether the remote lacks a
// candidate or our notes, so that a sync with nothing to publish opens no
// push session (which costs another advertisement of every ref).
func (s *Store) needsPush(opt SyncOptions, fetched *remoteRefs) (bool, error) {
	ours, ok, err := s.refs.read(NotesRef.String())
	if err != nil {
		return false, err
	}
	if ok && ours != fetched.notes {
		return true, nil
	}
	local, err := s.refs.names(opt.scopePrefix())
	if err != nil {
		return false, err
	}
	for _, e := range local {
		if _, _, isCand := splitCandidateRef(e.name); !isCand {
			continue
		}
		if _, has := fetched.refs[e.name]; !has {
			return true, nil
		}
	}
	return false, nil
}

// pushRemote runs step 3 of Sync. A non-empty rejection says why the
// remote refused an update: the caller fetches, merges and tries again.
func (s *Store) pushRemote(ctx context.Context, tr transport.Transport, ep *transport.Endpoint, opt SyncOptions, fetched *remoteRefs, res *SyncResult) (rejection string, err error) {
	sess, err := tr.NewReceivePackSession(ep, opt.Auth)
	if err != nil {
		return "", remoteError(opt.Remote, "push to", err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return "", remoteError(opt.Remote, "push to", err)
	}
	remote := advertised(ar)

	var cmds []*packp.Command
	var tips []plumbing.Hash
	local, err := s.refs.names(opt.scopePrefix())
	if err != nil {
		return "", err
	}
	for _, e := range local {
		_, id, ok := splitCandidateRef(e.name)
		if !ok {
			continue
		}
		if theirs, has := remote.refs[e.name]; has {
			if theirs.String() != id && !containsPrefix(res.Skipped, e.name+" (") {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s (the remote's ref points to %s)", e.name, theirs))
			}
			continue
		}
		h, ok, err := s.refs.read(e.name)
		if err != nil {
			return "", err
		}
		if !ok {
			continue // deleted meanwhile
		}
		if h.String() != id {
			if !containsPrefix(res.Skipped, e.name+" (") {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s (the local ref points to %s)", e.name, h))
			}
			continue
		}
		cmds = append(cmds, &packp.Command{Name: plumbing.ReferenceName(e.name), Old: plumbing.ZeroHash, New: h})
		tips = append(tips, h)
	}

	ours, hasNotes, err := s.refs.read(NotesRef.String())
	if err != nil {
		return "", err
	}
	theirs := remote.refs[NotesRef.String()]
	if hasNotes && ours != theirs {
		push, why, err := s.notesPushable(ctx, ours, theirs, fetched.notes)
		if err != nil {
			return "", err
		}
		rejection = why
		if push {
			cmds = append(cmds, &packp.Command{Name: NotesRef, Old: theirs, New: ours})
			tips = append(tips, ours)
		}
	}
	if len(cmds) == 0 {
		return rejection, nil
	}

	objects, err := s.objectsToSend(ctx, tips, remote)
	if err != nil {
		return "", err
	}
	pack, size, err := s.writePushPack(objects, !ar.Capabilities.Supports(capability.OFSDelta))
	if err != nil {
		return "", err
	}
	defer func() {
		pack.Close()
		os.Remove(pack.Name())
	}()
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = cmds
	req.Packfile = pack
	report, err := sess.ReceivePack(ctx, req)
	res.BytesSent += size
	if report == nil {
		if err != nil {
			return "", remoteError(opt.Remote, "push to", err)
		}
		// No report-status: the remote accepted everything or failed above.
		report = &packp.ReportStatus{UnpackStatus: "ok"}
		for _, c := range cmds {
			report.CommandStatuses = append(report.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: "ok"})
		}
	}
	if report.UnpackStatus != "ok" {
		return "", fmt.Errorf("push to %s (%s): the remote could not store the pack: %s", opt.Remote.Name, opt.Remote.URL, report.UnpackStatus)
	}
	var reasons []string
	for _, st := range report.CommandStatuses {
		if st.Status != "ok" {
			reasons = append(reasons, fmt.Sprintf("%s: %s", st.ReferenceName, st.Status))
			continue
		}
		if st.ReferenceName == NotesRef {
			res.NotesPushed = true
			if err := s.setRef(RemoteNotesRef(opt.Remote.Name), ours); err != nil {
				return "", err
			}
			continue
		}
		if _, id, ok := splitCandidateRef(st.ReferenceName.String()); ok {
			res.Pushed = append(res.Pushed, id)
		}
	}
	if len(reasons) > 0 {
		if rejection != "" {
			reasons = append(reasons, rejection)
		}
		return strings.Join(reasons, "; "), nil
	}
	return rejection, nil
}

// notesPushable decides whether our notes may replace the remote's notes
// theirs, fetched being what the last fetch saw there: only when the remote
// did not move since (the lease) and ours contain theirs. A non-empty why
// asks for another fetch-merge-push round.
func (s *Store) notesPushable(ctx context.Context, ours, theirs, fetched plumbing.Hash) (push bool, why string, err error) {
	if theirs != fetched {
		return false, fmt.Sprintf("%s moved on the remote since it was fetched", NotesRef), nil
	}
	if theirs.IsZero() {
		return true, "", nil
	}
	mb, err := s.mergeBase(ctx, ours, theirs)
	if err != nil {
		return false, "", err
	}
	switch {
	case mb.theirsInOurs:
		return true, "", nil
	case mb.oursInTheirs:
		return false, "", nil // the remote already has all of ours
	}
	return false, fmt.Sprintf("local %s does not contain the remote's yet", NotesRef), nil
}

func containsPrefix(list []string, prefix string) bool {
	for _, l := range list {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// writePushPack encodes objects into a temporary pack file, positioned at
// its start, and returns it with its size.
func (s *Store) writePushPack(objects []plumbing.Hash, refDeltas bool) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "git-evolve-push-*.pack")
	if err != nil {
		return nil, 0, fmt.Errorf("temporary pack file: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	s.objMu.Lock()
	_, err = packfile.NewEncoder(f, s.st, refDeltas).Encode(objects, packWindow)
	s.objMu.Unlock()
	if err != nil {
		return fail(fmt.Errorf("build the pack to push: %w", err))
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, size, nil
}

// Walk flags of objectsToSend.
const (
	walkWanted = 1 // reachable from what we push
	walkRemote = 2 // reachable from what the remote has
)

// objectsToSend lists the objects reachable from tips that the remote
// lacks, given the refs it advertised.
//
// Commits: a walk newest first from tips and from the remote's refs that
// are not candidates (branches, tags, notes: few), painting what each side
// reaches, that stops as soon as nothing queued is reachable from tips
// only. A commit a remote ref points to (every candidate it has) is the
// remote's at once, so a new candidate costs one step: its parent is
// known. Trees and blobs: those of each commit to send that its parents'
// trees do not hold at the same path; the parents are the remote's or sent
// too, so the pack is complete. The cost follows what is new, not the
// number of candidates.
func (s *Store) objectsToSend(ctx context.Context, tips []plumbing.Hash, remote *remoteRefs) ([]plumbing.Hash, error) {
	onRemote := make(map[plumbing.Hash]bool, len(remote.refs))
	for _, h := range remote.refs {
		onRemote[h] = true
	}
	flags := map[plumbing.Hash]uint8{}
	trees := map[plumbing.Hash]plumbing.Hash{}
	parents := map[plumbing.Hash][]plumbing.Hash{}
	q := &pushWalkQueue{}
	pending := 0 // queued entries that were reachable from tips only when queued
	push := func(h plumbing.Hash, f uint8) error {
		c, err := s.readCommit(h)
		if err != nil {
			if f&walkWanted != 0 && f&walkRemote == 0 {
				return err
			}
			return nil // a remote-side commit we do not have: nothing to paint
		}
		trees[h] = c.TreeHash
		parents[h] = c.ParentHashes
		only := f == walkWanted
		if only {
			pending++
		}
		heap.Push(q, pushWalkEntry{hash: h, when: c.Committer.When, counted: only})
		return nil
	}
	for _, h := range tips {
		f := uint8(walkWanted)
		if onRemote[h] {
			f |= walkRemote
		}
		if flags[h]&f == f {
			continue
		}
		flags[h] |= f
		if err := push(h, flags[h]); err != nil {
			return nil, err
		}
	}
	var seeds []plumbing.Hash
	for _, name := range sortedNames(remote.refs) {
		if !strings.HasPrefix(name, RefPrefix) {
			seeds = append(seeds, remote.refs[name])
		}
	}
	present := s.presentObjects(seeds)
	for _, h := range seeds {
		if !present[h] || flags[h]&walkRemote != 0 {
			continue
		}
		flags[h] |= walkRemote
		if err := push(h, flags[h]); err != nil {
			return nil, err
		}
	}
	var order []plumbing.Hash
	for pending > 0 && q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		it := heap.Pop(q).(pushWalkEntry)
		if it.counted {
			pending--
		}
		f := flags[it.hash]
		if onRemote[it.hash] {
			f |= walkRemote
			flags[it.hash] = f
		}
		if f == walkWanted {
			order = append(order, it.hash)
		}
		for _, p := range parents[it.hash] {
			if flags[p]&f == f {
				continue
			}
			flags[p] |= f
			if err := push(p, flags[p]); err != nil {
				return nil, err
			}
		}
	}
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	for _, c := range order {
		if flags[c] != walkWanted || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, c)
		var olds []plumbing.Hash
		for _, p := range parents[c] {
			t, ok := trees[p]
			if !ok {
				pc, err := s.readCommit(p)
				if err != nil {
					return nil, err
				}
				t = pc.TreeHash
			}
			olds = append(olds, t)
		}
		var err error
		if out, err = s.newTreeObjects(trees[c], olds, seen, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newTreeObjects appends to out tree and the objects below it that are not
// at the same path in one of olds (and not seen already).
func (s *Store) newTreeObjects(tree plumbing.Hash, olds []plumbing.Hash, seen map[plumbing.Hash]bool, out []plumbing.Hash) ([]plumbing.Hash, error) {
	if seen[tree] {
		return out, nil
	}
	for _, o := range olds {
		if o == tree {
			return out, nil
		}
	}
	seen[tree] = true
	out = append(out, tree)
	entries, err := s.treeEntries(tree)
	if err != nil {
		return nil, err
	}
	oldEntries := make([]map[string]plumbing.Hash, 0, len(olds))
	oldDirs := make([]map[string]bool, 0, len(olds))
	for _, o := range olds {
		es, err := s.treeEntries(o)
		if err != nil {
			return nil, err
		}
		m := make(map[string]plumbing.Hash, len(es))
		d := map[string]bool{}
		for _, e := range es {
			m[e.Name] = e.Hash
			if e.Mode == filemode.Dir {
				d[e.Name] = true
			}
		}
		oldEntries = append(oldEntries, m)
		oldDirs = append(oldDirs, d)
	}
	for _, e := range entries {
		if e.Mode == filemode.Submodule {
			continue // a gitlink names a commit of another repository
		}
		same := false
		var subOlds []plumbing.Hash
		for i, m := range oldEntries {
			h, ok := m[e.Name]
			if !ok {
				continue
			}
			if h == e.Hash {
				same = true
				break
			}
			if oldDirs[i][e.Name] {
				subOlds = append(subOlds, h)
			}
		}
		if same {
			continue
		}
		if e.Mode == filemode.Dir {
			if out, err = s.newTreeObjects(e.Hash, subOlds, seen, out); err != nil {
				return nil, err
			}
			continue
		}
		if !seen[e.Hash] {
			seen[e.Hash] = true
			out = append(out, e.Hash)
		}
	}
	return out, nil
}

type pushWalkEntry struct {
	hash    plumbing.Hash
	when    time.Time
	counted bool
}

// pushWalkQueue is a max-heap of commits by committer time.
type pushWalkQueue []pushWalkEntry

func (q pushWalkQueue) Len() int           { return len(q) }
func (q pushWalkQueue) Less(i, j int) bool { return q[i].when.After(q[j].when) }
func (q pushWalkQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pushWalkQueue) Push(x any)        { *q = append(*q, x.(pushWalkEntry)) }
func (q *pushWalkQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// SyncRef is a candidate found on one side only by CheckSync.
type SyncRef struct {
	Exp string `json:"exp"`
	ID  string `json:"id"`
}

// SyncCheck compares this repository with a remote.
type SyncCheck struct {
	Remote string `json:"remote"`
	URL    string `json:"url"`
	// Common counts the candidates both sides have.
	Common int `json:"common"`
	// OnlyLocal are candidates the remote lacks (a sync pushes them),
	// OnlyRemote candidates this repository lacks (a sync fetches them).
	OnlyLocal  []SyncRef `json:"only_local"`
	OnlyRemote []SyncRef `json:"only_remote"`
	// LocalNotes and RemoteNotes are the commits of refs/notes/evolve on
	// each side ("" when absent); Notes says how they relate: "same",
	// "local ahead", "remote ahead", "diverged", "remote has none", "local
	// has none", "none" or "remote unknown" (its commit was never fetched).
	LocalNotes  string `json:"local_notes"`
	RemoteNotes string `json:"remote_notes"`
	Notes       string `json:"notes"`
}

// InSync reports whether a sync would change nothing on either side.
func (c SyncCheck) InSync() bool {
	return len(c.OnlyLocal) == 0 && len(c.OnlyRemote) == 0 && (c.Notes == "same" || c.Notes == "none")
}

// CheckSync compares the candidates (of opt.Exp, or all) and the notes of
// this repository with those the remote advertises, without writing
// anything on either side.
func (s *Store) CheckSync(ctx context.Context, opt SyncOptions) (SyncCheck, error) {
	out := SyncCheck{Remote: opt.Remote.Name, URL: opt.Remote.URL, OnlyLocal: []SyncRef{}, OnlyRemote: []SyncRef{}}
	if err := checkSyncOptions(&opt); err != nil {
		return out, err
	}
	tr, ep, err := opt.transport()
	if err != nil {
		return out, err
	}
	sess, err := tr.NewUploadPackSession(ep, opt.Auth)
	if err != nil {
		return out, remoteError(opt.Remote, "read", err)
	}
	defer sess.Close()
	remote := advertised(nil)
	ar, err := sess.AdvertisedReferencesContext(ctx)
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
	case err != nil:
		return out, remoteError(opt.Remote, "read", err)
	default:
		remote = advertised(ar)
	}
	prefix := opt.scopePrefix()
	local, err := s.localCandidateNames(prefix)
	if err != nil {
		return out, err
	}
	for _, name := range sortedNames(remote.refs) {
		exp, id, ok := splitCandidateRef(name)
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		if local[name] {
			out.Common++
			continue
		}
		out.OnlyRemote = append(out.OnlyRemote, SyncRef{Exp: exp, ID: id})
	}
	names := make([]string, 0, len(local))
	for n := range local {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		exp, id, ok := splitCandidateRef(name)
		if _, has := remote.refs[name]; ok && !has {
			out.OnlyLocal = append(out.OnlyLocal, SyncRef{Exp: exp, ID: id})
		}
	}
	ours, hasOurs, err := s.refs.read(NotesRef.String())
	if err != nil {
		return out, err
	}
	theirs := remote.notes
	if hasOurs {
		out.LocalNotes = ours.String()
	}
	if !theirs.IsZero() {
		out.RemoteNotes = theirs.String()
	}
	switch {
	case !hasOurs && theirs.IsZero():
		out.Notes = "none"
	case theirs.IsZero():
		out.Notes = "remote has none"
	case !hasOurs:
		out.Notes = "local has none"
	case ours == theirs:
		out.Notes = "same"
	case !s.hasObject(theirs):
		out.Notes = "remote unknown"
	default:
		mb, err := s.mergeBase(ctx, ours, theirs)
		if err != nil {
			return out, err
		}
		switch {
		case mb.theirsInOurs:
			out.Notes = "local ahead"
		case mb.oursInTheirs:
			out.Notes = "remote ahead"
		default:
			out.Notes = "diverged"
		}
	}
	return out, nil
}
