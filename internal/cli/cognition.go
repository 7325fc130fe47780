package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/git-evolve/git-evolve/cognition"
	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

// storeLessons reads the Analyzer's lessons from the notes of an experiment.
type storeLessons struct{ e *experiment }

func (s storeLessons) Lessons(ctx context.Context, exp string) ([]cognition.Lesson, error) {
	cands, err := s.e.Store.Candidates(ctx, exp)
	if err != nil {
		return nil, err
	}
	var out []cognition.Lesson
	for _, c := range cands {
		if c.Analyzed == nil {
			continue
		}
		for _, l := range c.Analyzed.Lessons {
			out = append(out, cognition.Lesson{Candidate: c.ID, Text: l, At: c.Analyzed.At})
		}
	}
	return out, nil
}

func openCognition(sio *IO, e *experiment, fallback bool) (*cognition.Store, error) {
	return cognition.Open(cognition.Options{
		Root: e.Root, GitDir: e.Store.GitDir(), Exp: e.Name,
		Cognition: e.Config.Cognition, API: e.Config.API, Getenv: sio.Getenv,
		Lessons: storeLessons{e}, OfflineFallback: fallback,
		Warn: func(w string) { fmt.Fprintf(sio.Err, "warning: %s\n", w) },
	})
}

// newRetriever is the cognition store the step loop retrieves from.
func newRetriever(_ context.Context, sio *IO, e *experiment) (evolve.Retriever, error) {
	return openCognition(sio, e, true)
}

func cognitionCommand(sio *IO) *cli.Command {
	load := func(c *cli.Context) (*experiment, *cognition.Store, error) {
		e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{needFolder: true})
		if err != nil {
			return nil, nil, err
		}
		s, err := openCognition(sio, e, !c.Bool("no-fallback"))
		return e, s, err
	}
	warn := func(ws []string) {
		for _, w := range ws {
			fmt.Fprintf(sio.Err, "warning: %s\n", w)
		}
	}
	return &cli.Command{
		Name:  "cognition",
		Usage: "manage the domain knowledge that primes every round",
		Description: `Knowledge items come from experiments/<exp>/cognition/*.md (one item per
file; the title is the first heading), from 'cognition add' / 'cognition import'
(which write such files, so knowledge is versioned like code), and from the
Analyzer's lessons recorded in the notes. Before each step the Researcher is
shown the cognition.retrieval.top_k items most relevant to the parent.

Examples:
   git evolve cognition list -e circle_packing_demo
   git evolve cognition search -e circle_packing_demo "corner placement" -k 5
   git evolve cognition add -e circle_packing_demo --title "Use an LP" --content "Given centres, ..."
   git evolve cognition import -e my_exp init_cognition.jsonl`,
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "write a new knowledge item into experiments/<exp>/cognition/",
				Flags: []cli.Flag{expFlag(),
					&cli.StringFlag{Name: "title", Usage: "item `TITLE`"},
					&cli.StringFlag{Name: "content", Usage: "item `TEXT`"},
					&cli.StringFlag{Name: "file", Usage: "read the content from `FILE` ('-' = stdin)"},
					jsonFlag()},
				Action: func(c *cli.Context) error {
					content := c.String("content")
					if f := c.String("file"); f != "" {
						if content != "" {
							return usageErr("give --content or --file, not both")
						}
						var b []byte
						var err error
						if f == "-" {
							b, err = io.ReadAll(sio.In)
						} else {
							b, err = os.ReadFile(f)
						}
						if err != nil {
							return usageErr("--file %s: %v", f, unwrapPath(err))
						}
						content = string(b)
					}
					if strings.TrimSpace(content) == "" {
						return usageErr("cognition add needs --content TEXT or --file FILE")
					}
					_, s, err := load(c)
					if err != nil {
						return err
					}
					res, warns, err := s.Add(c.Context, c.String("title"), content)
					warn(warns)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(sio.Out, map[string]any{"id": res.Item.ID, "title": res.Item.Title, "path": res.Path, "duplicate": res.Duplicate})
					}
					if res.Duplicate {
						fmt.Fprintf(sio.Out, "already known as %s (%s); nothing written\n", res.Item.ID, res.Item.Source)
						return nil
					}
					fmt.Fprintf(sio.Out, "added %s  %s\n  %s (commit it to share it)\n", res.Item.ID, res.Item.Title, res.Path)
					return nil
				},
			},
			{
				Name:      "import",
				Usage:     "import items from JSON or JSON Lines of {title, content}",
				ArgsUsage: "<file|->",
				Flags:     []cli.Flag{expFlag(), jsonFlag()},
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usageErr("cognition import needs one file (or - for stdin)")
					}
					var r io.Reader = sio.In
					if f := c.Args().First(); f != "-" {
						fh, err := os.Open(f)
						if err != nil {
							return usageErr("%s: %v", f, unwrapPath(err))
						}
						defer fh.Close()
						r = fh
					}
					_, s, err := load(c)
					if err != nil {
						return err
					}
					res, err := s.Import(c.Context, r)
					if err != nil {
						return err
					}
					warn(res.Warnings)
					for _, le := range res.Errors {
						fmt.Fprintf(sio.Err, "%s: %s\n", c.Args().First(), le.Error())
					}
					if c.Bool("json") {
						return writeJSON(sio.Out, map[string]any{"new": res.New, "duplicate": res.Duplicate, "errors": len(res.Errors)})
					}
					fmt.Fprintf(sio.Out, "imported %d new item(s), %d duplicate(s), %d line(s) with errors\n", res.New, res.Duplicate, len(res.Errors))
					if len(res.Errors) > 0 {
						return fmt.Errorf("%d record(s) of %s could not be imported (see above); the others were", len(res.Errors), c.Args().First())
					}
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the knowledge items (files and lessons)",
				Flags: []cli.Flag{expFlag(), jsonFlag()},
				Action: func(c *cli.Context) error {
					_, s, err := load(c)
					if err != nil {
						return err
					}
					items, warns, err := s.List(c.Context)
					warn(warns)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						out := make([]map[string]string, 0, len(items))
						for _, it := range items {
							out = append(out, map[string]string{"id": it.ID, "title": it.Title, "source": it.Source, "content": it.Content})
						}
						return writeJSON(sio.Out, out)
					}
					var rows [][]string
					for _, it := range items {
						rows = append(rows, []string{it.ID, oneLine(it.Title, 50), it.Source})
					}
					return table(sio.Out, sio.Terminal, []string{"id", "title", "source"}, rows)
				},
			},
			{
				Name:      "search",
				Usage:     "show the items most relevant to a query, with scores and sources",
				ArgsUsage: "<query>",
				Flags: []cli.Flag{expFlag(), &cli.IntFlag{Name: "k", Aliases: []string{"top-k"}, Usage: "`N` hits (default cognition.retrieval.top_k)"},
					&cli.BoolFlag{Name: "no-fallback", Usage: "fail instead of falling back to the offline embedder when the embeddings endpoint fails"},
					jsonFlag()},
				Action: func(c *cli.Context) error {
					q := strings.Join(c.Args().Slice(), " ")
					if strings.TrimSpace(q) == "" {
						return usageErr("cognition search needs a query")
					}
					_, s, err := load(c)
					if err != nil {
						return err
					}
					res, err := s.Search(c.Context, q, c.Int("k"))
					if err != nil {
						return err
					}
					warn(res.Warnings)
					if c.Bool("json") {
						out := make([]map[string]any, 0, len(res.Hits))
						for _, h := range res.Hits {
							out = append(out, map[string]any{"id": h.ID, "title": h.Title, "source": h.Source, "score": h.Score,
								"vector": h.Vector, "lexical": h.Lexical, "content": h.Content})
						}
						return writeJSON(sio.Out, out)
					}
					var rows [][]string
					for _, h := range res.Hits {
						rows = append(rows, []string{fmt.Sprintf("%.3f", h.Score), h.ID, oneLine(h.Title, 50), h.Source})
					}
					return table(sio.Out, sio.Terminal, []string{"score", "id", "title", "source"}, rows)
				},
			},
			{
				Name:      "rm",
				Usage:     "remove an item (its file; lessons live in the notes and cannot be removed)",
				ArgsUsage: "<id|file>",
				Flags:     []cli.Flag{expFlag()},
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usageErr("cognition rm needs one item id (see: git evolve cognition list)")
					}
					_, s, err := load(c)
					if err != nil {
						return err
					}
					it, err := s.Remove(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					fmt.Fprintf(sio.Out, "removed %s  %s (%s)\n", it.ID, it.Title, it.Path)
					return nil
				},
			},
		},
	}
}
