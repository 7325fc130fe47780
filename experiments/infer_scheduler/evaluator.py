"""Evaluator of the LLM serving scheduler demo.

Usage: python3 evaluator.py PROGRAM.py

PROGRAM defines schedule(queue, gpu_mem_free_gb). This file simulates a
single-GPU LLM server with continuous batching (see input.md for the model) on
a seeded synthetic trace, at a series of arrival rates, and finds the highest
rate at which the P99 time to first token stays under 500 ms. The score is the
output throughput (tokens/s) at that rate, or 0 if even the lowest rate misses
the limit. It prints one line of JSON:

    {"score": <tokens/s>, "metrics": {...}, "feedback": "..."}

The simulation runs in a child process bounded by EVOLVE_DEMO_CHILD_TIMEOUT
seconds (default 30).
"""
import importlib.util
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

# Workload: a ShareGPT-like trace, Poisson arrivals, lognormal lengths.
TRACE_SEED = 7
N_REQUESTS = 600
PROMPT_MEDIAN, PROMPT_SIGMA, PROMPT_MAX = 600, 1.0, 4096
OUTPUT_MEDIAN, OUTPUT_SIGMA, OUTPUT_MAX = 100, 0.8, 1024
INTERACTIVE_SHARE = 0.25  # requests with priority 1

# Server: KV cache capacity and the cost of one engine iteration.
KV_CAPACITY_TOKENS = 32768  # 16 GiB of KV cache at 0.5 MiB per token
GB_PER_TOKEN = 0.5 / 1024
ITER_OVERHEAD_S = 0.008  # fixed cost of an iteration (weights read, launch)
PREFILL_S_PER_TOKEN = 0.0001  # per prompt token prefilled
DECODE_S_PER_SEQ = 0.0001  # per decoding request
ATTN_S_PER_CTX_TOKEN = 0.00000025  # per token of context read by decoding requests

# Objective.
TTFT_LIMIT_S = 0.5
PERCENTILE = 0.99
RATE_MIN, RATE_MAX = 0.5, 32.0  # requests/s searched
BISECTIONS = 9
MAX_ITERATIONS = 200000

DEFAULT_TIMEOUT_S = 30.0
MARKER = "@@infer-scheduler-result@@"
OUTPUT_TAIL = 2000


class PolicyError(Exception):
    """The program's schedule() failed or answered something unusable."""


def make_trace():
    """Arrival times at 1 request/s and the lengths of each request."""
    rng = random.Random(TRACE_SEED)
    t, trace = 0.0, []
    for _ in range(N_REQUESTS):
        t += rng.expovariate(1.0)
        prompt = int(min(PROMPT_MAX, max(4, rng.lognormvariate(math.log(PROMPT_MEDIAN), PROMPT_SIGMA))))
        output = int(min(OUTPUT_MAX, max(2, rng.lognormvariate(math.log(OUTPUT_MEDIAN), OUTPUT_SIGMA))))
        priority = 1 if rng.random() < INTERACTIVE_SHARE else 0
        trace.append((t, prompt, output, priority))
    return trace


def percentile(values, q):
    """Nearest-rank percentile of values (inf for missing entries)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def simulate(schedule, trace, rate):
    """Serves trace with arrivals scaled to rate requests/s. Returns a dict of
    results; "passed" says whether the P99 TTFT limit held. Stops early once
    the limit is certainly missed. Raises PolicyError on a bad answer."""
    n = len(trace)
    arrival = [a / rate for a, _, _, _ in trace]
    prompt = [p for _, p, _, _ in trace]
    out_len = [o for _, _, o, _ in trace]
    priority = [q for _, _, _, q in trace]
    generated = [0] * n
    kv = [0] * n
    first = [math.inf] * n
    finish = [math.inf] * n
    late = set()
    allowed_late = n - math.ceil(PERCENTILE * n)
    waiting, running = [], []
    used = 0
    now, nxt = 0.0, 0
    preemptions = iterations = 0
    aborted = False
    while True:
        while nxt < n and arrival[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not waiting and not running:
            if nxt >= n:
                break
            now = arrival[nxt]
            continue
        iterations += 1
        if iterations > MAX_ITERATIONS:
            raise PolicyError("the simulation did not finish within %d iterations" % MAX_ITERATIONS)
        # Running requests need one more KV slot each; preempt the latest
        # admitted ones (their KV is dropped, they are recomputed later).
        while running and used + len(running) > KV_CAPACITY_TOKENS:
            victim = running.pop()
            used -= kv[victim]
            kv[victim] = 0
            waiting.insert(0, victim)
            preemptions += 1
        decoders = list(running)
        admitted = []
        if waiting:
            view = []
            for i in waiting:
                if first[i] == math.inf and now - arrival[i] >= TTFT_LIMIT_S:
                    late.add(i)
                view.append({"id": i, "seq_len": prompt[i] + generated[i],
                             "priority": priority[i], "wait_ms": (now - arrival[i]) * 1000.0})
            if len(late) > allowed_late:
                aborted = True
                break
            free_gb = (KV_CAPACITY_TOKENS - used - len(running)) * GB_PER_TOKEN
            ids = call_policy(schedule, view, free_gb, now)
            queued = set(waiting)
            for i in ids:
                need = prompt[i] + generated[i]
                if used + len(running) + need <= KV_CAPACITY_TOKENS:
                    used += need
                    kv[i] = need
                    admitted.append(i)
                    running.append(i)
                    queued.discard(i)
            if admitted:
                waiting = [i for i in waiting if i in queued]
        if not admitted and not decoders:
            # Idle GPU: nothing admitted and nothing to decode.
            if nxt >= n:
                break  # the policy leaves the remaining requests waiting forever
            now = max(now, arrival[nxt])
            continue
        prefill = sum(kv[i] for i in admitted)
        context = sum(kv[i] for i in decoders)
        now += (ITER_OVERHEAD_S + PREFILL_S_PER_TOKEN * prefill
                + DECODE_S_PER_SEQ * len(decoders) + ATTN_S_PER_CTX_TOKEN * context)
        for i in decoders:
            kv[i] += 1
            used += 1
        for i in admitted:
            if first[i] == math.inf:
                first[i] = now
                if now - arrival[i] >= TTFT_LIMIT_S:
                    late.add(i)
        done = False
        for i in decoders + admitted:
            generated[i] += 1
            if generated[i] >= out_len[i]:
                finish[i] = now
                used -= kv[i]
                kv[i] = 0
                done = True
        if done:
            running = [i for i in running if finish[i] == math.inf]
        if len(late) > allowed_late:
            aborted = True
            break
    ttft = [first[i] - arrival[i] for i in range(n)]
    completed = sum(1 for f in finish if f < math.inf)
    tokens = sum(generated[i] for i in range(n) if finish[i] < math.inf)
    span = max((f for f in finish if f < math.inf), default=0.0) - arrival[0]
    p99 = percentile(ttft, PERCENTILE)
    passed = not aborted and completed == n and p99 < TTFT_LIMIT_S
    interactive = [t for t, q in zip(ttft, priority) if q == 1]
    return {
        "rate_rps": rate,
        "passed": passed,
        "aborted": aborted,
        "throughput_tok_s": tokens / span if span > 0 else 0.0,
        "p50_ttft_ms": percentile(ttft, 0.5) * 1000.0,
        "p99_ttft_ms": p99 * 1000.0,
        "p99_ttft_interactive_ms": percentile(interactive, PERCENTILE) * 1000.0 if interactive else 0.0,
        "preemptions": preemptions,
        "completed": completed,
        "iterations": iterations,
        "simulated_s": now,
    }


def call_policy(schedule, view, free_gb, now):
    """Calls schedule and checks its answer: a list of distinct queued ids."""
    try:
        ids = schedule(view, free_gb)
    except Exception as err:  # the program is untrusted: report any failure
        raise PolicyError("schedule() raised %s: %s (at t=%.3fs, %d waiting)"
                          % (type(err).__name__, err, now, len(view))) from None
    if not isinstance(ids, (list, tuple)):
        raise PolicyError("schedule() must return a list of ids, got %s" % type(ids).__name__)
    known = {r["id"] for r in view}
    seen = set()
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise PolicyError("schedule() returned %r, which is not a request id (an int)" % (i,))
        if i not in known:
            raise PolicyError("schedule() returned id %d, which is not in the queue" % i)
        if i in seen:
            raise PolicyError("schedule() returned id %d twice" % i)
        seen.add(i)
    return list(ids)


def search(schedule):
    """Finds the highest passing arrival rate. Returns (best, runs): best is
    the result at that rate (None when the lowest rate fails)."""
    trace = make_trace()
    runs = []

    def run(rate):
        result = simulate(schedule, trace, rate)
        runs.append(result)
        return result

    low = run(RATE_MIN)
    if not low["passed"]:
        return None, runs
    high = run(RATE_MAX)
    if high["passed"]:
        return high, runs
    best, lo, hi = low, RATE_MIN, RATE_MAX
    for _ in range(BISECTIONS):
        mid = math.sqrt(lo * hi)
        result = run(mid)
        if result["passed"]:
            best, lo = result, mid
        else:
            hi = mid
    return best, runs


def child(program):
    """Runs in the child process: imports the program, searches, prints the
    result object on a marked line."""
    sys.path.insert(0, os.path.dirname(program))
    spec = importlib.util.spec_from_file_location("candidate", program)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schedule = getattr(module, "schedule", None)
    if not callable(schedule):
        raise SystemExit("the program defines no schedule(queue, gpu_mem_free_gb) function")
    try:
        best, runs = search(schedule)
    except PolicyError as err:
        result = {"score": 0.0, "metrics": {"valid": 0}, "feedback": str(err)}
    else:
        result = summarize(best, runs)
    sys.stdout.write("\n" + MARKER + json.dumps(result, allow_nan=False) + "\n")


def summarize(best, runs):
    """The result object from the search."""
    if best is None:
        low = runs[0]
        metrics = {"valid": 1, "rate_rps": low["rate_rps"], "preemptions": low["preemptions"],
                   "completed": low["completed"]}
        if math.isfinite(low["p99_ttft_ms"]):
            metrics["p99_latency_ms"] = round(low["p99_ttft_ms"], 3)
        why = ("P99 time to first token above %d ms" % (TTFT_LIMIT_S * 1000)
               if low["completed"] == N_REQUESTS or low["aborted"]
               else "%d of %d requests never finished" % (N_REQUESTS - low["completed"], N_REQUESTS))
        return {"score": 0.0, "metrics": metrics,
                "feedback": "fails even at the lowest load (%.2g requests/s): %s" % (RATE_MIN, why)}
    metrics = {
        "valid": 1,
        "throughput": round(best["throughput_tok_s"], 3),
        "rate_rps": round(best["rate_rps"], 4),
        "p50_latency_ms": round(best["p50_ttft_ms"], 3),
        "p99_latency_ms": round(best["p99_ttft_ms"], 3),
        "p99_interactive_ms": round(best["p99_ttft_interactive_ms"], 3),
        "preemptions": best["preemptions"],
        "completed": best["completed"],
        "simulations": len(runs),
    }
    failed = [r for r in runs if not r["passed"]]
    nxt = min(failed, key=lambda r: r["rate_rps"]) if failed else None
    feedback = ("sustains %.3g requests/s at %.0f output tokens/s with P99 time to first token %.0f ms "
                "(%d preemptions)" % (best["rate_rps"], best["throughput_tok_s"], best["p99_ttft_ms"],
                                      best["preemptions"]))
    if nxt is not None:
        reason = ("P99 time to first token above %d ms" % (TTFT_LIMIT_S * 1000)
                  if nxt["completed"] == N_REQUESTS or nxt["aborted"]
                  else "%d requests never finished" % (N_REQUESTS - nxt["completed"]))
        feedback += "; at %.3g requests/s: %s (%d preemptions)" % (nxt["rate_rps"], reason, nxt["preemptions"])
    return {"score": round(best["throughput_tok_s"], 3), "metrics": metrics, "feedback": feedback}


def child_timeout():
    """The child's time limit in seconds, from EVOLVE_DEMO_CHILD_TIMEOUT."""
    try:
        value = float(os.environ.get("EVOLVE_DEMO_CHILD_TIMEOUT", ""))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 and math.isfinite(value) else DEFAULT_TIMEOUT_S


def evaluate(program):
    """Runs the simulation of program in a child process; the result object."""
    start = time.monotonic()
    timeout = child_timeout()
    try:
        proc = subprocess.Popen([sys.executable, "-B", os.path.abspath(__file__), "--child", program],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as err:
        return {"score": 0.0, "metrics": {"valid": 0}, "feedback": "could not start python: %s" % err}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return {"score": 0.0, "metrics": {"valid": 0, "eval_time_s": round(time.monotonic() - start, 3)},
                "feedback": "the simulation did not finish within %gs (is schedule() slow or stuck?)" % timeout}
    elapsed = round(time.monotonic() - start, 3)
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace").strip()
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0:
        tail = err[-OUTPUT_TAIL:] if err else "(no stderr)"
        return {"score": 0.0, "metrics": {"valid": 0, "eval_time_s": elapsed},
                "feedback": "the program failed (exit status %d): %s" % (proc.returncode, tail)}
    if not lines:
        return {"score": 0.0, "metrics": {"valid": 0, "eval_time_s": elapsed},
                "feedback": "the simulation ended without a result (does the program call sys.exit?)"}
    try:
        result = json.loads(lines[-1][len(MARKER):])
        score = float(result["score"])
    except (ValueError, KeyError, TypeError) as e:
        return {"score": 0.0, "metrics": {"valid": 0, "eval_time_s": elapsed},
                "feedback": "unreadable result from the simulation: %s" % e}
    if not math.isfinite(score):
        score = 0.0
    metrics = result.get("metrics") if isinstance(result.get("metrics"), dict) else {}
    metrics["eval_time_s"] = elapsed
    return {"score": score, "metrics": metrics, "feedback": str(result.get("feedback", ""))}


def main(argv):
    if len(argv) >= 3 and argv[1] == "--child":
        child(argv[2])
        return 0
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
