"""A short swing-up run learns: the mean episode return rises within a few epochs.

Not the full solve (that takes a minute or two; see docs/swingup.md), but the `solve` preset's
ingredients on its batch, so CI notices if the swing-up stops learning at all.
"""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_swingup  # noqa: E402
from minipg import make_env, make_policy, train  # noqa: E402


def test_swingup_mean_return_rises():
    """From a hanging pole (≈ −300 per episode at first) the return climbs by over 100 in 12 epochs
    of the solve preset's settings (its schedules off, a value fit of 32 steps)."""
    options = run_swingup.SOLVE.replace(epochs=12, lr_decay=False, log_std_final=None, value_steps=32)
    env = make_env(options.env, options.num_envs)
    history = train(env, make_policy(env, options, seed=0), options, seed=0)
    returns = np.asarray(history["mean_return"])
    assert np.mean(returns[-3:]) > np.mean(returns[:3]) + 100.0, returns.round(1)
