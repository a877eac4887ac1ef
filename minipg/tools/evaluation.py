"""Evaluating a policy: complete episodes, with the mode action or with sampled actions."""

import numpy as np

from ..envs import make_env
from ..options import POSITIVE_INT

# evaluate's default batch: episodes run side by side in one vector env; more run in successive batches.
MAX_PARALLEL_EPISODES = 256


def evaluate(policy, env_id, episodes, deterministic=True, seed=None, vectorization="auto", normalizer=None,
             batch_size=MAX_PARALLEL_EPISODES):
    """Returns of `episodes` complete episodes of `policy` on `env_id`: a float array (episodes,).

    deterministic=True acts with the distribution's mode (argmax / mean), no exploration
    noise; False samples a ~ π(·|s) with the policy's generator.  Each batch of up to
    batch_size episodes runs in one vector env, reset with seed, seed + batch_size, … (the starts
    depend on batch_size; seed None leaves every batch unseeded), until every copy has finished
    its first episode; what a copy does after that is ignored.  normalizer: what the policy sees
    of the observations (the run's ObservationNormalizer, its statistics as they stand), or None.
    Raises ValueError for episodes or batch_size that is not a positive integer.
    """
    for name, value in (("episodes", episodes), ("batch_size", batch_size)):
        if not POSITIVE_INT.accept(value):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    act = policy.act_deterministic if deterministic else policy.act
    returns = []
    batch_seed = seed
    remaining = episodes
    while remaining > 0:
        count = min(remaining, batch_size)
        env = make_env(env_id, count, vectorization)
        try:
            observations, _ = env.reset(seed=batch_seed)
            totals = np.zeros(count)
            running = np.ones(count, dtype=bool)
            while running.any():
                seen = observations if normalizer is None else normalizer(observations)
                observations, rewards, terminated, truncated, _ = env.step(act(seen))
                totals += np.where(running, rewards, 0.0)
                running &= ~(terminated | truncated)
        finally:
            env.close()
        returns.append(totals)
        remaining -= count
        batch_seed = None if batch_seed is None else batch_seed + count
    return np.concatenate(returns)

