"""Returns from a rollout of T steps in E parallel environments.

Reward-to-go (the post's definition, including its treatment of the rollout's end):

    G_t = r_t + γ (1 − d_t) G_{t+1},      G_{T−1} = r_{T−1}

d_t = 1 when an episode ended at step t, so returns never flow across episode boundaries.
An episode still running at t = T−1 is cut there (its returns see only the rewards inside
the rollout), exactly as in the original.
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
