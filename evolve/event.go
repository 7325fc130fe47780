package evolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// FormatVersion is the version written in the "v" field of every event.
// Readers accept any version: unknown fields and events are kept and ignored.
const FormatVersion = 1

// Event kinds.
const (
	EventProposed  = "proposed"
	EventEvaluated = "evaluated"
	EventAnalyzed  = "analyzed"
)

// Status is the outcome of an evaluation.
type Status string

// Evaluation statuses. StatusPending is never written: it is the state of a
// candidate that has no evaluated event yet.
const (
	StatusOK      Status = "ok"
	StatusFailed  Status = "failed"
	StatusTimeout Status = "timeout"
	StatusInvalid Status = "invalid"
	StatusPending Status = "pending"
)

// Valid reports whether s is a status that may be written in an evaluated event.
func (s Status) Valid() bool {
	switch s {
	case StatusOK, StatusFailed, StatusTimeout, StatusInvalid:
		return true
	}
	return false
}

// Tokens counts the tokens of one or more LLM calls.
type Tokens struct {
	Prompt     int64 `json:"prompt"`
	Completion int64 `json:"completion"`
}

// Total is prompt + completion.
func (t Tokens) Total() int64 { return t.Prompt + t.Completion }

// Add returns the sum of t and o.
func (t Tokens) Add(o Tokens) Tokens {
	return Tokens{Prompt: t.Prompt + o.Prompt, Completion: t.Completion + o.Completion}
}

// Event is one line of a candidate's note. Fields are grouped by the event kind
// that uses them; a field that does not apply stays at its zero value and is not
// written. Fields this version does not know are kept in Extra and written back
// unchanged by MarshalJSON.
type Event struct {
	V     int       `json:"v"`
	Exp   string    `json:"exp"`
	Event string    `json:"event"`
	At    time.Time `json:"at"`
	By    string    `json:"by,omitempty"`

	// proposed
	Parent       string   `json:"parent,omitempty"`
	Inspirations []string `json:"inspirations,omitempty"`
	Sampler      string   `json:"sampler,omitempty"`
	Island       *int     `json:"island,omitempty"`
	Title        string   `json:"title,omitempty"`
	Motivation   string   `json:"motivation,omitempty"`
	Model        string   `json:"model,omitempty"`
	Tokens       *Tokens  `json:"tokens,omitempty"`
	CostUSD      float64  `json:"cost_usd,omitempty"`
	CodeSize     int64    `json:"code_size,omitempty"` // bytes of the editable files (island feature "complexity")
	Sketch       string   `json:"sketch,omitempty"`    // hex SimHash of the editable code (island feature "diversity")

	// evaluated
	Status     Status         `json:"status,omitempty"`
	Score      *float64       `json:"score,omitempty"`
	Metrics    map[string]any `json:"metrics,omitempty"`
	Feedback   string         `json:"feedback,omitempty"`
	DurationMS int64          `json:"duration_ms,omitempty"`
	ExitCode   *int           `json:"exit_code,omitempty"`
	Signal     string         `json:"signal,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	StderrTail string         `json:"stderr_tail,omitempty"`
	StdoutTail string         `json:"stdout_tail,omitempty"`

	// analyzed
	Analysis string   `json:"analysis,omitempty"`
	Lessons  []string `json:"lessons,omitempty"`

	// Extra holds the fields of the line that this version does not know.
	Extra map[string]json.RawMessage `json:"-"`
}

// knownFields is computed once from the struct tags of Event.
var knownFields = func() map[string]bool {
	m := map[string]bool{}
	b, _ := json.Marshal(eventAlias{})
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(b, &keys)
	for k := range keys {
		m[k] = true
	}
	for _, k := range []string{"by", "parent", "inspirations", "sampler", "island", "title", "motivation", "model",
		"tokens", "cost_usd", "code_size", "sketch", "status", "score", "metrics", "feedback", "duration_ms", "exit_code", "signal",
		"reason", "stderr_tail", "stdout_tail", "analysis", "lessons"} {
		m[k] = true
	}
	return m
}()

type eventAlias Event

// UnmarshalJSON decodes an event and keeps unknown fields in Extra.
func (e *Event) UnmarshalJSON(b []byte) error {
	var a eventAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if knownFields[k] {
			continue
		}
		if a.Extra == nil {
			a.Extra = map[string]json.RawMessage{}
		}
		a.Extra[k] = v
	}
	*e = Event(a)
	return nil
}

// MarshalJSON encodes the event on one line, unknown fields included, keys of
// Extra sorted after the known ones.
func (e Event) MarshalJSON() ([]byte, error) {
	a := eventAlias(e)
	a.At = a.At.UTC()
	b, err := marshalNoEscape(a)
	if err != nil {
		return nil, err
	}
	if len(e.Extra) == 0 {
		return b, nil
	}
	keys := make([]string, 0, len(e.Extra))
	for k := range e.Extra {
		if !knownFields[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		var c bytes.Buffer
		if err := json.Compact(&c, e.Extra[k]); err != nil {
			return nil, fmt.Errorf("event field %q: %w", k, err)
		}
		buf.Write(c.Bytes())
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalNoEscape is json.Marshal without HTML escaping, so that notes read
// well in `git notes show` ("->" rather than "-\u003e").
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Validate checks what a writer must guarantee before an event is recorded.
func (e Event) Validate() error {
	if e.Exp == "" {
		return errors.New("event has no experiment")
	}
	if e.At.IsZero() {
		return errors.New("event has no time")
	}
	switch e.Event {
	case EventProposed, EventAnalyzed:
	case EventEvaluated:
		if !e.Status.Valid() {
			return fmt.Errorf("evaluated event has invalid status %q", e.Status)
		}
		if e.Score != nil && (math.IsNaN(*e.Score) || math.IsInf(*e.Score, 0)) {
			return errors.New("evaluated event has a score that is not a finite number")
		}
		if e.Status == StatusOK && e.Score == nil {
			return errors.New("evaluated event with status ok has no score")
		}
	case "":
		return errors.New("event has no kind")
	}
	return nil
}

// Line encodes the event as one JSON line without the trailing newline.
func (e Event) Line() ([]byte, error) {
	if e.V == 0 {
		e.V = FormatVersion
	}
	b, err := marshalNoEscape(e)
	if err != nil {
		return nil, err
	}
	if bytes.ContainsAny(b, "\n\r") { // json.Marshal escapes these; belt and braces
		return nil, errors.New("event encodes to more than one line")
	}
	return b, nil
}

// ParseWarning describes a note line that could not be read.
type ParseWarning struct {
	Line int    // 1-based line number in the note
	Text string // the line, cut to 200 bytes
	Err  error
}

func (w ParseWarning) String() string {
	return fmt.Sprintf("line %d: %v: %q", w.Line, w.Err, w.Text)
}

// ParseNote splits a note into events. Blank lines are ignored; a line that is
// not a JSON object is reported as a warning and skipped, never an error.
func ParseNote(note []byte) ([]Event, []ParseWarning) {
	var evs []Event
	var warns []ParseWarning
	for i, line := range bytes.Split(note, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Event
		err := json.Unmarshal(line, &e)
		if err == nil && e.Event == "" {
			err = errors.New("no \"event\" field")
		}
		if err != nil {
			t := string(line)
			if len(t) > 200 {
				t = t[:200]
			}
			warns = append(warns, ParseWarning{Line: i + 1, Text: t, Err: err})
			continue
		}
		evs = append(evs, e)
	}
	return evs, warns
}

// MergeNotes returns the union of the lines of the given notes, sorted and
// without duplicates or blank lines: what `git notes merge -s cat_sort_uniq` does.
func MergeNotes(notes ...[]byte) []byte {
	seen := map[string]bool{}
	var lines []string
	for _, n := range notes {
		for _, l := range strings.Split(string(n), "\n") {
			if strings.TrimSpace(l) == "" || seen[l] {
				continue
			}
			seen[l] = true
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}
