package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/git-evolve/git-evolve/evolve"
)

// DefaultAPIURL is GitHub.com's REST API; Actions runners set GITHUB_API_URL.
const DefaultAPIURL = "https://api.github.com/"

// Errors callers may test with errors.Is; an *APIError wraps one of them.
var (
	// ErrNoToken: NewClient was given no token.
	ErrNoToken = errors.New("no GitHub token")
	// ErrUnauthorized: GitHub answered 401 (a bad or expired token).
	ErrUnauthorized = errors.New("GitHub rejected the token")
	// ErrForbidden: GitHub answered 403 (the token lacks a permission).
	ErrForbidden = errors.New("GitHub refused the request")
	// ErrNotFound: GitHub answered 404.
	ErrNotFound = errors.New("not found on GitHub")
	// ErrRateLimited: GitHub's rate limit did not reset within the wait allowed.
	ErrRateLimited = errors.New("rate limited by GitHub")
	// ErrServer: GitHub answered 5xx (or could not be reached) on every try.
	ErrServer = errors.New("GitHub is not answering")
	// ErrRejected: GitHub answered another 4xx, e.g. 422 for invalid input.
	ErrRejected = errors.New("GitHub rejected the request")
)

// Repo names a repository on GitHub.
type Repo struct {
	Owner string
	Name  string
}

// String is "owner/name".
func (r Repo) String() string { return r.Owner + "/" + r.Name }

// ParseRepo reads "owner/name" (as in GITHUB_REPOSITORY).
func ParseRepo(s string) (Repo, error) {
	owner, name, ok := strings.Cut(strings.TrimSpace(s), "/")
	name = strings.TrimSuffix(name, ".git")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Repo{}, fmt.Errorf("repository %q is not of the form owner/name", s)
	}
	return Repo{Owner: owner, Name: name}, nil
}

// RepoFromURL reads owner/name from a remote URL: https://host/owner/name(.git),
// ssh://git@host/owner/name.git or git@host:owner/name.git.
func RepoFromURL(remote string) (Repo, error) {
	s := strings.TrimSpace(remote)
	var p string
	switch {
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Repo{}, fmt.Errorf("remote URL %q names no GitHub repository", remote)
		}
		p = u.Path
	case strings.Contains(s, ":") && !strings.HasPrefix(s, "/"):
		_, p, _ = strings.Cut(s, ":") // scp-like git@host:owner/name.git
	default:
		return Repo{}, fmt.Errorf("remote %q is a local path, not a GitHub repository: set GITHUB_REPOSITORY or pass --repo owner/name", remote)
	}
	r, err := ParseRepo(strings.Trim(p, "/"))
	if err != nil {
		return Repo{}, fmt.Errorf("remote URL %q names no GitHub repository (want .../owner/name.git)", remote)
	}
	return r, nil
}

// ClientOptions configures NewClient.
type ClientOptions struct {
	Token      string        // required
	APIURL     string        // REST API root, e.g. GITHUB_API_URL; "" = DefaultAPIURL
	HTTPClient *http.Client  // nil = a client with a 60s timeout
	MaxWait    time.Duration // longest total wait for rate limits; 0 = 2 minutes
	Retries    int           // tries after a 5xx or network error; 0 = 3
	Backoff    time.Duration // wait before the first retry, doubled each time; 0 = 1s
}

// Client talks to the GitHub REST API through go-github.
type Client struct {
	gh      *github.Client
	maxWait time.Duration
	retries int
	backoff time.Duration
}

// NewClient returns a client for opt.APIURL authenticated with opt.Token.
// The API URL may end with a slash or not (GitHub Enterprise Server roots
// such as https://ghe.example.com/api/v3 work as they are).
func NewClient(opt ClientOptions) (*Client, error) {
	if strings.TrimSpace(opt.Token) == "" {
		return nil, ErrNoToken
	}
	api := opt.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	u, err := url.Parse(api)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("GitHub API URL %q is not an absolute URL (GITHUB_API_URL)", api)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	gh := github.NewClient(hc).WithAuthToken(strings.TrimSpace(opt.Token))
	gh.BaseURL = u
	gh.UserAgent = "git-evolve"
	c := &Client{gh: gh, maxWait: opt.MaxWait, retries: opt.Retries, backoff: opt.Backoff}
	if c.maxWait <= 0 {
		c.maxWait = 2 * time.Minute
	}
	if c.retries <= 0 {
		c.retries = 3
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	return c, nil
}

// APIError is a failed GitHub request, explained.
type APIError struct {
	Op         string // what was being done, e.g. "create the leaderboard comment on o/r#7"
	Status     int    // HTTP status; 0 when GitHub could not be reached
	Message    string // GitHub's own message
	Permission string // the workflow permission the operation needs, e.g. "pull-requests: write"
	Accepted   string // GitHub's X-Accepted-GitHub-Permissions header, when given
	Hint       string // what to do
	Kind       error  // ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrServer or ErrRejected
	Err        error  // go-github's error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op + ": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "GitHub answered %d %s", e.Status, http.StatusText(e.Status))
	} else {
		b.WriteString(e.Kind.Error())
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the kind of failure and go-github's error.
func (e *APIError) Unwrap() []error { return []error{e.Kind, e.Err} }

// op describes one GitHub operation for error messages.
type op struct {
	what       string // "create the leaderboard comment on o/r#7"
	permission string // "pull-requests: write"
	notFound   string // hint for a 404
}

// call runs fn until it succeeds, waiting out rate limits (at most
// c.maxWait in all) and retrying 5xx answers and network errors c.retries
// times with exponential backoff. Other failures return at once.
func (c *Client) call(ctx context.Context, o op, fn func() (*github.Response, error)) error {
	var waited time.Duration
	failures := 0
	for {
		resp, err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", o.what, ctx.Err())
		}
		wait, kind := c.classify(resp, err)
		apiErr := explain(o, resp, err, kind)
		switch kind {
		case ErrRateLimited:
			if waited+wait > c.maxWait {
				apiErr.Hint = fmt.Sprintf("the rate limit resets in %s, later than the %s git-evolve waits; try again later",
					wait.Round(time.Second), c.maxWait)
				return apiErr
			}
			waited += wait
		case ErrServer:
			if failures >= c.retries {
				apiErr.Hint = fmt.Sprintf("it failed %d times; try again later", failures+1)
				return apiErr
			}
			wait = c.backoff << failures
			failures++
		default:
			return apiErr
		}
		if err := evolve.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", o.what, err)
		}
	}
}

// classify says what kind of failure err is and, for rate limits, how long
// to wait.
func (c *Client) classify(resp *github.Response, err error) (time.Duration, error) {
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return untilReset(rl.Rate.Reset.Time), ErrRateLimited
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		if abuse.RetryAfter != nil {
			return max(*abuse.RetryAfter, 0), ErrRateLimited
		}
		return time.Minute, ErrRateLimited
	}
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	switch {
	case status == http.StatusTooManyRequests,
		status == http.StatusForbidden && resp.Header.Get("Retry-After") != "":
		return retryAfter(resp.Response), ErrRateLimited
	case status == http.StatusUnauthorized:
		return 0, ErrUnauthorized
	case status == http.StatusForbidden:
		return 0, ErrForbidden
	case status == http.StatusNotFound:
		return 0, ErrNotFound
	case status >= 500 || status == 0:
		return 0, ErrServer
	}
	return 0, ErrRejected
}

// untilReset is the wait until a rate limit's reset, plus a second because
// the reset time is given in whole seconds.
func untilReset(t time.Time) time.Duration {
	return max(time.Until(t), 0) + time.Second
}

// retryAfter reads Retry-After (seconds) or X-RateLimit-Reset (epoch
// seconds) of a 429 answer; a minute when neither is given.
func retryAfter(r *http.Response) time.Duration {
	if v := r.Header.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	if v := r.Header.Get("X-RateLimit-Reset"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return untilReset(time.Unix(n, 0))
		}
	}
	return time.Minute
}

// explain turns a failure into an *APIError with a message a person can act on.
func explain(o op, resp *github.Response, err error, kind error) *APIError {
	e := &APIError{Op: o.what, Permission: o.permission, Kind: kind, Err: err}
	if resp != nil && resp.Response != nil {
		e.Status = resp.StatusCode
		e.Accepted = resp.Header.Get("X-Accepted-GitHub-Permissions")
	}
	var ge *github.ErrorResponse
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &ge):
		e.Message = ge.Message
		for _, d := range ge.Errors {
			if d.Message != "" {
				e.Message += "; " + d.Message
			}
		}
	case errors.As(err, &rl):
		e.Message = rl.Message
	case errors.As(err, &abuse):
		e.Message = abuse.Message
	default:
		if e.Status == 0 {
			e.Message = err.Error()
		}
	}
	switch kind {
	case ErrUnauthorized:
		e.Hint = "the token is invalid or has expired; check the github-token input or the variable named by --token-env"
	case ErrForbidden:
		e.Hint = "the token lacks the permission " + o.permission +
			"; give the workflow job `permissions: " + o.permission + "` (or use a token that has it)"
		if e.Accepted != "" {
			e.Hint += "; GitHub accepts: " + e.Accepted
		}
	case ErrNotFound:
		e.Hint = o.notFound
	}
	return e
}

// CommentResult is what UpsertComment did.
type CommentResult struct {
	ID      int64
	URL     string
	Created bool // false: an existing comment was edited
}

// maxPages bounds the listing of comments and pull requests (100 per page).
const maxPages = 1000

// UpsertComment keeps one comment on pull request number whose body starts
// with marker: it looks through every page of the pull request's comments
// and edits the first such comment in place, or creates it when there is
// none. body must start with marker. It fails with an *APIError wrapping
// ErrNotFound when the pull request does not exist, ErrForbidden when the
// token may not comment, and so on.
func (c *Client) UpsertComment(ctx context.Context, repo Repo, number int, marker, body string) (CommentResult, error) {
	if !strings.HasPrefix(body, marker) {
		return CommentResult{}, errors.New("comment body must start with its marker")
	}
	if len(body) > MaxBody {
		return CommentResult{}, fmt.Errorf("comment body is %d bytes, more than GitHub's %d", len(body), MaxBody)
	}
	where := fmt.Sprintf("%s#%d", repo, number)
	read := op{what: "read pull request " + where, permission: "pull-requests: read",
		notFound: fmt.Sprintf("pull request #%d does not exist in %s, or the token cannot see it", number, repo)}
	err := c.call(ctx, read, func() (*github.Response, error) {
		_, resp, err := c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, number)
		return resp, err
	})
	if err != nil {
		return CommentResult{}, err
	}
	list := op{what: "list the comments of " + where, permission: "pull-requests: read", notFound: read.notFound}
	var found *github.IssueComment
	for page := 1; page > 0 && page <= maxPages && found == nil; {
		var comments []*github.IssueComment
		var next int
		err := c.call(ctx, list, func() (*github.Response, error) {
			cs, resp, err := c.gh.Issues.ListComments(ctx, repo.Owner, repo.Name, number,
				&github.IssueListCommentsOptions{ListOptions: github.ListOptions{Page: page, PerPage: 100}})
			comments = cs
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return CommentResult{}, err
		}
		for _, cm := range comments {
			if strings.HasPrefix(strings.TrimSpace(cm.GetBody()), marker) {
				found = cm
				break
			}
		}
		page = next
	}
	var out *github.IssueComment
	if found != nil {
		edit := op{what: fmt.Sprintf("edit the leaderboard comment %d on %s", found.GetID(), where),
			permission: "pull-requests: write", notFound: "the comment was deleted meanwhile; run again to create it"}
		err = c.call(ctx, edit, func() (*github.Response, error) {
			cm, resp, err := c.gh.Issues.EditComment(ctx, repo.Owner, repo.Name, found.GetID(), &github.IssueComment{Body: github.String(body)})
			out = cm
			return resp, err
		})
	} else {
		create := op{what: "create the leaderboard comment on " + where, permission: "pull-requests: write", notFound: read.notFound}
		err = c.call(ctx, create, func() (*github.Response, error) {
			cm, resp, err := c.gh.Issues.CreateComment(ctx, repo.Owner, repo.Name, number, &github.IssueComment{Body: github.String(body)})
			out = cm
			return resp, err
		})
	}
	if err != nil {
		return CommentResult{}, err
	}
	return CommentResult{ID: out.GetID(), URL: out.GetHTMLURL(), Created: found == nil}, nil
}

// PullRequestSpec describes the pull request of a promoted candidate.
type PullRequestSpec struct {
	Head  string // branch in the same repository, e.g. evolve/exp/1a2b3c4d
	Base  string // e.g. main
	Title string
	Body  string
	Draft bool // applies when the pull request is created
}

// PullRequestResult is what UpsertPullRequest did.
type PullRequestResult struct {
	Number  int
	URL     string
	Created bool // false: the open pull request of the branch was updated
}

// UpsertPullRequest opens a pull request from spec.Head into spec.Base, or
// updates the title and body of the open pull request whose head is
// spec.Head.
func (c *Client) UpsertPullRequest(ctx context.Context, repo Repo, spec PullRequestSpec) (PullRequestResult, error) {
	if spec.Head == "" || spec.Base == "" || strings.TrimSpace(spec.Title) == "" {
		return PullRequestResult{}, errors.New("a pull request needs a head branch, a base branch and a title")
	}
	if len(spec.Body) > MaxBody {
		return PullRequestResult{}, fmt.Errorf("pull request body is %d bytes, more than GitHub's %d", len(spec.Body), MaxBody)
	}
	notFound := fmt.Sprintf("repository %s does not exist or the token cannot see it", repo)
	list := op{what: fmt.Sprintf("look for an open pull request of %s in %s", spec.Head, repo), permission: "pull-requests: read", notFound: notFound}
	var existing *github.PullRequest
	err := c.call(ctx, list, func() (*github.Response, error) {
		prs, resp, err := c.gh.PullRequests.List(ctx, repo.Owner, repo.Name, &github.PullRequestListOptions{
			State: "open", Head: repo.Owner + ":" + spec.Head, ListOptions: github.ListOptions{PerPage: 100}})
		for _, pr := range prs {
			if pr.GetHead().GetRef() == spec.Head || pr.GetHead().GetRef() == "" {
				existing = pr
				break
			}
		}
		return resp, err
	})
	if err != nil {
		return PullRequestResult{}, err
	}
	var out *github.PullRequest
	if existing != nil {
		n := existing.GetNumber()
		edit := op{what: fmt.Sprintf("update pull request %s#%d", repo, n), permission: "pull-requests: write", notFound: notFound}
		err = c.call(ctx, edit, func() (*github.Response, error) {
			pr, resp, err := c.gh.PullRequests.Edit(ctx, repo.Owner, repo.Name, n,
				&github.PullRequest{Title: github.String(spec.Title), Body: github.String(spec.Body)})
			out = pr
			return resp, err
		})
	} else {
		create := op{what: fmt.Sprintf("open a pull request from %s into %s in %s", spec.Head, spec.Base, repo),
			permission: "pull-requests: write", notFound: notFound}
		err = c.call(ctx, create, func() (*github.Response, error) {
			pr, resp, err := c.gh.PullRequests.Create(ctx, repo.Owner, repo.Name, &github.NewPullRequest{
				Title: github.String(spec.Title), Head: github.String(spec.Head), Base: github.String(spec.Base),
				Body: github.String(spec.Body), Draft: github.Bool(spec.Draft)})
			out = pr
			return resp, err
		})
	}
	if err != nil {
		return PullRequestResult{}, err
	}
	return PullRequestResult{Number: out.GetNumber(), URL: out.GetHTMLURL(), Created: existing == nil}, nil
}
