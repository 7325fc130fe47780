package evolve

import (
	"context"
	"math/rand/v2"
	"time"
)

// Store is what the step loop needs from the experiment store (implemented by
// package gitstore). Ids are full commit hashes.
type Store interface {
	// Candidates lists every candidate of exp with its folded record, its parent
	// candidate and its children count. The baseline is marked.
	Candidates(ctx context.Context, exp string) ([]Candidate, error)
	// EnsureBaseline returns the experiment's baseline, creating it (commit,
	// ref and a proposed event) on top of req.Parent (a revision; "" = HEAD)
	// when it does not exist yet.
	EnsureBaseline(ctx context.Context, req BaselineRequest) (id string, created bool, err error)
	// Commit creates a candidate: a commit whose first parent is req.Parent and
	// whose tree is the parent's with req.Files replaced, its ref, and its
	// proposed event. Files outside req.Allowed are refused.
	Commit(ctx context.Context, req CommitRequest) (id string, err error)
	// Append records events on the note of candidate id.
	Append(ctx context.Context, id string, events ...Event) error
	// Files reads files of a candidate's tree; a missing path is absent from
	// the map, not an error.
	Files(ctx context.Context, id string, paths []string) (map[string][]byte, error)
	// Checkout makes dir hold exactly the tree of candidate id, rewriting only
	// what differs from what the previous Checkout into dir wrote.
	Checkout(ctx context.Context, id string, dir string) error
}

// BaselineRequest creates the root of an experiment's DAG.
type BaselineRequest struct {
	Exp    string
	Parent string // revision the experiment starts from; "" = HEAD
	When   time.Time
	By     string
}

// CommitRequest creates one candidate.
type CommitRequest struct {
	Exp      string
	Parent   string            // full id of the parent candidate
	Files    map[string][]byte // repo-relative path (slash separated) -> new content
	Allowed  []string          // evolve.files patterns (path.Match, plus "**" for any depth)
	Message  CommitMessage
	Proposed Event // recorded as the first note line; Exp, At, Event filled if empty
	When     time.Time
}

// Node is a candidate with the code of its editable files, as shown to agents.
type Node struct {
	Candidate
	Files map[string]string // path -> content of each editable file
}

// Knowledge is one cognition item retrieved for a prompt.
type Knowledge struct {
	ID      string
	Title   string
	Content string
	Source  string // "file:experiments/x/cognition/a.md", "lesson:<short id>", "added"
	Score   float64
}

// Retriever finds knowledge relevant to a query (implemented by package cognition).
type Retriever interface {
	Retrieve(ctx context.Context, exp, query string, k int, threshold float64) ([]Knowledge, error)
}

// Selection is what a Sampler chose.
type Selection struct {
	Parent       string   // full id
	Inspirations []string // full ids, without Parent, no duplicates
	Sampler      string   // algorithm name recorded in the proposed event
	Island       *int     // island of the new candidate (island sampler only)
	Explain      []string // one line per consideration, for `sample --explain`
}

// Sampler chooses a parent and inspirations from a population.
// Implementations are deterministic for a given rng state and population.
type Sampler interface {
	Name() string
	Sample(pop []Candidate, n int, rng *rand.Rand) (Selection, error)
	// Release tells the sampler that an in-flight sample of parent is finished
	// (its child is now in the DAG or was abandoned).
	Release(parent string)
}

// ResearchInput is everything the Researcher is shown.
type ResearchInput struct {
	Exp          string
	Problem      string // input.md
	Parent       Node
	Inspirations []Node
	Failures     []Node // recent failed attempts: "what did not work"
	Knowledge    []Knowledge
	Editable     []string // editable file paths (repo-relative)
	Step         int
}

// Proposal is the Researcher's answer: the new contents of the editable files.
// When Invalid is set, the edits could not be applied (after one retry) and Files
// equals the parent's files.
type Proposal struct {
	Title      string
	Motivation string
	Files      map[string][]byte
	Model      string
	Tokens     Tokens
	CostUSD    float64
	Invalid    string // reason the reply could not be applied
}

// Researcher designs the next candidate.
type Researcher interface {
	Name() string // "offline" or the model
	Propose(ctx context.Context, in ResearchInput, rng *rand.Rand) (Proposal, error)
}

// EvalRequest asks the Engineer to evaluate a workspace.
type EvalRequest struct {
	Exp       string
	Candidate string // full id
	Workspace string // directory holding the candidate's tree
	Script    string // absolute path of the evaluation script
	Program   string // absolute path of the first editable file ($1)
	WorkDir   string // absolute working directory (the experiment folder in the workspace)
	Timeout   time.Duration
	Config    EvalConfig
	KeyEnv    []string // variable names to remove from the environment (api.key_env ...)
}

// EvalResult is the outcome of an evaluation, ready to be written as an evaluated event.
type EvalResult struct {
	Status     Status
	Score      *float64
	Metrics    map[string]any
	Feedback   string
	Duration   time.Duration
	ExitCode   *int
	Signal     string
	Reason     string
	StderrTail string
	StdoutTail string
}

// Engineer runs evaluations.
type Engineer interface {
	Evaluate(ctx context.Context, req EvalRequest) EvalResult
}

// AnalysisInput is what the Analyzer compares.
type AnalysisInput struct {
	Exp       string
	Problem   string
	Candidate Node
	Parent    *Node
	Best      *Node
	Direction Direction
}

// Analysis is the Analyzer's answer.
type Analysis struct {
	Text    string
	Lessons []string // at most 5
	Model   string
	Tokens  Tokens
	CostUSD float64
}

// Analyzer distills lessons from an evaluated candidate.
type Analyzer interface {
	Analyze(ctx context.Context, in AnalysisInput) (Analysis, error)
}

// Event builders keep the loop and the commands writing the same fields.

// EvaluatedEvent converts an EvalResult into an evaluated event.
func EvaluatedEvent(exp string, at time.Time, by string, r EvalResult) Event {
	return Event{
		V: FormatVersion, Exp: exp, Event: EventEvaluated, At: at, By: by,
		Status: r.Status, Score: r.Score, Metrics: r.Metrics, Feedback: r.Feedback,
		DurationMS: r.Duration.Milliseconds(), ExitCode: r.ExitCode, Signal: r.Signal,
		Reason: r.Reason, StderrTail: r.StderrTail, StdoutTail: r.StdoutTail,
	}
}

// AnalyzedEvent converts an Analysis into an analyzed event.
func AnalyzedEvent(exp string, at time.Time, by string, a Analysis) Event {
	e := Event{V: FormatVersion, Exp: exp, Event: EventAnalyzed, At: at, By: by,
		Analysis: a.Text, Lessons: a.Lessons, Model: a.Model, CostUSD: a.CostUSD}
	if a.Tokens.Total() > 0 {
		t := a.Tokens
		e.Tokens = &t
	}
	return e
}
