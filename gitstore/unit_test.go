package gitstore

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/git-evolve/git-evolve/evolve"
)

func TestCheckExperimentName(t *testing.T) {
	for _, ok := range []string{"a", "circle_packing", "x-1.2", "A9"} {
		if err := CheckExperimentName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", ".x", "a/b", "a..b", "x.lock", "a b", "ä", strings.Repeat("x", 101), "a:b", "a*"} {
		if err := CheckExperimentName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCatSortUniq(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"", "", ""},
		{"b\na\n", "", "a\nb\n"},
		{"b\na\n", "a\nc", "a\nb\nc\n"},
		{"x\n\n\nx\n", "x", "x\n"},
		{" \n", "", " \n"}, // git drops empty lines only
	}
	for _, c := range cases {
		if got := string(catSortUniq([]byte(c.a), []byte(c.b))); got != c.want {
			t.Errorf("catSortUniq(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	// Same lines as evolve.MergeNotes for JSON Lines.
	a, b := []byte("{\"b\":1}\n{\"a\":1}\n"), []byte("{\"a\":1}\n{\"c\":1}\n")
	if string(catSortUniq(a, b)) != string(evolve.MergeNotes(a, b)) {
		t.Error("catSortUniq and evolve.MergeNotes disagree")
	}
}

func TestParsePackedRefs(t *testing.T) {
	h1, h2, h3 := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)
	sorted := "# pack-refs with: peeled fully-peeled sorted \n" +
		h1 + " refs/evolve/a/" + h1 + "\n" + h2 + " refs/tags/v1\n^" + h3 + "\n" + h3 + " refs/tags/v2\n"
	unsorted := h3 + " refs/z\n" + h1 + " refs/a\n" + h2 + " refs/m"
	for _, data := range []string{sorted, unsorted} {
		p, err := parsePackedRefs([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(p.refs); i++ {
			if p.name(i-1) >= p.name(i) {
				t.Errorf("not sorted: %s >= %s", p.name(i-1), p.name(i))
			}
		}
	}
	p, _ := parsePackedRefs([]byte(sorted))
	if h, ok := p.lookup("refs/tags/v1"); !ok || h != plumbing.NewHash(h2) {
		t.Errorf("lookup v1 = %s, %v", h, ok)
	}
	if _, ok := p.lookup("refs/tags"); ok {
		t.Error("lookup of a prefix succeeded")
	}
	if got := p.withPrefix("refs/tags/"); len(got) != 2 || got[1].hash != plumbing.NewHash(h3) {
		t.Errorf("withPrefix = %+v", got)
	}
	for _, bad := range []string{"xyz refs/a\n", h1 + "refs/a\n", h1[:39] + " refs/a\n"} {
		if _, err := parsePackedRefs([]byte(bad)); err == nil {
			t.Errorf("bad packed-refs %q accepted", bad)
		}
	}
}

func TestDetermineFanout(t *testing.T) {
	var n trieNode
	for i := range n.slots {
		n.slots[i].kind = slotInner
	}
	if got := determineFanout(&n, 0, 0); got != 1 {
		t.Errorf("full root: fanout %d", got)
	}
	n.slots[7].kind = slotNote
	if got := determineFanout(&n, 0, 0); got != 0 {
		t.Errorf("root with a single note: fanout %d", got)
	}
	n.slots[7].kind = slotSubtree
	if got := determineFanout(&n, 1, 1); got != 1 {
		t.Errorf("odd depth: fanout %d", got)
	}
	if got := determineFanout(&n, 4, 1); got != 1 {
		t.Errorf("deeper than the fanout allows: %d", got)
	}
	if got := pathWithFanout(plumbing.NewHash("abcdef0123456789abcdef0123456789abcdef01"), 2); got != "ab/cd/ef0123456789abcdef0123456789abcdef01" {
		t.Errorf("pathWithFanout = %s", got)
	}
}

// FuzzDecodeIndex: a damaged index file is rejected, never a panic.
func FuzzDecodeIndex(f *testing.F) {
	var good bytes.Buffer
	score := 1.5
	rec := evolve.Fold([]evolve.Event{{V: 1, Exp: "x", Event: "evaluated", Status: "ok", Score: &score, Metrics: map[string]any{"a": []any{1.0}}}})
	rec.Warnings = []evolve.ParseWarning{{Line: 2, Text: "bad"}}
	idx := &index{entries: []indexEntry{{id: plumbing.NewHash(strings.Repeat("ab", 20)), subject: "s", record: rec}}}
	if err := encodeIndex(&good, idx, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte("git-evolve index\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := decodeIndex(bufio.NewReader(bytes.NewReader(data)))
		if err == nil && idx == nil {
			t.Fatal("nil index without error")
		}
	})
}

// FuzzParsePackedRefs: any packed-refs content parses or fails cleanly, and
// lookups find what was parsed.
func FuzzParsePackedRefs(f *testing.F) {
	f.Add([]byte("# pack-refs with: peeled fully-peeled sorted \n" + strings.Repeat("1", 40) + " refs/a\n^" + strings.Repeat("2", 40) + "\n"))
	f.Add([]byte(strings.Repeat("3", 40) + " refs/z\n" + strings.Repeat("1", 40) + " refs/a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePackedRefs(data)
		if err != nil {
			return
		}
		for i := range p.refs {
			if _, ok := p.lookup(p.name(i)); !ok {
				t.Fatalf("parsed ref %q not found", p.name(i))
			}
		}
	})
}

func TestCreateLockTakesOverAStaleRefLock(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "evolve.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-refLockStale - time.Second)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	f, err := createLock(lock, 0)
	if err != nil {
		t.Fatalf("a lock left by a dead process must be taken over: %v", err)
	}
	f.Close()
	// A fresh lock is respected: a second taker waits until its holder
	// releases it (here: removes it after 300ms).
	go func() {
		time.Sleep(300 * time.Millisecond)
		os.Remove(lock)
	}()
	start := time.Now()
	f2, err := createLock(lock, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	f2.Close()
	if d := time.Since(start); d < 250*time.Millisecond || d > refLockStale {
		t.Fatalf("took the lock after %v: a live lock must be waited for, not taken over", d)
	}
	if _, err := os.Stat(lock + ".takeover"); !os.IsNotExist(err) {
		t.Fatal("takeover file left behind")
	}
}
