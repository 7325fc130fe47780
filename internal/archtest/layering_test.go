// Package archtest checks the import rules of docs/architecture.md.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/git-evolve/git-evolve"

// allowed lists, for each package, the project packages it may depend on
// (directly or not). A package missing from this table fails the test, so a
// new package must be placed in the layers on purpose.
var allowed = map[string][]string{
	"evolve":              {},
	"evolve/sampling":     {"evolve"},
	"gitstore":            {"evolve"},
	"agents":              {"evolve"},
	"cognition":           {"evolve"},
	"action":              {"evolve", "gitstore"},
	"experiments":         {},
	"internal/fakeopenai": {},
	"internal/archtest":   {},
	"internal/cli":        {"*"},
	"cmd/git-evolve":      {"internal/cli", "*"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rules, ok := allowed[name]
		if strings.HasPrefix(name, "bench/") {
			rules, ok = []string{"*"}, true // benchmark programs measure any layer
		}
		if !ok {
			t.Errorf("package %s is not placed in docs/architecture.md's layers (add it to the table and to this test)", name)
			continue
		}
		if len(rules) > 0 && rules[len(rules)-1] == "*" {
			continue
		}
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			dn := strings.TrimPrefix(d, module+"/")
			ok := false
			for _, a := range rules {
				if dn == a {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s depends on %s, which docs/architecture.md does not allow", name, dn)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

// TestNoPrinting: libraries never write to the terminal or exit.
func TestNoPrinting(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		name := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		if name == "internal/cli" || name == "cmd/git-evolve" {
			continue
		}
		for _, imp := range f[1:] {
			if imp == "log" || imp == "github.com/urfave/cli/v2" {
				t.Errorf("library package %s imports %s; only internal/cli talks to the terminal", name, imp)
			}
		}
	}
}
