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
step allows and pushes no further.  So the policy's chunked backward pass (policies.py) serves
unchanged: only the per-sample weight on ∇ log π differs.

`ppo_update` runs `update_epochs` passes over the rollout in shuffled minibatches, one Adam
step each, all against the log-probabilities of the policy that collected the rollout.
"""

import numpy as np


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


def ppo_update(agent, states, actions, advantages, mask, clip_ratio, update_epochs, minibatch_size,
               max_grad_norm=None):
    """`update_epochs` passes of minibatch Adam steps on L^CLIP over one rollout.

    states: (T, E, obs_dim); actions: (T, E) or (T, E, M); advantages: (T, E); mask: (T, E)
    bools, the valid samples (the others are dropped).  minibatch_size: samples per step (None:
    the whole rollout); each pass shuffles the samples with agent.rng.
    Returns {'loss', 'entropy', 'grad_norm'}: means over the steps (loss: of L^CLIP before each).
    """
    states, actions, advantages = states[mask], actions[mask], advantages[mask]
    old_log_probs = agent.pi(states).log_prob(actions)  # θ_old: the policy that acted
    n_samples = len(states)
    minibatch_size = n_samples if minibatch_size is None else min(int(minibatch_size), n_samples)
    sums = {"loss": 0.0, "entropy": 0.0, "grad_norm": 0.0}
    steps = 0
    for _ in range(update_epochs):
        order = agent.rng.permutation(n_samples)
        for start in range(0, n_samples, minibatch_size):
            batch = order[start:start + minibatch_size]
            stats = agent.update(states[batch], actions[batch], advantages[batch],
                                 max_grad_norm=max_grad_norm,
                                 old_log_probs=old_log_probs[batch], clip_ratio=clip_ratio)
            for key in sums:
                sums[key] += stats[key]
            steps += 1
    return {key: total / steps for key, total in sums.items()}
