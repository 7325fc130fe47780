package evolve

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var configSeeds = []string{
	"",
	"# comment only\n",
	"~\n",
	"api:\n  model: m\n  base_url: http://${HOST}/v1\n  key_env: K\n",
	"api:\n  pricing:\n    gpt-a: &p {prompt: 1, completion: 2}\n    gpt-b: *p\n",
	"api:\n  pricing: &p\n    m: *p\n",
	"pipeline:\n  sample_n: three\n",
	"pipeline:\n  sample_n: ${N:-4}\n  parallel: {num_workers: 2}\n",
	"evolve:\n  files: [a.py, \"b/*.py\"]\n",
	"evolve:\n  files:\n    -\n",
	"eval:\n  timeout: 1e300\n  memory_limit: 1e30GiB\n  max_output: -1\n",
	"eval:\n  timeout: .inf\n  direction: minimize\n",
	"database:\n  sampling:\n    island:\n      features: []\n      num_island: 2\n",
	"api:\n  api_key: sk-" + "AbCdEfGhIjKlMnOpQrStUvWxYz\n",
	"token: ghp_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123\n",
	"a: 1\n---\nb: 2\n",
	"api:\n\tmodel: x\n",
	"api:\n  model: a\n  model: b\n",
	"? [a]\n: b\n",
	"<<: {api: {model: m}}\n",
	"api: {model: m\n",
	"a: &a [*a, *a]\nb: &b [*a, *a]\n",
	"budget:\n  max_tokens: 99999999999999999999999\n  max_usd: .nan\n",
	"sync:\n  every: 0x10\n  remote: \"$${X}\"\n",
	"\xff\xfe\x00a",
	"api:\n  model: !!binary aGVsbG8=\n",
	"api:\n  model: \"${\"\n",
	"api.model: m\napi.pricing.x: {prompt: 1}\n\"a\\nb\": 1\n",
}

// FuzzLoadConfig feeds arbitrary bytes as the experiment config over a fixed
// evolve.yaml. Loading must never panic; an error must be a one-line
// *ConfigError naming the file; a loaded config must validate and survive a
// YAML() round trip.
func FuzzLoadConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s))
	}
	root := ConfigSource{Name: rootFile, Data: []byte("api:\n  model: base\n  pricing:\n    m: {prompt: 1}\n")}
	getenv := env("HOST", "h:1", "N", "5", "EMPTY", "")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadConfig("x", []ConfigSource{root, {Name: expFile, Data: data}}, getenv)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError: %v", err, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, expFile) {
				t.Fatalf("error %q is not one line starting with %s", msg, expFile)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig returned a config that does not validate: %v", err)
		}
		out, err := cfg.YAML()
		if err != nil {
			t.Fatalf("YAML(): %v", err)
		}
		if bytes.Contains(out, []byte("$")) || secretValue.Match(out) {
			return // $ and secrets from expansion do not read back as they are
		}
		back, err := LoadConfig("x", []ConfigSource{{Name: "effective.yaml", Data: out}}, nil)
		if err != nil {
			t.Fatalf("YAML() output does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("YAML() round trip changed the config:\n got %+v\nwant %+v", back, cfg)
		}
	})
}

// FuzzApplyFlags sets one arbitrary key to an arbitrary value: never a panic,
// and on error the configuration is unchanged.
func FuzzApplyFlags(f *testing.F) {
	for _, kv := range [][2]string{
		{"pipeline.sample_n", "5"}, {"api.pricing.gpt-4.1.prompt", "2"}, {"api.pricing", "{m: {prompt: 1}}"},
		{"evolve.files", "a.py,b.py"}, {"eval.deny_env", "[X"}, {"api", "{model: m}"}, {"", ""}, {".", "x"},
		{"api.pricing..", "1"}, {"api.model.x", "1"}, {"eval.timeout", "2m"}, {"api.api_key", "x"},
		{"\n", "0"}, {"api.\u2028", "0"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		cfg := DefaultConfig("x")
		err := ApplyFlags(&cfg, map[string]string{key: value})
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("ApplyFlags accepted an invalid config: %v", err)
			}
			return
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("error is not one line: %q", err)
		}
		if !reflect.DeepEqual(cfg, DefaultConfig("x")) {
			t.Fatalf("ApplyFlags(%q=%q) changed the config on error: %v", key, value, err)
		}
	})
}
