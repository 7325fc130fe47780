package agents

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// EditFormatHelp tells a model how to write a diff-based reply. Prompt templates
// include it verbatim; ParseReplyMeta and ParseEdits read what it asks for.
const EditFormatHelp = `Reply in exactly this format.

TITLE: <one line of at most 72 characters saying what you changed>
MOTIVATION:
<a few sentences: what you changed and why you expect it to improve the score>

Then one SEARCH/REPLACE block per change:

path/to/file.py
<<<<<<< SEARCH
<lines copied exactly from the current file>
=======
<the lines that replace them>
>>>>>>> REPLACE

Rules:
- Put the path of the file, exactly as listed among the editable files, alone on the line before <<<<<<< SEARCH.
- The SEARCH part must match exactly one place in the file, character for character, indentation and comments included. When the lines you change appear more than once, add unchanged lines around them until the SEARCH part is unique.
- Keep each block small: the lines that change plus a little context. Use several blocks for several changes; they are applied in order, each to the result of the previous ones.
- To delete lines, leave the part between ======= and >>>>>>> REPLACE empty.
- Edit only the editable files and, in a file that has EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers, only the lines between them. Never add or remove those markers.
`

// RewriteFormatHelp tells a model how to write a full-file reply
// (pipeline.diff_based_evolution: false); ParseFullRewrite reads it.
const RewriteFormatHelp = `Reply in exactly this format.

TITLE: <one line of at most 72 characters saying what you changed>
MOTIVATION:
<a few sentences: what you changed and why you expect it to improve the score>

Then, for each file you change, its path alone on a line followed by the complete new content of the file in a fenced code block:

path/to/file.py
` + "```" + `python
<the whole file, from its first line to its last>
` + "```" + `

Rules:
- Give whole files, never excerpts or "..." placeholders; a file you do not give stays as it is.
- Use the paths exactly as listed among the editable files; do not give any other file.
- In a file that has EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers, change only the lines between them and keep every other line as it is.
`

// ErrNoEdits is returned (wrapped) by ParseEdits when a reply holds no
// SEARCH/REPLACE block at all.
var ErrNoEdits = errors.New("the reply contains no SEARCH/REPLACE block")

// ErrNoCode is returned (wrapped) by ParseFullRewrite when a reply holds no
// fenced code block.
var ErrNoCode = errors.New("the reply contains no fenced code block")

// ErrNoChange is returned (wrapped) by ApplyEdits and ApplyRewrite when the
// reply applies cleanly but leaves every file exactly as it was.
var ErrNoChange = errors.New("the edits change nothing")

// Edit is one SEARCH/REPLACE block of a reply. Search and Replace hold whole
// lines separated and terminated by "\n" (empty when the part is empty); the
// line endings of the reply are not kept.
type Edit struct {
	File    string // path as written in the reply; "" when the reply names none
	Search  string
	Replace string
	Line    int // 1-based line of the reply holding <<<<<<< SEARCH
}

// EditError is one precise problem with a reply, worded so that it can be sent
// back to the model as is.
type EditError struct {
	Block int    // 1-based index of the SEARCH/REPLACE block; 0 when not about one block
	File  string // file concerned, if any
	Line  int    // 1-based line of the reply, 0 when unknown
	Msg   string // the complete message
}

func (e *EditError) Error() string { return e.Msg }

// EditErrors collects every problem found in one reply; Error puts one per line.
type EditErrors []*EditError

func (es EditErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Msg
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (es EditErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

var (
	searchMarker  = regexp.MustCompile(`(?i)^<{5,9}\s*SEARCH\b\s*(.*)$`)
	dividerMarker = regexp.MustCompile(`^={5,9}$`)
	replaceMarker = regexp.MustCompile(`(?i)^>{5,9}\s*REPLACE\b`)
	fenceLine     = regexp.MustCompile("^(`{3,}|~{3,})\\s*(.*)$")
)

// replyLines splits a reply into lines without their terminators, tolerating
// CRLF and CR line endings.
func replyLines(reply string) []string {
	reply = strings.ReplaceAll(reply, "\r\n", "\n")
	reply = strings.ReplaceAll(reply, "\r", "\n")
	lines := strings.Split(reply, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

// ParseEdits reads the SEARCH/REPLACE blocks of a reply, in order:
//
//	path/to/file.py
//	<<<<<<< SEARCH
//	old lines
//	=======
//	new lines
//	>>>>>>> REPLACE
//
// The path is the line before the SEARCH marker (blank lines and ``` fences in
// between are skipped, markdown decoration such as **bold** or `code` is
// removed) or follows the marker ("<<<<<<< SEARCH path"); a block without a
// path takes the previous block's. Marker lines may carry surrounding
// whitespace and use 5 to 9 marker characters. A block that is not finished
// (no ======= or no >>>>>>> REPLACE, as in a reply cut short) is an *EditError
// naming the reply line; a reply with no block at all wraps ErrNoEdits.
func ParseEdits(reply string) ([]Edit, error) {
	lines := replyLines(reply)
	var edits []Edit
	prevEnd := -1 // index of the last line of the previous block
	file := ""
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if replaceMarker.MatchString(t) {
			return nil, &EditError{Line: i + 1, Msg: fmt.Sprintf(
				"reply line %d has %s without a <<<<<<< SEARCH line before it", i+1, t)}
		}
		m := searchMarker.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		block := len(edits) + 1
		if p := cleanPath(m[1]); p != "" {
			file = p
		} else if p := pathBefore(lines, i, prevEnd); p != "" {
			file = p
		}
		e := Edit{File: file, Line: i + 1}
		var search, replace []string
		inReplace, done := false, false
		j := i + 1
		for ; j < len(lines); j++ {
			t := strings.TrimSpace(lines[j])
			switch {
			case searchMarker.MatchString(t):
				return nil, &EditError{Block: block, File: file, Line: i + 1, Msg: fmt.Sprintf(
					"SEARCH block %d (reply line %d) is not finished: reply line %d starts a new block before its %s; end every block with >>>>>>> REPLACE",
					block, i+1, j+1, map[bool]string{false: "=======", true: ">>>>>>> REPLACE"}[inReplace])}
			case dividerMarker.MatchString(t):
				if inReplace {
					return nil, &EditError{Block: block, File: file, Line: j + 1, Msg: fmt.Sprintf(
						"SEARCH block %d (reply line %d) has a second ======= on reply line %d; each block has exactly one", block, i+1, j+1)}
				}
				inReplace = true
				continue
			case replaceMarker.MatchString(t):
				if !inReplace {
					return nil, &EditError{Block: block, File: file, Line: j + 1, Msg: fmt.Sprintf(
						"SEARCH block %d (reply line %d) reaches >>>>>>> REPLACE on reply line %d without a ======= line between the old and the new lines", block, i+1, j+1)}
				}
				done = true
			}
			if done {
				break
			}
			if inReplace {
				replace = append(replace, lines[j])
			} else {
				search = append(search, lines[j])
			}
		}
		if !done {
			missing := "======= and >>>>>>> REPLACE"
			if inReplace {
				missing = ">>>>>>> REPLACE"
			}
			return nil, &EditError{Block: block, File: file, Line: i + 1, Msg: fmt.Sprintf(
				"SEARCH block %d starting on reply line %d has no %s: the reply ends inside it (was it cut short?)", block, i+1, missing)}
		}
		e.Search, e.Replace = joinLines(search), joinLines(replace)
		edits = append(edits, e)
		prevEnd = j
		i = j
	}
	if len(edits) == 0 {
		return nil, fmt.Errorf("%w: write each change as a path line followed by <<<<<<< SEARCH, the old lines, =======, the new lines and >>>>>>> REPLACE", ErrNoEdits)
	}
	return edits, nil
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// pathBefore finds the file path written before the SEARCH marker on line i,
// skipping blank lines and fence lines, never looking at or above prevEnd.
func pathBefore(lines []string, i, prevEnd int) string {
	for j := i - 1; j > prevEnd; j-- {
		t := strings.TrimSpace(lines[j])
		if t == "" {
			continue
		}
		if m := fenceLine.FindStringSubmatch(t); m != nil {
			if p := pathInInfo(m[2]); p != "" {
				return p
			}
			continue
		}
		return cleanPath(t)
	}
	return ""
}

// pathInInfo reads a path from a fence's info string: "python path/a.py",
// "path/a.py" or "python:path/a.py".
func pathInInfo(info string) string {
	for _, f := range strings.FieldsFunc(info, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' }) {
		if p := cleanPath(f); p != "" && strings.ContainsAny(p, "./") {
			return p
		}
	}
	return ""
}

var pathPrefix = regexp.MustCompile(`(?i)^(?:#+\s*|[-*+]\s+|\d+\.\s+)?(?:(?:file|filename|file name|path)\s*:\s*)?`)

// cleanPath turns a line such as "**src/a.py**", "`a.py`:", "### File: a.py"
// into a path, or "" when the line does not look like a path: a path has no
// blank or shell/code punctuation in it and holds a dot or a slash.
func cleanPath(s string) string {
	s = strings.TrimSpace(s)
	s = pathPrefix.ReplaceAllString(s, "")
	for {
		t := strings.TrimSpace(s)
		t = strings.TrimRight(t, ":")
		t = strings.Trim(t, "*`'\"_")
		if t == s {
			break
		}
		s = t
	}
	if s == "" || len(s) > 300 || !strings.ContainsAny(s, "./") || strings.ContainsAny(s, " \t()[]{}<>=;,|&$!?\"'`*") {
		return ""
	}
	if strings.Trim(s, "./") == "" { // ".", "..", "/", "..."
		return ""
	}
	return s
}

// fileText is a file split into lines, each with its own terminator, so that
// edits keep the line endings of the lines they do not touch.
type fileText struct {
	lines []string // without terminator
	eols  []string // "\n", "\r\n", or "" for a last line without newline
	eol   string   // terminator of new lines: the file's most common one
}

func splitFile(s string) *fileText {
	f := &fileText{}
	crlf, lf := 0, 0
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			f.lines = append(f.lines, s)
			f.eols = append(f.eols, "")
			break
		}
		line, eol := s[:i], "\n"
		if strings.HasSuffix(line, "\r") {
			line, eol = line[:len(line)-1], "\r\n"
			crlf++
		} else {
			lf++
		}
		f.lines = append(f.lines, line)
		f.eols = append(f.eols, eol)
		s = s[i+1:]
	}
	f.eol = "\n"
	if crlf > lf {
		f.eol = "\r\n"
	}
	return f
}

func (f *fileText) String() string {
	var b strings.Builder
	for i, l := range f.lines {
		b.WriteString(l)
		b.WriteString(f.eols[i])
	}
	return b.String()
}

// splice replaces lines [s, e) with repl, giving new lines the file's line
// ending and the last one the terminator of the last replaced line.
func (f *fileText) splice(s, e int, repl []string) {
	lastEOL := f.eol
	if e > s {
		lastEOL = f.eols[e-1]
	} else if s == len(f.lines) && s > 0 && f.eols[s-1] == "" {
		f.eols[s-1] = f.eol // appending after a last line without newline
		lastEOL = ""
	}
	eols := make([]string, len(repl))
	for i := range eols {
		eols[i] = f.eol
	}
	if len(repl) > 0 {
		eols[len(repl)-1] = lastEOL
	} else if e == len(f.lines) && s > 0 && lastEOL == "" {
		f.eols[s-1] = "" // the removed lines ended the file without newline
	}
	lines := make([]string, 0, len(f.lines)-(e-s)+len(repl))
	lines = append(append(append(lines, f.lines[:s]...), repl...), f.lines[e:]...)
	ends := make([]string, 0, len(lines))
	ends = append(append(append(ends, f.eols[:s]...), eols...), f.eols[e:]...)
	f.lines, f.eols = lines, ends
}

// Markers of the editable region of a file.
const (
	BlockStart = "EVOLVE-BLOCK-START"
	BlockEnd   = "EVOLVE-BLOCK-END"
)

// region is a range of editable lines [from, to) (0-based).
type region struct{ from, to int }

// editableRegions lists the EVOLVE-BLOCK regions of a file: the lines strictly
// between a line holding EVOLVE-BLOCK-START and the next line holding
// EVOLVE-BLOCK-END (or the end of the file). A file without a start marker
// returns nil: all of it is editable.
func editableRegions(lines []string) []region {
	var rs []region
	open := -1
	for i, l := range lines {
		switch {
		case open < 0 && strings.Contains(l, BlockStart):
			open = i + 1
		case open >= 0 && strings.Contains(l, BlockEnd):
			rs = append(rs, region{open, i})
			open = -1
		}
	}
	if open >= 0 {
		rs = append(rs, region{open, len(lines)})
	}
	return rs
}

func describeRegions(rs []region) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = lineRange(r.from, r.to)
		if r.to <= r.from {
			parts[i] = fmt.Sprintf("an empty region after line %d", r.from)
		}
	}
	return strings.Join(parts, ", ")
}

// lineRange words the 0-based line range [from, to) as 1-based lines.
func lineRange(from, to int) string {
	if to-from == 1 {
		return fmt.Sprintf("line %d", to)
	}
	return fmt.Sprintf("lines %d-%d", from+1, to)
}

// resolveFile maps a path written by the model to one of the editable paths:
// the same path (after cleaning "./" and backslashes), or the only editable
// path ending with it ("initial_program.py" for
// "experiments/x/initial_program.py"). An empty name resolves when there is a
// single editable file.
func resolveFile(name string, editable []string) (string, bool) {
	if name == "" {
		if len(editable) == 1 {
			return editable[0], true
		}
		return "", false
	}
	n := path.Clean(strings.ReplaceAll(name, `\`, "/"))
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimPrefix(n, "/")
	var suffix []string
	for _, e := range editable {
		if e == n || e == name {
			return e, true
		}
		if strings.HasSuffix(e, "/"+n) {
			suffix = append(suffix, e)
		}
	}
	if len(suffix) == 1 {
		return suffix[0], true
	}
	return "", false
}

func editableList(editable []string) string {
	if len(editable) == 0 {
		return "(none)"
	}
	return strings.Join(editable, ", ")
}

// ApplyEdits applies edits in order to files (path -> content) and returns a
// new map with every input file, edited ones changed. Each SEARCH part must
// match exactly one run of whole lines of its file; when no exact match
// exists, a match that ignores trailing whitespace (and CRLF versus LF) is
// used if it is unique, then one that also ignores blank lines at the edges of
// the SEARCH part. An edit must name one of editable (exactly, or as a unique
// path suffix; an unnamed edit is fine when a single file is editable) and,
// in a file with EVOLVE-BLOCK-START/EVOLVE-BLOCK-END markers, stay strictly
// between them (a match outside the region is ignored when one inside exists).
// A block repeated verbatim is applied once. Edited files keep their line
// endings. Every problem is reported, one *EditError per block, in an
// EditErrors; when everything applies but nothing changes, the error wraps
// ErrNoChange.
func ApplyEdits(files map[string]string, editable []string, edits []Edit) (map[string]string, error) {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = v
	}
	if len(edits) == 0 {
		return nil, fmt.Errorf("%w: there are no edits to apply", ErrNoEdits)
	}
	texts := map[string]*fileText{}
	applied := map[[3]string]bool{}
	var errs EditErrors
	for i, e := range edits {
		block := i + 1
		fail := func(file, format string, args ...any) {
			errs = append(errs, &EditError{Block: block, File: file, Line: e.Line, Msg: fmt.Sprintf(format, args...)})
		}
		file, ok := resolveFile(e.File, editable)
		if !ok {
			if e.File == "" {
				fail("", "SEARCH block %d (reply line %d) names no file; put the path of the file alone on the line before <<<<<<< SEARCH (editable files: %s)", block, e.Line, editableList(editable))
			} else {
				fail(e.File, "SEARCH block %d (reply line %d) edits %s, which is not editable; editable files: %s", block, e.Line, e.File, editableList(editable))
			}
			continue
		}
		key := [3]string{file, e.Search, e.Replace}
		if applied[key] {
			continue
		}
		ft := texts[file]
		if ft == nil {
			ft = splitFile(out[file])
			texts[file] = ft
		}
		if msg := applyOne(ft, file, block, e); msg != "" {
			fail(file, "%s", msg)
			continue
		}
		applied[key] = true
	}
	if len(errs) > 0 {
		return nil, errs
	}
	changed := false
	for file, ft := range texts {
		s := ft.String()
		if s != files[file] {
			changed = true
		}
		out[file] = s
	}
	if !changed {
		return nil, fmt.Errorf("%w: every REPLACE part leaves its file as it was; make an actual change", ErrNoChange)
	}
	return out, nil
}

// applyOne applies one edit to ft, or returns the message saying why not.
func applyOne(ft *fileText, file string, block int, e Edit) string {
	search, replace := splitEditLines(e.Search), splitEditLines(e.Replace)
	for _, l := range replace {
		if strings.Contains(l, BlockStart) || strings.Contains(l, BlockEnd) {
			return fmt.Sprintf("SEARCH block %d (reply line %d) for %s adds an %s or %s marker; the markers cannot be added, moved or removed",
				block, e.Line, file, BlockStart, BlockEnd)
		}
	}
	regions := editableRegions(ft.lines)
	if len(search) == 0 {
		if len(ft.lines) == 0 {
			ft.splice(0, 0, replace)
			return ""
		}
		return fmt.Sprintf("SEARCH block %d (reply line %d) for %s has an empty SEARCH part; copy the lines to change from the file into it", block, e.Line, file)
	}
	type pass struct {
		eq           func(a, b string) bool
		trimmedEdges bool
	}
	exact := func(a, b string) bool { return a == b }
	loose := func(a, b string) bool { return strings.TrimRight(a, " \t\r") == strings.TrimRight(b, " \t\r") }
	for _, p := range []pass{{exact, false}, {loose, false}, {loose, true}} {
		s, r := search, replace
		if p.trimmedEdges {
			var top, bottom int
			s, top, bottom = trimBlankEdges(search)
			if len(s) == 0 || (top == 0 && bottom == 0) {
				continue
			}
			r = dropBlankEdges(replace, top, bottom)
		}
		starts := findRuns(ft.lines, s, p.eq)
		if len(starts) == 0 {
			continue
		}
		inside := starts
		if regions != nil {
			inside = nil
			for _, st := range starts {
				if within(regions, st, st+len(s)) {
					inside = append(inside, st)
				}
			}
		}
		switch {
		case len(inside) == 1:
			ft.splice(inside[0], inside[0]+len(s), r)
			return ""
		case len(inside) > 1:
			at := make([]string, len(inside))
			for k, st := range inside {
				at[k] = fmt.Sprint(st + 1)
			}
			return fmt.Sprintf("SEARCH block %d (reply line %d) for %s matches %d times (at lines %s); add more context so that it matches exactly once",
				block, e.Line, file, len(inside), strings.Join(at, ", "))
		default:
			st := starts[0]
			return fmt.Sprintf("SEARCH block %d (reply line %d) for %s matches %s, outside the editable region (%s); edit only the lines between %s and %s",
				block, e.Line, file, lineRange(st, st+len(s)), describeRegions(regions), BlockStart, BlockEnd)
		}
	}
	return fmt.Sprintf("SEARCH block %d (reply line %d) for %s matches nothing; %s", block, e.Line, file, closestLine(ft.lines, search))
}

func splitEditLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func trimBlankEdges(lines []string) (mid []string, top, bottom int) {
	for top < len(lines) && strings.TrimSpace(lines[top]) == "" {
		top++
	}
	end := len(lines)
	for end > top && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	return lines[top:end], top, len(lines) - end
}

// dropBlankEdges removes up to top blank lines at the start and bottom at the end.
func dropBlankEdges(lines []string, top, bottom int) []string {
	for top > 0 && len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines, top = lines[1:], top-1
	}
	for bottom > 0 && len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines, bottom = lines[:len(lines)-1], bottom-1
	}
	return lines
}

// findRuns returns the start of every run of lines equal to want.
func findRuns(lines, want []string, eq func(a, b string) bool) []int {
	var starts []int
	for i := 0; i+len(want) <= len(lines); i++ {
		ok := true
		for j := range want {
			if !eq(lines[i+j], want[j]) {
				ok = false
				break
			}
		}
		if ok {
			starts = append(starts, i)
		}
	}
	return starts
}

func within(rs []region, s, e int) bool {
	for _, r := range rs {
		if s >= r.from && e <= r.to {
			return true
		}
	}
	return false
}

// closestLine explains a SEARCH part that matches nothing: the first of its
// lines that is not in the file, and the file line most like it.
func closestLine(lines, search []string) string {
	have := map[string]bool{}
	for _, l := range lines {
		have[strings.TrimSpace(l)] = true
	}
	for k, s := range search {
		if strings.TrimSpace(s) == "" || have[strings.TrimSpace(s)] {
			continue
		}
		best, bestSim := -1, -1.0
		for i, l := range lines {
			if sim := similarity(strings.TrimSpace(s), strings.TrimSpace(l)); sim > bestSim {
				best, bestSim = i, sim
			}
		}
		if best < 0 {
			return fmt.Sprintf("the file is empty (line %d of the SEARCH part is %s)", k+1, quoteLine(s))
		}
		return fmt.Sprintf("closest line: %d %s, for line %d of the SEARCH part %s; copy the lines exactly as they are in the file",
			best+1, quoteLine(lines[best]), k+1, quoteLine(s))
	}
	first := 0
	for first < len(search)-1 && strings.TrimSpace(search[first]) == "" {
		first++
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == strings.TrimSpace(search[first]) {
			return fmt.Sprintf("closest line: %d %s; each line of the SEARCH part is in the file but not as one run in this order with this indentation: copy a contiguous run of lines exactly",
				i+1, quoteLine(l))
		}
	}
	return "copy the lines exactly as they are in the file"
}

func quoteLine(s string) string {
	const max = 160
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// similarity is the Dice coefficient of the character bigrams of a and b.
func similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	if len(a) < 2 || len(b) < 2 {
		return 0
	}
	grams := map[string]int{}
	for i := 0; i+2 <= len(a); i++ {
		grams[a[i:i+2]]++
	}
	common := 0
	for i := 0; i+2 <= len(b); i++ {
		if g := b[i : i+2]; grams[g] > 0 {
			grams[g]--
			common++
		}
	}
	return 2 * float64(common) / float64(len(a)+len(b)-2)
}

// ParseFullRewrite reads a full-file reply: for each file, a fenced code block
// whose file is named by the fence's info string ("```python path/a.py") or by
// the line before the fence (a bare path, "**a.py**", "File: a.py", or prose
// naming exactly one editable file). When a single file is editable, one
// unnamed block is taken as that file. The result maps editable paths (as
// given in files) to their new content with "\n" line endings and a final
// newline; files the reply does not give are absent. Errors name the reply
// line: a block for a file that is not editable, a file given twice, an
// unclosed fence (a reply cut short), a block holding SEARCH/REPLACE markers,
// and no usable block at all (wrapping ErrNoCode).
func ParseFullRewrite(reply string, files []string) (map[string]string, error) {
	lines := replyLines(reply)
	type block struct {
		name    string // resolved editable path, "" when unnamed
		line    int    // 1-based reply line of the opening fence
		content string
	}
	var named, unnamed []block
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		m := fenceLine.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		fence := m[1]
		end := -1
		for j := i + 1; j < len(lines); j++ {
			c := strings.TrimSpace(lines[j])
			if strings.HasPrefix(c, fence) && strings.Trim(c, fence[:1]) == "" {
				end = j
				break
			}
		}
		if end < 0 {
			return nil, &EditError{Line: i + 1, Msg: fmt.Sprintf(
				"the code block opened on reply line %d is not closed with %s: the reply ends inside it (was it cut short?)", i+1, fence)}
		}
		b := block{line: i + 1, content: joinLines(lines[i+1 : end])}
		written := pathInInfo(m[2])
		if written == "" {
			written = nameBefore(lines, i, files)
		}
		if written != "" {
			p, ok := resolveFile(written, files)
			if !ok {
				return nil, &EditError{File: written, Line: i + 1, Msg: fmt.Sprintf(
					"the code block on reply line %d is for %s, which is not editable; editable files: %s", i+1, written, editableList(files))}
			}
			b.name = p
		}
		for _, l := range lines[i+1 : end] {
			if searchMarker.MatchString(strings.TrimSpace(l)) {
				return nil, &EditError{File: b.name, Line: i + 1, Msg: fmt.Sprintf(
					"the code block on reply line %d holds SEARCH/REPLACE markers; give the complete new content of each file instead", i+1)}
			}
		}
		if b.name != "" {
			named = append(named, b)
		} else {
			unnamed = append(unnamed, b)
		}
		i = end
	}
	out := map[string]string{}
	if len(named) > 0 {
		seen := map[string]int{}
		for _, b := range named {
			if prev, dup := seen[b.name]; dup {
				return nil, &EditError{File: b.name, Line: b.line, Msg: fmt.Sprintf(
					"%s is given twice (code blocks on reply lines %d and %d); give each file once", b.name, prev, b.line)}
			}
			seen[b.name] = b.line
			out[b.name] = b.content
		}
		return out, nil
	}
	switch {
	case len(unnamed) == 0:
		return nil, fmt.Errorf("%w: give the complete new content of each file you change in a fenced code block, its path alone on the line before", ErrNoCode)
	case len(files) == 1 && len(unnamed) == 1:
		out[files[0]] = unnamed[0].content
		return out, nil
	case len(files) == 1:
		return nil, &EditError{Line: unnamed[0].line, Msg: fmt.Sprintf(
			"the reply has %d code blocks and none is named; put the path %s alone on the line before the block holding the whole file", len(unnamed), files[0])}
	default:
		return nil, &EditError{Line: unnamed[0].line, Msg: fmt.Sprintf(
			"the code block on reply line %d names no file; put the path of the file alone on the line before each block (editable files: %s)", unnamed[0].line, editableList(files))}
	}
}

// nameBefore reads the file named on the nearest non-blank line before line i:
// a path, or prose that mentions exactly one of the editable files.
func nameBefore(lines []string, i int, files []string) string {
	for j := i - 1; j >= 0 && j >= i-3; j-- {
		t := strings.TrimSpace(lines[j])
		if t == "" {
			continue
		}
		if fenceLine.MatchString(t) {
			return ""
		}
		if p := cleanPath(t); p != "" {
			return p
		}
		var found []string
		for _, f := range files {
			if containsWord(t, f) || containsWord(t, path.Base(f)) {
				found = append(found, f)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		return ""
	}
	return ""
}

// containsWord reports whether s holds w not glued to other path characters.
func containsWord(s, w string) bool {
	isPathChar := func(c byte) bool {
		return c == '/' || c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if w == "" {
		return false
	}
	for off := 0; ; {
		k := strings.Index(s[off:], w)
		if k < 0 {
			return false
		}
		k += off
		end := k + len(w)
		before := k == 0 || !isPathChar(s[k-1])
		after := end == len(s) || !isPathChar(s[end]) || (s[end] == '.' && (end+1 == len(s) || !isPathChar(s[end+1])))
		if before && after {
			return true
		}
		off = k + 1
	}
}

// ApplyRewrite replaces whole files: rewrites maps paths (as ParseFullRewrite
// returns them) to new contents. Each path must be editable; a new content
// takes the line endings of the file it replaces; in a file with
// EVOLVE-BLOCK markers every line outside the regions, markers included, must
// stay as it was. The result holds every input file. Problems are reported
// together in an EditErrors; a rewrite that changes nothing wraps ErrNoChange.
func ApplyRewrite(files map[string]string, editable []string, rewrites map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = v
	}
	names := make([]string, 0, len(rewrites))
	for k := range rewrites {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs EditErrors
	changed := false
	for _, name := range names {
		file, ok := resolveFile(name, editable)
		if !ok {
			errs = append(errs, &EditError{File: name, Msg: fmt.Sprintf("%s is not editable; editable files: %s", name, editableList(editable))})
			continue
		}
		old := splitFile(files[file])
		nw := splitFile(strings.ReplaceAll(rewrites[name], "\r\n", "\n"))
		if old.eol != "\n" {
			for i := range nw.eols {
				if nw.eols[i] != "" {
					nw.eols[i] = old.eol
				}
			}
		}
		if msg := checkOutsideRegions(file, old.lines, nw.lines); msg != "" {
			errs = append(errs, &EditError{File: file, Msg: msg})
			continue
		}
		s := nw.String()
		if s != files[file] {
			changed = true
		}
		out[file] = s
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if !changed {
		return nil, fmt.Errorf("%w: every file given is identical to the current one; make an actual change", ErrNoChange)
	}
	return out, nil
}

// checkOutsideRegions compares the lines outside the EVOLVE-BLOCK regions of
// an old and a new version of a file.
func checkOutsideRegions(file string, old, nw []string) string {
	ro := editableRegions(old)
	if ro == nil {
		return ""
	}
	rn := editableRegions(nw)
	if len(rn) != len(ro) {
		return fmt.Sprintf("%s must keep its %d %s/%s region(s) as they are, but the new version has %d", file, len(ro), BlockStart, BlockEnd, len(rn))
	}
	outside := func(lines []string, rs []region) (out []string, at []int) {
		k := 0
		for i, l := range lines {
			for k < len(rs) && i >= rs[k].to {
				k++
			}
			if k < len(rs) && i >= rs[k].from && i < rs[k].to {
				continue
			}
			out = append(out, l)
			at = append(at, i)
		}
		return out, at
	}
	oo, oat := outside(old, ro)
	no, nat := outside(nw, rn)
	for i := 0; i < len(oo) || i < len(no); i++ {
		switch {
		case i >= len(no):
			return fmt.Sprintf("%s: line %d %s, outside the %s region, is missing from the new version; change only the lines between %s and %s",
				file, oat[i]+1, quoteLine(oo[i]), BlockStart, BlockStart, BlockEnd)
		case i >= len(oo) || strings.TrimRight(oo[i], " \t") != strings.TrimRight(no[i], " \t"):
			return fmt.Sprintf("%s: line %d of the new version %s is outside the %s region and differs from the current file; change only the lines between %s and %s",
				file, nat[i]+1, quoteLine(no[i]), BlockStart, BlockStart, BlockEnd)
		}
	}
	return ""
}

var (
	metaHeader = regexp.MustCompile(`(?i)^[#>*_\s]*(title|motivation)\b[*_\s]*(?:[:\-–]|$)[*_\s]*(.*)$`)
	stopHeader = regexp.MustCompile(`(?i)^[#>*_\s]*(title|edits?|changes?|code|diff|patch|implementation|search/replace( blocks?)?)\b[*_\s]*:?[*_\s]*$`)
	mdHeading  = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*$`)
)

// ParseReplyMeta reads the title and motivation of a reply written as
// EditFormatHelp or RewriteFormatHelp asks:
//
//	TITLE: one line
//	MOTIVATION:
//	free text, up to the first code fence, SEARCH block or the path line
//	before one
//
// Markdown decoration ("**Title:**", "## Motivation") is tolerated. Without a
// TITLE line the first "# heading" is the title and the prose after it the
// motivation; without either, the first line of prose is the title. Text in
// code blocks and edit blocks is never used. Titles are one line of at most
// 100 characters.
func ParseReplyMeta(reply string) (title, motivation string) {
	lines := replyLines(reply)
	code := codeLines(lines)
	var heading, firstProse string
	headingAt := -1
	for i := 0; i < len(lines); i++ {
		if code[i] {
			continue
		}
		t := strings.TrimSpace(lines[i])
		if m := metaHeader.FindStringSubmatch(t); m != nil {
			rest := strings.TrimSpace(strings.Trim(m[2], "*_ "))
			if strings.EqualFold(m[1], "title") {
				if rest == "" {
					for j := i + 1; j < len(lines) && !code[j]; j++ {
						if s := strings.TrimSpace(lines[j]); s != "" {
							rest, i = s, j
							break
						}
					}
				}
				if title == "" {
					title = rest
				}
				continue
			}
			var mot []string
			if rest != "" {
				mot = append(mot, rest)
			}
			j := i + 1
			for ; j < len(lines) && !code[j]; j++ {
				s := strings.TrimSpace(lines[j])
				if metaHeader.MatchString(s) || stopHeader.MatchString(s) {
					break
				}
				mot = append(mot, strings.TrimRight(lines[j], " \t"))
			}
			if motivation == "" {
				motivation = trimMotivation(mot, j < len(lines) && code[j])
			}
			i = j - 1
			continue
		}
		if heading == "" {
			if m := mdHeading.FindStringSubmatch(t); m != nil {
				heading, headingAt = m[1], i
			}
		}
		if firstProse == "" && t != "" && cleanPath(t) == "" {
			firstProse = t
		}
	}
	if title == "" && heading != "" {
		title = heading
		if motivation == "" {
			var mot []string
			j := headingAt + 1
			for ; j < len(lines) && !code[j]; j++ {
				if mdHeading.MatchString(strings.TrimSpace(lines[j])) {
					break
				}
				mot = append(mot, strings.TrimRight(lines[j], " \t"))
			}
			motivation = trimMotivation(mot, j < len(lines) && code[j])
		}
	}
	if title == "" {
		title = firstProse
	}
	return cleanTitle(title), motivation
}

// codeLines marks the lines inside code fences and SEARCH/REPLACE blocks,
// fences and markers included.
func codeLines(lines []string) []bool {
	code := make([]bool, len(lines))
	fence := ""
	inEdit := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case inEdit:
			code[i] = true
			if replaceMarker.MatchString(t) {
				inEdit = false
			}
		case fence != "":
			code[i] = true
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				fence = ""
			}
		case searchMarker.MatchString(t):
			code[i], inEdit = true, true
		default:
			if m := fenceLine.FindStringSubmatch(t); m != nil {
				code[i], fence = true, m[1]
			}
		}
	}
	return code
}

// trimMotivation drops the blank lines around a motivation and, when it ends
// right before code, the path line that names the code's file.
func trimMotivation(lines []string, beforeCode bool) string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if beforeCode && len(lines) > 0 && cleanPath(lines[len(lines)-1]) != "" {
		lines = lines[:len(lines)-1]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func cleanTitle(t string) string {
	t = strings.TrimSpace(strings.Trim(strings.TrimSpace(t), "*_`#\""))
	t = strings.Join(strings.Fields(t), " ")
	const max = 100
	if r := []rune(t); len(r) > max {
		cut := string(r[:max])
		if k := strings.LastIndexByte(cut, ' '); k > max/2 {
			cut = cut[:k]
		}
		t = strings.TrimRight(cut, " ,;:-") + "..."
	}
	return t
}

// CheckCodeLength refuses a candidate whose editable files hold more than max
// bytes in total (pipeline.max_code_length); max <= 0 means no limit. The code
// is never cut: the error names the sizes so the model can shorten it.
func CheckCodeLength(files map[string]string, max int) error {
	if max <= 0 {
		return nil
	}
	names := make([]string, 0, len(files))
	total := 0
	for k, v := range files {
		names = append(names, k)
		total += len(v)
	}
	if total <= max {
		return nil
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, len(files[n]))
	}
	return fmt.Errorf("the code is %d bytes (%s), more than pipeline.max_code_length %d; make it shorter, it is never cut",
		total, strings.Join(parts, ", "), max)
}
