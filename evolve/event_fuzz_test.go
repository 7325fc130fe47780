package evolve

import (
	"bytes"
	"testing"
)

// FuzzParseNote: any note parses without panicking, and every event it yields
// encodes to one line that parses back to the same line.
func FuzzParseNote(f *testing.F) {
	f.Add([]byte(`{"v":1,"exp":"x","event":"proposed","at":"2026-11-26T12:00:00Z","title":"t"}`))
	f.Add([]byte("{\"v\":2,\"exp\":\"x\",\"event\":\"evaluated\",\"at\":\"2026-11-26T12:00:00Z\",\"status\":\"ok\",\"score\":1,\"future\":{\"a\":[1]}}\nnot json\n\n"))
	f.Add([]byte(`{"event":"analyzed","lessons":["a","b"],"exp":"y","at":"bad time"}`))
	f.Add([]byte{0xff, '\n', '{'})
	f.Fuzz(func(t *testing.T, note []byte) {
		evs, _ := ParseNote(note)
		for _, e := range evs {
			line, err := e.Line()
			if err != nil {
				continue // e.g. a metric value that JSON cannot re-encode
			}
			if bytes.ContainsAny(line, "\n") {
				t.Fatalf("event encodes to several lines: %q", line)
			}
			back, warns := ParseNote(line)
			if len(warns) != 0 || len(back) != 1 {
				t.Fatalf("re-parse of %q: %v %v", line, back, warns)
			}
			again, err := back[0].Line()
			if err != nil || !bytes.Equal(again, line) {
				t.Fatalf("round trip changed the line:\n%s\n%s", line, again)
			}
		}
		_ = Fold(evs)
	})
}
