package action

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
)

func TestPromoteAndPush(t *testing.T) {
	gitIdentity(t)
	root := t.TempDir()
	dir, remote := filepath.Join(root, "repo"), filepath.Join(root, "remote.git")
	gitIn(t, root, "init", "-q", "--bare", remote)
	gitIn(t, root, "init", "-q", dir)
	write(t, dir, "a.txt", "one\n", 0o644)
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "one")
	first := gitIn(t, dir, "rev-parse", "HEAD")
	write(t, dir, "a.txt", "two\n", 0o644)
	gitIn(t, dir, "commit", "-q", "-am", "two")
	second := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "remote", "add", "origin", remote)

	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	branch := BranchName("exp", second)
	if branch != "evolve/exp/"+second[:8] {
		t.Fatalf("BranchName = %q", branch)
	}
	if u, err := Promote(repo, branch, second, false); err != nil || u != BranchCreated {
		t.Fatalf("create: %v, %v", u, err)
	}
	if got := gitIn(t, dir, "rev-parse", branch); got != second {
		t.Fatalf("branch at %s", got)
	}
	if u, err := Promote(repo, branch, second, false); err != nil || u != BranchUnchanged {
		t.Fatalf("again: %v, %v", u, err)
	}
	if _, err := Promote(repo, branch, first, false); !errors.Is(err, ErrBranchMoved) || !strings.Contains(err.Error(), "pass --force") {
		t.Fatalf("moving without force: %v", err)
	}
	if _, err := Promote(repo, "bad..name", first, false); err == nil {
		t.Fatal("an invalid branch name was accepted")
	}
	if _, err := Promote(repo, branch, "abc", false); err == nil {
		t.Fatal("a short id was accepted")
	}
	if _, err := Promote(repo, branch, strings.Repeat("1", 40), false); err == nil {
		t.Fatal("a missing commit was accepted")
	}

	ctx := context.Background()
	if err := PushBranch(ctx, repo, "origin", branch, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, remote, "rev-parse", "refs/heads/"+branch); got != second {
		t.Fatalf("remote branch at %s", got)
	}
	if err := PushBranch(ctx, repo, "origin", branch, false, nil); err != nil {
		t.Fatalf("pushing again: %v", err)
	}
	// Moving the branch back is not a fast-forward: refused without force.
	if u, err := Promote(repo, branch, first, true); err != nil || u != BranchMoved {
		t.Fatalf("force: %v, %v", u, err)
	}
	if err := PushBranch(ctx, repo, "origin", branch, false, nil); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("non-fast-forward push: %v", err)
	}
	if err := PushBranch(ctx, repo, "origin", branch, true, nil); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, remote, "rev-parse", "refs/heads/"+branch); got != first {
		t.Fatalf("forced remote branch at %s", got)
	}

	if u, err := RemoteURL(repo, "origin"); err != nil || u != remote {
		t.Fatalf("RemoteURL = %q, %v", u, err)
	}
	if _, err := RemoteURL(repo, "nope"); err == nil || !strings.Contains(err.Error(), "git remote -v") {
		t.Fatalf("unknown remote: %v", err)
	}
	if TokenAuth(remote, "tok") != nil || TokenAuth("https://github.com/o/r.git", "") != nil || TokenAuth("git@github.com:o/r.git", "tok") != nil {
		t.Error("TokenAuth gave credentials to a non-HTTPS remote or without a token")
	}
	if TokenAuth("https://github.com/o/r.git", "tok") == nil {
		t.Error("TokenAuth gave nothing for an HTTPS remote")
	}
}
