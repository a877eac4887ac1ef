"""The swing-up blog configuration's epoch and learn-step memory over E envs × T steps.

Sizes (`scaling_size`, parametrized in conftest.py): E ∈ {32, 256, 1024} × T ∈ {200, 1000}; with
--bench-full-grid also E = 4096.

Figures per (E, T):
    epoch          pytest-benchmark's median of 3 minipg.reinforce epochs (after 1 warm-up)
    µs/sample      epoch / (E·T): flat where the cost is linear in the batch, higher for small E,
                   where the fixed cost of each of the T steps (a few dozen NumPy calls) is not
                   spread over many envs; the linearity line gives the largest over the smallest
    learn peak     tracemalloc peak of one policy.update on (T, E) buffers of random numbers (the
                   learn step's allocations depend on the shapes only), on a copy of the policy
    buffers        bytes of the preallocated rollout buffers (minipg.reinforce.rollout_buffers)
    maxrss         the process's peak resident set right after that size's epochs; it only grows,
                   so a row shows a new peak only when it needed more than all rows before it
"""

import itertools

import pytest

from minipg.reinforce import reinforce

from . import blocks


@pytest.mark.benchmark(group="swing-up scaling")
def test_swingup_scaling(benchmark, bench, scaling_size):
    E, T = scaling_size
    config = blocks.CONFIGS["swingup"]
    env = blocks.make_config_env(config, E)
    policy = blocks.make_policy(config, env, bench.chunk_size, dtype=bench.dtype)
    seeds = itertools.count()

    def epoch():
        return reinforce(env, policy, gamma=config["gamma"], epochs=1, T=T, seed=next(seeds))

    try:
        rounds = bench.scaling_rounds()
        benchmark.pedantic(epoch, rounds=rounds, warmup_rounds=1)
        maxrss = blocks.maxrss_bytes()  # now: it holds the epochs' peak, not the measurement below
        if benchmark.disabled:
            return
        buffers = blocks.random_rollout(env, policy, T)
    finally:
        env.close()
    epoch_median = benchmark.stats.stats.median
    learn_peak = blocks.learn_step_peak(policy, buffers)
    assert learn_peak > 0
    bench.record(benchmark, "scaling", (E, T), {
        "E": E, "T": T, "samples": E * T, "rounds": rounds,
        "epoch_median_s": epoch_median, "epoch_s": list(benchmark.stats.stats.data),
        "us_per_sample": 1e6 * epoch_median / (E * T),
        "learn_peak_bytes": learn_peak,
        "buffers_bytes": blocks.buffers_bytes(buffers),
        "maxrss_bytes": maxrss,
    })
