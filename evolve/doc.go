// Package evolve holds the domain of git-evolve: the events recorded in git notes,
// the records and candidates folded from them, the configuration, and the step loop
// that drives the Researcher, Engineer and Analyzer through interfaces it defines.
//
// The package never touches git, the network or the terminal itself: storage,
// agents and output are supplied by the caller. Time and identities are passed in.
package evolve
