"""Variance reduction for the REINFORCE gradient: baselines and normalization of returns.

For any b that does not depend on the action a_t,

    E[∇ log π(a_t|s_t) · b] = b · ∇ Σ_a π(a|s_t) = b · ∇ 1 = 0,

so replacing G_t by the advantage A_t = G_t − b leaves the expected gradient unchanged while
(with a good b) shrinking its variance.  The post uses A_t = G_t (no baseline).

- `time_baseline`: b_t = mean over the E parallel episodes of G_t at the same step t.  Every
  epoch starts by resetting all E envs, so step t is the same point in time for each of them
  (exactly, while their first episodes last); b_t uses the other envs' returns too, a bias
  of order 1/E that vanishes for large E.
- `normalize`: A ← (A − mean A) / std A over the batch, a per-epoch rescaling of the step
  size that keeps updates the same size as returns grow.
"""

import numpy as np

BASELINES = ("none", "time")


def time_baseline(returns, valid):
    """b_t = mean of G_{t,e} over the envs e whose step t is a valid transition.

    returns: (T, E); valid: (T, E) bools.  Returns b: (T, 1), ready to broadcast.
    """
    counts = valid.sum(axis=1, keepdims=True)
    sums = np.where(valid, returns, 0.0).sum(axis=1, keepdims=True)
    return sums / np.maximum(counts, 1)


def normalize(advantages, valid):
    """(A − mean) / std over the valid samples; A: (T, E).  A constant batch is only centred."""
    values = advantages[valid]
    std = values.std()
    return (advantages - values.mean()) / (std if std > 0 else 1.0)


def compute_advantages(returns, valid, baseline="none", normalize_advantages=False):
    """A = G − b (b from `baseline`, one of BASELINES), then optionally normalized.  (T, E)."""
    if baseline == "none":
        advantages = returns
    elif baseline == "time":
        advantages = returns - time_baseline(returns, valid)
    else:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    if normalize_advantages:
        advantages = normalize(advantages, valid)
    return advantages
