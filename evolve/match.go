package evolve

import (
	"path"
	"strings"
)

// MatchPattern reports whether the repo-relative, '/'-separated name matches an
// evolve.files pattern: path.Match syntax within a segment, and a "**" segment
// matching any number of segments (zero included).
func MatchPattern(pattern, name string) bool {
	return matchSegs(strings.Split(path.Clean(pattern), "/"), strings.Split(path.Clean(name), "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// Allowed reports whether name matches one of the patterns.
func Allowed(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchPattern(p, name) {
			return true
		}
	}
	return false
}
