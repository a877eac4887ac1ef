"""Watching a policy: one episode as an animated GIF.

The cart-poles (CartPole, the swing-up) have no render mode that works headless here
(gymnasium's CartPole draws with pygame, the swing-up package with old gym's OpenGL viewer),
and a GIF is what fits in a README.  So their episode is recorded as its physical states
[x, ẋ, θ, θ̇], read from `env.unwrapped.state` after every step, and each frame is drawn from
them with matplotlib's object API (an explicit Figure on the Agg canvas: no pyplot, no global
state, no display needed): the track from −x_max to +x_max (where the episode terminates), the
cart as a rectangle centred on (x, 0), the pole as a line from the cart's centre to its tip.
Where the tip goes depends on each package's angle convention (`Geometry`).

MuJoCo's planar robots (HalfCheetah, Hopper, Walker2d, ...) need OpenGL to render themselves,
which a headless machine may not have; they are drawn the same way from their geometry: every
capsule of the model as a thick line between its two end points, every sphere as a disc, seen
from the side (x, z), the camera following the robot over a ground with a mark every metre.
Any other task is drawn by the environment itself (render_mode="rgb_array": pygame for classic
control and Box2D), its frames scaled down.

Every GIF plays the episode in real time (`pick_frames`) and is written by imageio.
"""

import math
import os
from dataclasses import dataclass

import imageio.v3 as iio
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from ..envs import make_single_env, swingup
from ..envs.vector import is_mujoco

# Frame size: 300 px wide (FIGURE_WIDTH_INCHES · DPI, or FRAME_WIDTH for an env's own frames), the
# height following the scene's aspect ratio.  Small on purpose: GIF stores every frame, and a
# 500-step swing-up episode at 50 frames/s is 251 frames, which at this size stay a few hundred kB.
FIGURE_WIDTH_INCHES = 4.0
DPI = 75
FRAME_WIDTH = 300
DEFAULT_FPS = 50
MAX_FRAMES = 300  # beyond, the frames are spread over the episode (a 1,000-step HalfCheetah: every 4th)
# Space around the scene, in metres, so the cart at the track's end and the pole tip stay in view.
MARGIN = 0.15
POLE_LINE_WIDTH = 3.0   # points
TRACK_LINE_WIDTH = 1.0  # points
CART_COLOR, POLE_COLOR, TRACK_COLOR = "tab:red", "tab:blue", "black"
ROBOT_COLOR, GROUND_COLOR = "tab:blue", "0.4"
GEOM_SPHERE, GEOM_CAPSULE = 2, 3  # mujoco.mjtGeom's values
MUJOCO_VIEW = (-1.5, 2.5, -0.3, 1.9)  # metres around the robot's root: left, right, below, above


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


def _family(env_id):
    """'CartPole-v0' → 'CartPole'."""
    return env_id.split("/")[-1].rsplit("-v", 1)[0]


def geometry_for(env_id):
    """The Geometry of an env id's family: 'CartPole-v0' → GEOMETRIES['CartPole']."""
    if _family(env_id) not in GEOMETRIES:
        raise ValueError(f"no drawing geometry for {env_id!r}; known families: {', '.join(GEOMETRIES)}")
    return GEOMETRIES[_family(env_id)]


def pole_tip(states, geometry):
    """(tip_x, tip_y) of the pole for states: (..., 4) rows [x, ẋ, θ, θ̇] → two (...) arrays."""
    x, theta = states[..., 0], states[..., 2]
    return (x + geometry.tip_direction * geometry.pole_length * np.sin(theta),
            geometry.pole_length * np.cos(theta))


def render_episode_gif(policy, env_id, path, seed=None, deterministic=True, max_steps=None, fps=DEFAULT_FPS,
                       normalizer=None):
    """Run one episode of `policy` on `env_id` (see `record`) and save it at `path` as a GIF that
    plays in real time at no more than fps frames per second (`pick_frames`): a cart-pole drawn
    from its states (`record_episode`, `save_gif`), a MuJoCo robot from its geometry
    (`mujoco_shapes`), any other task by its own renderer (render_mode="rgb_array").

    Returns (path, the episode's total return).  Raises ValueError for a bad max_steps or fps,
    or a task that cannot be drawn here (no rgb_array rendering, or its renderer is missing).
    """
    episode = dict(seed=seed, deterministic=deterministic, max_steps=max_steps, normalizer=normalizer)
    if _family(env_id) in GEOMETRIES:
        states, total_return = record_episode(policy, env_id, **episode)
        return save_gif(states, path, env_id, fps=fps), total_return
    if is_mujoco(env_id):
        shots, total_return, seconds_per_step = record(
            policy, env_id, lambda env: mujoco_shapes(env.unwrapped.model, env.unwrapped.data), **episode)
        draw = _robot_scene(shots, env_id)
    else:
        # An rgb_array renderer draws off screen: SDL (pygame's, for classic control and Box2D) needs no
        # display then, and without this it prints "error: XDG_RUNTIME_DIR is invalid" on a machine that has none.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        try:
            shots, total_return, seconds_per_step = record(policy, env_id, _rendered_frame, render_mode="rgb_array",
                                                           **episode)
        except ValueError:
            raise
        except Exception as error:  # a renderer's dependency (pygame, OpenGL) may be missing
            raise ValueError(f"{env_id} cannot render frames here ({type(error).__name__}: {error})") from None
        draw = shots.__getitem__
    indices, milliseconds = pick_frames(len(shots), seconds_per_step, fps)
    return write_gif(path, [draw(step) for step in indices], milliseconds), total_return


# ---------------------------------------------------------------------------- recording


def record(policy, env_id, snapshot, seed=None, deterministic=True, max_steps=None, normalizer=None, **make_kwargs):
    """Run ONE episode of `policy` in make_single_env(env_id, **make_kwargs), taking snapshot(env)
    after reset and after every step.

    The episode runs until it terminates or is truncated by the env's time limit, or after
    max_steps steps if that is given.  deterministic=True acts with the distribution's mode;
    False samples with policy.rng.  seed seeds env.reset, fixing the initial state.
    normalizer: what the policy sees of an observation (the run's ObservationNormalizer), or None.
    Returns (the steps + 1 snapshots, the total return, the env's seconds per step: its dt, else
    1 / its render_fps).  Raises ValueError for a max_steps that is not a positive integer.
    """
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))
                                  or max_steps < 1):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
    env = make_single_env(env_id, **make_kwargs)
    act = policy.act_deterministic if deterministic else policy.act
    try:
        observation, _ = env.reset(seed=seed)
        snapshots, total_return = [snapshot(env)], 0.0
        while max_steps is None or len(snapshots) <= max_steps:
            # The policies act on batches: one state in, one action out.
            seen = observation[None] if normalizer is None else normalizer(observation[None])
            observation, reward, terminated, truncated, _ = env.step(act(seen)[0])
            snapshots.append(snapshot(env))
            total_return += float(reward)
            if terminated or truncated:
                break
        seconds_per_step = getattr(env.unwrapped, "dt", None) or 1 / env.metadata.get("render_fps", DEFAULT_FPS)
    finally:
        env.close()
    return snapshots, total_return, seconds_per_step


def record_episode(policy, env_id, seed=None, deterministic=True, max_steps=None, normalizer=None):
    """One episode of a cart-pole (see `record`) → (states, total return); states: (steps + 1, 4)
    float64, the physical state [x, ẋ, θ, θ̇] after reset and after every step."""
    states, total_return, _ = record(policy, env_id, lambda env: np.array(env.unwrapped.state, dtype=np.float64),
                                     seed, deterministic, max_steps, normalizer)
    return np.stack(states), total_return


# ------------------------------------------------------------------------------ drawing


def pick_frames(n_states, seconds_per_step, fps=DEFAULT_FPS, max_frames=MAX_FRAMES):
    """The frames that play an episode of n_states states in real time at no more than fps frames
    per second: (indices of the states to draw, milliseconds per frame).

    Every stride-th state, the stride the fewest steps that last 1/fps seconds, raised if more
    than max_frames would be drawn, plus the last state so the GIF ends on the episode's end.
    CartPole (0.02 s a step) at 50 fps: every state, 20 ms each; the swing-up (0.01 s): every 2nd.
    The duration is rounded to the GIF's unit, 10 ms (Hopper's 3 × 8 ms play in 20).
    Raises ValueError for an fps that is not a positive number.
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not fps > 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    # The 1e-9 keeps a stride of exactly 2 (0.01 s at 50 fps) from rounding up to 3.
    stride = max(1, math.ceil(1 / (fps * seconds_per_step) - 1e-9), math.ceil((n_states - 1) / (max_frames - 1)))
    indices = list(range(0, n_states, stride))
    if indices[-1] != n_states - 1:
        indices.append(n_states - 1)
    return indices, 10 * max(1, round(100 * stride * seconds_per_step))


def write_gif(path, frames, milliseconds):
    """Write frames (a list of (height, width, 3) uint8 RGB images) as a looping GIF at `path`,
    each shown `milliseconds` ms, creating parent directories.  Returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    iio.imwrite(path, np.stack(frames), extension=".gif", duration=milliseconds, loop=0)
    return path


def _figure(aspect):
    """An axes filling a figure FIGURE_WIDTH_INCHES wide and `aspect` times as high, with equal
    scales on x and y and a caption, and image() → the figure as a (height, width, 3) uint8 array."""
    figure = Figure(figsize=(FIGURE_WIDTH_INCHES, FIGURE_WIDTH_INCHES * aspect), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_aspect("equal")
    ax.set_axis_off()
    caption = ax.text(0.01, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize="x-small")

    def image():
        canvas.draw()
        return np.array(canvas.buffer_rgba())[..., :3]

    return ax, caption, image


def save_gif(states, path, env, fps=DEFAULT_FPS):
    """Draw `states` ((steps + 1, 4) rows [x, ẋ, θ, θ̇]) as an animated GIF at `path`, in real
    time (`pick_frames`).

    env: an env id (e.g. 'CartPoleSwingUp-v0', whose family picks the Geometry and labels the
    frames) or a Geometry.  Parent directories are created.  Returns `path`.

    The axes' equal scales make the figure's aspect ratio the scene's: across, the whole track
    plus a margin; up and down, only as far as the cart and this episode's pole tip reach (a
    balanced CartPole pole never points down, so its GIF gets no empty lower half; a swing-up GIF
    shows the hanging pole).
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 4 or len(states) == 0:
        raise ValueError(f"states must have shape (steps + 1, 4), got {states.shape}")
    geometry, label = (env, "") if isinstance(env, Geometry) else (geometry_for(env), f"{env}  ")
    indices, milliseconds = pick_frames(len(states), geometry.seconds_per_step, fps)

    tips_x, tips_y = pole_tip(states, geometry)
    half_width = geometry.track_half_length + geometry.cart_width / 2 + MARGIN
    top = max(tips_y.max(), geometry.cart_height / 2) + MARGIN
    bottom = min(tips_y.min(), -geometry.cart_height / 2) - MARGIN
    ax, caption, image = _figure((top - bottom) / (2 * half_width))
    ax.set_xlim(-half_width, half_width)
    ax.set_ylim(bottom, top)
    # The cart is centred on (x, 0) and rides on the track just below it.
    track_y = -geometry.cart_height / 2
    ax.plot([-geometry.track_half_length, geometry.track_half_length], [track_y, track_y],
            color=TRACK_COLOR, linewidth=TRACK_LINE_WIDTH)
    cart = ax.add_patch(Rectangle((0.0, 0.0), geometry.cart_width, geometry.cart_height, color=CART_COLOR))
    (pole,) = ax.plot([], [], color=POLE_COLOR, linewidth=POLE_LINE_WIDTH, solid_capstyle="round")

    def frame(step):
        x = states[step, 0]
        cart.set_xy((x - geometry.cart_width / 2, -geometry.cart_height / 2))
        pole.set_data([x, tips_x[step]], [0.0, tips_y[step]])
        caption.set_text(f"{label}step {step}/{len(states) - 1}")
        return image()

    return write_gif(path, [frame(step) for step in indices], milliseconds)


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


def _robot_scene(shots, env_id):
    """draw(step) → the robot of shots[step] (`mujoco_shapes`) as an RGB image, the camera on its root."""
    left, right, below, above = MUJOCO_VIEW
    ax, caption, image = _figure((above - below) / (right - left))
    points_per_metre = FIGURE_WIDTH_INCHES * 72 / (right - left)
    (ground,) = ax.plot([], [], color=GROUND_COLOR, linewidth=TRACK_LINE_WIDTH)
    marks = ax.add_collection(LineCollection([], colors=GROUND_COLOR, linewidths=TRACK_LINE_WIDTH))
    limbs = ax.add_collection(LineCollection([], colors=ROBOT_COLOR, capstyle="round"))
    discs = ax.scatter([], [], color=ROBOT_COLOR)

    def draw(step):
        capsules, spheres, root_x = shots[step]
        ax.set_xlim(root_x + left, root_x + right)
        ax.set_ylim(below, above)
        ground.set_data([root_x + left, root_x + right], [0.0, 0.0])
        marks.set_segments([[(x, 0.0), (x, -0.08)] for x in np.arange(np.floor(root_x + left), root_x + right + 1)])
        limbs.set_segments(capsules[:, :4].reshape(-1, 2, 2))
        limbs.set_linewidths(2 * capsules[:, 4] * points_per_metre)
        discs.set_offsets(spheres[:, :2])
        discs.set_sizes((2 * spheres[:, 2] * points_per_metre) ** 2)
        caption.set_text(f"{env_id}  step {step}/{len(shots) - 1}  x = {root_x:.1f} m")
        return image()

    return draw


def _rendered_frame(env):
    """The env's own rgb_array frame, scaled to FRAME_WIDTH px wide."""
    rendered = env.render()
    if rendered is None:
        raise ValueError(f"{env.spec.id} has no rgb_array rendering")
    image = Image.fromarray(np.asarray(rendered, dtype=np.uint8))
    return np.asarray(image.resize((FRAME_WIDTH, max(1, round(image.height * FRAME_WIDTH / image.width)))))
