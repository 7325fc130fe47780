package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/evolve/sampling"
	"github.com/urfave/cli/v2"
)

func commitCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "commit",
		Usage: "record your own edit of the editable files as a candidate",
		Description: `Takes the working tree's version of the experiment's editable files
(evolve.files) and records it as a candidate whose parent is --parent (default:
the best candidate, or the baseline). Your working tree, index and branch are
not changed. The candidate is pending until evaluated (git evolve eval, or the
next git evolve step).

Examples:
   git evolve commit -e circle_packing_demo -m "start from a hexagonal grid"
   git evolve commit -e my_exp --parent 1a2b3c4d -m "hand-tuned constants" --title "tuned"`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.StringFlag{Name: "parent", Usage: "parent candidate `ID` (default: the best, else the baseline)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "the motivation: why this change should score better"},
			&cli.StringFlag{Name: "title", Usage: "short title (default: the first line of the message)"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("commit takes no arguments; use -m MESSAGE")
			}
			msg := strings.TrimSpace(c.String("message"))
			if msg == "" {
				return usageErr("commit needs a motivation: -m \"why this change should score better\"")
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{needFolder: true})
			if err != nil {
				return err
			}
			ctx := c.Context
			who := "human"
			if u, err := user.Current(); err == nil && u.Username != "" {
				who = u.Username
			}
			if _, _, err := e.Store.EnsureBaseline(ctx, evolve.BaselineRequest{Exp: e.Name, When: sio.Now(), By: who}); err != nil {
				return err
			}
			cands, err := e.Store.Candidates(ctx, e.Name)
			if err != nil {
				return err
			}
			parent := ""
			if p := c.String("parent"); p != "" {
				if parent, err = e.Store.Resolve(ctx, e.Name, p); err != nil {
					return err
				}
			} else if b, ok := evolve.Best(cands, e.Config.Eval.Direction); ok {
				parent = b.ID
			} else {
				for _, cand := range cands {
					if cand.Baseline {
						parent = cand.ID
					}
				}
			}
			if parent == "" {
				return errors.New("no parent candidate found; pass --parent ID")
			}
			old, err := e.Store.Files(ctx, parent, e.Editable)
			if err != nil {
				return err
			}
			files := map[string][]byte{}
			changed := false
			for _, p := range e.Editable {
				b, err := os.ReadFile(filepath.Join(e.Root, filepath.FromSlash(p)))
				if err != nil {
					return fmt.Errorf("read %s: %w", p, unwrapPath(err))
				}
				files[p] = b
				if o, ok := old[p]; !ok || !bytes.Equal(o, b) {
					changed = true
				}
			}
			if !changed {
				return withHint(fmt.Errorf("nothing to commit: the editable files are the same as in %s", parent[:8]),
					"edit "+strings.Join(e.Editable, ", ")+" first")
			}
			t := c.String("title")
			if t == "" {
				t = strings.SplitN(msg, "\n", 2)[0]
			}
			now := sio.Now()
			size, sketch := sampling.CodeSize(files), sampling.Sketch(files)
			id, err := e.Store.Commit(ctx, evolve.CommitRequest{
				Exp: e.Name, Parent: parent, Files: files, Allowed: e.Editable,
				Message: evolve.CommitMessage{Exp: e.Name, Title: t, Motivation: msg},
				Proposed: evolve.Event{V: evolve.FormatVersion, Exp: e.Name, Event: evolve.EventProposed, At: now, By: who,
					Parent: parent, Sampler: "manual", Title: t, Motivation: msg, Model: "human", CodeSize: size, Sketch: sketch},
				When: now,
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, map[string]string{"id": id, "parent": parent, "status": string(evolve.StatusPending)})
			}
			fmt.Fprintf(sio.Out, "recorded candidate %s (parent %s): %s\nevaluate it with: git evolve eval -e %s %s\n", id[:8], parent[:8], t, e.Name, id[:8])
			return nil
		},
	}
}
