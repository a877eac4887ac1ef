"""make_env and make_single_env (envs/vector.py): actions clipped to Box bounds, missing optional
dependencies named with the command that installs them, MuJoCo's warnings as Python warnings (no
log file), and every registered gymnasium id through both scripts ending in training or in one
line, never a traceback."""

import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from minipg import DiagonalGaussianPolicy, Options, make_env, reinforce, train  # noqa: E402
from minipg.envs import make_single_env  # noqa: E402
from minipg.tools import cli  # noqa: E402


class StrictBox(gymnasium.Env):
    """An env whose Box(0, 10) actions must lie in their bounds: it raises otherwise, as a
    stricter env does.  Observation [t / 10]; episodes of 10 steps; reward −|a − 5|."""

    observation_space = spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float64)
    action_space = spaces.Box(0.0, 10.0, shape=(2,), dtype=np.float32)
    received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1), {}

    def step(self, action):
        if not self.action_space.contains(np.asarray(action, dtype=np.float32)):
            raise ValueError(f"action {action} outside {self.action_space}")
        StrictBox.received.append(np.array(action))
        self.t += 1
        return np.array([self.t / 10.0]), -float(np.abs(action - 5.0).sum()), self.t == 10, False, {}


gymnasium.register("minipg-test/StrictBox-v0", entry_point=StrictBox)


@pytest.mark.parametrize("loop", ["reinforce", "train"])
def test_box_actions_reach_the_env_within_their_bounds(loop):
    """A Gaussian policy samples far outside [0, 10] (σ = e² ≈ 7.4 around a mean near 0); the
    env receives every action clipped into its bounds, and the loop learns from the sampled
    (unclipped) actions, whose log π the update uses."""
    StrictBox.received.clear()
    env = make_env("minipg-test/StrictBox-v0", 3)
    policy = DiagonalGaussianPolicy(env, hidden=(4,), seed=0, log_std_init=2.0)
    if loop == "reinforce":
        reinforce(env, policy, epochs=2, T=25, seed=0)
    else:
        options = Options(env="minipg-test/StrictBox-v0", num_envs=3, T=25, epochs=2, lr=policy.lr)
        train(env, policy, options, seed=0)
    received = np.array(StrictBox.received)
    assert received.min() == 0.0 and received.max() == 10.0  # clipped, at both bounds
    assert ((received == 0.0) | (received == 10.0)).any() and ((received > 0.0) & (received < 10.0)).any()


def test_actions_are_clipped_on_their_way_in_only():
    env = make_env("minipg-test/StrictBox-v0", 2)
    env.reset(seed=0)
    StrictBox.received.clear()
    actions = np.array([[-3.0, 4.0], [12.0, 10.5]])
    env.step(actions)
    np.testing.assert_array_equal(np.array(StrictBox.received), [[0.0, 4.0], [10.0, 10.0]])
    np.testing.assert_array_equal(actions, [[-3.0, 4.0], [12.0, 10.5]])  # the caller's array is untouched
    assert env.single_action_space == StrictBox.action_space


def test_a_single_env_clips_its_actions_like_the_vector_envs():
    env = make_single_env("minipg-test/StrictBox-v0")
    env.reset(seed=0)
    StrictBox.received.clear()
    for action in ([-3.0, 4.0], [12.0, 10.5]):
        env.step(np.array(action))
    np.testing.assert_array_equal(np.array(StrictBox.received), [[0.0, 4.0], [10.0, 10.0]])
    assert env.action_space == StrictBox.action_space  # the bounds stay visible, unlike ClipAction's


def test_unbounded_and_discrete_actions_are_passed_as_they_are():
    assert not isinstance(make_env("CartPole-v1", 2), gymnasium.wrappers.vector.TransformAction)
    assert not isinstance(make_single_env("CartPole-v1"), gymnasium.wrappers.TransformAction)


@pytest.mark.parametrize("make", [lambda env_id: make_env(env_id, 2), make_single_env], ids=["vector", "single"])
def test_an_unknown_id_is_named(make):
    with pytest.raises(ValueError, match="^unknown environment id 'NoSuchEnv-v0': "):
        make("NoSuchEnv-v0")


@pytest.mark.parametrize("message, expected", [
    ("Box2D is not installed, you can install it by run `pip install swig` followed by `pip install "
     '"gymnasium[box2d]"`', "LunarLander-v3 needs Box2D, which is not installed: `make setup` installs minipg's "
     "optional extras, or run `.venv/bin/python -m pip install -e '.[box2d]'`"),
    ('MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`',
     "LunarLander-v3 needs MuJoCo, which is not installed: `make setup` installs minipg's optional extras, or "
     "run `.venv/bin/python -m pip install -e '.[mujoco]'`"),
    ("No module named 'jax'", "LunarLander-v3 needs a package that is not installed: No module named 'jax'"),
], ids=["box2d", "mujoco", "other"])
def test_a_missing_optional_dependency_is_named_with_its_install_command(message, expected, monkeypatch, capsys):
    def missing(*args, **kwargs):
        raise gymnasium.error.DependencyNotInstalled(message)

    monkeypatch.setattr(gymnasium, "make_vec", missing)
    monkeypatch.setattr(gymnasium, "make", missing)
    for make in (lambda: make_env("LunarLander-v3", 2), lambda: make_single_env("LunarLander-v3")):
        with pytest.raises(ValueError) as error:
            make()
        assert str(error.value) == expected
    with pytest.raises(SystemExit) as exit_:
        cli.main(run_cartpole.CARTPOLE, ["--env", "LunarLander-v3", "--epochs", "1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    # found once the flags parsed: one line, no usage block
    assert err.splitlines() == [f"run_cartpole.py: error: {expected} (see run_cartpole.py --help)"]


# Every registered id (gymnasium's and minipg's), through both scripts: training that completes,
# or one usage line.  Atari and the jax-based ids are among them when not installed.
ENV_IDS = sorted(env_id for env_id in gymnasium.registry if not env_id.startswith("minipg-test/"))


@pytest.mark.parametrize("experiment", [run_cartpole.CARTPOLE, run_swingup.SWINGUP], ids=["cartpole", "swingup"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_any_env_id_trains_or_ends_in_one_line(env_id, experiment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["--env", env_id, "--epochs", "1", "--T", "8", "--num-envs", "2", "--eval", "0", "--value-steps", "1",
            "--plot", str(tmp_path / "curve.png")]
    try:
        _, history = cli.main(experiment, argv)
    except SystemExit as exit_:
        err = capsys.readouterr().err
        assert exit_.code == 2, err
        assert err.splitlines()[-1].startswith(f"{experiment.prog}: error: "), err
        assert "Traceback" not in err
    else:
        assert len(history["loss"]) == 1


@pytest.mark.parametrize("make", [lambda env_id: make_env(env_id, 2), make_single_env], ids=["vector", "single"])
def test_mujoco_warnings_are_python_warnings_once_and_leave_no_log_file(make, mujoco_log):
    import mujoco

    make("HalfCheetah-v5").close()  # gymnasium's model makes MuJoCo 3.3+ warn
    assert not mujoco_log.exists()
    handler = mujoco.get_mju_user_warning()
    with pytest.warns(RuntimeWarning, match="MuJoCo: a test warning") as caught:
        handler("a test warning")
        handler("a test warning")
    assert len([w for w in caught if "a test warning" in str(w.message)]) == 1
