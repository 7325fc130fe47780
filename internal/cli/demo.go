package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/git-evolve/git-evolve/experiments"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/urfave/cli/v2"
)

func demoCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a demo experiment in a new repository (offline unless an LLM is configured)",
		Description: `Creates a new git repository, copies a demo experiment into it (the files are
built into git-evolve), commits, runs the loop and prints the leaderboard.

Demos:
   circle_packing_demo  26 circles in the unit square, maximise the sum of radii
   infer_scheduler      an LLM-serving request scheduler, scored by a simulator

Examples:
   git evolve demo
   git evolve demo --steps 30 --dir /tmp/packing
   git evolve demo --experiment infer_scheduler --seed 3`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "experiment", Aliases: []string{"e"}, Value: "circle_packing_demo", Usage: "which demo: " + strings.Join(experiments.Names(), " or ")},
			&cli.IntFlag{Name: "steps", Value: 10, Usage: "`N` steps"},
			&cli.StringFlag{Name: "dir", Usage: "create the repository in `DIR` (must not exist; default ./evolve-demo-<experiment>[-N])"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed"},
			&cli.IntFlag{Name: "workers", Aliases: []string{"j"}, Value: 1, Usage: "`W` concurrent workers"},
			&cli.BoolFlag{Name: "offline", Usage: "use the offline researcher even if an LLM endpoint is configured"},
		},
		Action: func(c *cli.Context) error {
			name := c.String("experiment")
			known := false
			for _, n := range experiments.Names() {
				known = known || n == name
			}
			if !known {
				return usageErr("--experiment %s: no such demo (choose %s)", name, strings.Join(experiments.Names(), " or "))
			}
			if c.Int("steps") < 0 || c.Int("workers") < 1 {
				return usageErr("--steps must be 0 or more and --workers at least 1")
			}
			base, err := workdir(c)
			if err != nil {
				return err
			}
			dir := c.String("dir")
			if dir == "" {
				dir = freshDir(filepath.Join(base, "evolve-demo-"+name))
			} else if !filepath.IsAbs(dir) {
				dir = filepath.Join(base, dir)
			}
			if _, err := os.Stat(dir); err == nil {
				return usageErr("--dir %s already exists; give a new folder", dir)
			}
			if err := makeDemoRepo(dir, name, sio); err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "created %s with experiments/%s (a new git repository)\n", dir, name)
			args := []string{"git-evolve", "-C", dir, "step", "-e", name, "--steps", fmt.Sprint(c.Int("steps")),
				"--seed", fmt.Sprint(c.Uint64("seed")), "--workers", fmt.Sprint(c.Int("workers"))}
			if c.Bool("offline") {
				args = append(args, "--offline")
			}
			inner := newApp(sio)
			err = inner.RunContext(c.Context, args)
			closeStores(inner)
			if err != nil {
				return err
			}
			fmt.Fprintf(sio.Out, "\nnext (with git-evolve on your PATH: go install ./cmd/git-evolve):\n  cd %s\n", dir)
			for _, l := range [][2]string{
				{"git evolve log -e " + name, "leaderboard"},
				{"git evolve show <id>", "motivation, metrics, analysis, diff"},
				{"git evolve tree -e " + name, "lineage"},
				{"git evolve step -e " + name + " --steps 20", "go on where it stopped"},
				{"git log --notes=evolve --glob='refs/evolve/*' --oneline", "the same, with plain git"},
				{"git evolve promote <id>", "a branch for the winner (git evolve pr <id> opens a pull request)"},
			} {
				fmt.Fprintf(sio.Out, "  %-58s %s\n", l[0], l[1])
			}
			return nil
		},
	}
}

func freshDir(p string) string {
	if _, err := os.Stat(p); err != nil {
		return p
	}
	for i := 2; ; i++ {
		q := fmt.Sprintf("%s-%d", p, i)
		if _, err := os.Stat(q); err != nil {
			return q
		}
	}
}

// makeDemoRepo creates a repository at dir holding the demo and one commit.
func makeDemoRepo(dir, name string, sio *IO) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return fmt.Errorf("create repository in %s: %w", dir, err)
	}
	if err := experiments.CopyTo(name, dir); err != nil {
		return err
	}
	readme := fmt.Sprintf("# git evolve demo: %s\n\nCreated by `git evolve demo`. See experiments/%s/input.md.\n", name, name)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644); err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddGlob("."); err != nil {
		return fmt.Errorf("stage demo files: %w", err)
	}
	sig := &object.Signature{Name: "git-evolve demo", Email: "git-evolve@localhost", When: sio.Now()}
	if _, err := wt.Commit("demo: "+name, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return fmt.Errorf("commit demo files: %w", err)
	}
	return nil
}
