package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "t0ken-for-tests"

var octo = Repo{Owner: "octo", Name: "demo"}

// fakeAPI is an httptest server shaped like GitHub's REST API under the
// path prefix /api-v3/ (as GitHub Enterprise Server serves it), so that code
// building absolute URLs fails. Handlers registered with handle must be
// called at least once, or the test fails.
type fakeAPI struct {
	t   *testing.T
	mux *http.ServeMux
	srv *httptest.Server

	mu    sync.Mutex
	calls []string // "METHOD /path?query"
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, mux: http.NewServeMux()}
	root := http.NewServeMux()
	root.HandleFunc("/api-v3/", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("%s %s: Authorization = %q, want the bearer token", r.Method, r.URL.Path, got)
		}
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+strings.TrimPrefix(r.URL.RequestURI(), "/api-v3"))
		f.mu.Unlock()
		http.StripPrefix("/api-v3", f.mux).ServeHTTP(w, r)
	})
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the API prefix: %s %s", r.Method, r.URL)
		http.Error(w, "not under /api-v3/", http.StatusBadRequest)
	})
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request: %s %s", r.Method, r.URL)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	})
	f.srv = httptest.NewServer(root)
	t.Cleanup(f.srv.Close)
	return f
}

// handle registers fn for pattern ("METHOD /path") and fails the test if it
// is never called.
func (f *fakeAPI) handle(pattern string, fn http.HandlerFunc) {
	f.t.Helper()
	var called bool
	var mu sync.Mutex
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		called = true
		mu.Unlock()
		fn(w, r)
	})
	f.t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !called {
			f.t.Errorf("handler %q was registered but never called", pattern)
		}
	})
}

func (f *fakeAPI) client(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{Token: testToken, APIURL: f.srv.URL + "/api-v3/", Backoff: time.Millisecond, MaxWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeAPI) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func writeJSON(t *testing.T, w http.ResponseWriter, status int, v any) {
	t.Helper()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Error(err)
	}
}

func readBody(t *testing.T, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("%s %s: body is not a JSON object: %q", r.Method, r.URL.Path, b)
	}
	return m
}

func pullOK(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, 200, map[string]any{"number": 7, "state": "open", "html_url": "https://github.example/octo/demo/pull/7"})
	}
}

// comments is a stateful store of issue comments behind the fake API.
type comments struct {
	t      *testing.T
	mu     sync.Mutex
	next   int64
	bodies map[int64]string
	order  []int64
}

func newComments(t *testing.T, f *fakeAPI, create, edit bool) *comments {
	c := &comments{t: t, next: 1000, bodies: map[int64]string{}}
	f.handle("GET /repos/octo/demo/pulls/7", pullOK(t))
	f.handle("GET /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []map[string]any
		for _, id := range c.order {
			out = append(out, map[string]any{"id": id, "body": c.bodies[id], "html_url": fmt.Sprintf("https://github.example/octo/demo/pull/7#issuecomment-%d", id)})
		}
		writeJSON(t, w, 200, out)
	})
	if create {
		f.handle("POST /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
			body, _ := readBody(t, r)["body"].(string)
			c.mu.Lock()
			defer c.mu.Unlock()
			c.next++
			c.bodies[c.next] = body
			c.order = append(c.order, c.next)
			writeJSON(t, w, 201, map[string]any{"id": c.next, "body": body, "html_url": fmt.Sprintf("https://github.example/octo/demo/pull/7#issuecomment-%d", c.next)})
		})
	}
	if edit {
		f.handle("PATCH /repos/octo/demo/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
			id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
			body, _ := readBody(t, r)["body"].(string)
			c.mu.Lock()
			defer c.mu.Unlock()
			if _, ok := c.bodies[id]; !ok {
				writeJSON(t, w, 404, map[string]any{"message": "Not Found"})
				return
			}
			c.bodies[id] = body
			writeJSON(t, w, 200, map[string]any{"id": id, "body": body})
		})
	}
	return c
}

func TestUpsertCommentCreatesThenEdits(t *testing.T) {
	f := newFakeAPI(t)
	store := newComments(t, f, true, true)
	c := f.client(t)
	ctx := context.Background()
	marker := Marker("exp")

	res, err := c.UpsertComment(ctx, octo, 7, marker, marker+"\nfirst")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.ID == 0 || !strings.Contains(res.URL, "issuecomment") {
		t.Fatalf("first upsert = %+v, want a created comment", res)
	}
	res2, err := c.UpsertComment(ctx, octo, 7, marker, marker+"\nsecond")
	if err != nil {
		t.Fatal(err)
	}
	if res2.Created || res2.ID != res.ID {
		t.Fatalf("second upsert = %+v, want comment %d edited", res2, res.ID)
	}
	if n := len(store.order); n != 1 {
		t.Fatalf("%d comments on the pull request, want 1", n)
	}
	if got := store.bodies[res.ID]; got != marker+"\nsecond" {
		t.Fatalf("comment body = %q", got)
	}
	if f.count("POST ") != 1 || f.count("PATCH ") != 1 {
		t.Fatalf("calls = %v", f.calls)
	}
	// Another experiment's comment is not this one's.
	res3, err := c.UpsertComment(ctx, octo, 7, Marker("other"), Marker("other")+"\nx")
	if err != nil || !res3.Created {
		t.Fatalf("other experiment: %+v, %v; want a second comment", res3, err)
	}
}

func TestUpsertCommentFindsMarkerOnPage3(t *testing.T) {
	f := newFakeAPI(t)
	marker := Marker("exp")
	f.handle("GET /repos/octo/demo/pulls/7", pullOK(t))
	var pages []string
	f.handle("GET /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		page := r.URL.Query().Get("page")
		if page == "" {
			page = "1"
		}
		if pp := r.URL.Query().Get("per_page"); pp != "100" {
			t.Errorf("per_page = %q, want 100", pp)
		}
		pages = append(pages, page)
		n, _ := strconv.Atoi(page)
		if n < 3 {
			next := fmt.Sprintf("%s/api-v3/repos/octo/demo/issues/7/comments?page=%d&per_page=100", f.srv.URL, n+1)
			last := fmt.Sprintf("%s/api-v3/repos/octo/demo/issues/7/comments?page=4&per_page=100", f.srv.URL)
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, next, last))
		}
		var out []map[string]any
		for i := 0; i < 100; i++ {
			id := n*1000 + i
			body := fmt.Sprintf("comment %d", id)
			switch {
			case n == 2 && i == 3:
				body = "> " + marker + "\n> quoted by someone" // not at the start: not ours
			case n == 3 && i == 42:
				body = marker + "\nold leaderboard"
			}
			out = append(out, map[string]any{"id": id, "body": body})
		}
		writeJSON(t, w, 200, out)
	})
	var edited int64
	f.handle("PATCH /repos/octo/demo/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		edited, _ = strconv.ParseInt(r.PathValue("id"), 10, 64)
		if body := readBody(t, r)["body"]; body != marker+"\nnew" {
			t.Errorf("edited body = %q", body)
		}
		writeJSON(t, w, 200, map[string]any{"id": edited})
	})
	res, err := f.client(t).UpsertComment(context.Background(), octo, 7, marker, marker+"\nnew")
	if err != nil {
		t.Fatal(err)
	}
	if edited != 3042 || res.Created || res.ID != 3042 {
		t.Fatalf("edited %d (result %+v), want comment 3042 found on page 3", edited, res)
	}
	if strings.Join(pages, ",") != "1,2,3" {
		t.Fatalf("pages read: %v, want 1,2,3 (and no more once found)", pages)
	}
	if f.count("POST ") != 0 {
		t.Fatal("a comment was created although one existed")
	}
}

func TestUpsertCommentForbiddenNamesPermission(t *testing.T) {
	f := newFakeAPI(t)
	newComments(t, f, false, false)
	f.handle("POST /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Accepted-GitHub-Permissions", "issues=write; pull_requests=write")
		writeJSON(t, w, 403, map[string]any{"message": "Resource not accessible by integration",
			"documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment"})
	})
	_, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("err = %#v, want an *APIError with status 403", err)
	}
	for _, want := range []string{"create the leaderboard comment on octo/demo#7", "403", "Resource not accessible by integration",
		"pull-requests: write", "permissions:", "issues=write; pull_requests=write"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
	if f.count("POST ") != 1 {
		t.Fatalf("a 403 was retried: %v", f.calls)
	}
}

func TestUpsertCommentMissingPullRequest(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /repos/octo/demo/pulls/99", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, 404, map[string]any{"message": "Not Found"})
	})
	_, err := f.client(t).UpsertComment(context.Background(), octo, 99, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "pull request #99 does not exist in octo/demo") {
		t.Fatalf("err = %v, want ErrNotFound naming the pull request", err)
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /repos/octo/demo/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, 401, map[string]any{"message": "Bad credentials"})
	})
	_, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	f := newFakeAPI(t)
	newComments(t, f, false, false)
	tries := 0
	f.handle("POST /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		tries++
		if tries <= 2 {
			writeJSON(t, w, 502, map[string]any{"message": "Server Error"})
			return
		}
		writeJSON(t, w, 201, map[string]any{"id": 5})
	})
	res, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if err != nil || res.ID != 5 {
		t.Fatalf("upsert = %+v, %v; want success after two 502s", res, err)
	}
	if tries != 3 {
		t.Fatalf("%d tries, want 3", tries)
	}
}

func TestServerErrorsGiveUp(t *testing.T) {
	f := newFakeAPI(t)
	tries := 0
	f.handle("GET /repos/octo/demo/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		tries++
		writeJSON(t, w, 503, map[string]any{"message": "Service Unavailable"})
	})
	_, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "4 times") {
		t.Fatalf("err = %v, want ErrServer after 4 tries", err)
	}
	if tries != 4 {
		t.Fatalf("%d tries, want 1 + 3 retries", tries)
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewClient(ClientOptions{Token: testToken, APIURL: url + "/api-v3", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
}

func TestRateLimits(t *testing.T) {
	cases := []struct {
		name    string
		limited func(w http.ResponseWriter)
		minWait time.Duration
	}{
		{"429 Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"message":"Too Many Requests"}`)
		}, 900 * time.Millisecond},
		{"403 primary limit", func(w http.ResponseWriter) {
			w.Header().Set("X-RateLimit-Limit", "5000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
			w.WriteHeader(403)
			fmt.Fprint(w, `{"message":"API rate limit exceeded"}`)
		}, 0},
		{"403 secondary limit", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(403)
			fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
		}, 900 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			tries := 0
			f.handle("GET /repos/octo/demo/pulls/7", func(w http.ResponseWriter, r *http.Request) {
				tries++
				if tries == 1 {
					tc.limited(w)
					return
				}
				pullOK(t)(w, r)
			})
			f.handle("GET /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(t, w, 200, []any{})
			})
			f.handle("POST /repos/octo/demo/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(t, w, 201, map[string]any{"id": 1})
			})
			start := time.Now()
			if _, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx"); err != nil {
				t.Fatal(err)
			}
			if tries != 2 {
				t.Fatalf("%d tries, want 2", tries)
			}
			// Honouring the limit means not asking again before it allows.
			if waited := time.Since(start); waited < tc.minWait {
				t.Fatalf("retried after %s, before the %s GitHub asked for", waited, tc.minWait)
			}
		})
	}
}

func TestRateLimitLongerThanMaxWait(t *testing.T) {
	f := newFakeAPI(t)
	tries := 0
	f.handle("GET /repos/octo/demo/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		tries++
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		w.WriteHeader(403)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for installation"}`)
	})
	_, err := f.client(t).UpsertComment(context.Background(), octo, 7, Marker("e"), Marker("e")+"\nx")
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "try again later") {
		t.Fatalf("err = %v, want ErrRateLimited saying to try later", err)
	}
	if tries != 1 {
		t.Fatalf("%d tries, want 1 (the reset is beyond the wait allowed)", tries)
	}
}

func TestUpsertPullRequestCreatesThenUpdates(t *testing.T) {
	f := newFakeAPI(t)
	var mu sync.Mutex
	var open []map[string]any
	f.handle("GET /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("head") != "octo:evolve/exp/1a2b3c4d" || q.Get("state") != "open" {
			t.Errorf("list pulls query = %s, want head=octo:evolve/exp/1a2b3c4d&state=open", r.URL.RawQuery)
		}
		mu.Lock()
		defer mu.Unlock()
		writeJSON(t, w, 200, open)
	})
	f.handle("POST /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) {
		m := readBody(t, r)
		want := map[string]any{"title": "faster packing", "head": "evolve/exp/1a2b3c4d", "base": "main", "body": "body one", "draft": true}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("create pull: %s = %v, want %v", k, m[k], v)
			}
		}
		pr := map[string]any{"number": 12, "html_url": "https://github.example/octo/demo/pull/12", "head": map[string]any{"ref": "evolve/exp/1a2b3c4d"}}
		mu.Lock()
		open = append(open, pr)
		mu.Unlock()
		writeJSON(t, w, 201, pr)
	})
	f.handle("PATCH /repos/octo/demo/pulls/12", func(w http.ResponseWriter, r *http.Request) {
		m := readBody(t, r)
		if m["title"] != "faster packing, v2" || m["body"] != "body two" {
			t.Errorf("update pull: %v", m)
		}
		writeJSON(t, w, 200, map[string]any{"number": 12, "html_url": "https://github.example/octo/demo/pull/12"})
	})
	c := f.client(t)
	spec := PullRequestSpec{Head: "evolve/exp/1a2b3c4d", Base: "main", Title: "faster packing", Body: "body one", Draft: true}
	res, err := c.UpsertPullRequest(context.Background(), octo, spec)
	if err != nil || !res.Created || res.Number != 12 || res.URL == "" {
		t.Fatalf("create = %+v, %v", res, err)
	}
	spec.Title, spec.Body = "faster packing, v2", "body two"
	res, err = c.UpsertPullRequest(context.Background(), octo, spec)
	if err != nil || res.Created || res.Number != 12 {
		t.Fatalf("update = %+v, %v", res, err)
	}
	if f.count("POST ") != 1 || f.count("PATCH ") != 1 {
		t.Fatalf("calls: %v", f.calls)
	}
}

func TestUpsertPullRequestRejected(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) { writeJSON(t, w, 200, []any{}) })
	f.handle("POST /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, 422, map[string]any{"message": "Validation Failed",
			"errors": []any{map[string]any{"resource": "PullRequest", "code": "custom", "message": "No commits between main and evolve/exp/1a2b3c4d"}}})
	})
	_, err := f.client(t).UpsertPullRequest(context.Background(), octo, PullRequestSpec{Head: "evolve/exp/1a2b3c4d", Base: "main", Title: "t"})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "No commits between main") {
		t.Fatalf("err = %v, want ErrRejected with GitHub's reason", err)
	}
	if f.count("POST ") != 1 {
		t.Fatal("a 422 was retried")
	}
}

func TestNewClient(t *testing.T) {
	if _, err := NewClient(ClientOptions{}); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
	if _, err := NewClient(ClientOptions{Token: "x", APIURL: "not a url"}); err == nil || !strings.Contains(err.Error(), "GITHUB_API_URL") {
		t.Fatalf("bad URL: %v", err)
	}
	for _, api := range []string{"/api-v3", "/api-v3/"} {
		f := newFakeAPI(t)
		f.handle("GET /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) { writeJSON(t, w, 200, []any{}) })
		f.handle("POST /repos/octo/demo/pulls", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(t, w, 201, map[string]any{"number": 1})
		})
		c, err := NewClient(ClientOptions{Token: testToken, APIURL: f.srv.URL + api})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpsertPullRequest(context.Background(), octo, PullRequestSpec{Head: "h", Base: "main", Title: "t"}); err != nil {
			t.Fatalf("API URL %q: %v", api, err)
		}
	}
}

func TestRepoParsing(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"https://github.com/octo/demo.git", "octo/demo", false},
		{"https://github.com/octo/demo", "octo/demo", false},
		{"https://x-access-token:abc@github.com/octo/demo.git", "octo/demo", false},
		{"git@github.com:octo/demo.git", "octo/demo", false},
		{"ssh://git@github.com/octo/demo.git", "octo/demo", false},
		{"https://ghe.example.com/team/svc.git/", "team/svc", false},
		{"/tmp/remote.git", "", true},
		{"../remote", "", true},
		{"https://github.com/octo", "", true},
		{"https://github.com/a/b/c", "", true},
		{"", "", true},
	}
	for _, tc := range cases {
		r, err := RepoFromURL(tc.in)
		if (err != nil) != tc.wantErr || err == nil && r.String() != tc.want {
			t.Errorf("RepoFromURL(%q) = %v, %v; want %q (error %v)", tc.in, r, err, tc.want, tc.wantErr)
		}
	}
	if _, err := ParseRepo("octo"); err == nil {
		t.Error("ParseRepo accepted a name without owner")
	}
	if r, err := ParseRepo("octo/demo"); err != nil || r != octo {
		t.Errorf("ParseRepo = %v, %v", r, err)
	}
}
