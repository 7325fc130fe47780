package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/git-evolve/git-evolve/action"
	"github.com/urfave/cli/v2"
)

// GitHub-related flags shared by report, comment, pr and action.
func repoFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "repo", Usage: "GitHub repository `OWNER/NAME` (default $GITHUB_REPOSITORY, else read from the remote's URL)"}
}

func remoteFlag(usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: "remote", Value: "origin", Usage: usage}
}

func tokenEnvFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "token-env", Value: "GITHUB_TOKEN", Usage: "`NAME` of the environment variable holding the GitHub token"}
}

func topFlag() *cli.IntFlag {
	return &cli.IntFlag{Name: "top", Value: action.DefaultTop, Usage: fmt.Sprintf("show the best `N` candidates (at most %d)", action.MaxTop)}
}

func metricsFlag() *cli.StringSliceFlag {
	return &cli.StringSliceFlag{Name: "metrics", Usage: "metric `NAMES` shown as columns (default: up to 3 numeric metrics of the best)"}
}

// resolveRepo finds the GitHub repository: --repo, else GITHUB_REPOSITORY,
// else the URL of remote.
func resolveRepo(sio *IO, e *experiment, flagRepo, remote string) (action.Repo, error) {
	if flagRepo != "" {
		r, err := action.ParseRepo(flagRepo)
		if err != nil {
			return action.Repo{}, usageErr("--repo: %v", err)
		}
		return r, nil
	}
	if v := sio.Getenv("GITHUB_REPOSITORY"); v != "" {
		r, err := action.ParseRepo(v)
		if err != nil {
			return action.Repo{}, fmt.Errorf("GITHUB_REPOSITORY: %w", err)
		}
		return r, nil
	}
	u, err := action.RemoteURL(e.Store.Repository(), remote)
	if err != nil {
		return action.Repo{}, withHint(err, "pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
	}
	return action.RepoFromURL(u)
}

// serverURL is the GitHub web address commit links point to.
func serverURL(sio *IO) string {
	if v := strings.TrimRight(sio.Getenv("GITHUB_SERVER_URL"), "/"); v != "" {
		return v
	}
	return "https://github.com"
}

// reportLinks links commits when the repository is known; a local
// repository without a GitHub remote gets plain ids.
func reportLinks(sio *IO, e *experiment, flagRepo, remote string) (action.Links, error) {
	r, err := resolveRepo(sio, e, flagRepo, remote)
	if err != nil {
		if flagRepo != "" {
			return action.Links{}, err
		}
		return action.Links{}, nil
	}
	return action.Links{ServerURL: serverURL(sio), Repository: r.String()}, nil
}

// experimentReport builds the leaderboard report of e.
func experimentReport(ctx context.Context, e *experiment, opt action.ReportOptions) (action.Report, error) {
	cands, err := e.Store.Candidates(ctx, e.Name)
	if err != nil {
		return action.Report{}, err
	}
	opt.Direction = e.Config.Eval.Direction
	return action.BuildReport(e.Name, cands, opt), nil
}

func reportOptions(c *cli.Context, links action.Links) (action.ReportOptions, error) {
	top := c.Int("top")
	if top < 1 || top > action.MaxTop {
		return action.ReportOptions{}, usageErr("--top must be between 1 and %d", action.MaxTop)
	}
	var metrics []string
	if c.IsSet("metrics") {
		for _, m := range c.StringSlice("metrics") {
			for _, s := range strings.Split(m, ",") {
				if s = strings.TrimSpace(s); s != "" {
					metrics = append(metrics, s)
				}
			}
		}
	}
	return action.ReportOptions{Top: top, Metrics: metrics, Links: links}, nil
}

func reportCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "print the leaderboard report that the GitHub Action posts (Markdown or JSON)",
		Description: `Prints what the sticky pull request comment and the job summary show: the top
of the leaderboard with Δ vs the baseline and a few metrics, the counts of
evaluated, failed and pending candidates, tokens and cost, the lineage of the
best candidate as a Mermaid graph and its analysis. The Markdown always fits
in a GitHub comment (65,536 characters), however large the experiment.

Commit ids link to GitHub when the repository is known (--repo,
$GITHUB_REPOSITORY, or a GitHub URL of the remote).

Examples:
   git evolve report -e circle_packing_demo
   git evolve report -e circle_packing_demo --format json --top 5
   git evolve report -e circle_packing_demo >> "$GITHUB_STEP_SUMMARY"`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.StringFlag{Name: "format", Value: "markdown", Usage: "`FORMAT`: markdown or json"},
			topFlag(),
			metricsFlag(),
			repoFlag(),
			remoteFlag("`REMOTE` whose URL names the GitHub repository for links"),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("report takes no arguments (got %q); use -e NAME", c.Args().First())
			}
			format := c.String("format")
			if format != "markdown" && format != "json" && format != "md" {
				return usageErr("--format %q: use markdown or json", format)
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{})
			if err != nil {
				return err
			}
			links, err := reportLinks(sio, e, c.String("repo"), c.String("remote"))
			if err != nil {
				return err
			}
			opt, err := reportOptions(c, links)
			if err != nil {
				return err
			}
			r, err := experimentReport(c.Context, e, opt)
			if err != nil {
				return err
			}
			return printReport(sio.Out, r, format)
		},
	}
}

func printReport(w io.Writer, r action.Report, format string) error {
	if format == "json" {
		b, err := r.JSON()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err := io.WriteString(w, r.Markdown())
	return err
}
