#!/bin/sh
# Performance of `git evolve sync` (issue 9): publishing one new candidate to,
# and fetching one from, a file-path remote that already holds 1,000 and
# 10,000 candidates. The target: at most 1 s per sync, and bytes that follow
# what is new, not the size of the experiment.
#
#   bench/sync.sh              # 20 syncs per case
#   BENCHTIME=50x bench/sync.sh
#
# The fixture (built with git fast-import, a few seconds) is a repository
# whose experiment has a random tree of N candidates with their notes, and a
# bare mirror of it as the remote.
set -eu
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkSync' -benchtime "${BENCHTIME:-20x}" ./gitstore/ |
	awk '
	/^BenchmarkSync/ {
		name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkSync/, "", name)
		printf "%-36s %7.3f s per sync  %7d bytes %s\n", name, $3 / 1e9, $5, ($6 == "sent-B/op" ? "pushed" : "fetched")
		next
	}
	/^(FAIL|panic|---)/ { print; failed = 1 }
	END { exit failed }'
