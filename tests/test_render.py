"""Recording an episode and drawing it as a GIF, on CartPole-v0 and CartPoleSwingUp-v0, and on
MuJoCo robots drawn from their geometry.

Fresh (untrained) policies are enough: the point is the plumbing — states read from the env,
the return of the episode, a GIF Pillow can open that plays in real time — and the drawing
convention, checked against each package's physics: pushing the cart right must tilt the drawn
pole left.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import exactly, stand_in_env
from gymnasium import spaces

from minipg.envs import make_single_env
from minipg.envs.vector import is_mujoco
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.tools.render import (
    DPI,
    FIGURE_WIDTH_INCHES,
    GEOMETRIES,
    geometry_for,
    mujoco_shapes,
    pick_frames,
    pole_tip,
    record_episode,
    render_episode_gif,
    save_gif,
)

SEED = 0
# Swing-up episodes last 500 steps unless the cart leaves the track; a short cap keeps the
# tests fast (drawing a frame takes ~10 ms).
SWINGUP_MAX_STEPS = 60
# A generous bound on the bytes per frame of these small, few-colour frames (~1-2 kB each).
MAX_BYTES_PER_FRAME = 8_000

# env id → (policy constructor, max_steps, action that pushes the cart right)
CASES = {
    "CartPole-v0": (lambda env: CategoricalPolicy(env, seed=SEED), None, 1),
    "CartPoleSwingUp-v0": (lambda env: DiagonalGaussianPolicy(env, seed=SEED), SWINGUP_MAX_STEPS,
                           np.array([1.0], dtype=np.float32)),
}


def fresh_policy(env_id):
    make_policy, _, _ = CASES[env_id]
    env = make_single_env(env_id)  # registers the swing-up ids
    env.close()
    return make_policy(env)


def replay(agent, env_id, seed, deterministic, max_steps):
    """The episode record_episode should have run, written out by hand: (states, rewards)."""
    env = make_single_env(env_id)
    act = agent.act_deterministic if deterministic else agent.act
    observation, _ = env.reset(seed=seed)
    states, rewards = [np.array(env.unwrapped.state)], []
    done = False
    while not done and (max_steps is None or len(rewards) < max_steps):
        observation, reward, terminated, truncated, _ = env.step(act(observation[None])[0])
        states.append(np.array(env.unwrapped.state))
        rewards.append(reward)
        done = terminated or truncated
    env.close()
    return np.stack(states), rewards


@pytest.mark.parametrize("deterministic", [True, False], ids=["mode", "sampled"])
@pytest.mark.parametrize("env_id", CASES)
def test_record_episode_states_and_return(env_id, deterministic):
    _, max_steps, _ = CASES[env_id]
    agent = fresh_policy(env_id)
    generator_state = agent.rng.bit_generator.state

    states, total_return = record_episode(agent, env_id, seed=SEED, deterministic=deterministic,
                                          max_steps=max_steps)
    agent.rng.bit_generator.state = generator_state  # the sampled actions again
    expected_states, rewards = replay(agent, env_id, SEED, deterministic, max_steps)

    assert states.dtype == np.float64 and states.shape == (len(rewards) + 1, 4)
    assert len(rewards) > 1
    assert max_steps is None or len(rewards) <= max_steps
    np.testing.assert_array_equal(states, expected_states)
    assert total_return == pytest.approx(sum(rewards), rel=1e-12)


@pytest.mark.parametrize("env_id", CASES)
def test_gif_is_written_and_readable(env_id, tmp_path):
    _, max_steps, _ = CASES[env_id]
    agent = fresh_policy(env_id)
    states, _ = record_episode(agent, env_id, seed=SEED, max_steps=max_steps)
    path = save_gif(states, tmp_path / "gifs" / "episode.gif", env_id)

    frames, milliseconds = pick_frames(len(states), geometry_for(env_id).seconds_per_step, fps=50)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == len(frames) > 1
        assert image.info["duration"] == milliseconds == 20 and image.info["loop"] == 0  # real time, looping
        width, height = image.size
    assert width == round(FIGURE_WIDTH_INCHES * DPI)
    assert 0 < height < width
    assert path.stat().st_size < MAX_BYTES_PER_FRAME * len(frames)


def test_render_episode_gif_returns_path_and_return(tmp_path):
    env_id = "CartPoleSwingUp-v0"
    agent = fresh_policy(env_id)
    path, total_return = render_episode_gif(agent, env_id, tmp_path / "swingup.gif", seed=SEED,
                                            max_steps=SWINGUP_MAX_STEPS)
    _, expected = record_episode(agent, env_id, seed=SEED, max_steps=SWINGUP_MAX_STEPS)
    assert total_return == expected
    with Image.open(path) as image:
        assert image.n_frames == SWINGUP_MAX_STEPS // 2 + 1  # every 2nd state: 0, 2, ..., 60


@pytest.mark.parametrize("env_id", CASES)
def test_pushing_right_tilts_the_drawn_pole_left(env_id):
    """The geometry table's angle convention agrees with each package's physics."""
    _, _, push_right = CASES[env_id]
    env = make_single_env(env_id)
    env.reset(seed=SEED)
    env.unwrapped.state = np.zeros(4)  # upright, at rest, in the middle of the track
    for _ in range(5):
        env.step(push_right)
    state = np.array(env.unwrapped.state, dtype=np.float64)
    env.close()
    tip_x, tip_y = pole_tip(state, geometry_for(env_id))
    assert state[1] > 0          # the cart moves right
    assert tip_x < state[0]      # and the pole, pushed at its foot, leans back to the left
    assert tip_y > 0


def test_geometry_lookup_and_frame_selection():
    assert geometry_for("CartPole-v0") is GEOMETRIES["CartPole"]
    assert geometry_for("CartPoleSwingUp-v1") is GEOMETRIES["CartPoleSwingUp"]
    assert GEOMETRIES["CartPole"].pole_length == 1.0      # gymnasium's length is half the pole
    # Real time: CartPole's 0.02 s steps at 50 fps are every state, the swing-up's 0.01 s every 2nd.
    assert pick_frames(4, GEOMETRIES["CartPole"].seconds_per_step, fps=50) == ([0, 1, 2, 3], 20)
    assert pick_frames(7, GEOMETRIES["CartPoleSwingUp"].seconds_per_step, fps=50) == ([0, 2, 4, 6], 20)
    assert pick_frames(8, 0.01, fps=50) == ([0, 2, 4, 6, 7], 20)   # the final state is always shown
    assert pick_frames(7, 0.01, fps=25) == ([0, 4, 6], 40)
    assert pick_frames(7, 0.05, fps=50) == ([0, 1, 2, 3, 4, 5, 6], 50)  # slower steps: never faster than real time
    assert pick_frames(1, 0.02) == ([0], 20)
    # A long episode is spread over at most max_frames frames, still in real time.
    frames, milliseconds = pick_frames(1001, 0.05, fps=50, max_frames=250)
    assert len(frames) <= 250 and frames[-1] == 1000 and milliseconds == 1000 * 0.05 * frames[1]
    assert pick_frames(10, 0.008, fps=50) == ([0, 3, 6, 9], 20)  # in the GIF's 10 ms units
    with pytest.raises(ValueError, match="no drawing geometry"):
        geometry_for("Pendulum-v1")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        save_gif(np.zeros((5, 3)), tmp_path / "x.gif", "CartPole-v0")
    for fps in (0, -5, True, "50"):
        with pytest.raises(ValueError, match=exactly(f"fps must be a positive number, got {fps!r}")):
            save_gif(np.zeros((5, 4)), tmp_path / "x.gif", "CartPole-v0", fps=fps)
    with pytest.raises(ValueError, match="max_steps"):
        record_episode(fresh_policy("CartPole-v0"), "CartPole-v0", max_steps=0)
    with pytest.raises(ValueError, match="^unknown environment id 'NoSuchEnv-v0'"):
        render_episode_gif(fresh_policy("CartPole-v0"), "NoSuchEnv-v0", tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5"])
def test_a_mujoco_robot_is_drawn_from_its_capsules(env_id, tmp_path):
    """Headless, without OpenGL: the side view of every capsule, the camera on the robot's root."""
    from minipg import Options, make_env, make_policy

    assert is_mujoco(env_id) and not is_mujoco("CartPole-v1") and not is_mujoco("NoSuchEnv-v0")
    env = make_single_env(env_id)
    env.reset(seed=0)
    capsules, spheres, root_x = mujoco_shapes(env.unwrapped.model, env.unwrapped.data)
    seconds_per_step = env.unwrapped.dt
    env.close()
    assert capsules.shape[1] == 5 and len(capsules) >= 4 and (capsules[:, 4] > 0).all()
    lengths = np.hypot(capsules[:, 2] - capsules[:, 0], capsules[:, 3] - capsules[:, 1])
    assert (lengths > 0).all() and abs(root_x) < 0.5  # near the start
    policy = make_policy(make_env(env_id, 1), Options(env=env_id, hidden=(4,)), seed=0)
    path, total = render_episode_gif(policy, env_id, tmp_path / "robot.gif", seed=1, max_steps=12)
    frames, milliseconds = pick_frames(13, seconds_per_step)  # both robots stand for 12 steps
    with Image.open(path) as image:
        assert image.format == "GIF" and image.n_frames == len(frames) > 1
        assert image.info["duration"] == milliseconds  # real time: HalfCheetah 0.05 s a step, Hopper 3 × 0.008 s
    assert np.isfinite(total)


def test_drawing_a_mujoco_robot_leaves_no_log_file(mujoco_log):
    """gymnasium's HalfCheetah model makes MuJoCo 3.3+ warn, which it logs to MUJOCO_LOG.TXT in the
    working directory unless minipg's handler is installed before the env is made."""
    policy = DiagonalGaussianPolicy(stand_in_env(17, spaces.Box(-1.0, 1.0, shape=(6,))), hidden=(4,), seed=0)
    render_episode_gif(policy, "HalfCheetah-v5", "robot.gif", seed=1, max_steps=2)
    assert not mujoco_log.exists()


def test_a_task_drawn_by_pygame_prints_nothing_on_a_machine_without_a_display(tmp_path):
    """SDL looks for a display even to draw off screen, and says "error: XDG_RUNTIME_DIR is
    invalid" on stderr where there is none; the GIF of a classic-control task must not."""
    program = textwrap.dedent("""
        from gymnasium import spaces
        from conftest import stand_in_env
        from minipg.policies import DiagonalGaussianPolicy
        from minipg.tools.render import render_episode_gif
        policy = DiagonalGaussianPolicy(stand_in_env(3, spaces.Box(-2.0, 2.0, (1,))), hidden=(4,), seed=0)
        render_episode_gif(policy, "Pendulum-v1", "pendulum.gif", seed=0, max_steps=5)
    """)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "DISPLAY")}
    environment["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), environment.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and (tmp_path / "pendulum.gif").stat().st_size > 0
