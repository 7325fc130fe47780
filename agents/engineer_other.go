//go:build !unix

package agents

import (
	"os"
	"syscall"
)

func newProcAttr() *syscall.SysProcAttr { return nil }

func exitSignal(*os.ProcessState) string { return "" }

func prepareReaper() {}

// procGroup does nothing on systems without process groups: only the main
// process is killed (by runProcess).
type procGroup struct{}

func newProcGroup(int, string) *procGroup { return &procGroup{} }

func (g *procGroup) killAll() int { return 0 }

func (g *procGroup) reap() {}
