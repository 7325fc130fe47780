package agents

import (
	"reflect"
	"strings"
	"testing"
)

// formatEdits writes edits back in the format ParseEdits reads.
func formatEdits(edits []Edit) string {
	var b strings.Builder
	for _, e := range edits {
		if e.File != "" {
			b.WriteString(e.File + "\n")
		}
		b.WriteString("<<<<<<< SEARCH\n" + e.Search + "=======\n" + e.Replace + ">>>>>>> REPLACE\n\n")
	}
	return b.String()
}

var fuzzReplies = []string{
	"",
	"TITLE: t\nMOTIVATION: m\n\nsim.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n",
	"sim.py\r\n<<<<<<< SEARCH\r\nx = 1\r\n=======\r\nx = 2\r\n>>>>>>> REPLACE\r\n",
	"```python\nsrc/a.py\n<<<<<<< SEARCH\n\tdef f():\n=======\n>>>>>>> REPLACE\n```\n",
	"<<<<<<< SEARCH a.py\n=======\nnew\n>>>>>>> REPLACE",
	"a.py\n<<<<<<< SEARCH\nx = 1\n",
	"a.py\n<<<<<<< SEARCH\nx\n=======\ny\n=======\n>>>>>>> REPLACE\n",
	">>>>>>> REPLACE\n",
	"**a.py**\n<<<<< SEARCH\n# EVOLVE-BLOCK-END\n=========\n# EVOLVE-BLOCK-START\n>>>>>>>>> REPLACE\n",
	"a.py\n<<<<<<< SEARCH\n```\n=======\n~~~\n>>>>>>> REPLACE\nb.py\n<<<<<<< SEARCH\nq\r\r\n=======\n>>>>>>> REPLACE\n",
	"# heading\n```\n<<<<<<< SEARCH\n",
}

func FuzzParseEdits(f *testing.F) {
	for _, r := range fuzzReplies {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		title, _ := ParseReplyMeta(reply)
		if strings.ContainsAny(title, "\r\n") {
			t.Fatalf("title %q spans lines", title)
		}
		_, _ = ParseFullRewrite(reply, []string{"a.py", "src/b.py"})
		edits, err := ParseEdits(reply)
		if err != nil {
			if edits != nil {
				t.Fatalf("edits %#v returned with error %v", edits, err)
			}
			return
		}
		lines := replyLines(reply)
		prev := 0
		for _, e := range edits {
			if e.Line <= prev || e.Line > len(lines) {
				t.Fatalf("edit line %d out of order or range (previous %d, %d lines)", e.Line, prev, len(lines))
			}
			if !searchMarker.MatchString(strings.TrimSpace(lines[e.Line-1])) {
				t.Fatalf("reply line %d %q is not a SEARCH marker", e.Line, lines[e.Line-1])
			}
			prev = e.Line
			for _, part := range []string{e.Search, e.Replace} {
				if part != "" && !strings.HasSuffix(part, "\n") || strings.Contains(part, "\r") {
					t.Fatalf("part %q is not whole LF lines", part)
				}
			}
		}
		again, err := ParseEdits(formatEdits(edits))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", formatEdits(edits), err)
		}
		for i := range again {
			again[i].Line = edits[i].Line
		}
		if !reflect.DeepEqual(again, edits) {
			t.Fatalf("round trip changed the edits:\n got %#v\nwant %#v", again, edits)
		}
	})
}

func FuzzApplyEdits(f *testing.F) {
	f.Add("x = 1\ny = 2\n", "a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 3\n>>>>>>> REPLACE\n")
	f.Add("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\nx = 1\n", "<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n")
	f.Add("a\r\nb\r\nc", "<<<<<<< SEARCH\nc\n=======\nd\n\n>>>>>>> REPLACE\n")
	f.Add("", "<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE\n")
	f.Add("k\n\nk\n", "<<<<<<< SEARCH\n\nk\n=======\n>>>>>>> REPLACE\n")
	f.Fuzz(func(t *testing.T, content, reply string) {
		edits, err := ParseEdits(reply)
		if err != nil {
			return
		}
		in := map[string]string{"a.py": content, "b.txt": "fixed\n"}
		out, err := ApplyEdits(in, []string{"a.py"}, edits)
		if err != nil {
			if out != nil {
				t.Fatal("files returned with an error")
			}
			return
		}
		if out["b.txt"] != "fixed\n" || in["a.py"] != content {
			t.Fatal("a file that is not edited, or the input, changed")
		}
		if out["a.py"] == content {
			t.Fatal("success without a change")
		}
		if msg := checkOutsideRegions("a.py", splitFile(content).lines, splitFile(out["a.py"]).lines); msg != "" {
			t.Fatalf("an accepted edit changed the file outside its EVOLVE-BLOCK regions: %s", msg)
		}
		if !strings.Contains(content, "\r") && strings.Contains(out["a.py"], "\r") {
			t.Fatal("CR introduced in an LF file")
		}
	})
}
