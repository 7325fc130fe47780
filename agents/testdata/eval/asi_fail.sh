#!/bin/bash
# ASI-Evolve's error handler: success false, exit 0.
cat > results.json <<JSON
{"success": false, "eval_score": 0.0, "temp": {"error": "Evaluation failed. See eval.log for details."}}
JSON
exit 0
