"""docs/recovery.py, the robustness measurements docs/seeds.md quotes: on a tiny swing-up checkpoint,
the returns from the env's own starts and the share of spinning starts caught."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
for folder in (REPO, REPO / "docs"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import recovery  # noqa: E402
import run_swingup  # noqa: E402
from minipg.tools import cli  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("recovery") / "tiny.safetensors"
    cli.main(run_swingup.SWINGUP, ["--num-envs", "8", "--T", "60", "--epochs", "1", "--hidden", "8", "8",
                                   "--value-steps", "2", "--update-epochs", "1", "--minibatch-size", "160",
                                   "--eval", "0", "--plot", str(path.with_suffix(".png")), "--save", str(path)])
    return path


def test_the_returns_are_full_deterministic_episodes_from_the_envs_starts(checkpoint):
    returns = recovery.returns_from_starts(*recovery.load(checkpoint), count=6)
    assert returns.shape == (6,) and np.all(np.abs(returns) <= 500)  # cos θ per step, 500 steps at most
    again = recovery.returns_from_starts(*recovery.load(checkpoint), count=6)
    np.testing.assert_array_equal(returns, again)  # a function of the seed


def test_recovery_is_a_share_and_an_untrained_policy_catches_no_spinning_pole(checkpoint, capsys):
    share = recovery.recovery(*recovery.load(checkpoint), count=20, steps=120)
    assert share == 0.0  # one epoch of training swings nothing up
    recovery.main([str(checkpoint)])
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith(f"| {checkpoint} | ") and row.endswith(" |")
