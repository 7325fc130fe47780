package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// workspaces hands out evaluation workspaces under .git/evolve/workspaces/<exp>/.
// Each is held with an flock for the life of the process, so that several
// processes running `step` on one repository never share one; the kernel
// releases the lock when a process dies, so a killed run leaves nothing stale.
type workspaces struct {
	base  string
	mu    sync.Mutex
	held  map[int]string // worker -> dir
	locks []*os.File
}

func newWorkspaces(gitDir, exp string) *workspaces {
	return &workspaces{base: filepath.Join(gitDir, "evolve", "workspaces", exp), held: map[int]string{}}
}

// dir returns the workspace of worker w, acquiring a free slot the first time.
func (ws *workspaces) dir(w int) (string, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if d, ok := ws.held[w]; ok {
		return d, nil
	}
	if err := os.MkdirAll(ws.base, 0o755); err != nil {
		return "", fmt.Errorf("create workspace folder: %w", err)
	}
	for slot := 0; slot < 1024; slot++ {
		d := filepath.Join(ws.base, fmt.Sprintf("w%d", slot))
		taken := false
		for _, h := range ws.held {
			if h == d {
				taken = true
			}
		}
		if taken {
			continue
		}
		f, err := os.OpenFile(d+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return "", fmt.Errorf("lock workspace: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		ws.locks = append(ws.locks, f)
		ws.held[w] = d
		return d, nil
	}
	return "", fmt.Errorf("no free workspace under %s", ws.base)
}

// close releases every workspace lock.
func (ws *workspaces) close() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, f := range ws.locks {
		f.Close()
	}
	ws.locks = nil
	ws.held = map[int]string{}
}
