package sampling

import (
	"fmt"
	"math/bits"
	"slices"
)

// CodeSize is the number of bytes in files: the island feature "complexity",
// recorded as code_size in the proposed event.
func CodeSize(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

// Sketch is the 64-bit SimHash of the code in files, as 16 lowercase hex
// digits: the island feature "diversity", recorded as sketch in the proposed
// event. Similar code gives sketches a small Hamming distance apart.
//
// The code is cut into tokens (runs of letters, digits, '_' and non-ASCII
// bytes; every other non-space byte alone), the files taken in path order, and
// every run of three consecutive tokens votes for the bits of its FNV-1a hash.
// Whitespace and paths do not count. It returns "" when files hold no token.
// The caller passes the editable files (what evolve.files selects).
func Sketch(files map[string][]byte) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var votes [64]int32
	var window [3]uint64
	seen := 0
	vote := func(h uint64) {
		for b := range 64 {
			if h&(1<<b) != 0 {
				votes[b]++
			} else {
				votes[b]--
			}
		}
	}
	for _, p := range paths {
		forTokens(files[p], func(tok []byte) {
			window[0], window[1], window[2] = window[1], window[2], fnv64(tok)
			seen++
			if seen >= 3 {
				vote(mix(window[0], window[1], window[2]))
			}
		})
	}
	switch seen {
	case 0:
		return ""
	case 1, 2: // too short for a shingle: the tokens themselves vote
		for _, h := range window[3-seen:] {
			vote(mix(h, 0, 0))
		}
	}
	var h uint64
	for b := range 64 {
		if votes[b] > 0 {
			h |= 1 << b
		}
	}
	return fmt.Sprintf("%016x", h)
}

// forTokens calls fn with each token of code.
func forTokens(code []byte, fn func([]byte)) {
	word := func(c byte) bool {
		return c == '_' || c >= 0x80 || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
	}
	for i := 0; i < len(code); {
		c := code[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case word(c):
			j := i + 1
			for j < len(code) && word(code[j]) {
				j++
			}
			fn(code[i:j])
			i = j
		default:
			fn(code[i : i+1])
			i++
		}
	}
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix combines three token hashes into one well-spread shingle hash
// (the finaliser of splitmix64 over an order-sensitive combination).
func mix(a, b, c uint64) uint64 {
	z := a ^ bits.RotateLeft64(b, 21) ^ bits.RotateLeft64(c, 42) ^ 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// parseSketch reads a sketch written by Sketch (16 lowercase hex digits).
func parseSketch(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	return hexKey(s)
}

// Distance is the Hamming distance (0 to 64) between two sketches made by
// Sketch; ok is false when either is not a sketch.
func Distance(a, b string) (d int, ok bool) {
	x, okA := parseSketch(a)
	y, okB := parseSketch(b)
	if !okA || !okB {
		return 0, false
	}
	return bits.OnesCount64(x ^ y), true
}
