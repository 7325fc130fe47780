#!/bin/sh
# A results.json cut short, as when the writer dies mid-write.
printf '{"success": true, "eval_score": 0.7, "sum_r' > "$EVOLVE_RESULTS"
echo '{"score": 1}'
