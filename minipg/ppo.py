"""The clipped surrogate objective (PPO, Schulman et al. 2017): several steps per rollout.

REINFORCE (policies.py) takes one gradient step per rollout: the estimate ∇ log π · A is only
unbiased at the parameters θ_old that collected the data.  To take more steps on the same
samples, weight each by the probability ratio of the new policy to the one that acted,

    ρ_n(θ) = π_θ(a_n|s_n) / π_θold(a_n|s_n) = exp(log π_θ(a_n|s_n) − log π_θold(a_n|s_n)),

and keep θ near θ_old by clipping the ratio's effect:

    L^CLIP(θ) = −(1/N) Σ_n min(ρ_n A_n, clip(ρ_n, 1 − ε, 1 + ε) A_n).

At θ = θ_old (ρ = 1) its gradient is REINFORCE's, −(1/N) Σ A_n ∇ log π.  Since ∇ρ = ρ ∇ log π,

    ∂L^CLIP/∂ log π_θ(a_n|s_n) = −(1/N) ρ_n A_n · 1[the min takes ρ_n A_n]

and 1[…] is 0 exactly where the clipped term is the smaller one: A_n > 0 with ρ_n > 1 + ε,
or A_n < 0 with ρ_n < 1 − ε.  There the sample has already moved the policy as far as the
step allows and pushes no further.  So the policy's gradient path (Policy.objective_and_grads)
serves unchanged: `clipped_objective` only supplies another weight per sample.

`ppo_update` runs `update_epochs` passes over the rollout in shuffled minibatches, one Adam
step each, all against the log-probabilities of the policy that collected the rollout.
"""

import numpy as np

from .policies import check_per_sample


def clipped_surrogate(log_probs, old_log_probs, advantages, clip_ratio):
    """The per-sample terms of L^CLIP and their derivatives by log π.

    log_probs: log π_θ(a|s); old_log_probs: log π_θold(a|s); advantages: A; all of one shape (n,).
    clip_ratio: ε > 0.
    Returns (objective, weights): objective_n = min(ρ_n A_n, clip(ρ_n, 1 − ε, 1 + ε) A_n) and
    weights_n = ∂objective_n/∂log π_n = ρ_n A_n where the unclipped term is the min, else 0.
    """
    ratio = np.exp(log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = np.clip(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio) * advantages
    # where: a ratio that overflowed to inf on a clipped sample must give weight 0, not inf·0
    weights = np.where(unclipped <= clipped, unclipped, 0.0)
    return np.minimum(unclipped, clipped), weights


def clipped_objective(old_log_probs, advantages, clip_ratio):
    """L^CLIP as an objective of log π for Policy.step: objective(log π, rows=all) → (L of the
    rows, ∂L/∂log π of the rows).  old_log_probs, advantages: (n,), every sample valid; ε > 0.

    Raises ValueError for a clip ratio that is not a positive finite number, or inputs whose
    shapes differ; NonFiniteError (policies.py) for NaN or inf among them.
    """
    advantages, old_log_probs = check_clipped_inputs(old_log_probs, advantages, clip_ratio)
    return unchecked_clipped_objective(old_log_probs, advantages, clip_ratio)


def check_clipped_inputs(old_log_probs, advantages, clip_ratio):
    """(advantages, old_log_probs) as arrays, after clipped_objective's checks (see there)."""
    if not (np.isfinite(clip_ratio) and clip_ratio > 0):
        raise ValueError(f"clip_ratio must be a positive finite number, got {clip_ratio}")
    advantages = check_per_sample("advantages", advantages, np.shape(advantages)[:1])
    return advantages, check_per_sample("old_log_probs", old_log_probs, advantages.shape)


def unchecked_clipped_objective(old_log_probs, advantages, clip_ratio):
    """clipped_objective for inputs that passed check_clipped_inputs (ppo_update checks the
    rollout once, then makes one objective per minibatch)."""
    scale = -1.0 / len(advantages)

    def objective(log_probs, rows=slice(None)):
        terms, weights = clipped_surrogate(log_probs, old_log_probs[rows], advantages[rows], clip_ratio)
        return (scale * terms).sum(), scale * weights

    return objective


def ppo_update(policy, states, actions, advantages, mask, clip_ratio, update_epochs, minibatch_size,
               max_grad_norm=None, entropy_coef=0.0):
    """`update_epochs` passes of minibatch Adam steps on L^CLIP over one rollout.

    states: (T, E, obs_dim); actions: (T, E) or (T, E, act_dim); advantages: (T, E); mask: (T, E)
    bools, the valid samples (the others are dropped).  minibatch_size: samples per step (None:
    the whole rollout); each pass shuffles the samples with policy.rng.  entropy_coef: an
    entropy bonus in each step (see Policy.chunked_objective_and_grads).
    Returns {'loss', 'entropy', 'grad_norm'}: means over the steps (loss: of L^CLIP before each).
    """
    # Checked once here, not in each minibatch's step: the minibatches are slices of these arrays.
    states, actions, mask = policy.check_batch(states, actions, mask)
    states, actions, advantages = states[mask], actions[mask], np.asarray(advantages)[mask]
    old_log_probs = policy.distribution(states).log_prob(actions)  # θ_old: the policy that acted
    advantages, old_log_probs = check_clipped_inputs(old_log_probs, advantages, clip_ratio)
    n_samples = len(states)
    minibatch_size = n_samples if minibatch_size is None else min(int(minibatch_size), n_samples)
    sums = {"loss": 0.0, "entropy": 0.0, "grad_norm": 0.0}
    steps = 0
    for _ in range(update_epochs):
        order = policy.rng.permutation(n_samples)
        for start in range(0, n_samples, minibatch_size):
            batch = order[start:start + minibatch_size]
            objective = unchecked_clipped_objective(old_log_probs[batch], advantages[batch], clip_ratio)
            stats = policy.step(states[batch], actions[batch], objective, max_grad_norm=max_grad_norm,
                                entropy_coef=entropy_coef, checked=True)
            for key in sums:
                sums[key] += stats[key]
            steps += 1
    return {key: total / steps for key, total in sums.items()}
