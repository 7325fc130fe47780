package agents

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/git-evolve/git-evolve/evolve"
)

// Prompt templates. Each is a Go text/template file; an experiment overrides
// one by putting a file of the same name in experiments/<exp>/prompts/.
const (
	PromptResearcherSystem = "researcher_system.tmpl"
	PromptResearcher       = "researcher.tmpl"
	PromptResearcherRetry  = "researcher_retry.tmpl"
	PromptAnalyzerSystem   = "analyzer_system.tmpl"
	PromptAnalyzer         = "analyzer.tmpl"
)

var promptNames = []string{PromptResearcherSystem, PromptResearcher, PromptResearcherRetry, PromptAnalyzerSystem, PromptAnalyzer}

//go:embed prompts/*.tmpl
var builtinPrompts embed.FS

// DefaultPrompt returns the built-in text of a prompt template, e.g. for
// `git evolve init` to copy into an experiment.
func DefaultPrompt(name string) (string, bool) {
	b, err := builtinPrompts.ReadFile("prompts/" + name)
	return string(b), err == nil
}

// prompts holds the parsed templates and where each came from.
type prompts struct {
	tmpl   map[string]*template.Template
	origin map[string]string
}

// loadPrompts parses the built-in templates, replacing each by the file of
// the same name in dir when there is one. dir may be "" or missing. A file in
// dir ending in .tmpl that is not a known prompt is an error (a misspelt
// override must not be silently ignored), and so is a template that does not
// parse or does not execute on sample data; errors name the file.
func loadPrompts(dir string) (*prompts, error) {
	p := &prompts{tmpl: map[string]*template.Template{}, origin: map[string]string{}}
	for _, name := range promptNames {
		text, _ := DefaultPrompt(name)
		p.origin[name] = "built-in prompts/" + name
		if dir != "" {
			file := filepath.Join(dir, name)
			b, err := os.ReadFile(file)
			switch {
			case err == nil:
				text, p.origin[name] = string(b), file
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("read prompt template: %w", err)
			}
		}
		t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("prompt template %s: %w", p.origin[name], err)
		}
		p.tmpl[name] = t
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read prompt directory: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".tmpl") || p.tmpl[e.Name()] != nil {
				continue
			}
			return nil, fmt.Errorf("prompt template %s is not a known prompt (known: %s)",
				filepath.Join(dir, e.Name()), strings.Join(promptNames, ", "))
		}
	}
	for name, data := range sampleData() {
		if _, err := p.render(name, data); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *prompts) render(name string, data any) (string, error) {
	var b strings.Builder
	if err := p.tmpl[name].Execute(&b, data); err != nil {
		return "", fmt.Errorf("prompt template %s: %w", p.origin[name], err)
	}
	return b.String(), nil
}

var templateFuncs = template.FuncMap{
	"code":    codeBlock,
	"join":    func(list []string, sep string) string { return strings.Join(list, sep) },
	"inc":     func(i int) int { return i + 1 },
	"oneline": oneline,
	"last":    lastChars,
	"trim":    strings.TrimSpace,
}

// codeBlock fences content in a markdown code block whose fence is longer
// than any run of backticks inside it; the language is guessed from path.
func codeBlock(path, content string) string {
	longest, run := 0, 0
	for _, c := range content {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return fence + language(path) + "\n" + content + fence
}

func language(p string) string {
	if p == "diff" {
		return "diff"
	}
	switch strings.ToLower(filepath.Ext(p)) {
	case ".py":
		return "python"
	case ".go":
		return "go"
	case ".js", ".mjs":
		return "javascript"
	case ".ts":
		return "typescript"
	case ".rs":
		return "rust"
	case ".c", ".h":
		return "c"
	case ".cc", ".cpp", ".cxx", ".hpp", ".cu", ".cuh":
		return "cpp"
	case ".java":
		return "java"
	case ".jl":
		return "julia"
	case ".rb":
		return "ruby"
	case ".sh", ".bash":
		return "bash"
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	case ".md":
		return "markdown"
	}
	return ""
}

// oneline collapses whitespace and keeps at most 300 characters.
func oneline(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// lastChars keeps the last n characters of s.
func lastChars(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n:])
}

// KeyValue is one metric as shown in a prompt.
type KeyValue struct{ Key, Value string }

// NodeView is a candidate as the prompt templates see it.
type NodeView struct {
	ID, Short, Title string
	Status           string
	HasScore         bool
	Score            string
	Metrics          []KeyValue // sorted by key
	Motivation       string
	Feedback         string
	Reason           string
	StderrTail       string // at most 2000 characters
	Analysis         string
	Lessons          []string
	Files            []FileView // editable files first, in their order
}

// FileView is one file of a NodeView.
type FileView struct{ Path, Content string }

// ResearchPrompt is the data of researcher_system.tmpl and researcher.tmpl.
type ResearchPrompt struct {
	Exp           string
	Step          int
	Problem       string
	Direction     string // "maximize" or "minimize"
	Knowledge     []evolve.Knowledge
	Parent        NodeView
	Inspirations  []NodeView
	Failures      []NodeView
	Editable      []string
	DiffBased     bool
	ReplyFormat   string // EditFormatHelp or RewriteFormatHelp
	MaxCodeLength int
}

// RetryPrompt is the data of researcher_retry.tmpl.
type RetryPrompt struct {
	Error     string
	DiffBased bool
	Truncated bool
	Editable  []string
}

func formatScore(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return strconv.FormatFloat(s, 'g', -1, 64)
	}
	return strconv.FormatFloat(s, 'g', 10, 64)
}

func formatMetric(v any) string {
	switch x := v.(type) {
	case float64:
		return formatScore(x)
	case string:
		if strings.ContainsAny(x, " \t\n=") {
			return strconv.Quote(x)
		}
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func viewNode(n evolve.Node, editable []string) NodeView {
	v := NodeView{ID: n.ID, Short: n.Short(), Title: n.Title(), Status: string(n.Status())}
	if s, ok := n.Score(); ok {
		v.HasScore, v.Score = true, formatScore(s)
	}
	if e := n.Evaluated; e != nil {
		keys := make([]string, 0, len(e.Metrics))
		for k := range e.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v.Metrics = append(v.Metrics, KeyValue{k, formatMetric(e.Metrics[k])})
		}
		v.Feedback, v.Reason = strings.TrimSpace(e.Feedback), strings.TrimSpace(e.Reason)
		v.StderrTail = lastChars(2000, strings.TrimSpace(e.StderrTail))
	}
	if p := n.Proposed; p != nil {
		v.Motivation = strings.TrimSpace(p.Motivation)
	}
	if a := n.Analyzed; a != nil {
		v.Analysis, v.Lessons = strings.TrimSpace(a.Analysis), a.Lessons
	}
	v.Files = viewFiles(n.Files, editable)
	return v
}

// viewFiles lists files in the order of editable, then the others sorted.
func viewFiles(files map[string]string, editable []string) []FileView {
	var out []FileView
	seen := map[string]bool{}
	for _, p := range editable {
		if c, ok := files[p]; ok && !seen[p] {
			out = append(out, FileView{p, c})
			seen[p] = true
		}
	}
	var rest []string
	for p := range files {
		if !seen[p] {
			rest = append(rest, p)
		}
	}
	sort.Strings(rest)
	for _, p := range rest {
		out = append(out, FileView{p, files[p]})
	}
	return out
}

// sampleData exercises every field of every template, so that an override
// referring to a field that does not exist fails when it is loaded, not in
// the middle of a run.
func sampleData() map[string]any {
	score := 1.5
	node := evolve.Node{
		Candidate: evolve.Candidate{ID: "0123456789abcdef0123456789abcdef01234567", Record: evolve.Fold([]evolve.Event{
			{Event: evolve.EventProposed, Title: "t", Motivation: "m"},
			{Event: evolve.EventEvaluated, Status: evolve.StatusOK, Score: &score, Metrics: map[string]any{"a": 1.0},
				Feedback: "f", Reason: "r", StderrTail: "e"},
			{Event: evolve.EventAnalyzed, Analysis: "a", Lessons: []string{"l"}},
		})},
		Files: map[string]string{"a.py": "x = 1\n"},
	}
	v := viewNode(node, []string{"a.py"})
	research := ResearchPrompt{Exp: "e", Step: 1, Problem: "p", Direction: string(evolve.Maximize),
		Knowledge: []evolve.Knowledge{{ID: "k", Title: "t", Content: "c", Source: "s", Score: 1}},
		Parent:    v, Inspirations: []NodeView{v}, Failures: []NodeView{v}, Editable: []string{"a.py"},
		DiffBased: true, ReplyFormat: EditFormatHelp, MaxCodeLength: 10}
	analysis := AnalysisPrompt{Exp: "e", Problem: "p", Direction: string(evolve.Maximize), Candidate: v,
		Parent: &v, Best: &v, BestIsCandidate: true, Diff: "d", Delta: "+1"}
	return map[string]any{
		PromptResearcherSystem: research,
		PromptResearcher:       research,
		PromptResearcherRetry:  RetryPrompt{Error: "e", DiffBased: true, Truncated: true, Editable: []string{"a.py"}},
		PromptAnalyzerSystem:   analysis,
		PromptAnalyzer:         analysis,
	}
}

// LLMResearcher designs candidates with a chat model: it renders the prompt
// templates, asks the model for a title, a motivation and SEARCH/REPLACE
// edits (or whole files when pipeline.diff_based_evolution is false), and
// applies them to the parent's editable files.
type LLMResearcher struct {
	llm       *LLM
	prompts   *prompts
	diffBased bool
	maxCode   int
	direction evolve.Direction
}

// NewLLMResearcher builds a Researcher on llm. cfg gives
// pipeline.diff_based_evolution, pipeline.max_code_length and eval.direction;
// promptDir (experiments/<exp>/prompts, may be "" or missing) holds template
// overrides. Template errors name the file.
func NewLLMResearcher(llm *LLM, cfg evolve.Config, promptDir string) (*LLMResearcher, error) {
	p, err := loadPrompts(promptDir)
	if err != nil {
		return nil, err
	}
	return &LLMResearcher{llm: llm, prompts: p, diffBased: cfg.Pipeline.DiffBasedEvolution,
		maxCode: cfg.Pipeline.MaxCodeLength, direction: cfg.Eval.Direction}, nil
}

// Name is the model.
func (r *LLMResearcher) Name() string { return r.llm.Model() }

// Prompt renders the system and user messages for in.
func (r *LLMResearcher) Prompt(in evolve.ResearchInput) ([]Message, error) {
	editable := editableOf(in)
	data := ResearchPrompt{Exp: in.Exp, Step: in.Step, Problem: strings.TrimSpace(in.Problem),
		Direction: string(direction(r.direction)), Knowledge: in.Knowledge,
		Parent: viewNode(in.Parent, editable), Editable: editable, DiffBased: r.diffBased,
		ReplyFormat: RewriteFormatHelp, MaxCodeLength: r.maxCode}
	if r.diffBased {
		data.ReplyFormat = EditFormatHelp
	}
	for _, n := range in.Inspirations {
		data.Inspirations = append(data.Inspirations, viewNode(n, editable))
	}
	for _, n := range in.Failures {
		f := viewNode(n, editable)
		f.Files = nil
		data.Failures = append(data.Failures, f)
	}
	system, err := r.prompts.render(PromptResearcherSystem, data)
	if err != nil {
		return nil, err
	}
	user, err := r.prompts.render(PromptResearcher, data)
	if err != nil {
		return nil, err
	}
	return []Message{{Role: RoleSystem, Content: system}, {Role: RoleUser, Content: user}}, nil
}

// Propose asks the model for the next candidate. A reply that is empty, cut
// short (finish_reason "length"), does not parse, does not apply (a SEARCH
// part matching nothing or more than once, an edit outside the editable
// files or their EVOLVE-BLOCK region, no change at all) or makes the code
// longer than pipeline.max_code_length is sent back once with the precise
// error; when the second reply fails too, the Proposal has Invalid set and
// the parent's files, and the error is nil. An error is returned only when a
// call fails (endpoint, authentication — *AuthError —, budget, cancellation);
// the Proposal then still holds the tokens and cost spent. Tokens and CostUSD
// sum every call of the step.
func (r *LLMResearcher) Propose(ctx context.Context, in evolve.ResearchInput, _ *rand.Rand) (evolve.Proposal, error) {
	prop := evolve.Proposal{Model: r.llm.Model()}
	editable := editableOf(in)
	msgs, err := r.Prompt(in)
	if err != nil {
		return prop, err
	}
	const rounds = 2
	var problem string
	for round := 1; round <= rounds; round++ {
		reply, usage, finish, err := r.llm.Chat(ctx, msgs)
		prop.Tokens = prop.Tokens.Add(usage)
		prop.CostUSD += r.llm.Cost(r.llm.Model(), usage)
		if err != nil {
			return prop, fmt.Errorf("researcher: %w", err)
		}
		if title, motivation := ParseReplyMeta(reply); title != "" || motivation != "" {
			prop.Title, prop.Motivation = title, motivation
		}
		files, perr := r.apply(reply, finish, in.Parent.Files, editable)
		if perr == nil {
			prop.Files = toBytes(files)
			prop.Title = titleOr(prop.Title, prop.Motivation, "change proposed by "+r.llm.Model())
			return prop, nil
		}
		problem = perr.Error()
		if round == rounds {
			break
		}
		retry, err := r.prompts.render(PromptResearcherRetry, RetryPrompt{Error: problem, DiffBased: r.diffBased,
			Truncated: finish == "length", Editable: editable})
		if err != nil {
			return prop, err
		}
		if strings.TrimSpace(reply) != "" {
			msgs = append(msgs, Message{Role: RoleAssistant, Content: reply})
		}
		msgs = append(msgs, Message{Role: RoleUser, Content: retry})
	}
	prop.Invalid = "the reply could not be used, even after the error was sent back once: " + problem
	prop.Files = toBytes(in.Parent.Files)
	prop.Title = titleOr(prop.Title, prop.Motivation, "invalid reply from "+r.llm.Model())
	return prop, nil
}

// apply turns a reply into the new editable files, or says precisely why it
// cannot.
func (r *LLMResearcher) apply(reply, finish string, parent map[string]string, editable []string) (map[string]string, error) {
	if strings.TrimSpace(reply) == "" {
		if finish == "length" {
			return nil, errors.New("the reply was empty: it was cut off at the length limit before any text (finish_reason \"length\")")
		}
		return nil, errors.New("the reply was empty")
	}
	if finish == "length" {
		return nil, fmt.Errorf("the reply was cut off at the length limit (finish_reason \"length\", api.max_tokens %d), so its edits may be incomplete",
			r.llm.cfg.MaxTokens)
	}
	var files map[string]string
	var err error
	if r.diffBased {
		var edits []Edit
		edits, err = ParseEdits(reply)
		switch {
		case errors.Is(err, ErrNoEdits):
			// The design allows a whole file as a fallback, but only when it
			// looks like one: a short snippet is not a rewrite.
			if rw, rerr := ParseFullRewrite(reply, editable); rerr == nil && wholeFiles(rw, parent) {
				files, err = ApplyRewrite(parent, editable, rw)
			}
		case err == nil:
			files, err = ApplyEdits(parent, editable, edits)
		}
	} else {
		var rw map[string]string
		if rw, err = ParseFullRewrite(reply, editable); err == nil {
			files, err = ApplyRewrite(parent, editable, rw)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := CheckCodeLength(files, r.maxCode); err != nil {
		return nil, err
	}
	return files, nil
}

// wholeFiles reports whether every rewritten file has at least half the lines
// of the file it replaces.
func wholeFiles(rw, parent map[string]string) bool {
	for p, c := range rw {
		if old, ok := parent[p]; ok && 2*strings.Count(c, "\n") < strings.Count(old, "\n") {
			return false
		}
	}
	return len(rw) > 0
}

func editableOf(in evolve.ResearchInput) []string {
	if len(in.Editable) > 0 {
		return in.Editable
	}
	paths := make([]string, 0, len(in.Parent.Files))
	for p := range in.Parent.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

func direction(d evolve.Direction) evolve.Direction {
	if d == evolve.Minimize {
		return d
	}
	return evolve.Maximize
}

func toBytes(files map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}

// titleOr returns title, else the first line of motivation (shortened), else
// fallback.
func titleOr(title, motivation, fallback string) string {
	if title != "" {
		return title
	}
	if line, _, _ := strings.Cut(strings.TrimSpace(motivation), "\n"); line != "" {
		if r := []rune(line); len(r) > 72 {
			line = string(r[:71]) + "…"
		}
		return line
	}
	return fallback
}

var _ evolve.Researcher = (*LLMResearcher)(nil)
