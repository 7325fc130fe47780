// Package agents holds the Researcher, Engineer and Analyzer of git-evolve
// (DESIGN.md sections 4 and 6) and what they share: the OpenAI-compatible LLM
// client, the parsing and application of the Researcher's SEARCH/REPLACE and
// full-file replies, and the offline mode that needs no network and no model.
//
// The offline mode is OfflineResearcher, which mutates and crosses over the
// numeric literals inside the editable region of the editable files, and
// RuleAnalyzer, which explains a candidate by the literals it changed and the
// score delta that followed. Both are deterministic for a given random source.
//
// Nothing here touches git or the terminal: agents take and return the types of
// package evolve, and the step loop records what they answer.
package agents
