package evolve

import (
	"strings"
	"testing"
)

func TestMatchPattern(t *testing.T) {
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"experiments/x/initial_program*", "experiments/x/initial_program.py", true},
		{"experiments/x/initial_program*", "experiments/x/sub/initial_program.py", false},
		{"experiments/x/initial_program*", "experiments/y/initial_program.py", false},
		{"src/**/*.go", "src/a.go", true},
		{"src/**/*.go", "src/a/b/c.go", true},
		{"src/**/*.go", "src/a/b/c.py", false},
		{"**", "anything/at/all", true},
		{"a.py", "a.py", true},
		{"a.py", "b.py", false},
		{"./a.py", "a.py", true},
		{"[", "[", false}, // malformed pattern never matches
		{"", "a", false},
	}
	for _, c := range cases {
		if got := MatchPattern(c.pat, c.name); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", c.pat, c.name, got, c.want)
		}
	}
	if ok, _ := MatchFiles("y/z", []string{"x", "y/*"}); !ok {
		t.Error("MatchFiles should try every pattern")
	}
	if ok, _ := MatchFiles("a", nil); ok {
		t.Error("no pattern matches nothing")
	}
	if _, err := MatchFiles("a/b", []string{"a/[", "a/*"}); err == nil || !strings.Contains(err.Error(), `"a/["`) {
		t.Errorf("a malformed pattern must be an error naming it, got %v", err)
	}
}

func TestMatchFilesTable(t *testing.T) {
	pats := []string{"experiments/x/initial_program*", "./src/**/*.go", "exact/file.txt", "lib/**"}
	cases := []struct {
		path string
		want bool
	}{
		{"experiments/x/initial_program.py", true},
		{"experiments/x/initial_program", true},
		{"experiments/x/sub/initial_program.py", false},
		{"experiments/y/initial_program.py", false},
		{"src/a.go", true},
		{"src/a/b/c.go", true},
		{"src/a/b/c.py", false},
		{"exact/file.txt", true},
		{"exact/file.txtx", false},
		{"lib", true}, // "**" matches zero segments too
		{"lib/a/b", true},
		{"README.md", false},
	}
	for _, c := range cases {
		got, err := MatchFiles(c.path, pats)
		if err != nil || got != c.want {
			t.Errorf("MatchFiles(%q) = %v, %v; want %v", c.path, got, err, c.want)
		}
	}
	for _, pats := range [][]string{nil, {}, {""}, {"  "}} {
		if ok, _ := MatchFiles("a", pats); ok {
			t.Errorf("empty patterns %q allowed a file", pats)
		}
	}
	if _, err := MatchFiles("a/b", []string{"a/[", "a/*"}); err == nil || !strings.Contains(err.Error(), `"a/["`) {
		t.Errorf("bad pattern: err = %v", err)
	}
}
