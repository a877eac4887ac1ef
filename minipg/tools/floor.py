"""The env-alone floor: the seconds a task's vector env takes to step through a run's env steps
with no policy at all, the least any training run on this machine pays for them.

The suite (suite.py) quotes each run's wall time in seconds and as a ratio to this floor,
measured just before the task's runs: a slower or busier machine stretches both alike, so the
ratio carries from one sitting to another where the seconds do not.  `make bench` measures the
same floors (tests/benchmarks/test_env_floors.py).
"""

import math
import time

from ..envs import make_env
from ..reinforce import epoch_seed

# Env steps actually stepped at most; a longer budget is measured on this slice and scaled.
FLOOR_SLICE_STEPS = 100_000


def env_floor_seconds(env_id, num_envs, steps, vectorization="auto", seed=0, T=None,
                      slice_steps=FLOOR_SLICE_STEPS):
    """Seconds for make_env(env_id, num_envs, vectorization) to step through `steps` env steps
    (⌈steps / num_envs⌉ calls of env.step, each num_envs env steps, as a run's env_steps counts
    them) with random actions and nothing else.

    The actions are drawn before the clock starts, from the env's batched action space seeded
    with `seed`.  With T, the env is reset every T calls, as the training loop resets each epoch
    (seeded by minipg.reinforce.epoch_seed(seed, epoch)); without it, once at the start.  The
    resets are timed, the env's construction and the action draws are not.

    A budget beyond `slice_steps` env steps (default FLOOR_SLICE_STEPS, 100,000) is not stepped
    through: a slice of it is, as many whole epochs of T as fit (else slice_steps), and its
    seconds are scaled linearly to the budget.  One measurement, on a shared machine as noisy as
    the run it is compared with.

    Returns seconds (float).  Raises ValueError for steps, T or slice_steps that are not positive
    integers, and for what make_env refuses (an unknown id, a missing optional dependency).
    """
    for name, value in (("steps", steps), ("slice_steps", slice_steps), ("T", 1 if T is None else T)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"env_floor_seconds: {name} must be a positive integer, got {value!r}")
    env = make_env(env_id, num_envs, vectorization)
    try:
        calls = math.ceil(steps / num_envs)
        period = calls if T is None else T
        slice_calls = max(1, slice_steps // num_envs)
        if calls > slice_calls:  # whole epochs, so the slice pays its share of resets
            slice_calls = slice_calls // period * period or slice_calls
        measured = min(calls, slice_calls)
        env.action_space.seed(seed)
        actions = [env.action_space.sample() for _ in range(measured)]
        seconds = step_through(env, actions, period, seed)
    finally:
        env.close()
    return seconds * calls / measured


def step_through(env, actions, T, seed):
    """Seconds of env.step(a) for each batch a of `actions`, the env reset (seeded as the training
    loop seeds it) before the first call and then every T calls."""
    start = time.perf_counter()
    for t, action in enumerate(actions):
        if t % T == 0:
            env.reset(seed=epoch_seed(seed, t // T))
        env.step(action)
    return time.perf_counter() - start
