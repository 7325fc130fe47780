package evolve

import "testing"

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
	if !Allowed([]string{"x", "y/*"}, "y/z") || Allowed(nil, "a") {
		t.Error("Allowed disagrees with MatchPattern")
	}
}
