#!/bin/sh
# Performance of the git-evolve store on one experiment of N candidates
# (issue 2, "Performance"). Prints, side by side:
#   - `git evolve log --top 20`'s work (bench/storebench log: Candidates,
#     rank, print) against
#     git log --no-walk --notes=evolve --format=%N --glob='refs/evolve/<exp>/*'
#     (median wall and CPU time of alternating runs, the ratio, peak RSS);
#   - the first listing, which builds the index under .git/evolve/;
#   - the time to record one candidate (commit + ref + proposed note, then an
#     evaluated note), median and p90;
#   - the listing again after recording (the index catches up incrementally).
#
# Usage: bench/store.sh            (N=100000, refs packed as after git gc)
#        N=20000 LOOSE=1 RUNS=3 BENCH_DIR=/tmp/x bench/store.sh
# The fixture is built once with git fast-import and reused when BENCH_DIR
# exists; delete it to start over.
set -eu

N=${N:-100000}
RUNS=${RUNS:-5}
RECORD=${RECORD:-50}
LOOSE=${LOOSE:-0}
suffix=packed
[ "$LOOSE" = 1 ] && suffix=loose
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/git-evolve-bench-$N-$suffix}

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/storebench" ./bench/storebench)

export GIT_CONFIG_NOSYSTEM=1
echo "machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo ?), $(git --version)"

if [ ! -d "$BENCH_DIR" ]; then
	packed=-packed
	[ "$LOOSE" = 1 ] && packed=
	"$bin/storebench" fixture -dir "$BENCH_DIR" -n "$N" $packed
fi
refs=$(git -C "$BENCH_DIR" for-each-ref refs/evolve/ | wc -l)
loose=$(find "$BENCH_DIR/.git/refs/evolve" -type f 2>/dev/null | wc -l)
echo "fixture: $BENCH_DIR: $refs candidate refs ($loose loose), $(du -sh "$BENCH_DIR/.git/objects" | cut -f1) of objects"

echo
echo "== first listing (builds .git/evolve/index)"
rm -rf "$BENCH_DIR/.git/evolve"
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f "wall %es  user %Us  sys %Ss  peak RSS %M KB" "$bin/storebench" log -v -dir "$BENCH_DIR" >/dev/null
else
	"$bin/storebench" log -v -dir "$BENCH_DIR" >/dev/null
fi
echo "index: $(du -h "$BENCH_DIR"/.git/evolve/index/*.idx | cut -f1)"

echo
echo "== git evolve log --top 20 vs git log --notes (warm)"
"$bin/storebench" log -v -dir "$BENCH_DIR" | head -5
"$bin/storebench" compare -dir "$BENCH_DIR" -runs "$RUNS"

echo
echo "== recording candidates"
"$bin/storebench" record -dir "$BENCH_DIR" -n "$RECORD"

echo
echo "== log after recording (index brought up to date)"
"$bin/storebench" compare -dir "$BENCH_DIR" -runs "$RUNS"
