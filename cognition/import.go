package cognition

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Record is one item to import: the shape of ASI-Evolve's init_cognition
// items. Other fields are ignored.
type Record struct {
	Title   string `json:"title"`
	Content string `json:"content"`
}

// LineError is a record that could not be imported.
type LineError struct {
	Line int // 1-based line of the record in the input
	Msg  string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ImportResult is what Import did.
type ImportResult struct {
	New       int    // items written
	Duplicate int    // records whose content an item (or an earlier record) already had
	Added     []Item // the items written, in input order
	Errors    []LineError
	Warnings  []string
}

// Import reads records from r — a JSON array of {title, content}, a single
// such object, or JSON Lines of them — and writes each new one as a file like
// Add. A record that does not parse or has no content is reported with its
// line number and the others are imported. A JSON array that is not valid
// JSON is an error and nothing is imported.
func (s *Store) Import(ctx context.Context, r io.Reader) (ImportResult, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return ImportResult{}, fmt.Errorf("read cognition items: %w", err)
	}
	recs, errs, err := ParseRecords(data)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Errors: errs}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Warnings, err = s.refresh(ctx); err != nil {
		return res, err
	}
	pending := map[string]Item{}
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		a, err := s.write(rec.Title, rec.Content, pending)
		if err != nil {
			return res, fmt.Errorf("line %d: %w", rec.Line, err)
		}
		if a.Duplicate {
			res.Duplicate++
			continue
		}
		res.New++
		res.Added = append(res.Added, a.Item)
	}
	more, err := s.refresh(ctx)
	res.Warnings = append(res.Warnings, more...)
	for i, it := range res.Added {
		if j, ok := s.byID[it.ID]; ok {
			res.Added[i] = s.items[j]
		}
	}
	return res, err
}

// LineRecord is a record with the line it starts on.
type LineRecord struct {
	Record
	Line int
}

// ParseRecords reads import records (see Import). Records without content
// or of the wrong shape are returned as LineErrors; the error is for input
// that cannot be read at all.
func ParseRecords(data []byte) ([]LineRecord, []LineError, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	first := bytes.TrimLeft(data, " \t\r\n")
	if len(first) == 0 {
		return nil, nil, nil
	}
	if first[0] == '[' {
		return parseArray(data)
	}
	if first[0] == '{' && json.Valid(data) && bytes.Count(bytes.TrimSpace(data), []byte("\n")) > 0 {
		// One object spread over several lines.
		line := lineAt(data, len(data)-len(first))
		rec, lerr := decodeRecord(bytes.TrimSpace(data), line)
		if lerr != nil {
			return nil, []LineError{*lerr}, nil
		}
		return []LineRecord{rec}, nil, nil
	}
	var recs []LineRecord
	var errs []LineError
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		rec, lerr := decodeRecord(line, i+1)
		if lerr != nil {
			errs = append(errs, *lerr)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, errs, nil
}

func parseArray(data []byte) ([]LineRecord, []LineError, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, nil, fmt.Errorf("line %d: %v (the JSON array was not imported; fix it, or use JSON Lines to import the valid lines)", lineAt(data, int(syn.Offset)), syn)
		}
		return nil, nil, fmt.Errorf("the JSON array was not imported: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // [
		return nil, nil, fmt.Errorf("read JSON array: %w", err)
	}
	var recs []LineRecord
	var errs []LineError
	for dec.More() {
		off := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", lineAt(data, off), err)
		}
		// The element starts after the separator and any space.
		start := off
		for start < len(data) && strings.IndexByte(" \t\r\n,", data[start]) >= 0 {
			start++
		}
		rec, lerr := decodeRecord(raw, lineAt(data, start))
		if lerr != nil {
			errs = append(errs, *lerr)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, errs, nil
}

// decodeRecord checks one element: an object with a string content that is
// not blank, and a string title if any.
func decodeRecord(raw []byte, line int) (LineRecord, *LineError) {
	if len(raw) == 0 || raw[0] != '{' {
		if !json.Valid(raw) {
			return LineRecord{}, &LineError{line, "not valid JSON"}
		}
		return LineRecord{}, &LineError{line, `not a JSON object (want {"title": ..., "content": ...})`}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return LineRecord{}, &LineError{line, fmt.Sprintf("not valid JSON: %v", syn)}
		}
		return LineRecord{}, &LineError{line, err.Error()}
	}
	var rec Record
	for _, f := range []struct {
		name string
		dst  *string
	}{{"title", &rec.Title}, {"content", &rec.Content}} {
		v, ok := fields[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return LineRecord{}, &LineError{line, fmt.Sprintf("%q must be a string", f.name)}
		}
	}
	if strings.TrimSpace(rec.Content) == "" {
		return LineRecord{}, &LineError{line, `"content" is missing or empty`}
	}
	return LineRecord{Record: rec, Line: line}, nil
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = max(0, min(off, len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}
