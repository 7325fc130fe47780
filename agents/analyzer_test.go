package agents

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

func analysisInput() evolve.AnalysisInput {
	in := testInput()
	cand := evolve.Node{
		Candidate: evolve.Candidate{ID: "dddddddddddddddddddddddddddddddddddddddd", Record: evolve.Fold([]evolve.Event{
			{Event: evolve.EventProposed, Title: "Larger radius", Motivation: "fill the square"},
			evaluated(2.7, evolve.Event{Metrics: map[string]any{"sum_radii": 2.7}}),
		})},
		Files: map[string]string{progPath: strings.Replace(progCode, "radius = 0.1", "radius = 0.12", 1)},
	}
	parent := in.Parent
	return evolve.AnalysisInput{Exp: "demo", Problem: in.Problem, Candidate: cand, Parent: &parent, Best: &cand,
		Direction: evolve.Maximize}
}

func newAnalyzer(t *testing.T, srv *fakeopenai.Server, promptDir string) *LLMAnalyzer {
	t.Helper()
	l, _ := newTestLLM(t, testConfig(srv).API)
	a, err := NewLLMAnalyzer(l, promptDir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAnalyze(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Enqueue(fakeopenai.Response{PromptTokens: 500, CompletionTokens: 50, Content: `ANALYSIS:
Raising the radius from 0.1 to 0.12 improved the score by 0.09.

LESSONS:
- Larger radii help until circles overlap.
- Check the boundary constraint first.
`})
	a := newAnalyzer(t, srv, "")
	an, err := a.Analyze(context.Background(), analysisInput())
	if err != nil {
		t.Fatal(err)
	}
	if an.Text != "Raising the radius from 0.1 to 0.12 improved the score by 0.09." {
		t.Errorf("Text = %q", an.Text)
	}
	if want := []string{"Larger radii help until circles overlap.", "Check the boundary constraint first."}; !reflect.DeepEqual(an.Lessons, want) {
		t.Errorf("Lessons = %q", an.Lessons)
	}
	if an.Model != "test-model" || an.Tokens != (evolve.Tokens{Prompt: 500, Completion: 50}) {
		t.Errorf("model %q tokens %+v", an.Model, an.Tokens)
	}
	if want := (500*2.0 + 50*8.0) / 1e6; math.Abs(an.CostUSD-want) > 1e-12 {
		t.Errorf("cost = %v, want %v", an.CostUSD, want)
	}

	msgs := srv.ChatRequests()[0].Messages
	if len(msgs) != 2 || msgs[0].Role != "system" || !strings.Contains(msgs[0].Content, "Higher scores are better") {
		t.Fatalf("messages = %+v", msgs)
	}
	user := msgs[1].Content
	for _, want := range []string{
		"Pack 26 circles", "Candidate dddddddd: Larger radius", "Score: 2.7", "sum_radii=2.7", "fill the square",
		"Parent aaaaaaaa: Parent title", "Score: 2.61",
		"Change of score from the parent: +0.09 (better)",
		"--- a/" + progPath, "+++ b/" + progPath, "-    radius = 0.1\n", "+    radius = 0.12\n",
		"Best so far: dddddddd: Larger radius (this candidate)",
		"ANALYSIS:", "LESSONS:",
	} {
		if !strings.Contains(user, want) {
			t.Errorf("analyzer prompt lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Logf("analyzer prompt:\n%s", user)
	}
}

func TestAnalyzeBaselineAndFailures(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply("The baseline works.", "")
	a := newAnalyzer(t, srv, "")
	in := analysisInput()
	in.Parent, in.Best = nil, nil
	an, err := a.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if an.Text != "The baseline works." || an.Lessons != nil {
		t.Errorf("unstructured reply: %q %q", an.Text, an.Lessons)
	}
	user := srv.ChatRequests()[0].Messages[1].Content
	if !strings.Contains(user, "radius = 0.12") || strings.Contains(user, "Parent") || strings.Contains(user, "Best so far") {
		t.Errorf("baseline prompt must show the code and no parent or best:\n%s", user)
	}

	an, err = a.Analyze(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty reply: err = %v", err)
	}
	if an.Tokens.Total() == 0 {
		t.Error("tokens of an empty analysis are lost")
	}
}

func TestAnalyzeMinimizeDelta(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply("ANALYSIS: slower")
	a := newAnalyzer(t, srv, "")
	in := analysisInput()
	in.Direction = evolve.Minimize
	if _, err := a.Analyze(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	msgs := srv.ChatRequests()[0].Messages
	if !strings.Contains(msgs[1].Content, "+0.09 (worse)") || !strings.Contains(msgs[0].Content, "Lower scores are better") {
		t.Errorf("minimize prompt:\n%s\n%s", msgs[0].Content, msgs[1].Content)
	}
}

func TestAnalyzerPromptOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, PromptAnalyzerSystem), []byte("SYS {{.Direction}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := fakeopenai.New(t)
	srv.Reply("ANALYSIS: ok")
	a := newAnalyzer(t, srv, dir)
	if _, err := a.Analyze(context.Background(), analysisInput()); err != nil {
		t.Fatal(err)
	}
	if got := srv.ChatRequests()[0].Messages[0].Content; got != "SYS maximize" {
		t.Errorf("system = %q", got)
	}
}

func TestParseAnalysis(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		text        string
		lessons     []string
	}{
		{"plain format", "ANALYSIS:\nIt got better.\n\nLESSONS:\n- one\n- two\n", "It got better.", []string{"one", "two"}},
		{"same line", "ANALYSIS: It got better.\nLESSONS:\n* one", "It got better.", []string{"one"}},
		{"markdown", "## Analysis\n\nIt **got** better.\n\n## Lessons learned\n\n1. one\n2) two\n", "It **got** better.", []string{"one", "two"}},
		{"bold markers", "**Analysis:** It got better.\n\n**Lessons:**\n- **Bold** lesson\n", "It got better.", []string{"Bold lesson"}},
		{"CRLF", "ANALYSIS:\r\nBetter.\r\nLESSONS:\r\n- a\r\n- b\r\n", "Better.", []string{"a", "b"}},
		{"continuation lines", "ANALYSIS: x\nLESSONS:\n- first part\n  continued here\n- second\n", "x", []string{"first part continued here", "second"}},
		{"more than five, duplicates, empty", "ANALYSIS: x\nLESSONS:\n- a\n- A\n- \n- b\n- c\n- d\n- e\n- f\n", "x", []string{"a", "b", "c", "d", "e"}},
		{"lessons without bullets", "ANALYSIS: x\nLESSONS:\nkeep it small\n\nmeasure first\n", "x", []string{"keep it small", "measure first"}},
		{"no markers", "Just some prose.\nOn two lines.", "Just some prose.\nOn two lines.", nil},
		{"prose starting with analysis", "Analysis of the change shows a gain.\n- not a lesson", "Analysis of the change shows a gain.\n- not a lesson", nil},
		{"lessons only", "It improved.\n\nLESSONS:\n- a", "It improved.", []string{"a"}},
		{"lessons first", "LESSONS:\n- a\n\nANALYSIS:\nIt improved.", "It improved.", []string{"a"}},
		{"fenced", "```\nANALYSIS:\nBetter.\nLESSONS:\n- a\n```", "Better.", []string{"a"}},
		{"empty analysis section", "ANALYSIS:\nLESSONS:\n- a", "ANALYSIS:\nLESSONS:\n- a", []string{"a"}},
		{"empty", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, lessons := ParseAnalysis(tc.reply)
			if text != tc.text || !reflect.DeepEqual(lessons, tc.lessons) {
				t.Errorf("ParseAnalysis(%q)\n = %q, %q\nwant %q, %q", tc.reply, text, lessons, tc.text, tc.lessons)
			}
		})
	}
	long := "ANALYSIS: x\nLESSONS:\n- " + strings.Repeat("word ", 200)
	if _, l := ParseAnalysis(long); len(l) != 1 || len([]rune(l[0])) != 300 {
		t.Errorf("a long lesson is not capped at 300 characters: %d", len([]rune(l[0])))
	}
}

func FuzzParseAnalysis(f *testing.F) {
	f.Add("ANALYSIS:\nx\nLESSONS:\n- a\n")
	f.Add("## Lessons\n1. a\n  b\n## Analysis\n")
	f.Add("\r\n- \r\nLESSONS")
	f.Fuzz(func(t *testing.T, reply string) {
		_, lessons := ParseAnalysis(reply)
		if len(lessons) > MaxLessons {
			t.Fatalf("%d lessons", len(lessons))
		}
		for _, l := range lessons {
			if l == "" || strings.Contains(l, "\n") {
				t.Fatalf("bad lesson %q", l)
			}
		}
	})
}

func TestDiffFilesAppliesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	many := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := change[i]; ok {
				b.WriteString(s)
				continue
			}
			b.WriteString("line " + strings.Repeat("x", i%5) + " " + string(rune('a'+i%26)) + "\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		name     string
		old, new map[string]string
	}{
		{"one change in the middle", map[string]string{"a.py": many(30, nil)}, map[string]string{"a.py": many(30, map[int]string{15: "changed\n"})}},
		{"two distant hunks", map[string]string{"a.py": many(40, nil)}, map[string]string{"a.py": many(40, map[int]string{3: "first\n", 35: ""})}},
		{"close changes merge", map[string]string{"a.py": many(20, nil)}, map[string]string{"a.py": many(20, map[int]string{5: "p\n", 11: "q\nr\n"})}},
		{"no newline at end", map[string]string{"a.py": "a\nb"}, map[string]string{"a.py": "a\nb\nc"}},
		{"newline added at end", map[string]string{"a.py": "a\nb"}, map[string]string{"a.py": "a\nb\n"}},
		{"file emptied", map[string]string{"a.py": "a\nb\n"}, map[string]string{"a.py": ""}},
		{"file from empty", map[string]string{"a.py": ""}, map[string]string{"a.py": "a\n"}},
		{"new and removed files", map[string]string{"old.py": "x\n", "same.py": "s\n"}, map[string]string{"new/n.py": "y\nz\n", "same.py": "s\n"}},
		{"CRLF", map[string]string{"w.txt": "a\r\nb\r\nc\r\n"}, map[string]string{"w.txt": "a\r\nB\r\nc\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(files map[string]string) {
				for p, c := range files {
					full := filepath.Join(dir, filepath.FromSlash(p))
					if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(tc.old)
			diff := DiffFiles(tc.old, tc.new)
			patch := filepath.Join(t.TempDir(), "change.diff")
			if err := os.WriteFile(patch, []byte(diff), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("git", "apply", "--whitespace=nowarn", patch)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git apply: %v\n%s\ndiff:\n%s", err, out, diff)
			}
			for p, want := range tc.new {
				got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
				if err != nil || string(got) != want {
					t.Errorf("%s after git apply = %q (%v), want %q\ndiff:\n%s", p, got, err, want, diff)
				}
			}
			for p := range tc.old {
				if _, kept := tc.new[p]; !kept {
					if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
						t.Errorf("%s not removed by the diff", p)
					}
				}
			}
		})
	}
	if d := DiffFiles(map[string]string{"a": "x\n"}, map[string]string{"a": "x\n"}); d != "" {
		t.Errorf("identical files give %q", d)
	}
}

func TestUnifiedDiffContext(t *testing.T) {
	old := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"
	nw := "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n10\n"
	want := "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n"
	if got := unifiedDiff("a/f", "b/f", old, nw); got != want {
		t.Errorf("unifiedDiff =\n%s\nwant\n%s", got, want)
	}
}

// bigProgram is about 95 KB of Python-like code (pipeline.max_code_length).
func bigProgram() string {
	var b strings.Builder
	for i := 0; b.Len() < 95_000; i++ {
		b.WriteString("def f" + strconv.Itoa(i))
		b.WriteString("(a, b):\n    return a * 0.5 + b  # tuned constant\n\n")
	}
	return b.String()
}

func BenchmarkDiffFilesLarge(b *testing.B) {
	old := bigProgram()
	nw := strings.Replace(old, "0.5", "0.75", 3)
	nw = strings.Replace(nw, "def f700(", "def g700(", 1)
	b.ResetTimer()
	for b.Loop() {
		if DiffFiles(map[string]string{"p.py": old}, map[string]string{"p.py": nw}) == "" {
			b.Fatal("empty diff")
		}
	}
}
