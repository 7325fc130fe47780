package cli

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/git-evolve/git-evolve/evolve"
	"github.com/urfave/cli/v2"
)

//go:embed scaffold
var scaffold embed.FS

func initCommand(sio *IO) *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "scaffold a new experiment in experiments/<name>/",
		ArgsUsage: "<name>",
		Description: `Creates experiments/<name>/ with:
   input.md            the problem statement for the Researcher
   config.yaml         every configuration key, commented, with its default
   initial_program.py  the program to improve (edit or replace it)
   eval.sh             the evaluation: prints {"score": ...} as its last line
   cognition/          domain knowledge, one markdown file per item

The scaffold runs as it is (git evolve step -e <name> improves a small curve
fit), so you can try the loop before replacing the program and the evaluator.
An existing experiment is never overwritten.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the created files as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErr("init needs exactly one experiment name, e.g. git evolve init my_exp")
			}
			exp := c.Args().First()
			if err := checkExpName(exp); err != nil {
				return err
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			dir := filepath.Join(s.Root(), "experiments", exp)
			if _, err := os.Stat(dir); err == nil {
				return withHint(fmt.Errorf("experiment %s already exists: %s", exp, rel(s.Root(), dir)),
					"pick another name, or edit the existing files")
			}
			if known, err := s.Experiments(c.Context); err == nil {
				for _, k := range known {
					if k == exp {
						return fmt.Errorf("experiment %s already has candidates in this repository (refs/evolve/%s/); pick another name", exp, exp)
					}
				}
			}
			created, err := writeScaffold(dir, exp)
			if err != nil {
				_ = os.RemoveAll(dir)
				return err
			}
			if c.Bool("json") {
				return writeJSON(sio.Out, map[string]any{"experiment": exp, "dir": rel(s.Root(), dir), "files": created})
			}
			fmt.Fprintf(sio.Out, "created experiment %s in %s:\n", exp, rel(s.Root(), dir))
			for _, f := range created {
				fmt.Fprintf(sio.Out, "  %s\n", f)
			}
			fmt.Fprintf(sio.Out, "\nnext:\n  $EDITOR %s/{input.md,config.yaml,eval.sh}\n  git evolve step -e %s --steps 10\n  git evolve log -e %s\n",
				rel(s.Root(), dir), exp, exp)
			return nil
		},
	}
}

func writeScaffold(dir, exp string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "cognition"), 0o755); err != nil {
		return nil, err
	}
	data := struct{ Exp string }{exp}
	files := []struct {
		src, dst string
		mode     fs.FileMode
		tmpl     bool
	}{
		{"scaffold/input.md", "input.md", 0o644, true},
		{"scaffold/initial_program.py", "initial_program.py", 0o644, false},
		{"scaffold/eval.sh", "eval.sh", 0o755, false},
		{"scaffold/cognition.md", "cognition/fit-curvature-first.md", 0o644, false},
	}
	var created []string
	for _, f := range files {
		b, err := scaffold.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		if f.tmpl {
			t, err := template.New(f.src).Parse(string(b))
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, data); err != nil {
				return nil, err
			}
			b = buf.Bytes()
		}
		if err := writeNew(filepath.Join(dir, f.dst), b, f.mode); err != nil {
			return nil, err
		}
		created = append(created, f.dst)
	}
	cfg := scaffoldConfig(exp)
	if err := writeNew(filepath.Join(dir, "config.yaml"), cfg, 0o644); err != nil {
		return nil, err
	}
	created = append(created, "config.yaml")
	return created, nil
}

// scaffoldConfig renders config.yaml with every key commented out at its
// default, so that a user sees what can be set.
func scaffoldConfig(exp string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Configuration of experiment %s. Merge order (later wins): built-in defaults,\n", exp)
	b.WriteString("# evolve.yaml at the repository root, this file, --config FILE, command-line flags.\n")
	b.WriteString("# ${VAR} reads an environment variable. API keys never go here: name the variable in api.key_env.\n\n")
	fmt.Fprintf(&b, "evolve:\n  files:\n    - experiments/%s/initial_program.py\n\n", exp)
	b.WriteString("eval:\n  timeout: 60s\n\n")
	for _, k := range evolve.ConfigKeys() {
		if k.Key == "evolve.files" || k.Key == "eval.timeout" {
			continue
		}
		fmt.Fprintf(&b, "# %s: %s", k.Key, k.Default)
		if k.Doc != "" {
			fmt.Fprintf(&b, "    # %s", k.Doc)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func writeNew(path string, b []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
