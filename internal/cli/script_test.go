package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/git-evolve/git-evolve/internal/fakeopenai"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"git-evolve": func() { os.Exit(Main(os.Args, StdIO())) },
	})
}

// TestScripts runs testdata/script/*.txtar: the CLI as a user types it.
// Each script gets a HOME with a git identity, and $OPENAI_BASE_URL_FAKE
// pointing at a fake OpenAI-compatible server on 127.0.0.1.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o755); err != nil {
				return err
			}
			gitconfig := "[user]\n\tname = Script Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n"
			if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
				return err
			}
			env.Setenv("HOME", home)
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("OPENAI_API_KEY", "")
			env.Setenv("OPENAI_BASE_URL", "")
			srv, err := fakeopenai.Start()
			if err != nil {
				return err
			}
			env.Defer(srv.Close)
			env.Setenv("OPENAI_BASE_URL_FAKE", srv.URL())
			return nil
		},
	})
}
