package agents

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
)

// OfflineResearcher is the Researcher of the offline mode (DESIGN.md section
// 4): it needs no network and no model. Each proposal either mutates one to
// MaxChanges numeric literals of the editable region of the editable files
// (Gaussian steps relative to the value, or multiplication by a factor;
// integers stay integers of the same sign, floats keep a decimal point) or,
// with probability CrossoverRate, copies literals from an inspiration whose
// literals line up with the parent's. Only the text of a literal is replaced,
// so the program's syntax never changes; literals in strings and comments are
// left alone. A proposal depends only on its input and the random source.
//
// The zero value is ready to use.
type OfflineResearcher struct {
	// MaxChanges is the largest number of literals one mutation changes; 0 means 3.
	MaxChanges int
	// CrossoverRate is the probability of trying a crossover when an
	// inspiration allows one; 0 means 0.3, a negative value disables crossover.
	CrossoverRate float64
}

// Name is "offline", the model recorded in the proposed event.
func (OfflineResearcher) Name() string { return "offline" }

// literalChange is one literal rewritten by a proposal.
type literalChange struct {
	file    string
	lit     literal
	newText string
	how     string
}

// Propose returns the parent's editable files with a few literals changed.
// When no editable file holds a literal that can change, the proposal has
// Invalid set and the parent's files. The error is only for a cancelled
// context or a missing random source.
func (o OfflineResearcher) Propose(ctx context.Context, in evolve.ResearchInput, rng *rand.Rand) (evolve.Proposal, error) {
	if err := ctx.Err(); err != nil {
		return evolve.Proposal{}, fmt.Errorf("offline researcher: %w", err)
	}
	if rng == nil {
		return evolve.Proposal{}, errors.New("offline researcher: no random source given (pass a *rand.Rand seeded from --seed)")
	}
	p := evolve.Proposal{Model: "offline", Files: map[string][]byte{}}
	var present []string
	lits := map[string][]literal{}
	for _, f := range in.Editable {
		src, ok := in.Parent.Files[f]
		if !ok {
			continue
		}
		present = append(present, f)
		p.Files[f] = []byte(src)
		lits[f] = regionLiterals(f, src)
	}
	if len(present) == 0 {
		p.Title = "offline: nothing to change"
		p.Invalid = fmt.Sprintf("the parent has none of the editable files (%s)", editableList(in.Editable))
		return p, nil
	}

	var changes []literalChange
	crossWith := ""
	rate := o.CrossoverRate
	if rate == 0 {
		rate = 0.3
	}
	if len(in.Inspirations) > 0 && rate > 0 && rng.Float64() < rate {
		changes, crossWith = crossover(in, present, lits, rng)
	}
	if len(changes) == 0 {
		crossWith = ""
		changes = mutate(present, lits, o.maxChanges(), rng)
	}
	if len(changes) == 0 {
		p.Title = "offline: nothing to change"
		p.Invalid = fmt.Sprintf("no numeric literal in the editable region of %s", strings.Join(present, ", "))
		return p, nil
	}

	byFile := map[string][]literalChange{}
	for _, c := range changes {
		byFile[c.file] = append(byFile[c.file], c)
	}
	for f, cs := range byFile {
		sort.Slice(cs, func(i, j int) bool { return cs[i].lit.start > cs[j].lit.start })
		src := in.Parent.Files[f]
		for _, c := range cs {
			src = src[:c.lit.start] + c.newText + src[c.lit.end:]
		}
		p.Files[f] = []byte(src)
	}
	sort.SliceStable(changes, func(i, j int) bool {
		if changes[i].file != changes[j].file {
			return fileIndex(present, changes[i].file) < fileIndex(present, changes[j].file)
		}
		return changes[i].lit.start < changes[j].lit.start
	})
	p.Title, p.Motivation = describeChanges(changes, crossWith, len(present) > 1)
	return p, nil
}

func (o OfflineResearcher) maxChanges() int {
	if o.MaxChanges <= 0 {
		return 3
	}
	return o.MaxChanges
}

func fileIndex(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return len(list)
}

// regionLiterals lists the mutable literals of a file inside its editable
// region (the EVOLVE-BLOCK regions, or the whole file).
func regionLiterals(file, src string) []literal {
	regions := editableRegions(splitFile(src).lines)
	var out []literal
	for _, l := range scanLiterals(file, src) {
		if !l.mutable {
			continue
		}
		if regions != nil && !within(regions, l.line-1, l.line) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// mutate picks k literals (weighted towards named constants) and steps them.
func mutate(files []string, lits map[string][]literal, max int, rng *rand.Rand) []literalChange {
	type cand struct {
		file string
		lit  literal
		w    float64
	}
	var pool []cand
	for _, f := range files {
		for _, l := range lits[f] {
			if w := mutationWeight(l); w > 0 {
				pool = append(pool, cand{f, l, w})
			}
		}
	}
	k := 1
	switch r := rng.Float64(); {
	case r >= 0.9:
		k = 3
	case r >= 0.6:
		k = 2
	}
	k = min(k, max, len(pool))
	var out []literalChange
	for range k {
		total := 0.0
		for _, c := range pool {
			total += c.w
		}
		x := rng.Float64() * total
		i := 0
		for ; i < len(pool)-1; i++ {
			if x < pool[i].w {
				break
			}
			x -= pool[i].w
		}
		c := pool[i]
		pool = append(pool[:i:i], pool[i+1:]...)
		text, how := mutateLiteral(c.lit, rng)
		out = append(out, literalChange{file: c.file, lit: c.lit, newText: text, how: how})
	}
	return out
}

// mutationWeight prefers named constants and avoids integer zeros and
// subscripts such as a[1].
func mutationWeight(l literal) float64 {
	if l.isInt && l.value == 0 {
		return 0
	}
	switch {
	case l.subscript:
		return 0.25
	case l.name != "":
		return 4
	}
	return 1
}

var (
	sigmas  = []float64{0.01, 0.05, 0.2}
	factors = []float64{0.5, 0.8, 0.9, 1.1, 1.25, 2}
)

// mutateLiteral returns the new text of l and how it was obtained.
func mutateLiteral(l literal, rng *rand.Rand) (string, string) {
	v := l.value
	if l.isInt {
		var nv float64
		var how string
		if rng.Float64() < 0.6 {
			s := sigmas[rng.IntN(len(sigmas))]
			g := rng.NormFloat64()
			nv = math.Round(v * (1 + s*g))
			how = fmt.Sprintf("gaussian step, sigma %g%%", s*100)
			if nv == v {
				nv, how = v+1, "+1"
				if g < 0 {
					nv, how = v-1, "-1"
				}
			}
		} else {
			f := factors[rng.IntN(len(factors))]
			nv = math.Round(v * f)
			how = fmt.Sprintf("x%g", f)
			if nv == v {
				nv, how = v+1, "+1"
				if f < 1 {
					nv, how = v-1, "-1"
				}
			}
		}
		if nv < 1 { // never 0 nor a sign change from a positive literal
			nv, how = v+1, "+1"
		}
		nv = math.Min(nv, 1<<53)
		return strconv.FormatInt(int64(nv), 10) + l.suffix, how
	}
	var nv float64
	var how string
	switch {
	case v == 0:
		s := []float64{0.001, 0.01, 0.1}[rng.IntN(3)]
		nv = math.Abs(rng.NormFloat64()) * s
		how = fmt.Sprintf("gaussian step from 0, sigma %g", s)
	case rng.Float64() < 0.6:
		s := sigmas[rng.IntN(len(sigmas))]
		nv = math.Abs(v * (1 + s*rng.NormFloat64()))
		how = fmt.Sprintf("gaussian step, sigma %g%%", s*100)
	default:
		f := factors[rng.IntN(len(factors))]
		nv = v * f
		how = fmt.Sprintf("x%g", f)
	}
	if nv == 0 || math.IsInf(nv, 0) || math.IsNaN(nv) {
		nv, how = v*1.1, "x1.1"
		if v == 0 {
			nv = 0.01
		}
	}
	return formatFloat(nv, l) + l.suffix, how
}

// formatFloat writes nv in the style of the literal it replaces, with as few
// significant digits as keep the step visible, and always a decimal point.
func formatFloat(nv float64, l literal) string {
	v := l.value
	rel := math.Abs(nv-v) / math.Max(math.Abs(v), 1e-300)
	sig := 4
	if rel > 0 && !math.IsInf(rel, 0) {
		sig = max(4, 2+int(math.Ceil(-math.Log10(rel))))
	}
	expStyle := strings.ContainsAny(l.text, "eE")
	for ; sig <= 17; sig++ {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(nv, 'e', sig-1, 64), 64)
		s := renderFloat(r, expStyle, strings.Contains(l.text, "E"))
		if back, _ := strconv.ParseFloat(s, 64); back != v {
			return s
		}
	}
	return renderFloat(nv, expStyle, false)
}

func renderFloat(r float64, expStyle, upperE bool) string {
	a := math.Abs(r)
	if expStyle || a >= 1e16 || (a != 0 && a < 1e-6) {
		s := strconv.FormatFloat(r, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		if !strings.Contains(mant, ".") {
			mant += ".0"
		}
		e, _ := strconv.Atoi(exp)
		sep := "e"
		if upperE {
			sep = "E"
		}
		return mant + sep + strconv.Itoa(e)
	}
	s := strconv.FormatFloat(r, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// crossover copies, from one inspiration whose editable files have their
// literals at the same positions (same count and names) as the parent's,
// some of the literals that differ.
func crossover(in evolve.ResearchInput, files []string, lits map[string][]literal, rng *rand.Rand) ([]literalChange, string) {
	type pos struct {
		file string
		p, q literal
	}
	var options [][]pos
	var ids []string
	for _, insp := range in.Inspirations {
		var diff []pos
		aligned := true
		for _, f := range files {
			src, ok := insp.Files[f]
			if !ok {
				continue
			}
			theirs := regionLiterals(f, src)
			mine := lits[f]
			if len(theirs) != len(mine) {
				aligned = false
				break
			}
			for i := range mine {
				if mine[i].name != theirs[i].name || mine[i].isInt != theirs[i].isInt || mine[i].suffix != theirs[i].suffix {
					continue
				}
				if mine[i].text != theirs[i].text && mine[i].value != theirs[i].value {
					diff = append(diff, pos{f, mine[i], theirs[i]})
				}
			}
		}
		if aligned && len(diff) > 0 {
			options = append(options, diff)
			ids = append(ids, insp.ID)
		}
	}
	if len(options) == 0 {
		return nil, ""
	}
	k := rng.IntN(len(options))
	var out []literalChange
	for _, d := range options[k] {
		if rng.Float64() < 0.5 {
			out = append(out, literalChange{file: d.file, lit: d.p, newText: d.q.text + d.q.suffix, how: "crossover"})
		}
	}
	if len(out) == 0 {
		d := options[k][rng.IntN(len(options[k]))]
		out = append(out, literalChange{file: d.file, lit: d.p, newText: d.q.text + d.q.suffix, how: "crossover"})
	}
	for i := range out {
		out[i].how = "taken from " + shortCandidate(ids[k])
	}
	return out, ids[k]
}

func shortCandidate(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	if id == "" {
		return "an inspiration"
	}
	return id
}

func describeChanges(cs []literalChange, crossWith string, manyFiles bool) (title, motivation string) {
	where := func(c literalChange) string {
		if manyFiles {
			return fmt.Sprintf("%s line %d", path.Base(c.file), c.lit.line)
		}
		return fmt.Sprintf("line %d", c.lit.line)
	}
	first := cs[0]
	name := first.lit.label()
	if name == "" {
		name = "literal"
	}
	title = fmt.Sprintf("offline: %s %s -> %s (%s)", name, first.lit.text+first.lit.suffix, first.newText, where(first))
	if crossWith != "" {
		title = fmt.Sprintf("offline: crossover with %s, %s %s -> %s (%s)", shortCandidate(crossWith), name, first.lit.text+first.lit.suffix, first.newText, where(first))
	}
	if len(cs) > 1 {
		title += fmt.Sprintf(" and %d more", len(cs)-1)
	}
	var b strings.Builder
	if crossWith != "" {
		fmt.Fprintf(&b, "Offline mode (no LLM): crossover of numeric literals with inspiration %s.\n", shortCandidate(crossWith))
	} else {
		fmt.Fprintf(&b, "Offline mode (no LLM): mutation of %d numeric literal(s).\n", len(cs))
	}
	for _, c := range cs {
		n := c.lit.label()
		if n == "" {
			n = "literal"
		}
		fmt.Fprintf(&b, "\n- %s line %d: %s %s -> %s (%s)", c.file, c.lit.line, n, c.lit.text+c.lit.suffix, c.newText, c.how)
	}
	return title, b.String()
}

// literal is a decimal number written in code (not in a string or comment).
type literal struct {
	start, end int    // byte offsets of text in the file
	text       string // as written, without sign or type suffix
	suffix     string // type suffix kept as is ("f", "L", "f64")
	value      float64
	isInt      bool
	line       int    // 1-based
	name       string // identifier assigned on the line, "" if none
	ordinal    int    // 1-based rank among literals of the line with the same name, 0 when alone
	subscript  bool   // written as a[N]
	mutable    bool
}

// label names a literal for people: "radius", "w (#2)", or "" when unnamed.
func (l literal) label() string {
	if l.name == "" {
		return ""
	}
	if l.ordinal > 0 {
		return fmt.Sprintf("%s (#%d)", l.name, l.ordinal)
	}
	return l.name
}

// describe names a literal in a sentence: its label, or "the literal on line N of FILE".
func (l literal) describe(file string) string {
	if s := l.label(); s != "" {
		return s
	}
	if l.ordinal > 0 {
		return fmt.Sprintf("literal #%d on line %d of %s", l.ordinal, l.line, file)
	}
	return fmt.Sprintf("the literal on line %d of %s", l.line, file)
}

// syntax says how comments and strings are written in a language.
type syntax struct {
	hash, slashes, dashes bool // # ..., // ... and /* */, -- ...
	triple                bool // """ and ''' strings (Python)
	singleQuote           bool // ' opens a string or a character literal
	backtick              bool // ` opens a string that may span lines
	multiline             bool // "..." and '...' may span lines (shell)
	rawBacktick           bool // no escapes inside backticks (Go)
	suffixes              bool // type suffixes: 1.0f, 10L, 2.0f64
}

var (
	pythonLike = syntax{hash: true, triple: true, singleQuote: true}
	hashLike   = syntax{hash: true, singleQuote: true, multiline: true}
	cLike      = syntax{slashes: true, singleQuote: true, backtick: true, suffixes: true}
	goLike     = syntax{slashes: true, singleQuote: true, backtick: true, rawBacktick: true}
	dashLike   = syntax{dashes: true, singleQuote: true}
)

// syntaxFor picks the syntax by file extension; unknown ones are read as Python.
func syntaxFor(file string) syntax {
	switch strings.ToLower(path.Ext(file)) {
	case ".py", ".pyw", ".pyi", ".pyx", ".jl":
		return pythonLike
	case ".sh", ".bash", ".zsh", ".rb", ".r", ".pl", ".yaml", ".yml", ".toml", ".cfg", ".conf", ".ini", ".mk", ".cmake", ".nim", ".ex", ".exs", ".tcl", ".awk":
		return hashLike
	case ".go":
		return goLike
	case ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".cu", ".cuh", ".java", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx",
		".rs", ".swift", ".kt", ".kts", ".scala", ".cs", ".dart", ".zig", ".proto", ".glsl", ".hlsl", ".metal", ".sol", ".php", ".m", ".mm", ".json", ".jsonc":
		return cLike
	case ".lua", ".sql", ".hs", ".elm":
		return dashLike
	}
	return pythonLike
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// scanLiterals finds the decimal numeric literals of a program, skipping
// strings, comments, identifiers (x1, float32) and hexadecimal, octal or
// binary numbers.
func scanLiterals(file, src string) []literal {
	sx := syntaxFor(file)
	var out []literal
	n := len(src)
	line, lineStart := 1, 0
	i := 0
	// jump moves to j, counting the newlines passed.
	jump := func(j int) {
		for k := i; k < j && k < n; k++ {
			if src[k] == '\n' {
				line, lineStart = line+1, k+1
			}
		}
		i = min(j, n)
	}
	endOfLine := func(from int) int {
		if k := strings.IndexByte(src[from:], '\n'); k >= 0 {
			return from + k
		}
		return n
	}
	// closeQuote finds the end of a string opened before from: the index
	// after the closing quote q, honouring backslash escapes unless raw,
	// stopping at a newline when oneLine (the newline is not consumed).
	closeQuote := func(from int, q string, raw, oneLine bool) int {
		for k := from; k < n; k++ {
			switch {
			case src[k] == '\\' && !raw:
				k++
			case oneLine && src[k] == '\n':
				return k
			case strings.HasPrefix(src[k:], q):
				return k + len(q)
			}
		}
		return n
	}
	for i < n {
		c := src[i]
		var next byte
		if i+1 < n {
			next = src[i+1]
		}
		switch {
		case c == '\n':
			jump(i + 1)
		case sx.hash && c == '#' && (i == 0 || src[i-1] != '$'):
			jump(endOfLine(i))
		case sx.slashes && c == '/' && next == '/', sx.dashes && c == '-' && next == '-':
			jump(endOfLine(i))
		case sx.slashes && c == '/' && next == '*':
			if k := strings.Index(src[i+2:], "*/"); k >= 0 {
				jump(i + 2 + k + 2)
			} else {
				jump(n)
			}
		case sx.triple && (c == '"' || c == '\'') && strings.HasPrefix(src[i:], strings.Repeat(string(c), 3)):
			jump(closeQuote(i+3, strings.Repeat(string(c), 3), false, false))
		case c == '"':
			jump(closeQuote(i+1, `"`, false, !sx.multiline))
		case c == '\'' && sx.singleQuote:
			end := closeQuote(i+1, "'", false, !sx.multiline)
			if !sx.triple && sx.slashes && (end >= n || src[end-1] != '\'') {
				jump(i + 1) // a Rust lifetime or a lone apostrophe, not a string
			} else {
				jump(end)
			}
		case c == '`' && sx.backtick:
			jump(closeQuote(i+1, "`", sx.rawBacktick, false))
		case isDigit(c) && i > 0 && src[i-1] == '.' && (i < 2 || src[i-2] != '.'):
			k := i + 1 // a field access such as t.0, not a number
			for k < n && isIdentChar(src[k]) {
				k++
			}
			jump(k)
		case isIdentStart(c):
			k := i + 1
			for k < n && isIdentChar(src[k]) {
				k++
			}
			jump(k)
		case isDigit(c) || (c == '.' && isDigit(next) && (i == 0 || !isIdentChar(src[i-1]) && strings.IndexByte(".)]", src[i-1]) < 0)):
			l, end := scanNumber(src, i, sx)
			if l.mutable {
				l.line = line
				prefix := src[lineStart:i]
				l.name = assignedName(prefix)
				l.subscript = isSubscript(prefix, src[end:])
				out = append(out, l)
			}
			jump(end)
		default:
			jump(i + 1)
		}
	}
	// Number literals that share a name on one line: w = [0.1, 0.2].
	count := map[[2]any]int{}
	for _, l := range out {
		count[[2]any{l.line, l.name}]++
	}
	seen := map[[2]any]int{}
	for k := range out {
		key := [2]any{out[k].line, out[k].name}
		if count[key] > 1 {
			seen[key]++
			out[k].ordinal = seen[key]
		}
	}
	return out
}

// scanNumber reads the number starting at i; the literal is mutable when it
// is a plain decimal that parses.
func scanNumber(src string, i int, sx syntax) (literal, int) {
	n := len(src)
	if src[i] == '0' && i+1 < n && strings.IndexByte("xXoObB", src[i+1]) >= 0 {
		k := i + 2
		for k < n && (isIdentChar(src[k]) || src[k] == '.') {
			k++
		}
		return literal{}, k
	}
	digits := func(k int) int {
		for k < n && (isDigit(src[k]) || src[k] == '_' && k+1 < n && isDigit(src[k+1])) {
			k++
		}
		return k
	}
	isExp := func(k int) bool {
		if k >= n || (src[k] != 'e' && src[k] != 'E') {
			return false
		}
		if k+1 < n && isDigit(src[k+1]) {
			return true
		}
		return k+2 < n && (src[k+1] == '+' || src[k+1] == '-') && isDigit(src[k+2])
	}
	j := i
	isInt := true
	if src[j] == '.' {
		j, isInt = digits(j+1), false
	} else {
		j = digits(j)
		if j < n && src[j] == '.' && !(j+1 < n && src[j+1] == '.') && !(j+1 < n && isIdentStart(src[j+1]) && !isExp(j+1)) {
			j, isInt = digits(j+1), false
		}
	}
	if isExp(j) {
		j++
		if src[j] == '+' || src[j] == '-' {
			j++
		}
		j, isInt = digits(j), false
	}
	numEnd := j
	for j < n && isIdentChar(src[j]) {
		j++
	}
	suffix := src[numEnd:j]
	if suffix != "" && (!sx.suffixes || !validSuffix(suffix, isInt)) {
		return literal{}, j
	}
	text := src[i:numEnd]
	clean := strings.ReplaceAll(text, "_", "")
	l := literal{start: i, end: numEnd, text: text, suffix: suffix, isInt: isInt}
	if isInt {
		if len(clean) > 1 && clean[0] == '0' { // octal in C and Go, an error in Python
			return literal{}, j
		}
		v, err := strconv.ParseInt(clean, 10, 64)
		if err != nil || v > 1<<53 {
			return literal{}, j
		}
		l.value = float64(v)
	} else {
		v, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(v, 0) {
			return literal{}, j
		}
		l.value = v
	}
	l.mutable = true
	return l, j
}

// validSuffix accepts the type suffixes a mutation can keep.
func validSuffix(s string, isInt bool) bool {
	switch strings.ToLower(s) {
	case "f", "d", "f32", "f64":
		return true
	case "l", "u", "ul", "lu", "ll", "ull", "llu":
		return isInt
	}
	return false
}

// typeWords are words that may stand between a name and "=" in a declaration.
var typeWords = map[string]bool{
	"int": true, "float": true, "double": true, "long": true, "short": true, "char": true, "bool": true, "auto": true,
	"float32": true, "float64": true, "int8": true, "int16": true, "int32": true, "int64": true, "uint": true, "uint8": true,
	"uint16": true, "uint32": true, "uint64": true, "f32": true, "f64": true, "i32": true, "i64": true, "u32": true,
	"u64": true, "usize": true, "isize": true, "size_t": true, "number": true, "unsigned": true, "real": true,
}

// assignedName finds the name a literal is assigned to from the text before it
// on its line: "radius = ", "const n int = ", "f(x, scale=", "key: ",
// "#define N ".
func assignedName(prefix string) string {
	p := strings.TrimRight(prefix, " \t-+([{")
	if strings.HasSuffix(p, ":") && !strings.HasSuffix(p, "::") {
		k := strings.TrimSpace(p[:len(p)-1])
		if f := strings.Fields(k); len(f) > 0 {
			key := strings.Trim(f[len(f)-1], `"'{,`)
			if validName(key) {
				return key
			}
		}
	}
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != '=' {
			continue
		}
		if i+1 < len(prefix) && (prefix[i+1] == '=' || prefix[i+1] == '>') {
			continue
		}
		if i > 0 && strings.IndexByte("=!<>", prefix[i-1]) >= 0 {
			continue
		}
		j := i
		for j > 0 && strings.IndexByte(":+-*/%&|^@", prefix[j-1]) >= 0 {
			j--
		}
		lhs := prefix[:j]
		if k := strings.LastIndexAny(lhs, "(,;{"); k >= 0 {
			lhs = lhs[k+1:]
		}
		if !strings.Contains(lhs, "::") {
			// "beta: float" is an annotated name, "if x == 3: y" a statement.
			if before, after, ok := strings.Cut(lhs, ":"); ok {
				if f := strings.Fields(before); len(f) == 1 && validName(f[0]) {
					lhs = before
				} else {
					lhs = after
				}
			}
		}
		f := strings.Fields(lhs)
		for len(f) > 1 && typeWords[f[len(f)-1]] {
			f = f[:len(f)-1]
		}
		if len(f) == 0 {
			return ""
		}
		name := strings.TrimLeft(f[len(f)-1], "*&")
		if validName(name) {
			return name
		}
		return ""
	}
	if f := strings.Fields(prefix); len(f) == 2 && f[0] == "#define" && validName(f[1]) {
		return f[1]
	}
	return ""
}

// validName accepts identifiers, dotted ones and simple subscripts: radius,
// self.radius, cfg["lr"] is refused, weights[2] is fine.
func validName(s string) bool {
	if s == "" || len(s) > 64 || !isIdentStart(s[0]) || s[0] == '$' && len(s) == 1 {
		return false
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isIdentChar(c), c == '.' && depth == 0:
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		default:
			return false
		}
	}
	return depth == 0
}

// isSubscript reports a literal written alone between brackets after an
// expression: a[1], f(x)[0].
func isSubscript(before, after string) bool {
	b := strings.TrimRight(before, " \t")
	if !strings.HasSuffix(b, "[") || !strings.HasPrefix(strings.TrimLeft(after, " \t"), "]") {
		return false
	}
	b = strings.TrimRight(b[:len(b)-1], " \t")
	return b != "" && (isIdentChar(b[len(b)-1]) || b[len(b)-1] == ')' || b[len(b)-1] == ']')
}

var _ evolve.Researcher = OfflineResearcher{}
