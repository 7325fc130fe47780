#!/usr/bin/env bash
# Issue 7's figures: offline evolution vs a best-of-N control that only mutates
# the initial program, on both demos, seeds 1-3, 100 evaluations each.
# Takes about 10 minutes on 2 cores. Extra arguments go to the program, e.g.
#   bench/demos.sh -evals 20 -seeds 1 -experiments circle_packing_demo
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/demos "$@"
