package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableTerminalAndPiped(t *testing.T) {
	rows := [][]string{{"1", "abc\tdef", "x\ny"}, {"2", "b", ""}}
	var term, piped bytes.Buffer
	if err := table(&term, true, []string{"rank", "id", "title"}, rows); err != nil {
		t.Fatal(err)
	}
	if err := table(&piped, false, []string{"rank", "id", "title"}, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(term.String(), "rank") || !strings.Contains(term.String(), "│") {
		t.Errorf("terminal table has no header or borders:\n%s", term.String())
	}
	want := "1\tabc def\tx y\n2\tb\t\n"
	if piped.String() != want {
		t.Errorf("piped output %q, want %q (no header, one line per row, tabs only between fields)", piped.String(), want)
	}
}

func TestFormatting(t *testing.T) {
	v := 1.23456789
	if fmtScore(&v) != "1.23457" || fmtScore(nil) != "-" {
		t.Error(fmtScore(&v))
	}
	if fmtDelta(0) != "0" || fmtDelta(0.5) != "+0.5" || fmtDelta(-2) != "-2" {
		t.Error(fmtDelta(0.5), fmtDelta(-2))
	}
	if got := oneLine("a\n  b\tc", 4); got != "a b…" {
		t.Errorf("oneLine: %q", got)
	}
}
