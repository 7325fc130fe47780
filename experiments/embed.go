// Package experiments holds the demo experiments that ship inside the
// git-evolve binary: circle_packing_demo (26 circles in the unit square) and
// infer_scheduler (the admission policy of a simulated LLM server). Each is a
// folder laid out as DESIGN.md section 2 describes (input.md, config.yaml,
// initial_program.py, eval.sh, evaluator.py, cognition/*.md); `git evolve demo`
// copies one into a fresh repository with CopyTo.
//
// The evaluators need only python3 and its standard library.
package experiments

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Files whose names start with "." or "_" (such as __pycache__) are left out
// by go:embed, so running an evaluator in place never leaks into the binary.
//
//go:embed circle_packing_demo infer_scheduler
var demos embed.FS

// FS returns the embedded demos: one top-level folder per demo, named as
// Names lists them.
func FS() fs.FS { return demos }

// Names lists the embedded demos, sorted.
func Names() []string {
	entries, err := demos.ReadDir(".")
	if err != nil { // cannot happen: the root of an embed.FS always exists
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// CopyTo writes demo name into dstRoot/experiments/<name>/, creating the
// folders it needs. Shell scripts (*.sh, such as eval.sh) are written with
// mode 0755, everything else with 0644. It never overwrites: if a file of the
// demo already exists under dstRoot, CopyTo stops with an error naming it
// (files written before the error stay). Nothing is committed to git.
func CopyTo(name, dstRoot string) error {
	if !isDemo(name) {
		return fmt.Errorf("unknown demo experiment %q (choose one of: %s)", name, strings.Join(Names(), ", "))
	}
	dst := filepath.Join(dstRoot, "experiments", name)
	return fs.WalkDir(demos, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read embedded demo %s: %w", p, err)
		}
		target := filepath.Join(dst, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(p, name), "/")))
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("copy demo %s: %w", name, err)
			}
			return nil
		}
		return copyFile(p, target)
	})
}

func isDemo(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}

// copyFile writes the embedded file src to target, refusing to replace an
// existing file.
func copyFile(src, target string) (err error) {
	mode := os.FileMode(0o644)
	if path.Ext(src) == ".sh" {
		mode = 0o755
	}
	in, err := demos.Open(src)
	if err != nil {
		return fmt.Errorf("read embedded demo file %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("copy demo file %s: %s already exists (use an empty folder, or remove it first)", src, target)
	}
	if err != nil {
		return fmt.Errorf("copy demo file %s: %w", src, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("copy demo file %s to %s: %w", src, target, cerr)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy demo file %s to %s: %w", src, target, err)
	}
	// The umask may have cleared bits of mode; the demo needs them as given.
	if err := out.Chmod(mode); err != nil {
		return fmt.Errorf("copy demo file %s: set mode of %s: %w", src, target, err)
	}
	return nil
}
