"""Several learners in one run (Options.learners, minipg/tools/run.py): learner k of seed S is the
one-learner run of learner_seeds(S)[k] bit for bit, the kept one is chosen by training returns,
and what is saved, resumed, interrupted or stopped by a NaN is that learner's."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_swingup  # noqa: E402
from minipg.policies import NonFiniteError  # noqa: E402
from minipg.tools import cli  # noqa: E402
from minipg.tools import run as run_module  # noqa: E402
from minipg.tools.checkpoint import load_checkpoint  # noqa: E402
from minipg.tools.run import kept_learner, learner_score, learner_seeds  # noqa: E402
from test_cli import assert_same_run, interrupt_after  # noqa: E402

# The swing-up's solve preset, tiny (as in test_cli.py): value fit, GAE, clipped passes.
TINY = ["--learners", "1", "--num-envs", "8", "--T", "60", "--hidden", "8", "8", "--value-steps", "2",
        "--update-epochs", "2", "--minibatch-size", "160", "--eval", "0", "--epochs", "3"]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default plot would land in runs/ of the working directory


def main(tmp_path, *flags):
    return cli.main(run_swingup.SWINGUP, TINY + ["--plot", str(tmp_path / "curve.png"), *map(str, flags)])


def history(mean_returns):
    return {"mean_return": list(mean_returns)}


def test_learner_seeds_are_the_seed_then_derived_32_bit_seeds():
    assert learner_seeds(7, 1) == [7]
    seeds = learner_seeds(7, 3)
    assert seeds[0] == 7 and len(set(seeds)) == 3
    assert all(isinstance(seed, int) and 0 <= seed < 2**32 for seed in seeds)
    assert seeds == learner_seeds(7, 3) and learner_seeds(7, 2) == seeds[:2]  # a function of (seed, k)
    assert learner_seeds(8, 2)[1] != seeds[1]


def test_the_kept_learner_has_the_best_mean_return_over_its_last_10_epochs():
    early_star = history([500.0] + [10.0] * 10)  # only its last 10 epochs count
    steady = history([0.0] + [20.0] * 10)
    assert learner_score(early_star) == 10.0
    assert kept_learner([early_star, steady]) == 1
    assert kept_learner([steady, steady]) == 0  # a tie: the first
    assert kept_learner([history([np.nan] * 3), history([-500.0])]) == 1  # no finished episode: −inf
    assert kept_learner([history([50.0]), history([60.0])], failed=[1]) == 0  # a NaN stopped learner 1
    # A stop left learner 0 an epoch ahead: both are judged over the epochs both completed.
    assert kept_learner([history([10.0, 10.0, 90.0]), history([20.0, 20.0])]) == 1


# Whole 500-step episodes, so that every epoch has a mean return to choose by.
EPISODES = ["--T", 500, "--minibatch-size", 1000]


def test_each_learner_is_the_one_learner_run_of_its_seed(tmp_path, capsys):
    main(tmp_path, *EPISODES, "--seed", 3, "--learners", 2, "--save", tmp_path / "both.safetensors",
         "--csv", tmp_path / "both.csv", "--eval", 3)
    out = capsys.readouterr().out
    seeds = learner_seeds(3, 2)
    assert f"2 learners at once (seeds 3, {seeds[1]})" in out
    assert out.count("learner 1: epoch ") == 3
    alone = {}
    for seed in seeds:
        main(tmp_path, *EPISODES, "--seed", seed, "--save", tmp_path / f"{seed}.safetensors", "--eval", 3)
        alone[seed] = load_checkpoint(tmp_path / f"{seed}.safetensors")
        evaluations = [line for line in capsys.readouterr().out.splitlines() if line.startswith("eval")]
        if seed == seeds[1]:  # the kept learner is evaluated as its own run is
            assert evaluations == [line for line in out.splitlines() if line.startswith("eval")]
    scores = [learner_score(alone[seed].history) for seed in seeds]
    assert scores[1] > scores[0]  # this seed's second learner is ahead: the kept one is not the first
    kept = seeds[1]
    assert f"kept learner {seeds.index(kept)} (seed {kept})" in out
    saved = load_checkpoint(tmp_path / "both.safetensors")
    assert saved.config["seed"] == kept and saved.config["learners"] == 1  # resumable as its own run
    assert_same_run(saved, alone[kept])
    assert (tmp_path / "both.csv").read_text().count("\n") == 1 + 3


def test_a_saved_learner_resumes_alone_and_a_resumed_run_has_one_learner(tmp_path, capsys):
    main(tmp_path, "--seed", 3, "--learners", 2, "--save", tmp_path / "both.safetensors")
    kept = load_checkpoint(tmp_path / "both.safetensors").config["seed"]
    main(tmp_path, "--load", tmp_path / "both.safetensors", "--epochs", 4, "--save", tmp_path / "more.safetensors")
    assert load_checkpoint(tmp_path / "more.safetensors").epoch == 4
    assert load_checkpoint(tmp_path / "more.safetensors").config["seed"] == kept
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(tmp_path, "--load", tmp_path / "both.safetensors", "--learners", 2)
    assert exit_info.value.code == 2
    assert "--learners" in capsys.readouterr().err


def test_ctrl_c_stops_every_learner_and_saves_the_one_ahead(tmp_path, monkeypatch, capsys):
    # Both learners poll the one flag after each env step, and meet after each epoch: 2 × 60 polls
    # end epoch 1, and 30 more (fewer than one learner's 60) stop both in epoch 2.
    monkeypatch.setattr(run_module, "Interrupt", interrupt_after(2 * 60 + 30))
    with pytest.raises(SystemExit) as exit_info:
        main(tmp_path, "--seed", 3, "--learners", 2, "--save", tmp_path / "stopped.safetensors")
    assert exit_info.value.code == 130
    out = capsys.readouterr().out
    assert "interrupted after 1 complete epochs" in out
    assert "kept learner" in out and "alone goes on" not in out  # chosen at the stop, not early
    saved = load_checkpoint(tmp_path / "stopped.safetensors")
    assert saved.epoch == 1 and saved.config["seed"] in learner_seeds(3, 2)


def nan_in_learners(monkeypatch, seeds, epoch):
    """run_module.run_loop, but the learners of `seeds` raise NonFiniteError after `epoch` epochs."""
    real_run_loop = run_module.run_loop

    def run_loop(env, policy, options, seed, callback, state):
        def fail(done, history):
            callback(done, history)
            if seed in seeds and done + 1 == epoch:
                raise NonFiniteError("the loss is nan")
        return real_run_loop(env, policy, options, seed, fail, state)

    monkeypatch.setattr(run_module, "run_loop", run_loop)


def test_a_nan_in_one_learner_drops_it_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    seeds = learner_seeds(3, 2)
    nan_in_learners(monkeypatch, {seeds[1]}, epoch=1)
    main(tmp_path, "--seed", 3, "--learners", 2, "--save", tmp_path / "kept.safetensors", "--eval", 2)
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: learner 1 (seed {seeds[1]}) stopped in epoch 2: the loss is nan; "
                                "dropped, the others went on"]
    assert out.count("learner 0: epoch ") == 3 and out.count("learner 1: epoch ") == 1
    saved = load_checkpoint(tmp_path / "kept.safetensors")
    assert saved.config["seed"] == 3 and saved.epoch == 3
    assert "eval (deterministic)" in out


def test_a_nan_in_every_learner_stops_the_run_in_one_line(tmp_path, monkeypatch, capsys):
    nan_in_learners(monkeypatch, set(learner_seeds(3, 2)), epoch=2)
    with pytest.raises(SystemExit) as exit_info:
        main(tmp_path, "--seed", 3, "--learners", 2, "--save", tmp_path / "nan.safetensors")
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "stopped: learner 0: epoch 3: the loss is nan; learner 1: epoch 3: the loss is nan. Outputs keep the 2 "
        "good epochs; the last checkpoint written before this epoch is kept."]
    assert not (tmp_path / "nan.safetensors").exists()  # as with one learner: no checkpoint of a NaN run


def test_resuming_names_the_run_a_kept_learner_came_from(tmp_path, capsys):
    main(tmp_path, *EPISODES, "--seed", 3, "--learners", 2, "--save", tmp_path / "both.safetensors")
    kept = learner_seeds(3, 2)[1]
    assert f"checkpoint: {tmp_path / 'both.safetensors'} (learner 1: --seed {kept})" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "both.safetensors").config["learner_of"] == {"seed": 3, "learners": 2,
                                                                                  "learner": 1}
    for flags, message in [(["--seed", 3], "(got --seed 3; leave --seed out)"),
                           (["--learners", 2], "(got --learners 2; leave --learners out)")]:
        with pytest.raises(SystemExit):
            main(tmp_path, "--load", tmp_path / "both.safetensors", *flags)
        err = capsys.readouterr().err
        assert ("holds learner 1 of a run of --seed 3 --learners 2, saved as the one-learner run of its own "
                f"--seed {kept}") in err
        assert message in err


def test_memory_is_counted_for_every_learner():
    import gymnasium
    from minipg import Options
    env = gymnasium.make("CartPole-v1")
    one = run_module.memory_needed(Options(env="CartPole-v1"), env.observation_space, env.action_space)
    two = run_module.memory_needed(Options(env="CartPole-v1", learners=2), env.observation_space,
                                   env.action_space)
    assert sum(two.values()) == 2 * sum(one.values())
    assert all("--learners 2" in flags for _, flags in two)


def test_select_after_keeps_one_learner_from_that_epoch_and_it_is_its_seeds_run(tmp_path, capsys):
    """--select-after K: the learner kept_learner picks after epoch K trains alone to the end, and is
    the one-learner run of its seed (the others stop at K: their progress ends there)."""
    main(tmp_path, *EPISODES, "--seed", 3, "--learners", 2, "--select-after", 2, "--epochs", 4,
         "--save", tmp_path / "early.safetensors", "--csv", tmp_path / "early.csv", "--eval", 2)
    out = capsys.readouterr().out
    seeds = learner_seeds(3, 2)
    assert "over epoch 2's last 10 epochs, and only it goes on from there" in out
    alone = {}
    for seed in seeds:
        main(tmp_path, *EPISODES, "--seed", seed, "--epochs", 4, "--save", tmp_path / f"{seed}.safetensors",
             "--eval", 2)
        alone[seed] = load_checkpoint(tmp_path / f"{seed}.safetensors")
    capsys.readouterr()
    scores = [learner_score({"mean_return": alone[seed].history["mean_return"][:2]}) for seed in seeds]
    k = int(scores[1] > scores[0])
    assert f"kept learner {k} (seed {seeds[k]}) after epoch 2; it alone goes on" in out
    assert out.count(f"learner {k}: epoch ") == 4 and out.count(f"learner {1 - k}: epoch ") == 2
    assert out.count("kept learner") == 1
    saved = load_checkpoint(tmp_path / "early.safetensors")
    assert saved.config["seed"] == seeds[k] and saved.config["select_after"] is None
    assert_same_run(saved, alone[seeds[k]])
    assert (tmp_path / "early.csv").read_text().count("\n") == 1 + 4


def test_select_after_needs_several_learners_and_an_epoch_before_the_end(tmp_path, capsys):
    for flags in (["--select-after", 2], ["--learners", 2, "--select-after", 3]):
        with pytest.raises(SystemExit) as exit_info:
            main(tmp_path, *flags)
        assert exit_info.value.code == 2
        assert "--select-after needs --learners of 2 or more and fewer epochs than --epochs" in capsys.readouterr().err


def test_a_nan_in_the_learner_chosen_after_select_after_stops_the_run(tmp_path, monkeypatch, capsys):
    seeds = learner_seeds(3, 2)
    nan_in_learners(monkeypatch, set(seeds), epoch=3)  # whichever is chosen after epoch 2 fails in epoch 3
    with pytest.raises(SystemExit) as exit_info:
        main(tmp_path, *EPISODES, "--seed", 3, "--learners", 2, "--select-after", 2, "--epochs", 4,
             "--save", tmp_path / "nan.safetensors")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("stopped: learner ") and ": epoch 4: the loss is nan." in err[0]
    assert err[0].count("the loss is nan") == 1  # the learner that stopped at epoch 2 did not fail
