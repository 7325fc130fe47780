package evolve

import (
	"fmt"
	"path"
	"strings"
)

// MatchFiles reports whether the repository path p (slash separated) is one
// of the editable files described by patterns (evolve.files). A pattern
// without glob characters must equal p; otherwise each segment is matched
// with path.Match and a "**" segment matches any number of segments (none
// included). A leading "./" is ignored. A malformed pattern is an error
// naming it.
func MatchFiles(p string, patterns []string) (bool, error) {
	segs := strings.Split(p, "/")
	for _, pat := range patterns {
		pat = strings.TrimPrefix(strings.TrimSpace(pat), "./")
		if pat == "" {
			continue
		}
		if !strings.ContainsAny(pat, `*?[\`) {
			if pat == p {
				return true, nil
			}
			continue
		}
		ok, err := matchSegments(strings.Split(pat, "/"), segs)
		if err != nil {
			return false, fmt.Errorf("bad pattern %q in evolve.files: %w", pat, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// MatchPattern is MatchFiles for one pattern; a malformed pattern matches nothing.
func MatchPattern(pattern, name string) bool {
	ok, err := MatchFiles(name, []string{pattern})
	return ok && err == nil
}

func matchSegments(pat, segs []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse repeated "**" and try every split point.
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			for i := 0; i <= len(segs); i++ {
				ok, err := matchSegments(pat[1:], segs[i:])
				if err != nil || ok {
					return ok, err
				}
			}
			return false, nil
		}
		if len(segs) == 0 {
			// Validate the rest of the pattern so bad patterns always fail.
			for _, rest := range pat {
				if _, err := path.Match(rest, ""); err != nil {
					return false, err
				}
			}
			return false, nil
		}
		ok, err := path.Match(pat[0], segs[0])
		if err != nil || !ok {
			return false, err
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0, nil
}
