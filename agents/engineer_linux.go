//go:build linux

package agents

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var subreaper sync.Once

// prepareReaper makes this process a child subreaper, once: orphans of the
// evaluations (daemons that double-forked) are re-parented to it instead of
// to init, so they stay findable and their zombies are ours to reap.
func prepareReaper() {
	subreaper.Do(func() {
		// Without it (old kernel, seccomp) orphans go to init, which reaps
		// them; the /proc scan still finds and kills them by their tag.
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
}

// procInfo is what /proc/<pid>/stat tells about a process.
type procInfo struct {
	pid, ppid, pgrp, sid int
	state                byte
	start                uint64 // clock ticks after boot
}

// procKey identifies a process across pid reuse.
type procKey struct {
	pid   int
	start uint64
}

// procGroup finds the processes of one evaluation in /proc: its process group,
// the processes whose environment carries its EVOLVE_RUN_ID, their
// descendants, and orphans adopted by this process in another session.
type procGroup struct {
	main  int
	tag   []byte // "\x00EVOLVE_RUN_ID=<tag>\x00"
	since uint64 // start time of the main process: nothing older belongs to the evaluation
	seen  map[procKey]bool
}

func newProcGroup(pid int, tag string) *procGroup {
	g := &procGroup{main: pid, tag: []byte("\x00" + runIDEnv + "=" + tag + "\x00"), seen: map[procKey]bool{}}
	if p, ok := readProc(pid); ok {
		g.since = p.start
	}
	return g
}

// killAll sends SIGKILL to every live process of the evaluation, again and
// again until none is left (a process may fork while the sweep runs), for at
// most two seconds. It returns the number of processes killed.
func (g *procGroup) killAll() int {
	killed := map[int]bool{}
	deadline := time.Now().Add(2 * time.Second)
	for {
		alive := 0
		for _, p := range g.members() {
			g.seen[procKey{p.pid, p.start}] = true
			if p.state == 'Z' || p.state == 'X' {
				continue
			}
			alive++
			if unix.Kill(p.pid, unix.SIGKILL) == nil {
				killed[p.pid] = true
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			return len(killed)
		}
		time.Sleep(time.Millisecond)
	}
}

// members lists the processes of the evaluation.
func (g *procGroup) members() []procInfo {
	self := os.Getpid()
	mySid, _ := unix.Getsid(0)
	inflight.Lock()
	alone := len(inflight.mains) == 0
	inflight.Unlock()

	procs := listProcs()
	in := map[int]bool{}
	for _, p := range procs {
		younger := p.start >= g.since // older processes cannot be the evaluation's
		switch {
		case p.pid == self:
		case younger && (p.pgrp == g.main || g.tagged(p.pid)):
			in[p.pid] = true // the main process leads the group: it is in it too
		case alone && p.ppid == self && p.sid != mySid && !hasRunID(p.pid):
			// An orphan that left our session and cleared its environment:
			// only an evaluation can have produced it, and none other runs.
			in[p.pid] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			if !in[p.pid] && in[p.ppid] && p.pid != self {
				in[p.pid], changed = true, true
			}
		}
	}
	var out []procInfo
	for _, p := range procs {
		if in[p.pid] {
			out = append(out, p)
		}
	}
	return out
}

func (g *procGroup) tagged(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	return bytes.HasPrefix(env, g.tag[1:]) || bytes.Contains(env, g.tag)
}

// hasRunID reports whether a process carries any evaluation's EVOLVE_RUN_ID
// (or its environment cannot be read): such a process is not a stray.
func hasRunID(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return true
	}
	return bytes.HasPrefix(env, []byte(runIDEnv+"=")) || bytes.Contains(env, []byte("\x00"+runIDEnv+"="))
}

// reap waits for the zombies of killed processes that were re-parented to
// this process, and for other re-parented zombies that no running evaluation
// owns, for at most a second.
func (g *procGroup) reap() {
	self := os.Getpid()
	myPgrp := unix.Getpgrp()
	deadline := time.Now().Add(time.Second)
	for {
		pending := false
		inflight.Lock()
		for _, p := range listProcs() {
			mine := g.seen[procKey{p.pid, p.start}]
			if p.ppid != self {
				// A killed process whose parent has not been reaped yet:
				// it will be re-parented to us shortly.
				pending = pending || mine
				continue
			}
			// Children that are in our process group were started by other
			// code of this process, which waits for them.
			if !mine && (p.state != 'Z' || p.pgrp == myPgrp || inflight.mains[p.pid]) {
				continue
			}
			if p.state != 'Z' {
				pending = true
				continue
			}
			var ws unix.WaitStatus
			_, _ = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
		}
		inflight.Unlock()
		if !pending || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// listProcs reads every process.
func listProcs() []procInfo {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	procs := make([]procInfo, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			procs = append(procs, p)
		}
	}
	return procs
}

// readProc parses /proc/<pid>/stat: "pid (comm) state ppid pgrp session ...",
// where comm may hold spaces and parentheses, and starttime is field 22.
func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procInfo{}, false
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	num := func(k int) int { v, _ := strconv.Atoi(string(f[k])); return v }
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{pid: pid, state: f[0][0], ppid: num(1), pgrp: num(2), sid: num(3), start: start}, true
}
