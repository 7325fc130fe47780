// Package gitstore keeps git-evolve experiments in a git repository, as
// DESIGN.md section 3 lays out, on top of go-git's plumbing.
//
// What it writes:
//
//   - a baseline commit per experiment (parent: the commit the experiment
//     started from, same tree, message "evolve(<exp>): baseline");
//   - a commit per candidate (first parent: its parent candidate; tree: the
//     parent's tree with the edited files replaced);
//   - a ref refs/evolve/<exp>/<full sha> per candidate, which keeps the
//     commit alive and is never moved;
//   - git notes in refs/notes/evolve: one JSON Lines blob per candidate,
//     in the fanout layout git itself writes (see notestree.go), so that
//     `git log --notes=evolve` and `git notes --ref=evolve show` read them;
//   - derived, never pushed data under <git common dir>/evolve/: the notes
//     lock file and the per-experiment index that makes Candidates fast.
//
// Every reference update is a compare-and-swap. On disk it follows git's own
// protocol (create "<ref>.lock" exclusively, check the old value, rename), so
// git-evolve processes and git commands running at the same time never lose
// each other's updates. Writers of the notes ref are further serialised by
// the lock file evolve/notes.lock and an in-process mutex. A Store is safe
// for concurrent use by many goroutines.
//
// Nothing here prints or exits; errors name the candidate, ref or file
// involved and, where there is one, the command that helps.
package gitstore
