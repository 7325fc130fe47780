package evolve

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The three files in the order the CLI passes them.
const (
	rootFile = "evolve.yaml"
	expFile  = "experiments/x/config.yaml"
	flagFile = "tuned.yaml"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// sources pairs names with contents: sources(name1, data1, name2, data2, …).
func sources(nameData ...string) []ConfigSource {
	var out []ConfigSource
	for i := 0; i+1 < len(nameData); i += 2 {
		out = append(out, ConfigSource{Name: nameData[i], Data: []byte(nameData[i+1])})
	}
	return out
}

func mustLoad(t *testing.T, getenv func(string) (string, bool), nameData ...string) Config {
	t.Helper()
	cfg, err := LoadConfig("x", sources(nameData...), getenv)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

// loadErr loads and returns the error text, failing if there is none or if it is
// not a one-line *ConfigError.
func loadErr(t *testing.T, getenv func(string) (string, bool), nameData ...string) string {
	t.Helper()
	_, err := LoadConfig("x", sources(nameData...), getenv)
	if err == nil {
		t.Fatalf("LoadConfig succeeded, want an error")
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("error %T is not a *ConfigError: %v", err, err)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error is not one line: %q", err)
	}
	return err.Error()
}

func TestLoadConfigDefaultsWithoutSources(t *testing.T) {
	got := mustLoad(t, nil)
	if want := DefaultConfig("x"); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig with no sources = %+v, want the defaults %+v", got, want)
	}
}

func TestLoadConfigMergeOrder(t *testing.T) {
	root := "api:\n  model: from-root\n  temperature: 0.1\npipeline:\n  sample_n: 4\n"
	exp := "api:\n  model: from-exp\npipeline:\n  parallel:\n    num_workers: 2\n"
	flag := "api:\n  model: from-flag\n"
	tests := []struct {
		name    string
		files   []string
		model   string
		temp    float64
		sampleN int
		workers int
	}{
		{"defaults only", nil, "gpt-4o-mini", 0.7, 3, 1},
		{"evolve.yaml over defaults", []string{rootFile, root}, "from-root", 0.1, 4, 1},
		{"experiment config over evolve.yaml", []string{rootFile, root, expFile, exp}, "from-exp", 0.1, 4, 2},
		{"--config over experiment config", []string{rootFile, root, expFile, exp, flagFile, flag}, "from-flag", 0.1, 4, 2},
		{"only --config", []string{flagFile, flag}, "from-flag", 0.7, 3, 1},
		{"order is the caller's: last wins", []string{flagFile, flag, rootFile, root}, "from-root", 0.1, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, nil, tt.files...)
			if cfg.API.Model != tt.model || cfg.API.Temperature != tt.temp ||
				cfg.Pipeline.SampleN != tt.sampleN || cfg.Pipeline.Parallel.NumWorkers != tt.workers {
				t.Errorf("got model=%q temperature=%g sample_n=%d num_workers=%d, want %q %g %d %d",
					cfg.API.Model, cfg.API.Temperature, cfg.Pipeline.SampleN, cfg.Pipeline.Parallel.NumWorkers,
					tt.model, tt.temp, tt.sampleN, tt.workers)
			}
			// Keys no file sets keep their defaults.
			if cfg.API.KeyEnv != "OPENAI_API_KEY" || cfg.Eval.Script != "experiments/x/eval.sh" {
				t.Errorf("untouched keys changed: key_env=%q eval.script=%q", cfg.API.KeyEnv, cfg.Eval.Script)
			}
		})
	}
}

func TestLoadConfigMapsMergeListsReplace(t *testing.T) {
	root := `
api:
  pricing:
    gpt-a: {prompt: 1, completion: 2}
    gpt-b: {prompt: 5, completion: 6}
eval:
  deny_env: [AWS_SECRET_ACCESS_KEY, GH_TOKEN_NAME]
database:
  sampling:
    island:
      features: [a, b, c]
      bins: 4
`
	exp := `
api:
  pricing:
    gpt-a:
      prompt: 3
    "gpt-4.1": {prompt: 2, completion: 8}
eval:
  deny_env: [ONLY_THIS]
database:
  sampling:
    island:
      features: [z]
`
	cfg := mustLoad(t, nil, rootFile, root, expFile, exp)
	wantPricing := map[string]Price{
		"gpt-a":   {Prompt: 3, Completion: 2}, // merged key by key
		"gpt-b":   {Prompt: 5, Completion: 6}, // kept
		"gpt-4.1": {Prompt: 2, Completion: 8}, // added
	}
	if !reflect.DeepEqual(cfg.API.Pricing, wantPricing) {
		t.Errorf("pricing = %v, want %v", cfg.API.Pricing, wantPricing)
	}
	if want := []string{"ONLY_THIS"}; !reflect.DeepEqual(cfg.Eval.DenyEnv, want) {
		t.Errorf("deny_env = %q, want %q (lists are replaced, not appended)", cfg.Eval.DenyEnv, want)
	}
	if want := []string{"z"}; !reflect.DeepEqual(cfg.Database.Sampling.Island.Features, want) {
		t.Errorf("features = %q, want %q", cfg.Database.Sampling.Island.Features, want)
	}
	if cfg.Database.Sampling.Island.Bins != 4 || cfg.Database.Sampling.Island.NumIslands != 5 {
		t.Errorf("island = %+v, want bins 4 from evolve.yaml and 5 islands by default", cfg.Database.Sampling.Island)
	}

	// An empty list clears; a cleared evolve.files is then refused by Validate,
	// located where it was cleared.
	msg := loadErr(t, nil, rootFile, "evolve:\n  files: [a.py]\n", expFile, "\n\nevolve:\n  files: []\n")
	if want := expFile + ":4: evolve.files: must list at least one file or pattern"; msg != want {
		t.Errorf("error = %q, want %q", msg, want)
	}
	cfg = mustLoad(t, nil, rootFile, "eval:\n  deny_env: [A]\n", expFile, "eval:\n  deny_env: []\n")
	if len(cfg.Eval.DenyEnv) != 0 {
		t.Errorf("deny_env = %q after an empty list, want none", cfg.Eval.DenyEnv)
	}
}

func TestLoadConfigEmptyValuesKeepEarlierLayers(t *testing.T) {
	for _, data := range []string{
		"",
		"\n\n",
		"# only comments\n# api:\n#   model: x\n",
		"~\n",
		"---\n",
		"api:\n  # model: commented out\n",
		"api:\npipeline:\n  sample_n:\n",
		"api: null\nbudget: {}\n",
		"api:\n  pricing:\n    gpt-a:\n",
	} {
		cfg := mustLoad(t, nil, rootFile, "api:\n  model: kept\n", expFile, data)
		want := DefaultConfig("x")
		want.API.Model = "kept"
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("after %q: got %+v, want the earlier layers unchanged", data, cfg)
		}
	}
}

func TestLoadConfigAllTypes(t *testing.T) {
	data := `
api:
  model: "4"
  base_url: http://127.0.0.1:8000/v1
  key_env: MY_KEY
  temperature: 0
  max_tokens: 100
  timeout: 90
  retry_times: 0
pipeline:
  diff_based_evolution: false
  max_code_length: "5000"
database:
  sampling:
    algorithm: island
    ucb1_c: 2
eval:
  timeout: 1m30s
  direction: minimize
  memory_limit: 512MiB
  max_output: 4096
budget:
  max_tokens: 10000000000
  max_usd: 2.5
sync:
  remote: upstream
  every: 5
`
	cfg := mustLoad(t, nil, expFile, data)
	want := DefaultConfig("x")
	want.API = APIConfig{Model: "4", BaseURL: "http://127.0.0.1:8000/v1", KeyEnv: "MY_KEY", MaxTokens: 100,
		Timeout: Duration(90 * time.Second)}
	want.Pipeline.DiffBasedEvolution = false
	want.Pipeline.MaxCodeLength = 5000
	want.Database.Sampling.Algorithm = "island"
	want.Database.Sampling.UCB1C = 2
	want.Eval.Timeout = Duration(90 * time.Second)
	want.Eval.Direction = Minimize
	want.Eval.MemoryLimit = 512 << 20
	want.Eval.MaxOutput = 4096
	want.Budget = BudgetConfig{MaxTokens: 10000000000, MaxUSD: 2.5}
	want.Sync = SyncConfig{Remote: "upstream", Every: 5}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigEnvExpansion(t *testing.T) {
	getenv := env("HOST", "10.0.0.2:8000", "MODEL", "qwen", "WORKERS", "4", "EMPTY", "")
	data := `
api:
  base_url: http://${HOST}/v1
  model: ${MODEL}-${EMPTY}coder
  key_env: ${UNSET_KEY_ENV:-LOCAL_KEY}
pipeline:
  parallel:
    num_workers: ${WORKERS}
eval:
  script: ./run.sh --price $$5 --cost $3 $
  deny_env: ["${MODEL}_TOKEN", "${EMPTY:-FALLBACK}", "$${LITERAL}"]
`
	cfg := mustLoad(t, getenv, expFile, data)
	checks := []struct{ key, got, want string }{
		{"api.base_url", cfg.API.BaseURL, "http://10.0.0.2:8000/v1"},
		{"api.model", cfg.API.Model, "qwen-coder"},
		{"api.key_env", cfg.API.KeyEnv, "LOCAL_KEY"},
		{"num_workers", fmt.Sprint(cfg.Pipeline.Parallel.NumWorkers), "4"},
		{"eval.script", cfg.Eval.Script, "./run.sh --price $5 --cost $3 $"},
		{"eval.deny_env", strings.Join(cfg.Eval.DenyEnv, ","), "qwen_TOKEN,FALLBACK,${LITERAL}"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
		}
	}

	errs := []struct {
		name, data, want string
	}{
		{"unset variable", "api:\n  model: m\n\n  base_url: http://${OPENAI_HOST}/v1\n",
			expFile + ":4: api.base_url: environment variable OPENAI_HOST is not set"},
		{"unset in a list item", "evolve:\n  files:\n    - a.py\n    - ${SRC}/b.py\n",
			expFile + ":4: evolve.files[1]: environment variable SRC is not set"},
		{"unset in a number", "pipeline:\n  sample_n: ${N}\n",
			expFile + ":2: pipeline.sample_n: environment variable N is not set"},
		{"expanded value of the wrong type", "pipeline:\n  sample_n: ${MODEL}\n",
			expFile + `:2: pipeline.sample_n: expected an integer, got "qwen"`},
		{"unterminated", "api:\n  model: ${MODEL\n",
			expFile + `:2: api.model: unterminated ${ in "${MODEL" (write $$ for a literal $)`},
		{"bad name", "api:\n  model: ${1X}\n",
			expFile + `:2: api.model: ${1X} is not a valid variable reference (write $$ for a literal $)`},
		{"empty name", "api:\n  model: a${}\n",
			expFile + `:2: api.model: ${} is not a valid variable reference (write $$ for a literal $)`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, getenv, expFile, tt.data); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}

	// A nil getenv means no variable is set.
	if got, want := loadErr(t, nil, rootFile, "api:\n  model: ${M}\n"), rootFile+":2: api.model: environment variable M is not set"; got != want {
		t.Errorf("nil getenv: error = %q, want %q", got, want)
	}
	// Keys are never expanded.
	if got := loadErr(t, getenv, rootFile, "${MODEL}: 1\n"); !strings.Contains(got, "${MODEL}: unknown key") {
		t.Errorf("a key was expanded: %q", got)
	}
}

func TestLoadConfigUnknownKeys(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"sibling typo", "pipeline:\n  parallel:\n    num_workers: 2\n  sampel_n: 3\n",
			expFile + ":4: pipeline.sampel_n: unknown key; did you mean sample_n?"},
		{"deeply nested", "database:\n  sampling:\n    island:\n      num_island: 3\n",
			expFile + ":4: database.sampling.island.num_island: unknown key; did you mean num_islands?"},
		{"case and dashes", "api:\n  Base-URL: http://h\n",
			expFile + ":2: api.Base-URL: unknown key; did you mean base_url?"},
		{"right name, wrong section", "\nsample_n: 3\n",
			expFile + ":2: sample_n: unknown key; did you mean pipeline.sample_n?"},
		{"typo in the wrong section", "api:\n  top_kk: 3\n",
			expFile + ":2: api.top_kk: unknown key; did you mean cognition.retrieval.top_k?"},
		{"nothing close", "api:\n  model: m\n  wibble: 3\n",
			expFile + ":3: api.wibble: unknown key"},
		{"unknown section", "pipelines:\n  sample_n: 3\n",
			expFile + ":1: pipelines: unknown key; did you mean pipeline?"},
		{"unknown key in a pricing entry", "api:\n  pricing:\n    gpt-4.1:\n      prompt: 2\n      complet: 8\n",
			expFile + `:5: api.pricing."gpt-4.1".complet: unknown key; did you mean completion?`},
		{"non-scalar key", "api:\n  ? [a, b]\n  : 1\n",
			expFile + ":2: api: keys must be plain names, got a list"},
		{"merge key", "base: &b\nmodel: x\napi:\n  <<: *b\n",
			expFile + ":1: base: unknown key"},
		{"merge key in a known section", "pipeline: &p\n  sample_n: 2\napi:\n  <<: {model: m}\n",
			expFile + ":4: api: merge keys (<<) are not supported; write the keys out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, nil, expFile, tt.data); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

func TestLoadConfigWrongTypes(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"word for an integer", "pipeline:\n  sample_n: three\n",
			expFile + `:2: pipeline.sample_n: expected an integer, got "three"`},
		{"fraction for an integer", "pipeline:\n  sample_n: 3.5\n",
			expFile + `:2: pipeline.sample_n: expected an integer, got "3.5"`},
		{"integer out of range", "budget:\n  max_tokens: 99999999999999999999\n",
			expFile + `:2: budget.max_tokens: "99999999999999999999" is out of range`},
		{"word for a number", "api:\n  temperature: warm\n",
			expFile + `:2: api.temperature: expected a number, got "warm"`},
		{"NaN for a number", "api:\n  temperature: .nan\n",
			expFile + `:2: api.temperature: expected a number, got ".nan"`},
		{"word for a bool", "pipeline:\n  diff_based_evolution: maybe\n",
			expFile + `:2: pipeline.diff_based_evolution: expected true or false, got "maybe"`},
		{"list where a mapping is expected", "pipeline:\n  - sample_n\n",
			expFile + `:2: pipeline: expected a mapping with keys {sample_n, diff_based_evolution, max_code_length, parallel}, got a list`},
		{"scalar where a section is expected", "api: gpt-4o\n",
			expFile + `:1: api: expected a mapping with keys {model, base_url, key_env, temperature, max_tokens, timeout, retry_times, pricing}, got "gpt-4o"`},
		{"scalar where a list is expected", "evolve:\n  files: main.py\n",
			expFile + `:2: evolve.files: expected a list of strings, got "main.py"`},
		{"mapping where a list is expected", "evolve:\n  files: {a: 1}\n",
			expFile + `:2: evolve.files: expected a list of strings, got a mapping`},
		{"list item of the wrong kind", "evolve:\n  files:\n    - a.py\n    - [b.py]\n",
			expFile + `:4: evolve.files[1]: expected a string, got a list`},
		{"empty list item", "evolve:\n  files:\n    - a.py\n    -\n",
			expFile + `:4: evolve.files[1]: list items must not be empty`},
		{"list where a string is expected", "api:\n  model: [a, b]\n",
			expFile + `:2: api.model: expected a string, got a list`},
		{"pricing not a mapping", "api:\n  pricing: [gpt-4o]\n",
			expFile + `:2: api.pricing: expected a mapping of names to {prompt, completion}, got a list`},
		{"pricing entry not a mapping", "api:\n  pricing:\n    gpt-4o: 5\n",
			expFile + `:3: api.pricing.gpt-4o: expected a mapping with keys {prompt, completion}, got "5"`},
		{"bad duration", "eval:\n  timeout: 5 minutes\n",
			expFile + `:2: eval.timeout: "5 minutes" is not a duration (use e.g. 300s, 5m or a number of seconds)`},
		{"negative duration", "api:\n  timeout: -5s\n",
			expFile + `:2: api.timeout: duration "-5s" is negative`},
		{"duration as a list", "eval:\n  timeout: [5s]\n",
			expFile + `:2: eval.timeout: expected a duration (e.g. 300s, 5m or a number of seconds), got a list`},
		{"bad size", "eval:\n  memory_limit: 3 parsecs\n",
			expFile + `:2: eval.memory_limit: "3 parsecs" has an unknown unit "parsecs" (use B, KiB, MiB or GiB)`},
		{"long value is shortened", "pipeline:\n  sample_n: " + strings.Repeat("é", 60) + "\n",
			expFile + `:2: pipeline.sample_n: expected an integer, got "` + strings.Repeat("é", 40) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, nil, expFile, tt.data); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
	// The parse error of a duration is kept for errors.Is/As.
	_, err := LoadConfig("x", sources(expFile, "eval:\n  timeout: soon\n"), nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Err == nil || ce.Line != 2 || ce.Key != "eval.timeout" || ce.File != expFile {
		t.Errorf("error = %#v, want a *ConfigError for %s line 2 eval.timeout wrapping the parse error", ce, expFile)
	}
}

func TestLoadConfigRefusesLiteralSecrets(t *testing.T) {
	const sk = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	const ghp = "ghp_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	const pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
	keyMsg := "a literal API key or token does not belong in a config file: put the key in an environment variable and name it in api.key_env"
	tests := []struct{ name, data, want string }{
		{"api_key", "api:\n  model: m\n  api_key: abc\n", expFile + ":3: api.api_key: " + keyMsg},
		{"key", "api:\n  key: abc\n", expFile + ":2: api.key: " + keyMsg},
		{"token at the top", "token: abc\n", expFile + ":1: token: " + keyMsg},
		{"password nested", "sync:\n  password: hunter2\n", expFile + ":2: sync.password: " + keyMsg},
		{"secret with a prefix", "api:\n  client-secret: abc\n", expFile + ":2: api.client-secret: " + keyMsg},
		{"openai_api_key", "openai_api_key: abc\n", expFile + ":1: openai_api_key: " + keyMsg},
		{"sk- value in a known key", "api:\n  key_env: " + sk + "\n",
			expFile + ":2: api.key_env: refusing a literal secret (sk-…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{"sk- value inside a URL", "api:\n  base_url: https://h/v1?key=" + sk + "\n",
			expFile + ":2: api.base_url: refusing a literal secret (sk-…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{"sk- value under an unknown key wins over the unknown key", "api:\n  openai: " + sk + "\n",
			expFile + ":2: api.openai: refusing a literal secret (sk-…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{"ghp_ in a list", "eval:\n  deny_env:\n    - A\n    - " + ghp + "\n",
			expFile + ":4: eval.deny_env[1]: refusing a literal secret (ghp_…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{"github_pat_", "sync:\n  remote: https://x:" + pat + "@github.com/o/r\n",
			expFile + ":2: sync.remote: refusing a literal secret (github_pat_…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{"secret as a pricing model name", "api:\n  pricing:\n    " + sk + ": {prompt: 1}\n",
			expFile + ":3: api.pricing." + sk + ": refusing a literal secret (sk-…) in a config file: put the key in an environment variable and name it in api.key_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErr(t, nil, expFile, tt.data)
			if got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
			if strings.Contains(got, "AbCdEf") && !strings.Contains(tt.name, "pricing") {
				t.Errorf("the error repeats the secret: %q", got)
			}
		})
	}
	// A secret in a later file names that file.
	if got := loadErr(t, nil, rootFile, "api:\n  model: m\n", flagFile, "\napi:\n  model: "+sk+"\n"); !strings.HasPrefix(got, flagFile+":3: api.model: refusing") {
		t.Errorf("error = %q, want it to name %s line 3", got, flagFile)
	}
	// A secret that arrives through an environment variable is the point of
	// ${VAR}: accepted.
	cfg := mustLoad(t, env("URL", "https://h/v1?k="+sk), expFile, "api:\n  base_url: ${URL}\n")
	if !strings.HasSuffix(cfg.API.BaseURL, sk) {
		t.Errorf("base_url = %q, want the expanded value", cfg.API.BaseURL)
	}
	// Near misses are not secrets.
	for _, v := range []string{"ta" + "sk-" + "0123456789abcdefghijklmnop", "sk-short", "ghp_short", "risk-averse-strategy"} {
		mustLoad(t, nil, expFile, "api:\n  model: "+v+"\n")
	}
	// Known keys with credential-like words are fine.
	mustLoad(t, nil, expFile, "api:\n  key_env: MY_KEY\n  max_tokens: 5\nbudget:\n  max_tokens: 5\n")
}

func TestLoadConfigSyntaxErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"unclosed flow list", "api:\n  model: m\nevolve:\n  files: [a.py\n",
			rootFile + ":4: invalid YAML: did not find expected ',' or ']'"},
		{"unclosed quote", "api:\n  model: \"abc\n",
			rootFile + ":2: invalid YAML: found unexpected end of stream"},
		{"bad indentation", "api:\n  model: m\n   base_url: x\n",
			rootFile + ":3: invalid YAML: mapping values are not allowed in this context"},
		{"tab indentation", "api:\n\tmodel: x\n",
			rootFile + ":2: invalid YAML: found character that cannot start any token (YAML indentation must use spaces, not tabs)"},
		{"tab after spaces", "api:\n  model: x\n\tbase_url: y\n",
			rootFile + ":3: invalid YAML: found a tab character that violates indentation (YAML indentation must use spaces, not tabs)"},
		{"unknown anchor", "api:\n  model: *nowhere\n",
			rootFile + ": invalid YAML: unknown anchor 'nowhere' referenced"},
		{"two documents", "api:\n  model: a\n---\napi:\n  model: b\n",
			rootFile + ":3: a config file holds one YAML document; remove the second one (after ---)"},
		{"top level is a list", "- api\n",
			rootFile + ":1: expected a mapping of keys (like `api:` or `pipeline:`) at the top level, got a list"},
		{"top level is a word", "hello\n",
			rootFile + ":1: expected a mapping of keys (like `api:` or `pipeline:`) at the top level, got \"hello\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, nil, rootFile, tt.data); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
	// Tabs inside values and after the indentation are fine.
	cfg := mustLoad(t, nil, rootFile, "api:\n  model: \"a\\tb\"\n  base_url:\thttp://h\n")
	if cfg.API.Model != "a\tb" || cfg.API.BaseURL != "http://h" {
		t.Errorf("model=%q base_url=%q", cfg.API.Model, cfg.API.BaseURL)
	}
}

func TestLoadConfigDuplicateKeys(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"scalar", "api:\n  model: a\n  model: b\n", expFile + ":3: api.model: duplicate key (first set at line 2); keep one"},
		{"section", "api:\n  model: a\npipeline: {}\napi:\n  model: b\n", expFile + ":4: api: duplicate key (first set at line 1); keep one"},
		{"pricing model", "api:\n  pricing:\n    m: {prompt: 1}\n    m: {prompt: 2}\n", expFile + ":4: api.pricing.m: duplicate key (first set at line 3); keep one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, nil, expFile, tt.data); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
	// The same key in two files is the point of layering, not a duplicate.
	mustLoad(t, nil, rootFile, "api:\n  model: a\n", expFile, "api:\n  model: b\n")
}

func TestLoadConfigDottedKeys(t *testing.T) {
	data := `
api.model: m
api.pricing.gpt-4.1: {prompt: 2}
pipeline.parallel.num_workers: 3
pipeline:
  sample_n: 5
database.sampling:
  island.bins: 7
`
	cfg := mustLoad(t, nil, expFile, data)
	if cfg.API.Model != "m" || cfg.API.Pricing["gpt-4.1"] != (Price{Prompt: 2}) || cfg.Pipeline.Parallel.NumWorkers != 3 ||
		cfg.Pipeline.SampleN != 5 || cfg.Database.Sampling.Island.Bins != 7 {
		t.Errorf("dotted keys not applied: %+v", cfg)
	}
	for _, tt := range []struct{ data, want string }{
		{"api.modle: m\n", expFile + ":1: api.modle: unknown key; did you mean model?"},
		{"\npipeline.parallel.workers: 2\n", expFile + ":2: pipeline.parallel.workers: unknown key; did you mean num_workers?"},
		{"api.: m\n", expFile + `:1: "api.": unknown key; did you mean api?`},
		{"api.model.name: m\n", expFile + `:1: api.model: expected a string, got a mapping`},
		{"api.api_key: x\n", expFile + ":1: api.api_key: a literal API key or token does not belong in a config file: put the key in an environment variable and name it in api.key_env"},
		{"pipeline.sample_n: x\n", expFile + `:1: pipeline.sample_n: expected an integer, got "x"`},
	} {
		if got := loadErr(t, nil, expFile, tt.data); got != tt.want {
			t.Errorf("%q: error = %q\nwant    %q", tt.data, got, tt.want)
		}
	}
}

func TestLoadConfigAliases(t *testing.T) {
	data := `
api:
  pricing:
    gpt-a: &p {prompt: 1, completion: 2}
    gpt-b: *p
evolve:
  files: &files [a.py, b.py]
eval:
  deny_env: *files
`
	cfg := mustLoad(t, nil, expFile, data)
	if cfg.API.Pricing["gpt-b"] != (Price{1, 2}) || strings.Join(cfg.Eval.DenyEnv, ",") != "a.py,b.py" {
		t.Errorf("aliases not followed: pricing=%v deny_env=%q", cfg.API.Pricing, cfg.Eval.DenyEnv)
	}
	// A self-referencing anchor ends in a type error, not a loop.
	got := loadErr(t, nil, expFile, "api:\n  pricing: &p\n    m: *p\n")
	if !strings.HasPrefix(got, expFile+":") || !strings.Contains(got, "api.pricing.m") {
		t.Errorf("error = %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"algorithm", "database:\n  sampling:\n    algorithm: best\n",
			`:3: database.sampling.algorithm: must be one of ucb1, greedy, random, island, got "best"`},
		{"direction", "eval:\n  direction: up\n", `:2: eval.direction: must be maximize or minimize, got "up"`},
		{"num_workers", "pipeline:\n  parallel:\n    num_workers: 0\n", `:3: pipeline.parallel.num_workers: must be at least 1, got 0`},
		{"sample_n", "pipeline:\n  sample_n: -1\n", `:2: pipeline.sample_n: must be at least 1, got -1`},
		{"top_k", "cognition:\n  retrieval:\n    top_k: -1\n", `:3: cognition.retrieval.top_k: must not be negative, got -1`},
		{"score_threshold", "cognition:\n  retrieval:\n    score_threshold: 1.5\n", `:3: cognition.retrieval.score_threshold: must be between 0 and 1, got 1.5`},
		{"migration_rate", "database:\n  sampling:\n    island:\n      migration_rate: 2\n", `:4: database.sampling.island.migration_rate: must be between 0 and 1, got 2`},
		{"ratios together", "database:\n  sampling:\n    island:\n      exploration_ratio: 0.6\n      exploitation_ratio: 0.6\n",
			`:5: database.sampling.island.exploitation_ratio: exploration_ratio + exploitation_ratio must not exceed 1, got 1.2`},
		{"temperature", "api:\n  temperature: 3\n", `:2: api.temperature: must be between 0 and 2, got 3`},
		{"base_url", "api:\n  base_url: localhost:8000\n", `:2: api.base_url: must be an http:// or https:// URL, got "localhost:8000"`},
		{"key_env", "api:\n  key_env: my key\n", `:2: api.key_env: must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself`},
		{"model", "api:\n  model: \"\"\n", `:2: api.model: must not be empty`},
		{"timeout", "eval:\n  timeout: 0s\n", `:2: eval.timeout: must be longer than 0s`},
		{"pricing", "api:\n  pricing:\n    m:\n      completion: -1\n", `:4: api.pricing.m.completion: must not be negative, got -1`},
		{"absolute file", "evolve:\n  files: [/etc/passwd]\n", `:2: evolve.files[0]: "/etc/passwd" must be relative to the repository root and stay inside it`},
		{"escaping file", "evolve:\n  files:\n    - ok.py\n    - ../x.py\n", `:4: evolve.files[1]: "../x.py" must be relative to the repository root and stay inside it`},
		{"bad glob", "evolve:\n  files: [\"a[.py\"]\n", `:2: evolve.files[0]: "a[.py" is not a valid pattern`},
		{"budget", "budget:\n  max_usd: -1\n", `:2: budget.max_usd: must not be negative (0 means no limit), got -1`},
		{"sync.every", "sync:\n  every: 0\n", `:2: sync.every: must be at least 1, got 0`},
		{"bins", "database:\n  sampling:\n    island:\n      bins: 0\n", `:4: database.sampling.island.bins: must be at least 1, got 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, nil, expFile, tt.data); got != expFile+tt.want {
				t.Errorf("error = %q\nwant    %q", got, expFile+tt.want)
			}
		})
	}
	if err := DefaultConfig("x").Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// A value set in code (not from a file) is reported by key alone.
	cfg := DefaultConfig("x")
	cfg.Pipeline.SampleN = 0
	if err := cfg.Validate(); err == nil || err.Error() != "pipeline.sample_n: must be at least 1, got 0" {
		t.Errorf("Validate() = %v", err)
	}
}

func TestConfigYAMLRoundTrip(t *testing.T) {
	cfg := DefaultConfig("x")
	cfg.API.Model = "true" // a string that looks like a bool must stay a string
	cfg.API.BaseURL = "http://127.0.0.1:1/v1"
	cfg.API.Timeout = Duration(1500 * time.Millisecond)
	cfg.API.Pricing = map[string]Price{"gpt-4.1": {Prompt: 2, Completion: 8}, "m": {Prompt: 0.15}}
	cfg.Pipeline.SampleN = 7
	cfg.Eval.MemoryLimit = 3 << 30
	cfg.Eval.DenyEnv = []string{"A", "B"}
	cfg.Eval.Direction = Minimize
	cfg.Evolve.Files = []string{"src/*.go", "# not a comment"}
	cfg.Budget.MaxUSD = 0.1
	for _, c := range []Config{DefaultConfig("x"), cfg} {
		out, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := LoadConfig("x", sources("effective.yaml", string(out)), nil)
		if err != nil {
			t.Fatalf("loading YAML() output: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("round trip changed the config:\n got %+v\nwant %+v\n%s", back, c, out)
		}
	}
}

func TestConfigKeys(t *testing.T) {
	docs := ConfigKeys()
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.Key] {
			t.Errorf("key %s listed twice", d.Key)
		}
		seen[d.Key] = true
		if d.Doc == "" || d.Type == "" {
			t.Errorf("key %s lacks a description or type: %+v", d.Key, d)
		}
	}
	for k := range keyDescriptions {
		if !seen[k] {
			t.Errorf("description of %s, which is not a key", k)
		}
	}
	byKey := map[string]KeyDoc{}
	for _, d := range docs {
		byKey[d.Key] = d
	}
	for key, want := range map[string]KeyDoc{
		"api.model":                           {Type: "string", Default: "gpt-4o-mini"},
		"api.base_url":                        {Type: "string", Default: `""`},
		"api.timeout":                         {Type: "duration", Default: "300s"},
		"api.pricing":                         {Type: "map of name to {prompt, completion}", Default: "{}"},
		"pipeline.sample_n":                   {Type: "integer", Default: "3"},
		"pipeline.diff_based_evolution":       {Type: "bool", Default: "true"},
		"database.sampling.ucb1_c":            {Type: "number", Default: "1.414"},
		"database.sampling.island.features":   {Type: "list of strings", Default: "[complexity, diversity]"},
		"eval.script":                         {Type: "string", Default: "experiments/<exp>/eval.sh"},
		"eval.max_output":                     {Type: "size", Default: "1MiB"},
		"eval.memory_limit":                   {Type: "size", Default: "0"},
		"eval.direction":                      {Type: "string", Default: "maximize"},
		"evolve.files":                        {Type: "list of strings", Default: "[experiments/<exp>/initial_program*]"},
		"cognition.retrieval.score_threshold": {Type: "number", Default: "0.3"},
	} {
		got := byKey[key]
		if got.Type != want.Type || got.Default != want.Default {
			t.Errorf("%s: type %q default %q, want %q %q", key, got.Type, got.Default, want.Type, want.Default)
		}
	}
	if docs[0].Key != "api.model" {
		t.Errorf("first key %s, want api.model (struct order)", docs[0].Key)
	}

	// The rendered defaults, written back as a config file, load to the defaults:
	// the scaffold `git evolve init` writes from them is valid.
	var b strings.Builder
	var prev []string
	for _, d := range docs {
		segs := strings.Split(d.Key, ".")
		common := 0
		for common < len(prev)-1 && common < len(segs)-1 && prev[common] == segs[common] {
			common++
		}
		for i := common; i < len(segs)-1; i++ {
			fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", i), segs[i])
		}
		fmt.Fprintf(&b, "%s%s: %s # %s\n", strings.Repeat("  ", len(segs)-1), segs[len(segs)-1], d.Default, d.Doc)
		prev = segs
	}
	cfg, err := LoadConfig("<exp>", sources("scaffold.yaml", b.String()), nil)
	if err != nil {
		t.Fatalf("scaffold from ConfigKeys does not load: %v\n%s", err, b.String())
	}
	want := DefaultConfig("<exp>")
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("scaffold loads to %+v, want the defaults %+v\n%s", cfg, want, b.String())
	}

	// The same with flat dotted keys, one line each.
	b.Reset()
	for _, d := range docs {
		fmt.Fprintf(&b, "%s: %s # %s\n", d.Key, d.Default, d.Doc)
	}
	cfg, err = LoadConfig("<exp>", sources("flat.yaml", b.String()), nil)
	if err != nil {
		t.Fatalf("flat scaffold from ConfigKeys does not load: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("flat scaffold loads to %+v, want the defaults %+v\n%s", cfg, want, b.String())
	}
}

func TestApplyFlags(t *testing.T) {
	cfg := DefaultConfig("x")
	err := ApplyFlags(&cfg, map[string]string{
		"pipeline.sample_n":                 "5",
		"api.base_url":                      "http://127.0.0.1:9/v1",
		"api.model":                         "a: b", // taken literally
		"evolve.files":                      "a.py, b/*.py",
		"eval.deny_env":                     "[X, Y]",
		"eval.timeout":                      "2m",
		"api.pricing.gpt-4.1.prompt":        "2",
		"api.pricing.m":                     "{prompt: 1, completion: 3}",
		"database.sampling.island.features": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig("x")
	want.Pipeline.SampleN = 5
	want.API.BaseURL = "http://127.0.0.1:9/v1"
	want.API.Model = "a: b"
	want.Evolve.Files = []string{"a.py", "b/*.py"}
	want.Eval.DenyEnv = []string{"X", "Y"}
	want.Eval.Timeout = Duration(2 * time.Minute)
	want.API.Pricing = map[string]Price{"gpt-4.1": {Prompt: 2}, "m": {Prompt: 1, Completion: 3}}
	want.Database.Sampling.Island.Features = nil
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	tests := []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"pipeline.sampel_n": "3"}, "command line: pipeline.sampel_n: unknown key; did you mean sample_n?"},
		{map[string]string{"pipeline.sample_n": "three"}, `command line: pipeline.sample_n: expected an integer, got "three"`},
		{map[string]string{"pipeline.sample_n.x": "3"}, `command line: pipeline.sample_n.x: unknown key (pipeline.sample_n is integer, it has no sub-keys)`},
		{map[string]string{"api.api_key": "abc"}, "command line: api.api_key: a literal API key or token does not belong in the configuration: put the key in an environment variable and name it in api.key_env"},
		{map[string]string{"api.model": "sk-" + "AbCdEfGhIjKlMnOpQrStUvWxYz"}, "command line: api.model: refusing a literal secret (sk-…) in a config file: put the key in an environment variable and name it in api.key_env"},
		{map[string]string{"pipeline.parallel.num_workers": "0"}, "command line: pipeline.parallel.num_workers: must be at least 1, got 0"},
		{map[string]string{"api": "[1"}, `command line: api: expected a mapping with keys {model, base_url, key_env, temperature, max_tokens, timeout, retry_times, pricing} in YAML flow style, got "[1"`},
		{map[string]string{"eval.timeout": "soon"}, `command line: eval.timeout: "soon" is not a duration (use e.g. 300s, 5m or a number of seconds)`},
	}
	for _, tt := range tests {
		before := DefaultConfig("x")
		before.API.Pricing = map[string]Price{"m": {Prompt: 1}}
		cfg := before
		cfg.API.Pricing = map[string]Price{"m": {Prompt: 1}}
		err := ApplyFlags(&cfg, tt.kv)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ApplyFlags(%v) = %v\nwant %s", tt.kv, err, tt.want)
		}
		if !reflect.DeepEqual(cfg, before) {
			t.Errorf("ApplyFlags(%v) changed the config on error", tt.kv)
		}
	}
	// Keys are applied in sorted order, so a section and one of its keys combine
	// predictably: the key (longer, sorted later) wins.
	cfg = DefaultConfig("x")
	if err := ApplyFlags(&cfg, map[string]string{"pipeline.sample_n": "9", "pipeline": "{sample_n: 2, max_code_length: 7}"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Pipeline.SampleN != 9 || cfg.Pipeline.MaxCodeLength != 7 {
		t.Errorf("pipeline = %+v", cfg.Pipeline)
	}
}

func TestExpandVars(t *testing.T) {
	getenv := env("A", "1", "B", "", "LONG_NAME_2", "x")
	tests := []struct{ in, want, err string }{
		{"", "", ""},
		{"plain", "plain", ""},
		{"$", "$", ""},
		{"$$", "$", ""},
		{"$$$", "$$", ""},
		{"$${A}", "${A}", ""},
		{"$$$${A}", "$${A}", ""},
		{"$${A}${A}", "${A}1", ""},
		{"${A}${A}", "11", ""},
		{"pre${LONG_NAME_2}post", "prexpost", ""},
		{"${B}", "", ""},
		{"${B:-d}", "d", ""},
		{"${A:-d}", "1", ""},
		{"${NOPE:-}", "", ""},
		{"${NOPE:-a}b", "ab", ""},
		{"$A", "$A", ""},
		{"a$", "a$", ""},
		{"${NOPE}", "", "environment variable NOPE is not set"},
		{"${A", "", `unterminated ${ in "${A" (write $$ for a literal $)`},
		{"${A B}", "", `${A B} is not a valid variable reference (write $$ for a literal $)`},
	}
	for _, tt := range tests {
		got, err := expandVars(tt.in, getenv)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("expandVars(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("expandVars(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSuggestKeyAndEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"sample_n", "sampel_n", 2}, {"top_k", "top_k", 0}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
	cases := map[string]string{
		"modle":      "model",
		"retry":      "retry_times",
		"x":          "",
		"temprature": "temperature",
		"bins":       "database.sampling.island.bins",
	}
	keys := make([]string, 0, len(cases))
	for k := range cases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got := suggestKey(k, reflect.TypeFor[APIConfig]()); got != cases[k] {
			t.Errorf("suggestKey(%q) in api = %q, want %q", k, got, cases[k])
		}
	}
}

func BenchmarkLoadConfig(b *testing.B) {
	root := "api:\n  model: m\n  base_url: http://${HOST}/v1\n  pricing:\n    m: {prompt: 1, completion: 2}\n"
	exp := "pipeline:\n  sample_n: 4\nevolve:\n  files: [a.py, b.py]\neval:\n  timeout: 5m\n  memory_limit: 2GiB\n"
	srcs := sources(rootFile, root, expFile, exp)
	getenv := env("HOST", "h:1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadConfig("x", srcs, getenv); err != nil {
			b.Fatal(err)
		}
	}
}
