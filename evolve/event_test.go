package evolve

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEventRoundTripKeepsUnknownFields(t *testing.T) {
	line := `{"v":7,"exp":"x","event":"evaluated","at":"2026-11-26T12:00:00Z","status":"ok","score":2.5,"gpu":{"name":"h100","n":8},"zeta":[1,2]}`
	evs, warns := ParseNote([]byte(line + "\n"))
	if len(warns) != 0 || len(evs) != 1 {
		t.Fatalf("got %v %v", evs, warns)
	}
	e := evs[0]
	if e.V != 7 || e.Status != StatusOK || *e.Score != 2.5 {
		t.Fatalf("known fields wrong: %+v", e)
	}
	if string(e.Extra["gpu"]) != `{"name":"h100","n":8}` || string(e.Extra["zeta"]) != `[1,2]` {
		t.Fatalf("unknown fields lost: %v", e.Extra)
	}
	out, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"gpu":{"name":"h100","n":8}`) || !strings.HasSuffix(string(out), `"zeta":[1,2]}`) {
		t.Fatalf("unknown fields not written back: %s", out)
	}
}

func TestParseNoteSkipsBadLines(t *testing.T) {
	note := "{\"v\":1,\"exp\":\"x\",\"event\":\"proposed\",\"at\":\"2026-11-26T12:00:00Z\"}\n" +
		"garbage\n\n{\"v\":1}\n[1,2]\n{\"v\":1,\"exp\":\"x\",\"event\":\"mystery\",\"at\":\"2026-11-26T12:00:01Z\"}\n"
	evs, warns := ParseNote([]byte(note))
	if len(evs) != 2 {
		t.Fatalf("want the proposed and the unknown event, got %d: %+v", len(evs), evs)
	}
	if len(warns) != 3 {
		t.Fatalf("want 3 warnings, got %v", warns)
	}
	if warns[0].Line != 2 || warns[1].Line != 4 || warns[2].Line != 5 {
		t.Fatalf("warning lines: %v", warns)
	}
	r := Fold(evs)
	if r.Proposed == nil || r.Status() != StatusPending {
		t.Fatalf("fold: %+v", r)
	}
}

func TestFoldLatestWinsRegardlessOfLineOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	one, two := 1.0, 2.0
	first := Event{V: 1, Exp: "x", Event: EventEvaluated, At: t0, Status: StatusOK, Score: &two}
	second := Event{V: 1, Exp: "x", Event: EventEvaluated, At: t0.Add(time.Second), Status: StatusFailed, Reason: "boom"}
	third := Event{V: 1, Exp: "x", Event: EventEvaluated, At: t0.Add(2 * time.Second), Status: StatusOK, Score: &one}
	for _, order := range [][]Event{{first, second, third}, {third, first, second}, {second, third, first}} {
		r := Fold(order)
		if s, ok := r.Score(); !ok || s != 1 {
			t.Fatalf("latest evaluation should win: %v %v", s, ok)
		}
		if len(r.Events) != 3 {
			t.Fatal("history lost")
		}
	}
	// Same time: the order is decided by the encoded line, identically everywhere.
	a := Event{V: 1, Exp: "x", Event: EventEvaluated, At: t0, Status: StatusOK, Score: &one}
	b := Event{V: 1, Exp: "x", Event: EventEvaluated, At: t0, Status: StatusOK, Score: &two}
	r1, r2 := Fold([]Event{a, b}), Fold([]Event{b, a})
	s1, _ := r1.Score()
	s2, _ := r2.Score()
	if s1 != s2 {
		t.Fatalf("tie broken differently: %v vs %v", s1, s2)
	}
}

func TestMergeNotesIsSortedUnion(t *testing.T) {
	a := []byte("b\na\n")
	b := []byte("c\na\n\n")
	got := string(MergeNotes(a, b))
	if got != "a\nb\nc\n" {
		t.Fatalf("got %q", got)
	}
	if MergeNotes(nil, []byte("\n")) != nil {
		t.Fatal("empty union should be empty")
	}
}

func TestValidate(t *testing.T) {
	t0 := time.Now()
	bad := []Event{
		{Event: EventProposed, At: t0},
		{Exp: "x", Event: EventProposed},
		{Exp: "x", At: t0},
		{Exp: "x", Event: EventEvaluated, At: t0, Status: "weird"},
		{Exp: "x", Event: EventEvaluated, At: t0, Status: StatusOK},
	}
	for i, e := range bad {
		if e.Validate() == nil {
			t.Errorf("case %d should be invalid: %+v", i, e)
		}
	}
	one := 1.0
	if err := (Event{Exp: "x", Event: EventEvaluated, At: t0, Status: StatusOK, Score: &one}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRankAndBest(t *testing.T) {
	mk := func(id string, st Status, score float64) Candidate {
		c := Candidate{ID: id}
		e := Event{Exp: "x", Event: EventEvaluated, Status: st}
		if st == StatusOK {
			s := score
			e.Score = &s
		}
		if st != StatusPending {
			c.Record = Fold([]Event{e})
		}
		return c
	}
	cs := []Candidate{mk("d", StatusFailed, 0), mk("a", StatusOK, 1), mk("c", StatusPending, 0), mk("b", StatusOK, 3), mk("e", StatusOK, 3)}
	Rank(cs, Maximize)
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, "") != "beacd" {
		t.Fatalf("maximize order %v", ids)
	}
	Rank(cs, Minimize)
	ids = ids[:0]
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, "") != "abecd" {
		t.Fatalf("minimize order %v", ids)
	}
	if b, ok := Best(cs, Maximize); !ok || b.ID != "b" {
		t.Fatalf("best %v", b.ID)
	}
	if _, ok := Best(nil, Maximize); ok {
		t.Fatal("best of nothing")
	}
}

func TestCommitMessageTrailers(t *testing.T) {
	island := 2
	m := CommitMessage{Exp: "exp1", Title: "wider ring\nignored", Motivation: strings.Repeat("word ", 40), Inspirations: []string{"aa", "bb"}, Island: &island}
	s := m.String()
	if !strings.HasPrefix(s, "evolve(exp1): wider ring\n\n") {
		t.Fatalf("subject: %q", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if len(l) > 72 {
			t.Fatalf("line not wrapped: %q", l)
		}
	}
	exp, ins, isl := ParseTrailers(s)
	if exp != "exp1" || strings.Join(ins, ",") != "aa,bb" || isl == nil || *isl != 2 {
		t.Fatalf("trailers: %v %v %v", exp, ins, isl)
	}
}

func TestMetricFloat(t *testing.T) {
	cases := []struct {
		v    any
		want float64
		ok   bool
	}{
		{1.5, 1.5, true}, {float32(2), 2, true}, {3, 3, true}, {int64(4), 4, true},
		{json.Number("5.5"), 5.5, true}, {json.Number("x"), 0, false}, {true, 1, true}, {false, 0, true},
		{"7", 0, false}, {nil, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false},
	}
	for _, c := range cases {
		got, ok := MetricFloat(c.v)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("MetricFloat(%#v) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
