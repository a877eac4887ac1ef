"""Creating vector environments and knowing how they reset.

minipg steps E copies of an environment at once through gymnasium's vector API:

- `vector`: the environment's own batched implementation (its registered
  `vector_entry_point`, e.g. gymnasium's CartPoleVectorEnv or minipg's swing-up twin),
  one set of array operations per step for all E copies;
- `sync`: gymnasium's SyncVectorEnv, E single environments stepped one by one in Python;
- `async`: gymnasium's AsyncVectorEnv, single environments in worker subprocesses;
- `auto`: `vector` when the environment has a batched implementation, else `sync`;
- `envpool`: EnvPool's C++ copies of the task (an optional extra), behind the same interface
  with gymnasium's spaces (envs/envpool.py: what it keeps of gymnasium's task and how it seeds).

Autoreset: a vector env restarts finished episodes by itself, and the *when* matters to
the rollout loop (`reinforce`).  gymnasium declares it in `env.metadata["autoreset_mode"]`:

- NEXT_STEP (gymnasium's default): the step *after* an episode ends ignores the action, resets
  that copy and returns reward 0, not done.  That step is not a transition and is masked out.
- SAME_STEP: the step that ends an episode already returns the first observation of the
  next one; every step is a transition.

Box actions: a Gaussian policy's samples are unbounded, most environments' actions are not
(some clip by themselves, stricter ones raise).  make_env clips the actions to the Box bounds
on their way into the environment (gymnasium's vector TransformAction); the rollout keeps the
sampled action, whose log π the update uses, as is standard.

One environment (to evaluate or draw a single episode): make_single_env, the same path through
gymnasium.make instead of make_vec: the same errors, warnings and action clipping.
"""

import functools
import importlib
import warnings

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import TransformAction

from .envpool import EnvPoolVectorEnv
from .swingup import ENV_IDS, OBSERVATION_MIRROR

VECTORIZATION_MODES = ("auto", "vector", "sync", "async", "envpool")
_GYMNASIUM_MODE = {"auto": None, "vector": "vector_entry_point", "sync": "sync", "async": "async"}


def make_env(env_id, num_envs, vectorization="auto"):
    """A gymnasium VectorEnv of `num_envs` copies of `env_id` (see the module docstring), its
    Box actions clipped to their bounds.

    Raises ValueError for an unknown id, a mode the env does not have, or an optional
    dependency of the env that is not installed (naming the command that installs it).
    """
    if vectorization not in VECTORIZATION_MODES:
        raise ValueError(f"vectorization must be one of {VECTORIZATION_MODES}, got {vectorization!r}")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    if vectorization == "vector" and env_spec(env_id).vector_entry_point is None:
        raise ValueError(f"{env_id} has no batched (vector) implementation; use sync or async")
    if vectorization == "envpool":
        return clip_actions(_envpool(env_id, num_envs))
    return _make(gymnasium.make_vec, env_id, num_envs=num_envs, vectorization_mode=_GYMNASIUM_MODE[vectorization])


def make_single_env(env_id, **kwargs):
    """ONE gymnasium Env of `env_id`, made as make_env makes its copies: gymnasium.make(env_id,
    **kwargs) (e.g. render_mode="rgb_array"), its Box actions clipped to their bounds.  For
    evaluating or drawing a single episode.

    Raises ValueError for an unknown id, or an optional dependency of the env that is not
    installed (naming the command that installs it).
    """
    return _make(gymnasium.make, env_id, **kwargs)


def env_spec(env_id):
    """gymnasium's EnvSpec of env_id, or a ValueError naming the unknown id.

    An id "module:EnvId" (gymnasium.make's way to name a user's own env) imports the module
    first, whose import registers EnvId, as gymnasium.make does; a module that cannot be
    imported is a ValueError naming it."""
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except Exception as error:  # whatever the user's module raises on import
            raise ValueError(f"environment id {env_id!r}: cannot import {module!r}, the module that registers "
                             f"{name} ({type(error).__name__}: {error})") from None
    try:
        return gymnasium.spec(name)
    except gymnasium.error.Error as error:
        raise ValueError(f"unknown environment id {env_id!r}: {error}") from None


def _envpool(env_id, num_envs):
    """EnvPool's copies of env_id declaring gymnasium's spaces and episode limit (read from one
    gymnasium env of the task, so its errors are make_single_env's)."""
    reference = make_single_env(env_id)
    try:
        return EnvPoolVectorEnv(env_id, num_envs, *single_spaces(reference), reference.spec.max_episode_steps)
    finally:
        reference.close()


def _make(make, env_id, **kwargs):
    """make(env_id, **kwargs) (gymnasium.make or make_vec) with actions clipped; the one path of
    make_env and make_single_env."""
    env_spec(env_id)
    if is_mujoco(env_id):
        mujoco_warnings_as_python_warnings()
    with warnings.catch_warnings():
        # CartPole-v0 is the post's environment on purpose; gymnasium's "out of date" notice is noise here.
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        try:
            env = make(env_id, **kwargs)
        except (gymnasium.error.DependencyNotInstalled, ImportError) as error:
            raise ValueError(missing_dependency(env_id, error)) from None
    return clip_actions(env)


def is_mujoco(env_id):
    """True for a task of gymnasium's MuJoCo family (HalfCheetah, Hopper, ...), False for any other
    or an unknown id."""
    try:
        entry_point = env_spec(env_id).entry_point
    except ValueError:
        return False
    return isinstance(entry_point, str) and entry_point.startswith("gymnasium.envs.mujoco")


@functools.cache  # installed once per process
def mujoco_warnings_as_python_warnings():
    """Send MuJoCo's warnings to Python's warnings module, each text once per process, instead of
    a line on stderr from every copy of the env and a MUJOCO_LOG.TXT file in the working directory
    (MuJoCo 3.3+ warns about a deprecated attribute in gymnasium's own HalfCheetah and Hopper
    models).  Does nothing if mujoco is not installed (make_env then names the missing extra)."""
    try:
        import mujoco
    except ImportError:
        return
    seen = set()

    def warn(text):
        if text not in seen:
            seen.add(text)
            warnings.warn(f"MuJoCo: {text}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(warn)


# gymnasium's optional dependencies that minipg's extras install (pyproject.toml), by the word
# gymnasium's DependencyNotInstalled message starts with.
EXTRAS = {"Box2D": "box2d", "MuJoCo": "mujoco", "mujoco": "mujoco"}


def missing_dependency(env_id, error):
    """One line saying which dependency env_id lacks and the command that installs it."""
    text = str(error)
    extra = next((extra for name, extra in EXTRAS.items() if text.startswith(name + " ")), None)
    if extra is None:
        return f"{env_id} needs a package that is not installed: {text}"
    return (f"{env_id} needs {text.split()[0]}, which is not installed: `make setup` installs minipg's "
            f"optional extras, or run `.venv/bin/python -m pip install -e '.[{extra}]'`")


def clip_actions(env):
    """`env` (an Env or a VectorEnv) with its Box actions clipped to the action space's bounds
    before each step: gymnasium's ClipAction, except that the wrapped env keeps declaring the
    bounded space (ClipAction declares an unbounded one).  Unchanged for other action spaces,
    and for a Box without finite bounds."""
    _, space = single_spaces(env)
    if not isinstance(space, spaces.Box) or not (np.isfinite(space.low).any() or np.isfinite(space.high).any()):
        return env
    low, high = space.low, space.high
    clip = lambda actions: np.clip(actions, low, high)
    if isinstance(env, gymnasium.vector.VectorEnv):
        return TransformAction(env, clip, action_space=env.action_space, single_action_space=space)
    return gymnasium.wrappers.TransformAction(env, clip, action_space=space)


# Environments symmetric under a reflection that flips the sign of the (1-D Box) action, with
# the signs it puts on each observation dimension (see DiagonalGaussianPolicy's mirror).
MIRRORS = {env_id: OBSERVATION_MIRROR for env_id in ENV_IDS.values()}


def observation_mirror(env_id):
    """The observation signs of env_id's left-right reflection (MIRRORS), or a ValueError."""
    if env_id not in MIRRORS:
        raise ValueError(f"no mirror symmetry is known for {env_id} (known: {', '.join(MIRRORS)})")
    return MIRRORS[env_id]


def single_spaces(env):
    """(observation space, action space) of ONE environment, from a gymnasium Env or VectorEnv."""
    observation_space = getattr(env, "single_observation_space", None) or env.observation_space
    action_space = getattr(env, "single_action_space", None) or env.action_space
    return observation_space, action_space


def autoreset_mode(env):
    """The vector env's AutoresetMode (gymnasium's default, NEXT_STEP, when it declares none)."""
    return env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
