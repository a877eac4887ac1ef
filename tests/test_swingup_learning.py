"""A short swing-up run learns: the mean episode return rises within a few epochs.

Not the full solve (that takes a minute or two; see README), but the `solve` preset's
ingredients on its batch, so CI notices if the swing-up stops learning at all.
"""

import numpy as np

from minipg import DiagonalGaussianPolicy, make_env, reinforce
from minipg.envs import observation_mirror


def test_swingup_mean_return_rises():
    """From a hanging pole (≈ −300 per episode at first) the return climbs by over 100 in 12 epochs."""
    env = make_env("CartPoleSwingUp-v0", 64)
    agent = DiagonalGaussianPolicy(env, lr=1e-3, seed=0, log_std_init=0.0, dtype="float32",
                                   mirror=observation_mirror("CartPoleSwingUp-v0"))
    history = reinforce(env, agent, gamma=0.998, epochs=12, T=500, seed=0, baseline="value",
                        normalize_advantages=True, gae_lambda=0.95, bootstrap=True, terminal_value=-500.0,
                        clip_ratio=0.2, update_epochs=10, minibatch_size=4096)
    returns = np.asarray(history["mean_return"])
    assert np.mean(returns[-3:]) > np.mean(returns[:3]) + 100.0, returns.round(1)
