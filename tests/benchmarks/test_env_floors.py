"""The env-alone floor of each suite task that is installed: the reference the suite quotes its
wall times against, measured here by the same function (minipg/tools/floor.py).

For each task of minipg.tools.suite.TASKS, env_floor_seconds steps the task's vector env as its
preset makes it (num_envs, vectorization; a reset every T calls, as training resets each epoch)
with random actions drawn up front and no policy.  A task whose optional dependency is not
installed (Box2D, MuJoCo) is skipped.

    default               2,000 env steps, median of 3 rounds, scaled linearly to the preset's
                          budget: a few seconds in all
    --bench-suite-floors  the preset's budget as the suite measures it (a slice of up to 100,000
                          env steps, whole epochs, scaled), one round: about 2 minutes in all

Figures: the floor of the steps measured, env steps/s, and the floor for the preset's budget,
the "× env floor" of the suite's table (the short slice pays a reset per epoch only if it holds
one, so its budget figure can differ from the suite's by the resets' share).  pytest-benchmark
times the whole call, the env's construction and the action draws included.
"""

import pytest

from minipg.envs import make_env
from minipg.options import load_presets
from minipg.tools.floor import env_floor_seconds
from minipg.tools.suite import TASKS

from . import blocks


@pytest.mark.benchmark(group="env-alone floors")
@pytest.mark.parametrize("env_id", list(TASKS))
def test_env_floor(benchmark, bench, env_id):
    options = load_presets()[env_id]
    try:
        make_env(env_id, 1, options.vectorization).close()
    except ValueError as error:
        if "not installed" not in str(error):
            raise
        pytest.skip(str(error))
    budget = options.num_envs * options.T * options.epochs
    steps, rounds = bench.floor_steps(budget), bench.floor_rounds()
    floors = []

    def floor():
        floors.append(env_floor_seconds(env_id, options.num_envs, steps, options.vectorization, T=options.T))

    benchmark.pedantic(floor, rounds=rounds, warmup_rounds=0)
    if benchmark.disabled:
        return
    median = blocks.median(floors)
    bench.record(benchmark, "floors", env_id, {
        "env_id": env_id, "E": options.num_envs, "T": options.T, "vectorization": options.vectorization,
        "env_steps": steps, "rounds": rounds, "seconds": floors, "median_s": median,
        "steps_per_s": steps / median, "budget_env_steps": budget, "budget_s": median * budget / steps,
    })
