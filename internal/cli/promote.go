package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/git-evolve/git-evolve/action"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

func promoteCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:      "promote",
		Usage:     "create the branch evolve/<exp>/<short-id> at a candidate (no GitHub)",
		ArgsUsage: "<id>",
		Description: `Makes a candidate an ordinary branch, evolve/<exp>/<short-id>, that you can
check out, test, push and merge like any other. An existing branch at the same
commit is left alone; one that points elsewhere is moved only with --force.
With --push the branch is pushed to the remote too. git evolve pr does the
same and opens a pull request.

Examples:
   git evolve promote 1a2b3c4d
   git evolve promote 1a2b3c4d --push --remote origin`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.BoolFlag{Name: "force", Usage: "move the branch if it points at another commit"},
			&cli.BoolFlag{Name: "push", Usage: "push the branch to the remote"},
			remoteFlag("`REMOTE` for --push"),
			tokenEnvFlag(),
		},
		Action: withTrailingFlags(func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErr("promote needs exactly one candidate id (see: git evolve log -e NAME)")
			}
			e, cand, _, err := findCandidate(c, sio, c.String("experiment"), c.Args().First())
			if err != nil {
				return err
			}
			branch, update, err := promoteBranch(e, cand, c.Bool("force"))
			if err != nil {
				return err
			}
			switch update {
			case action.BranchCreated:
				fmt.Fprintf(sio.Out, "created branch %s at %s  %s\n", branch, cand.Short(), oneLine(cand.DisplayTitle(), 60))
			case action.BranchMoved:
				fmt.Fprintf(sio.Out, "moved branch %s to %s  %s\n", branch, cand.Short(), oneLine(cand.DisplayTitle(), 60))
			default:
				fmt.Fprintf(sio.Out, "branch %s is already at %s  %s\n", branch, cand.Short(), oneLine(cand.DisplayTitle(), 60))
			}
			if !c.Bool("push") {
				fmt.Fprintf(sio.Out, "push it with: git push %s %s   (or open a pull request: git evolve pr %s)\n", c.String("remote"), branch, cand.Short())
				return nil
			}
			if err := pushBranch(c, sio, e, branch, c.String("remote"), c.Bool("force"), sio.Getenv(c.String("token-env"))); err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "pushed %s to %s\n", branch, c.String("remote"))
			return nil
		}),
	}
}

// promoteBranch creates (or checks) the branch of cand.
func promoteBranch(e *experiment, cand evolve.Candidate, force bool) (string, action.BranchUpdate, error) {
	if cand.Baseline {
		return "", "", fmt.Errorf("candidate %s is the baseline of %s: it changes nothing, so there is nothing to promote", cand.Short(), e.Name)
	}
	branch := action.BranchName(e.Name, cand.ID)
	update, err := action.Promote(e.Store.Repository(), branch, cand.ID, force)
	if errors.Is(err, action.ErrBranchMoved) {
		return "", "", withHint(err, "check what the branch holds with: git log "+branch)
	}
	return branch, update, err
}

// pushBranch pushes branch to remote, authenticated with token for HTTPS remotes.
func pushBranch(c *cli.Context, sio *IO, e *experiment, branch, remote string, force bool, token string) error {
	repo := e.Store.Repository()
	u, err := action.RemoteURL(repo, remote)
	if err != nil {
		return withHint(err, "add the remote with: git remote add "+remote+" <url>, or pass --remote NAME")
	}
	return action.PushBranch(c.Context, repo, remote, branch, force, action.TokenAuth(u, token))
}

// withTrailingFlags lets flags follow the positional arguments, as in
// `git evolve pr <id> --base main --draft`: urfave/cli v2 stops reading
// flags at the first argument, so the rest are read here and the action
// runs with a context that holds the flags from both places.
func withTrailingFlags(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		args := c.Args().Slice()
		trailing := false
		for _, a := range args {
			if a == "--" {
				break
			}
			trailing = trailing || strings.HasPrefix(a, "-") && a != "-"
		}
		if !trailing {
			return action(c)
		}
		set := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
		set.SetOutput(io.Discard)
		for _, f := range c.Command.Flags {
			if err := f.Apply(set); err != nil {
				return err
			}
		}
		// Keep the flags given before the arguments.
		for _, f := range c.Command.Flags {
			for _, name := range f.Names() {
				if c.IsSet(name) && set.Lookup(name) != nil {
					if err := set.Set(name, fmt.Sprint(c.Value(name))); err != nil {
						return &exitError{code: ExitUsage, err: err}
					}
				}
			}
		}
		var flags, positional []string
		for i := 0; i < len(args); i++ {
			a := args[i]
			if a == "--" {
				positional = append(positional, args[i+1:]...)
				break
			}
			if !strings.HasPrefix(a, "-") || a == "-" {
				positional = append(positional, a)
				continue
			}
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			fl := set.Lookup(name)
			if fl == nil {
				return &exitError{code: ExitUsage, err: fmt.Errorf("flag provided but not defined: %s", a)}
			}
			if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
		if err := set.Parse(append(append(flags, "--"), positional...)); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		parent := c
		if l := c.Lineage(); len(l) > 1 {
			parent = l[1]
		}
		if h := set.Lookup("help"); h != nil && h.Value.String() == "true" {
			return cli.ShowCommandHelp(parent, c.Command.Name)
		}
		nc := cli.NewContext(c.App, set, parent)
		nc.Command = c.Command
		return action(nc)
	}
}
