package action

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/git-evolve/git-evolve/evolve"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func hexID(n int) string { return fmt.Sprintf("%08x%032x", n+1, n+1) }

// cand builds a candidate; score nil means the given status without score.
func cand(n, parent int, status evolve.Status, score *float64, title string) evolve.Candidate {
	c := evolve.Candidate{ID: hexID(n), Time: t0.Add(time.Duration(n) * time.Second), Baseline: parent < 0}
	if parent >= 0 {
		c.Parent = hexID(parent)
	}
	prop := evolve.Event{V: 1, Exp: "exp", Event: evolve.EventProposed, At: c.Time, Title: title,
		Tokens: &evolve.Tokens{Prompt: 100, Completion: 10}, CostUSD: 0.001}
	evs := []evolve.Event{prop}
	if status != evolve.StatusPending {
		evs = append(evs, evolve.Event{V: 1, Exp: "exp", Event: evolve.EventEvaluated, At: c.Time.Add(time.Millisecond), Status: status, Score: score,
			Metrics: map[string]any{"sum_radii": 1.5, "valid": true, "n_circles": float64(26), "b_note": "text"}})
	}
	c.Record = evolve.Fold(evs)
	return c
}

func f64(v float64) *float64 { return &v }

func smallExperiment() []evolve.Candidate {
	base := cand(0, -1, evolve.StatusOK, f64(1.0), "baseline")
	a := cand(1, 0, evolve.StatusOK, f64(1.5), "hexagonal start")
	b := cand(2, 1, evolve.StatusOK, f64(2.0), "push | circles <b>out</b> @alice")
	b.Record.Analyzed = &evolve.Event{Event: evolve.EventAnalyzed, Analysis: "Better by 0.5.\n</details><script>x</script> thanks @bob",
		Lessons: []string{"bigger corners help", "keep it valid"}}
	b.Record.Events = append(b.Record.Events, *b.Record.Analyzed)
	fail := cand(3, 1, evolve.StatusFailed, nil, "broken")
	pend := cand(4, 2, evolve.StatusPending, nil, "in flight")
	return []evolve.Candidate{pend, fail, b, a, base} // unsorted on purpose
}

func TestBuildReport(t *testing.T) {
	cs := smallExperiment()
	orig := append([]evolve.Candidate(nil), cs...)
	r := BuildReport("exp", cs, ReportOptions{Links: Links{ServerURL: "https://github.example/", Repository: "octo/demo"}})
	for i := range cs {
		if cs[i].ID != orig[i].ID {
			t.Fatal("BuildReport reordered its input")
		}
	}
	if r.Counts != (Counts{Candidates: 5, Evaluated: 3, Failed: 1, Pending: 1}) {
		t.Errorf("counts = %+v", r.Counts)
	}
	if r.Tokens.Total() != 550 || r.CostUSD < 0.0049 || r.CostUSD > 0.0051 {
		t.Errorf("tokens %d cost %v", r.Tokens.Total(), r.CostUSD)
	}
	if r.Best == nil || r.Best.ID != hexID(2) || *r.Best.Delta != 1.0 {
		t.Fatalf("best = %+v", r.Best)
	}
	if r.Best.URL != "https://github.example/octo/demo/commit/"+hexID(2) {
		t.Errorf("best URL = %q", r.Best.URL)
	}
	var order []string
	for _, w := range r.Top {
		order = append(order, w.Title)
	}
	if got := strings.Join(order, ","); got != "push | circles <b>out</b> @alice,hexagonal start,baseline,in flight,broken" {
		t.Errorf("ranking = %s", got)
	}
	if r.LineageLength != 3 || len(r.Lineage) != 3 || !r.Lineage[0].Baseline || r.Lineage[2].ID != hexID(2) {
		t.Errorf("lineage = %+v (length %d)", r.Lineage, r.LineageLength)
	}
	if strings.Join(r.MetricColumns, ",") != "n_circles,sum_radii" {
		t.Errorf("metric columns = %v (want numeric ones, sorted)", r.MetricColumns)
	}
	if len(r.Lessons) != 2 || !strings.HasPrefix(r.Analysis, "Better by 0.5.") {
		t.Errorf("analysis %q lessons %v", r.Analysis, r.Lessons)
	}

	md := r.Markdown()
	for _, want := range []string{
		Marker("exp") + "\n",
		"| 1 | [`00000003`](https://github.example/octo/demo/commit/" + hexID(2) + ") | 2 | +1 | 26 | 1.5 |",
		`push \| circles &lt;b>out&lt;/b> @` + "\u200b" + `alice`,
		"_(baseline)_ baseline",
		"_failed_",
		"_pending_",
		"**5** candidates: **3** evaluated, **1** failed, **1** pending · tokens 550 · cost $0.0050",
		"```mermaid\ngraph TD\n",
		"n0 --> n1",
		"<details><summary>Analysis of the best candidate, 00000003</summary>",
		"&lt;/details>&lt;script>",
		"thanks @\u200bbob",
		"- bigger corners help",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "</details>") != 1 {
		t.Errorf("the analysis closed the details block early:\n%s", md)
	}

	// JSON carries the same content.
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Best.ID != r.Best.ID || len(back.Top) != 5 || back.Counts != r.Counts {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
}

func TestReportEmptyAndUnevaluated(t *testing.T) {
	r := BuildReport("exp", nil, ReportOptions{})
	if r.Best != nil || len(r.Top) != 0 || r.Top == nil {
		t.Fatalf("empty report = %+v", r)
	}
	if md := r.Markdown(); !strings.Contains(md, "No candidates yet") || !strings.HasPrefix(md, Marker("exp")) {
		t.Errorf("empty markdown:\n%s", md)
	}
	r = BuildReport("exp", []evolve.Candidate{cand(0, -1, evolve.StatusPending, nil, "baseline")}, ReportOptions{})
	if md := r.Markdown(); !strings.Contains(md, "No candidate has been evaluated successfully yet") || strings.Contains(md, "mermaid") {
		t.Errorf("pending-only markdown:\n%s", md)
	}
}

func TestReportMinimize(t *testing.T) {
	cs := []evolve.Candidate{
		cand(0, -1, evolve.StatusOK, f64(10), "baseline"),
		cand(1, 0, evolve.StatusOK, f64(7), "lower"),
		cand(2, 0, evolve.StatusOK, f64(12), "higher"),
	}
	r := BuildReport("exp", cs, ReportOptions{Direction: evolve.Minimize, Top: 2, Metrics: []string{"valid"}})
	if r.Best.ID != hexID(1) || *r.Best.Delta != -3 || len(r.Top) != 2 {
		t.Fatalf("best %+v top %d", r.Best, len(r.Top))
	}
	md := r.Markdown()
	if !strings.Contains(md, "(-3 vs baseline 10)") || !strings.Contains(md, "| valid |") || !strings.Contains(md, "| true |") {
		t.Errorf("markdown:\n%s", md)
	}
	if !strings.Contains(md, "_Top 2 of 3 candidates") {
		t.Errorf("no note on the cut leaderboard:\n%s", md)
	}
}

// hugeExperiment: n candidates in one long chain, with oversized titles,
// metrics and analysis.
func hugeExperiment(n int) []evolve.Candidate {
	long := strings.Repeat("ü|<x>", 5000)
	cs := make([]evolve.Candidate, n)
	for i := range cs {
		parent := i - 1
		if i == 0 {
			parent = -1
		}
		c := evolve.Candidate{ID: hexID(i), Time: t0.Add(time.Duration(i) * time.Second), Baseline: i == 0}
		if parent >= 0 {
			c.Parent = hexID(parent)
		}
		score := float64(i)
		metrics := map[string]any{}
		if i >= n-100 {
			for k := 0; k < 50; k++ {
				metrics[strings.Repeat("m", 200)+fmt.Sprint(k)] = strings.Repeat("v", 500)
			}
			metrics["aaa"] = 1.0
		}
		ev := &evolve.Event{Event: evolve.EventEvaluated, Status: evolve.StatusOK, Score: &score, Metrics: metrics}
		c.Record = evolve.Record{Proposed: &evolve.Event{Event: evolve.EventProposed, Title: long}, Evaluated: ev}
		if i == n-1 {
			c.Record.Analyzed = &evolve.Event{Event: evolve.EventAnalyzed, Analysis: strings.Repeat(long, 40), Lessons: []string{long, long, long, long, long, long, long}}
		}
		cs[i] = c
	}
	return cs
}

func TestReportFitsInAComment(t *testing.T) {
	cs := hugeExperiment(100000)
	for _, top := range []int{0, 10, MaxTop, 100000} {
		r := BuildReport("exp", cs, ReportOptions{Top: top, Links: Links{ServerURL: "https://" + strings.Repeat("h", 500) + ".example", Repository: "octo/demo"},
			Metrics: func() []string {
				if top == MaxTop {
					var ms []string
					for k := 0; k < 50; k++ {
						ms = append(ms, strings.Repeat("m", 200)+fmt.Sprint(k))
					}
					return ms
				}
				return nil
			}(),
			Notes: []string{strings.Repeat("note ", 100000)}})
		md := r.Markdown()
		if len(md) >= MaxBody {
			t.Fatalf("top %d: markdown is %d bytes, GitHub allows %d", top, len(md), MaxBody)
		}
		if !utf8.ValidString(md) {
			t.Fatalf("top %d: markdown is not valid UTF-8 after cutting", top)
		}
		if !strings.HasPrefix(md, Marker("exp")) || !strings.Contains(md, "100,000") && !strings.Contains(md, "100000") {
			t.Fatalf("top %d: markdown lost its marker or counts", top)
		}
		if r.LineageLength != 100000 || len(r.Lineage) > maxLineage {
			t.Fatalf("lineage %d kept of %d", len(r.Lineage), r.LineageLength)
		}
		if !strings.Contains(md, "more .->") {
			t.Errorf("top %d: the cut lineage does not say how many generations are hidden", top)
		}
	}
	// The JSON form stays bounded too (no 100k-node lineage).
	b, _ := BuildReport("exp", cs, ReportOptions{}).JSON()
	if len(b) > 2<<20 {
		t.Fatalf("JSON report is %d bytes", len(b))
	}
}

func TestMarkdownLastResortCut(t *testing.T) {
	r := BuildReport("exp", smallExperiment(), ReportOptions{})
	md := r.markdown(300)
	if len(md) > 300 || !strings.HasPrefix(md, Marker("exp")) || !strings.Contains(md, "cut to fit") {
		t.Fatalf("cut markdown (%d bytes):\n%s", len(md), md)
	}
}

func TestCut(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 5, "a lo…"},
		{"üüüüüü", 3, "üü…"},
		{"", 3, ""},
	}
	for _, tc := range cases {
		if got := cut(tc.in, tc.n); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	if got := cutBytes("aü", 2); got != "a" {
		t.Errorf("cutBytes split a rune: %q", got)
	}
	if fmtInt(1234567) != "1,234,567" || fmtInt(12) != "12" || fmtInt(-1000) != "-1,000" {
		t.Error("fmtInt")
	}
}

func BenchmarkReport100k(b *testing.B) {
	cs := hugeExperiment(100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := BuildReport("exp", cs, ReportOptions{})
		if len(r.Markdown()) >= MaxBody {
			b.Fatal("too long")
		}
	}
}
