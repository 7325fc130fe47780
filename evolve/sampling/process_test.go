package sampling_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/git-evolve/git-evolve/evolve"
)

const helperEnv = "SAMPLING_TEST_POPULATION"

// sampleAll runs every algorithm, for a few seeds, five samples in a row
// (kept in flight), and prints every selection.
func sampleAll(t testing.TB, pop []evolve.Candidate) string {
	var b strings.Builder
	for _, name := range []string{"ucb1", "greedy", "random", "island"} {
		for seed := range uint64(4) {
			s := mustNew(t, configs()[name], "")
			rng := seeded(seed)
			for range 5 {
				sel, err := s.Sample(pop, 3, rng)
				if err != nil {
					t.Fatal(err)
				}
				b.WriteString(show(sel) + "\n")
			}
		}
	}
	return b.String()
}

// TestAnotherProcessChoosesTheSame runs the samplers in a second process
// (this test binary again) on the population read back from JSON, in reverse
// order: a different process, with its own map iteration order, makes the
// same choices under the same seeds.
func TestAnotherProcessChoosesTheSame(t *testing.T) {
	pop := grownPopulation(t, 400, 5)
	data, err := json.Marshal(pop)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "population.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperSampleProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	got, _, found := strings.Cut(string(out), "\n--- end ---")
	if !found {
		t.Fatalf("helper process printed no result:\n%s", out)
	}
	if want := sampleAll(t, pop); got != want {
		t.Errorf("the other process chose differently:\n%s\nthis process:\n%s", got, want)
	}
}

func TestHelperSampleProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("run by TestAnotherProcessChoosesTheSame")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pop []evolve.Candidate
	if err := json.Unmarshal(data, &pop); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(pop)
	os.Stdout.WriteString(sampleAll(t, pop) + "\n--- end ---\n")
}
