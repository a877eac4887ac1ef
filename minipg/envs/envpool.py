"""EnvPool behind gymnasium's VectorEnv interface: `vectorization = "envpool"`.

EnvPool (Weng et al. 2022, https://github.com/sail-sg/envpool) steps E copies of a task in C++
threads, one Python call per batch.  make_env(env_id, E, "envpool") returns an EnvPoolVectorEnv,
its Box actions clipped like any other vector env's.  What it keeps of gymnasium's task, and
what differs (tests/test_envpool.py checks each point per task):

- The spaces are gymnasium's own (the ones gymnasium's task of the same id declares; EnvPool's
  Box2D tasks declare observations in [1.2e-38, 3.4e38], float32's extremes, and its MuJoCo
  tasks float64 actions), the shapes checked against EnvPool's.  The episode limit is gymnasium's max_episode_steps.
- Autoreset is EnvPool's NEXT_STEP, gymnasium's default: the step after an episode ends ignores
  the action and returns the next episode's first observation, reward 0, not done.  minipg's
  loops mask that step (reinforce.transitions).
- The dynamics are EnvPool's C++ ports: the same equations and constants, but float32 where
  gymnasium computes in float64 for some tasks, and EnvPool's own random start states.  Rewards
  come back as float64 (gymnasium's dtype) holding EnvPool's float32 values.
- One difference in the signals: EnvPool derives terminated as done and not truncated, so an
  episode that terminates on the very step its time limit is reached reports terminated=False,
  truncated=True (gymnasium reports both True).
- Seeding: EnvPool takes its seeds when the pool is built and ignores reset(seed=...).  The rule
  here: reset(seed=s) rebuilds the pool with copy i seeded (s + i) mod 2³¹ (gymnasium seeds copy
  i of a vector env with s + i), so a seeded reset determines everything after it, as in
  gymnasium, and a run is bit for bit reproducible for a seed.  reset() without a seed resets
  every copy from where its generator stands.  Building a pool costs about 1 ms (classic
  control) to 20 ms (MuJoCo); minipg resets once per epoch.

EnvPool is an optional extra (`pip install minipg[envpool]`; `make setup` installs it).  A task
EnvPool does not have, or EnvPool not installed, is a ValueError of one line.
"""

import warnings

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

SEED_MODULUS = 2**31  # EnvPool's seeds are int32


class EnvPoolVectorEnv(VectorEnv):
    """E = num_envs copies of EnvPool's `env_id`, declaring gymnasium's `observation_space` and
    `action_space` of one copy (see the module docstring), with `max_episode_steps` (gymnasium's
    limit for the task).  reset and step take and return what a gymnasium VectorEnv does:
    observations (E, *obs_shape), rewards (E,) float64, terminated and truncated (E,) bools and
    EnvPool's info dict (its keys: env_id, elapsed_step, and the task's own, e.g. x_position).

    Raises ValueError (one line) if EnvPool is not installed, lacks the task, or its spaces do
    not have gymnasium's shapes.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env_id, num_envs, observation_space, action_space, max_episode_steps=None):
        envpool = import_envpool()
        if env_id not in envpool.list_all_envs():
            raise ValueError(f"EnvPool has no task {env_id!r}; use vectorization auto, vector, sync or async")
        self.env_id, self.num_envs, self.max_episode_steps = env_id, num_envs, max_episode_steps
        self._make_pool = envpool.make_gymnasium
        self.single_observation_space, self.single_action_space = observation_space, action_space
        self.observation_space = batch_space(observation_space, num_envs)
        self.action_space = batch_space(action_space, num_envs)
        self._pool = self._build(np.random.SeedSequence().generate_state(1)[0])
        pool_spaces = (self._pool.single_observation_space, self._pool.single_action_space)
        if not all(_same_shape(ours, theirs) for ours, theirs in zip((observation_space, action_space), pool_spaces)):
            raise ValueError(f"EnvPool's {env_id} has spaces {pool_spaces}, gymnasium's "
                             f"{(observation_space, action_space)}: not the same task")
        self.metadata = {**self.metadata, "autoreset_mode": self._pool.metadata["autoreset_mode"]}

    def _build(self, seed):
        """A new pool, copy i seeded (seed + i) mod 2³¹."""
        seeds = [(int(seed) + i) % SEED_MODULUS for i in range(self.num_envs)]
        limit = {} if self.max_episode_steps is None else {"max_episode_steps": self.max_episode_steps}
        with warnings.catch_warnings():
            # EnvPool builds its Boxes from float64 bounds with a float32 dtype (gymnasium warns of
            # the cast); the spaces declared are gymnasium's own
            warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")
            pool = self._make_pool(self.env_id, num_envs=self.num_envs, seed=seeds, **limit)
            pool.single_observation_space, pool.single_action_space  # built (and cached) here
        return pool

    def reset(self, *, seed=None, options=None):
        """(observations, info) of all E copies, the pool rebuilt from `seed` if one is given."""
        if seed is not None:
            self._pool.close()
            self._pool = self._build(seed)
        return self._pool.reset(options=options)

    def step(self, actions):
        """(observations, rewards, terminated, truncated, info) of one step of every copy."""
        observations, rewards, terminated, truncated, info = self._pool.step(np.asarray(actions))
        return observations, rewards.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs):
        self._pool.close()


def import_envpool():
    """The envpool module, or a ValueError of one line saying how to install it."""
    try:
        import envpool
    except ImportError:
        raise ValueError("vectorization 'envpool' needs EnvPool, which is not installed: `make setup` installs "
                         "minipg's optional extras, or run `.venv/bin/python -m pip install -e '.[envpool]'`") from None
    return envpool


def _same_shape(ours, theirs):
    """True if two spaces of one copy have the same type and shape (Discrete: the same n)."""
    if isinstance(ours, spaces.Discrete):
        return isinstance(theirs, spaces.Discrete) and ours.n == theirs.n and ours.start == theirs.start
    return type(ours) is type(theirs) and ours.shape == theirs.shape
