package agents

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseEdits(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  []Edit
	}{
		{
			name:  "plain block",
			reply: "TITLE: t\n\nsim.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
			want:  []Edit{{File: "sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 4}},
		},
		{
			name:  "CRLF reply",
			reply: "sim.py\r\n<<<<<<< SEARCH\r\nx = 1\r\ny = 1\r\n=======\r\nx = 2\r\n>>>>>>> REPLACE\r\n",
			want:  []Edit{{File: "sim.py", Search: "x = 1\ny = 1\n", Replace: "x = 2\n", Line: 2}},
		},
		{
			name:  "path before the fence",
			reply: "Change:\n\nsrc/sim.py\n```python\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```\n",
			want:  []Edit{{File: "src/sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 5}},
		},
		{
			name:  "path inside the fence",
			reply: "```python\nsrc/sim.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```",
			want:  []Edit{{File: "src/sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 3}},
		},
		{
			name:  "path in the fence info string",
			reply: "```python:src/sim.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n```",
			want:  []Edit{{File: "src/sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 2}},
		},
		{
			name:  "path after the SEARCH marker",
			reply: "<<<<<<< SEARCH src/sim.py\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE",
			want:  []Edit{{File: "src/sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 1}},
		},
		{
			name:  "decorated path and loose markers",
			reply: "**`sim.py`**:\n   <<<<< SEARCH  \n\tx = 1\n =========\n\tx = 2\n>>>>>>>>> REPLACE   \n",
			want:  []Edit{{File: "sim.py", Search: "\tx = 1\n", Replace: "\tx = 2\n", Line: 2}},
		},
		{
			name:  "markdown file heading",
			reply: "### File: a/b.go\n<<<<<<< SEARCH\nconst n = 3\n=======\nconst n = 4\n>>>>>>> REPLACE\n",
			want:  []Edit{{File: "a/b.go", Search: "const n = 3\n", Replace: "const n = 4\n", Line: 2}},
		},
		{
			name: "several files, unnamed block inherits the previous path",
			reply: "a.py\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n" +
				"<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n" +
				"\nlib/c.py\n<<<<<<< SEARCH\nc = 1\n=======\n>>>>>>> REPLACE\n",
			want: []Edit{
				{File: "a.py", Search: "a = 1\n", Replace: "a = 2\n", Line: 2},
				{File: "a.py", Search: "b = 1\n", Replace: "b = 2\n", Line: 7},
				{File: "lib/c.py", Search: "c = 1\n", Replace: "", Line: 14},
			},
		},
		{
			name:  "prose before the block is not a path",
			reply: "Here is the change I propose:\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
			want:  []Edit{{File: "", Search: "x = 1\n", Replace: "x = 2\n", Line: 2}},
		},
		{
			name:  "a setext heading underline outside blocks is not a divider",
			reply: "Plan\n=======\nsim.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
			want:  []Edit{{File: "sim.py", Search: "x = 1\n", Replace: "x = 2\n", Line: 4}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEdits(tc.reply)
			if err != nil {
				t.Fatalf("ParseEdits: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseEdits:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseEditsErrors(t *testing.T) {
	tests := []struct {
		name     string
		reply    string
		is       error
		line     int
		contains string
	}{
		{name: "empty reply", reply: "", is: ErrNoEdits},
		{name: "prose only", reply: "I would make the radius larger.\n", is: ErrNoEdits},
		{name: "truncated after SEARCH", reply: "a.py\n<<<<<<< SEARCH\nx = 1\n", line: 2, contains: "has no ======= and >>>>>>> REPLACE"},
		{name: "truncated after divider", reply: "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2", line: 2, contains: "has no >>>>>>> REPLACE: the reply ends inside it"},
		{name: "missing divider", reply: "a.py\n<<<<<<< SEARCH\nx = 1\n>>>>>>> REPLACE\n", line: 4, contains: "without a ======= line"},
		{name: "new block before the end", reply: "a.py\n<<<<<<< SEARCH\nx\n=======\n<<<<<<< SEARCH\n", line: 2, contains: "reply line 5 starts a new block"},
		{name: "second divider", reply: "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\n>>>>>>> REPLACE\n", line: 6, contains: "second ======="},
		{name: "stray REPLACE", reply: "text\n>>>>>>> REPLACE\n", line: 2, contains: "without a <<<<<<< SEARCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edits, err := ParseEdits(tc.reply)
			if err == nil {
				t.Fatalf("ParseEdits = %#v, want an error", edits)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
			if tc.line > 0 {
				var ee *EditError
				if !errors.As(err, &ee) || ee.Line != tc.line {
					t.Fatalf("error %q: want an *EditError on reply line %d, got %#v", err, tc.line, ee)
				}
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

const simProgram = `import math

# EVOLVE-BLOCK-START
RADIUS = 0.1
COUNT = 10
def f(x):
    y = x * 2
    return y
def g(x):
    y = x * 2
    return y + 1
# EVOLVE-BLOCK-END

def main():
    y = x * 2
    print(f(RADIUS))
`

func mustParseEdits(t *testing.T, reply string) []Edit {
	t.Helper()
	edits, err := ParseEdits(reply)
	if err != nil {
		t.Fatalf("ParseEdits: %v", err)
	}
	return edits
}

func srBlock(file, search, replace string) string {
	return file + "\n<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE\n"
}

func TestApplyEdits(t *testing.T) {
	files := map[string]string{"exp/sim.py": simProgram, "README.md": "hello\n"}
	editable := []string{"exp/sim.py"}
	tests := []struct {
		name  string
		files map[string]string
		reply string
		want  string // new content of exp/sim.py
	}{
		{
			name:  "one line",
			reply: srBlock("exp/sim.py", "RADIUS = 0.1\n", "RADIUS = 0.2\n"),
			want:  strings.Replace(simProgram, "RADIUS = 0.1", "RADIUS = 0.2", 1),
		},
		{
			name:  "base name of the editable file",
			reply: srBlock("sim.py", "COUNT = 10\n", "COUNT = 12\n"),
			want:  strings.Replace(simProgram, "COUNT = 10", "COUNT = 12", 1),
		},
		{
			name:  "unsorted blocks",
			reply: srBlock("exp/sim.py", "COUNT = 10\n", "COUNT = 11\n") + srBlock("exp/sim.py", "RADIUS = 0.1\n", "RADIUS = 0.3\n"),
			want:  strings.Replace(strings.Replace(simProgram, "COUNT = 10", "COUNT = 11", 1), "RADIUS = 0.1", "RADIUS = 0.3", 1),
		},
		{
			name:  "a block repeated verbatim is applied once",
			reply: srBlock("exp/sim.py", "COUNT = 10\n", "COUNT = 11\n") + srBlock("exp/sim.py", "COUNT = 10\n", "COUNT = 11\n"),
			want:  strings.Replace(simProgram, "COUNT = 10", "COUNT = 11", 1),
		},
		{
			name:  "later block edits the result of an earlier one",
			reply: srBlock("exp/sim.py", "COUNT = 10\n", "COUNT = 11\n") + srBlock("exp/sim.py", "COUNT = 11\n", "COUNT = 12\n"),
			want:  strings.Replace(simProgram, "COUNT = 10", "COUNT = 12", 1),
		},
		{
			name:  "match inside the region wins over one outside it",
			reply: srBlock("exp/sim.py", "def f(x):\n    y = x * 2\n", "def f(x):\n    y = x * 3\n"),
			want:  strings.Replace(simProgram, "def f(x):\n    y = x * 2", "def f(x):\n    y = x * 3", 1),
		},
		{
			name:  "trailing whitespace in the SEARCH part",
			reply: srBlock("exp/sim.py", "RADIUS = 0.1   \nCOUNT = 10\t\n", "RADIUS = 0.5\nCOUNT = 10\n"),
			want:  strings.Replace(simProgram, "RADIUS = 0.1", "RADIUS = 0.5", 1),
		},
		{
			name:  "blank lines around the SEARCH part",
			reply: srBlock("exp/sim.py", "\nRADIUS = 0.1\n\n", "\nRADIUS = 0.5\n\n"),
			want:  strings.Replace(simProgram, "RADIUS = 0.1", "RADIUS = 0.5", 1),
		},
		{
			name:  "deletion",
			reply: srBlock("exp/sim.py", "COUNT = 10\n", ""),
			want:  strings.Replace(simProgram, "COUNT = 10\n", "", 1),
		},
		{
			name:  "unnamed block with a single editable file",
			reply: "<<<<<<< SEARCH\nCOUNT = 10\n=======\nCOUNT = 9\n>>>>>>> REPLACE\n",
			want:  strings.Replace(simProgram, "COUNT = 10", "COUNT = 9", 1),
		},
		{
			name:  "CRLF file keeps CRLF",
			files: map[string]string{"exp/sim.py": "a = 1\r\nb = 2\r\nc = 3\r\n"},
			reply: srBlock("exp/sim.py", "b = 2\n", "b = 20\nb2 = 21\n"),
			want:  "a = 1\r\nb = 20\r\nb2 = 21\r\nc = 3\r\n",
		},
		{
			name:  "CRLF reply on an LF file",
			files: map[string]string{"exp/sim.py": "a = 1\nb = 2\n"},
			reply: "exp/sim.py\r\n<<<<<<< SEARCH\r\nb = 2\r\n=======\r\nb = 3\r\n>>>>>>> REPLACE\r\n",
			want:  "a = 1\nb = 3\n",
		},
		{
			name:  "last line without newline stays without",
			files: map[string]string{"exp/sim.py": "a = 1\nb = 2"},
			reply: srBlock("exp/sim.py", "b = 2\n", "b = 3\nc = 4\n"),
			want:  "a = 1\nb = 3\nc = 4",
		},
		{
			name:  "deleting the last line without newline",
			files: map[string]string{"exp/sim.py": "a = 1\nb = 2"},
			reply: srBlock("exp/sim.py", "b = 2\n", ""),
			want:  "a = 1",
		},
		{
			name:  "empty SEARCH fills an empty file",
			files: map[string]string{"exp/sim.py": ""},
			reply: srBlock("exp/sim.py", "", "x = 1\n"),
			want:  "x = 1\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := files
			if tc.files != nil {
				in = tc.files
			}
			before := map[string]string{}
			for k, v := range in {
				before[k] = v
			}
			got, err := ApplyEdits(in, editable, mustParseEdits(t, tc.reply))
			if err != nil {
				t.Fatalf("ApplyEdits: %v", err)
			}
			if got["exp/sim.py"] != tc.want {
				t.Fatalf("exp/sim.py:\n got %q\nwant %q", got["exp/sim.py"], tc.want)
			}
			if len(got) != len(in) || got["README.md"] != in["README.md"] {
				t.Fatalf("other files changed: %q", got)
			}
			if !reflect.DeepEqual(in, before) {
				t.Fatal("ApplyEdits modified its input map")
			}
		})
	}
}

func TestApplyEditsErrors(t *testing.T) {
	files := map[string]string{"exp/sim.py": simProgram, "exp/other.py": "z = 1\n", "README.md": "hello\n"}
	editable := []string{"exp/sim.py", "exp/other.py"}
	tests := []struct {
		name     string
		reply    string
		is       error
		block    int
		contains []string
	}{
		{
			name:     "SEARCH matches twice",
			reply:    srBlock("exp/sim.py", "    y = x * 2\n", "    y = x * 4\n"),
			block:    1,
			contains: []string{"SEARCH block 1 (reply line 2) for exp/sim.py matches 2 times (at lines 7, 10); add more context"},
		},
		{
			name:     "SEARCH matches nothing",
			reply:    srBlock("exp/sim.py", "COUNT = 10\nRADIUS = 0.15\n", "RADIUS = 0.2\n"),
			block:    1,
			contains: []string{"SEARCH block 1 (reply line 2) for exp/sim.py matches nothing; closest line: 4 \"RADIUS = 0.1\", for line 2 of the SEARCH part \"RADIUS = 0.15\""},
		},
		{
			name:     "SEARCH lines exist but not in this order",
			reply:    srBlock("exp/sim.py", "COUNT = 10\nRADIUS = 0.1\n", "X = 1\n"),
			contains: []string{"matches nothing; closest line: 5 \"COUNT = 10\"; each line of the SEARCH part is in the file but not as one run"},
		},
		{
			name:     "wrong indentation",
			reply:    srBlock("exp/sim.py", "def f(x):\n  y = x * 2\n", "def f(x):\n  y = 0\n"),
			contains: []string{"matches nothing", "with this indentation"},
		},
		{
			name:     "non-editable file",
			reply:    srBlock("README.md", "hello\n", "bye\n"),
			block:    1,
			contains: []string{"SEARCH block 1 (reply line 2) edits README.md, which is not editable; editable files: exp/sim.py, exp/other.py"},
		},
		{
			name:     "unnamed block with several editable files",
			reply:    "Change:\n<<<<<<< SEARCH\nz = 1\n=======\nz = 2\n>>>>>>> REPLACE\n",
			contains: []string{"names no file", "editable files: exp/sim.py, exp/other.py"},
		},
		{
			name:     "edit outside the EVOLVE-BLOCK region",
			reply:    srBlock("exp/sim.py", "def main():\n", "def main2():\n"),
			contains: []string{"for exp/sim.py matches line 14, outside the editable region (lines 4-11); edit only the lines between EVOLVE-BLOCK-START and EVOLVE-BLOCK-END"},
		},
		{
			name:     "edit removing the end marker",
			reply:    srBlock("exp/sim.py", "    return y + 1\n# EVOLVE-BLOCK-END\n", "    return y + 2\n# EVOLVE-BLOCK-END\n"),
			contains: []string{"adds an EVOLVE-BLOCK-START or EVOLVE-BLOCK-END marker"},
		},
		{
			name:     "edit spanning the start marker",
			reply:    srBlock("exp/sim.py", "# EVOLVE-BLOCK-START\nRADIUS = 0.1\n", "RADIUS = 0.2\n"),
			contains: []string{"matches lines 3-4, outside the editable region"},
		},
		{
			name:     "empty SEARCH on a non-empty file",
			reply:    srBlock("exp/other.py", "", "w = 1\n"),
			contains: []string{"has an empty SEARCH part"},
		},
		{
			name:  "every block that fails is reported",
			reply: srBlock("exp/sim.py", "nothing here\n", "x\n") + srBlock("exp/other.py", "z = 1\n", "z = 2\n") + srBlock("setup.py", "a\n", "b\n"),
			contains: []string{"SEARCH block 1 (reply line 2) for exp/sim.py matches nothing",
				"\nSEARCH block 3 (reply line 14) edits setup.py, which is not editable"},
		},
		{
			name:     "no change",
			reply:    srBlock("exp/other.py", "z = 1\n", "z = 1\n"),
			is:       ErrNoChange,
			contains: []string{"the edits change nothing"},
		},
		{
			name:     "conflicting duplicate blocks",
			reply:    srBlock("exp/other.py", "z = 1\n", "z = 2\n") + srBlock("exp/other.py", "z = 1\n", "z = 3\n"),
			block:    2,
			contains: []string{"SEARCH block 2 (reply line 8) for exp/other.py matches nothing; closest line: 1 \"z = 2\""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyEdits(files, editable, mustParseEdits(t, tc.reply))
			if err == nil {
				t.Fatalf("ApplyEdits = %q, want an error", got)
			}
			if got != nil {
				t.Fatalf("ApplyEdits returned files with its error: %q", got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
			if tc.block > 0 {
				var ee *EditError
				if !errors.As(err, &ee) || ee.Block != tc.block {
					t.Fatalf("error %q: want an *EditError for block %d, got %#v", err, tc.block, ee)
				}
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Fatalf("error\n%s\ndoes not contain\n%s", err, c)
				}
			}
		})
	}
}

func TestApplyEditsCollectsErrors(t *testing.T) {
	files := map[string]string{"a.py": "x = 1\ny = 2\n"}
	reply := srBlock("a.py", "q = 1\n", "q = 2\n") + srBlock("a.py", "y = 2\n", "y = 3\n") + srBlock("b.py", "a\n", "b\n")
	_, err := ApplyEdits(files, []string{"a.py"}, mustParseEdits(t, reply))
	var es EditErrors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not an EditErrors", err)
	}
	if len(es) != 2 || es[0].Block != 1 || es[1].Block != 3 || es[1].File != "b.py" {
		t.Fatalf("errors = %+v, want blocks 1 and 3", es)
	}
}

func TestApplyEditsNoEdits(t *testing.T) {
	if _, err := ApplyEdits(map[string]string{"a.py": "x\n"}, []string{"a.py"}, nil); !errors.Is(err, ErrNoEdits) {
		t.Fatalf("error = %v, want ErrNoEdits", err)
	}
}

func TestParseFullRewrite(t *testing.T) {
	one := []string{"exp/sim.py"}
	two := []string{"exp/sim.py", "exp/lib.py"}
	tests := []struct {
		name  string
		reply string
		files []string
		want  map[string]string
	}{
		{
			name:  "single unnamed block",
			reply: "TITLE: t\nMOTIVATION: m\n\n```python\nx = 1\ny = 2\n```\n",
			files: one,
			want:  map[string]string{"exp/sim.py": "x = 1\ny = 2\n"},
		},
		{
			name:  "named by path lines, unnamed snippet ignored",
			reply: "Use `x = 3` like:\n```\nx = 3\n```\nexp/sim.py\n```python\nx = 1\n```\n\n**lib.py**\n```python\ndef f(): pass\n```\n",
			files: two,
			want:  map[string]string{"exp/sim.py": "x = 1\n", "exp/lib.py": "def f(): pass\n"},
		},
		{
			name:  "named by the info string",
			reply: "```python exp/lib.py\nz = 1\n```\n",
			files: two,
			want:  map[string]string{"exp/lib.py": "z = 1\n"},
		},
		{
			name:  "named by prose",
			reply: "The new version of sim.py:\n\n~~~\nx = 5\n~~~\n",
			files: two,
			want:  map[string]string{"exp/sim.py": "x = 5\n"},
		},
		{
			name:  "CRLF and a longer closing fence",
			reply: "exp/sim.py\r\n````python\r\nx = 1\r\n```\r\ny = 2\r\n`````\r\n",
			files: one,
			want:  map[string]string{"exp/sim.py": "x = 1\n```\ny = 2\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFullRewrite(tc.reply, tc.files)
			if err != nil {
				t.Fatalf("ParseFullRewrite: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseFullRewriteErrors(t *testing.T) {
	one := []string{"exp/sim.py"}
	two := []string{"exp/sim.py", "exp/lib.py"}
	tests := []struct {
		name     string
		reply    string
		files    []string
		is       error
		contains string
	}{
		{name: "empty reply", reply: "", files: one, is: ErrNoCode},
		{name: "no block", reply: "TITLE: t\nMOTIVATION: nothing\n", files: one, is: ErrNoCode},
		{name: "truncated", reply: "exp/sim.py\n```python\nx = 1\n", files: one, contains: "the code block opened on reply line 2 is not closed with ```: the reply ends inside it"},
		{name: "not editable", reply: "setup.py\n```python\nx = 1\n```\n", files: two, contains: "the code block on reply line 2 is for setup.py, which is not editable; editable files: exp/sim.py, exp/lib.py"},
		{name: "given twice", reply: "sim.py\n```\nx\n```\nsim.py\n```\ny\n```\n", files: two, contains: "exp/sim.py is given twice (code blocks on reply lines 2 and 6)"},
		{name: "unnamed with several files", reply: "```\nx\n```\n", files: two, contains: "names no file"},
		{name: "several unnamed with one file", reply: "```\nx\n```\n```\ny\n```\n", files: one, contains: "has 2 code blocks and none is named"},
		{name: "diff inside a full rewrite", reply: "sim.py\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n", files: one, contains: "holds SEARCH/REPLACE markers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFullRewrite(tc.reply, tc.files)
			if err == nil {
				t.Fatalf("ParseFullRewrite = %q, want an error", got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestApplyRewrite(t *testing.T) {
	files := map[string]string{
		"exp/sim.py": "import math\r\n# EVOLVE-BLOCK-START\r\nR = 0.1\r\n# EVOLVE-BLOCK-END\r\nprint(R)\r\n",
		"exp/lib.py": "z = 1\n",
	}
	editable := []string{"exp/sim.py", "exp/lib.py"}

	got, err := ApplyRewrite(files, editable, map[string]string{
		"exp/sim.py": "import math\n# EVOLVE-BLOCK-START\nR = 0.2\nS = 3\n# EVOLVE-BLOCK-END\nprint(R)\n",
	})
	if err != nil {
		t.Fatalf("ApplyRewrite: %v", err)
	}
	want := "import math\r\n# EVOLVE-BLOCK-START\r\nR = 0.2\r\nS = 3\r\n# EVOLVE-BLOCK-END\r\nprint(R)\r\n"
	if got["exp/sim.py"] != want || got["exp/lib.py"] != "z = 1\n" {
		t.Fatalf("got %q", got)
	}

	for _, tc := range []struct {
		name     string
		rewrites map[string]string
		is       error
		contains string
	}{
		{"outside the region", map[string]string{"exp/sim.py": "import numpy\n# EVOLVE-BLOCK-START\nR = 0.2\n# EVOLVE-BLOCK-END\nprint(R)\n"},
			nil, "exp/sim.py: line 1 of the new version \"import numpy\" is outside the EVOLVE-BLOCK-START region"},
		{"markers removed", map[string]string{"exp/sim.py": "import math\nR = 0.2\nprint(R)\n"},
			nil, "must keep its 1 EVOLVE-BLOCK-START/EVOLVE-BLOCK-END region(s)"},
		{"line missing after the region", map[string]string{"exp/sim.py": "import math\n# EVOLVE-BLOCK-START\nR = 0.2\n# EVOLVE-BLOCK-END\n"},
			nil, "line 5 \"print(R)\", outside the EVOLVE-BLOCK-START region, is missing"},
		{"not editable", map[string]string{"setup.py": "x\n"}, nil, "setup.py is not editable; editable files: exp/sim.py, exp/lib.py"},
		{"no change", map[string]string{"exp/lib.py": "z = 1\n"}, ErrNoChange, "the edits change nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ApplyRewrite(files, editable, tc.rewrites)
			if err == nil {
				t.Fatal("ApplyRewrite succeeded, want an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestParseReplyMeta(t *testing.T) {
	tests := []struct {
		name, reply, title, motivation string
	}{
		{
			name:       "sections as asked",
			reply:      "TITLE: Larger inner ring\nMOTIVATION:\nThe inner ring is too tight.\nA larger radius frees space.\n\nexp/sim.py\n<<<<<<< SEARCH\nR = 1\n=======\nR = 2\n>>>>>>> REPLACE\n",
			title:      "Larger inner ring",
			motivation: "The inner ring is too tight.\nA larger radius frees space.",
		},
		{
			name:       "markdown decoration and CRLF",
			reply:      "**Title:** Use a *hexagonal* grid\r\n\r\n## Motivation\r\nHexagonal packing is denser.\r\n\r\n## Edits\r\n```python\r\nx = 1\r\n```\r\n",
			title:      "Use a *hexagonal* grid",
			motivation: "Hexagonal packing is denser.",
		},
		{
			name:       "motivation on the same line, stops at a fence",
			reply:      "TITLE: t1\nMOTIVATION: short reason\nsim.py\n```python\nTITLE: not this\n```\n",
			title:      "t1",
			motivation: "short reason",
		},
		{
			name:       "title on the next line",
			reply:      "TITLE:\n  Faster schedule  \nMOTIVATION: because\n",
			title:      "Faster schedule",
			motivation: "because",
		},
		{
			name:       "heading fallback",
			reply:      "# Swap the two loops\n\nCache locality improves.\n\n```c\nint x = 1;\n```\n",
			title:      "Swap the two loops",
			motivation: "Cache locality improves.",
		},
		{
			name:       "first prose line fallback",
			reply:      "sim.py\n<<<<<<< SEARCH\nR = 1\n=======\nR = 2\n>>>>>>> REPLACE\nRaise R to two.\n",
			title:      "Raise R to two.",
			motivation: "",
		},
		{
			name: "empty reply",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			title, motivation := ParseReplyMeta(tc.reply)
			if title != tc.title || motivation != tc.motivation {
				t.Fatalf("ParseReplyMeta = %q, %q; want %q, %q", title, motivation, tc.title, tc.motivation)
			}
		})
	}
	long := "TITLE: " + strings.Repeat("word ", 40) + "\n"
	if title, _ := ParseReplyMeta(long); len(title) > 103 || !strings.HasSuffix(title, "...") || strings.Contains(title, "\n") {
		t.Fatalf("long title = %q", title)
	}
}

func TestEditFormatHelpRoundTrip(t *testing.T) {
	// The example in the help text must itself parse as the help describes.
	edits, err := ParseEdits(EditFormatHelp)
	if err != nil || len(edits) != 1 || edits[0].File != "path/to/file.py" {
		t.Fatalf("ParseEdits(EditFormatHelp) = %#v, %v", edits, err)
	}
	rw, err := ParseFullRewrite(RewriteFormatHelp, []string{"path/to/file.py"})
	if err != nil || len(rw) != 1 {
		t.Fatalf("ParseFullRewrite(RewriteFormatHelp) = %q, %v", rw, err)
	}
	for _, help := range []string{EditFormatHelp, RewriteFormatHelp} {
		if title, _ := ParseReplyMeta(help); !strings.Contains(title, "one line") {
			t.Fatalf("ParseReplyMeta(help) title = %q", title)
		}
	}
}

func TestCheckCodeLength(t *testing.T) {
	files := map[string]string{"b.py": strings.Repeat("x", 60), "a.py": strings.Repeat("y", 50)}
	if err := CheckCodeLength(files, 110); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if err := CheckCodeLength(files, 0); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	err := CheckCodeLength(files, 100)
	want := "the code is 110 bytes (a.py 50, b.py 60), more than pipeline.max_code_length 100; make it shorter, it is never cut"
	if err == nil || err.Error() != want {
		t.Fatalf("CheckCodeLength = %v, want %q", err, want)
	}
}

func BenchmarkApplyEdits(b *testing.B) {
	var sb strings.Builder
	for i := range 5000 {
		sb.WriteString("line_")
		sb.WriteString(strings.Repeat("x", i%40))
		sb.WriteString(" = 1\n")
	}
	src := sb.String() + "TARGET = 3\n"
	files := map[string]string{"big.py": src}
	edits := mustParseB(b, srBlock("big.py", "TARGET = 3\n", "TARGET = 4\n"))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ApplyEdits(files, []string{"big.py"}, edits); err != nil {
			b.Fatal(err)
		}
	}
}

func mustParseB(b *testing.B, reply string) []Edit {
	edits, err := ParseEdits(reply)
	if err != nil {
		b.Fatal(err)
	}
	return edits
}
