"""Evaluator of the circle packing demo (26 circles in the unit square).

Usage: python3 evaluator.py PROGRAM.py

Runs PROGRAM's construct_packing() in a child Python process with a time
limit, checks the packing with a strict tolerance, and prints one line of JSON:

    {"score": <sum of radii, or 0 if invalid>, "metrics": {...}, "feedback": "..."}

The score is never taken from the program: it is recomputed from the centres
and radii. Environment: EVOLVE_DEMO_CHILD_TIMEOUT (seconds, default 30) bounds
the child process.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

N_CIRCLES = 26
TOL = 1e-9  # allowed numerical slack for containment and non-overlap
DEFAULT_TIMEOUT_S = 30.0
MARKER = "@@circle-packing-result@@"
OUTPUT_TAIL = 2000  # characters of the child's stderr quoted in feedback

# Code run in the child: import the candidate from its path, call
# construct_packing() and print the result as JSON on a marked last line.
CHILD = r"""
import importlib.util, json, os, sys
path = sys.argv[1]
sys.path.insert(0, os.path.dirname(path))
spec = importlib.util.spec_from_file_location("candidate", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if not hasattr(module, "construct_packing"):
    raise SystemExit("the program defines no construct_packing() function")
result = module.construct_packing()
if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
    raise SystemExit("construct_packing() must return (centers, radii), got %s" % type(result).__name__)
centers, radii = result[0], result[1]
try:
    centers = [[float(v) for v in c] for c in centers]
    radii = [float(r) for r in radii]
except (TypeError, ValueError) as err:
    raise SystemExit("construct_packing() returned non-numeric values: %s" % err)
sys.stdout.write("\n" + MARKER + json.dumps({"centers": centers, "radii": radii}) + "\n")
""".replace("MARKER", repr(MARKER))


def child_timeout():
    """The child's time limit in seconds, from EVOLVE_DEMO_CHILD_TIMEOUT."""
    raw = os.environ.get("EVOLVE_DEMO_CHILD_TIMEOUT", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 and math.isfinite(value) else DEFAULT_TIMEOUT_S


def run_child(program, timeout):
    """Runs construct_packing() of program. Returns (data, error): data is the
    decoded {"centers", "radii"} on success, error a message otherwise."""
    try:
        proc = subprocess.Popen(
            [sys.executable, "-B", "-c", CHILD, program],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        return None, "could not start python: %s" % err
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return None, "construct_packing() did not finish within %gs" % timeout
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        tail = err[-OUTPUT_TAIL:] if err else "(no stderr)"
        return None, "the program failed (exit status %d): %s" % (proc.returncode, tail)
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if not lines:
        return None, "the program printed no result (did it call sys.exit?)"
    try:
        data = json.loads(lines[-1][len(MARKER):])
    except ValueError as e:
        return None, "unreadable result from the program: %s" % e
    return data, None


def well_formed(data):
    """Reports whether data holds a list of number pairs and a list of numbers."""
    def number(v):
        return isinstance(v, (int, float))
    if not isinstance(data, dict):
        return False
    centers, radii = data.get("centers"), data.get("radii")
    return (isinstance(centers, list) and isinstance(radii, list)
            and all(isinstance(c, list) and all(number(v) for v in c) for c in centers)
            and all(number(r) for r in radii))


def fmt(x):
    return "%.3g" % x


def check(centers, radii):
    """Checks a packing. Returns (violations, worst): violations is a list of
    messages in the order found (shape, finiteness, sign, containment,
    overlap); worst is the largest geometric violation (0 when none)."""
    if len(centers) != N_CIRCLES or len(radii) != N_CIRCLES:
        return ["expected %d centres and %d radii, got %d centres and %d radii"
                % (N_CIRCLES, N_CIRCLES, len(centers), len(radii))], math.inf
    for i, c in enumerate(centers):
        if len(c) != 2:
            return ["centre %d has %d coordinates, expected 2 (x, y)" % (i, len(c))], math.inf
    violations = []
    for i in range(N_CIRCLES):
        values = (centers[i][0], centers[i][1], radii[i])
        if not all(math.isfinite(v) for v in values):
            violations.append("circle %d is not finite: centre (%r, %r), radius %r" % ((i,) + values))
    if violations:
        return violations, math.inf
    worst = 0.0
    for i, r in enumerate(radii):
        if r < 0:
            violations.append("circle %d has a negative radius %s" % (i, fmt(r)))
            worst = max(worst, -r)
    for i in range(N_CIRCLES):
        (x, y), r = centers[i], radii[i]
        for side, excess in (("left", r - x), ("bottom", r - y), ("right", x + r - 1.0), ("top", y + r - 1.0)):
            if excess > 0:
                worst = max(worst, excess)
                if excess > TOL:
                    violations.append("circle %d crosses the %s side by %s" % (i, side, fmt(excess)))
    for i in range(N_CIRCLES):
        for j in range(i + 1, N_CIRCLES):
            d = math.hypot(centers[i][0] - centers[j][0], centers[i][1] - centers[j][1])
            overlap = radii[i] + radii[j] - d
            if overlap > 0:
                worst = max(worst, overlap)
                if overlap > TOL:
                    violations.append("circles %d and %d overlap by %s" % (i, j, fmt(overlap)))
    return violations, worst


def evaluate(program):
    """The result object for program (a path)."""
    start = time.monotonic()
    data, error = run_child(program, child_timeout())
    elapsed = round(time.monotonic() - start, 3)
    metrics = {"valid": 0, "eval_time_s": elapsed}
    if error:
        return {"score": 0.0, "metrics": metrics, "feedback": error}
    if not well_formed(data):
        return {"score": 0.0, "metrics": metrics,
                "feedback": "the result is not a list of (x, y) centres and a list of radii"}
    centers, radii = data["centers"], data["radii"]
    violations, worst = check(centers, radii)
    total = math.fsum(radii)
    if math.isfinite(total):
        metrics["sum_radii"] = total
    if math.isfinite(worst):
        metrics["worst_violation"] = worst
    metrics["n_circles"] = len(radii)
    if violations:
        extra = len(violations) - 1
        more = " (%d more violation%s)" % (extra, "" if extra == 1 else "s") if extra else ""
        return {"score": 0.0, "metrics": metrics,
                "feedback": "invalid packing: %s%s" % (violations[0], more)}
    metrics["valid"] = 1
    metrics["min_radius"] = min(radii)
    metrics["max_radius"] = max(radii)
    return {"score": total, "metrics": metrics,
            "feedback": "valid packing; sum of radii %.6f (best known about 2.6360)" % total}


def main(argv):
    if len(argv) < 2 or not argv[1]:
        program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "initial_program.py")
    else:
        program = os.path.abspath(argv[1])
    if not os.path.isfile(program):
        result = {"score": 0.0, "metrics": {"valid": 0}, "feedback": "no program file at %s" % program}
    else:
        result = evaluate(program)
    print(json.dumps(result, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
