//go:build unix

package agents

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// newProcAttr starts the evaluation in its own process group, so that the
// group can be killed as a whole and a terminal's Ctrl-C reaches git-evolve
// (which cancels the evaluation) rather than the evaluated code.
func newProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// exitSignal names the signal that killed the process, or "" when it exited.
func exitSignal(ps *os.ProcessState) string {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return ""
	}
	if name := unix.SignalName(ws.Signal()); name != "" {
		return name
	}
	return ws.Signal().String()
}
