"""run_cartpole.py and run_swingup.py used like real tools: save and resume, periodic
checkpoints, evaluation, GIF, CSV, several seeds, plots, and Ctrl-C / SIGTERM.

Most runs call `minipg.tools.cli.main` in-process with tiny configurations (a few envs, a short
rollout, 2–5 epochs) and write into pytest's tmp_path; two run the scripts as real
subprocesses to check exit statuses and what reaches the terminal.
"""

import csv
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from conftest import assert_same_state  # noqa: E402
from minipg import options  # noqa: E402
from minipg.__main__ import run as minipg_main  # noqa: E402
from minipg.tools import cli  # noqa: E402
from minipg.tools import run as run_module  # noqa: E402
from minipg.tools.checkpoint import load_checkpoint  # noqa: E402
from minipg.policies import LOG_STD_MAX, LOG_STD_MIN  # noqa: E402

# Tiny configurations of each script; later flags on a command line override these.  Swing-up
# keeps its default preset (value baseline, GAE, terminal value, clipped-surrogate passes) with
# a value fit of 2 steps and 2 passes of 3 minibatches, so that it stays cheap.
SCRIPTS = {
    "cartpole": (run_cartpole.CARTPOLE, ["--num-envs", "4", "--T", "50", "--eval", "0"]),
    "swingup": (run_swingup.SWINGUP, ["--num-envs", "8", "--T", "60", "--hidden", "8", "8",
                                      "--value-steps", "2", "--update-epochs", "2",
                                      "--minibatch-size", "160", "--eval", "0"]),
}
STEPS_PER_EPOCH = {"cartpole": 4 * 50, "swingup": 8 * 60}
BOTH = pytest.mark.parametrize("script", sorted(SCRIPTS))

EVAL_LINE = r"eval: mean return -?\d+\.\d ± \d+\.\d over {n} episodes \({kind}\)"
PROGRESS_LINE = re.compile(r"^epoch +\d+/\d+ ")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Run in tmp_path, so that nothing (e.g. a default runs/ plot) lands in the repository."""
    monkeypatch.chdir(tmp_path)


def run(script, tmp_path, *flags):
    """main() of one script with its tiny config, the plot in tmp_path; returns (agent, history)."""
    experiment, base = SCRIPTS[script]
    return cli.main(experiment, base + ["--plot", str(tmp_path / "curve.png"), *map(str, flags)])


def assert_same_run(a, b):
    """Two checkpoints hold bitwise the same run: history (but wall time), parameters, Adam
    state, generator state, and whatever else the run's state has (a value baseline).  Where
    the schedules start is left out: a run extended with --epochs rejoins them at the epoch it
    resumed from, with the values they had reached (the same rates, from another start)."""
    assert a.epoch == b.epoch
    assert_same_state(a.state, b.state, ignore=("history.seconds", "schedules.epoch", "schedules.lr",
                                                "schedules.log_std_cap"))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def interrupt_after(polls):
    """A stand-in for run_module.Interrupt that reports Ctrl-C from the (polls + 1)-th poll on.

    reinforce polls after every env step, so polls = k·T + j stops in the middle of epoch k + 1.
    """
    class ScriptedInterrupt(run_module.Interrupt):
        count = 0

        def __call__(self):
            ScriptedInterrupt.count += 1
            if ScriptedInterrupt.count > polls:
                self.requested = True
            return self.requested

    return ScriptedInterrupt


# ------------------------------------------------------------------ save / load / resume
@BOTH
def test_save_then_load_resumes_exactly(script, tmp_path, capsys):
    # --lr-decay and --log-std-final (on in swing-up's preset) follow schedules over --epochs,
    # so a 2-epoch run is another run than the first half of a 4-epoch one; the
    # interrupted-run test below resumes with the schedules on.
    flags = ["--no-lr-decay", "--log-std-final", "none"]
    _, straight = run(script, tmp_path, *flags, "--epochs", 4, "--save", tmp_path / "straight.npz")
    run(script, tmp_path, *flags, "--epochs", 2, "--save", tmp_path / "half.npz")
    capsys.readouterr()
    _, resumed = run(script, tmp_path, "--epochs", 4, "--load", tmp_path / "half.npz",
                     "--save", tmp_path / "resumed.npz")
    out = capsys.readouterr().out
    assert f"loaded {tmp_path / 'half.npz'}: 2 epochs done" in out
    assert [line.split("/")[0] for line in out.splitlines() if PROGRESS_LINE.match(line)] == \
        ["epoch 3", "epoch 4"]
    for key in straight:
        if key != "seconds":
            assert np.array_equal(straight[key], resumed[key], equal_nan=True), key
    assert_same_run(load_checkpoint(tmp_path / "straight.npz"), load_checkpoint(tmp_path / "resumed.npz"))
    assert load_checkpoint(tmp_path / "half.npz").epoch == 2


@pytest.mark.parametrize("extra", [[], ["--gae-lambda", "0.9", "--bootstrap"],
                                   ["--gae-lambda", "0.9", "--bootstrap", "--normalize-observations",
                                    "--normalize-rewards"]],
                         ids=["value", "gae-bootstrap", "normalized"])
def test_value_baseline_resumes_exactly(extra, tmp_path, capsys):
    """The learned value baseline is part of the run: a resumed run restores it too (also with
    GAE and bootstrapping, which fit it to λ-returns), and the normalization's statistics."""
    flags = ["--baseline", "value", *extra]
    run("cartpole", tmp_path, *flags, "--epochs", 3, "--save", tmp_path / "straight.npz")
    run("cartpole", tmp_path, *flags, "--epochs", 2, "--save", tmp_path / "half.npz")
    run("cartpole", tmp_path, *flags, "--epochs", 3, "--load", tmp_path / "half.npz",
        "--save", tmp_path / "resumed.npz")
    straight, resumed = load_checkpoint(tmp_path / "straight.npz"), load_checkpoint(tmp_path / "resumed.npz")
    assert_same_run(straight, resumed)


@BOTH
def test_save_every_writes_checkpoints_during_training(script, tmp_path, monkeypatch):
    written = []  # (epochs in the state saved, epoch and history length read back from the file)

    def spy(path, state, config):
        cli_save(path, state, config)
        checkpoint = load_checkpoint(path)
        written.append((len(state.history["loss"]), checkpoint.epoch, len(checkpoint.history["loss"])))

    cli_save = run_module.save_checkpoint
    monkeypatch.setattr(run_module, "save_checkpoint", spy)
    run(script, tmp_path, "--epochs", 5, "--save", tmp_path / "run.npz", "--save-every", 2)
    # every 2nd epoch during training, then once at the end
    assert written == [(2, 2, 2), (4, 4, 4), (5, 5, 5)]


@BOTH
def test_load_with_epochs_reached_only_evaluates(script, tmp_path, capsys):
    path = tmp_path / "run.npz"
    run(script, tmp_path, "--epochs", 2, "--save", path)
    before = path.read_bytes()
    capsys.readouterr()
    _, history = run(script, tmp_path, "--epochs", 2, "--load", path, "--eval", 2)
    out = capsys.readouterr().out
    assert "2 epochs done" in out
    assert not [line for line in out.splitlines() if PROGRESS_LINE.match(line)]  # no training
    assert "done:" not in out
    assert re.fullmatch(EVAL_LINE.format(n=2, kind="deterministic"), out.splitlines()[-1])
    assert len(history["loss"]) == 2
    assert path.read_bytes() == before


def test_load_alone_continues_the_saved_run(tmp_path, monkeypatch, capsys):
    """--load alone trains to the epochs the run was started with, under its preset (not the
    script's default preset's epochs); --epochs N extends or shortens it explicitly."""
    experiment, base = SCRIPTS["swingup"]
    T = int(base[base.index("--T") + 1])
    # (the blog preset takes one step per rollout: the tiny config's passes are switched off)
    started = ["--preset", "blog", "--epochs", 4, "--update-epochs", 1, "--minibatch-size", "none"]
    run("swingup", tmp_path, *started, "--save", tmp_path / "straight.npz")
    monkeypatch.setattr(run_module, "Interrupt", interrupt_after(T + T // 2))  # stopped in epoch 2
    with pytest.raises(SystemExit):
        run("swingup", tmp_path, *started, "--save", tmp_path / "run.npz")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run.npz").epoch == 1
    capsys.readouterr()

    def resume(*flags):
        cli.main(experiment, ["--load", str(tmp_path / "run.npz"), "--eval", "0",
                              "--plot", str(tmp_path / "resumed.png"), *map(str, flags)])
        return [line.split()[1] for line in capsys.readouterr().out.splitlines()
                if PROGRESS_LINE.match(line)]

    assert resume("--epochs", 3, "--save", tmp_path / "shortened.npz") == ["2/3", "3/3"]
    assert resume("--epochs", 6, "--save", tmp_path / "extended.npz") == ["2/6", "3/6", "4/6", "5/6", "6/6"]
    assert resume("--save", tmp_path / "resumed.npz") == ["2/4", "3/4", "4/4"]
    resumed = load_checkpoint(tmp_path / "resumed.npz")
    assert resumed.config["preset"] == "blog" and resumed.config["epochs"] == 4
    assert_same_run(load_checkpoint(tmp_path / "straight.npz"), resumed)
    assert load_checkpoint(tmp_path / "extended.npz").config["epochs"] == 6


def test_help_says_what_load_alone_does(capsys):
    with pytest.raises(SystemExit):
        cli.main(run_cartpole.CARTPOLE, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--load alone continues the run to the epochs it was started with" in text
    assert "--epochs N extends or shortens it to N in total" in text



def test_help_gives_no_none_defaults_and_python_m_minipg_needs_its_env(capsys):
    with pytest.raises(SystemExit):
        cli.main(run_cartpole.CARTPOLE, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text and "(default: runs/<name>-seed<seed>.png)" in text
    with pytest.raises(SystemExit):
        cli.main(cli.task_script(["--help"]), ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--env ENV gymnasium environment id (required, unless --preset or --load gives it)" in text


@pytest.mark.parametrize("flag", ["--hidden", "--value-hidden"])
def test_sizes_none_is_no_hidden_layer_and_stands_alone(flag, capsys):
    args = cli.parse_args(run_cartpole.CARTPOLE, [flag, "none"])
    assert getattr(args.options, flag[2:].replace("-", "_")) == ()
    with pytest.raises(SystemExit):
        cli.parse_args(run_cartpole.CARTPOLE, [flag, "none", "4"])
    assert f"argument {flag}: 'none' (no hidden layer) stands alone, got none 4" in capsys.readouterr().err

# ------------------------------------------------------------------ outputs
@BOTH
def test_eval_prints_sampled_then_deterministic(script, tmp_path, capsys):
    run(script, tmp_path, "--epochs", 1, "--eval", 3)
    lines = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(EVAL_LINE.format(n=3, kind="sampled"), line) for line in lines)
    assert re.fullmatch(EVAL_LINE.format(n=3, kind="deterministic"), lines[-1])


@BOTH
def test_gif_is_an_animation(script, tmp_path, capsys):
    path = tmp_path / "episode.gif"
    run(script, tmp_path, "--epochs", 1, "--gif", path)
    assert f"gif: {path}" in capsys.readouterr().out
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames > 1


@BOTH
def test_csv_has_one_row_per_epoch(script, tmp_path):
    path = tmp_path / "run.csv"
    _, history = run(script, tmp_path, "--epochs", 3, "--csv", path)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "avg_reward", "mean_return", "episodes", "loss", "entropy", "log_std",
                       "env_steps", "steps_per_s", "wall_seconds"]
    body = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [row["epoch"] for row in body] == ["1", "2", "3"]
    assert [int(row["env_steps"]) for row in body] == [STEPS_PER_EPOCH[script] * k for k in (1, 2, 3)]
    assert [float(row["loss"]) for row in body] == history["loss"]
    if script == "swingup":
        assert [float(row["log_std"]) for row in body] == history["log_std"]
    for row in body:
        for column in ("avg_reward", "mean_return", "entropy", "steps_per_s", "wall_seconds"):
            float(row[column])  # numbers (NaN when no episode ended), never empty
        if script == "swingup":
            assert LOG_STD_MIN <= float(row["log_std"]) <= LOG_STD_MAX
        else:
            assert row["log_std"] == ""
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


@BOTH
@pytest.mark.filterwarnings("error::RuntimeWarning")  # pytest would otherwise swallow them
def test_plot_is_written_and_stderr_stays_quiet(script, tmp_path, capsys):
    path = tmp_path / "figures" / "curve.png"
    run(script, tmp_path, "--epochs", 2, "--plot", path)
    captured = capsys.readouterr()
    assert f"learning curve: {path}" in captured.out
    with Image.open(path) as image:
        assert image.format == "PNG"
    # a successful run writes nothing to stderr (no NumPy "Mean of empty slice" warnings
    # when, as here for swing-up, no episode ended)
    assert captured.err == ""


@BOTH
def test_several_seeds_give_one_band_plot_and_a_table(script, tmp_path, capsys):
    run(script, tmp_path, "--epochs", 2, "--seeds", 0, 1, "--eval", 2)
    captured = capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]  # one plot, no per-seed ones
    assert f"learning curves (mean ± std over seeds): {tmp_path / 'curve.png'}" in captured.out
    with Image.open(tmp_path / "curve.png") as image:
        assert image.format == "PNG"
    lines = captured.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["seed", "epochs"])
    assert header == len(lines) - 3  # the table ends the output: header and one row per seed
    for seed, line in zip((0, 1), lines[header + 1:]):
        cells = line.split()
        assert cells[:2] == [str(seed), "2"], line
        assert len(cells) > 2
        for cell in cells[2:]:
            float(cell)  # numbers (nan where no episode ended)
    assert captured.err == ""


# ------------------------------------------------------------------ Ctrl-C and SIGTERM
@BOTH
def test_interrupted_run_keeps_its_outputs_and_resumes_exactly(script, tmp_path, monkeypatch, capsys):
    experiment, base = SCRIPTS[script]
    T = int(base[base.index("--T") + 1])
    outputs = ["--csv", tmp_path / "run.csv", "--save", tmp_path / "run.npz"]
    _, straight = run(script, tmp_path, "--epochs", 4, "--save", tmp_path / "straight.npz")
    capsys.readouterr()

    # Ctrl-C in the middle of epoch 3: the rollout of epoch 3 is dropped
    real_interrupt = run_module.Interrupt
    monkeypatch.setattr(run_module, "Interrupt", interrupt_after(2 * T + T // 3))
    with pytest.raises(SystemExit) as stopped:
        run(script, tmp_path, "--epochs", 4, *outputs, "--plot", tmp_path / "interrupted.png")
    assert stopped.value.code == run_module.EXIT_INTERRUPTED == 130
    out = capsys.readouterr().out
    assert "interrupted after 2 complete epochs" in out
    assert len(read_csv(tmp_path / "run.csv")) == 1 + 2
    assert (tmp_path / "interrupted.png").stat().st_size > 0
    checkpoint = load_checkpoint(tmp_path / "run.npz")
    assert checkpoint.epoch == 2 and len(checkpoint.history["loss"]) == 2

    # resumed, the run continues as if never interrupted (swing-up: with its lr decay on)
    monkeypatch.setattr(run_module, "Interrupt", real_interrupt)
    _, resumed = run(script, tmp_path, "--epochs", 4, "--load", tmp_path / "run.npz", *outputs)
    assert_same_run(load_checkpoint(tmp_path / "straight.npz"), load_checkpoint(tmp_path / "run.npz"))
    assert len(read_csv(tmp_path / "run.csv")) == 1 + 4


# Ctrl-C and SIGTERM (what timeout, Slurm, Kubernetes and systemd send) are handled alike.
SIGNALS = pytest.mark.parametrize("signum, status, notice", [
    (signal.SIGINT, 130, "interrupted: stopping after this step (Ctrl-C again to abort)"),
    (signal.SIGTERM, 143, "SIGTERM: stopping after this step"),
], ids=["SIGINT", "SIGTERM"])


@SIGNALS
def test_real_signal_in_process_stops_after_the_epoch(signum, status, notice, tmp_path, monkeypatch, capsys):
    """The real Interrupt handler: the signal sent right after epoch 2's progress line."""
    progress = run_module.format_progress

    def progress_then_signal(epoch, epochs, history):
        if epoch == 1:
            os.kill(os.getpid(), signum)
        return progress(epoch, epochs, history)

    monkeypatch.setattr(run_module, "format_progress", progress_then_signal)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit) as stopped:
        run("cartpole", tmp_path, "--epochs", 50, "--csv", tmp_path / "run.csv", "--save", tmp_path / "run.npz",
            "--eval", 5, "--gif", tmp_path / "run.gif")
    assert stopped.value.code == status
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the handlers are restored
    out = capsys.readouterr().out
    assert notice in out
    assert "interrupted after 2 complete epochs" in out
    assert "eval:" not in out and not (tmp_path / "run.gif").exists()  # no evaluation after Ctrl-C
    assert load_checkpoint(tmp_path / "run.npz").epoch == 2
    assert len(read_csv(tmp_path / "run.csv")) == 1 + 2
    assert (tmp_path / "curve.png").exists()


@SIGNALS
def test_signal_to_a_real_process(signum, status, notice, tmp_path):
    csv_path, checkpoint_path, plot_path = tmp_path / "run.csv", tmp_path / "run.npz", tmp_path / "curve.png"
    command = [sys.executable, "-u", str(REPO / "run_cartpole.py"), "--epochs", "1000", "--T", "200",
               "--num-envs", "4", "--eval", "0", "--csv", str(csv_path), "--save", str(checkpoint_path),
               "--plot", str(plot_path)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 30
        for line in process.stdout:
            if PROGRESS_LINE.match(line) or time.monotonic() > deadline:
                break
        assert PROGRESS_LINE.match(line), line
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == status, err
    assert notice in out
    assert "interrupted after" in out
    assert "Traceback" not in err
    checkpoint = load_checkpoint(checkpoint_path)
    assert 1 <= checkpoint.epoch < 1000
    assert len(read_csv(csv_path)) == 1 + checkpoint.epoch
    with Image.open(plot_path) as image:
        assert image.format == "PNG"


def test_successful_subprocess_run(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "run_cartpole.py"), "--epochs", "2", "--T", "50", "--num-envs", "4",
         "--eval", "3", "--plot", str(tmp_path / "curve.png")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert re.fullmatch(EVAL_LINE.format(n=3, kind="deterministic"), result.stdout.splitlines()[-1])


# ------------------------------------------------------------------ resuming with new settings
def policy_rates(monkeypatch):
    """Record the learning rate of every policy step (Adam's rate at that step) from now on."""
    from minipg.policies import Policy

    rates, step = [], Policy.step

    def recording(self, *args, **kwargs):
        rates.append(self.opt.lr)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Policy, "step", recording)
    return rates


def test_flags_given_with_load_take_effect_from_the_first_resumed_epoch(tmp_path, monkeypatch, capsys):
    """A new learning rate and discount given with --load train the resumed epochs (not the
    saved ones), the header names what changed, and the new checkpoint records them."""
    run("cartpole", tmp_path, "--epochs", 2, "--save", tmp_path / "run.npz")
    capsys.readouterr()
    rates = policy_rates(monkeypatch)
    run("cartpole", tmp_path, "--load", tmp_path / "run.npz", "--epochs", 4, "--lr", 0.001, "--gamma", 0.9,
        "--save", tmp_path / "resumed.npz")
    assert rates == [0.001, 0.001]
    out = capsys.readouterr().out
    assert "changed against the checkpoint, from epoch 3: --epochs 2 → 4, --gamma 0.99 → 0.9, --lr 0.1 → 0.001" in out
    config = load_checkpoint(tmp_path / "resumed.npz").config
    assert (config["lr"], config["gamma"], config["epochs"]) == (0.001, 0.9, 4)

    # the same resume without the flags trains at the saved rate: the flags made the difference
    monkeypatch.undo()
    _, plain = run("cartpole", tmp_path, "--load", tmp_path / "run.npz", "--epochs", 4)
    _, changed = run("cartpole", tmp_path, "--load", tmp_path / "run.npz", "--epochs", 4, "--lr", 0.001)
    assert plain["loss"][:2] == changed["loss"][:2] and plain["loss"][2:] != changed["loss"][2:]


def test_a_new_clip_ratio_reaches_the_resumed_passes(tmp_path, monkeypatch):
    import minipg.solver as solver

    run("swingup", tmp_path, "--epochs", 1, "--save", tmp_path / "run.npz")
    seen, real = [], solver.ppo_update
    monkeypatch.setattr(solver, "ppo_update", lambda *args: seen.append(args[5:8]) or real(*args))
    run("swingup", tmp_path, "--load", tmp_path / "run.npz", "--epochs", 2, "--clip-ratio", 0.1,
        "--update-epochs", 3)
    assert seen == [(0.1, 3, 160)]


@pytest.mark.parametrize("script, flags, message", [
    ("cartpole", ["--hidden", "8"], "was trained with --hidden (none); --hidden cannot change in a resumed run "
                                    "(got --hidden 8)"),
    ("cartpole", ["--dtype", "float32"], "was trained with --dtype float64; --dtype cannot change"),
    ("cartpole", ["--baseline", "value"], "was trained with --baseline none; --baseline cannot change"),
    ("cartpole", ["--seed", "5"], "was trained with --seed 0; the seed of a resumed run cannot change (got --seed 5; "
                                     "leave --seed out)"),
    ("swingup", ["--no-mirror"],
     "was trained with --mirror; --mirror cannot change in a resumed run (got --no-mirror)"),
    ("swingup", ["--log-std-init", "0.5"], "was trained with --log-std-init 0.0; --log-std-init cannot change"),
    ("swingup", ["--no-bootstrap"], "was trained with --bootstrap; --bootstrap cannot change"),
], ids=["hidden", "dtype", "baseline", "seed", "mirror", "log-std-init", "bootstrap"])
def test_a_flag_that_cannot_change_mid_run_is_refused(script, flags, message, tmp_path, capsys):
    run(script, tmp_path, "--epochs", 1, "--save", tmp_path / "run.npz")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        run(script, tmp_path, "--load", tmp_path / "run.npz", "--epochs", 2, *flags)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert f"--load: {tmp_path / 'run.npz'} {message}" in err.splitlines()[-1]
    assert not PROGRESS_LINE.search(out)


def test_a_changed_run_keeps_its_schedules_continuous_at_the_join(tmp_path, monkeypatch, capsys):
    """A run of 8 epochs with --lr-decay, stopped after 4 and resumed with --epochs 6: the rate
    goes on from where it was (lr·(1 − 4/8)) and reaches 0 with the new last epoch, instead of
    jumping to the schedule stretched over 6 epochs (lr·(1 − 4/6)).  The log σ cap likewise."""
    experiment, base = SCRIPTS["swingup"]
    T = int(base[base.index("--T") + 1])
    flags = ["--update-epochs", 1, "--minibatch-size", "none", "--lr", 0.01, "--log-std-final", -2.0]
    monkeypatch.setattr(run_module, "Interrupt", interrupt_after(4 * T + 1))
    with pytest.raises(SystemExit):
        run("swingup", tmp_path, *flags, "--epochs", 8, "--save", tmp_path / "run.npz")
    monkeypatch.undo()
    capsys.readouterr()
    rates = policy_rates(monkeypatch)
    _, history = run("swingup", tmp_path, "--load", tmp_path / "run.npz", "--epochs", 6, *flags)
    np.testing.assert_allclose(rates, [0.01 * (1 - 4 / 8), 0.01 * (1 - 4 / 8) * (1 - 1 / 2)], rtol=1e-6)
    caps = [0.0 + (-2.0 - 0.0) * k / 8 for k in (1, 2, 3, 4)]  # after epochs 1-4 of the 8-epoch run
    caps += [caps[-1] + (-2.0 - caps[-1]) * k / 2 for k in (1, 2)]  # then to -2 over epochs 5-6
    assert all(log_std <= cap + 1e-6 for log_std, cap in zip(history["log_std"], caps))
    assert history["log_std"][-1] == pytest.approx(-2.0)
    assert "changed against the checkpoint, from epoch 5: --epochs 8 → 6" in capsys.readouterr().out


def test_help_says_how_a_changed_run_continues(capsys):
    with pytest.raises(SystemExit):
        cli.main(run_swingup.SWINGUP, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Other flags take effect from the first resumed epoch, schedules (--lr-decay, --log-std-final) " \
           "continuing from where they were" in text


# ------------------------------------------------------------------ other tasks through either script
def test_the_swingup_script_trains_pendulum(tmp_path, capsys):
    """Pendulum-v1 has no batched implementation: the default vectorization falls back to sync,
    and the solve preset's mirror (the cart-pole's) is switched off with a note."""
    _, history = cli.main(run_swingup.SWINGUP, ["--env", "Pendulum-v1", "--epochs", "2", "--num-envs", "2",
                                                "--T", "200", "--value-steps", "2", "--eval", "2",
                                                "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    assert "note: --mirror of preset solve is off: no mirror symmetry is known for Pendulum-v1" in out
    assert len(history["loss"]) == 2 and history["episodes"] == [2, 2]
    assert re.fullmatch(EVAL_LINE.format(n=2, kind="deterministic"), out.splitlines()[-1])


# ------------------------------------------------------------------ outputs named without a suffix, and progress
def test_a_plot_or_gif_without_a_suffix_gets_its_formats(tmp_path, capsys):
    """--plot curve writes curve.png and --gif anim writes anim.gif, and the run names those files."""
    experiment, base = SCRIPTS["cartpole"]
    cli.main(experiment, base + ["--epochs", "1", "--plot", str(tmp_path / "curve"), "--gif", str(tmp_path / "anim")])
    out = capsys.readouterr().out
    assert f"learning curve: {tmp_path / 'curve.png'}" in out
    assert f"gif: {tmp_path / 'anim.gif'} (one deterministic episode" in out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["anim.gif", "curve.png"]
    with Image.open(tmp_path / "curve.png") as image:
        assert image.format == "PNG"
    with Image.open(tmp_path / "anim.gif") as image:
        assert image.format == "GIF"


def test_the_progress_line_says_which_metric_is_which(tmp_path, capsys):
    run("cartpole", tmp_path, "--epochs", 1)
    line = next(line for line in capsys.readouterr().out.splitlines() if PROGRESS_LINE.match(line))
    assert re.search(r"  avg_reward \(post's metric\) +-?\d+\.\d\d  mean_return \(finished episodes\) +", line), line


def test_a_run_without_a_good_epoch_says_so_without_numpy_warnings(tmp_path, monkeypatch, capsys):
    """NaN in the first epoch: no 'done: 0 epochs (nan per epoch ...)' and no RuntimeWarning."""
    from test_errors import Faulty
    real_make_env = run_module.make_env
    monkeypatch.setattr(run_module, "make_env", lambda *args: Faulty(real_make_env(*args), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning (mean of an empty slice) would raise
        with pytest.raises(SystemExit) as stopped:
            run("cartpole", tmp_path, "--epochs", 2)
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    assert "no epoch completed" in captured.out.splitlines()
    assert "nan" not in captured.out and "Warning" not in captured.err
    assert "stopped: epoch 1: the environment returned a non-finite reward" in captured.err


# ------------------------------------------------------------------ a user's own env, presets.toml broken
def test_an_env_of_the_users_own_module(tmp_path, monkeypatch, capsys):
    """--env mymod:MyEnv-v0 imports mymod (which registers the env) first, as gymnasium.make does."""
    (tmp_path / "minipg_test_user_env.py").write_text(
        "import gymnasium\n"
        "gymnasium.register('MinipgUserCartPole-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv',\n"
        "                   max_episode_steps=50)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    env = "minipg_test_user_env:MinipgUserCartPole-v0"
    try:
        _, history = minipg_main(["--env", env, "--epochs", "2", "--T", "20", "--num-envs", "2", "--eval", "2"])
    finally:  # no trace of the user's env in later tests
        sys.modules.pop("minipg_test_user_env", None)
        gymnasium.envs.registration.registry.pop("MinipgUserCartPole-v0", None)
    out = capsys.readouterr().out
    assert len(history["loss"]) == 2
    assert f"python -m minipg: {env}, 2 envs × T 20" in out
    assert "eval: mean return" in out
    assert (tmp_path / "runs" / "minipg_test_user_env-MinipgUserCartPole-v0-seed0.png").exists()


@pytest.mark.parametrize("entry", ["python -m minipg", "run_swingup.py"])
def test_a_broken_presets_file_is_one_line_at_the_command_line(entry, tmp_path, monkeypatch, capsys):
    broken = tmp_path / "presets.toml"
    broken.write_text("[default]\nnum_envs = \"8\"\n")
    monkeypatch.setattr(options, "PRESETS_PATH", broken)
    monkeypatch.setattr(sys, "argv", [entry])
    with pytest.raises(SystemExit) as stopped:
        if entry.startswith("python"):
            minipg_main(["--env", "CartPole-v1"])
        else:  # as `python run_swingup.py` runs it: presets.toml is read in its main block
            runpy.run_path(str(REPO / "run_swingup.py"), run_name="__main__")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f'{entry}: error: {broken}, table [default], field num_envs: must be a positive '
                                'integer, got "8"']
    assert not list(tmp_path.glob("runs"))


def test_a_run_where_no_episode_ended_says_so(tmp_path, capsys):
    """The swing-up's episodes last 500 steps: a 20-step rollout ends none, and the summary says
    that instead of a mean of nothing ('nan')."""
    run("swingup", tmp_path, "--epochs", 2, "--T", 20)
    out = capsys.readouterr().out
    assert "no episode ended in the last 2 epochs (T shorter than an episode?)" in out and ": nan" not in out
