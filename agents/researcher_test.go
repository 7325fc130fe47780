package agents

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/internal/fakeopenai"
)

const progPath = "experiments/demo/initial_program.py"

const progCode = `import math

# EVOLVE-BLOCK-START
def pack(n):
    radius = 0.1
    spacing = 2.0
    return radius * n
# EVOLVE-BLOCK-END

def main():
    print(pack(26))
`

func evaluated(score float64, extra evolve.Event) evolve.Event {
	e := extra
	e.Event, e.Status, e.Score = evolve.EventEvaluated, evolve.StatusOK, &score
	e.At = time.Date(2026, 11, 26, 12, 0, 1, 0, time.UTC)
	return e
}

func testInput() evolve.ResearchInput {
	parent := evolve.Node{
		Candidate: evolve.Candidate{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Record: evolve.Fold([]evolve.Event{
			{Event: evolve.EventProposed, Title: "Parent title", Motivation: "parent motivation"},
			evaluated(2.61, evolve.Event{Metrics: map[string]any{"valid": 1.0, "sum_radii": 2.61}, Feedback: "all circles inside"}),
			{Event: evolve.EventAnalyzed, At: time.Date(2026, 11, 26, 12, 0, 2, 0, time.UTC), Analysis: "radius bound is the bottleneck"},
		})},
		Files: map[string]string{progPath: progCode},
	}
	insp := evolve.Node{
		Candidate: evolve.Candidate{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Record: evolve.Fold([]evolve.Event{
			{Event: evolve.EventProposed, Title: "Hexagonal grid"},
			evaluated(2.4, evolve.Event{}),
		})},
		Files: map[string]string{progPath: "def pack(n):\n    return INSPIRATION_CODE\n"},
	}
	failed := evolve.Node{
		Candidate: evolve.Candidate{ID: "cccccccccccccccccccccccccccccccccccccccc", Record: evolve.Fold([]evolve.Event{
			{Event: evolve.EventProposed, Title: "Random restarts"},
			{Event: evolve.EventEvaluated, Status: evolve.StatusFailed, Reason: "exit status 1", StderrTail: "ZeroDivisionError: division by zero"},
		})},
		Files: map[string]string{progPath: "FAILED_CODE"},
	}
	return evolve.ResearchInput{
		Exp:          "demo",
		Problem:      "Pack 26 circles in a unit square maximising the sum of radii.",
		Parent:       parent,
		Inspirations: []evolve.Node{insp},
		Failures:     []evolve.Node{failed},
		Knowledge: []evolve.Knowledge{{ID: "k1", Title: "Apollonian packing", Content: "Fill gaps greedily.",
			Source: "file:experiments/demo/cognition/apollonian.md", Score: 0.8}},
		Editable: []string{progPath},
		Step:     4,
	}
}

func testConfig(srv *fakeopenai.Server) evolve.Config {
	cfg := evolve.DefaultConfig("demo")
	cfg.API = testAPIConfig(srv)
	cfg.API.Pricing = map[string]evolve.Price{"test-model": {Prompt: 2, Completion: 8}}
	return cfg
}

func newResearcher(t *testing.T, cfg evolve.Config, promptDir string) (*LLMResearcher, *sleeps) {
	t.Helper()
	l, sl := newTestLLM(t, cfg.API)
	r, err := NewLLMResearcher(l, cfg, promptDir)
	if err != nil {
		t.Fatal(err)
	}
	return r, sl
}

func editReply(search, replace string) string {
	return "TITLE: Larger radius\nMOTIVATION:\nA larger radius fills the square better.\n\n" +
		progPath + "\n<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE\n"
}

func fileOf(p evolve.Proposal) string { return string(p.Files[progPath]) }

func TestProposeAppliesEditsAndAccountsTokens(t *testing.T) {
	srv := fakeopenai.New(t)
	reply := "TITLE: Larger radius\nMOTIVATION:\nA larger radius fills the square better.\n\n```python\n" + progPath +
		"\n<<<<<<< SEARCH\n    radius = 0.1\n=======\n    radius = 0.12\n>>>>>>> REPLACE\n```\n"
	srv.Enqueue(fakeopenai.Response{Content: reply, PromptTokens: 1000, CompletionTokens: 200})
	r, _ := newResearcher(t, testConfig(srv), "")

	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Invalid != "" {
		t.Fatalf("Invalid = %q", p.Invalid)
	}
	if want := strings.Replace(progCode, "radius = 0.1\n", "radius = 0.12\n", 1); fileOf(p) != want {
		t.Errorf("new file:\n%s", fileOf(p))
	}
	if p.Title != "Larger radius" || p.Motivation != "A larger radius fills the square better." {
		t.Errorf("title %q, motivation %q", p.Title, p.Motivation)
	}
	if p.Model != "test-model" || p.Tokens != (evolve.Tokens{Prompt: 1000, Completion: 200}) {
		t.Errorf("model %q, tokens %+v", p.Model, p.Tokens)
	}
	if want := (1000*2.0 + 200*8.0) / 1e6; math.Abs(p.CostUSD-want) > 1e-12 {
		t.Errorf("cost = %v, want %v", p.CostUSD, want)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	msgs := reqs[0].Chat.Messages
	if reqs[0].Chat.Model != "test-model" || len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Role != "user" {
		t.Fatalf("request = %+v", reqs[0].Chat)
	}
	if !strings.Contains(msgs[0].Content, "Higher scores are better") {
		t.Errorf("system prompt lacks the direction:\n%s", msgs[0].Content)
	}
	user := msgs[1].Content
	for _, want := range []string{
		"Pack 26 circles",                               // input.md
		"Apollonian packing",                            // knowledge title
		"Fill gaps greedily.",                           // knowledge content
		"file:experiments/demo/cognition/apollonian.md", // knowledge source
		"Parent title", "Score: 2.61", "sum_radii=2.61", "valid=1",
		"all circles inside",             // feedback
		"radius bound is the bottleneck", // analysis
		"```python\n" + progCode + "```", // parent code, fenced
		"Hexagonal grid", "Score: 2.4", "INSPIRATION_CODE",
		"What did not work", "Random restarts", "exit status 1", "ZeroDivisionError",
		"Editable files: " + progPath,
		"<<<<<<< SEARCH", "TITLE:", // EditFormatHelp
	} {
		if !strings.Contains(user, want) {
			t.Errorf("user prompt lacks %q", want)
		}
	}
	if strings.Contains(user, "FAILED_CODE") {
		t.Error("the code of a failed attempt is in the prompt; only its title and reason belong there")
	}
	if testing.Verbose() {
		t.Logf("system prompt:\n%s\nuser prompt:\n%s", msgs[0].Content, user)
	}
}

func TestProposeCRLFReply(t *testing.T) {
	srv := fakeopenai.New(t)
	reply := strings.ReplaceAll(editReply("    spacing = 2.0\n", "    spacing = 1.5\n"), "\n", "\r\n")
	srv.Reply(reply)
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	if want := strings.Replace(progCode, "spacing = 2.0", "spacing = 1.5", 1); fileOf(p) != want {
		t.Errorf("CRLF reply gave:\n%q", fileOf(p))
	}
	if p.Title != "Larger radius" {
		t.Errorf("title = %q", p.Title)
	}
}

func TestProposeAmbiguousSearchFixedOnRetry(t *testing.T) {
	code := "# EVOLVE-BLOCK-START\nx = 1\ny = 2\nx = 1\n# EVOLVE-BLOCK-END\n"
	srv := fakeopenai.New(t)
	first := editReply("x = 1\n", "x = 5\n")
	srv.Enqueue(fakeopenai.Response{Content: first, PromptTokens: 100, CompletionTokens: 10},
		fakeopenai.Response{Content: editReply("y = 2\nx = 1\n", "y = 2\nx = 5\n"), PromptTokens: 150, CompletionTokens: 12})
	cfg := testConfig(srv)
	r, _ := newResearcher(t, cfg, "")
	in := testInput()
	in.Parent.Files = map[string]string{progPath: code}

	p, err := r.Propose(context.Background(), in, nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	if want := "# EVOLVE-BLOCK-START\nx = 1\ny = 2\nx = 5\n# EVOLVE-BLOCK-END\n"; fileOf(p) != want {
		t.Errorf("file = %q, want %q", fileOf(p), want)
	}
	reqs := srv.ChatRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	second := reqs[1].Messages
	if len(second) != 4 || second[2].Role != "assistant" || second[2].Content != first || second[3].Role != "user" {
		t.Fatalf("retry conversation = %+v", second)
	}
	if !strings.Contains(second[3].Content, "matches 2 times (at lines 2, 4)") {
		t.Errorf("retry message lacks the precise error:\n%s", second[3].Content)
	}
	if p.Tokens != (evolve.Tokens{Prompt: 250, Completion: 22}) {
		t.Errorf("tokens = %+v, want the sum of both calls", p.Tokens)
	}
	if want := (250*2.0 + 22*8.0) / 1e6; math.Abs(p.CostUSD-want) > 1e-12 {
		t.Errorf("cost = %v, want %v", p.CostUSD, want)
	}
}

func TestProposeSearchMatchingNothingTwiceIsInvalid(t *testing.T) {
	srv := fakeopenai.New(t)
	bad := editReply("    radius = 0.5\n", "    radius = 0.6\n")
	srv.Reply(bad, bad)
	r, _ := newResearcher(t, testConfig(srv), "")
	in := testInput()
	p, err := r.Propose(context.Background(), in, nil)
	if err != nil {
		t.Fatalf("an unusable reply is not an error of the step: %v", err)
	}
	if !strings.Contains(p.Invalid, "matches nothing") || !strings.Contains(p.Invalid, "radius = 0.1") {
		t.Errorf("Invalid = %q, want the precise reason with the closest line", p.Invalid)
	}
	if fileOf(p) != progCode || len(p.Files) != 1 {
		t.Errorf("an invalid proposal must carry the parent's files, got %v", p.Files)
	}
	if p.Title != "Larger radius" {
		t.Errorf("title = %q, want the reply's", p.Title)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want exactly 2 (one retry)", n)
	}
	if p.Tokens.Total() == 0 {
		t.Error("tokens of an invalid proposal are not counted")
	}
}

func TestProposeEditToNonEditableFile(t *testing.T) {
	srv := fakeopenai.New(t)
	first := "TITLE: Cheat\nMOTIVATION: change the evaluator\n\nexperiments/demo/eval.sh\n<<<<<<< SEARCH\nexit 1\n=======\nexit 0\n>>>>>>> REPLACE\n"
	srv.Reply(first, editReply("    radius = 0.1\n", "    radius = 0.11\n"))
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	if _, ok := p.Files["experiments/demo/eval.sh"]; ok || len(p.Files) != 1 {
		t.Errorf("files = %v", p.Files)
	}
	retry := srv.ChatRequests()[1].Last()
	if !strings.Contains(retry, "experiments/demo/eval.sh, which is not editable") {
		t.Errorf("retry message = %q", retry)
	}
}

func TestProposeOutsideEvolveBlockIsInvalid(t *testing.T) {
	srv := fakeopenai.New(t)
	bad := editReply("import math\n", "import os\n")
	srv.Reply(bad, bad)
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Invalid, "outside the editable region") {
		t.Errorf("Invalid = %q", p.Invalid)
	}
}

func TestProposeEmptyReply(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply("", editReply("    radius = 0.1\n", "    radius = 0.2\n"))
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	second := srv.ChatRequests()[1]
	if len(second.Messages) != 3 || second.Messages[2].Role != "user" || !strings.Contains(second.Last(), "the reply was empty") {
		t.Errorf("retry after an empty reply = %+v", second.Messages[2:])
	}

	srv.Reply("  \n", "")
	p, err = r.Propose(context.Background(), testInput(), nil)
	if err != nil || !strings.Contains(p.Invalid, "empty") || fileOf(p) != progCode {
		t.Errorf("empty twice: Invalid %q, err %v", p.Invalid, err)
	}
	if p.Title == "" {
		t.Error("an invalid proposal needs a title for its commit message")
	}
}

func TestProposeTruncatedReply(t *testing.T) {
	srv := fakeopenai.New(t)
	cut := "TITLE: Larger radius\nMOTIVATION: x\n\n" + progPath + "\n<<<<<<< SEARCH\n    radius = 0.1\n=======\n    radius"
	srv.Enqueue(fakeopenai.Response{Content: cut, FinishReason: "length"},
		fakeopenai.Response{Content: editReply("    radius = 0.1\n", "    radius = 0.2\n")})
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	retry := srv.ChatRequests()[1].Last()
	if !strings.Contains(retry, "cut off") || !strings.Contains(retry, "shorter") {
		t.Errorf("retry after truncation = %q", retry)
	}

	// A complete-looking reply that was still cut (finish_reason length) is
	// not trusted either.
	srv.Enqueue(fakeopenai.Response{Content: editReply("    radius = 0.1\n", "    radius = 0.2\n"), FinishReason: "length"},
		fakeopenai.Response{Content: cut, FinishReason: "length"})
	p, err = r.Propose(context.Background(), testInput(), nil)
	if err != nil || !strings.Contains(p.Invalid, "finish_reason") {
		t.Errorf("truncated twice: Invalid %q, err %v", p.Invalid, err)
	}
}

func TestProposeRefusesCodeLongerThanMax(t *testing.T) {
	srv := fakeopenai.New(t)
	long := editReply("    radius = 0.1\n", "    radius = 0.1\n"+strings.Repeat("    # padding padding padding\n", 20))
	srv.Reply(long, long)
	cfg := testConfig(srv)
	cfg.Pipeline.MaxCodeLength = len(progCode) + 100
	r, _ := newResearcher(t, cfg, "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Invalid, "pipeline.max_code_length") || fileOf(p) != progCode {
		t.Errorf("Invalid = %q; the code must be refused, never cut", p.Invalid)
	}
}

func TestProposeFullRewrite(t *testing.T) {
	srv := fakeopenai.New(t)
	newCode := strings.Replace(progCode, "spacing = 2.0", "spacing = 3.0", 1)
	srv.Reply("TITLE: Wider spacing\nMOTIVATION: spread out\n\n" + progPath + "\n```python\n" + newCode + "```\n")
	cfg := testConfig(srv)
	cfg.Pipeline.DiffBasedEvolution = false
	r, _ := newResearcher(t, cfg, "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" {
		t.Fatalf("Propose = %q, %v", p.Invalid, err)
	}
	if fileOf(p) != newCode || p.Title != "Wider spacing" {
		t.Errorf("rewrite: title %q, file\n%s", p.Title, fileOf(p))
	}
	user := srv.ChatRequests()[0].Messages[1].Content
	if !strings.Contains(user, "complete new content") || strings.Contains(user, "<<<<<<< SEARCH") {
		t.Errorf("full-rewrite prompt does not ask for whole files:\n%s", user)
	}
}

func TestProposeWholeFileFallbackInDiffMode(t *testing.T) {
	srv := fakeopenai.New(t)
	newCode := strings.Replace(progCode, "spacing = 2.0", "spacing = 3.0", 1)
	srv.Reply("TITLE: Whole file\nMOTIVATION: m\n\n```python\n" + newCode + "```\n")
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || p.Invalid != "" || fileOf(p) != newCode {
		t.Fatalf("whole-file fallback: Invalid %q, err %v", p.Invalid, err)
	}

	// A snippet is not a whole file: it is sent back as "no SEARCH/REPLACE block".
	snippet := "TITLE: Snippet\nMOTIVATION: m\n\n```python\nspacing = 3.0\n```\n"
	srv.Reply(snippet, snippet)
	p, err = r.Propose(context.Background(), testInput(), nil)
	if err != nil || !strings.Contains(p.Invalid, "no SEARCH/REPLACE block") {
		t.Errorf("snippet: Invalid %q, err %v", p.Invalid, err)
	}
}

func TestProposeNoChangeIsRetried(t *testing.T) {
	srv := fakeopenai.New(t)
	same := editReply("    radius = 0.1\n", "    radius = 0.1\n")
	srv.Reply(same, same)
	r, _ := newResearcher(t, testConfig(srv), "")
	p, err := r.Propose(context.Background(), testInput(), nil)
	if err != nil || !strings.Contains(p.Invalid, "change nothing") {
		t.Errorf("no-op edit: Invalid %q, err %v", p.Invalid, err)
	}
}

func TestProposeEndpointErrors(t *testing.T) {
	t.Run("401 stops at once", func(t *testing.T) {
		srv := fakeopenai.New(t)
		srv.Enqueue(fakeopenai.Response{Status: 401, ErrorMessage: "Incorrect API key provided: " + testKey})
		r, sl := newResearcher(t, testConfig(srv), "")
		p, err := r.Propose(context.Background(), testInput(), nil)
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want *AuthError", err)
		}
		noKey(t, err)
		if len(srv.Requests()) != 1 || len(sl.all()) != 0 {
			t.Errorf("401 was retried")
		}
		if b, _ := json.Marshal(p); strings.Contains(string(b), testKey) {
			t.Error("the proposal holds the key")
		}
	})
	t.Run("429 then success", func(t *testing.T) {
		srv := fakeopenai.New(t)
		srv.Enqueue(fakeopenai.Response{Status: 429, Header: map[string]string{"Retry-After": "2"}},
			fakeopenai.Response{Content: editReply("    radius = 0.1\n", "    radius = 0.3\n")})
		r, sl := newResearcher(t, testConfig(srv), "")
		p, err := r.Propose(context.Background(), testInput(), nil)
		if err != nil || p.Invalid != "" {
			t.Fatalf("Propose = %q, %v", p.Invalid, err)
		}
		if got := sl.all(); len(got) != 1 || got[0] != 2*time.Second {
			t.Errorf("waits = %v, want [2s]", got)
		}
	})
	t.Run("500 three times", func(t *testing.T) {
		srv := fakeopenai.New(t)
		for range 3 {
			srv.Enqueue(fakeopenai.Response{Status: 500})
		}
		cfg := testConfig(srv)
		cfg.API.RetryTimes = 3
		r, _ := newResearcher(t, cfg, "")
		_, err := r.Propose(context.Background(), testInput(), nil)
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != 500 {
			t.Errorf("err = %v, want the 500 after 3 attempts", err)
		}
	})
	t.Run("hanging server", func(t *testing.T) {
		srv := fakeopenai.New(t)
		srv.Enqueue(fakeopenai.Response{Hang: true})
		cfg := testConfig(srv)
		cfg.API.Timeout = evolve.Duration(50 * time.Millisecond)
		cfg.API.RetryTimes = 1
		r, _ := newResearcher(t, cfg, "")
		_, err := r.Propose(context.Background(), testInput(), nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
	t.Run("budget", func(t *testing.T) {
		srv := fakeopenai.New(t)
		srv.Reply("") // an empty reply, so that the researcher wants a second call
		r, _ := newResearcher(t, testConfig(srv), "")
		calls := 0
		r.llm.Budget = BudgetFunc(func() error {
			calls++
			if calls > 1 {
				return errors.New("budget.max_tokens reached")
			}
			return nil
		})
		p, err := r.Propose(context.Background(), testInput(), nil)
		if !errors.Is(err, ErrBudgetRefused) {
			t.Fatalf("err = %v, want ErrBudgetRefused before the retry", err)
		}
		if p.Tokens.Total() == 0 {
			t.Error("tokens of the first call are lost when the budget refuses the second")
		}
		if n := len(srv.Requests()); n != 1 || calls != 2 {
			t.Errorf("%d requests and %d budget checks, want 1 and 2", n, calls)
		}
	})
}

func TestPromptOverrideDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, PromptResearcher), []byte("CUSTOM {{.Problem}} | {{join .Editable \",\"}} | {{.Parent.Score}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a template"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := fakeopenai.New(t)
	srv.Reply(editReply("    radius = 0.1\n", "    radius = 0.2\n"))
	r, _ := newResearcher(t, testConfig(srv), dir)
	if _, err := r.Propose(context.Background(), testInput(), nil); err != nil {
		t.Fatal(err)
	}
	msgs := srv.ChatRequests()[0].Messages
	if want := "CUSTOM Pack 26 circles in a unit square maximising the sum of radii. | " + progPath + " | 2.61"; msgs[1].Content != want {
		t.Errorf("overridden prompt = %q\nwant %q", msgs[1].Content, want)
	}
	def, _ := DefaultPrompt(PromptResearcherSystem)
	if !strings.HasPrefix(msgs[0].Content, def[:40]) {
		t.Errorf("system prompt without override is not the default: %q", msgs[0].Content)
	}

	// A missing directory means no override.
	if _, err := loadPrompts(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing override dir: %v", err)
	}
}

func TestPromptOverrideErrorsNameTheFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, text, want string
	}{
		{"parse error", PromptResearcher, "{{if .Problem}}unclosed", "researcher.tmpl"},
		{"unknown field", PromptAnalyzer, "{{.NoSuchField}}", "NoSuchField"},
		{"unknown field in a branch", PromptResearcher, "{{range .Knowledge}}{{.Titel}}{{end}}", "Titel"},
		{"unknown template", "reseacher.tmpl", "x", "not a known prompt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, tc.file)
			if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := NewLLMResearcher(&LLM{cfg: evolve.APIConfig{Model: "m"}}, evolve.DefaultConfig("x"), dir)
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to name %s and %q", err, file, tc.want)
			}
		})
	}
}

func TestDefaultPromptsRenderForEveryInput(t *testing.T) {
	r, err := NewLLMResearcher(&LLM{cfg: evolve.APIConfig{Model: "m"}}, evolve.DefaultConfig("x"), "")
	if err != nil {
		t.Fatal(err)
	}
	// An input with nothing optional: no knowledge, inspirations, failures,
	// score or editable list.
	bare := evolve.ResearchInput{Parent: evolve.Node{Files: map[string]string{"a.go": "package a\n"}}}
	msgs, err := r.Prompt(bare)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"Relevant knowledge", "inspiration", "What did not work", "Score:"} {
		if strings.Contains(msgs[1].Content, absent) {
			t.Errorf("bare prompt mentions %q:\n%s", absent, msgs[1].Content)
		}
	}
	if !strings.Contains(msgs[1].Content, "```go\npackage a\n```") || !strings.Contains(msgs[1].Content, "Editable files: a.go") {
		t.Errorf("bare prompt:\n%s", msgs[1].Content)
	}

	cfg := evolve.DefaultConfig("x")
	cfg.Eval.Direction = evolve.Minimize
	r, _ = NewLLMResearcher(&LLM{cfg: evolve.APIConfig{Model: "m"}}, cfg, "")
	msgs, _ = r.Prompt(bare)
	if !strings.Contains(msgs[0].Content, "Lower scores are better") {
		t.Errorf("minimize not told:\n%s", msgs[0].Content)
	}
}

func TestCodeBlockFence(t *testing.T) {
	for _, tc := range []struct{ path, content, want string }{
		{"a.py", "x = 1\n", "```python\nx = 1\n```"},
		{"a.txt", "no newline", "```\nno newline\n```"},
		{"README.md", "```go\nx\n```\n", "````markdown\n```go\nx\n```\n````"},
		{"", "", "```\n```"},
	} {
		if got := codeBlock(tc.path, tc.content); got != tc.want {
			t.Errorf("codeBlock(%q, %q) = %q, want %q", tc.path, tc.content, got, tc.want)
		}
	}
}

func TestTitleOr(t *testing.T) {
	if got := titleOr("", "first line\nsecond", "fb"); got != "first line" {
		t.Errorf("titleOr from motivation = %q", got)
	}
	if got := titleOr("", strings.Repeat("é", 100), "fb"); len([]rune(got)) != 72 {
		t.Errorf("long motivation title has %d runes", len([]rune(got)))
	}
	if got := titleOr("", "  ", "fb"); got != "fb" {
		t.Errorf("fallback = %q", got)
	}
}

func BenchmarkResearchPrompt(b *testing.B) {
	r, err := NewLLMResearcher(&LLM{cfg: evolve.APIConfig{Model: "m"}}, evolve.DefaultConfig("x"), "")
	if err != nil {
		b.Fatal(err)
	}
	in := testInput()
	code := bigProgram()
	in.Parent.Files = map[string]string{progPath: code}
	for i := range in.Inspirations {
		in.Inspirations[i].Files = map[string]string{progPath: code}
	}
	in.Inspirations = append(in.Inspirations, in.Inspirations[0])
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Prompt(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyReply(b *testing.B) {
	r, err := NewLLMResearcher(&LLM{cfg: evolve.APIConfig{Model: "m"}}, evolve.DefaultConfig("x"), "")
	if err != nil {
		b.Fatal(err)
	}
	code := bigProgram()
	parent := map[string]string{progPath: code}
	reply := "TITLE: t\nMOTIVATION: m\n\n" + progPath + "\n<<<<<<< SEARCH\ndef f700(a, b):\n=======\ndef g700(a, b):\n>>>>>>> REPLACE\n"
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.apply(reply, "stop", parent, []string{progPath}); err != nil {
			b.Fatal(err)
		}
	}
}
