package action

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const prPayload = `{
  "action": "synchronize", "number": 7,
  "pull_request": {
    "number": 7, "title": "faster packing", "body": "Uses a hexagonal start.",
    "html_url": "https://github.com/octo/demo/pull/7",
    "head": {"sha": "1111111111111111111111111111111111111111", "ref": "feature", "repo": {"full_name": "octo/demo"}},
    "base": {"sha": "2222222222222222222222222222222222222222", "ref": "main", "repo": {"full_name": "octo/demo"}}
  },
  "repository": {"full_name": "octo/demo"}
}`

func TestParseEvent(t *testing.T) {
	ev, err := ParseEvent("pull_request", []byte(prPayload))
	if err != nil {
		t.Fatal(err)
	}
	pr := ev.PullRequest
	if ev.Repository != "octo/demo" || pr == nil || pr.Number != 7 || pr.Title != "faster packing" || pr.Body != "Uses a hexagonal start." ||
		pr.HeadSHA != strings.Repeat("1", 40) || pr.HeadRef != "feature" || pr.BaseSHA != strings.Repeat("2", 40) || pr.BaseRef != "main" ||
		pr.HeadRepo != "octo/demo" || pr.BaseRepo != "octo/demo" || pr.Fork() {
		t.Fatalf("parsed %+v / %+v", ev, pr)
	}
	if got, err := ev.RequirePullRequest("evaluate"); err != nil || got != pr {
		t.Fatalf("RequirePullRequest = %v, %v", got, err)
	}

	// pull_request_target carries the same payload.
	if ev, err := ParseEvent("pull_request_target", []byte(prPayload)); err != nil || ev.PullRequest == nil {
		t.Fatalf("pull_request_target: %v", err)
	}

	// Other events have no pull request, and that is an error only where one is needed.
	ev, err = ParseEvent("workflow_dispatch", []byte(`{"inputs": {}, "repository": {"full_name": "octo/demo"}}`))
	if err != nil || ev.PullRequest != nil || ev.Repository != "octo/demo" {
		t.Fatalf("workflow_dispatch: %+v, %v", ev, err)
	}
	_, err = ev.RequirePullRequest("the comment")
	if !errors.Is(err, ErrNotPullRequest) || !strings.Contains(err.Error(), `triggered by "workflow_dispatch"`) || !strings.Contains(err.Error(), "on: pull_request") {
		t.Fatalf("RequirePullRequest on dispatch: %v", err)
	}
	if ev, err := ParseEvent("schedule", nil); err != nil || ev.PullRequest != nil {
		t.Fatalf("empty schedule payload: %v", err)
	}

	// Broken payloads.
	for _, bad := range []string{`{"action":"opened"}`, `{"pull_request": {"number": 3, "head": {}, "base": {}}}`} {
		if _, err := ParseEvent("pull_request", []byte(bad)); !errors.Is(err, ErrNotPullRequest) {
			t.Errorf("payload %s: err = %v, want ErrNotPullRequest", bad, err)
		}
	}
	if _, err := ParseEvent("pull_request", []byte(`not json`)); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("not JSON: %v", err)
	}
}

func TestReadEvent(t *testing.T) {
	if _, err := ReadEvent("", ""); err == nil || !strings.Contains(err.Error(), "GITHUB_EVENT_NAME is not set") {
		t.Errorf("no name: %v", err)
	}
	if _, err := ReadEvent("push", ""); err == nil || !strings.Contains(err.Error(), "GITHUB_EVENT_PATH is not set") {
		t.Errorf("no path: %v", err)
	}
	if _, err := ReadEvent("push", filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "GITHUB_EVENT_PATH") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(p, []byte(prPayload), 0o644)
	if ev, err := ReadEvent("pull_request", p); err != nil || ev.PullRequest.Number != 7 {
		t.Errorf("ReadEvent = %+v, %v", ev, err)
	}
}

func TestCheckFork(t *testing.T) {
	same := PullRequest{Number: 3, HeadRepo: "octo/demo", BaseRepo: "octo/demo"}
	fork := PullRequest{Number: 4, HeadRepo: "mallory/demo", BaseRepo: "octo/demo"}
	gone := PullRequest{Number: 5, HeadRepo: "", BaseRepo: "octo/demo"}
	cases := []struct {
		pr         PullRequest
		selfHosted bool
		allow      bool
		refused    bool
	}{
		{same, true, false, false},
		{fork, true, false, true},
		{fork, true, true, false},
		{fork, false, false, false},
		{gone, true, false, true},
		{PullRequest{HeadRepo: "Octo/Demo", BaseRepo: "octo/demo"}, true, false, false},
	}
	for _, tc := range cases {
		err := CheckFork(tc.pr, tc.selfHosted, tc.allow)
		if (err != nil) != tc.refused || err != nil && !errors.Is(err, ErrForkRefused) {
			t.Errorf("CheckFork(%+v, self-hosted %v, allow %v) = %v", tc.pr, tc.selfHosted, tc.allow, err)
		}
	}
	err := CheckFork(fork, true, false)
	for _, want := range []string{"#4", "mallory/demo", "untrusted code on a machine with secrets", "allow-forks: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if !strings.Contains(CheckFork(gone, true, false).Error(), "a deleted fork") {
		t.Error("a deleted fork is not named as such")
	}
	for env, want := range map[string]bool{"github-hosted": false, "GitHub-Hosted": false, "self-hosted": true, "": true, "other": true} {
		if SelfHosted(env) != want {
			t.Errorf("SelfHosted(%q) = %v", env, !want)
		}
	}
}

func TestWriteOutputsAndSummary(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "output")
	os.WriteFile(out, []byte("earlier=1\n"), 0o644)
	if err := WriteOutputs(out, []Output{{"best-score", "2.5"}, {"best-candidate", ""}, {"notes", "line one\nline two"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	s := string(b)
	if !strings.HasPrefix(s, "earlier=1\nbest-score=2.5\nbest-candidate=\nnotes<<ghadelimiter_") || !strings.Contains(s, "\nline one\nline two\nghadelimiter_") {
		t.Fatalf("GITHUB_OUTPUT file:\n%s", s)
	}
	if err := WriteOutputs(out, []Output{{"bad=name", "x"}}); err == nil {
		t.Error("a name with '=' was accepted")
	}
	if err := WriteOutputs("", nil); err == nil || !strings.Contains(err.Error(), "GITHUB_OUTPUT is not set") {
		t.Errorf("no path: %v", err)
	}

	sum := filepath.Join(dir, "summary.md")
	if err := AppendSummary(sum, "# one"); err != nil {
		t.Fatal(err)
	}
	if err := AppendSummary(sum, "# two\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sum); string(b) != "# one\n# two\n" {
		t.Fatalf("summary = %q", b)
	}
	if err := AppendSummary(filepath.Join(dir, "no", "such", "dir"), "x"); err == nil || !strings.Contains(err.Error(), "GITHUB_STEP_SUMMARY") {
		t.Errorf("unwritable summary: %v", err)
	}
}
