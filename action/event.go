package action

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-github/v62/github"
)

// ErrNotPullRequest: the workflow was not triggered by a pull request.
var ErrNotPullRequest = errors.New("not a pull request event")

// ErrForkRefused: a fork's pull request on a self-hosted runner without allow-forks.
var ErrForkRefused = errors.New("pull request from a fork refused")

// PullRequest is what the Action needs from a pull request event.
type PullRequest struct {
	Number   int
	Title    string
	Body     string
	URL      string
	HeadSHA  string
	HeadRef  string
	HeadRepo string // owner/name of the head's repository; "" when the fork was deleted
	BaseSHA  string
	BaseRef  string
	BaseRepo string
}

// Fork reports whether the head lives in another repository than the base.
func (p PullRequest) Fork() bool {
	return p.HeadRepo == "" || !strings.EqualFold(p.HeadRepo, p.BaseRepo)
}

// Event is the event that triggered a workflow run.
type Event struct {
	Name        string       // GITHUB_EVENT_NAME, e.g. pull_request, workflow_dispatch
	Repository  string       // owner/name from the payload, when it has one
	PullRequest *PullRequest // set for pull_request and pull_request_target events
}

// ReadEvent reads the payload at path (GITHUB_EVENT_PATH) of event name
// (GITHUB_EVENT_NAME).
func ReadEvent(name, path string) (Event, error) {
	if name == "" {
		return Event{}, errors.New("GITHUB_EVENT_NAME is not set: run inside a GitHub Actions workflow")
	}
	if path == "" {
		return Event{Name: name}, fmt.Errorf("GITHUB_EVENT_PATH is not set for the %s event", name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Event{Name: name}, fmt.Errorf("read the event payload (GITHUB_EVENT_PATH): %w", err)
	}
	return ParseEvent(name, b)
}

// ParseEvent decodes an event payload. Pull request events must carry a
// pull_request object with head and base commits.
func ParseEvent(name string, payload []byte) (Event, error) {
	ev := Event{Name: name}
	var generic struct {
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	if err := json.Unmarshal(payload, &generic); err != nil {
		return ev, fmt.Errorf("event payload of %s is not JSON: %w", name, err)
	}
	if generic.Repository != nil {
		ev.Repository = generic.Repository.FullName
	}
	if !isPullRequestEvent(name) {
		return ev, nil
	}
	var pe github.PullRequestEvent
	if err := json.Unmarshal(payload, &pe); err != nil {
		return ev, fmt.Errorf("event payload of %s is not a pull request payload: %w", name, err)
	}
	pr := pe.GetPullRequest()
	if pr == nil || pr.GetHead().GetSHA() == "" || pr.GetBase().GetSHA() == "" {
		return ev, fmt.Errorf("%w: the %s payload has no pull_request with head and base commits", ErrNotPullRequest, name)
	}
	n := pr.GetNumber()
	if n == 0 {
		n = pe.GetNumber()
	}
	ev.PullRequest = &PullRequest{
		Number: n, Title: pr.GetTitle(), Body: pr.GetBody(), URL: pr.GetHTMLURL(),
		HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(), HeadRepo: pr.GetHead().GetRepo().GetFullName(),
		BaseSHA: pr.GetBase().GetSHA(), BaseRef: pr.GetBase().GetRef(), BaseRepo: pr.GetBase().GetRepo().GetFullName(),
	}
	if ev.PullRequest.BaseRepo == "" {
		ev.PullRequest.BaseRepo = ev.Repository
	}
	return ev, nil
}

func isPullRequestEvent(name string) bool {
	return name == "pull_request" || name == "pull_request_target"
}

// RequirePullRequest returns the event's pull request, or an error wrapping
// ErrNotPullRequest that names the event and what to do.
func (e Event) RequirePullRequest(what string) (*PullRequest, error) {
	if e.PullRequest != nil {
		return e.PullRequest, nil
	}
	return nil, fmt.Errorf("%w: %s needs a pull_request event, but this run was triggered by %q; trigger the workflow with `on: pull_request`",
		ErrNotPullRequest, what, e.Name)
}

// SelfHosted reports whether the runner may be a self-hosted one, from
// RUNNER_ENVIRONMENT ("github-hosted" or "self-hosted"). An unknown value
// counts as self-hosted: refusing is the safe side.
func SelfHosted(runnerEnvironment string) bool {
	return !strings.EqualFold(strings.TrimSpace(runnerEnvironment), "github-hosted")
}

// CheckFork refuses a pull request from a fork on a self-hosted runner
// unless allowForks: the pull request's code would run on a machine that
// holds secrets and outlives the job.
func CheckFork(pr PullRequest, selfHosted, allowForks bool) error {
	if !pr.Fork() || !selfHosted || allowForks {
		return nil
	}
	from := pr.HeadRepo
	if from == "" {
		from = "a deleted fork"
	}
	return fmt.Errorf("%w: pull request #%d comes from %s, not %s; git-evolve does not run a fork's code on a self-hosted runner, "+
		"because that is untrusted code on a machine with secrets (tokens, keys, other jobs' data) that outlives the job. "+
		"Review the pull request and set `allow-forks: true` to accept forks, or evaluate it on a GitHub-hosted runner",
		ErrForkRefused, pr.Number, from, pr.BaseRepo)
}

// Output is one job output.
type Output struct {
	Name, Value string
}

// WriteOutputs appends outputs to the file at path (GITHUB_OUTPUT), using
// the name<<DELIMITER form for values that span lines.
func WriteOutputs(path string, outputs []Output) error {
	if path == "" {
		return errors.New("GITHUB_OUTPUT is not set: run inside a GitHub Actions step")
	}
	var b strings.Builder
	for _, o := range outputs {
		if o.Name == "" || strings.ContainsAny(o.Name, "=\n<") {
			return fmt.Errorf("invalid output name %q", o.Name)
		}
		if !strings.ContainsAny(o.Value, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", o.Name, o.Value)
			continue
		}
		sum := sha256.Sum256([]byte(o.Value))
		delim := "ghadelimiter_" + hex.EncodeToString(sum[:8])
		for strings.Contains(o.Value, delim) {
			delim += "_"
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.Name, delim, o.Value, delim)
	}
	return appendFile(path, b.String(), "GITHUB_OUTPUT")
}

// AppendSummary appends markdown to the job summary at path
// (GITHUB_STEP_SUMMARY).
func AppendSummary(path, markdown string) error {
	if path == "" {
		return errors.New("GITHUB_STEP_SUMMARY is not set: run inside a GitHub Actions step")
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	return appendFile(path, markdown, "GITHUB_STEP_SUMMARY")
}

func appendFile(path, text, what string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s (%s): %w", path, what, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("write %s (%s): %w", path, what, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s (%s): %w", path, what, err)
	}
	return nil
}
