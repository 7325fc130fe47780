package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// table writes rows with a header and borders on a terminal, and as stable
// tab-separated lines without a header when piped.
func table(w io.Writer, terminal bool, header []string, rows [][]string) error {
	if !terminal {
		for _, r := range rows {
			clean := make([]string, len(r))
			for i, c := range r {
				clean[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
			}
			if _, err := fmt.Fprintln(w, strings.Join(clean, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapTruncate),
		tablewriter.WithRowMaxWidth(60),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fmtScore prints a score compactly; absent scores print as "-".
func fmtScore(s *float64) string {
	if s == nil || math.IsNaN(*s) || math.IsInf(*s, 0) {
		return "-"
	}
	return strconv.FormatFloat(*s, 'g', 6, 64)
}

func fmtDelta(d float64) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%+.4g", d)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if max > 0 && len([]rune(s)) > max {
		r := []rune(s)
		return string(r[:max-1]) + "…"
	}
	return s
}
