package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is a stateful fake of the parts of GitHub's REST API that
// git-evolve uses, served on 127.0.0.1 under the path prefix /api-v3/ (as
// GitHub Enterprise Server serves it). Requests without the bearer token
// get 401; anything it does not know fails the test.
type fakeGitHub struct {
	t     *testing.T
	srv   *httptest.Server
	token string
	repo  string // owner/name it serves

	mu       sync.Mutex
	pulls    map[int]*fakePull
	comments map[int][]*fakeComment
	nextID   int64
	calls    []string          // "METHOD /path" of every API request
	fail     map[string]int    // "METHOD /path" -> status to answer instead
	perPage  int               // comments per page (GitHub's default is 30)
	headers  map[string]string // extra headers on failures
}

type fakePull struct {
	Number int
	Head   string
	Base   string
	Title  string
	Body   string
	Draft  bool
}

type fakeComment struct {
	ID   int64
	Body string
}

func newFakeGitHub(t *testing.T, repo string) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{t: t, token: "fake-token-123", repo: repo, pulls: map[int]*fakePull{}, comments: map[int][]*fakeComment{},
		nextID: 5000, fail: map[string]int{}, perPage: 30, headers: map[string]string{}}
	mux := http.NewServeMux()
	p := "/api-v3/repos/" + repo
	mux.HandleFunc("GET "+p+"/pulls/{n}", g.getPull)
	mux.HandleFunc("PATCH "+p+"/pulls/{n}", g.editPull)
	mux.HandleFunc("GET "+p+"/pulls", g.listPulls)
	mux.HandleFunc("POST "+p+"/pulls", g.createPull)
	mux.HandleFunc("GET "+p+"/issues/{n}/comments", g.listComments)
	mux.HandleFunc("POST "+p+"/issues/{n}/comments", g.createComment)
	mux.HandleFunc("PATCH "+p+"/issues/comments/{id}", g.editComment)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake GitHub: unexpected request %s %s", r.Method, r.URL)
		g.json(w, 404, map[string]any{"message": "Not Found"})
	})
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/api-v3")
		g.mu.Lock()
		g.calls = append(g.calls, key)
		status := g.fail[key]
		g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+g.token {
			g.json(w, 401, map[string]any{"message": "Bad credentials"})
			return
		}
		if status != 0 {
			for k, v := range g.headers {
				w.Header().Set(k, v)
			}
			g.json(w, status, map[string]any{"message": "Resource not accessible by integration"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// apiURL is what GITHUB_API_URL holds for the fake.
func (g *fakeGitHub) apiURL() string { return g.srv.URL + "/api-v3/" }

func (g *fakeGitHub) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGitHub) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		if c == key || strings.HasSuffix(key, "*") && strings.HasPrefix(c, strings.TrimSuffix(key, "*")) {
			n++
		}
	}
	return n
}

// openPull registers an open pull request.
func (g *fakeGitHub) openPull(n int, head, base string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pulls[n] = &fakePull{Number: n, Head: head, Base: base, Title: "pull " + strconv.Itoa(n)}
}

func (g *fakeGitHub) pullJSON(p *fakePull) map[string]any {
	return map[string]any{"number": p.Number, "title": p.Title, "body": p.Body, "draft": p.Draft, "state": "open",
		"html_url": fmt.Sprintf("https://github.example/%s/pull/%d", g.repo, p.Number),
		"head":     map[string]any{"ref": p.Head}, "base": map[string]any{"ref": p.Base}}
}

func (g *fakeGitHub) number(w http.ResponseWriter, r *http.Request) (int, bool) {
	n, err := strconv.Atoi(r.PathValue("n"))
	g.mu.Lock()
	_, ok := g.pulls[n]
	g.mu.Unlock()
	if err != nil || !ok {
		g.json(w, 404, map[string]any{"message": "Not Found"})
		return 0, false
	}
	return n, true
}

func (g *fakeGitHub) getPull(w http.ResponseWriter, r *http.Request) {
	if n, ok := g.number(w, r); ok {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.json(w, 200, g.pullJSON(g.pulls[n]))
	}
}

func decode(t *testing.T, r *http.Request) map[string]any {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
	}
	return m
}

func (g *fakeGitHub) editPull(w http.ResponseWriter, r *http.Request) {
	n, ok := g.number(w, r)
	if !ok {
		return
	}
	m := decode(g.t, r)
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pulls[n]
	if v, ok := m["title"].(string); ok {
		p.Title = v
	}
	if v, ok := m["body"].(string); ok {
		p.Body = v
	}
	g.json(w, 200, g.pullJSON(p))
}

func (g *fakeGitHub) listPulls(w http.ResponseWriter, r *http.Request) {
	owner := strings.Split(g.repo, "/")[0]
	head := r.URL.Query().Get("head")
	if !strings.HasPrefix(head, owner+":") || r.URL.Query().Get("state") != "open" {
		g.t.Errorf("list pulls: query %q, want head=%s:<branch>&state=open", r.URL.RawQuery, owner)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := []any{}
	for _, p := range g.pulls {
		if owner+":"+p.Head == head {
			out = append(out, g.pullJSON(p))
		}
	}
	g.json(w, 200, out)
}

func (g *fakeGitHub) createPull(w http.ResponseWriter, r *http.Request) {
	m := decode(g.t, r)
	p := &fakePull{}
	p.Head, _ = m["head"].(string)
	p.Base, _ = m["base"].(string)
	p.Title, _ = m["title"].(string)
	p.Body, _ = m["body"].(string)
	p.Draft, _ = m["draft"].(bool)
	if p.Head == "" || p.Base == "" || p.Title == "" {
		g.json(w, 422, map[string]any{"message": "Validation Failed"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p.Number = 100 + len(g.pulls)
	g.pulls[p.Number] = p
	g.json(w, 201, g.pullJSON(p))
}

func (g *fakeGitHub) listComments(w http.ResponseWriter, r *http.Request) {
	n, ok := g.number(w, r)
	if !ok {
		return
	}
	per := g.perPage
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	all := g.comments[n]
	from, to := min((page-1)*per, len(all)), min(page*per, len(all))
	if to < len(all) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/api-v3/repos/%s/issues/%d/comments?page=%d&per_page=%d>; rel="next"`, g.srv.URL, g.repo, n, page+1, per))
	}
	out := []any{}
	for _, c := range all[from:to] {
		out = append(out, map[string]any{"id": c.ID, "body": c.Body})
	}
	g.json(w, 200, out)
}

func (g *fakeGitHub) createComment(w http.ResponseWriter, r *http.Request) {
	n, ok := g.number(w, r)
	if !ok {
		return
	}
	body, _ := decode(g.t, r)["body"].(string)
	if len(body) > 65536 {
		g.json(w, 422, map[string]any{"message": "Body is too long (maximum is 65536 characters)"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	c := &fakeComment{ID: g.nextID, Body: body}
	g.comments[n] = append(g.comments[n], c)
	g.json(w, 201, map[string]any{"id": c.ID, "body": body, "html_url": fmt.Sprintf("https://github.example/%s/pull/%d#issuecomment-%d", g.repo, n, c.ID)})
}

func (g *fakeGitHub) editComment(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	body, _ := decode(g.t, r)["body"].(string)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, cs := range g.comments {
		for _, c := range cs {
			if c.ID == id {
				c.Body = body
				g.json(w, 200, map[string]any{"id": id, "body": body})
				return
			}
		}
	}
	g.json(w, 404, map[string]any{"message": "Not Found"})
}

// commentsOf returns the bodies of the comments on pull request n.
func (g *fakeGitHub) commentsOf(n int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.comments[n] {
		out = append(out, c.Body)
	}
	return out
}

// gitEnv gives git commands in tests an identity and no user config.
func gitEnv(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"),
		[]byte("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GITHUB_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
		"GITHUB_REPOSITORY", "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "RUNNER_ENVIRONMENT",
		"GITHUB_API_URL", "GITHUB_SERVER_URL"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// runCLI runs git-evolve in-process in dir with env added to the process's.
func runCLI(t *testing.T, dir string, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	code = Main(append([]string{"git-evolve", "-C", dir}, args...), IO{Out: &out, Err: &errb, Getenv: getenv, Now: time.Now})
	return out.String(), errb.String(), code
}

func mustCLI(t *testing.T, dir string, env map[string]string, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(t, dir, env, args...)
	if code != 0 {
		t.Fatalf("git-evolve %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fitRepo makes a repository with the scaffolded experiment "fit", a few
// offline steps, and a bare remote "origin" that has main.
func fitRepo(t *testing.T, steps int) (repo, remote string) {
	t.Helper()
	gitEnv(t)
	root := t.TempDir()
	repo, remote = filepath.Join(root, "repo"), filepath.Join(root, "remote.git")
	runGit(t, root, "init", "-q", "--bare", remote)
	runGit(t, root, "init", "-q", repo)
	mustCLI(t, repo, nil, "init", "fit")
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", "add experiment")
	runGit(t, repo, "remote", "add", "origin", remote)
	runGit(t, repo, "push", "-q", "origin", "main")
	if steps > 0 {
		mustCLI(t, repo, nil, "step", "-e", "fit", "--steps", strconv.Itoa(steps), "--offline", "--seed", "7")
	}
	return repo, remote
}

func ghEnv(g *fakeGitHub, extra map[string]string) map[string]string {
	env := map[string]string{"GITHUB_TOKEN": g.token, "GITHUB_API_URL": g.apiURL(), "GITHUB_REPOSITORY": g.repo,
		"GITHUB_SERVER_URL": "https://github.example"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestCommentFlow(t *testing.T) {
	repo, _ := fitRepo(t, 2)
	g := newFakeGitHub(t, "octo/fit")
	g.openPull(7, "feature", "main")
	// Many other comments: the leaderboard must be found past the first page.
	for i := 0; i < 45; i++ {
		g.comments[7] = append(g.comments[7], &fakeComment{ID: int64(i + 1), Body: fmt.Sprintf("review comment %d", i)})
	}
	env := ghEnv(g, nil)

	out := mustCLI(t, repo, env, "comment", "-e", "fit", "--pr", "7")
	if !strings.HasPrefix(out, "created the leaderboard comment on octo/fit#7: https://github.example/octo/fit/pull/7#issuecomment-") {
		t.Fatalf("first run: %q", out)
	}
	mustCLI(t, repo, nil, "step", "-e", "fit", "--steps", "1", "--offline", "--seed", "8")
	out = mustCLI(t, repo, env, "comment", "-e", "fit", "--pr", "7", "--top", "3")
	if !strings.HasPrefix(out, "updated the leaderboard comment on octo/fit#7") {
		t.Fatalf("second run: %q", out)
	}
	bodies := g.commentsOf(7)
	var ours []string
	for _, b := range bodies {
		if strings.HasPrefix(b, "<!-- git-evolve:leaderboard:fit -->") {
			ours = append(ours, b)
		}
	}
	if len(bodies) != 46 || len(ours) != 1 {
		t.Fatalf("%d comments, %d leaderboards; want 46 and 1", len(bodies), len(ours))
	}
	if !strings.Contains(ours[0], "**4** candidates") || !strings.Contains(ours[0], "https://github.example/octo/fit/commit/") {
		t.Errorf("the comment was not updated with the new candidate and links:\n%s", ours[0])
	}
	if g.count("POST /repos/octo/fit/issues/7/comments") != 1 || g.count("PATCH /repos/octo/fit/issues/comments/*") != 1 {
		t.Fatalf("calls: %v", g.calls)
	}

	// In a workflow the event names the pull request.
	evEnv := ghEnv(g, map[string]string{"GITHUB_EVENT_NAME": "pull_request",
		"GITHUB_EVENT_PATH": prEvent(t, 7, strings.Repeat("1", 40), "octo/fit", strings.Repeat("2", 40), "octo/fit")})
	if out := mustCLI(t, repo, evEnv, "comment", "-e", "fit"); !strings.HasPrefix(out, "updated the leaderboard comment on octo/fit#7") {
		t.Fatalf("comment from the event: %q", out)
	}

	// A pull request that does not exist.
	_, errs, code := runCLI(t, repo, env, "comment", "-e", "fit", "--pr", "99")
	if code != ExitError || !strings.Contains(errs, "pull request #99 does not exist in octo/fit") {
		t.Fatalf("missing pull request: exit %d, %q", code, errs)
	}
	// A token without permission to comment.
	g.fail["PATCH /repos/octo/fit/issues/comments/5001"] = 403
	g.headers["X-Accepted-GitHub-Permissions"] = "pull_requests=write"
	_, errs, code = runCLI(t, repo, env, "comment", "-e", "fit", "--pr", "7")
	if code != ExitError || !strings.Contains(errs, "403") || !strings.Contains(errs, "permissions: pull-requests: write") {
		t.Fatalf("forbidden: exit %d, %q", code, errs)
	}
	// A wrong token.
	env["GITHUB_TOKEN"] = "wrong"
	_, errs, _ = runCLI(t, repo, env, "comment", "-e", "fit", "--pr", "7")
	if !strings.Contains(errs, "401") || !strings.Contains(errs, "invalid or has expired") {
		t.Fatalf("bad token: %q", errs)
	}
}

func TestPullRequestFlow(t *testing.T) {
	repo, remote := fitRepo(t, 3)
	g := newFakeGitHub(t, "octo/fit")
	env := ghEnv(g, nil)
	// The best non-baseline candidate.
	var rows []leaderboardRow
	if err := json.Unmarshal([]byte(mustCLI(t, repo, nil, "log", "-e", "fit", "--all", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	var pick leaderboardRow
	for _, r := range rows {
		if !r.Baseline {
			pick = r
			break
		}
	}
	out := mustCLI(t, repo, env, "pr", pick.Short, "--draft", "--base", "main")
	branch := "evolve/fit/" + pick.Short
	if !strings.Contains(out, "pushed "+branch+" to origin") || !strings.Contains(out, "opened pull request #100: https://github.example/octo/fit/pull/100") {
		t.Fatalf("pr output:\n%s", out)
	}
	if got := runGit(t, remote, "rev-parse", "refs/heads/"+branch); got != pick.ID {
		t.Fatalf("remote branch at %s, want %s", got, pick.ID)
	}
	// The candidates and notes are on the remote too, for reviewers.
	if n := strings.Count(runGit(t, remote, "for-each-ref", "refs/evolve/fit/"), "\n") + 1; n != 4 {
		t.Fatalf("%d candidate refs on the remote, want 4", n)
	}
	runGit(t, remote, "rev-parse", "refs/notes/evolve")
	p := g.pulls[100]
	if p.Head != branch || p.Base != "main" || !p.Draft || p.Title != pick.Title {
		t.Fatalf("pull request = %+v, want head %s, draft, title %q", p, branch, pick.Title)
	}
	for _, want := range []string{"<!-- git-evolve:candidate:fit:" + pick.ID + " -->", "### Motivation", "### Score", "| **score** |",
		"baseline", "### Lineage", "### Reproduce the evaluation", "git evolve eval -e fit " + pick.Short} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("pull request body lacks %q:\n%s", want, p.Body)
		}
	}

	// Again: the same pull request is updated, not a second one opened.
	out = mustCLI(t, repo, env, "pr", pick.Short)
	if !strings.Contains(out, "updated pull request #100") || len(g.pulls) != 1 {
		t.Fatalf("second pr: %s (%d pull requests)", out, len(g.pulls))
	}
	if g.count("POST /repos/octo/fit/pulls") != 1 || g.count("PATCH /repos/octo/fit/pulls/100") != 1 {
		t.Fatalf("calls: %v", g.calls)
	}

	// GitHub refusing: the message names the permission.
	g.fail["PATCH /repos/octo/fit/pulls/100"] = 403
	_, errs, code := runCLI(t, repo, env, "pr", pick.Short)
	if code != ExitError || !strings.Contains(errs, "update pull request octo/fit#100") || !strings.Contains(errs, "pull-requests: write") {
		t.Fatalf("forbidden: exit %d, %q", code, errs)
	}
}
