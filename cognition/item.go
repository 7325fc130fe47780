package cognition

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Item is one piece of knowledge.
type Item struct {
	ID      string // first 16 hex digits of the SHA-256 of Content (see ContentID)
	Title   string
	Content string
	// Source says where the item comes from: "file:<repo-relative path>" or
	// "lesson:<short candidate id>".
	Source string
	Exp    string
	// Path is the repo-relative, slash-separated path of a file item ("" for lessons).
	Path string
	// Candidate is the full id of the candidate a lesson was learnt from ("" for files).
	Candidate string
	// At is when a lesson was recorded (zero for files).
	At time.Time
}

// IsLesson reports whether the item is an Analyzer lesson.
func (it Item) IsLesson() bool { return it.Candidate != "" }

// text is what is indexed and embedded: the title and the content of a file
// item, the content alone for a lesson (whose title is generated).
func (it Item) text() string {
	if it.IsLesson() {
		return it.Content
	}
	return it.Title + "\n\n" + it.Content
}

// Lesson is a lesson the Analyzer recorded on a candidate.
type Lesson struct {
	Candidate string // full id of the candidate
	Text      string
	At        time.Time
}

// LessonSource supplies an experiment's lessons (implemented with the
// experiment store; the order does not matter).
type LessonSource interface {
	Lessons(ctx context.Context, exp string) ([]Lesson, error)
}

// ContentID is the stable id of an item: the first 16 hex digits of the
// SHA-256 of its content with line endings normalised and surrounding space
// trimmed. Two items with the same content are the same item.
func ContentID(content string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(normalizeContent(content))))
	return hex.EncodeToString(sum[:8])
}

// normalizeContent drops a byte order mark, turns CRLF and CR into LF, and trims
// blank lines and trailing space (not the indentation of the first line,
// which can make it a code block).
func normalizeContent(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n") // a lone CR ends a line too
	return trimBlank(s)
}

// trimBlank removes leading blank lines and trailing white space.
func trimBlank(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 || strings.TrimSpace(s[:i]) != "" {
			break
		}
		s = s[i+1:]
	}
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s
}

// isBinary reports whether b cannot be markdown text.
func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}

// parseMarkdown splits a cognition file into title and content. The title is
// the first ATX heading ("# Title") outside code fences; when that heading is
// the first non-blank line it is not part of the content. Without a heading
// the title is fallback and the content is the whole text.
func parseMarkdown(text, fallback string) (title, content string) {
	text = normalizeContent(text)
	lines := strings.Split(text, "\n")
	fence := ""
	firstNonBlank := true
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			firstNonBlank = false
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			firstNonBlank = false
			continue
		}
		if h, ok := atxHeading(line); ok && h != "" {
			if firstNonBlank {
				return h, trimBlank(strings.Join(lines[i+1:], "\n"))
			}
			return h, text
		}
		if trimmed != "" {
			firstNonBlank = false
		}
	}
	return fallback, text
}

// atxHeading returns the text of a CommonMark ATX heading line.
func atxHeading(line string) (string, bool) {
	indent := len(line) - len(strings.TrimLeft(line, " "))
	if indent > 3 {
		return "", false
	}
	s := line[indent:]
	level := len(s) - len(strings.TrimLeft(s, "#"))
	if level < 1 || level > 6 {
		return "", false
	}
	s = s[level:]
	if s != "" && s[0] != ' ' && s[0] != '\t' {
		return "", false // "#hashtag" is not a heading
	}
	s = strings.TrimSpace(s)
	// An optional closing sequence of #s, preceded by a space.
	if t := strings.TrimRight(s, "#"); t != s {
		if t == "" {
			s = ""
		} else if last := t[len(t)-1]; last == ' ' || last == '\t' {
			s = strings.TrimSpace(t)
		}
	}
	return s, true
}

// deriveTitle makes a title from content that has none: its first heading,
// else its first non-blank line cut to 80 characters.
func deriveTitle(content string) string {
	if h, _ := parseMarkdown(content, ""); h != "" {
		return h
	}
	for _, line := range strings.Split(normalizeContent(content), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return truncateRunes(line, 80)
		}
	}
	return ""
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// fileItem returns the text of the file written for an item, and the title
// and content that reading the file gives back (what the item will be).
func fileItem(title, content string) (text, gotTitle, gotContent string, err error) {
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	title = oneLine(title)
	content = normalizeContent(content)
	if content == "" {
		return "", "", "", fmt.Errorf("cognition item %q has no content", title)
	}
	if title == "" {
		title = oneLine(deriveTitle(content))
	}
	if strings.HasSuffix(title, "#") {
		title += " #" // keeps a trailing # from being read as the heading's closing sequence
	}
	text = markdownFile(title, content)
	gotTitle, gotContent = parseMarkdown(text, "")
	if gotContent == "" {
		return "", "", "", fmt.Errorf("cognition item %q has no content besides its heading", title)
	}
	return text, gotTitle, gotContent, nil
}

// markdownFile is the text of the file written for an added item. When the
// content already starts with the title as its heading it is written as is.
func markdownFile(title, content string) string {
	content = normalizeContent(content)
	if h, body := parseMarkdown(content, ""); h != "" && h == title && body != content && body != "" {
		// Unless the rest starts with the same heading again: then the
		// content read back would lose it.
		if h2, body2 := parseMarkdown(body, ""); h2 != title || body2 == body {
			return content + "\n"
		}
	}
	return "# " + title + "\n\n" + content + "\n"
}

// slug makes a file name stem from a title: lower-case letters and digits
// separated by single hyphens, at most 60 bytes; "item" when nothing is left.
func slug(title string) string {
	var b strings.Builder
	dash, cut := false, false
	for _, r := range strings.ToLower(title) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			sep := dash && b.Len() > 0
			need := utf8.RuneLen(r)
			if sep {
				need++
			}
			if b.Len()+need > 60 {
				cut = !sep // a word is being cut, not a word boundary reached
				break
			}
			if sep {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := strings.Trim(b.String(), "-")
	if cut {
		// Cut at the last word boundary rather than inside a word.
		if i := strings.LastIndexByte(s, '-'); i >= 30 {
			s = s[:i]
		}
	}
	if s == "" {
		return "item"
	}
	return s
}

// shortID abbreviates a candidate id like evolve.Candidate.Short.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
