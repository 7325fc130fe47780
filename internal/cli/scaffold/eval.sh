#!/bin/sh
# Evaluates one candidate (the evaluation contract, see git evolve help eval):
#   $1                 absolute path of the candidate's first editable file
#   working directory  this experiment's folder inside a workspace of the candidate
#   stdout             the last line that is a JSON object is the result:
#                      {"score": <number>, "metrics": {...}, "feedback": "..."}
# A non-zero exit without a result marks the candidate failed.
set -eu
exec python3 - "$1" <<'PY'
import importlib.util, json, sys

spec = importlib.util.spec_from_file_location("candidate", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

xs = [i / 10 for i in range(-20, 21)]
target = [3.0 * x * x - 2.0 * x + 0.75 for x in xs]
err = sum((mod.predict(x) - t) ** 2 for x, t in zip(xs, target)) / len(xs)
print(json.dumps({"score": -err, "metrics": {"mse": err},
                  "feedback": "mean squared error %.6g over %d points" % (err, len(xs))}))
PY
