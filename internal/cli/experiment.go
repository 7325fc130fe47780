package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/git-evolve/git-evolve/gitstore"
	"github.com/urfave/cli/v2"
)

// workdir is where the command runs: -C DIR or the current directory.
func workdir(c *cli.Context) (string, error) {
	dir := c.String("C")
	if dir == "" {
		for _, a := range c.Lineage() {
			if v := a.String("C"); v != "" {
				dir = v
				break
			}
		}
	}
	if dir == "" {
		return os.Getwd()
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", usageErr("-C %s: not a directory", dir)
	}
	return filepath.Abs(dir)
}

// openStore opens the repository around the working directory.
func openStore(c *cli.Context) (*gitstore.Store, error) {
	dir, err := workdir(c)
	if err != nil {
		return nil, err
	}
	s, err := gitstore.Open(dir)
	if err != nil {
		return nil, withHint(err, "run git evolve inside a git repository (git init creates one), or pass -C DIR")
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	stores, _ := c.App.Metadata["stores"].([]*gitstore.Store)
	c.App.Metadata["stores"] = append(stores, s)
	return s, nil
}

// closeStores closes the stores a run of app opened, which saves their
// candidate indexes under .git/evolve/.
func closeStores(app *cli.App) {
	stores, _ := app.Metadata["stores"].([]*gitstore.Store)
	for _, s := range stores {
		_ = s.Close()
	}
	delete(app.Metadata, "stores")
}

// checkExpName checks an experiment name with the store's rule, as a usage error.
func checkExpName(exp string) error {
	if err := gitstore.CheckExperimentName(exp); err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	return nil
}

// experiment is a loaded experiment: its folder, merged configuration, problem
// statement and the editable files that exist in the working tree.
type experiment struct {
	Name     string
	Store    *gitstore.Store
	Root     string // worktree root
	Dir      string // Root/experiments/<name>
	Config   evolve.Config
	Problem  string
	Editable []string
	Sources  []string // config files that were read
}

type expOptions struct {
	configFile string                     // --config
	needFolder bool                       // the experiment folder must exist (step, eval)
	apply      func(*evolve.Config) error // command-line flags, applied last
}

// loadExperiment opens exp in the repository around the working directory.
func loadExperiment(ctx context.Context, c *cli.Context, sio *IO, exp string, opt expOptions) (*experiment, error) {
	if err := checkExpName(exp); err != nil {
		return nil, err
	}
	s, err := openStore(c)
	if err != nil {
		return nil, err
	}
	e := &experiment{Name: exp, Store: s, Root: s.Root()}
	e.Dir = filepath.Join(e.Root, "experiments", exp)
	_, statErr := os.Stat(e.Dir)
	if statErr != nil {
		known, _ := s.Experiments(ctx)
		has := false
		for _, k := range known {
			if k == exp {
				has = true
			}
		}
		if !has || opt.needFolder {
			return nil, unknownExperiment(ctx, s, e.Root, exp)
		}
	}
	var sources []evolve.ConfigSource
	for _, p := range []string{filepath.Join(e.Root, "evolve.yaml"), filepath.Join(e.Dir, "config.yaml")} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rel(e.Root, p), err)
		}
		sources = append(sources, evolve.ConfigSource{Name: rel(e.Root, p), Data: b})
	}
	if opt.configFile != "" {
		b, err := os.ReadFile(opt.configFile)
		if err != nil {
			return nil, usageErr("--config %s: %v", opt.configFile, unwrapPath(err))
		}
		sources = append(sources, evolve.ConfigSource{Name: opt.configFile, Data: b})
	}
	for _, src := range sources {
		e.Sources = append(e.Sources, src.Name)
	}
	cfg, err := evolve.LoadConfig(exp, sources, func(k string) (string, bool) {
		v := sio.Getenv(k)
		return v, v != ""
	})
	if err != nil {
		return nil, err
	}
	if opt.apply != nil {
		if err := opt.apply(&cfg); err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	e.Config = cfg
	if b, err := os.ReadFile(filepath.Join(e.Dir, "input.md")); err == nil {
		e.Problem = string(b)
	}
	if statErr == nil {
		e.Editable, err = expandEditable(e.Root, cfg.Evolve.Files)
		if err != nil && opt.needFolder {
			return nil, err
		}
	}
	return e, nil
}

func unknownExperiment(ctx context.Context, s *gitstore.Store, root, exp string) error {
	known := map[string]bool{}
	if ks, err := s.Experiments(ctx); err == nil {
		for _, k := range ks {
			known[k] = true
		}
	}
	if ents, err := os.ReadDir(filepath.Join(root, "experiments")); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				known[e.Name()] = true
			}
		}
	}
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := fmt.Sprintf("unknown experiment %q: experiments/%s/ does not exist", exp, exp)
	if len(names) > 0 {
		msg += " (known: " + strings.Join(names, ", ") + ")"
	}
	return withHint(errors.New(msg), "create it with: git evolve init "+exp)
}

// expandEditable resolves evolve.files patterns (repo-relative, '/'-separated,
// '*' within a segment, '**' for any depth) against the working tree. The order
// of the patterns is kept; matches of one pattern are sorted.
func expandEditable(root string, patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var all []string // lazily listed for ** patterns
	for _, p := range patterns {
		p = path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "./"))
		var matches []string
		if strings.Contains(p, "**") {
			if all == nil {
				_ = filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
					if err != nil {
						return nil
					}
					if d.IsDir() && d.Name() == ".git" {
						return filepath.SkipDir
					}
					if !d.IsDir() {
						all = append(all, filepath.ToSlash(rel(root, fp)))
					}
					return nil
				})
			}
			for _, f := range all {
				if evolve.MatchPattern(p, f) {
					matches = append(matches, f)
				}
			}
		} else {
			ms, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return nil, fmt.Errorf("evolve.files pattern %q: %w", p, err)
			}
			for _, m := range ms {
				if st, err := os.Stat(m); err == nil && !st.IsDir() {
					matches = append(matches, filepath.ToSlash(rel(root, m)))
				}
			}
		}
		sort.Strings(matches)
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, withHint(fmt.Errorf("evolve.files (%s) matches no file", strings.Join(patterns, ", ")),
			"list the files candidates may change under evolve.files in the experiment's config.yaml")
	}
	return out, nil
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
