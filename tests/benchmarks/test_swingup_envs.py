"""The swing-up physics: minipg's batched NumPy twin against the package's own classes.

Both are stepped through the same random actions in [-1, 1] (300 steps of E = 256 envs): the
twin through make_env(..., "vector"), one set of array operations for all E envs per step, and
gym-cartpole-swingup's env classes through make_env(..., "sync"), gymnasium's SyncVectorEnv,
E Python env.step calls per step.  pytest-benchmark times the steps (median of 3 runs after a
warm-up); each round's reset is untimed.  The summary prints env steps/s of both and the
twin's speed-up, twin steps/s / package steps/s.
"""

import itertools

import numpy as np
import pytest

from minipg.envs import make_env

from . import blocks


@pytest.mark.benchmark(group="swing-up env stepping")
@pytest.mark.parametrize("vectorization", ["vector", "sync"])
def test_swingup_env_stepping(benchmark, bench, vectorization):
    E, steps = bench.stepping_size()
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, size=(steps, E, 1)).astype(np.float32)
    env = make_env(blocks.SWINGUP_ID, E, vectorization)
    seeds = itertools.count()

    def reset():  # each round's setup, untimed (returns nothing: pytest-benchmark would take it as arguments)
        env.reset(seed=next(seeds))

    try:
        rounds = bench.stepping_rounds()
        benchmark.pedantic(blocks.step_through, args=(env, actions), setup=reset, rounds=rounds, warmup_rounds=1)
    finally:
        env.close()
    if benchmark.disabled:
        return
    median = benchmark.stats.stats.median
    bench.record(benchmark, "envs", vectorization, {
        "env_id": blocks.SWINGUP_ID, "vectorization": vectorization, "E": E, "steps": steps, "rounds": rounds,
        "median_s": median, "seconds": list(benchmark.stats.stats.data), "steps_per_s": E * steps / median,
    })
