"""Memory stays flat over a long run: the rollout buffers are allocated once and reused, and
nothing else accumulates per epoch but the history's few numbers.

tracemalloc counts the bytes Python and NumPy allocate.  One `reinforce` call runs WARM_UP
epochs (first-use allocations: buffers, Adam moments, caches), then MORE epochs; between
the two marks the traced memory may grow only by the history (7 or 8 keys × MORE epochs of list
slots and floats, a few kB) plus allocator noise.  One rollout's buffers alone are tens of
kB (CartPole: 100 × 8 × 4 float64 states = 25.6 kB), so keeping a buffer per epoch would
grow by MORE × that, far over the bound.
"""

import gc
import tracemalloc

import pytest

from minipg.envs import make_env
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.reinforce import reinforce

WARM_UP, MORE = 5, 30
MAX_GROWTH = 200_000  # bytes


@pytest.mark.parametrize("env_id, policy, T, kwargs", [
    ("CartPole-v0", CategoricalPolicy, 100, {}),
    ("CartPoleSwingUp-v0", DiagonalGaussianPolicy, 60, {"hidden": (16, 16)}),
])
def test_memory_is_flat_over_a_long_run(env_id, policy, T, kwargs):
    env = make_env(env_id, 8)
    agent = policy(env, seed=0, **kwargs)
    marks = {}

    def measure(epoch, history):
        if epoch + 1 in (WARM_UP, WARM_UP + MORE):
            gc.collect()
            marks[epoch + 1] = (tracemalloc.get_traced_memory()[0], tracemalloc.take_snapshot())

    tracemalloc.start()
    try:
        history = reinforce(env, agent, epochs=WARM_UP + MORE, T=T, seed=0, callback=measure)
    finally:
        tracemalloc.stop()
        env.close()
    assert len(history["loss"]) == WARM_UP + MORE
    (before, snapshot_before), (after, snapshot_after) = marks[WARM_UP], marks[WARM_UP + MORE]
    growth = after - before
    top = "\n".join(str(stat) for stat in snapshot_after.compare_to(snapshot_before, "lineno")[:5])
    assert growth < MAX_GROWTH, f"traced memory grew by {growth} B over {MORE} epochs; largest growth:\n{top}"
