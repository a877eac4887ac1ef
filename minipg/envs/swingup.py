r"""Cart-pole swing-up for gymnasium: an adapter and a batched NumPy twin.

The task comes from the ``gym-cartpole-swingup`` package (0.1.4): a cart runs
along a track of half-length 2.4 m, a pole hangs from it, and the agent pushes
the cart left or right to swing the pole up and balance it. This module gives

* :class:`CartPoleSwingUpEnv` -- a :class:`gymnasium.Env` that wraps the
  package's own environment (which speaks the old ``gym`` API), so results can
  always be checked against the original implementation;
* :class:`CartPoleSwingUpVectorEnv` -- the same physics rewritten for ``E``
  environments at once with array operations (one NumPy call per term of the
  equations, no Python loop over environments);
* :func:`register_swingup` -- registers ``CartPoleSwingUp-v0`` (reward
  ``cos θ``) and ``CartPoleSwingUp-v1`` (reward ``(1 + cos θ) / 2``) with
  gymnasium so that ``gymnasium.make`` gives the adapter and
  ``gymnasium.make_vec`` gives the twin.

State and conventions
---------------------
The physical state is ``s = [x, ẋ, θ, θ̇]``: cart position (m), cart velocity
(m/s), pole angle (rad) and angular velocity (rad/s). ``θ = 0`` is the pole
pointing straight up and ``θ = π`` hanging straight down; the pole's tip sits at
``(x - l sin θ, l cos θ)`` relative to the track. The agent sees the
observation ``[x, ẋ, cos θ, sin θ, θ̇]`` (``float32``), so the angle never jumps
from ``2π`` to ``0``.

Equations of motion
-------------------
The pole is a uniform rod of mass ``m_p`` and length ``l`` hinged at one end to
a cart of mass ``m_c``; ``M = m_c + m_p``. The action ``a ∈ [-1, 1]`` is a
horizontal force ``F = F_max a`` on the cart, and the track rubs the cart with
viscous friction ``-b ẋ`` (the hinge is frictionless). Write
``u = F - b ẋ`` for the net horizontal drive. Lagrange's equations for this
system give

.. math::

    \ddot x = \frac{4u + 3 m_p g \sin θ \cos θ - 2 m_p l \dot θ^2 \sin θ}
                   {4M - 3 m_p \cos^2 θ}

    \ddot θ = \frac{3}{2l}\,(\ddot x \cos θ + g \sin θ)

The second equation reads: the pole's angular acceleration is driven by
gravity and by the cart's acceleration (the hinge shoves the pole's bottom
sideways). Substituting the first into it reproduces the package's formula
``θ̈ = (6u cos θ - 3 m_p l θ̇² sin θ cos θ + 6 M g sin θ) / (l (4M - 3 m_p cos² θ))``.

Time is advanced with one explicit Euler step of ``Δt = 0.01`` s, every
derivative evaluated at the *old* state:

.. math::

    x' = x + Δt\,\dot x,\quad \dot x' = \dot x + Δt\,\ddot x,\quad
    θ' = θ + Δt\,\dot θ,\quad \dot θ' = \dot θ + Δt\,\ddot θ

Reward is computed from the *next* state: ``r = cos θ'`` (v0, in ``[-1, 1]``)
or ``r = (1 + cos θ') / 2`` (v1, in ``[0, 1]``). The episode terminates when
the cart leaves the track, ``|x'| > 2.4``, and is truncated after 500 steps
(5 s of simulated time). Every episode starts from
``s_0 ~ Normal([0, 0, π, 0], 0.2² I)``: pole hanging down, a little jitter.

A note on precision
-------------------
Under NumPy 2 (NEP 50, Python floats no longer upcast NumPy scalars) the
package's dynamics run in ``float32``: its reset draws ``float32`` state
components, and every Python-float constant is multiplied in at ``float32``.
The twin below mirrors that and computes in ``float32`` too, though with its
own (algebraically equal) arrangement of the formulas, so one step of the two
agrees to ``float32`` round-off (~1e-6), which the tests check. The adapter
keeps the package in that native ``float32`` regime: states you set are rounded
to ``float32`` and actions are passed as ``float32`` (a ``float64`` action
would quietly lift part of the package's arithmetic to ``float64``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = [
    "CartPoleSwingUpEnv",
    "CartPoleSwingUpVectorEnv",
    "register_swingup",
    "cart_acceleration",
    "pole_angular_acceleration",
    "ENV_IDS",
]

# --- Physical constants (the package's CartPoleSwingUpParams) -----------------
GRAVITY = 9.82  # g, m/s²
FORCE_MAG = 10.0  # F_max: force in N for action +1
DT = 0.01  # Δt, seconds per Euler step
FRICTION = 0.1  # b, viscous friction coefficient of the cart on the track
CART_MASS = 0.5  # m_c, kg
POLE_MASS = 0.5  # m_p, kg
POLE_LENGTH = 0.6  # l, m (full length; the centre of mass is at l/2)
X_THRESHOLD = 2.4  # |x| beyond this means the cart left the track
TOTAL_MASS = CART_MASS + POLE_MASS  # M
POLE_MASS_LENGTH = POLE_MASS * POLE_LENGTH  # m_p l

# --- Episode constants -------------------------------------------------------
MAX_EPISODE_STEPS = 500  # the package's registered time limit (5 s)
INITIAL_STATE_MEAN = np.array([0.0, 0.0, np.pi, 0.0])  # pole hanging down
INITIAL_STATE_STD = 0.2  # same standard deviation for all four components
STATE_DIM = 4  # [x, x_dot, theta, theta_dot]
OBS_DIM = 5  # [x, x_dot, cos theta, sin theta, theta_dot]
# Reflecting the track (x → −x, θ → −θ, force → −force) maps the dynamics, rewards, termination
# and start distribution onto themselves; on the observation it flips these signs.
OBSERVATION_MIRROR = (-1.0, -1.0, 1.0, -1.0, -1.0)
ACTION_LIMIT = 1.0  # actions are clipped to [-1, 1]
RENDER_FPS = 50  # the package's advertised frame rate (real time is 1/DT = 100)

# The package declares its observation bounds as the largest float32 value.
_OBS_HIGH = np.full(OBS_DIM, np.finfo(np.float32).max, dtype=np.float32)

# The two reward variants, by the name our constructors take (``reward=...``):
# the gymnasium id each is registered under, and the package's class for it.
ENV_IDS = {"cos": "CartPoleSwingUp-v0", "positive": "CartPoleSwingUp-v1"}
_PACKAGE_CLASS_NAMES = {"cos": "CartPoleSwingUpV0", "positive": "CartPoleSwingUpV1"}

_PACKAGE_MODULE = "gym_cartpole_swingup.envs.cartpole_swingup"


def _check_reward_kind(reward: str) -> None:
    if reward not in ENV_IDS:
        raise ValueError(f"reward must be one of {sorted(ENV_IDS)}, got {reward!r}")


def _single_action_space() -> spaces.Box:
    return spaces.Box(-ACTION_LIMIT, ACTION_LIMIT, shape=(1,), dtype=np.float32)


def _single_observation_space() -> spaces.Box:
    return spaces.Box(-_OBS_HIGH, _OBS_HIGH, dtype=np.float32)


def _import_package_module():
    """Import the package's environment module, silencing old ``gym``'s notice.

    The package imports ``gym`` 0.26, whose ``__init__`` prints an "unmaintained"
    notice to stderr (and may warn). That is noise for our users, so the
    import happens here -- only when an adapter is built -- with stderr and
    warnings muted for just its duration. Exceptions still propagate.
    """
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(_PACKAGE_MODULE)


# =============================================================================
# The adapter: the package's own physics behind the gymnasium API
# =============================================================================
class CartPoleSwingUpEnv(gymnasium.Env):
    """Gymnasium adapter around the package's ``CartPoleSwingUpV0``/``V1``.

    Args:
        reward: ``"cos"`` for the v0 reward ``cos θ'`` or ``"positive"`` for the
            v1 reward ``(1 + cos θ') / 2``.
        render_mode: only ``None`` is supported (draw frames from ``state``).

    Spaces:
        action: ``Box(-1, 1, (1,), float32)`` (the package clips to it).
        observation: ``Box(-f32max, f32max, (5,), float32)`` --
        ``[x, ẋ, cos θ, sin θ, θ̇]``.

    ``step`` returns ``terminated=True`` when ``|x| > 2.4`` and never truncates:
    the 500-step limit is added by gymnasium's ``TimeLimit`` when the env is
    built with ``gymnasium.make`` (see :func:`register_swingup`).
    """

    metadata = {"render_modes": [], "render_fps": RENDER_FPS}

    def __init__(self, reward: str = "cos", render_mode: str | None = None):
        _check_reward_kind(reward)
        if render_mode is not None:
            raise ValueError("CartPoleSwingUpEnv only supports render_mode=None")
        self.reward_kind = reward
        self.render_mode = render_mode
        self.action_space = _single_action_space()
        self.observation_space = _single_observation_space()

        package = _import_package_module()
        # Keep the classes, not the module: a module cannot be pickled, and async vector
        # envs pickle environments to send them between processes.
        self._package_state_type = package.State  # namedtuple (x_pos, x_dot, theta, theta_dot)
        self._package_env = getattr(package, _PACKAGE_CLASS_NAMES[reward])()  # the original env

    @property
    def state(self) -> np.ndarray:
        """The physical state ``[x, ẋ, θ, θ̇]``, shape ``(4,)`` float32 (a copy)."""
        if self._package_env.state is None:
            raise RuntimeError("call reset() before reading the state")
        return np.array(self._package_env.state, dtype=np.float32)

    @state.setter
    def state(self, value) -> None:
        # Rounded to float32: that is the precision the package runs at after
        # its own reset, so a set state behaves like a reset one.
        components = np.asarray(value, dtype=np.float32).reshape(STATE_DIM)
        self._package_env.state = self._package_state_type(*components)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; returns ``(obs (5,) float32, {})``.

        ``seed`` seeds gymnasium's ``self.np_random``; the package then draws
        its initial state from that same generator, so a seed fixes ``s_0``.
        ``options`` is unused.
        """
        super().reset(seed=seed)
        # Hand our generator to the package every time, so that also a
        # generator assigned through ``env.np_random = ...`` is respected.
        self._package_env.np_random = self.np_random
        obs = self._package_env.reset()
        return obs, {}

    def step(
        self, action
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance by ``Δt``; ``action`` has shape ``(1,)`` (a scalar is accepted).

        Returns ``(obs (5,) float32, reward, terminated, truncated=False, {})``.
        """
        # float32 like the action space: a float64 action would silently lift
        # part of the package's float32 arithmetic to float64.
        action = np.asarray(action, dtype=np.float32).reshape(1)
        obs, reward, done, _ = self._package_env.step(action)
        return obs, float(reward), bool(done), False, {}

    def close(self) -> None:
        self._package_env.close()


# =============================================================================
# The batched twin: E environments stepped with array operations
# =============================================================================
def cart_acceleration(
    force: np.ndarray,
    x_dot: np.ndarray,
    sin_theta: np.ndarray,
    cos_theta: np.ndarray,
    theta_dot: np.ndarray,
) -> np.ndarray:
    """ẍ = (4u + 3 m_p g sinθ cosθ - 2 m_p l θ̇² sinθ) / (4M - 3 m_p cos²θ).

    All arguments and the result have shape ``(E,)``; ``u = F - b ẋ``.
    """
    drive = force - FRICTION * x_dot  # u: applied force minus track friction
    # Gravity pulls the tilted pole down, which pushes the cart sideways; the
    # pole's rotation pulls on the hinge (centripetal term, ∝ θ̇²).
    gravity_push = (3.0 * POLE_MASS * GRAVITY) * cos_theta
    centripetal_pull = (2.0 * POLE_MASS_LENGTH) * theta_dot * theta_dot
    numerator = 4.0 * drive + (gravity_push - centripetal_pull) * sin_theta
    # 4 × the mass the drive effectively accelerates, M - ¾ m_p cos²θ: a
    # horizontal pole must follow the cart whole, an upright or hanging one
    # can partly pivot instead.
    four_effective_mass = 4.0 * TOTAL_MASS - (3.0 * POLE_MASS) * cos_theta * cos_theta
    return numerator / four_effective_mass


def pole_angular_acceleration(
    cart_accel: np.ndarray, sin_theta: np.ndarray, cos_theta: np.ndarray
) -> np.ndarray:
    """θ̈ = 3 / (2l) · (ẍ cos θ + g sin θ), all shapes ``(E,)``.

    The rod (moment of inertia ``m_p l² / 3`` about the hinge) is turned by
    gravity at its centre ``l/2`` and by the hinge being accelerated with the
    cart.
    """
    return (3.0 / (2.0 * POLE_LENGTH)) * (cart_accel * cos_theta + GRAVITY * sin_theta)


class CartPoleSwingUpVectorEnv(VectorEnv):
    """``E`` swing-up cart-poles stepped together with NumPy array operations.

    Args:
        num_envs: ``E``, the number of environments.
        max_episode_steps: steps after which an episode is truncated (the
            registration passes 500, the package's limit).
        reward: ``"cos"`` (v0, ``cos θ'``) or ``"positive"`` (v1,
            ``(1 + cos θ') / 2``).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or
            ``AutoresetMode.SAME_STEP`` (or their string values), see
            :meth:`step`.
        render_mode: only ``None``; draw frames from :attr:`state` instead.

    Spaces: ``single_action_space = Box(-1, 1, (1,), float32)``, batched to
    ``(E, 1)``; ``single_observation_space`` is the ``(5,)`` float32 box of the
    adapter, batched to ``(E, 5)``.

    Like the package under NumPy 2, the physics runs in ``float32`` (see the
    module docstring); it is also several times faster than ``float64`` for
    ``sin``/``cos``. Observations are ``float32``; rewards are returned as
    ``float64``, as gymnasium's ``SyncVectorEnv`` returns them, so every
    ``make_vec`` mode hands out the same dtypes.
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        reward: str = "cos",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ):
        _check_reward_kind(reward)
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"unsupported autoreset_mode {autoreset_mode}")
        if render_mode is not None:
            raise ValueError("CartPoleSwingUpVectorEnv only supports render_mode=None")

        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.reward_kind = reward
        self.autoreset_mode = autoreset_mode
        self.render_mode = render_mode
        # Per instance, because the autoreset mode is a constructor argument.
        self.metadata = {
            "render_modes": [],
            "render_fps": RENDER_FPS,
            "autoreset_mode": autoreset_mode,
        }

        self.single_action_space = _single_action_space()
        self.single_observation_space = _single_observation_space()
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)

        self._state: np.ndarray | None = None  # (E, 4) float32 once reset
        # Steps taken in each env's current episode, for truncation.
        self._episode_steps = np.zeros(num_envs, dtype=np.int64)
        # NEXT_STEP only: envs whose episode ended on the previous step and
        # that the coming step must reset instead of simulating.
        self._needs_reset = np.zeros(num_envs, dtype=np.bool_)

    # --- state access (tests, rendering) ------------------------------------
    @property
    def state(self) -> np.ndarray:
        """Copy of the physical states, shape ``(E, 4)`` float32, rows ``[x, ẋ, θ, θ̇]``."""
        if self._state is None:
            raise RuntimeError("call reset() before reading the state")
        return self._state.copy()

    @state.setter
    def state(self, value) -> None:
        """Overwrite all states with an ``(E, 4)`` array (stored as float32).

        The next :meth:`step` simulates from exactly these states: pending
        NEXT_STEP resets are cancelled. Episode step counters are kept.
        """
        value = np.array(value, dtype=np.float32)  # a copy, never a view
        if value.shape != (self.num_envs, STATE_DIM):
            raise ValueError(
                f"state must have shape {(self.num_envs, STATE_DIM)}, got {value.shape}"
            )
        self._state = value
        self._needs_reset[:] = False

    # --- helpers ---------------------------------------------------------------
    def _sample_initial_states(self, count: int) -> np.ndarray:
        """``count`` draws of ``s_0 ~ Normal([0, 0, π, 0], 0.2²)``, shape (count, 4).

        Drawn in float64 and rounded to float32, as the package does.
        """
        noise = self.np_random.standard_normal((count, STATE_DIM))
        # Same numbers as ``normal(mean, std)``, without its slow argument checks.
        return (INITIAL_STATE_MEAN + INITIAL_STATE_STD * noise).astype(np.float32)

    @staticmethod
    def _observe(
        state: np.ndarray, cos_theta: np.ndarray, sin_theta: np.ndarray
    ) -> np.ndarray:
        """``[x, ẋ, cos θ, sin θ, θ̇]``, shape ``(n, 5)`` float32, from ``(n, 4)``."""
        obs = np.empty((state.shape[0], OBS_DIM), dtype=np.float32)
        obs[:, 0:2] = state[:, 0:2]  # x, x_dot
        obs[:, 2] = cos_theta
        obs[:, 3] = sin_theta
        obs[:, 4] = state[:, 3]  # theta_dot
        return obs

    def _observe_state(self, state: np.ndarray) -> np.ndarray:
        theta = state[:, 2]
        return self._observe(state, np.cos(theta), np.sin(theta))

    # --- gymnasium API -----------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env; returns ``(obs (E, 5) float32, {})``.

        ``seed`` seeds ``self.np_random`` (one generator for the whole batch).
        ``options`` is unused (``reset_mask`` is not supported).
        """
        if options and "reset_mask" in options:
            raise NotImplementedError("reset_mask is not supported")
        super().reset(seed=seed)
        self._state = self._sample_initial_states(self.num_envs)
        self._episode_steps[:] = 0
        self._needs_reset[:] = False
        return self._observe_state(self._state), {}

    def step(
        self, actions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance all envs by ``Δt``.

        Args:
            actions: shape ``(E, 1)`` or ``(E,)``; clipped to ``[-1, 1]``.

        Returns:
            ``(obs (E, 5) float32, rewards (E,) float64, terminated (E,) bool,
            truncated (E,) bool, info)``.

        Autoreset, ``NEXT_STEP``: an env whose episode ended on the previous
        step ignores its action now, is reset, and reports the reset obs with
        reward 0 and ``terminated = truncated = False``.
        ``SAME_STEP``: an env whose episode ends now reports its true reward and
        flags, but its returned obs is already the next episode's first obs;
        the last obs of the ended episode is in ``info["final_obs"]`` (object
        array of ``(5,)`` obs, ``None`` elsewhere; mask ``info["_final_obs"]``),
        with ``info["final_info"]`` / ``info["_final_info"]`` alongside, as
        gymnasium's ``SyncVectorEnv`` does.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs)
        force = FORCE_MAG * np.clip(actions, -ACTION_LIMIT, ACTION_LIMIT)

        state = self._state
        x, x_dot, theta, theta_dot = state.T  # views into state, shape (E,) each
        sin_theta = np.sin(theta)
        cos_theta = np.cos(theta)
        x_accel = cart_acceleration(force, x_dot, sin_theta, cos_theta, theta_dot)
        theta_accel = pole_angular_acceleration(x_accel, sin_theta, cos_theta)

        # Explicit Euler, in place. The order matters: positions first, while
        # the velocity views still hold the old velocities.
        x += DT * x_dot
        theta += DT * theta_dot
        x_dot += DT * x_accel
        theta_dot += DT * theta_accel
        self._episode_steps += 1

        # NEXT_STEP: envs that ended last step throw away the physics just
        # computed for them and start a new episode (their action is ignored).
        resetting = None  # indices of those envs, if there are any
        if self.autoreset_mode is AutoresetMode.NEXT_STEP and self._needs_reset.any():
            resetting = np.flatnonzero(self._needs_reset)
            state[resetting] = self._sample_initial_states(resetting.size)
            self._episode_steps[resetting] = 0

        next_cos = np.cos(theta)
        obs = self._observe(state, next_cos, np.sin(theta))
        if self.reward_kind == "cos":
            rewards = next_cos.astype(np.float64)
        else:
            rewards = (0.5 * (1.0 + next_cos)).astype(np.float64)
        terminated = np.abs(x) > X_THRESHOLD
        truncated = self._episode_steps >= self.max_episode_steps
        info: dict[str, Any] = {}

        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            if resetting is not None:
                rewards[resetting] = 0.0
                # Already False for a fresh start on the track at step 0;
                # stated so the reset step's contract is visible here.
                terminated[resetting] = False
                truncated[resetting] = False
            self._needs_reset = terminated | truncated
        else:  # SAME_STEP
            ended = terminated | truncated
            if ended.any():
                # SyncVectorEnv's layout: an object array holding each ended
                # env's last obs (None elsewhere), plus a boolean mask.
                final_obs = np.full(self.num_envs, None, dtype=object)
                for index in np.flatnonzero(ended):  # only the few envs that ended
                    final_obs[index] = obs[index].copy()
                info["final_obs"], info["_final_obs"] = final_obs, ended
                info["final_info"], info["_final_info"] = {}, ended.copy()
                state[ended] = self._sample_initial_states(int(ended.sum()))
                obs[ended] = self._observe_state(state[ended])
                self._episode_steps[ended] = 0

        return obs, rewards, terminated, truncated, info


# =============================================================================
# Registration
# =============================================================================
def register_swingup() -> None:
    """Register ``CartPoleSwingUp-v0`` and ``-v1`` with gymnasium (idempotent).

    * ``gymnasium.make(id)`` -> :class:`CartPoleSwingUpEnv` in a ``TimeLimit``
      of 500 steps;
    * ``gymnasium.make_vec(id, num_envs=E)`` -> :class:`CartPoleSwingUpVectorEnv`
      (``max_episode_steps=500`` is passed to it);
    * ``gymnasium.make_vec(id, num_envs=E, vectorization_mode="sync")`` (or
      ``"async"``) -> E adapters, i.e. the package's own physics.

    Importing this module or calling this function does not import ``gym``.
    """
    for reward, env_id in ENV_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point="minipg.envs.swingup:CartPoleSwingUpEnv",
            vector_entry_point="minipg.envs.swingup:CartPoleSwingUpVectorEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs={"reward": reward},
        )
