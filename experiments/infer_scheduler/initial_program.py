"""Admission policy of an LLM server with continuous batching.

schedule(queue, gpu_mem_free_gb) is called once per engine iteration with the
requests waiting to start (new ones, and preempted ones that must be
recomputed) and returns the ids of those to prefill in this iteration, in the
order they should be admitted. Requests already running keep decoding on
their own.

The initial policy is first-come, first-served under a token budget: requests
are taken oldest first until the budget of prompt tokens for one iteration, or
the batch limit, is reached.
"""

KV_GB_PER_TOKEN = 0.5 / 1024  # KV cache of one token: 0.5 MiB (fixed by the server)

# EVOLVE-BLOCK-START
TOKEN_BUDGET = 2048  # prompt tokens prefilled per iteration
MAX_BATCH = 8  # requests admitted per iteration
MEMORY_RESERVE_GB = 0.0  # KV memory kept free for the running requests to grow into
AGE_WEIGHT = 0.25  # rank points per millisecond a request has waited
LENGTH_WEIGHT = 0.0  # rank points taken off per prompt token (favours short prompts)
PRIORITY_WEIGHT = 0.0  # rank points added for an interactive request (priority 1)


def rank(request):
    """Higher first. With only AGE_WEIGHT set this is first-come, first-served."""
    return (AGE_WEIGHT * request["wait_ms"]
            - LENGTH_WEIGHT * request["seq_len"]
            + PRIORITY_WEIGHT * request["priority"])


def schedule(queue, gpu_mem_free_gb):
    """Ids of the waiting requests to admit in this iteration."""
    budget = TOKEN_BUDGET
    memory = gpu_mem_free_gb - MEMORY_RESERVE_GB
    chosen = []
    for request in sorted(queue, key=rank, reverse=True):
        if len(chosen) >= MAX_BATCH:
            break
        cost = request["seq_len"]
        if chosen and cost > budget:
            break
        if cost * KV_GB_PER_TOKEN > memory:
            break
        chosen.append(request["id"])
        budget -= cost
        memory -= cost * KV_GB_PER_TOKEN
    return chosen
# EVOLVE-BLOCK-END
