package cognition

import (
	"bytes"
	"testing"
)

// FuzzParseRecords: any input gives records with content and line numbers
// inside the input, or an error; never a panic.
func FuzzParseRecords(f *testing.F) {
	for _, seed := range []string{
		`{"title":"a","content":"b"}` + "\n" + `{"content":` + "\n",
		`[{"title":"a","content":"b"},{"x":1}]`,
		"[\n{\"content\": \"a\"},\n 3\n]",
		"{\n \"content\": \"multi\"\n}",
		"\ufeff{\"content\":\"bom\"}",
		"", "[", "{}", "null", `{"content":null}`, `{"content":"  "}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, errs, err := ParseRecords(data)
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, r := range recs {
			if normalizeContent(r.Content) == "" || r.Line < 1 || r.Line > lines {
				t.Fatalf("record %+v (input has %d lines)", r, lines)
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Msg == "" {
				t.Fatalf("line error %+v (input has %d lines)", e, lines)
			}
		}
	})
}

// FuzzFileItem: the file written for an item reads back as an item that,
// written again, reads back the same — so ids are stable across add, import
// and reading the folder.
func FuzzFileItem(f *testing.F) {
	for _, seed := range [][2]string{
		{"Title", "body"}, {"", "# Heading\n\nbody"}, {"Heading", "# Heading\n\nbody"},
		{"C#", "x"}, {"a\nb", "  indented\n"}, {"", "```\n# no\n```"}, {"#", "#"}, {"T", "# T"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, title, content string) {
		text, t2, c2, err := fileItem(title, content)
		if err != nil {
			return
		}
		if t2 == "" || c2 == "" {
			t.Fatalf("fileItem(%q, %q) read back as %q, %q", title, content, t2, c2)
		}
		if gt, gc := parseMarkdown(text, "fallback"); gt != t2 || gc != c2 {
			t.Fatalf("file %q reads as %q, %q, not %q, %q", text, gt, gc, t2, c2)
		}
		text2, t3, c3, err := fileItem(t2, c2)
		if err != nil || t3 != t2 || c3 != c2 {
			t.Fatalf("not stable: %q -> %q (%q, %q, %v)", text, text2, t3, c3, err)
		}
	})
}
