package cli

import (
	"bytes"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/gitstore"
)

// runMainEnv runs git-evolve in this process with env as its environment
// (for what Main reads through IO.Getenv) and returns its output and code.
func runMainEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	sio := IO{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	code = Main(append([]string{"git-evolve"}, args...), sio)
	return out.String(), errb.String(), code
}

// syncInProcessHome gives this process (and the git commands it runs) the
// private HOME of concEnv.
func syncInProcessHome(t *testing.T) []string {
	t.Helper()
	env := concEnv(t)
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == "HOME" || k == "GIT_CONFIG_NOSYSTEM" {
			t.Setenv(k, v)
		}
	}
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GITHUB_TOKEN", "GIT_TOKEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return env
}

// syncHTTPServer serves the bare repositories under root over git's smart HTTP
// protocol (git http-backend), for user x-access-token with password token
// only. It records the passwords it was offered.
type syncHTTPServer struct {
	*httptest.Server
	mu      sync.Mutex
	offered []string
}

func newSyncHTTPServer(t *testing.T, root, token string) *syncHTTPServer {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not found")
	}
	backend := &cgi.Handler{Path: git, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + os.Getenv("HOME"), "GIT_CONFIG_NOSYSTEM=1"}}
	g := &syncHTTPServer{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			g.mu.Lock()
			g.offered = append(g.offered, pass)
			g.mu.Unlock()
		}
		if !ok || user != "x-access-token" || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// syncHTTPRemote makes a bare repository served by a new syncHTTPServer and returns
// the server and the repository's URL.
func syncHTTPRemote(t *testing.T, env []string, token string) (*syncHTTPServer, string, string) {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "exp.git")
	concGit(t, env, root, "init", "-q", "--bare", bare)
	concGit(t, env, bare, "config", "http.receivepack", "true")
	srv := newSyncHTTPServer(t, root, token)
	return srv, srv.URL + "/exp.git", bare
}

func TestSyncHTTPSTokenFromTheEnvironment(t *testing.T) {
	env := syncInProcessHome(t)
	const token = "tok-from-env"
	srv, url, bare := syncHTTPRemote(t, env, token)
	repo := concRepo(t, env)
	if _, errs, code := runMainEnv(t, nil, "-C", repo, "step", "-e", concExp, "--steps", "2", "--offline", "--seed", "3"); code != 0 {
		t.Fatalf("step: exit %d\n%s", code, errs)
	}

	// Without a token (and no credential helper) the server's refusal is
	// explained.
	_, errs, code := runMainEnv(t, nil, "-C", repo, "sync", url)
	if code != ExitError || !strings.Contains(errs, "authentication required") || !strings.Contains(errs, "GITHUB_TOKEN") {
		t.Errorf("sync without a token: exit %d\n%s", code, errs)
	}
	// A wrong token is refused too, and the helper is not asked.
	_, errs, code = runMainEnv(t, map[string]string{"GITHUB_TOKEN": "wrong"}, "-C", repo, "sync", url)
	if code != ExitError || !strings.Contains(errs, "authentication required") {
		t.Errorf("sync with a wrong token: exit %d\n%s", code, errs)
	}

	out, errs, code := runMainEnv(t, map[string]string{"GITHUB_TOKEN": token}, "-C", repo, "sync", url)
	if code != 0 || !strings.Contains(out, url+": pushed 3 candidates, notes pushed") {
		t.Fatalf("sync with $GITHUB_TOKEN: exit %d\n%s%s", code, out, errs)
	}
	if n := len(concRefs(t, env, bare)); n != 3 {
		t.Errorf("the remote has %d candidates, want 3", n)
	}

	// $GIT_TOKEN works as well; a fresh repository gets the experiment.
	fresh := concRepo(t, env)
	out, errs, code = runMainEnv(t, map[string]string{"GIT_TOKEN": token}, "-C", fresh, "sync", "-e", concExp, url)
	if code != 0 || !strings.Contains(out, "fetched 3 candidates, notes updated from the remote") {
		t.Fatalf("sync with $GIT_TOKEN: exit %d\n%s%s", code, out, errs)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, p := range srv.offered {
		if p != token && p != "wrong" {
			t.Errorf("the server was offered password %q", p)
		}
	}
}

func TestSyncAsksTheCredentialHelper(t *testing.T) {
	env := syncInProcessHome(t)
	const token = "tok-from-helper"
	_, url, bare := syncHTTPRemote(t, env, token)
	repo := concRepo(t, env)
	if _, errs, code := runMainEnv(t, nil, "-C", repo, "step", "-e", concExp, "--steps", "1", "--offline", "--seed", "4"); code != 0 {
		t.Fatalf("step: exit %d\n%s", code, errs)
	}
	log := filepath.Join(t.TempDir(), "helper.log")
	helper := func(password string) string {
		return `!f() { echo "$1" >> '` + log + `'; cat >/dev/null; if [ "$1" = get ]; then echo username=x-access-token; echo password=` + password + `; fi; }; f`
	}

	// A helper with a stale password: refused, and told so.
	concGit(t, env, repo, "config", "credential.helper", helper("stale"))
	if _, errs, code := runMainEnv(t, nil, "-C", repo, "sync", url); code != ExitError || !strings.Contains(errs, "authentication required") {
		t.Errorf("sync with a stale helper password: exit %d\n%s", code, errs)
	}
	if b, _ := os.ReadFile(log); string(b) != "get\nerase\n" {
		t.Errorf("helper calls = %q, want get then erase", b)
	}

	os.Remove(log)
	concGit(t, env, repo, "config", "credential.helper", helper(token))
	out, errs, code := runMainEnv(t, nil, "-C", repo, "sync", url)
	if code != 0 || !strings.Contains(out, "pushed 2 candidates") {
		t.Fatalf("sync with a credential helper: exit %d\n%s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(log); string(b) != "get\nstore\n" {
		t.Errorf("helper calls = %q, want get then store", b)
	}
	if n := len(concRefs(t, env, bare)); n != 2 {
		t.Errorf("the remote has %d candidates, want 2", n)
	}
}

func TestSyncSummary(t *testing.T) {
	for _, tc := range []struct {
		res  gitstore.SyncResult
		want string
	}{
		{gitstore.SyncResult{Remote: "origin", Notes: "unchanged", Attempts: 1}, "origin: already in sync (12ms)"},
		{gitstore.SyncResult{Remote: "origin", Fetched: []string{"a"}, Notes: "fast-forward", Attempts: 1, BytesReceived: 2048},
			"origin: fetched 1 candidate, notes updated from the remote (2.0 KiB received, 0 B sent, 12ms)"},
		{gitstore.SyncResult{Remote: "url-x", URL: "/srv/x.git", Fetched: []string{"a", "b"}, Pushed: []string{"c"}, Notes: "merged", NotesPushed: true, Attempts: 3, BytesSent: 3 << 20},
			"/srv/x.git: fetched 2 candidates, pushed 1 candidate, notes merged with the remote's, notes pushed (3 attempts: others pushed meanwhile, 0 B received, 3.0 MiB sent, 12ms)"},
	} {
		if got := syncSummary(tc.res, 12*time.Millisecond); got != tc.want {
			t.Errorf("syncSummary(%+v) =\n%s\nwant\n%s", tc.res, got, tc.want)
		}
	}
}
