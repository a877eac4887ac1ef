"""A TabularMDP (exact.py) as a gymnasium environment, so that minipg's own rollout runs on the
MDP whose gradient exact.py computes.

Observations are one-hot rows of the state (a Box of shape (S,)), actions Discrete(A); a step
draws s' ~ P(s, a, ·), pays R(s, a) and terminates when s' is terminal.  The time limit is
gymnasium's TimeLimit wrapper, which sets `truncated` after H steps as in real tasks, and the E
copies are stepped by gymnasium's SyncVectorEnv with its default NEXT_STEP autoreset.
"""

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from ..exact import TabularMDP


class TabularEnv(gymnasium.Env):
    """One episode of `mdp` at a time (its time limit is left to TimeLimit, see make_tabular_env)."""

    metadata = {"render_modes": []}

    def __init__(self, mdp):
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"TabularEnv needs a TabularMDP, got {type(mdp).__name__}")
        self.mdp = mdp
        self.observation_space = spaces.Box(0.0, 1.0, shape=(mdp.n_states,), dtype=np.float64)
        self.action_space = spaces.Discrete(mdp.n_actions)
        self._cumulative = np.cumsum(mdp.P, axis=2)  # inverse-CDF sampling, faster than Generator.choice
        self._start = np.cumsum(mdp.start)
        self.state = None

    def _observation(self):
        observation = np.zeros(self.mdp.n_states)
        observation[self.state] = 1.0
        return observation

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self._draw(self._start)
        return self._observation(), {}

    def step(self, action):
        reward = float(self.mdp.R[self.state, action])
        self.state = self._draw(self._cumulative[self.state, action])
        return self._observation(), reward, bool(self.mdp.terminal[self.state]), False, {}

    def _draw(self, cumulative):
        return min(int(np.searchsorted(cumulative, self.np_random.random(), side="right")), len(cumulative) - 1)


def make_tabular_env(mdp, num_envs):
    """A SyncVectorEnv (NEXT_STEP autoreset) of num_envs copies of TabularEnv(mdp), each with
    TimeLimit(mdp.horizon) when the MDP has a time limit."""
    def make():
        env = TabularEnv(mdp)
        return env if mdp.horizon is None else TimeLimit(env, max_episode_steps=mdp.horizon)

    return SyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)
