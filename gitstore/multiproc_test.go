package gitstore

import "os"

// runHelper is filled in by the multi-process test file.
func runHelper(role string) int {
	_ = role
	os.Stderr.WriteString("unknown helper role\n")
	return 2
}
