"""A short swing-up run learns: the mean episode return rises within a few epochs.

Not the full solve (that takes minutes; see README), but the same ingredients as the `solve`
preset on a small batch, so CI notices if the swing-up stops learning at all.
"""

import numpy as np

from minipg import DiagonalGaussianPolicy, make_env, reinforce
from minipg.envs import observation_mirror


def test_swingup_mean_return_rises():
    """From a hanging pole (≈ −300 per episode at first) the return climbs by over 100 in 12 epochs."""
    env = make_env("CartPoleSwingUp-v0", 64)
    agent = DiagonalGaussianPolicy(env, lr=1e-2, seed=0, log_std_init=0.5, dtype="float32",
                                   mirror=observation_mirror("CartPoleSwingUp-v0"))
    history = reinforce(env, agent, gamma=0.999, epochs=12, T=500, seed=0, baseline="value",
                        normalize_advantages=True)
    returns = np.asarray(history["mean_return"])
    assert np.mean(returns[-3:]) > np.mean(returns[:3]) + 100.0, returns.round(1)
