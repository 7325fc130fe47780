package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/git-evolve/git-evolve/action"
	"github.com/urfave/cli/v2"
)

// newGitHub makes a GitHub client from the token in $tokenEnv and
// GITHUB_API_URL.
func newGitHub(sio *IO, tokenEnv string) (*action.Client, string, error) {
	if tokenEnv == "" {
		return nil, "", usageErr("--token-env must name an environment variable")
	}
	token := strings.TrimSpace(sio.Getenv(tokenEnv))
	if token == "" {
		return nil, "", &exitError{code: ExitError, err: fmt.Errorf("no GitHub token: $%s is empty", tokenEnv),
			hint: "set GITHUB_TOKEN or pass --token-env NAME (the variable that holds a token with pull-requests: write)"}
	}
	gh, err := action.NewClient(action.ClientOptions{Token: token, APIURL: sio.Getenv("GITHUB_API_URL"), MaxWait: 2 * time.Minute})
	if err != nil {
		return nil, "", err
	}
	return gh, token, nil
}

func commentCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "comment",
		Usage: "post or update the leaderboard comment of an experiment on a pull request",
		Description: `Keeps one comment per experiment on the pull request, found again by a hidden
marker (<!-- git-evolve:leaderboard:<exp> -->) among all its comments and
edited in place; it is created when missing. The content is that of
git evolve report.

Needs a token with the permission pull-requests: write in $GITHUB_TOKEN (or
the variable named by --token-env). GITHUB_API_URL points at GitHub
Enterprise Server when set.

Inside a workflow run by a pull_request event, --pr defaults to that pull
request.

Examples:
   git evolve comment -e circle_packing_demo --pr 12
   git evolve comment -e circle_packing_demo --pr 12 --repo octo/demo --top 5`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.IntFlag{Name: "pr", Usage: "pull request `NUMBER` (in a workflow: default the pull request of the event)"},
			topFlag(),
			metricsFlag(),
			repoFlag(),
			remoteFlag("`REMOTE` whose URL names the GitHub repository"),
			tokenEnvFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("comment takes no arguments (got %q); use -e NAME --pr N", c.Args().First())
			}
			number := c.Int("pr")
			if !c.IsSet("pr") && sio.Getenv("GITHUB_EVENT_NAME") != "" {
				// Inside a workflow: the pull request that triggered it.
				ev, err := action.ReadEvent(sio.Getenv("GITHUB_EVENT_NAME"), sio.Getenv("GITHUB_EVENT_PATH"))
				if err != nil {
					return err
				}
				pr, err := ev.RequirePullRequest("git evolve comment without --pr")
				if err != nil {
					return withHint(err, "pass --pr NUMBER to comment on a given pull request")
				}
				number = pr.Number
			}
			if number < 1 {
				return usageErr("--pr: give the number of the pull request to comment on")
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{})
			if err != nil {
				return err
			}
			gh, _, err := newGitHub(sio, c.String("token-env"))
			if err != nil {
				return err
			}
			repo, err := resolveRepo(sio, e, c.String("repo"), c.String("remote"))
			if err != nil {
				return err
			}
			opt, err := reportOptions(c, action.Links{ServerURL: serverURL(sio), Repository: repo.String()})
			if err != nil {
				return err
			}
			r, err := experimentReport(c.Context, e, opt)
			if err != nil {
				return err
			}
			res, err := gh.UpsertComment(c.Context, repo, number, action.Marker(e.Name), r.Markdown())
			if err != nil {
				return err
			}
			verb := "updated"
			if res.Created {
				verb = "created"
			}
			fmt.Fprintf(sio.Out, "%s the leaderboard comment on %s#%d: %s\n", verb, repo, number, res.URL)
			return nil
		},
	}
}
