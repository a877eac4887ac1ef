"""vectorization = "envpool" (envs/envpool.py): EnvPool's copies of a task behind gymnasium's
VectorEnv interface.  Per suite task: gymnasium's spaces and episode limit, the autoreset EnvPool
really has, the reward scale, and (where a gymnasium env's state can be set) the same trajectory
from the same start state; a seed fixes a run bit for bit.  gymnasium stays the reference: every
comparison is against gymnasium's task of the same id.  Skipped, with the reason, when EnvPool is
not installed (`make setup` installs it), except the one line naming the missing package."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_swingup  # noqa: E402
from conftest import assert_same_state  # noqa: E402
from minipg import Options, make_env, make_policy, new_state, train  # noqa: E402
from minipg.envs import make_single_env  # noqa: E402
from minipg.envs.vector import single_spaces  # noqa: E402
from minipg.reinforce import transitions  # noqa: E402
from minipg.tools import cli  # noqa: E402
from minipg.tools.checkpoint import load_checkpoint, resume, save_checkpoint  # noqa: E402

needs_envpool = pytest.mark.skipif(importlib.util.find_spec("envpool") is None,
                                   reason="EnvPool is not installed: pip install -e '.[envpool]' (make setup does)")

CLASSIC = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]
MUJOCO = ["InvertedPendulum-v5", "HalfCheetah-v5", "Hopper-v5"]
BOX2D = ["LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3"]
SUITE = CLASSIC + BOX2D + MUJOCO


def envs(env_id, num_envs=2):
    """(EnvPool's vector env, gymnasium's single env) of env_id; skipped if gymnasium's needs an
    extra that is not installed."""
    try:
        reference = make_single_env(env_id)
    except ValueError as error:
        pytest.skip(str(error))
    return make_env(env_id, num_envs, "envpool"), reference


def random_actions(space, count, seed=0):
    space.seed(seed)
    return [space.sample() for _ in range(count)]


@needs_envpool
@pytest.mark.parametrize("env_id", SUITE)
def test_spaces_limit_and_autoreset_are_gymnasiums(env_id):
    env, reference = envs(env_id)
    assert single_spaces(env) == single_spaces(reference)
    assert env.unwrapped.max_episode_steps == reference.spec.max_episode_steps
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    observations, _ = env.reset(seed=0)
    assert observations.shape == (2, *reference.observation_space.shape)
    assert observations.dtype == reference.observation_space.dtype
    _, rewards, terminated, truncated, _ = env.step(env.action_space.sample())
    assert rewards.dtype == np.float64 and rewards.shape == (2,)
    assert terminated.dtype == truncated.dtype == bool


def start_state(env_id, observation, info):
    """The state of gymnasium's classic-control env (its `state`) or MuJoCo env ((qpos, qvel)) that
    EnvPool's copy 0 starts from: its observation, the angles recovered from their cos and sin,
    MuJoCo's x position (left out of the observation) from EnvPool's info."""
    o = observation[0].astype(np.float64)
    if env_id == "Pendulum-v1":
        return np.array([np.arctan2(o[1], o[0]), o[2]])
    if env_id == "Acrobot-v1":
        return np.array([np.arctan2(o[1], o[0]), np.arctan2(o[3], o[2]), o[4], o[5]])
    if env_id == "InvertedPendulum-v5":
        return o[:2], o[2:]
    if env_id in ("HalfCheetah-v5", "Hopper-v5"):
        positions = {"HalfCheetah-v5": 8, "Hopper-v5": 5}[env_id]
        return np.concatenate([info["x_position"][:1], o[:positions]]), o[positions:]
    return o


# Tolerances: classic control's observations are float32 in both (EnvPool computes some in float32,
# gymnasium in float64); MuJoCo's are float64 in both and agree to rounding, chaos aside (HalfCheetah's
# contacts grow a 1e-14 difference to 1e-6 in 50 steps: 20 are compared).  Rewards: EnvPool's float32.
@needs_envpool
@pytest.mark.parametrize("env_id", CLASSIC + MUJOCO)
def test_the_same_start_state_gives_the_same_trajectory(env_id):
    env, reference = envs(env_id, num_envs=1)
    observations, info = env.reset(seed=3)
    reference.reset(seed=0)
    state = start_state(env_id, observations, info)
    if env_id in MUJOCO:
        reference.unwrapped.set_state(*state)
        atol, steps = 1e-9, 20
    else:
        reference.unwrapped.state = state
        atol, steps = 1e-6, 200
    for t, action in enumerate(random_actions(reference.action_space, steps)):
        observations, rewards, terminated, truncated, _ = env.step(np.asarray([action]))
        observation, reward, reference_terminated, reference_truncated, _ = reference.step(action)
        np.testing.assert_allclose(observations[0], observation, rtol=0, atol=atol, err_msg=f"step {t}")
        assert rewards[0] == pytest.approx(reward, rel=1e-6, abs=1e-6), f"step {t}"
        assert (terminated[0], truncated[0]) == (reference_terminated, reference_truncated), f"step {t}"
        if reference_terminated or reference_truncated:
            break


# Constant actions under which these tasks never terminate: each episode runs to the time limit.
IDLE = {"Pendulum-v1": [0.0], "MountainCar-v0": 1, "MountainCarContinuous-v0": [0.0], "Acrobot-v1": 1,
        "HalfCheetah-v5": [0.0] * 6}


@needs_envpool
@pytest.mark.parametrize("env_id", sorted(IDLE))
def test_episodes_are_truncated_at_gymnasiums_limit_then_reset_on_the_next_step(env_id):
    env, reference = envs(env_id)
    limit = reference.spec.max_episode_steps
    actions = np.array([IDLE[env_id]] * 2)
    env.reset(seed=1)
    for t in range(1, limit + 1):
        _, rewards, terminated, truncated, info = env.step(actions)
        assert not terminated.any() and truncated.all() == (t == limit) and truncated.any() == (t == limit)
    observations, rewards, terminated, truncated, info = env.step(actions)  # NEXT_STEP: the reset
    assert (rewards == 0).all() and not (terminated | truncated).any() and (info["elapsed_step"] == 0).all()
    dones = np.zeros((limit + 1, 2), bool)
    dones[limit - 1] = True
    assert not transitions(env, dones)[limit].any()  # the loops mask that step


@needs_envpool
@pytest.mark.parametrize("env_id", BOX2D)
def test_box2d_rewards_have_gymnasiums_scale(env_id):
    """Box2D's state cannot be set: the scale is checked on random actions, over 8 copies × 300
    steps of each backend: a crash or fall ends the episode with −100 in both, and the other
    steps' mean reward agrees within a factor of 2 (their spread over seeds is about 1.5×)."""
    def rewards(vectorization):
        env = make_env(env_id, 8, vectorization)
        env.reset(seed=0)
        steps = [env.step(action)[1:3] for action in random_actions(env.action_space, 300)]
        rewards, terminated = (np.array(values) for values in zip(*steps))
        return rewards[terminated], rewards[~terminated].mean()

    envs(env_id)  # skipped without Box2D
    (ends, mean), (reference_ends, reference_mean) = rewards("envpool"), rewards("sync")
    assert len(ends) > 0 and len(reference_ends) > 0
    assert (ends == -100).all() and (reference_ends == -100).all()
    assert reference_mean < 0 and 0.5 < mean / reference_mean < 2


def run(env, steps=150, seeds=(5, 5, 6)):
    """Everything env returns over `steps` random steps after each seeded reset, as bytes."""
    out = []
    for seed in seeds:
        observations, _ = env.reset(seed=seed)
        out.append(observations.tobytes())
        for action in random_actions(env.action_space, steps, seed):
            out.extend(np.asarray(value).tobytes() for value in env.step(action)[:4])
    return out


@needs_envpool
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Hopper-v5"])
def test_a_seeded_reset_fixes_everything_after_it_bit_for_bit(env_id):
    first, second = run(make_env(env_id, 3, "envpool")), run(make_env(env_id, 3, "envpool"))
    assert first == second
    per_reset = len(first) // 3
    assert first[:per_reset] == first[per_reset:2 * per_reset]  # the same seed again: the same steps
    assert first[:per_reset] != first[2 * per_reset:]
    # copy i of seed s starts as copy 0 of seed s + i (gymnasium's rule for a vector env's copies)
    start = make_env(env_id, 3, "envpool").reset(seed=5)[0]
    assert np.array_equal(start[1], make_env(env_id, 1, "envpool").reset(seed=6)[0][0])


@needs_envpool
def test_box_actions_are_clipped_to_their_bounds():
    env, _ = envs("HalfCheetah-v5")  # EnvPool's HalfCheetah takes any action (its Pendulum clips by itself)
    outside, inside = [], []
    for actions, out in ((np.array([[5.0] * 6, [-9.0] * 6]), outside), (np.array([[1.0] * 6, [-1.0] * 6]), inside)):
        env.reset(seed=0)
        out.extend(np.asarray(value).tobytes() for value in env.step(actions)[:2])
    assert outside == inside


@needs_envpool
@pytest.mark.parametrize("env_id, options", [
    ("CartPole-v1", {}),
    ("Pendulum-v1", {"baseline": "value", "gae_lambda": 0.95, "clip_ratio": 0.2, "update_epochs": 2,
                     "minibatch_size": 64}),
])
def test_a_training_run_is_bit_for_bit_reproducible_for_a_seed(env_id, options):
    def history(seed):
        run_options = Options(env=env_id, num_envs=4, T=64, epochs=3, hidden=(8,), vectorization="envpool",
                              lr=0.01, **options)
        env = make_env(env_id, run_options.num_envs, run_options.vectorization)
        history = train(env, make_policy(env, run_options, seed), run_options, seed=seed)
        return {key: np.asarray(values).tobytes() for key, values in history.items() if key != "seconds"}

    assert history(1) == history(1)
    assert history(1)["loss"] != history(2)["loss"]


@needs_envpool
def test_a_resumed_run_continues_as_the_uninterrupted_one(tmp_path):
    """Each epoch's seeded reset rebuilds the pool, so a run saved after 2 epochs and resumed
    in a new process's env steps exactly as the run that went on."""
    options = Options(env="CartPole-v1", num_envs=4, T=40, epochs=4, lr=0.01, vectorization="envpool")

    def new_run():
        env = make_env(options.env, options.num_envs, options.vectorization)
        policy = make_policy(env, options, seed=3)
        return env, policy, new_state(policy, options)

    env, policy, straight = new_run()
    train(env, policy, options, seed=3, state=straight)
    path = tmp_path / "half.safetensors"
    env, policy, state = new_run()
    train(env, policy, dataclasses.replace(options, epochs=2), seed=3, state=state)
    save_checkpoint(path, state, {**options.asdict(), "seed": 3})
    env = make_env(options.env, options.num_envs, options.vectorization)
    resumed = resume(load_checkpoint(path), env)
    train(env, resumed.policy, options, seed=3, state=resumed)
    assert_same_state(straight.state_dict(), resumed.state_dict())


@needs_envpool
def test_a_task_envpool_lacks_is_one_line(capsys):
    with pytest.raises(ValueError) as error:
        make_env("CartPoleSwingUp-v0", 2, "envpool")
    message = "EnvPool has no task 'CartPoleSwingUp-v0'; use vectorization auto, vector, sync or async"
    assert str(error.value) == message
    with pytest.raises(SystemExit) as exit_:
        cli.main(run_swingup.SWINGUP, ["--vectorization", "envpool", "--epochs", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"run_swingup.py: error: {message} (see run_swingup.py --help)"
    assert "Traceback" not in err


def test_envpool_not_installed_is_one_line_naming_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "envpool", None)  # import envpool raises ImportError
    with pytest.raises(ValueError) as error:
        make_env("CartPole-v1", 2, "envpool")
    assert str(error.value) == ("vectorization 'envpool' needs EnvPool, which is not installed: `make setup` "
                                "installs minipg's optional extras, or run "
                                "`.venv/bin/python -m pip install -e '.[envpool]'`")


def test_envpool_is_a_value_of_the_vectorization_option():
    assert Options(vectorization="envpool").vectorization == "envpool"
