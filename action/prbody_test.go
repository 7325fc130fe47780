package action

import (
	"strings"
	"testing"

	"github.com/git-evolve/git-evolve/evolve"
)

func TestPullRequestText(t *testing.T) {
	cs := smallExperiment()
	for i := range cs {
		if cs[i].ID == hexID(2) {
			cs[i].Record.Proposed.Motivation = "Push circles to the corners <b>now</b>."
		}
	}
	title, body, err := PullRequestText(PullRequestInput{Exp: "exp", ID: hexID(2), Cands: cs,
		Links: Links{ServerURL: "https://github.com", Repository: "octo/demo"}, Remote: "upstream"})
	if err != nil {
		t.Fatal(err)
	}
	if title != "push | circles <b>out</b> @alice" {
		t.Errorf("title = %q, want the candidate's title", title)
	}
	for _, want := range []string{
		CandidateMarker("exp", hexID(2)) + "\n",
		"Candidate [`00000003`](https://github.com/octo/demo/commit/" + hexID(2) + ")",
		"### Motivation\n\nPush circles to the corners &lt;b>now&lt;/b>.",
		"| | this candidate | parent [`00000002`](https://github.com/octo/demo/commit/" + hexID(1) + ") | baseline [`00000001`]",
		"| **score** | **2** | 1.5 (+0.5) | 1 (+1) |",
		"| sum_radii | 1.5 | 1.5 | 1.5 |",
		"Better than the baseline by +1 (higher is better).",
		"### Lineage\n\nbaseline [`00000001`]",
		"→ [`00000003`](https://github.com/octo/demo/commit/" + hexID(2) + ") (2)",
		"### Analysis\n\nBetter by 0.5.",
		"- bigger corners help",
		"git evolve sync upstream",
		"git evolve eval -e exp 00000003",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "| valid |") {
		t.Error("a non-numeric metric became a row")
	}

	// A candidate with no evaluation yet, under minimize.
	title, body, err = PullRequestText(PullRequestInput{Exp: "exp", ID: hexID(4), Cands: cs, Direction: evolve.Minimize})
	if err != nil || title != "in flight" || !strings.Contains(body, "| **score** | _pending_ |") || strings.Contains(body, "Better than") {
		t.Fatalf("pending candidate: %q %v\n%s", title, err, body)
	}
	if _, _, err := PullRequestText(PullRequestInput{Exp: "exp", ID: hexID(99), Cands: cs}); err == nil {
		t.Error("an unknown candidate was accepted")
	}

	// However long the texts, the body fits in GitHub's limit.
	huge := hugeExperiment(2000)
	huge[1999].Record.Proposed.Motivation = strings.Repeat("why ", 100000)
	_, body, err = PullRequestText(PullRequestInput{Exp: "exp", ID: hexID(1999), Cands: huge})
	if err != nil || len(body) >= MaxBody {
		t.Fatalf("huge body: %d bytes, %v", len(body), err)
	}
	if !strings.Contains(body, "… 1988 more …") {
		t.Errorf("the long lineage is not shortened:\n%s", body[:min(len(body), 3000)])
	}
}
