package action

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/git-evolve/git-evolve/evolve"
)

// MaxBody is GitHub's limit on the length of a comment or pull request body.
// Bodies built here are counted in bytes, which is never less than GitHub's
// count of characters, so staying under it in bytes is always safe.
const MaxBody = 65536

// Bounds of a report. They keep the Markdown of any experiment, however
// large, well under MaxBody; Markdown shrinks further if it must.
const (
	DefaultTop     = 10  // leaderboard rows by default
	MaxTop         = 100 // leaderboard rows at most
	maxMetricCols  = 3   // metric columns chosen automatically
	maxLineage     = 30  // lineage nodes kept (the baseline and the last ones)
	maxTitle       = 80  // runes of a title in the table
	maxMetricName  = 24  // runes of a metric column header
	maxMetricValue = 16  // runes of a metric value
	maxAnalysis    = 6000
	maxLessons     = 5
	maxLesson      = 300
	maxNotes       = 10
	maxNote        = 1000
)

// Marker is the hidden first line of the leaderboard comment of exp; the
// comment is found again by it.
func Marker(exp string) string {
	return "<!-- git-evolve:leaderboard:" + exp + " -->"
}

// Links makes commit links on a GitHub server. The zero value makes none.
type Links struct {
	ServerURL  string // e.g. https://github.com (GITHUB_SERVER_URL)
	Repository string // owner/name (GITHUB_REPOSITORY)
}

// Commit is the web address of commit sha, or "" when the links are unset.
func (l Links) Commit(sha string) string {
	if l.ServerURL == "" || l.Repository == "" || sha == "" {
		return ""
	}
	return strings.TrimRight(l.ServerURL, "/") + "/" + l.Repository + "/commit/" + sha
}

// ReportOptions shapes a report.
type ReportOptions struct {
	Direction evolve.Direction // "" = maximize
	Top       int              // leaderboard rows; 0 = DefaultTop, capped at MaxTop
	Metrics   []string         // metric columns; nil = up to 3 numeric metrics of the best candidate
	Links     Links
	Notes     []string // Markdown paragraphs shown under the heading (e.g. this pull request's candidate)
}

// Counts sums up the statuses of an experiment's candidates.
type Counts struct {
	Candidates int `json:"candidates"`
	Evaluated  int `json:"evaluated"` // status ok
	Failed     int `json:"failed"`    // failed, timeout or invalid
	Pending    int `json:"pending"`
}

// Row is one candidate in a report.
type Row struct {
	Rank     int            `json:"rank,omitempty"`
	ID       string         `json:"id"`
	Short    string         `json:"short"`
	URL      string         `json:"url,omitempty"`
	Status   evolve.Status  `json:"status"`
	Score    *float64       `json:"score"`
	Delta    *float64       `json:"delta_vs_baseline,omitempty"`
	Title    string         `json:"title"`
	Parent   string         `json:"parent,omitempty"`
	Baseline bool           `json:"baseline,omitempty"`
	Metrics  map[string]any `json:"metrics,omitempty"`
}

// Report is the leaderboard of one experiment: what the sticky comment, the
// job summary and `git evolve report` show.
type Report struct {
	Experiment    string           `json:"experiment"`
	Direction     evolve.Direction `json:"direction"`
	Counts        Counts           `json:"counts"`
	Tokens        evolve.Tokens    `json:"tokens"`
	CostUSD       float64          `json:"cost_usd"`
	Baseline      *Row             `json:"baseline,omitempty"`
	Best          *Row             `json:"best,omitempty"`
	MetricColumns []string         `json:"metric_columns"`
	Top           []Row            `json:"top"`
	// Lineage runs from the baseline to the best candidate. Long lineages
	// keep the baseline and the last nodes; LineageLength is the full count.
	Lineage       []Row    `json:"lineage"`
	LineageLength int      `json:"lineage_length"`
	Analysis      string   `json:"analysis,omitempty"` // the best candidate's, cut to a few KiB
	Lessons       []string `json:"lessons,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

// BuildReport ranks cands (which it does not modify) and summarises them.
func BuildReport(exp string, cands []evolve.Candidate, opt ReportOptions) Report {
	dir := opt.Direction
	if dir == "" {
		dir = evolve.Maximize
	}
	top := opt.Top
	if top <= 0 {
		top = DefaultTop
	}
	top = min(top, MaxTop)
	r := Report{Experiment: exp, Direction: dir, MetricColumns: []string{}, Top: []Row{}, Lineage: []Row{}}
	for _, n := range opt.Notes {
		if len(r.Notes) == maxNotes {
			break
		}
		r.Notes = append(r.Notes, cut(strings.TrimSpace(n), maxNote))
	}

	ranked := append([]evolve.Candidate(nil), cands...)
	evolve.Rank(ranked, dir)
	byID := make(map[string]*evolve.Candidate, len(ranked))
	var base *evolve.Candidate
	for i := range ranked {
		c := &ranked[i]
		byID[c.ID] = c
		if c.Baseline && (base == nil || c.Time.Before(base.Time)) {
			base = c
		}
		r.Counts.Candidates++
		switch c.Status() {
		case evolve.StatusOK:
			r.Counts.Evaluated++
		case evolve.StatusPending:
			r.Counts.Pending++
		default:
			r.Counts.Failed++
		}
		t, usd := c.Tokens()
		r.Tokens = r.Tokens.Add(t)
		r.CostUSD += usd
	}
	var baseScore *float64
	if base != nil {
		if s, ok := base.Score(); ok {
			baseScore = &s
		}
	}
	row := func(c *evolve.Candidate, rank int, metrics bool) Row {
		w := Row{Rank: rank, ID: c.ID, Short: c.Short(), URL: opt.Links.Commit(c.ID), Status: c.Status(),
			Title: cut(c.DisplayTitle(), maxTitle), Parent: c.Parent, Baseline: c.Baseline}
		if s, ok := c.Score(); ok {
			w.Score = &s
			if baseScore != nil {
				d := s - *baseScore
				w.Delta = &d
			}
		}
		if metrics && c.Evaluated != nil {
			w.Metrics = c.Evaluated.Metrics
		}
		return w
	}
	if base != nil {
		b := row(base, 0, false)
		r.Baseline = &b
	}
	for i := 0; i < len(ranked) && i < top; i++ {
		r.Top = append(r.Top, row(&ranked[i], i+1, false))
	}
	best, ok := evolve.Best(ranked, dir)
	if !ok {
		return r
	}
	bc := byID[best.ID]
	b := row(bc, 1, true)
	r.Best = &b

	r.MetricColumns = chooseMetrics(opt.Metrics, bc)
	for i := range r.Top {
		c := byID[r.Top[i].ID]
		if c.Evaluated != nil && len(c.Evaluated.Metrics) > 0 {
			m := map[string]any{}
			for _, k := range r.MetricColumns {
				if v, ok := c.Evaluated.Metrics[k]; ok {
					m[k] = v
				}
			}
			if len(m) > 0 {
				r.Top[i].Metrics = m
			}
		}
	}

	// Lineage: walk parents from the best to the root, guarding against cycles.
	var chain []*evolve.Candidate
	seen := map[string]bool{}
	for c := bc; c != nil && !seen[c.ID]; c = byID[c.Parent] {
		seen[c.ID] = true
		chain = append(chain, c)
	}
	r.LineageLength = len(chain)
	keep := chain
	if len(chain) > maxLineage {
		keep = append(append([]*evolve.Candidate(nil), chain[:maxLineage-1]...), chain[len(chain)-1])
	}
	for i := len(keep) - 1; i >= 0; i-- {
		r.Lineage = append(r.Lineage, row(keep[i], 0, false))
	}

	if a := bc.Analyzed; a != nil {
		r.Analysis = cut(strings.TrimSpace(a.Analysis), maxAnalysis)
		for _, l := range a.Lessons {
			if len(r.Lessons) == maxLessons {
				break
			}
			r.Lessons = append(r.Lessons, cut(oneLine(l), maxLesson))
		}
	}
	return r
}

// chooseMetrics returns the requested columns, or up to three numeric
// metrics of the best candidate in name order.
func chooseMetrics(want []string, best *evolve.Candidate) []string {
	if want != nil {
		out := make([]string, 0, len(want))
		for _, w := range want {
			if w = strings.TrimSpace(w); w != "" && len(out) < 10 {
				out = append(out, w)
			}
		}
		return out
	}
	if best.Evaluated == nil {
		return []string{}
	}
	keys := make([]string, 0, len(best.Evaluated.Metrics))
	for k, v := range best.Evaluated.Metrics {
		if _, ok := number(v); ok && k != "score" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys[:min(len(keys), maxMetricCols)]
}

// JSON encodes the report, indented.
func (r Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// markdownShape is how much of a report Markdown renders.
type markdownShape struct {
	top, lineage, analysis, lessons, notes int
}

// Markdown renders the report as the body of the sticky comment: the hidden
// marker, the top of the leaderboard, counts, tokens and cost, the best
// lineage as a Mermaid graph and the best analysis in a collapsible block.
// The result is always shorter than MaxBody bytes: when it would not be,
// the analysis, then rows, then the lineage are cut, and a note says so.
func (r Report) Markdown() string {
	return r.markdown(MaxBody - 1)
}

func (r Report) markdown(limit int) string {
	shapes := []markdownShape{
		{len(r.Top), len(r.Lineage), maxAnalysis, maxLessons, maxNotes},
		{len(r.Top), len(r.Lineage), 2000, 3, 3},
		{min(len(r.Top), 10), min(len(r.Lineage), 12), 1000, 1, 1},
		{min(len(r.Top), 3), min(len(r.Lineage), 4), 0, 0, 1},
	}
	for _, s := range shapes {
		if out := r.render(s); len(out) <= limit {
			return out
		}
	}
	out := r.render(markdownShape{top: min(len(r.Top), 1), lineage: min(len(r.Lineage), 2)})
	if len(out) > limit {
		note := "\n\n_(cut to fit GitHub's size limit)_\n"
		out = cutBytes(out, limit-len(note)) + note
	}
	return out
}

func (r Report) render(s markdownShape) string {
	var b strings.Builder
	b.WriteString(Marker(r.Experiment))
	fmt.Fprintf(&b, "\n### git-evolve leaderboard: `%s`\n\n", code(r.Experiment))
	for i, n := range r.Notes {
		if i == s.notes {
			break
		}
		b.WriteString(n)
		b.WriteString("\n\n")
	}
	if r.Best != nil {
		fmt.Fprintf(&b, "**Best:** %s score **%s**", link(*r.Best), fmtScore(r.Best.Score))
		if r.Best.Delta != nil && r.Baseline != nil && r.Baseline.Score != nil && !r.Best.Baseline {
			fmt.Fprintf(&b, " (%s vs baseline %s)", fmtDelta(*r.Best.Delta), fmtScore(r.Baseline.Score))
		}
		if t := cell(r.Best.Title); t != "" {
			b.WriteString(" — " + t)
		}
		b.WriteString("\n\n")
	} else if r.Counts.Candidates > 0 {
		b.WriteString("_No candidate has been evaluated successfully yet._\n\n")
	} else {
		fmt.Fprintf(&b, "_No candidates yet: run `git evolve step -e %s`._\n\n", code(r.Experiment))
	}

	rows := r.Top[:s.top]
	if len(rows) > 0 {
		b.WriteString("| # | candidate | score | Δ baseline |")
		for _, m := range r.MetricColumns {
			b.WriteString(" " + cell(cut(m, maxMetricName)) + " |")
		}
		b.WriteString(" title |\n|---:|---|---:|---:|")
		for range r.MetricColumns {
			b.WriteString("---:|")
		}
		b.WriteString("---|\n")
		for _, w := range rows {
			score := fmtScore(w.Score)
			if w.Score == nil {
				score = "_" + string(w.Status) + "_"
			}
			delta := "–"
			if w.Delta != nil && !w.Baseline {
				delta = fmtDelta(*w.Delta)
			}
			title := cell(w.Title)
			if w.Baseline {
				title = "_(baseline)_ " + title
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s |", w.Rank, link(w), score, delta)
			for _, m := range r.MetricColumns {
				v := "–"
				if x, ok := w.Metrics[m]; ok {
					v = cell(fmtMetric(x))
				}
				b.WriteString(" " + v + " |")
			}
			b.WriteString(" " + title + " |\n")
		}
		if r.Counts.Candidates > len(rows) {
			fmt.Fprintf(&b, "\n_Top %d of %d candidates; all of them: `git evolve log -e %s --all`._\n", len(rows), r.Counts.Candidates, code(r.Experiment))
		}
		b.WriteString("\n")
	}

	fmt.Fprintf(&b, "**%d** candidates: **%d** evaluated, **%d** failed, **%d** pending · tokens %s · cost %s\n",
		r.Counts.Candidates, r.Counts.Evaluated, r.Counts.Failed, r.Counts.Pending, fmtInt(r.Tokens.Total()), fmtUSD(r.CostUSD))

	if n := s.lineage; n > 0 && len(r.Lineage) > 1 {
		nodes := r.Lineage
		if n < len(nodes) {
			// Keep the baseline and the n-1 nodes next to the best.
			nodes = append(append([]Row(nil), nodes[0]), nodes[len(nodes)-(n-1):]...)
		}
		gens := "generations"
		if r.LineageLength == 2 {
			gens = "generation"
		}
		fmt.Fprintf(&b, "\n**Lineage of the best** (%d %s from the baseline):\n\n```mermaid\ngraph TD\n", r.LineageLength-1, gens)
		for i, w := range nodes {
			label := w.Short
			if w.Baseline {
				label = "baseline " + label
			}
			label += " · " + fmtScore(w.Score)
			if t := cut(w.Title, 40); t != "" && !w.Baseline {
				label += "<br/>" + mermaidText(t)
			}
			fmt.Fprintf(&b, "  n%d[\"%s\"]\n", i, label)
		}
		for i := 1; i < len(nodes); i++ {
			if i == 1 && r.LineageLength > len(nodes) {
				fmt.Fprintf(&b, "  n0 -. %d more .-> n1\n", r.LineageLength-len(nodes))
				continue
			}
			fmt.Fprintf(&b, "  n%d --> n%d\n", i-1, i)
		}
		b.WriteString("```\n")
	}

	if r.Best != nil && (s.analysis > 0 && r.Analysis != "" || s.lessons > 0 && len(r.Lessons) > 0) {
		fmt.Fprintf(&b, "\n<details><summary>Analysis of the best candidate, %s</summary>\n\n", r.Best.Short)
		if s.analysis > 0 && r.Analysis != "" {
			text := r.Analysis
			if len(text) > s.analysis {
				text = cutBytes(text, s.analysis) + "\n\n_(analysis cut; the whole of it: `git evolve show " + r.Best.Short + "`)_"
			}
			b.WriteString(neutralise(text))
			b.WriteString("\n")
		}
		if n := min(s.lessons, len(r.Lessons)); n > 0 {
			b.WriteString("\n**Lessons:**\n")
			for _, l := range r.Lessons[:n] {
				b.WriteString("- " + neutralise(l) + "\n")
			}
		}
		b.WriteString("\n</details>\n")
	}
	return b.String()
}

// link is the short id of a row, linked to its commit when possible.
func link(w Row) string {
	if w.URL == "" {
		return "`" + w.Short + "`"
	}
	return "[`" + w.Short + "`](" + w.URL + ")"
}

// cell makes text safe inside a Markdown table cell on one line.
func cell(s string) string {
	s = oneLine(s)
	s = strings.NewReplacer("|", `\|`, "<", "&lt;", "@", "@\u200b").Replace(s)
	return s
}

// code makes text safe inside a `code span`.
func code(s string) string { return strings.ReplaceAll(oneLine(s), "`", "'") }

// mermaidText makes text safe inside a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "`", "'", "[", "(", "]", ")").Replace(oneLine(s))
}

// neutralise keeps free text from opening HTML tags (which could close the
// <details> block) or mentioning people.
func neutralise(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '<' && i+1 < len(s) && (isLetter(s[i+1]) || s[i+1] == '/' || s[i+1] == '!'):
			b.WriteString("&lt;")
		case c == '@' && i+1 < len(s) && (isLetter(s[i+1]) || s[i+1] >= '0' && s[i+1] <= '9'):
			b.WriteString("@\u200b")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cut shortens s to at most n runes, ending with "…" when cut.
func cut(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n-1; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// cutBytes shortens s to at most n bytes without splitting a UTF-8 sequence.
func cutBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func fmtScore(s *float64) string {
	if s == nil || math.IsNaN(*s) || math.IsInf(*s, 0) {
		return "–"
	}
	if *s == 0 {
		return "0" // not "-0"
	}
	return strconv.FormatFloat(*s, 'g', 6, 64)
}

func fmtDelta(d float64) string {
	if d == 0 {
		return "±0"
	}
	return fmt.Sprintf("%+.4g", d)
}

func fmtUSD(v float64) string {
	if v > 0 && v < 0.01 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

// fmtInt writes n with thousands separators.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// number converts a JSON metric value to a float when it is numeric.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func fmtMetric(v any) string {
	if f, ok := number(v); ok {
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	switch x := v.(type) {
	case string:
		return cut(x, maxMetricValue)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "–"
	}
	b, _ := json.Marshal(v)
	return cut(string(b), maxMetricValue)
}
