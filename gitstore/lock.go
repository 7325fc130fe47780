package gitstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StaleLockAge is the age past which the notes lock is taken over even if
// its holder may still run (the notes ref update is a compare-and-swap, so
// a taken-over holder retries instead of losing anything).
const StaleLockAge = 30 * time.Second

// notesLockWait bounds the wait for the notes lock when ctx has no deadline.
const notesLockWait = 2 * time.Minute

var hostname = func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-host"
	}
	return h
}()

// lockNotes serialises writers of the notes ref: first within the process,
// then across processes with the lock file <common dir>/evolve/notes.lock.
func (s *Store) lockNotes(ctx context.Context) (unlock func(), err error) {
	s.notesMu.Lock()
	if s.evolveDir == "" {
		return s.notesMu.Unlock, nil
	}
	l, err := acquireFileLock(ctx, filepath.Join(s.evolveDir, "notes.lock"), time.Now)
	if err != nil {
		s.notesMu.Unlock()
		return nil, err
	}
	return func() {
		l.release()
		s.notesMu.Unlock()
	}, nil
}

// fileLock is a held lock file and the content this process wrote in it.
type fileLock struct {
	path    string
	content []byte
}

// lockInfo is what a lock file says about its holder.
type lockInfo struct {
	pid  int
	host string
	at   time.Time
}

func (i lockInfo) encode() []byte {
	return fmt.Appendf(nil, "pid=%d host=%s time=%s\n", i.pid, i.host, i.at.UTC().Format(time.RFC3339Nano))
}

func parseLockInfo(b []byte) (lockInfo, bool) {
	var i lockInfo
	var okPid, okHost, okTime bool
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pid":
			n, err := strconv.Atoi(v)
			i.pid, okPid = n, err == nil
		case "host":
			i.host, okHost = v, v != ""
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			i.at, okTime = t, err == nil
		}
	}
	return i, okPid && okHost && okTime
}

// acquireFileLock creates path exclusively with this process's pid, host and
// the time inside. A lock left by a dead process on this host, or older than
// StaleLockAge, is recovered; otherwise it waits (bounded by ctx, or
// notesLockWait) for the holder to release it.
func acquireFileLock(ctx context.Context, path string, now func() time.Time) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, fmt.Errorf("create lock %s: %w", path, err)
	}
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		deadline = now().Add(notesLockWait)
	}
	delay := time.Millisecond
	for {
		content := lockInfo{pid: os.Getpid(), host: hostname, at: now()}.encode()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			_, werr := f.Write(content)
			cerr := f.Close()
			if werr != nil || cerr != nil {
				os.Remove(path)
				return nil, fmt.Errorf("write lock %s: %w", path, errors.Join(werr, cerr))
			}
			return &fileLock{path: path, content: content}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create lock %s: %w", path, err)
		}
		held, stale := inspectLock(path, now())
		if stale && recoverStaleLock(path, held, now()) {
			continue
		}
		if ctx.Err() != nil || now().After(deadline) {
			who := "an unknown process"
			if i, ok := parseLockInfo(held); ok {
				who = fmt.Sprintf("pid %d on %s since %s", i.pid, i.host, i.at.Format(time.RFC3339))
			}
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return nil, fmt.Errorf("%w: %s is held by %s (%w); if no git-evolve process is running there, remove the file",
				ErrLocked, path, who, cause)
		}
		sleep := delay + time.Duration(rand.Int64N(int64(delay)))
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}

// inspectLock reads a lock file and decides whether its holder is gone: a
// dead pid on this host, or an age past StaleLockAge (by the time written in
// it, else by the file's mtime: a lock being written has no content yet).
func inspectLock(path string, now time.Time) (content []byte, stale bool) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false // released meanwhile: just retry
	}
	if err != nil {
		return nil, false
	}
	if i, ok := parseLockInfo(b); ok {
		if i.host == hostname && !pidAlive(i.pid) {
			return b, true
		}
		return b, now.Sub(i.at) > StaleLockAge
	}
	fi, err := os.Stat(path)
	if err != nil {
		return b, false
	}
	return b, now.Sub(fi.ModTime()) > StaleLockAge
}

// recoverStaleLock removes a stale lock, making sure it removes the very
// lock it judged stale and not a fresh one created meanwhile: contenders
// take a second, short-lived lock (path + ".takeover") and re-read the
// content before removing.
// It reports whether the lock is gone (retry at once) or not (wait).
func recoverStaleLock(path string, judged []byte, now time.Time) bool {
	takeover := path + ".takeover"
	f, err := os.OpenFile(takeover, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		// Someone else is recovering. A takeover lock lives microseconds; one
		// older than a few seconds belongs to a process that died during it.
		if fi, err := os.Stat(takeover); err == nil && now.Sub(fi.ModTime()) > 5*time.Second {
			os.Remove(takeover)
		}
		return false
	}
	f.Close()
	defer os.Remove(takeover)
	cur, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err == nil && bytes.Equal(cur, judged) {
		return os.Remove(path) == nil
	}
	return false
}

// release removes the lock if it is still the one this process wrote (it
// may have been taken over after StaleLockAge).
func (l *fileLock) release() {
	cur, err := os.ReadFile(l.path)
	if err == nil && bytes.Equal(cur, l.content) {
		os.Remove(l.path)
	}
}
