"""Recording an episode and drawing it as a GIF, on CartPole-v0 and CartPoleSwingUp-v0.

Fresh (untrained) policies are enough: the point is the plumbing — states read from the env,
the return of the episode, a GIF Pillow can open — and the drawing convention, checked
against each package's physics: pushing the cart right must tilt the drawn pole left.
"""

import numpy as np
import pytest
from PIL import Image

from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.tools.render import (
    DPI,
    FIGURE_WIDTH_INCHES,
    GEOMETRIES,
    frame_indices,
    geometry_for,
    make_single_env,
    pole_tip,
    real_time_stride,
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

    stride = real_time_stride(geometry_for(env_id), fps=50)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == len(frame_indices(len(states), stride)) > 1
        width, height = image.size
    assert width == round(FIGURE_WIDTH_INCHES * DPI)
    assert 0 < height < width
    assert path.stat().st_size < MAX_BYTES_PER_FRAME * len(frame_indices(len(states), stride))


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
    assert real_time_stride(GEOMETRIES["CartPole"], fps=50) == 1
    assert real_time_stride(GEOMETRIES["CartPoleSwingUp"], fps=50) == 2
    assert frame_indices(7, 2) == [0, 2, 4, 6]
    assert frame_indices(8, 2) == [0, 2, 4, 6, 7]   # the final state is always shown
    with pytest.raises(ValueError, match="no drawing geometry"):
        geometry_for("Pendulum-v1")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        save_gif(np.zeros((5, 3)), tmp_path / "x.gif", "CartPole-v0")
    with pytest.raises(ValueError, match="stride"):
        save_gif(np.zeros((5, 4)), tmp_path / "x.gif", "CartPole-v0", stride=0)
    with pytest.raises(ValueError, match="max_steps"):
        record_episode(fresh_policy("CartPole-v0"), "CartPole-v0", max_steps=0)
    assert not (tmp_path / "x.gif").exists()



@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5"])
def test_a_mujoco_robot_is_drawn_from_its_capsules(env_id, tmp_path):
    """Headless, without OpenGL: the side view of every capsule, the camera on the robot's root."""
    import gymnasium
    from PIL import Image

    from minipg import Options, make_env, make_policy
    from minipg.tools.render import is_mujoco, mujoco_shapes, render_episode_gif

    assert is_mujoco(env_id) and not is_mujoco("CartPole-v1") and not is_mujoco("NoSuchEnv-v0")
    env = gymnasium.make(env_id)
    env.reset(seed=0)
    capsules, spheres, root_x = mujoco_shapes(env.unwrapped.model, env.unwrapped.data)
    assert capsules.shape[1] == 5 and len(capsules) >= 4 and (capsules[:, 4] > 0).all()
    lengths = np.hypot(capsules[:, 2] - capsules[:, 0], capsules[:, 3] - capsules[:, 1])
    assert (lengths > 0).all() and abs(root_x) < 0.5  # near the start
    policy = make_policy(make_env(env_id, 1), Options(env=env_id, hidden=(4,)), seed=0)
    path, total = render_episode_gif(policy, env_id, tmp_path / "robot.gif", seed=1, max_steps=6)
    with Image.open(path) as image:
        assert image.format == "GIF" and image.n_frames == 7
    assert np.isfinite(total)
