package sampling_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve/sampling"
)

// program is a small Python program; k changes one constant.
func program(k int) string {
	return fmt.Sprintf(`import numpy as np

def construct_packing(n=26):
    """Place n circles in the unit square."""
    centers = np.zeros((n, 2))
    radii = np.zeros(n)
    step = 1.0 / %d
    for i in range(n):
        row, col = divmod(i, 5)
        centers[i] = [step * (col + 0.5), step * (row + 0.5)]
    for i in range(n):
        d = min(centers[i][0], centers[i][1], 1 - centers[i][0], 1 - centers[i][1])
        for j in range(n):
            if i != j:
                d = min(d, np.linalg.norm(centers[i] - centers[j]) / 2)
        radii[i] = d
    return centers, radii, radii.sum()
`, k)
}

const other = `package main

import "fmt"

type queue struct{ items []string }

func (q *queue) push(s string) { q.items = append(q.items, s) }

func (q *queue) pop() (string, bool) {
	if len(q.items) == 0 {
		return "", false
	}
	s := q.items[0]
	q.items = q.items[1:]
	return s, true
}

func main() {
	var q queue
	for _, w := range []string{"alpha", "beta", "gamma"} {
		q.push(w)
	}
	for s, ok := q.pop(); ok; s, ok = q.pop() {
		fmt.Println(s)
	}
}
`

func TestSketch(t *testing.T) {
	files := func(kv ...string) map[string][]byte {
		m := map[string][]byte{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	base := sampling.Sketch(files("prog.py", program(5)))
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Fatalf("sketch %q is not 16 hex digits", base)
	}
	dist := func(a, b string) int {
		t.Helper()
		d, ok := sampling.Distance(a, b)
		if !ok {
			t.Fatalf("Distance(%q, %q) failed", a, b)
		}
		return d
	}
	if again := sampling.Sketch(files("prog.py", program(5))); again != base {
		t.Errorf("same code, sketches %s and %s", base, again)
	}
	reformatted := strings.NewReplacer("    ", "\t", " = ", "=", "\n", "\n\n").Replace(program(5))
	if got := sampling.Sketch(files("prog.py", reformatted)); got != base {
		t.Errorf("whitespace changed the sketch: %s vs %s", got, base)
	}
	if got := sampling.Sketch(files("renamed.py", program(5))); got != base {
		t.Errorf("the path changed the sketch: %s vs %s", got, base)
	}
	near := dist(base, sampling.Sketch(files("prog.py", program(6))))
	far := dist(base, sampling.Sketch(files("prog.py", other)))
	if near >= 12 || far <= 20 || near >= far {
		t.Errorf("one constant changed: distance %d; unrelated code: distance %d", near, far)
	}
	// Files are taken in path order, whatever the map's order.
	two := files("a.py", program(5), "b.go", other)
	for range 20 {
		if got, want := sampling.Sketch(two), sampling.Sketch(files("b.go", other, "a.py", program(5))); got != want {
			t.Fatalf("sketch depends on map order: %s vs %s", got, want)
		}
	}
	if got := sampling.Sketch(files("x", "x")); len(got) != 16 {
		t.Errorf("one token: sketch %q", got)
	}
	if sampling.Sketch(files("x", "a b")) == sampling.Sketch(files("x", "a c")) {
		t.Error("two tokens: different code, same sketch")
	}
	for _, empty := range []map[string][]byte{nil, files("x", ""), files("x", " \n\t ")} {
		if got := sampling.Sketch(empty); got != "" {
			t.Errorf("Sketch(%q) = %q, want empty", empty, got)
		}
	}
	for _, bad := range [][2]string{{"", base}, {base, "xyz"}, {base, "0123456789abcdeg"}} {
		if _, ok := sampling.Distance(bad[0], bad[1]); ok {
			t.Errorf("Distance(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if d := dist("0000000000000000", "ffffffffffffffff"); d != 64 {
		t.Errorf("distance of opposites = %d", d)
	}
}

func TestCodeSize(t *testing.T) {
	if got := sampling.CodeSize(map[string][]byte{"a": []byte("1234"), "b": nil, "c": []byte("xy")}); got != 6 {
		t.Errorf("CodeSize = %d, want 6", got)
	}
	if got := sampling.CodeSize(nil); got != 0 {
		t.Errorf("CodeSize(nil) = %d", got)
	}
}

func FuzzSketch(f *testing.F) {
	f.Add([]byte(program(3)), []byte(other))
	f.Add([]byte(""), []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s := sampling.Sketch(map[string][]byte{"a": a, "b": b})
		if s == "" {
			return
		}
		if d, ok := sampling.Distance(s, s); !ok || d != 0 {
			t.Fatalf("sketch %q: distance to itself %d %v", s, d, ok)
		}
	})
}
