package agents

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
)

// RuleAnalyzer is the Analyzer of the offline mode: it needs no model. It
// diffs the numeric literals of the candidate's editable files against its
// parent's, relates them to the score delta ("raising radius from 0.1 to 0.12
// improved the score by 0.03"), summarises a failed evaluation from its
// reason, feedback and stderr, compares with the best so far, lists the
// metrics that moved, and draws at most 5 short lessons. The zero value is
// ready to use; the result depends only on the input.
type RuleAnalyzer struct{}

// maxLessons is the number of lessons an analysis may hold (evolve.Analysis).
const maxLessons = 5

// litDiff is one literal whose value differs between parent and candidate.
type litDiff struct {
	file     string
	old, new literal
}

// codeDiff is what changed between a parent's files and a candidate's.
type codeDiff struct {
	lits           []litDiff
	files          []string       // files with changes beyond literals, sorted
	added, removed map[string]int // lines changed beyond literals, per file
}

func (d codeDiff) otherLines() int {
	n := 0
	for _, f := range d.files {
		n += d.added[f] + d.removed[f]
	}
	return n
}

// Analyze explains the candidate of in. The error is only for a cancelled context.
func (RuleAnalyzer) Analyze(ctx context.Context, in evolve.AnalysisInput) (evolve.Analysis, error) {
	if err := ctx.Err(); err != nil {
		return evolve.Analysis{}, fmt.Errorf("rule analyzer: %w", err)
	}
	dir := in.Direction
	if dir == "" {
		dir = evolve.Maximize
	}
	cand := in.Candidate
	score, scored := cand.Score()
	var diff codeDiff
	if in.Parent != nil {
		diff = diffCode(in.Parent.Files, cand.Files)
	}
	what := describeDiff(diff)

	var text []string
	var lessons []string
	status := cand.Status()
	switch {
	case status == evolve.StatusPending:
		text = append(text, "The candidate has not been evaluated yet.")
	case !scored:
		text = append(text, failureSentence(what, cand)...)
		lessons = append(lessons, failureLessons(diff, cand)...)
	case in.Parent == nil:
		text = append(text, fmt.Sprintf("Baseline: the starting program scores %s.", fmtScore(score)))
	default:
		ps, pok := in.Parent.Score()
		if !pok {
			s := fmt.Sprintf("The candidate scores %s; its parent %s has no score to compare with.", fmtScore(score), in.Parent.Short())
			if what != "" {
				s = fmt.Sprintf("%s gives a score of %s; the parent %s has no score to compare with.", upperFirst(what), fmtScore(score), in.Parent.Short())
			}
			text = append(text, s)
			break
		}
		d := score - ps
		effect := "left the score unchanged"
		switch {
		case dir.Better(score, ps):
			effect = "improved the score by " + fmtAbs(d)
		case dir.Better(ps, score):
			effect = "worsened the score by " + fmtAbs(d)
		}
		if what == "" {
			text = append(text, fmt.Sprintf("The editable code is the same as the parent's; the score went from %s to %s.", fmtScore(ps), fmtScore(score)))
		} else {
			text = append(text, fmt.Sprintf("%s %s (%s -> %s).", upperFirst(what), effect, fmtScore(ps), fmtScore(score)))
		}
		lessons = append(lessons, scoreLessons(diff, d, dir)...)
	}
	if s := bestSentence(in, dir); s != "" {
		text = append(text, s)
	}
	if in.Parent != nil {
		if s := metricsSentence(in.Parent.Record, cand.Record); s != "" {
			text = append(text, s)
		}
	}
	if len(lessons) > maxLessons {
		lessons = lessons[:maxLessons]
	}
	return evolve.Analysis{Text: strings.Join(text, " "), Lessons: lessons, Model: "rules"}, nil
}

// diffCode compares the files of a parent and a candidate, file by file in
// sorted order.
func diffCode(old, nw map[string]string) codeDiff {
	d := codeDiff{added: map[string]int{}, removed: map[string]int{}}
	names := map[string]bool{}
	for f := range old {
		names[f] = true
	}
	for f := range nw {
		names[f] = true
	}
	sorted := make([]string, 0, len(names))
	for f := range names {
		sorted = append(sorted, f)
	}
	sort.Strings(sorted)
	for _, f := range sorted {
		if old[f] == nw[f] {
			continue
		}
		lits, added, removed := diffFile(f, old[f], nw[f])
		d.lits = append(d.lits, lits...)
		if added+removed > 0 {
			d.files = append(d.files, f)
			d.added[f], d.removed[f] = added, removed
		}
	}
	return d
}

// codeLine is one line of a file with its literals and its skeleton: the line
// with every literal replaced by a placeholder.
type codeLine struct {
	text, skeleton string
	lits           []literal
}

func codeLinesOf(file, src string) []codeLine {
	var lines []codeLine
	var starts []int
	for off := 0; off < len(src); {
		k := strings.IndexByte(src[off:], '\n')
		end := len(src)
		if k >= 0 {
			end = off + k
		}
		lines = append(lines, codeLine{text: strings.TrimSuffix(src[off:end], "\r")})
		starts = append(starts, off)
		off = end + 1
	}
	for _, l := range scanLiterals(file, src) {
		if i := l.line - 1; i < len(lines) {
			lines[i].lits = append(lines[i].lits, l)
		}
	}
	for i := range lines {
		sk := lines[i].text
		for k := len(lines[i].lits) - 1; k >= 0; k-- {
			l := lines[i].lits[k]
			s, e := l.start-starts[i], l.end-starts[i]
			if s >= 0 && e <= len(sk) {
				sk = sk[:s] + "\x00" + sk[e:]
			}
		}
		lines[i].skeleton = sk
	}
	return lines
}

// diffFile aligns the lines of two versions of a file on their skeletons
// (a longest common subsequence after the common head and tail), reports the
// literals of aligned lines that changed value, and counts the other lines.
func diffFile(file, old, nw string) (lits []litDiff, added, removed int) {
	ol, nl := codeLinesOf(file, old), codeLinesOf(file, nw)
	a := 0
	for a < len(ol) && a < len(nl) && ol[a].text == nl[a].text {
		a++
	}
	b := 0
	for b < len(ol)-a && b < len(nl)-a && ol[len(ol)-1-b].text == nl[len(nl)-1-b].text {
		b++
	}
	om, nm := ol[a:len(ol)-b], nl[a:len(nl)-b]
	pairs := alignLines(om, nm)
	added, removed = len(nm)-len(pairs), len(om)-len(pairs)
	for _, p := range pairs {
		o, n := om[p[0]], nm[p[1]]
		for k := range n.lits {
			if k < len(o.lits) && o.lits[k].value != n.lits[k].value {
				lits = append(lits, litDiff{file: file, old: o.lits[k], new: n.lits[k]})
			}
		}
	}
	return lits, added, removed
}

// alignLines pairs lines with equal skeletons in order, maximising the number
// of pairs; above a size limit only equal-length runs are paired one to one.
func alignLines(o, n []codeLine) [][2]int {
	if len(o) == 0 || len(n) == 0 {
		return nil
	}
	if len(o)*len(n) > 4_000_000 {
		var pairs [][2]int
		if len(o) == len(n) {
			for i := range o {
				if o[i].skeleton == n[i].skeleton {
					pairs = append(pairs, [2]int{i, i})
				}
			}
		}
		return pairs
	}
	w := len(n) + 1
	t := make([]int32, (len(o)+1)*w)
	for i := len(o) - 1; i >= 0; i-- {
		for j := len(n) - 1; j >= 0; j-- {
			if o[i].skeleton == n[j].skeleton {
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			} else {
				t[i*w+j] = max(t[(i+1)*w+j], t[i*w+j+1])
			}
		}
	}
	var pairs [][2]int
	for i, j := 0, 0; i < len(o) && j < len(n); {
		switch {
		case o[i].skeleton == n[j].skeleton:
			pairs = append(pairs, [2]int{i, j})
			i, j = i+1, j+1
		case t[(i+1)*w+j] >= t[i*w+j+1]:
			i++
		default:
			j++
		}
	}
	return pairs
}

// change words a literal change: "raising radius from 0.1 to 0.12".
func (c litDiff) change() string {
	verb := "raising"
	if c.new.value < c.old.value {
		verb = "lowering"
	}
	return fmt.Sprintf("%s %s from %s to %s", verb, c.new.describe(c.file), c.old.text+c.old.suffix, c.new.text+c.new.suffix)
}

// describeDiff words everything that changed, "" when nothing did.
func describeDiff(d codeDiff) string {
	var parts []string
	const shown = 3
	for i, c := range d.lits {
		if i == shown {
			parts = append(parts, fmt.Sprintf("%d other literal changes", len(d.lits)-shown))
			break
		}
		parts = append(parts, c.change())
	}
	for _, f := range d.files {
		word := "line"
		if len(d.lits) > 0 {
			word = "other line"
		}
		parts = append(parts, fmt.Sprintf("changing %s of %s (+%d/-%d)", countOf(d.added[f]+d.removed[f], word), f, d.added[f], d.removed[f]))
	}
	return joinAnd(parts)
}

func countOf(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// scoreLessons draws lessons from an evaluated change: d is candidate minus
// parent score.
func scoreLessons(diff codeDiff, d float64, dir evolve.Direction) []string {
	improved, worse := dir.Better(d, 0), dir.Better(0, d)
	together := ""
	if others := len(diff.lits) + len(diff.files) - 1; others > 0 {
		together = fmt.Sprintf(" (with %s)", countOf(others, "other change"))
	}
	var out []string
	for _, c := range diff.lits {
		if len(out) == maxLessons-1 {
			break
		}
		name := c.new.describe(c.file)
		old, nw := c.old.text+c.old.suffix, c.new.text+c.new.suffix
		up := c.new.value > c.old.value
		var s string
		switch {
		case improved && up:
			s = fmt.Sprintf("increasing %s above %s (to %s) helped (%s)", name, old, nw, fmtDelta(d))
		case improved:
			s = fmt.Sprintf("decreasing %s below %s (to %s) helped (%s)", name, old, nw, fmtDelta(d))
		case worse && up:
			s = fmt.Sprintf("increasing %s from %s to %s hurt (%s)", name, old, nw, fmtDelta(d))
		case worse:
			s = fmt.Sprintf("decreasing %s from %s to %s hurt (%s)", name, old, nw, fmtDelta(d))
		default:
			s = fmt.Sprintf("changing %s from %s to %s made no difference", name, old, nw)
		}
		out = append(out, s+together)
	}
	for _, f := range diff.files {
		if len(out) == maxLessons {
			break
		}
		effect := "made no difference"
		switch {
		case improved:
			effect = "helped (" + fmtDelta(d) + ")"
		case worse:
			effect = "hurt (" + fmtDelta(d) + ")"
		}
		out = append(out, fmt.Sprintf("the code change in %s (+%d/-%d lines) %s%s", f, diff.added[f], diff.removed[f], effect, together))
	}
	return out
}

// failureSentence explains an evaluation that gave no score.
func failureSentence(what string, c evolve.Node) []string {
	ev := c.Evaluated
	verb := map[evolve.Status]string{
		evolve.StatusFailed:  "made the evaluation fail",
		evolve.StatusTimeout: "made the evaluation time out",
		evolve.StatusInvalid: "gave an invalid result",
	}[c.Status()]
	if verb == "" {
		verb = "gave no score (status " + string(c.Status()) + ")"
	}
	subject := "The candidate"
	if what != "" {
		subject = upperFirst(what)
	}
	s := subject + " " + verb
	if r := failureReason(ev); r != "" {
		s += ": " + r
	}
	out := []string{s + "."}
	if ev != nil {
		if e := errorLine(ev.StderrTail); e != "" && !strings.Contains(s, e) {
			out = append(out, fmt.Sprintf("Last error: %s.", strings.TrimRight(e, ".")))
		}
		if fb := squash(ev.Feedback, 300); fb != "" {
			out = append(out, fmt.Sprintf("Feedback: %s", fb))
		}
	}
	return out
}

func failureLessons(diff codeDiff, c evolve.Node) []string {
	why := failureReason(c.Evaluated)
	if c.Evaluated != nil {
		if e := errorLine(c.Evaluated.StderrTail); e != "" {
			why = e
		}
	}
	if why == "" {
		why = string(c.Status())
	}
	why = squash(why, 120)
	var out []string
	for _, l := range diff.lits {
		if len(out) == 3 {
			break
		}
		out = append(out, fmt.Sprintf("%s = %s (from %s) broke the evaluation: %s", l.new.describe(l.file), l.new.text+l.new.suffix, l.old.text+l.old.suffix, why))
	}
	for _, f := range diff.files {
		if len(out) == maxLessons {
			break
		}
		out = append(out, fmt.Sprintf("the code change in %s (+%d/-%d lines) broke the evaluation: %s", f, diff.added[f], diff.removed[f], why))
	}
	return out
}

func failureReason(ev *evolve.Event) string {
	if ev == nil {
		return ""
	}
	if r := squash(ev.Reason, 200); r != "" {
		return r
	}
	if ev.ExitCode != nil && *ev.ExitCode != 0 {
		return fmt.Sprintf("exit status %d", *ev.ExitCode)
	}
	if ev.Signal != "" {
		return "killed by " + ev.Signal
	}
	return ""
}

// errorLine picks the most telling line of a stderr tail: the last one that
// names an error, else the last non-blank one.
func errorLine(tail string) string {
	lines := strings.Split(strings.ReplaceAll(tail, "\r\n", "\n"), "\n")
	last := ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if last == "" {
			last = l
		}
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "exception") || strings.HasPrefix(low, "panic") || strings.Contains(low, "fatal") {
			return squash(l, 200)
		}
	}
	return squash(last, 200)
}

func squash(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "..."
	}
	return s
}

func bestSentence(in evolve.AnalysisInput, dir evolve.Direction) string {
	if in.Best == nil {
		return ""
	}
	bs, ok := in.Best.Score()
	if !ok {
		return ""
	}
	if in.Best.ID == in.Candidate.ID {
		return "It is the best so far."
	}
	s, ok := in.Candidate.Score()
	switch {
	case !ok:
		return fmt.Sprintf("The best so far scores %s (%s).", fmtScore(bs), in.Best.Short())
	case dir.Better(s, bs):
		return fmt.Sprintf("It beats the best so far (%s, %s) by %s.", fmtScore(bs), in.Best.Short(), fmtAbs(s-bs))
	case s == bs:
		return fmt.Sprintf("It ties with the best so far (%s).", in.Best.Short())
	}
	return fmt.Sprintf("The best so far scores %s (%s), %s better.", fmtScore(bs), in.Best.Short(), fmtAbs(s-bs))
}

// metricsSentence lists the numeric metrics that moved between parent and
// candidate, by name.
func metricsSentence(parent, cand evolve.Record) string {
	if parent.Evaluated == nil || cand.Evaluated == nil {
		return ""
	}
	pm, cm := parent.Evaluated.Metrics, cand.Evaluated.Metrics
	names := make([]string, 0, len(cm))
	for k := range cm {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		a, aok := metricValue(pm[k])
		b, bok := metricValue(cm[k])
		if !aok || !bok || a == b {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s -> %s", k, fmtScore(a), fmtScore(b)))
	}
	if len(parts) == 0 {
		return ""
	}
	const shown = 6
	if len(parts) > shown {
		parts = append(parts[:shown], fmt.Sprintf("%d more", len(parts)-shown))
	}
	return "Metrics: " + strings.Join(parts, ", ") + "."
}

func metricValue(v any) (float64, bool) { return evolve.MetricFloat(v) }

func fmtScore(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
func fmtAbs(f float64) string   { return strconv.FormatFloat(math.Abs(f), 'g', 4, 64) }

func fmtDelta(f float64) string {
	s := strconv.FormatFloat(f, 'g', 4, 64)
	if f > 0 {
		s = "+" + s
	}
	return s
}

var _ evolve.Analyzer = RuleAnalyzer{}
