package cli

import (
	"fmt"

	"github.com/git-evolve/git-evolve/action"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

func prCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:      "pr",
		Usage:     "push a candidate as the branch evolve/<exp>/<short-id> and open (or update) its pull request",
		ArgsUsage: "<id>",
		Description: `Promotes the candidate to the branch evolve/<exp>/<short-id>, pushes it to the
remote, shares the experiment's candidates and notes with the remote (so that
reviewers can run git evolve show), and opens a pull request into --base, or
updates the open pull request of that branch. Its title is the candidate's
title; its body gives the motivation, the score and metrics against the
baseline and the parent, the lineage, the analysis and lessons, and how to
reproduce the evaluation.

Needs a token with contents: write and pull-requests: write in $GITHUB_TOKEN
(or the variable named by --token-env). The repository is --repo, else
$GITHUB_REPOSITORY, else read from the remote's URL; GITHUB_API_URL points at
GitHub Enterprise Server when set.

Examples:
   git evolve pr 1a2b3c4d
   git evolve pr 1a2b3c4d --base develop --draft`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.StringFlag{Name: "base", Value: "main", Usage: "`BRANCH` the pull request merges into"},
			&cli.BoolFlag{Name: "draft", Usage: "open the pull request as a draft"},
			&cli.BoolFlag{Name: "force", Usage: "move and force-push the branch if it points at another commit"},
			&cli.BoolFlag{Name: "no-sync", Usage: "do not push the experiment's candidates and notes"},
			remoteFlag("`REMOTE` to push to"),
			repoFlag(),
			tokenEnvFlag(),
		},
		Action: withTrailingFlags(func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErr("pr needs exactly one candidate id (see: git evolve log -e NAME)")
			}
			if c.String("base") == "" {
				return usageErr("--base must name a branch")
			}
			e, cand, cands, err := findCandidate(c, sio, c.String("experiment"), c.Args().First())
			if err != nil {
				return err
			}
			// Everything that can fail without touching anything comes first.
			gh, token, err := newGitHub(sio, c.String("token-env"))
			if err != nil {
				return err
			}
			remote := c.String("remote")
			repo, err := resolveRepo(sio, e, c.String("repo"), remote)
			if err != nil {
				return err
			}
			if cand.Status() != evolve.StatusOK {
				fmt.Fprintf(sio.Err, "warning: candidate %s is %s; opening its pull request anyway\n", cand.Short(), cand.Status())
			}
			title, body, err := action.PullRequestText(action.PullRequestInput{Exp: e.Name, ID: cand.ID, Cands: cands,
				Direction: e.Config.Eval.Direction, Links: action.Links{ServerURL: serverURL(sio), Repository: repo.String()}, Remote: remote})
			if err != nil {
				return err
			}

			branch, _, err := promoteBranch(e, cand, c.Bool("force"))
			if err != nil {
				return err
			}
			if err := pushBranch(c, sio, e, branch, remote, c.Bool("force"), token); err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "pushed %s to %s\n", branch, remote)
			if !c.Bool("no-sync") {
				if res, err := syncWithRemote(c.Context, e, remote, token); err != nil {
					fmt.Fprintf(sio.Err, "warning: the candidates and notes were not shared with %s (%v); reviewers need them for git evolve show: run git evolve sync %s\n", remote, err, remote)
				} else if len(res.Pushed) > 0 || res.NotesPushed {
					fmt.Fprintf(sio.Out, "shared %d candidates and the notes with %s\n", len(res.Pushed), remote)
				}
			}
			res, err := gh.UpsertPullRequest(c.Context, repo, action.PullRequestSpec{Head: branch, Base: c.String("base"),
				Title: title, Body: body, Draft: c.Bool("draft")})
			if err != nil {
				return err
			}
			verb := "updated"
			if res.Created {
				verb = "opened"
			}
			fmt.Fprintf(sio.Out, "%s pull request #%d: %s\n", verb, res.Number, res.URL)
			return nil
		}),
	}
}
