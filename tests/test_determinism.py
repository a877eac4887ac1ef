"""Determinism: a seed fixes a whole run of either script — per-epoch history (all but wall
time), final parameters, evaluation and the GIF — and another seed gives another run."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from minipg.tools import cli  # noqa: E402
from conftest import assert_same_state  # noqa: E402
from minipg.tools.checkpoint import load_checkpoint  # noqa: E402
from minipg.envs import make_env  # noqa: E402
from minipg.tools.evaluation import evaluate  # noqa: E402
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy  # noqa: E402
from minipg.tools.render import record_episode, render_episode_gif  # noqa: E402

# Short runs of each script: swing-up's default preset (value baseline, GAE, clipped-surrogate
# passes) made cheap; "cartpole-value" covers the value baseline on the post's loss.
SCRIPTS = {
    "cartpole": (run_cartpole.CARTPOLE, ["--num-envs", "4", "--T", "50", "--epochs", "3"]),
    "swingup": (run_swingup.SWINGUP, ["--num-envs", "8", "--T", "60", "--hidden", "8", "8", "--epochs", "3",
                                      "--value-steps", "2", "--update-epochs", "2", "--minibatch-size", "160"]),
    "cartpole-value": (run_cartpole.CARTPOLE, ["--num-envs", "4", "--T", "50", "--epochs", "2",
                                               "--baseline", "value"]),
}
ALL = pytest.mark.parametrize("script", sorted(SCRIPTS))


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def run(script, tmp_path, seed, tag, capsys, *flags):
    """One short run; returns (history, checkpoint, eval lines)."""
    experiment, base = SCRIPTS[script]
    path = tmp_path / f"{tag}.safetensors"
    capsys.readouterr()
    _, history = cli.main(experiment, base + ["--seed", str(seed), "--save", str(path), "--eval", "2",
                                              "--plot", str(tmp_path / f"{tag}.png"), *flags])
    evals = [line for line in capsys.readouterr().out.splitlines() if line.startswith("eval")]
    return history, load_checkpoint(path), evals


def bits(values):
    return np.asarray(values, dtype=float).tobytes()


@ALL
def test_same_seed_same_run(script, tmp_path, capsys):
    history_a, checkpoint_a, evals_a = run(script, tmp_path, 7, "a", capsys)
    history_b, checkpoint_b, evals_b = run(script, tmp_path, 7, "b", capsys)
    assert history_a.keys() == history_b.keys()
    for key in history_a:
        if key != "seconds":
            assert bits(history_a[key]) == bits(history_b[key]), key
    assert_same_state(checkpoint_a.state, checkpoint_b.state)  # parameters, Adam, generator, ...
    assert len(evals_a) == 4 and evals_a == evals_b  # sampled and deterministic evaluation


@pytest.mark.parametrize("script", ["cartpole", "swingup"])
def test_different_seeds_differ(script, tmp_path, capsys):
    history_a, checkpoint_a, _ = run(script, tmp_path, 7, "a", capsys)
    history_b, checkpoint_b, _ = run(script, tmp_path, 8, "b", capsys)
    assert bits(history_a["loss"]) != bits(history_b["loss"])
    # every network weight differs (a Gaussian's log σ may sit at the same scheduled cap)
    network = slice(-1 if checkpoint_a.architecture["policy"] == "DiagonalGaussianPolicy" else None)
    for a, b in zip(checkpoint_a.state["policy"]["parameters"][network],
                    checkpoint_b.state["policy"]["parameters"][network]):
        assert not np.array_equal(a, b)


def test_cartpole_gif_is_reproducible(tmp_path, capsys):
    experiment, base = SCRIPTS["cartpole"]
    for tag in ("a", "b"):
        cli.main(experiment, base + ["--epochs", "1", "--seed", "3", "--eval", "0",
                                     "--gif", str(tmp_path / f"{tag}.gif"), "--plot", str(tmp_path / "curve.png")])
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()


def swingup_policy(seed):
    return DiagonalGaussianPolicy(make_env("CartPoleSwingUp-v0", 1), hidden=(8, 8), seed=seed, log_std_init=0.0)


def test_swingup_gif_is_reproducible(tmp_path):
    agent = swingup_policy(0)
    paths = [render_episode_gif(agent, "CartPoleSwingUp-v0", tmp_path / f"{tag}.gif", seed=11, max_steps=40)
             for tag in ("a", "b")]
    assert paths[0][1] == paths[1][1]  # the episode's return
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    # another env seed starts (and so draws) another episode
    states_11, _ = record_episode(agent, "CartPoleSwingUp-v0", seed=11, max_steps=40)
    states_12, _ = record_episode(agent, "CartPoleSwingUp-v0", seed=12, max_steps=40)
    assert not np.array_equal(states_11, states_12)


def test_sampled_episode_is_reproducible_given_the_policy_seed():
    episodes = [record_episode(swingup_policy(5), "CartPoleSwingUp-v0", seed=1, deterministic=False,
                               max_steps=40)[0] for _ in range(2)]
    assert episodes[0].tobytes() == episodes[1].tobytes()
    other = record_episode(swingup_policy(6), "CartPoleSwingUp-v0", seed=1, deterministic=False, max_steps=40)[0]
    assert not np.array_equal(episodes[0], other)


@pytest.mark.parametrize("env_id, make_policy", [
    ("CartPole-v0", lambda seed: CategoricalPolicy(make_env("CartPole-v0", 1), seed=seed)),
    ("CartPoleSwingUp-v0", swingup_policy),
])
def test_evaluation_with_a_seed_is_reproducible(env_id, make_policy):
    agent = make_policy(0)
    deterministic = [evaluate(agent, env_id, 4, deterministic=True, seed=21) for _ in range(2)]
    assert deterministic[0].tobytes() == deterministic[1].tobytes()
    assert not np.array_equal(deterministic[0], evaluate(agent, env_id, 4, deterministic=True, seed=22))
    # sampled actions come from the policy's generator: the same policy seed, the same returns
    sampled = [evaluate(make_policy(1), env_id, 4, deterministic=False, seed=21) for _ in range(2)]
    assert sampled[0].tobytes() == sampled[1].tobytes()
    assert not np.array_equal(sampled[0], deterministic[0])


def test_evaluation_runs_batches_of_batch_size_episodes_seeded_one_after_the_other():
    agent = swingup_policy(0)
    returns = evaluate(agent, "CartPoleSwingUp-v0", 5, seed=21, batch_size=3)
    batches = [evaluate(agent, "CartPoleSwingUp-v0", 3, seed=21), evaluate(agent, "CartPoleSwingUp-v0", 2, seed=24)]
    assert returns.tobytes() == np.concatenate(batches).tobytes()
    assert not np.array_equal(returns, evaluate(agent, "CartPoleSwingUp-v0", 5, seed=21))  # one batch of 5
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            evaluate(agent, "CartPoleSwingUp-v0", 5, batch_size=bad)
