package agents

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

// scoredNode is a candidate evaluated ok with the given score.
func scoredNode(id string, score float64, files map[string]string, metrics map[string]any) *evolve.Node {
	return &evolve.Node{
		Candidate: evolve.Candidate{ID: id, Record: evolve.Record{Evaluated: &evolve.Event{
			Event: evolve.EventEvaluated, Status: evolve.StatusOK, Score: &score, Metrics: metrics}}},
		Files: files,
	}
}

func failedNode(id string, status evolve.Status, files map[string]string, reason, stderr, feedback string) *evolve.Node {
	code := 1
	return &evolve.Node{
		Candidate: evolve.Candidate{ID: id, Record: evolve.Record{Evaluated: &evolve.Event{
			Event: evolve.EventEvaluated, Status: status, Reason: reason, StderrTail: stderr, Feedback: feedback, ExitCode: &code}}},
		Files: files,
	}
}

const (
	parentID = "aaaaaaaa11111111111111111111111111111111"
	candID   = "bbbbbbbb22222222222222222222222222222222"
	bestID   = "cccccccc33333333333333333333333333333333"
)

func analyze(t *testing.T, in evolve.AnalysisInput) evolve.Analysis {
	t.Helper()
	a, err := RuleAnalyzer{}.Analyze(context.Background(), in)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	if a.Model != "rules" || a.Tokens.Total() != 0 || a.CostUSD != 0 {
		t.Fatalf("analysis = %+v", a)
	}
	if len(a.Lessons) > 5 {
		t.Fatalf("%d lessons: %q", len(a.Lessons), a.Lessons)
	}
	return a
}

func TestRuleAnalyzerImprovement(t *testing.T) {
	parent := scoredNode(parentID, 2.61, map[string]string{"exp/p.py": "import math\nradius = 0.1\nn = 10\n"},
		map[string]any{"density": 0.81, "overlaps": 0.0, "label": "x"})
	cand := scoredNode(candID, 2.64, map[string]string{"exp/p.py": "import math\nradius = 0.12\nn = 10\n"},
		map[string]any{"density": 0.84, "overlaps": 0.0})
	best := scoredNode(bestID, 2.9, nil, nil)
	a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent, Best: best, Direction: evolve.Maximize})
	want := "Raising radius from 0.1 to 0.12 improved the score by 0.03 (2.61 -> 2.64). The best so far scores 2.9 (cccccccc), 0.26 better. Metrics: density 0.81 -> 0.84."
	if a.Text != want {
		t.Fatalf("text:\n got %q\nwant %q", a.Text, want)
	}
	if len(a.Lessons) != 1 || a.Lessons[0] != "increasing radius above 0.1 (to 0.12) helped (+0.03)" {
		t.Fatalf("lessons = %q", a.Lessons)
	}
}

func TestRuleAnalyzerMinimizeAndSeveralChanges(t *testing.T) {
	parent := scoredNode(parentID, 10, map[string]string{"a.py": "n = 10\nradius = 0.1\n", "b.py": "w = [1.5, 2.5]\n"}, nil)
	cand := scoredNode(candID, 12, map[string]string{"a.py": "n = 8\nradius = 0.2\n", "b.py": "w = [1.5, 3.0]\n"}, nil)
	a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent, Best: cand, Direction: evolve.Minimize})
	want := "Lowering n from 10 to 8, raising radius from 0.1 to 0.2 and raising w (#2) from 2.5 to 3.0 worsened the score by 2 (10 -> 12). It is the best so far."
	if a.Text != want {
		t.Fatalf("text:\n got %q\nwant %q", a.Text, want)
	}
	wantLessons := []string{
		"decreasing n from 10 to 8 hurt (+2) (with 2 other changes)",
		"increasing radius from 0.1 to 0.2 hurt (+2) (with 2 other changes)",
		"increasing w (#2) from 2.5 to 3.0 hurt (+2) (with 2 other changes)",
	}
	if strings.Join(a.Lessons, "\n") != strings.Join(wantLessons, "\n") {
		t.Fatalf("lessons:\n got %q\nwant %q", a.Lessons, wantLessons)
	}

	// The same change under minimize with a lower score helps.
	cand = scoredNode(candID, 9.5, cand.Files, nil)
	a = analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent, Direction: evolve.Minimize})
	if !strings.Contains(a.Text, "improved the score by 0.5 (10 -> 9.5)") || a.Lessons[0] != "decreasing n below 10 (to 8) helped (-0.5) (with 2 other changes)" {
		t.Fatalf("analysis = %+v", a)
	}
}

func TestRuleAnalyzerFailure(t *testing.T) {
	parent := scoredNode(parentID, 2.61, map[string]string{"p.py": "radius = 0.1\nprint(1 / radius)\n"}, nil)
	cand := failedNode(candID, evolve.StatusFailed, map[string]string{"p.py": "radius = 0.0\nprint(1 / radius)\n"},
		"exit status 1", "Traceback (most recent call last):\n  File \"p.py\", line 2\nZeroDivisionError: float division by zero\n", "no result")
	a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent, Best: parent})
	want := "Lowering radius from 0.1 to 0.0 made the evaluation fail: exit status 1. Last error: ZeroDivisionError: float division by zero. Feedback: no result The best so far scores 2.61 (aaaaaaaa)."
	if a.Text != want {
		t.Fatalf("text:\n got %q\nwant %q", a.Text, want)
	}
	if len(a.Lessons) != 1 || a.Lessons[0] != "radius = 0.0 (from 0.1) broke the evaluation: ZeroDivisionError: float division by zero" {
		t.Fatalf("lessons = %q", a.Lessons)
	}

	timeout := failedNode(candID, evolve.StatusTimeout, map[string]string{"p.py": "radius = 0.1\nprint(1 / radius)\nwhile True: pass\n"},
		"killed after 600s", "", "")
	a = analyze(t, evolve.AnalysisInput{Candidate: *timeout, Parent: parent})
	if a.Text != "Changing 1 line of p.py (+1/-0) made the evaluation time out: killed after 600s." ||
		len(a.Lessons) != 1 || a.Lessons[0] != "the code change in p.py (+1/-0 lines) broke the evaluation: killed after 600s" {
		t.Fatalf("analysis = %+v", a)
	}
}

func TestRuleAnalyzerUnnamedAndStructural(t *testing.T) {
	parent := scoredNode(parentID, 1, map[string]string{"p.py": "def f():\n    return g(3)\n\nprint(f())\n"}, nil)
	cand := scoredNode(candID, 1.5, map[string]string{"p.py": "import os\n\ndef f():\n    os.sync()\n    return g(4)\n\nprint(f())\n"}, nil)
	a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent})
	want := "Raising the literal on line 5 of p.py from 3 to 4 and changing 3 other lines of p.py (+3/-0) improved the score by 0.5 (1 -> 1.5)."
	if a.Text != want {
		t.Fatalf("text:\n got %q\nwant %q", a.Text, want)
	}
	wantLessons := []string{
		"increasing the literal on line 5 of p.py above 3 (to 4) helped (+0.5) (with 1 other change)",
		"the code change in p.py (+3/-0 lines) helped (+0.5) (with 1 other change)",
	}
	if strings.Join(a.Lessons, "\n") != strings.Join(wantLessons, "\n") {
		t.Fatalf("lessons:\n got %q\nwant %q", a.Lessons, wantLessons)
	}
}

func TestRuleAnalyzerEdgeCases(t *testing.T) {
	files := map[string]string{"p.py": "x = 1\n"}
	// Baseline: no parent.
	a := analyze(t, evolve.AnalysisInput{Candidate: *scoredNode(candID, 3, files, nil)})
	if a.Text != "Baseline: the starting program scores 3." || len(a.Lessons) != 0 {
		t.Fatalf("baseline: %+v", a)
	}
	// Pending.
	a = analyze(t, evolve.AnalysisInput{Candidate: evolve.Node{Candidate: evolve.Candidate{ID: candID}, Files: files}})
	if a.Text != "The candidate has not been evaluated yet." {
		t.Fatalf("pending: %+v", a)
	}
	// Same code, score moved.
	a = analyze(t, evolve.AnalysisInput{Candidate: *scoredNode(candID, 3.5, files, nil), Parent: scoredNode(parentID, 3, files, nil)})
	if a.Text != "The editable code is the same as the parent's; the score went from 3 to 3.5." || len(a.Lessons) != 0 {
		t.Fatalf("same code: %+v", a)
	}
	// A new best, and no change in score.
	cand := scoredNode(candID, 3, map[string]string{"p.py": "x = 2\n"}, nil)
	a = analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: scoredNode(parentID, 3, files, nil), Best: scoredNode(bestID, 2, nil, nil)})
	if a.Text != "Raising x from 1 to 2 left the score unchanged (3 -> 3). It beats the best so far (2, cccccccc) by 1." ||
		a.Lessons[0] != "changing x from 1 to 2 made no difference" {
		t.Fatalf("new best: %+v", a)
	}
	// Cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (RuleAnalyzer{}).Analyze(ctx, evolve.AnalysisInput{}); err == nil {
		t.Fatal("cancelled context accepted")
	}
}

func TestRuleAnalyzerAtMostFiveLessons(t *testing.T) {
	var old, nw strings.Builder
	for i := range 9 {
		old.WriteString("c" + string(rune('a'+i)) + " = 1.5\n")
		nw.WriteString("c" + string(rune('a'+i)) + " = 2.5\n")
	}
	parent := scoredNode(parentID, 1, map[string]string{"p.py": old.String()}, nil)
	cand := scoredNode(candID, 2, map[string]string{"p.py": nw.String() + "extra()\n"}, nil)
	a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent})
	if len(a.Lessons) != 5 || !strings.Contains(a.Text, ", 6 other literal changes and changing 1 other line of p.py") {
		t.Fatalf("analysis = %+v", a)
	}
	if !strings.HasPrefix(a.Lessons[4], "the code change in p.py") {
		t.Fatalf("the structural lesson was dropped: %q", a.Lessons)
	}
}

func TestDiffFileAlignsShiftedLines(t *testing.T) {
	old := "a = 1\nb = 2\nc = 3\nd = 4\n"
	nw := "a = 1\nnew_line()\nb = 2\nc = 30\nd = 4\nmore()\n"
	lits, added, removed := diffFile("p.py", old, nw)
	if len(lits) != 1 || lits[0].new.name != "c" || lits[0].old.text != "3" || lits[0].new.text != "30" || lits[0].new.line != 4 || added != 2 || removed != 0 {
		t.Fatalf("diff = %+v, +%d -%d", lits, added, removed)
	}
}

// TestOfflineLoopWithRules runs the offline Researcher and the rule-based
// Analyzer together, the way the step loop does, on the constant-driven
// objective: every analysis names the constant that changed.
func TestOfflineLoopWithRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	parent := scoredNode(parentID, constObjective(t, objectiveProgram), map[string]string{"p.py": objectiveProgram}, nil)
	best := parent
	helped := 0
	for step := range 60 {
		in := offlineInput(parent.Files, "p.py")
		p, err := OfflineResearcher{}.Propose(context.Background(), in, rng)
		if err != nil {
			t.Fatal(err)
		}
		src := string(p.Files["p.py"])
		cand := scoredNode(candID, constObjective(t, src), map[string]string{"p.py": src}, nil)
		a := analyze(t, evolve.AnalysisInput{Candidate: *cand, Parent: parent, Best: best})
		if !regexp.MustCompile(`^(Raising|Lowering) [xy] from \S+ to \S+`).MatchString(a.Text) || len(a.Lessons) == 0 {
			t.Fatalf("step %d: proposal %q analysed as %+v", step, p.Title, a)
		}
		cs, _ := cand.Score()
		if ps, _ := parent.Score(); cs > ps {
			if !strings.Contains(a.Lessons[0], "helped") {
				t.Fatalf("step %d: improvement not recognised: %q", step, a.Lessons)
			}
			helped++
			parent, best = cand, cand
			parent.ID = strings.Repeat(string(rune('0'+step%10)), 40)
		}
	}
	if helped == 0 {
		t.Fatal("no step improved")
	}
}

func BenchmarkRuleAnalyzer(b *testing.B) {
	src := strings.Repeat(pyProgram, 50)
	parent := scoredNode(parentID, 1, map[string]string{"p.py": src}, nil)
	cand := scoredNode(candID, 2, map[string]string{"p.py": strings.Replace(src, "RADIUS = 0.1", "RADIUS = 0.2", 1)}, nil)
	in := evolve.AnalysisInput{Candidate: *cand, Parent: parent, Best: cand}
	for b.Loop() {
		if _, err := (RuleAnalyzer{}).Analyze(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
