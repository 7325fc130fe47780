package evolve

import (
	"fmt"
	"strconv"
	"strings"
)

// CommitMessage is the message of a candidate commit (DESIGN.md section 3).
type CommitMessage struct {
	Exp          string
	Title        string
	Motivation   string
	Inspirations []string
	Island       *int
	// Worker names who made the candidate ("host/w0"); Nonce is random. Both
	// keep two identical proposals made at the same second by different
	// workers from collapsing into one commit.
	Worker string
	Nonce  string
}

// Subject is the first line of the message: "evolve(<exp>): <title>".
func (m CommitMessage) Subject() string {
	title := strings.TrimSpace(strings.SplitN(m.Title, "\n", 2)[0])
	if title == "" {
		title = "candidate"
	}
	return fmt.Sprintf("evolve(%s): %s", m.Exp, title)
}

// String renders the message with the Evolve-* trailers.
func (m CommitMessage) String() string {
	var b strings.Builder
	b.WriteString(m.Subject())
	b.WriteString("\n")
	if mot := strings.TrimSpace(m.Motivation); mot != "" {
		b.WriteString("\n")
		b.WriteString(wrap(mot, 72))
		b.WriteString("\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Evolve-Experiment: %s\n", m.Exp)
	if len(m.Inspirations) > 0 {
		fmt.Fprintf(&b, "Evolve-Inspirations: %s\n", strings.Join(m.Inspirations, ", "))
	}
	if m.Island != nil {
		fmt.Fprintf(&b, "Evolve-Island: %d\n", *m.Island)
	}
	if m.Worker != "" {
		fmt.Fprintf(&b, "Evolve-Worker: %s\n", m.Worker)
	}
	if m.Nonce != "" {
		fmt.Fprintf(&b, "Evolve-Nonce: %s\n", m.Nonce)
	}
	return b.String()
}

// ParseTrailers reads the Evolve-* trailers of a commit message. Missing
// trailers give zero values.
func ParseTrailers(msg string) (exp string, inspirations []string, island *int) {
	for _, line := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "Evolve-Experiment":
			exp = v
		case "Evolve-Inspirations":
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					inspirations = append(inspirations, s)
				}
			}
		case "Evolve-Island":
			if n, err := strconv.Atoi(v); err == nil {
				island = &n
			}
		}
	}
	return exp, inspirations, island
}

// wrap folds paragraphs to width columns, keeping blank lines and lines that
// look preformatted (indented or list items) as they are.
func wrap(s string, width int) string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") || len(line) <= width {
			out = append(out, line)
			continue
		}
		cur := ""
		for _, w := range strings.Fields(line) {
			if cur != "" && len(cur)+1+len(w) > width {
				out = append(out, cur)
				cur = w
				continue
			}
			if cur == "" {
				cur = w
			} else {
				cur += " " + w
			}
		}
		if cur != "" {
			out = append(out, cur)
		}
	}
	return strings.Join(out, "\n")
}
