"""A deterministic stand-in env for the training loops' tests: E corridors whose episodes last
fixed lengths, traced by hand under both autoreset modes (EXPECTED)."""

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from minipg.policies import CategoricalPolicy

NEXT_STEP, SAME_STEP = AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP


class Corridor(VectorEnv):
    """E corridors; env e's episodes last exactly lengths[e] steps, whatever the actions.

    observation: [k], the number of steps taken in the current episode (0 after a reset);
    reward of the k-th step of an episode: k, so an episode of length L returns L(L+1)/2 and a
    return leaking across an episode boundary would show.  Even-numbered envs end their
    episodes by termination, odd-numbered ones by truncation (both end an episode).

    Autoreset, chosen per instance in metadata["autoreset_mode"]:
    NEXT_STEP: the step after an episode ends resets it: observation [0], reward 0, not done.
    SAME_STEP: the step that ends an episode already returns the next episode's observation [0].
    """

    def __init__(self, lengths, autoreset_mode, action_space=spaces.Discrete(2)):
        self.lengths = np.asarray(lengths)
        self.num_envs = len(lengths)
        self.autoreset_mode = autoreset_mode  # how this env behaves...
        self.metadata = {"autoreset_mode": autoreset_mode}  # ...and what it declares
        self.single_observation_space = spaces.Box(0.0, np.inf, shape=(1,), dtype=np.float32)
        self.single_action_space = action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.terminates = np.arange(self.num_envs) % 2 == 0
        self.steps = np.zeros(self.num_envs, dtype=np.int64)
        self.ended = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed=None, options=None):
        self.steps[:] = 0
        self.ended[:] = False
        return self._observations(), {}

    def step(self, actions):
        assert self.action_space.contains(np.asarray(actions, dtype=self.action_space.dtype))
        if self.autoreset_mode == NEXT_STEP:
            resetting = self.ended  # episodes that ended on the previous step restart now
            self.steps = np.where(resetting, 0, self.steps + 1)
            ended = ~resetting & (self.steps == self.lengths)
            rewards = self.steps.astype(np.float64)  # 0 on a reset step
            observations = self._observations()
            self.ended = ended
            info = {}
        else:
            self.steps += 1
            ended = self.steps == self.lengths
            rewards = self.steps.astype(np.float64)
            # as gymnasium's SAME_STEP envs: the ended episodes' last observations, in info
            final = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(ended):
                final[e] = self._observations()[e]
            info = {"final_obs": final, "_final_obs": ended} if ended.any() else {}
            self.steps[ended] = 0
            observations = self._observations()
        return observations, rewards, ended & self.terminates, ended & ~self.terminates, info

    def _observations(self):
        return self.steps[:, None].astype(np.float32)


# ----------------------------------------------------------- the hand-traced rollout
#
# Four corridors of lengths 2, 3, 7 and 8 for T = 7 steps.  Per env (one row each, transposed
# to (T, E) below), "|" marking where an episode ends:
#
# SAME_STEP                              NEXT_STEP (· = reset step, masked out)
#   L=2  rewards 1 2|1 2|1 2|1             1 2|· 1 2|· 1
#   L=3  rewards 1 2 3|1 2 3|1             1 2 3|· 1 2 3|
#   L=7  rewards 1 2 3 4 5 6 7|            1 2 3 4 5 6 7|
#   L=8  rewards 1 2 3 4 5 6 7  (cut)      1 2 3 4 5 6 7  (cut)
#
# SAME_STEP: 6 episodes, returns 3,3,3,6,6,28 → mean 49/6; Σ rewards = 10+13+28+28 = 79.
# NEXT_STEP: 5 episodes, returns 3,3,6,6,28   → mean 46/5; Σ rewards = 7+12+28+28 = 75.
# avg_reward (the post's metric) = Σ rewards / Σ dones, the unfinished L=8 episode included.

LENGTHS = (2, 3, 7, 8)
T = 7


def per_env(*rows, dtype=np.float64):
    """Rows written one env at a time → a (T, E) array."""
    return np.array(rows, dtype=dtype).T


def ends_at(*times):
    row = np.zeros(T, dtype=bool)
    row[list(times)] = True
    return row


EXPECTED = {
    SAME_STEP: {
        "states": per_env([0, 1, 0, 1, 0, 1, 0], [0, 1, 2, 0, 1, 2, 0], range(7), range(7)),
        "rewards": per_env([1, 2, 1, 2, 1, 2, 1], [1, 2, 3, 1, 2, 3, 1], range(1, 8), range(1, 8)),
        "dones": per_env(ends_at(1, 3, 5), ends_at(2, 5), ends_at(6), ends_at(), dtype=bool),
        "valid": np.ones((T, len(LENGTHS)), dtype=bool),
        # undiscounted reward-to-go (γ = 1), stopping at each episode end
        "returns": per_env([3, 2, 3, 2, 3, 2, 1], [6, 5, 3, 6, 5, 3, 1],
                           [28, 27, 25, 22, 18, 13, 7], [28, 27, 25, 22, 18, 13, 7]),
        "episodes": 6,
        "mean_return": 49 / 6,
        "avg_reward": 79 / 6,
    },
    NEXT_STEP: {
        # a reset step sees the terminal observation of the episode that just ended (L)
        "states": per_env([0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 3, 0, 1, 2], range(7), range(7)),
        "rewards": per_env([1, 2, 0, 1, 2, 0, 1], [1, 2, 3, 0, 1, 2, 3], range(1, 8), range(1, 8)),
        "dones": per_env(ends_at(1, 4), ends_at(2, 6), ends_at(6), ends_at(), dtype=bool),
        "valid": per_env(~ends_at(2, 5), ~ends_at(3), ~ends_at(), ~ends_at(), dtype=bool),
        # on valid steps: the reward-to-go within the episode (reset steps are masked anyway)
        "returns": per_env([3, 2, 3, 3, 2, 1, 1], [6, 5, 3, 6, 6, 5, 3],
                           [28, 27, 25, 22, 18, 13, 7], [28, 27, 25, 22, 18, 13, 7]),
        "episodes": 5,
        "mean_return": 46 / 5,
        "avg_reward": 75 / 5,
    },
}
MODES = [NEXT_STEP, SAME_STEP]
MODE_IDS = ["next_step", "same_step"]


def make_policy(env, seed=0):
    return CategoricalPolicy(env, lr=0.01, seed=seed)
