package cli

import (
	"fmt"
	"io"
	"sort"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

type treeNode struct {
	ID       string        `json:"id"`
	Score    *float64      `json:"score"`
	Status   evolve.Status `json:"status"`
	Title    string        `json:"title"`
	Children []*treeNode   `json:"children,omitempty"`
}

func treeCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:  "tree",
		Usage: "show the lineage of an experiment as an indented tree with scores",
		Description: `Each candidate is printed under its parent (the first parent of its commit),
children in the order they were created. A '*' marks the best candidate and the
path that leads to it.

Examples:
   git evolve tree -e circle_packing_demo
   git evolve tree -e circle_packing_demo --depth 3
   git evolve tree -e circle_packing_demo --best-path`,
		Flags: []cli.Flag{
			expFlag(),
			&cli.IntFlag{Name: "depth", Usage: "print at most `N` levels below the baseline (0 = all)"},
			&cli.BoolFlag{Name: "best-path", Usage: "print only the lineage of the best candidate"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErr("tree takes no arguments; use -e NAME")
			}
			e, err := loadExperiment(c.Context, c, sio, c.String("experiment"), expOptions{})
			if err != nil {
				return err
			}
			cands, err := e.Store.Candidates(c.Context, e.Name)
			if err != nil {
				return err
			}
			roots, onBest := buildTree(cands, e.Config.Eval.Direction, c.Bool("best-path"))
			if c.Bool("json") {
				if roots == nil {
					roots = []*treeNode{}
				}
				return writeJSON(sio.Out, roots)
			}
			if len(roots) == 0 {
				fmt.Fprintf(sio.Err, "experiment %s has no candidates yet\n", e.Name)
				return nil
			}
			for _, r := range roots {
				printTree(sio.Out, r, "", true, true, 0, c.Int("depth"), onBest)
			}
			return nil
		},
	}
}

// buildTree links candidates to their parents. Candidates whose parent is not
// in the experiment become roots (the baseline first).
func buildTree(cands []evolve.Candidate, dir evolve.Direction, bestOnly bool) ([]*treeNode, map[string]bool) {
	sorted := append([]evolve.Candidate(nil), cands...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Baseline != sorted[j].Baseline {
			return sorted[i].Baseline
		}
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.Before(sorted[j].Time)
		}
		return sorted[i].ID < sorted[j].ID
	})
	byID := map[string]evolve.Candidate{}
	for _, c := range sorted {
		byID[c.ID] = c
	}
	onBest := map[string]bool{}
	if b, ok := evolve.Best(sorted, dir); ok {
		for id := b.ID; id != "" && !onBest[id]; id = byID[id].Parent {
			onBest[id] = true
		}
	}
	nodes := map[string]*treeNode{}
	for _, c := range sorted {
		if bestOnly && !onBest[c.ID] {
			continue
		}
		n := &treeNode{ID: c.ID, Status: c.Status(), Title: c.DisplayTitle()}
		if s, ok := c.Score(); ok {
			n.Score = &s
		}
		nodes[c.ID] = n
	}
	var roots []*treeNode
	for _, c := range sorted {
		n, ok := nodes[c.ID]
		if !ok {
			continue
		}
		if p, ok := nodes[c.Parent]; ok && c.Parent != c.ID {
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots, onBest
}

func printTree(w io.Writer, n *treeNode, prefix string, last, root bool, depth, maxDepth int, onBest map[string]bool) {
	mark := " "
	if onBest[n.ID] {
		mark = "*"
	}
	branch := ""
	childPrefix := prefix
	if !root {
		if last {
			branch, childPrefix = "└─ ", prefix+"   "
		} else {
			branch, childPrefix = "├─ ", prefix+"│  "
		}
	}
	status := fmtScore(n.Score)
	if n.Status != evolve.StatusOK {
		status = string(n.Status)
	}
	fmt.Fprintf(w, "%s%s%s %s %s  %s\n", prefix, branch, mark, n.ID[:min(8, len(n.ID))], status, oneLine(n.Title, 60))
	if maxDepth > 0 && depth >= maxDepth {
		if len(n.Children) > 0 {
			fmt.Fprintf(w, "%s   … %d more below\n", childPrefix, countNodes(n)-1)
		}
		return
	}
	for i, ch := range n.Children {
		printTree(w, ch, childPrefix, i == len(n.Children)-1, false, depth+1, maxDepth, onBest)
	}
}

func countNodes(n *treeNode) int {
	k := 1
	for _, c := range n.Children {
		k += countNodes(c)
	}
	return k
}
