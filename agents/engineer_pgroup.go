//go:build unix && !linux

package agents

import "syscall"

// prepareReaper does nothing outside Linux: there is no child subreaper.
func prepareReaper() {}

// procGroup is the evaluation's process group. Outside Linux only the group
// is killed: a process that leaves it (setsid) survives.
type procGroup struct{ pgid int }

func newProcGroup(pid int, _ string) *procGroup { return &procGroup{pgid: pid} }

// killAll kills the process group and reports how many groups it signalled.
func (g *procGroup) killAll() int {
	if syscall.Kill(-g.pgid, syscall.SIGKILL) == nil {
		return 1
	}
	return 0
}

// reap does nothing: orphans are re-parented to init, which reaps them.
func (g *procGroup) reap() {}
