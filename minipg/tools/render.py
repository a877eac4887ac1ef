"""Watching a policy: one episode as an animated GIF.

The cart-poles (CartPole, the swing-up) have no render mode that works headless here
(gymnasium's CartPole draws with pygame, the swing-up package with old gym's OpenGL viewer),
and a GIF is what fits in a README.  So their episode is recorded as its physical states
[x, ẋ, θ, θ̇], read from `env.unwrapped.state` after every step, and each frame is drawn
from them with matplotlib's object API (an explicit Figure on the Agg canvas: no pyplot, no
global state, no display needed), then written by matplotlib.animation.PillowWriter.

A frame shows the track from −x_max to +x_max (where the episode terminates), the cart as a
rectangle centred on (x, 0), the pole as a line from the cart's centre to its tip, and the
step number.  Where the tip goes depends on each package's angle convention (`Geometry`).

MuJoCo's planar robots (HalfCheetah, Hopper, Walker2d, ...) need OpenGL to render themselves,
which a headless machine may not have; they are drawn the same way from their geometry: every
capsule of the model as a thick line between its two end points, every sphere as a disc, seen
from the side (x, z), the camera following the robot over a ground with a mark every metre
(`render_mujoco_gif`).  Any other task is drawn by the environment itself
(render_mode="rgb_array": pygame for classic control and Box2D), its frames scaled down and
written with Pillow (`render_frames_gif`).
"""

import os
import warnings
from dataclasses import dataclass

import gymnasium
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..envs import swingup

# Frame size: 300 px wide (FIGURE_WIDTH_INCHES · DPI), the height following the scene's aspect
# ratio.  Small on purpose: a 500-step swing-up episode drawn at 50 frames/s is 250 frames, and
# GIF stores every frame, so at this size the file stays a few hundred kB.
FIGURE_WIDTH_INCHES = 4.0
DPI = 75
DEFAULT_FPS = 50
# Space around the scene, in metres, so the cart at the track's end and the pole tip stay in view.
MARGIN = 0.15
POLE_LINE_WIDTH = 3.0   # points
TRACK_LINE_WIDTH = 1.0  # points
CART_COLOR, POLE_COLOR, TRACK_COLOR = "tab:red", "tab:blue", "black"


@dataclass(frozen=True)
class Geometry:
    """How to draw one cart-pole family.  Lengths in metres.

    pole_length: pivot to tip; cart_width, cart_height: the drawn cart (neither physics
    uses them); track_half_length: |x| beyond which the episode terminates;
    tip_direction: the pole's tip is at (x + tip_direction · L sin θ, L cos θ) — which way a
    positive θ tilts the pole differs between the packages; seconds_per_step: the physics
    time step, to play the episode in real time.
    """

    pole_length: float
    cart_width: float
    cart_height: float
    track_half_length: float
    tip_direction: int
    seconds_per_step: float


GEOMETRIES = {
    # gymnasium's CartPole: `length` = 0.5 is half the pole.  Its renderer draws the tip at
    # x + 2·length·sin θ (θ > 0 leans right: pushing the cart right makes θ̇ < 0) and a
    # 50×30 px cart at 125 px/m, i.e. 0.4 m × 0.24 m.  τ = 0.02 s per step.
    "CartPole": Geometry(pole_length=1.0, cart_width=0.4, cart_height=0.24,
                         track_half_length=2.4, tip_direction=+1, seconds_per_step=0.02),
    # gym-cartpole-swingup: θ grows counter-clockwise, so its viewer draws the tip at
    # x − l sin θ (pushing the cart right makes θ̇ > 0 and the pole lean left, as it should);
    # its CartParams give a 1/3 m × 1/6 m cart.
    "CartPoleSwingUp": Geometry(pole_length=swingup.POLE_LENGTH, cart_width=1 / 3, cart_height=1 / 6,
                                track_half_length=swingup.X_THRESHOLD, tip_direction=-1,
                                seconds_per_step=swingup.DT),
}


def geometry_for(env_id):
    """The Geometry of an env id's family: 'CartPole-v0' → GEOMETRIES['CartPole']."""
    family = env_id.split("/")[-1].rsplit("-v", 1)[0]
    if family not in GEOMETRIES:
        raise ValueError(f"no drawing geometry for {env_id!r}; known families: {', '.join(GEOMETRIES)}")
    return GEOMETRIES[family]


def pole_tip(states, geometry):
    """(tip_x, tip_y) of the pole for states: (..., 4) rows [x, ẋ, θ, θ̇] → two (...) arrays."""
    x, theta = states[..., 0], states[..., 2]
    return (x + geometry.tip_direction * geometry.pole_length * np.sin(theta),
            geometry.pole_length * np.cos(theta))


# ---------------------------------------------------------------------------- recording


def make_single_env(env_id, **kwargs):
    """gymnasium.make(env_id, **kwargs), with the swing-up ids registered, CartPole-v0's age
    notice muted, and Box actions clipped to their bounds (as make_env's vector envs)."""
    swingup.register_swingup()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        env = gymnasium.make(env_id, **kwargs)
    if isinstance(env.action_space, gymnasium.spaces.Box):
        env = gymnasium.wrappers.ClipAction(env)
    return env


def run_episode(policy, env, seed, deterministic, max_steps, normalizer, after_step):
    """Run ONE episode of `policy` in the single env `env`; after_step() after reset and after
    every step.  Returns the total return.  normalizer: what the policy sees of an observation
    (an ObservationNormalizer of the run), or None."""
    act = policy.act_deterministic if deterministic else policy.act
    observation, _ = env.reset(seed=seed)
    after_step()
    total_return, steps = 0.0, 0
    while max_steps is None or steps < max_steps:
        # The policies act on batches: one state in, one action out.
        seen = observation[None] if normalizer is None else normalizer(observation[None])
        observation, reward, terminated, truncated, _ = env.step(act(seen)[0])
        steps += 1
        after_step()
        total_return += float(reward)
        if terminated or truncated:
            break
    return total_return


def check_max_steps(max_steps):
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))
                                  or max_steps < 1):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")


def record_episode(policy, env_id, seed=None, deterministic=True, max_steps=None, normalizer=None):
    """Run ONE episode of `policy` on `env_id`; return (states, total return).

    states: (steps + 1, 4) float64, the physical state [x, ẋ, θ, θ̇] after reset and after
    every step, read from env.unwrapped.state.  The episode runs until it terminates or is
    truncated by the env's time limit, or after max_steps steps if that is given.
    deterministic=True acts with the distribution's mode; False samples with policy.rng.
    seed seeds env.reset, fixing the initial state.  normalizer: see run_episode.
    """
    check_max_steps(max_steps)
    env = make_single_env(env_id)
    states = []
    try:
        total_return = run_episode(policy, env, seed, deterministic, max_steps, normalizer,
                                   lambda: states.append(np.array(env.unwrapped.state, dtype=np.float64)))
    finally:
        env.close()
    return np.stack(states), total_return


# ------------------------------------------------------------------------------ drawing


def real_time_stride(geometry, fps):
    """Steps per frame that play the episode in real time at `fps` frames per second.

    CartPole (0.02 s a step) at 50 fps: every step; swing-up (0.01 s a step): every 2nd.
    """
    return max(1, round(1.0 / (fps * geometry.seconds_per_step)))


def frame_indices(n_states, stride):
    """Every stride-th state, plus the last one so the GIF ends on the episode's final state."""
    indices = list(range(0, n_states, stride))
    if indices[-1] != n_states - 1:
        indices.append(n_states - 1)
    return indices


def save_gif(states, path, env, fps=DEFAULT_FPS, stride=None):
    """Draw `states` ((steps + 1, 4) rows [x, ẋ, θ, θ̇]) as an animated GIF at `path`.

    env: an env id (e.g. 'CartPoleSwingUp-v0', whose family picks the Geometry and labels the
    frames) or a Geometry.  fps: frames per second of the GIF.  stride: draw every stride-th
    state; by default the one that plays in real time (`real_time_stride`).
    Parent directories are created.  Returns `path`.
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 4 or len(states) == 0:
        raise ValueError(f"states must have shape (steps + 1, 4), got {states.shape}")
    geometry, label = (env, "") if isinstance(env, Geometry) else (geometry_for(env), f"{env}  ")
    if stride is None:
        stride = real_time_stride(geometry, fps)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")

    figure, draw = _scene(geometry, states)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    writer = PillowWriter(fps=fps)
    last_step = len(states) - 1
    with writer.saving(figure, path, dpi=DPI):
        for step in frame_indices(len(states), stride):
            draw(states[step], f"{label}step {step}/{last_step}")
            writer.grab_frame()
    return path


def _scene(geometry, states):
    """A Figure with the track, cart, pole and caption, and draw(state, caption) to move them.

    The axes fill the figure with equal scales on x and y, so the figure's aspect ratio is
    the scene's: across, the whole track plus a margin; up and down, only as far as the cart
    and this episode's pole tip reach (a balanced CartPole pole never points down, so its
    GIF gets no empty lower half; a swing-up GIF shows the hanging pole).
    """
    half_width = geometry.track_half_length + geometry.cart_width / 2 + MARGIN
    _, tip_y = pole_tip(states, geometry)
    top = max(tip_y.max(), geometry.cart_height / 2) + MARGIN
    bottom = min(tip_y.min(), -geometry.cart_height / 2) - MARGIN
    width, height = 2 * half_width, top - bottom
    figure = Figure(figsize=(FIGURE_WIDTH_INCHES, FIGURE_WIDTH_INCHES * height / width))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(-half_width, half_width)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.set_axis_off()

    # The cart is centred on (x, 0) and rides on the track just below it.
    track_y = -geometry.cart_height / 2
    ax.plot([-geometry.track_half_length, geometry.track_half_length], [track_y, track_y],
            color=TRACK_COLOR, linewidth=TRACK_LINE_WIDTH)
    cart = Rectangle((0.0, 0.0), geometry.cart_width, geometry.cart_height, color=CART_COLOR)
    ax.add_patch(cart)
    (pole,) = ax.plot([], [], color=POLE_COLOR, linewidth=POLE_LINE_WIDTH, solid_capstyle="round")
    caption = ax.text(0.01, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize="x-small")

    def draw(state, text):
        x = state[0]
        tip_x, tip_y = pole_tip(state, geometry)
        cart.set_xy((x - geometry.cart_width / 2, -geometry.cart_height / 2))
        pole.set_data([x, tip_x], [0.0, tip_y])
        caption.set_text(text)

    return figure, draw


def render_episode_gif(policy, env_id, path, seed=None, deterministic=True, max_steps=None, fps=DEFAULT_FPS,
                       normalizer=None):
    """Record one episode and save it as a GIF: a cart-pole drawn from its states
    (`record_episode`, `save_gif`), any other task by its own renderer (`render_frames_gif`).

    Returns (path, the episode's total return).
    """
    try:
        geometry_for(env_id)
    except ValueError:
        if is_mujoco(env_id):
            return render_mujoco_gif(policy, env_id, path, seed, deterministic, max_steps, fps, normalizer)
        return render_frames_gif(policy, env_id, path, seed, deterministic, max_steps, fps, normalizer)
    states, total_return = record_episode(policy, env_id, seed=seed, deterministic=deterministic,
                                          max_steps=max_steps, normalizer=normalizer)
    save_gif(states, path, env_id, fps=fps)
    return path, total_return


# Frames of a task's own renderer: scaled to this width, at most this many (evenly spaced).
FRAME_WIDTH = 300
MAX_FRAMES = 250


def render_frames_gif(policy, env_id, path, seed=None, deterministic=True, max_steps=None, fps=DEFAULT_FPS,
                      normalizer=None):
    """One episode drawn by the env itself (render_mode="rgb_array"), scaled to FRAME_WIDTH px
    and at most MAX_FRAMES frames, written as a GIF with Pillow.  Returns (path, total return).

    Raises ValueError if the env cannot render (no rgb_array mode, or its renderer is missing).
    """
    from PIL import Image

    check_max_steps(max_steps)
    try:
        env = make_single_env(env_id, render_mode="rgb_array")
    except Exception as error:  # a renderer's dependency (pygame, OpenGL) may be missing
        raise ValueError(f"{env_id} cannot render frames here ({type(error).__name__}: {error})") from None
    frames = []

    def grab():
        frame = env.render()
        if frame is None:
            raise ValueError(f"{env_id} has no rgb_array rendering")
        frames.append(frame)

    try:
        total_return = run_episode(policy, env, seed, deterministic, max_steps, normalizer, grab)
    except ValueError:
        raise
    except Exception as error:  # e.g. MuJoCo without an OpenGL context
        raise ValueError(f"{env_id} cannot render frames here ({type(error).__name__}: {error})") from None
    finally:
        env.close()
    keep = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), MAX_FRAMES)).round().astype(int))
    images = []
    for index in keep:
        image = Image.fromarray(np.asarray(frames[index], dtype=np.uint8))
        height = max(1, round(image.height * FRAME_WIDTH / image.width))
        images.append(image.resize((FRAME_WIDTH, height)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    seconds_per_frame = len(frames) / len(keep) / fps
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 * seconds_per_frame), loop=0)
    return path, total_return


# ------------------------------------------------------------------------- MuJoCo, drawn
GEOM_SPHERE, GEOM_CAPSULE = 2, 3  # mujoco.mjtGeom's values
MUJOCO_VIEW = (-1.5, 2.5, -0.3, 1.9)  # metres around the robot's root: left, right, below, above
ROBOT_COLOR, GROUND_COLOR = "tab:blue", "0.4"


def is_mujoco(env_id):
    """True for a task simulated by MuJoCo (gymnasium's MujocoEnv), False otherwise or if it
    cannot be made here."""
    try:
        env = make_single_env(env_id)
    except Exception:
        return False
    try:
        return hasattr(env.unwrapped, "model") and hasattr(env.unwrapped, "data")
    finally:
        env.close()


def mujoco_shapes(model, data):
    """The robot seen from the side: (capsules (k, 5) rows [x0, z0, x1, z1, radius], spheres (j, 3)
    rows [x, z, radius], the root body's x).  A capsule's ends are its centre ± its half-length
    along the third axis of its frame."""
    capsules, spheres = [], []
    for g in range(model.ngeom):
        centre = data.geom_xpos[g]
        if model.geom_type[g] == GEOM_CAPSULE:
            axis = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1]
            capsules.append([centre[0] - axis[0], centre[2] - axis[2], centre[0] + axis[0], centre[2] + axis[2],
                             model.geom_size[g, 0]])
        elif model.geom_type[g] == GEOM_SPHERE:
            spheres.append([centre[0], centre[2], model.geom_size[g, 0]])
    return np.array(capsules).reshape(-1, 5), np.array(spheres).reshape(-1, 3), float(data.xpos[1, 0])


def render_mujoco_gif(policy, env_id, path, seed=None, deterministic=True, max_steps=None, fps=DEFAULT_FPS,
                      normalizer=None):
    """One episode of a MuJoCo task drawn from its geometry (`mujoco_shapes`) with matplotlib,
    at most MAX_FRAMES frames, written by PillowWriter.  Returns (path, total return)."""
    from matplotlib.collections import LineCollection

    check_max_steps(max_steps)
    env = make_single_env(env_id)
    model, data = env.unwrapped.model, env.unwrapped.data
    shots = []
    try:
        total_return = run_episode(policy, env, seed, deterministic, max_steps, normalizer,
                                   lambda: shots.append(mujoco_shapes(model, data)))
    finally:
        env.close()
    left, right, below, above = MUJOCO_VIEW
    width_inches = FIGURE_WIDTH_INCHES
    figure = Figure(figsize=(width_inches, width_inches * (above - below) / (right - left)))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_aspect("equal")
    ax.set_axis_off()
    points_per_metre = width_inches * 72 / (right - left)
    (ground,) = ax.plot([], [], color=GROUND_COLOR, linewidth=TRACK_LINE_WIDTH)
    marks = LineCollection([], colors=GROUND_COLOR, linewidths=TRACK_LINE_WIDTH)
    limbs = LineCollection([], colors=ROBOT_COLOR, capstyle="round")
    ax.add_collection(marks)
    ax.add_collection(limbs)
    discs = ax.scatter([], [], color=ROBOT_COLOR)
    caption = ax.text(0.01, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize="x-small")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    keep = np.unique(np.linspace(0, len(shots) - 1, min(len(shots), MAX_FRAMES)).round().astype(int))
    writer = PillowWriter(fps=max(1, round(fps * len(keep) / len(shots))))
    with writer.saving(figure, path, dpi=DPI):
        for step in keep:
            capsules, spheres, root_x = shots[step]
            ax.set_xlim(root_x + left, root_x + right)
            ax.set_ylim(below, above)
            ground.set_data([root_x + left, root_x + right], [0.0, 0.0])
            ticks = np.arange(np.floor(root_x + left), root_x + right + 1.0)
            marks.set_segments([[(x, 0.0), (x, -0.08)] for x in ticks])
            limbs.set_segments(capsules[:, :4].reshape(-1, 2, 2))
            limbs.set_linewidths(2 * capsules[:, 4] * points_per_metre)
            discs.set_offsets(spheres[:, :2] if len(spheres) else np.empty((0, 2)))
            discs.set_sizes((2 * spheres[:, 2] * points_per_metre) ** 2 if len(spheres) else [])
            caption.set_text(f"{env_id}  step {step}/{len(shots) - 1}  x = {root_x:.1f} m")
            writer.grab_frame()
    return path, total_return
