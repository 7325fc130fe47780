package evolve

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is the merged configuration (DESIGN.md section 5). Key names follow
// ASI-Evolve's config.yaml. The loader (LoadConfig) merges built-in defaults,
// evolve.yaml, experiments/<exp>/config.yaml, --config and flags, in that order.
type Config struct {
	API       APIConfig       `yaml:"api" json:"api"`
	Pipeline  PipelineConfig  `yaml:"pipeline" json:"pipeline"`
	Database  DatabaseConfig  `yaml:"database" json:"database"`
	Cognition CognitionConfig `yaml:"cognition" json:"cognition"`
	Eval      EvalConfig      `yaml:"eval" json:"eval"`
	Evolve    EvolveConfig    `yaml:"evolve" json:"evolve"`
	Budget    BudgetConfig    `yaml:"budget" json:"budget"`
	Sync      SyncConfig      `yaml:"sync" json:"sync"`
}

// APIConfig configures the OpenAI-compatible endpoint.
type APIConfig struct {
	Model       string           `yaml:"model" json:"model"`
	BaseURL     string           `yaml:"base_url" json:"base_url"`
	KeyEnv      string           `yaml:"key_env" json:"key_env"`
	Temperature float64          `yaml:"temperature" json:"temperature"`
	MaxTokens   int              `yaml:"max_tokens" json:"max_tokens"`
	Timeout     Duration         `yaml:"timeout" json:"timeout"`
	RetryTimes  int              `yaml:"retry_times" json:"retry_times"`
	Pricing     map[string]Price `yaml:"pricing" json:"pricing"`
}

// Price is the cost of a model in USD per million tokens.
type Price struct {
	Prompt     float64 `yaml:"prompt" json:"prompt"`
	Completion float64 `yaml:"completion" json:"completion"`
}

// PipelineConfig configures the step loop.
type PipelineConfig struct {
	SampleN            int            `yaml:"sample_n" json:"sample_n"`
	DiffBasedEvolution bool           `yaml:"diff_based_evolution" json:"diff_based_evolution"`
	MaxCodeLength      int            `yaml:"max_code_length" json:"max_code_length"`
	Parallel           ParallelConfig `yaml:"parallel" json:"parallel"`
}

// ParallelConfig configures concurrency.
type ParallelConfig struct {
	NumWorkers int `yaml:"num_workers" json:"num_workers"`
}

// DatabaseConfig configures the population.
type DatabaseConfig struct {
	Sampling SamplingConfig `yaml:"sampling" json:"sampling"`
}

// SamplingConfig configures parent selection.
type SamplingConfig struct {
	Algorithm string       `yaml:"algorithm" json:"algorithm"` // ucb1, greedy, random, island
	UCB1C     float64      `yaml:"ucb1_c" json:"ucb1_c"`
	Island    IslandConfig `yaml:"island" json:"island"`
}

// IslandConfig configures the island / MAP-Elites sampler.
type IslandConfig struct {
	NumIslands        int      `yaml:"num_islands" json:"num_islands"`
	MigrationInterval int      `yaml:"migration_interval" json:"migration_interval"`
	MigrationRate     float64  `yaml:"migration_rate" json:"migration_rate"`
	ExplorationRatio  float64  `yaml:"exploration_ratio" json:"exploration_ratio"`
	ExploitationRatio float64  `yaml:"exploitation_ratio" json:"exploitation_ratio"`
	Features          []string `yaml:"features" json:"features"`
	Bins              int      `yaml:"bins" json:"bins"`
}

// CognitionConfig configures the knowledge store.
type CognitionConfig struct {
	Retrieval RetrievalConfig `yaml:"retrieval" json:"retrieval"`
	Embedding EmbeddingConfig `yaml:"embedding" json:"embedding"`
}

// RetrievalConfig configures retrieval for the Researcher's prompt.
type RetrievalConfig struct {
	TopK           int     `yaml:"top_k" json:"top_k"`
	ScoreThreshold float64 `yaml:"score_threshold" json:"score_threshold"`
}

// EmbeddingConfig selects the embedder; an empty model means the offline one.
type EmbeddingConfig struct {
	Model   string `yaml:"model" json:"model"`
	BaseURL string `yaml:"base_url" json:"base_url"`
}

// EvalConfig configures the Engineer.
type EvalConfig struct {
	Script      string    `yaml:"script" json:"script"`
	Timeout     Duration  `yaml:"timeout" json:"timeout"`
	Direction   Direction `yaml:"direction" json:"direction"`
	MemoryLimit ByteSize  `yaml:"memory_limit" json:"memory_limit"` // 0 = none
	MaxOutput   ByteSize  `yaml:"max_output" json:"max_output"`     // per stream
	DenyEnv     []string  `yaml:"deny_env" json:"deny_env"`         // extra variables removed from the evaluation's environment
}

// EvolveConfig lists the editable files.
type EvolveConfig struct {
	Files []string `yaml:"files" json:"files"`
}

// BudgetConfig stops a run cleanly. Zero means no limit.
type BudgetConfig struct {
	MaxSteps  int     `yaml:"max_steps" json:"max_steps"`
	MaxTokens int64   `yaml:"max_tokens" json:"max_tokens"`
	MaxUSD    float64 `yaml:"max_usd" json:"max_usd"`
}

// SyncConfig configures `step --sync`.
type SyncConfig struct {
	Remote string `yaml:"remote" json:"remote"`
	Every  int    `yaml:"every" json:"every"`
}

// DefaultConfig returns the built-in defaults for experiment exp.
func DefaultConfig(exp string) Config {
	return Config{
		API: APIConfig{
			Model:       "gpt-4o-mini",
			KeyEnv:      "OPENAI_API_KEY",
			Temperature: 0.7,
			MaxTokens:   16384,
			Timeout:     Duration(300 * time.Second),
			RetryTimes:  3,
		},
		Pipeline: PipelineConfig{
			SampleN:            3,
			DiffBasedEvolution: true,
			MaxCodeLength:      100000,
			Parallel:           ParallelConfig{NumWorkers: 1},
		},
		Database: DatabaseConfig{Sampling: SamplingConfig{
			Algorithm: "ucb1",
			UCB1C:     1.414,
			Island: IslandConfig{
				NumIslands:        5,
				MigrationInterval: 10,
				MigrationRate:     0.1,
				ExplorationRatio:  0.2,
				ExploitationRatio: 0.3,
				Features:          []string{"complexity", "diversity"},
				Bins:              10,
			},
		}},
		Cognition: CognitionConfig{Retrieval: RetrievalConfig{TopK: 3, ScoreThreshold: 0.3}},
		Eval: EvalConfig{
			Script:    "experiments/" + exp + "/eval.sh",
			Timeout:   Duration(600 * time.Second),
			Direction: Maximize,
			MaxOutput: 1 << 20,
		},
		Evolve: EvolveConfig{Files: []string{"experiments/" + exp + "/initial_program*"}},
		Sync:   SyncConfig{Remote: "origin", Every: 1},
	}
}

// Duration is a time.Duration read from "300s", "5m" or a number of seconds.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads "300s", "5m", "1h30m" or a plain number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		return Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 300s, 5m or a number of seconds)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(d), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (used by YAML and JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ByteSize is a size read from "512MiB", "1GB", "4096" (bytes).
type ByteSize int64

// ParseByteSize reads sizes with an optional unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB
// (all binary multiples).
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (use e.g. 512MiB, 2GiB or a number of bytes)", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KiB, MiB or GiB)", s, unit)
	}
	return ByteSize(f * mult), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }
