package action

import (
	"fmt"
	"sort"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
)

// CandidateMarker is the hidden first line of a promoted candidate's pull
// request body.
func CandidateMarker(exp, id string) string {
	return "<!-- git-evolve:candidate:" + exp + ":" + id + " -->"
}

// Bounds of a pull request body.
const (
	maxMotivation   = 8000
	maxPRAnalysis   = 8000
	maxMetricRows   = 20
	maxLineageShown = 12
)

// PullRequestInput is what a promoted candidate's pull request shows.
type PullRequestInput struct {
	Exp       string
	ID        string             // the candidate (full id)
	Cands     []evolve.Candidate // the experiment's population (with the candidate)
	Direction evolve.Direction
	Links     Links
	Remote    string // remote named in the reproduction steps; "" = origin
}

// PullRequestText returns the title and the body of the pull request of a
// promoted candidate: its motivation, score and metrics against the
// baseline and the parent, lineage, analysis and lessons, and how to
// reproduce the evaluation. The body is shorter than MaxBody.
func PullRequestText(in PullRequestInput) (title, body string, err error) {
	byID := make(map[string]*evolve.Candidate, len(in.Cands))
	var base *evolve.Candidate
	for i := range in.Cands {
		c := &in.Cands[i]
		byID[c.ID] = c
		if c.Baseline && (base == nil || c.Time.Before(base.Time)) {
			base = c
		}
	}
	cand, ok := byID[in.ID]
	if !ok {
		return "", "", fmt.Errorf("candidate %s is not in experiment %s", in.ID[:min(8, len(in.ID))], in.Exp)
	}
	remote := in.Remote
	if remote == "" {
		remote = "origin"
	}
	title = oneLine(cand.DisplayTitle())
	if title == "" || title == "baseline" {
		title = fmt.Sprintf("evolve(%s): candidate %s", in.Exp, cand.Short())
	}
	title = cut(title, 200)
	parent := byID[cand.Parent]

	var b strings.Builder
	b.WriteString(CandidateMarker(in.Exp, cand.ID) + "\n")
	fmt.Fprintf(&b, "Candidate %s of the experiment `%s`, found by [git-evolve](https://github.com/git-evolve/git-evolve).\n\n",
		link(Row{Short: cand.Short(), URL: in.Links.Commit(cand.ID)}), code(in.Exp))

	if p := cand.Proposed; p != nil && strings.TrimSpace(p.Motivation) != "" {
		b.WriteString("### Motivation\n\n")
		b.WriteString(neutralise(cut(strings.TrimSpace(p.Motivation), maxMotivation)))
		b.WriteString("\n\n")
	}

	b.WriteString("### Score\n\n")
	cols := []*evolve.Candidate{cand}
	head := "| | this candidate |"
	sep := "|---|---:|"
	if parent != nil {
		cols = append(cols, parent)
		head += " parent " + link(Row{Short: parent.Short(), URL: in.Links.Commit(parent.ID)}) + " |"
		sep += "---:|"
	}
	if base != nil && base != cand && base != parent {
		cols = append(cols, base)
		head += " baseline " + link(Row{Short: base.Short(), URL: in.Links.Commit(base.ID)}) + " |"
		sep += "---:|"
	}
	b.WriteString(head + "\n" + sep + "\n")
	score, scored := cand.Score()
	b.WriteString("| **score** |")
	for i, c := range cols {
		s, ok := c.Score()
		switch {
		case !ok:
			b.WriteString(" _" + string(c.Status()) + "_ |")
		case i == 0:
			b.WriteString(" **" + fmtScore(&s) + "** |")
		case scored:
			fmt.Fprintf(&b, " %s (%s) |", fmtScore(&s), fmtDelta(score-s))
		default:
			b.WriteString(" " + fmtScore(&s) + " |")
		}
	}
	b.WriteString("\n")
	for _, k := range metricKeys(cols) {
		b.WriteString("| " + cell(cut(k, maxMetricName)) + " |")
		for _, c := range cols {
			v := "–"
			if c.Evaluated != nil {
				if x, ok := c.Evaluated.Metrics[k]; ok {
					v = cell(fmtMetric(x))
				}
			}
			b.WriteString(" " + v + " |")
		}
		b.WriteString("\n")
	}
	if scored && base != nil && base != cand {
		if bs, ok := base.Score(); ok {
			dir := in.Direction
			if dir == "" {
				dir = evolve.Maximize
			}
			better := "better"
			if !dir.Better(score, bs) {
				better = "not better"
			}
			fmt.Fprintf(&b, "\n%s than the baseline by %s (%s is better).\n", capitalise(better), fmtDelta(score-bs), directionWord(in.Direction))
		}
	}
	b.WriteString("\n")

	// Lineage, baseline first.
	var chain []*evolve.Candidate
	seen := map[string]bool{}
	for c := cand; c != nil && !seen[c.ID]; c = byID[c.Parent] {
		seen[c.ID] = true
		chain = append(chain, c)
	}
	if len(chain) > 1 {
		b.WriteString("### Lineage\n\n")
		var parts []string
		for i := len(chain) - 1; i >= 0; i-- {
			if len(chain) > maxLineageShown && i < len(chain)-1 && i >= maxLineageShown-1 {
				if i == maxLineageShown-1 {
					parts = append(parts, fmt.Sprintf("… %d more …", len(chain)-maxLineageShown))
				}
				continue
			}
			c := chain[i]
			s, _ := c.Score()
			label := link(Row{Short: c.Short(), URL: in.Links.Commit(c.ID)})
			if c.Baseline {
				label = "baseline " + label
			}
			sc := "–"
			if _, ok := c.Score(); ok {
				sc = fmtScore(&s)
			}
			parts = append(parts, fmt.Sprintf("%s (%s)", label, sc))
		}
		b.WriteString(strings.Join(parts, " → ") + "\n\n")
	}

	if a := cand.Analyzed; a != nil && (strings.TrimSpace(a.Analysis) != "" || len(a.Lessons) > 0) {
		b.WriteString("### Analysis\n\n")
		if t := strings.TrimSpace(a.Analysis); t != "" {
			b.WriteString(neutralise(cut(t, maxPRAnalysis)) + "\n\n")
		}
		if len(a.Lessons) > 0 {
			b.WriteString("**Lessons:**\n")
			for i, l := range a.Lessons {
				if i == maxLessons {
					break
				}
				b.WriteString("- " + neutralise(cut(oneLine(l), maxLesson)) + "\n")
			}
			b.WriteString("\n")
		}
	}

	fmt.Fprintf(&b, "### Reproduce the evaluation\n\n```sh\ngit evolve sync %s        # fetch the candidates and their notes\ngit evolve eval -e %s %s\ngit evolve show %s\n```\n",
		remote, in.Exp, cand.Short(), cand.Short())
	body = b.String()
	if len(body) > MaxBody-1 {
		note := "\n\n_(cut to fit GitHub's size limit)_\n"
		body = cutBytes(body, MaxBody-1-len(note)) + note
	}
	return title, body, nil
}

// metricKeys lists the numeric metrics of the given candidates, sorted.
func metricKeys(cs []*evolve.Candidate) []string {
	set := map[string]bool{}
	for _, c := range cs {
		if c.Evaluated == nil {
			continue
		}
		for k, v := range c.Evaluated.Metrics {
			if _, ok := number(v); ok {
				set[k] = true
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[:min(len(keys), maxMetricRows)]
}

func directionWord(d evolve.Direction) string {
	if d == evolve.Minimize {
		return "lower"
	}
	return "higher"
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
