//go:build !unix

package gitstore

import "io/fs"

// pidAlive cannot tell on this platform: a lock is then only stale by age.
func pidAlive(pid int) bool { return true }

func inode(fs.FileInfo) uint64 { return 0 }
