package agents

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/git-evolve/git-evolve/evolve"
)

// MaxLessons is the most lessons an analysis keeps.
const MaxLessons = 5

// maxDiffChars bounds the diff shown to the Analyzer.
const maxDiffChars = 20000

// AnalysisPrompt is the data of analyzer_system.tmpl and analyzer.tmpl.
type AnalysisPrompt struct {
	Exp             string
	Problem         string
	Direction       string // "maximize" or "minimize"
	Candidate       NodeView
	Parent          *NodeView // nil for the baseline
	Best            *NodeView // nil when nothing succeeded yet
	BestIsCandidate bool
	Diff            string // unified diff of the editable files, parent -> candidate
	Delta           string // score change from the parent, e.g. "+0.12 (better)"; "" when either has no score
}

// LLMAnalyzer explains an evaluated candidate with a chat model and distils
// up to MaxLessons transferable lessons.
type LLMAnalyzer struct {
	llm     *LLM
	prompts *prompts
}

// NewLLMAnalyzer builds an Analyzer on llm; promptDir (may be "" or missing)
// holds template overrides, as for NewLLMResearcher.
func NewLLMAnalyzer(llm *LLM, promptDir string) (*LLMAnalyzer, error) {
	p, err := loadPrompts(promptDir)
	if err != nil {
		return nil, err
	}
	return &LLMAnalyzer{llm: llm, prompts: p}, nil
}

// Prompt renders the system and user messages for in.
func (a *LLMAnalyzer) Prompt(in evolve.AnalysisInput) ([]Message, error) {
	data := AnalysisPrompt{Exp: in.Exp, Problem: strings.TrimSpace(in.Problem), Direction: string(direction(in.Direction)),
		Candidate: viewNode(in.Candidate, nil)}
	if in.Parent != nil {
		p := viewNode(*in.Parent, nil)
		data.Parent = &p
		data.Diff = DiffFiles(in.Parent.Files, in.Candidate.Files)
		if len(data.Diff) > maxDiffChars {
			data.Diff = data.Diff[:maxDiffChars] + fmt.Sprintf("\n… (diff cut at %d characters)\n", maxDiffChars)
		}
		data.Delta = scoreDelta(in.Candidate, *in.Parent, in.Direction)
	}
	if in.Best != nil {
		b := viewNode(*in.Best, nil)
		b.Files = nil
		data.Best = &b
		data.BestIsCandidate = in.Best.ID == in.Candidate.ID
	}
	system, err := a.prompts.render(PromptAnalyzerSystem, data)
	if err != nil {
		return nil, err
	}
	user, err := a.prompts.render(PromptAnalyzer, data)
	if err != nil {
		return nil, err
	}
	return []Message{{Role: RoleSystem, Content: system}, {Role: RoleUser, Content: user}}, nil
}

// Analyze asks the model to compare the candidate with its parent and the
// best so far. The reply is read with ParseAnalysis. A failed call or an
// empty reply is an error; the Analysis returned with it still holds the
// tokens and cost spent.
func (a *LLMAnalyzer) Analyze(ctx context.Context, in evolve.AnalysisInput) (evolve.Analysis, error) {
	an := evolve.Analysis{Model: a.llm.Model()}
	msgs, err := a.Prompt(in)
	if err != nil {
		return an, err
	}
	reply, usage, _, err := a.llm.Chat(ctx, msgs)
	an.Tokens = usage
	an.CostUSD = a.llm.Cost(a.llm.Model(), usage)
	if err != nil {
		return an, fmt.Errorf("analyzer: %w", err)
	}
	if strings.TrimSpace(reply) == "" {
		return an, errors.New("analyzer: the reply was empty")
	}
	an.Text, an.Lessons = ParseAnalysis(reply)
	return an, nil
}

var (
	sectionHeader = regexp.MustCompile(`(?i)^\s*(?:#{1,6}\s*)?[*_]*\s*(analysis|lessons?(?: learned)?)\s*[*_]*\s*(:?)\s*[*_]*\s*(.*)$`)
	bulletLine    = regexp.MustCompile(`^\s*(?:[-*•+]|\d{1,2}[.)])\s+(.*)$`)
	fenceOnly     = regexp.MustCompile("^\\s*(```+|~~~+)\\s*\\w*\\s*$")
)

// ParseAnalysis reads a reply written as
//
//	ANALYSIS:
//	a paragraph
//
//	LESSONS:
//	- lesson
//
// Markdown decoration ("## Analysis", "**Lessons:**") and numbered lists are
// tolerated; a lesson's indented continuation lines are joined to it. Lessons
// are de-duplicated, at most 300 characters each and at most MaxLessons.
// Without the markers the whole reply is the text and there are no lessons.
func ParseAnalysis(reply string) (text string, lessons []string) {
	lines := replyLines(reply)
	analysisAt, lessonsAt := -1, -1
	var analysisRest, lessonsRest string
	for i, l := range lines {
		m := sectionHeader.FindStringSubmatch(l)
		if m == nil || (m[2] == "" && strings.TrimSpace(m[3]) != "") {
			continue // "Analysis of the change shows…" is prose, not a header
		}
		if strings.EqualFold(m[1], "analysis") {
			if analysisAt < 0 {
				analysisAt, analysisRest = i, m[3]
			}
		} else if lessonsAt < 0 {
			lessonsAt, lessonsRest = i, m[3]
		}
	}
	if analysisAt < 0 && lessonsAt < 0 {
		return cleanText(lines), nil
	}
	end := len(lines)
	if lessonsAt >= 0 {
		end = lessonsAt
	}
	switch {
	case analysisAt >= 0 && analysisAt < end:
		text = cleanText(append([]string{analysisRest}, lines[analysisAt+1:end]...))
	case analysisAt < 0:
		text = cleanText(lines[:lessonsAt])
	}
	if lessonsAt >= 0 {
		stop := len(lines)
		if analysisAt > lessonsAt {
			stop = analysisAt
			text = cleanText(append([]string{analysisRest}, lines[analysisAt+1:]...))
		}
		lessons = parseLessons(append([]string{lessonsRest}, lines[lessonsAt+1:stop]...))
	}
	if text == "" {
		text = cleanText(lines)
	}
	return text, lessons
}

func cleanText(lines []string) string {
	var keep []string
	for _, l := range lines {
		if !fenceOnly.MatchString(l) {
			keep = append(keep, strings.TrimRight(l, " \t"))
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

func parseLessons(lines []string) []string {
	var raw []string
	bullets := false
	for _, l := range lines {
		if bulletLine.MatchString(l) {
			bullets = true
			break
		}
	}
	for _, l := range lines {
		if fenceOnly.MatchString(l) || strings.TrimSpace(l) == "" {
			continue
		}
		if !bullets {
			raw = append(raw, l)
			continue
		}
		if m := bulletLine.FindStringSubmatch(l); m != nil {
			raw = append(raw, m[1])
		} else if len(raw) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			raw[len(raw)-1] += " " + strings.TrimSpace(l)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range raw {
		s := strings.Join(strings.Fields(strings.ReplaceAll(r, "**", "")), " ")
		if rs := []rune(s); len(rs) > 300 {
			s = string(rs[:299]) + "…"
		}
		key := strings.ToLower(s)
		if s == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, s)
		if len(out) == MaxLessons {
			break
		}
	}
	return out
}

func scoreDelta(cand, parent evolve.Node, d evolve.Direction) string {
	c, ok1 := cand.Score()
	p, ok2 := parent.Score()
	if !ok1 || !ok2 {
		return ""
	}
	verdict := "unchanged"
	switch {
	case direction(d).Better(c, p):
		verdict = "better"
	case direction(d).Better(p, c):
		verdict = "worse"
	}
	sign := "+"
	if c-p < 0 {
		sign = ""
	}
	return fmt.Sprintf("%s%s (%s)", sign, formatScore(c-p), verdict)
}

// DiffFiles is a unified diff (3 lines of context) from the files of old to
// those of new, file by file in path order, with git's a/ and b/ prefixes; a
// file missing on one side is diffed against /dev/null. Identical files give
// "".
func DiffFiles(old, new map[string]string) string {
	paths := map[string]bool{}
	for p := range old {
		paths[p] = true
	}
	for p := range new {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, p := range sorted {
		o, inOld := old[p]
		n, inNew := new[p]
		if inOld && inNew && o == n {
			continue
		}
		from, to := "a/"+p, "b/"+p
		if !inOld {
			from = "/dev/null"
		}
		if !inNew {
			to = "/dev/null"
		}
		b.WriteString(unifiedDiff(from, to, o, n))
	}
	return b.String()
}

type diffLine struct {
	op   byte // ' ', '-', '+'
	text string
	eol  bool // the line ends with a newline
}

// lineDiff is a line-level diff of a and b.
func lineDiff(a, b string) []diffLine {
	dmp := diffmatchpatch.New()
	ra, rb, table := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), table)
	var out []diffLine
	for _, d := range diffs {
		op := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = '-'
		case diffmatchpatch.DiffInsert:
			op = '+'
		}
		text := d.Text
		for text != "" {
			line, rest, found := strings.Cut(text, "\n")
			out = append(out, diffLine{op: op, text: line, eol: found})
			text = rest
		}
	}
	return out
}

// unifiedDiff formats the diff of a and b as `diff -u` does.
func unifiedDiff(from, to, a, b string) string {
	lines := lineDiff(a, b)
	const contextLines = 3
	// oldAt[i] and newAt[i] count the old and new lines before lines[i].
	oldAt, newAt := make([]int, len(lines)+1), make([]int, len(lines)+1)
	for i, l := range lines {
		oldAt[i+1], newAt[i+1] = oldAt[i], newAt[i]
		if l.op != '+' {
			oldAt[i+1]++
		}
		if l.op != '-' {
			newAt[i+1]++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	for i := 0; i < len(lines); {
		for i < len(lines) && lines[i].op == ' ' {
			i++
		}
		if i == len(lines) {
			break
		}
		last := i
		for j := i; j < len(lines); j++ {
			if lines[j].op != ' ' {
				if j-last-1 > 2*contextLines {
					break
				}
				last = j
			}
		}
		start, end := max(0, i-contextLines), min(len(lines), last+contextLines+1)
		oldN, newN := oldAt[end]-oldAt[start], newAt[end]-newAt[start]
		oldS, newS := oldAt[start]+1, newAt[start]+1
		if oldN == 0 {
			oldS--
		}
		if newN == 0 {
			newS--
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(oldS, oldN), hunkRange(newS, newN))
		for _, l := range lines[start:end] {
			out.WriteByte(l.op)
			out.WriteString(l.text)
			out.WriteByte('\n')
			if !l.eol {
				out.WriteString("\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

var _ evolve.Analyzer = (*LLMAnalyzer)(nil)
