package evolve

import "testing"

func TestExplore(t *testing.T) {
	for _, in := range []string{
		"", "# only\n# comments\n", "~\n", "api:\n\tmodel: x\n", "api:\n  model: x\n\tbase_url: y\n", "api:\n  model: x\n  model: y\n",
		"api: [\n", "pipeline:\n  sample_n: three\n", "sampel_n: 3\n", "pipeline:\n  sampl_n: 3\n", "api:\n  api_key: abc\n",
		"api:\n  base_url: ${HOST}/v1\n", "a: 1\n---\nb: 2\n", "- a\n", "api:\n  model: sk-abcdefghijklmnopqrstuvwxyz\n",
		"eval:\n  timeout: 5 minutes\n", "eval:\n  memory_limit: 3 parsecs\n", "evolve:\n  files: a.py\n", "api: x\n",
		"api:\n  pricing:\n    gpt-4.1:\n      prompt: 2\n      complet: 8\n", "a: &a\n  b: *a\n", "api:\n  model: *x\n",
		"\xff\xfe", "api:\n  model: \"abc\n", "eval:\n  direction: up\n", "key: x\n", "top_k: 3\n",
	} {
		_, err := LoadConfig("x", []ConfigSource{{Name: "f.yaml", Data: []byte(in)}}, nil)
		t.Logf("%q -> %v", in, err)
	}
}
