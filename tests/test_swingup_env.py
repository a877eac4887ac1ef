"""Tests of minipg.envs.swingup: the adapter, the batched twin, and their registration.

The reference throughout is the package's own environment (gym-cartpole-swingup 0.1.4),
reached through the adapter CartPoleSwingUpEnv. Under NumPy 2 the package computes in
float32, and so does the twin, with its own arrangement of the formulas; one step of the two
therefore agrees to float32 round-off, ~1e-6, and the tests demand 1e-5: absolute for values
of order one, relative for larger ones (angles of up to 3π, angular velocities of up to 15).
"""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from minipg.envs.swingup import (
    CartPoleSwingUpEnv,
    CartPoleSwingUpVectorEnv,
    register_swingup,
)

# gymnasium takes "-v0" and "-v1" for versions of one task and warns that v0 is outdated;
# here they are two reward variants, so that warning is noise.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*CartPoleSwingUp-v0 is out of date:DeprecationWarning"
)

REPO_ROOT = Path(__file__).resolve().parents[1]
REWARDS = ["cos", "positive"]  # v0 and v1
TOL = 1e-5  # agreement demanded between twin and package (see the module docstring)
X_THRESHOLD = 2.4
# Broad box of states to test the dynamics on: [x, x_dot, theta, theta_dot].
STATE_LOW = np.array([-X_THRESHOLD, -10.0, -np.pi, -15.0])
STATE_HIGH = np.array([X_THRESHOLD, 10.0, 3.0 * np.pi, 15.0])
ACTION_RANGE = 1.5  # beyond the action bound 1, so that clipping is exercised
INITIAL_MEAN = np.array([0.0, 0.0, np.pi, 0.0])
INITIAL_STD = 0.2


@pytest.fixture(autouse=True, scope="module")
def _registered():
    register_swingup()
    register_swingup()  # idempotent


def assert_close(actual, expected, tol=TOL):
    """|actual - expected| <= tol * max(1, |expected|): absolute near 0, relative beyond 1."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    error = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))
    assert error.max() <= tol, f"max scaled error {error.max():.3g} at {error.argmax()}"


def package_step(adapter, state, action):
    """Set the package's state, step it once: (next_state, obs, reward, terminated)."""
    adapter.state = state
    obs, reward, terminated, truncated, _ = adapter.step(action)
    assert truncated is False
    return adapter.state, obs, reward, terminated


def away_from_edge(x, margin=TOL):
    """Where float32 round-off cannot flip the |x| > 2.4 test."""
    return np.abs(np.abs(x) - X_THRESHOLD) > margin


# --- the twin reproduces the package ------------------------------------------------------
@pytest.mark.parametrize("reward", REWARDS)
def test_one_step_matches_package_on_random_states(reward):
    rng = np.random.default_rng(0)
    count = 3000
    states = rng.uniform(STATE_LOW, STATE_HIGH, size=(count, 4)).astype(np.float32)
    actions = rng.uniform(-ACTION_RANGE, ACTION_RANGE, size=(count, 1)).astype(np.float32)

    adapter = CartPoleSwingUpEnv(reward=reward)
    adapter.reset(seed=0)
    expected = [package_step(adapter, s, a) for s, a in zip(states, actions)]
    next_states, obs, rewards, terminated = (np.array(column) for column in zip(*expected))

    twin = CartPoleSwingUpVectorEnv(num_envs=count, reward=reward)
    twin.reset(seed=0)
    twin.state = states
    twin_obs, twin_rewards, twin_terminated, twin_truncated, _ = twin.step(actions)

    assert_close(twin.state, next_states)
    assert twin_obs.dtype == np.float32 and twin_obs.shape == (count, 5)
    assert_close(twin_obs, obs)
    assert_close(twin_rewards, rewards)
    edge_safe = away_from_edge(next_states[:, 0])
    assert edge_safe.mean() > 0.99
    np.testing.assert_array_equal(twin_terminated[edge_safe], terminated[edge_safe])
    assert 0 < terminated.sum() < count  # both outcomes were exercised
    assert not twin_truncated.any()


@pytest.mark.parametrize("reward", REWARDS)
def test_trajectories_match_package_step_by_step(reward):
    """Along the package's own trajectories, copy its state into the twin before every step."""
    rng = np.random.default_rng(1)
    num_trajectories, num_steps = 3, 200
    adapters = [CartPoleSwingUpEnv(reward=reward) for _ in range(num_trajectories)]
    for seed, adapter in enumerate(adapters):
        adapter.reset(seed=seed)
    twin = CartPoleSwingUpVectorEnv(num_envs=num_trajectories, reward=reward)
    twin.reset(seed=0)
    steps_compared = 0
    for _ in range(num_steps):
        actions = rng.uniform(-ACTION_RANGE, ACTION_RANGE, size=(num_trajectories, 1))
        actions = actions.astype(np.float32)
        twin.state = np.stack([adapter.state for adapter in adapters])
        twin_obs, twin_rewards, twin_terminated, _, _ = twin.step(actions[:, 0])  # (E,) shape
        for i, adapter in enumerate(adapters):
            obs, reward_i, terminated, _, _ = adapter.step(actions[i])
            assert_close(twin.state[i], adapter.state)
            assert_close(twin_obs[i], obs)
            assert_close(twin_rewards[i], reward_i)
            if away_from_edge(adapter.state[0]):
                assert twin_terminated[i] == terminated
            if terminated:  # continue from a fresh start
                adapter.reset()
            steps_compared += 1
    assert steps_compared == num_trajectories * num_steps


def test_actions_are_clipped():
    twin = CartPoleSwingUpVectorEnv(num_envs=2)
    twin.reset(seed=3)
    start = twin.state
    twin.step(np.array([[5.0], [-7.0]]))
    clipped_next = twin.state
    twin.state = start
    twin.step(np.array([[1.0], [-1.0]]))
    np.testing.assert_array_equal(twin.state, clipped_next)


def test_package_computes_in_float32():
    """What the twin mirrors: under NumPy 2 (NEP 50) the package's state stays float32."""
    adapter = CartPoleSwingUpEnv()
    adapter.reset(seed=0)
    adapter.step(np.array([0.5], dtype=np.float32))
    assert all(isinstance(v, np.float32) for v in adapter._package_env.state)


# --- initial states -----------------------------------------------------------------------
def test_twin_initial_state_distribution():
    count = 20_000
    twin = CartPoleSwingUpVectorEnv(num_envs=count)
    obs, info = twin.reset(seed=0)
    states = twin.state
    # Standard errors: 0.2 / sqrt(20000) = 0.0014 for the mean, ~0.001 for the std.
    np.testing.assert_allclose(states.mean(axis=0), INITIAL_MEAN, atol=0.01)
    np.testing.assert_allclose(states.std(axis=0), INITIAL_STD, atol=0.01)
    assert obs.shape == (count, 5) and obs.dtype == np.float32 and info == {}
    np.testing.assert_allclose(obs[:, 2], np.cos(states[:, 2]), atol=1e-6)
    np.testing.assert_allclose(obs[:, 3], np.sin(states[:, 2]), atol=1e-6)


def test_adapter_initial_state_distribution():
    adapter = CartPoleSwingUpEnv()
    adapter.reset(seed=0)
    states = []
    for _ in range(2000):
        adapter.reset()
        states.append(adapter.state)
    states = np.array(states)
    # Standard errors: 0.2 / sqrt(2000) = 0.0045 for the mean, ~0.003 for the std.
    np.testing.assert_allclose(states.mean(axis=0), INITIAL_MEAN, atol=0.025)
    np.testing.assert_allclose(states.std(axis=0), INITIAL_STD, atol=0.02)


def test_twin_and_package_draw_the_same_first_initial_state():
    """Both draw mean + std * standard normals from the seeded generator, in the same order."""
    for seed in range(3):
        adapter = CartPoleSwingUpEnv()
        adapter.reset(seed=seed)
        twin = CartPoleSwingUpVectorEnv(num_envs=4)
        twin.reset(seed=seed)
        np.testing.assert_array_equal(twin.state[0], adapter.state)


# --- autoreset ----------------------------------------------------------------------------
def leaving_state(num_envs, leaving):
    """States from a reset, except that envs in `leaving` cross x = 2.4 on the next step."""
    twin = CartPoleSwingUpVectorEnv(num_envs=num_envs)
    twin.reset(seed=0)
    states = twin.state
    states[leaving] = [X_THRESHOLD - 0.01, 5.0, np.pi, 0.0]  # x' = 2.39 + 0.05
    return states


def test_next_step_autoreset():
    num_envs, leaving = 4, 1
    twins = []
    for reset_step_action in (-1.0, 1.0):  # the reset step must ignore the action
        twin = CartPoleSwingUpVectorEnv(num_envs=num_envs)
        twin.reset(seed=7)
        twin.state = leaving_state(num_envs, leaving)
        zeros = np.zeros((num_envs, 1), dtype=np.float32)
        _, rewards, terminated, truncated, _ = twin.step(zeros)
        np.testing.assert_array_equal(terminated, np.arange(num_envs) == leaving)
        assert not truncated.any()
        assert rewards[leaving] == pytest.approx(np.cos(np.pi), abs=1e-3)
        assert twin.state[leaving, 0] > X_THRESHOLD  # stays at the terminal state ...

        actions = np.full((num_envs, 1), reset_step_action, dtype=np.float32)
        obs, rewards, terminated, truncated, info = twin.step(actions)  # ... until this step
        assert rewards[leaving] == 0.0
        assert not terminated.any() and not truncated.any()
        fresh = twin.state[leaving]
        assert np.all(np.abs(fresh - INITIAL_MEAN) < 6 * INITIAL_STD)
        expected_obs = [fresh[0], fresh[1], np.cos(fresh[2]), np.sin(fresh[2]), fresh[3]]
        np.testing.assert_allclose(obs[leaving], expected_obs, atol=1e-6)
        assert info == {}
        twins.append((obs, twin.state))

        # The following step simulates the new episode normally.
        _, rewards, _, _, _ = twin.step(zeros)
        assert rewards[leaving] != 0.0
    np.testing.assert_array_equal(twins[0][0][leaving], twins[1][0][leaving])
    # The other envs did respond to the action.
    assert not np.array_equal(twins[0][1][0], twins[1][1][0])


def test_same_step_autoreset():
    num_envs, leaving = 4, 1
    states = leaving_state(num_envs, leaving)
    zeros = np.zeros((num_envs, 1), dtype=np.float32)

    reference = CartPoleSwingUpVectorEnv(num_envs=num_envs)  # NEXT_STEP shows the final obs
    reference.reset(seed=7)
    reference.state = states
    final_obs, final_rewards, *_ = reference.step(zeros)

    twin = CartPoleSwingUpVectorEnv(num_envs=num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    assert twin.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    twin.reset(seed=7)
    twin.state = states
    obs, rewards, terminated, truncated, info = twin.step(zeros)
    ended = np.arange(num_envs) == leaving
    np.testing.assert_array_equal(terminated, ended)
    assert not truncated.any()
    np.testing.assert_array_equal(rewards, final_rewards)  # the true reward, not 0
    np.testing.assert_array_equal(obs[~ended], final_obs[~ended])
    # The returned obs is already the new episode's; the last one is in info.
    assert abs(obs[leaving, 0]) < 6 * INITIAL_STD
    assert set(info) == {"final_obs", "_final_obs", "final_info", "_final_info"}
    np.testing.assert_array_equal(info["_final_obs"], ended)
    assert info["final_obs"].dtype == object
    assert all(info["final_obs"][i] is None for i in range(num_envs) if i != leaving)
    np.testing.assert_array_equal(info["final_obs"][leaving], final_obs[leaving])

    # No reward-0 step follows: the next step simulates the new episode.
    _, rewards, terminated, _, info = twin.step(zeros)
    assert rewards[leaving] != 0.0 and not terminated.any() and info == {}


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_autoreset_conventions_match_sync_vector_env(mode):
    """Flags, rewards and info keys agree with gymnasium's SyncVectorEnv over the adapters."""
    num_envs, leaving = 3, 2
    states = leaving_state(num_envs, leaving)
    sync = gymnasium.make_vec(
        "CartPoleSwingUp-v0",
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": mode},
    )
    twin = gymnasium.make_vec("CartPoleSwingUp-v0", num_envs=num_envs, autoreset_mode=mode)
    sync.reset(seed=0)
    twin.reset(seed=0)
    for env, state in zip(sync.envs, states):
        env.unwrapped.state = state
    twin.state = states
    zeros = np.zeros((num_envs, 1), dtype=np.float32)
    for step in range(2):  # the terminal step, then the step after it
        sync_out, twin_out = sync.step(zeros), twin.step(zeros)
        # After its terminal step the leaving env runs a new episode from a random start in
        # SAME_STEP mode, which the two draw differently; in NEXT_STEP mode it reports
        # reward 0, terminated = truncated = False, in both.
        compared = np.ones(num_envs, dtype=bool)
        if step == 1 and mode is AutoresetMode.SAME_STEP:
            compared[leaving] = False
        names = ["rewards", "terminated", "truncated"]
        for name, a, b in zip(names, sync_out[1:4], twin_out[1:4]):
            assert a.dtype == b.dtype, name
            np.testing.assert_allclose(a[compared], b[compared], atol=TOL, err_msg=name)
        assert set(sync_out[4]) == set(twin_out[4])
        if "final_obs" in sync_out[4]:
            np.testing.assert_array_equal(sync_out[4]["_final_obs"], twin_out[4]["_final_obs"])
            assert_close(twin_out[4]["final_obs"][leaving], sync_out[4]["final_obs"][leaving])
    sync.close()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_truncation_at_exactly_max_episode_steps(mode):
    max_steps, num_envs = 5, 3
    twin = CartPoleSwingUpVectorEnv(
        num_envs=num_envs, max_episode_steps=max_steps, autoreset_mode=mode
    )
    twin.reset(seed=0)
    zeros = np.zeros((num_envs, 1), dtype=np.float32)  # hanging pole, cart stays on track
    truncation_steps = []
    for step in range(1, 3 * max_steps + 3):
        _, rewards, terminated, truncated, _ = twin.step(zeros)
        assert not terminated.any()
        assert truncated.all() or not truncated.any()
        if truncated.all():
            truncation_steps.append(step)
        if mode is AutoresetMode.NEXT_STEP and step - 1 in truncation_steps:
            assert (rewards == 0.0).all()
    if mode is AutoresetMode.NEXT_STEP:  # a reset step separates episodes
        assert truncation_steps == [max_steps, 2 * max_steps + 1, 3 * max_steps + 2]
    else:
        assert truncation_steps == [max_steps, 2 * max_steps, 3 * max_steps]


def test_registered_time_limit_is_500_steps():
    twin = gymnasium.make_vec("CartPoleSwingUp-v1", num_envs=2)
    env = gymnasium.make("CartPoleSwingUp-v1")
    twin.reset(seed=0)
    env.reset(seed=0)
    for step in range(1, 501):
        _, _, twin_terminated, twin_truncated, _ = twin.step(np.zeros((2, 1), np.float32))
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        assert not twin_terminated.any() and not terminated
        assert twin_truncated.all() == truncated == (step == 500)


def test_termination_when_cart_leaves_track():
    twin = CartPoleSwingUpVectorEnv(num_envs=4)
    twin.reset(seed=0)
    # Next x: 2.39 + 0.02, -2.39 - 0.02, 2.39 + 0.0, -2.41 + 0.02 (already off, coming back)
    twin.state = [
        [2.39, 2.0, np.pi, 0.0],
        [-2.39, -2.0, np.pi, 0.0],
        [2.39, 0.0, np.pi, 0.0],
        [-2.41, 2.0, np.pi, 0.0],
    ]
    _, _, terminated, _, _ = twin.step(np.zeros(4))
    np.testing.assert_array_equal(terminated, [True, True, False, False])


# --- gymnasium integration ----------------------------------------------------------------
def test_registration():
    for env_id, reward in [("CartPoleSwingUp-v0", "cos"), ("CartPoleSwingUp-v1", "positive")]:
        spec = gymnasium.spec(env_id)
        assert spec.entry_point == "minipg.envs.swingup:CartPoleSwingUpEnv"
        assert spec.vector_entry_point == "minipg.envs.swingup:CartPoleSwingUpVectorEnv"
        assert spec.max_episode_steps == 500
        assert spec.kwargs == {"reward": reward}


@pytest.mark.parametrize("env_id", ["CartPoleSwingUp-v0", "CartPoleSwingUp-v1"])
def test_make_vec_returns_the_twin(env_id):
    envs = gymnasium.make_vec(env_id, num_envs=8)
    assert isinstance(envs, CartPoleSwingUpVectorEnv)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert envs.max_episode_steps == 500
    assert envs.single_observation_space.shape == (5,)
    assert envs.single_action_space == gymnasium.spaces.Box(-1, 1, (1,), np.float32)
    assert envs.observation_space.shape == (8, 5)
    assert envs.action_space.shape == (8, 1)
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
    assert envs.observation_space.contains(obs)
    assert rewards.shape == terminated.shape == truncated.shape == (8,)
    assert rewards.dtype == np.float64
    low = -1.0 if env_id.endswith("v0") else 0.0
    assert np.all((low <= rewards) & (rewards <= 1.0))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_sync_and_async_step_the_package(mode):
    envs = gymnasium.make_vec("CartPoleSwingUp-v0", num_envs=2, vectorization_mode=mode)
    try:
        assert not isinstance(envs, CartPoleSwingUpVectorEnv)
        obs, _ = envs.reset(seed=0)
        obs, rewards, *_ = envs.step(np.zeros((2, 1), np.float32))
        assert obs.shape == (2, 5) and rewards.shape == (2,)
        sub_envs = envs.get_attr("unwrapped")
        assert all(isinstance(env, CartPoleSwingUpEnv) for env in sub_envs)
    finally:
        envs.close()


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.parametrize("env_id", ["CartPoleSwingUp-v0", "CartPoleSwingUp-v1"])
def test_make_gives_adapter_that_passes_check_env(env_id):
    env = gymnasium.make(env_id)
    assert isinstance(env.unwrapped, CartPoleSwingUpEnv)
    check_env(env.unwrapped)
    check_env(env)


def test_adapter_seeding_is_reproducible():
    env = gymnasium.make("CartPoleSwingUp-v0")
    first, _ = env.reset(seed=42)
    again, _ = env.reset(seed=42)
    other, _ = env.reset(seed=43)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    fresh = gymnasium.make("CartPoleSwingUp-v0")
    np.testing.assert_array_equal(fresh.reset(seed=42)[0], first)


def test_twin_seeding_is_reproducible():
    envs = gymnasium.make_vec("CartPoleSwingUp-v0", num_envs=8)
    actions = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]
    first, _ = envs.reset(seed=42)
    first_next = envs.step(actions)[0]
    again, _ = envs.reset(seed=42)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(envs.step(actions)[0], first_next)
    other, _ = envs.reset(seed=43)
    assert not np.array_equal(first, other)
    assert len({tuple(row) for row in first}) == 8  # the envs start in different states


def test_rejects_what_it_does_not_support():
    with pytest.raises(ValueError):
        CartPoleSwingUpVectorEnv(reward="sparse")
    with pytest.raises(ValueError):
        CartPoleSwingUpVectorEnv(autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ValueError):
        CartPoleSwingUpEnv(reward="sparse")
    twin = CartPoleSwingUpVectorEnv(num_envs=2)
    with pytest.raises(RuntimeError):
        twin.step(np.zeros((2, 1)))
    twin.reset(seed=0)
    with pytest.raises(ValueError):
        twin.state = np.zeros((3, 4))


# --- old gym stays out of sight -----------------------------------------------------------
def test_import_does_not_import_gym_and_is_silent():
    script = """
import sys
import minipg.envs.swingup
assert "gym" not in sys.modules, "import minipg.envs.swingup imported gym"
import gymnasium
minipg.envs.swingup.register_swingup()
envs = gymnasium.make_vec("CartPoleSwingUp-v1", num_envs=2)
envs.reset(seed=0)
envs.step(envs.action_space.sample())
assert "gym" not in sys.modules, "the twin imported gym"
env = gymnasium.make("CartPoleSwingUp-v1")  # the adapter needs the package, hence gym
env.reset(seed=0)
assert "gym" in sys.modules
print("ok")
"""
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert result.stderr == ""  # not even old gym's "unmaintained" notice
