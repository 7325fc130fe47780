package action

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// ErrBranchMoved: the branch of a promoted candidate already points at
// another commit.
var ErrBranchMoved = errors.New("branch already exists at another commit")

// BranchName is the branch of a promoted candidate: evolve/<exp>/<short id>.
func BranchName(exp, id string) string {
	return "evolve/" + exp + "/" + id[:min(8, len(id))]
}

// BranchUpdate says what Promote did to the branch.
type BranchUpdate string

// What Promote did.
const (
	BranchCreated   BranchUpdate = "created"
	BranchUnchanged BranchUpdate = "unchanged" // it was already at the candidate
	BranchMoved     BranchUpdate = "moved"     // it pointed elsewhere and force was set
)

// Promote points refs/heads/<branch> at commit id. An existing branch at id
// is left as it is; one at another commit is moved only when force is set,
// otherwise the error wraps ErrBranchMoved.
func Promote(repo *git.Repository, branch, id string, force bool) (BranchUpdate, error) {
	name := plumbing.NewBranchReferenceName(branch)
	if err := name.Validate(); err != nil || strings.Contains(branch, "..") {
		return "", fmt.Errorf("branch name %q is not valid", branch)
	}
	h := plumbing.NewHash(id)
	if h.IsZero() || h.String() != strings.ToLower(id) {
		return "", fmt.Errorf("promote: %q is not a full commit id", id)
	}
	if _, err := repo.CommitObject(h); err != nil {
		return "", fmt.Errorf("promote: commit %s: %w", id[:min(8, len(id))], err)
	}
	cur, err := repo.Storer.Reference(name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if err := repo.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			return "", fmt.Errorf("create branch %s: %w", branch, err)
		}
		return BranchCreated, nil
	case err != nil:
		return "", fmt.Errorf("read branch %s: %w", branch, err)
	case cur.Hash() == h:
		return BranchUnchanged, nil
	case !force:
		return "", fmt.Errorf("%w: %s points at %s, not %s; pass --force to move it", ErrBranchMoved, branch, cur.Hash().String()[:8], id[:8])
	}
	if err := repo.Storer.CheckAndSetReference(plumbing.NewHashReference(name, h), cur); err != nil {
		return "", fmt.Errorf("move branch %s: %w", branch, err)
	}
	return BranchMoved, nil
}

// RemoteURL returns the first URL of remote in repo's configuration.
func RemoteURL(repo *git.Repository, remote string) (string, error) {
	r, err := repo.Remote(remote)
	if err != nil {
		return "", fmt.Errorf("remote %q: %w (list them with: git remote -v)", remote, err)
	}
	urls := r.Config().URLs
	if len(urls) == 0 {
		return "", fmt.Errorf("remote %q has no URL", remote)
	}
	return urls[0], nil
}

// TokenAuth is the HTTP authentication that GitHub accepts for pushes with
// an Actions or personal access token; nil for remotes that are not HTTP(S)
// or when token is empty.
func TokenAuth(remoteURL, token string) transport.AuthMethod {
	u := strings.ToLower(remoteURL)
	if token == "" || !(strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: token}
}

// PushBranch pushes refs/heads/<branch> to the same branch of remote, forced
// when force is set. Nothing to push is not an error.
func PushBranch(ctx context.Context, repo *git.Repository, remote, branch string, force bool, auth transport.AuthMethod) error {
	spec := "refs/heads/" + branch + ":refs/heads/" + branch
	if force {
		spec = "+" + spec
	}
	err := repo.PushContext(ctx, &git.PushOptions{RemoteName: remote, RefSpecs: []config.RefSpec{config.RefSpec(spec)}, Auth: auth})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, transport.ErrAuthorizationFailed), errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("push %s to %s: %w; the token needs the permission contents: write (give the workflow job `permissions: contents: write`)", branch, remote, err)
	case strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("push %s to %s: %w; the remote branch has other commits: pass --force to replace it", branch, remote, err)
	}
	return fmt.Errorf("push %s to %s: %w", branch, remote, err)
}
