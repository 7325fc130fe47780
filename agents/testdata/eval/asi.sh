#!/bin/bash
# Shaped like ASI-Evolve's circle_packing_demo/eval.sh: results.json in the
# working directory, a summary on stdout.
cat > results.json <<JSON
{
    "success": true,
    "eval_score": 2.61,
    "sum_radii": 2.61,
    "validity": 1.0,
    "combined_score": 0.99,
    "temp": {"error": null}
}
JSON
echo "Results:"
echo "  Sum of radii: 2.61"
exit 0
