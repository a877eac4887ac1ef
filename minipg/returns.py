"""Returns and advantages from a rollout of T steps in E parallel environments.

Reward-to-go (the post's definition, including its treatment of the rollout's end):

    G_t = r_t + γ (1 − d_t) G_{t+1},      G_{T−1} = r_{T−1}

d_t = 1 when an episode ended at step t, so returns never flow across episode boundaries.
An episode still running at t = T−1 is cut there (its returns see only the rewards inside
the rollout), exactly as in the original.

Generalized advantage estimation, GAE(λ) (Schulman et al., 2016), from a learned value V:

    δ_t = r_t + γ V'_t − V(s_t),        A_t = δ_t + γλ (1 − d_t) A_{t+1},    A_{T−1} = δ_{T−1}

where V'_t is the value of the state after step t: V(s_{t+1}) while the episode goes on,
V(s_final) when it was cut by a time limit or by the end of the rollout (bootstrapping: a
cut is not a failure), and 0 when it terminated (or the loop's terminal_value, see
solver.py).  λ = 1 gives A_t = G_t − V(s_t) with the cut returns bootstrapped, λ = 0
the one-step TD error δ_t; in between, A trades the bias of V for the variance of the rewards.
A_t + V(s_t) is the λ-return, the value fit's target.
"""

import numpy as np


def calculate_returns(rewards, dones, gamma):
    """Backward recursion G_t = r_t + γ(1 − d_t)G_{t+1}.

    rewards: (T, E) floats; dones: (T, E) bools or 0/1; gamma in [0, 1].
    Returns G: (T, E), same dtype as rewards.
    """
    returns = np.empty_like(rewards)
    continues = gamma * (1.0 - np.asarray(dones, dtype=rewards.dtype))
    returns[-1] = rewards[-1]
    for t in range(len(rewards) - 2, -1, -1):
        returns[t] = rewards[t] + continues[t] * returns[t + 1]
    return returns


def gae_advantages(rewards, values, next_values, dones, gamma, lam):
    """Backward recursion A_t = δ_t + γλ(1 − d_t)A_{t+1}, δ_t = r_t + γV'_t − V(s_t).

    rewards, values (V(s_t)), next_values (V'_t, see the module docstring): (T, E) floats;
    dones: (T, E) bools (the episode ended at t, either way); gamma, lam in [0, 1].
    Returns A: (T, E), same dtype as rewards.
    """
    deltas = (rewards + gamma * next_values - values).astype(rewards.dtype, copy=False)
    # The reward-to-go recursion with δ for r and γλ for γ.
    return calculate_returns(deltas, dones, gamma * lam)


def episode_returns(rewards, dones):
    """Undiscounted returns Σ r of the episodes that *ended* inside the rollout.

    rewards: (T, E); dones: (T, E) bools.  Rewards of steps that are not transitions (an
    autoreset step) must already be 0.  Returns a 1-D array, ordered by environment then time.

    Per environment, the return of an episode ending at step t is the running sum of rewards
    at t minus the running sum at the previous episode end (or 0 for its first episode).
    """
    totals = np.cumsum(rewards, axis=0).T  # (E, T): running sum per environment
    ends = dones.T.astype(bool)             # (E, T)
    at_ends = totals[ends]                 # running sums at episode ends, env-major order
    env_of_end = np.nonzero(ends)[0]
    previous = np.concatenate(([0.0], at_ends[:-1]))
    first_of_env = np.concatenate(([True], env_of_end[1:] != env_of_end[:-1]))
    previous[first_of_env] = 0.0
    return at_ends - previous
