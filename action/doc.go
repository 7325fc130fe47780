// Package action is the runtime of the git-evolve GitHub Action and of the
// commands that talk to GitHub (`git evolve pr`, `comment`, `report`).
//
// It holds:
//
//   - the leaderboard report of an experiment (BuildReport), rendered as
//     Markdown that always fits in a GitHub comment (Report.Markdown) or as
//     JSON, and the title and body of a winner's pull request (PullRequestText);
//   - a GitHub REST client on go-github (NewClient) that keeps one sticky
//     comment per experiment per pull request (Client.UpsertComment) and
//     opens or updates the pull request of a promoted candidate
//     (Client.UpsertPullRequest), with clear errors for missing tokens and
//     permissions, bounded waits on rate limits and retries on 5xx;
//   - the Actions runner's side: the event payload (ReadEvent), the fork
//     policy (CheckFork), job outputs and the job summary (WriteOutputs,
//     AppendSummary);
//   - git work that is not candidate storage: promoting a candidate to the
//     branch evolve/<exp>/<short id> and pushing it (Promote, PushBranch),
//     and turning a pull request's head into a candidate whose parent is the
//     best candidate its merge base contains (ImportPullRequest), with the
//     trusted evaluation files taken from the base commit (ExtractDir).
//
// Nothing here prints or exits: the command layer (internal/cli) does.
package action
