"""In `make test` (unlike the benchmarks): the instrumented epoch is the real one, and every
benchmark still runs, at toy sizes, its tables and JSON included; a few seconds."""

import dataclasses
import importlib.util
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import minipg.solver
from minipg.baselines import ValueBaseline
from minipg.envs import make_env
from minipg.layers import MLP
from minipg.reinforce import reinforce, rollout_buffers
from minipg.solver import collect_rollout, make_policy, new_state, train

from minipg.options import load_presets
from minipg.tools import suite

from . import blocks, flops, report

BENCHMARKS_DIR = blocks.TESTS_DIR / "benchmarks"


@pytest.mark.parametrize("name", ["cartpole", "swingup"])
def test_instrumented_rollout_fills_the_same_buffers_as_collect_rollout(name):
    config = blocks.CONFIGS[name]
    filled = []
    for rollout in ("real", "instrumented"):
        env = blocks.make_config_env(config, 3)
        policy = blocks.make_policy(config, env, seed=1)
        buffers = rollout_buffers(env, policy, 40)
        observations, _ = env.reset(seed=2)
        if rollout == "real":
            collect_rollout(env, policy, buffers, observations)
        else:
            act_seconds, step_seconds = blocks.instrumented_rollout(env, policy, buffers, observations)
            assert act_seconds > 0 and step_seconds > 0
        filled.append(buffers)
    real, instrumented = filled
    assert real.keys() == instrumented.keys()
    for key in ("states", "actions", "rewards", "dones", "terminated", "valid", "last_observations"):
        np.testing.assert_array_equal(real[key], instrumented[key], err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", ["cartpole", "swingup"])
def test_instrumented_epoch_is_the_first_epoch_of_reinforce(name):
    """Same seeds, same parameters after the update and the same metrics: the epoch it times is
    the one minipg.reinforce runs."""
    config = blocks.CONFIGS[name]
    T, seed = 60, 7
    instrumented_env, env = blocks.make_config_env(config, 4), blocks.make_config_env(config, 4)
    instrumented_policy = blocks.make_policy(config, instrumented_env, seed=3)
    policy = blocks.make_policy(config, env, seed=3)
    initial = [param.copy() for param in policy.parameters()]
    buffers = rollout_buffers(instrumented_env, instrumented_policy, T)

    seconds, metrics = blocks.instrumented_epoch(instrumented_env, instrumented_policy, buffers,
                                                 config["gamma"], seed)
    history = reinforce(env, policy, gamma=config["gamma"], epochs=1, T=T, seed=seed)

    assert any(not np.array_equal(before, after) for before, after in zip(initial, policy.parameters()))
    for mine, theirs in zip(instrumented_policy.parameters(), policy.parameters(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for key, value in metrics.items():
        assert value == history[key][0] or (math.isnan(value) and math.isnan(history[key][0])), key
    assert set(seconds) == {key for key, _ in blocks.SPLIT_PARTS} | {"total"}
    assert sum(seconds[key] for key, _ in blocks.SPLIT_PARTS) == pytest.approx(seconds["total"], rel=1e-9)
    assert min(seconds.values()) >= 0 and seconds["total"] > 0


def test_blog_targets_are_judged_at_the_blog_sizes_only():
    assert blocks.blog_target("cartpole", (32, 1000), "float64", 0.06, 0.041) == ("epoch <= 1.5x env alone", True)
    assert blocks.blog_target("cartpole", (32, 1000), "float32", 0.07, 0.041)[1] is False
    assert blocks.blog_target("cartpole", (32, 999), "float64", 0.07, 0.041)[1] is None
    assert blocks.blog_target("swingup", (256, 1000), "float64", 0.44, 9.9)[1] is True
    assert blocks.blog_target("swingup", (256, 1000), "float64", 0.46, 0.0)[1] is False
    assert blocks.blog_target("swingup", (256, 1000), "float32", 0.46, 0.0)[1] is None


def test_linearity_line_reports_the_spread_of_time_per_sample():
    rows = [{"E": E, "T": 10, "us_per_sample": us} for E, us in ((32, 3.0), (256, 1.2), (1024, 1.0))]
    line = report.linearity_line(rows)
    assert line.startswith("linearity: max/min us per sample = 3.00x (target <= 1.5x: NOT met)")
    assert "E >= 256: 1.20x" in line and "E >= 1024" not in line  # one row is no spread
    assert "met)" in report.linearity_line(rows[1:]) and "NOT" not in report.linearity_line(rows[1:])


def test_every_benchmark_runs_at_toy_sizes(tmp_path):
    """`make bench`'s pytest run at toy sizes: every benchmark, the env-alone floor of each suite
    task that is installed (CartPole-v1 always is), the tables and the JSON."""
    path = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCHMARKS_DIR), "-m", "benchmark", "--bench-toy",
         f"--benchmark-json={path}", "-p", "no:cacheprovider", "--benchmark-columns=median,rounds"],
        cwd=blocks.ROOT, capture_output=True, text=True, timeout=300, check=False)
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-2000:]
    written = json.loads(path.read_text())
    figures = {bench["name"]: bench for bench in written["benchmarks"]}
    floors = sorted(name for name in figures if name.startswith("test_env_floor["))
    assert "test_env_floor[CartPole-v1]" in floors
    # test_envpool.py: a task each when EnvPool is installed, else the module skipped as one
    envpool_runs = sorted(name for name in figures if name.startswith("test_envpool_against_gymnasium["))
    has_envpool = importlib.util.find_spec("envpool") is not None
    assert f"{10 + len(floors) + len(envpool_runs)} passed" in out
    skipped = len(suite.TASKS) - len(floors) + (len(suite.TASKS) - len(envpool_runs) if has_envpool else 1)
    assert (f"{skipped} skipped" in out) == (skipped > 0)
    summary = out.split("= minipg benchmarks =")[1]
    for text in ("TOY SIZES", "threads: BLAS 1", "load average",
                 "reference, the env alone with no policy (this run): CartPole-v0 3 envs x 12 steps ",
                 f"and the env-alone floors of {len(floors)} suite tasks, the reference of the suite's",
                 "== Env-alone floors of the suite's tasks", "floor of the budget [s]",
                 "== Epoch split", "env.step", "policy.act (forward + sample)", "policy.update (learn step)",
                 "== The env alone", "n/a (not blog size)", "== Swing-up scaling", "linearity:",
                 "== Swing-up env stepping", "twin / package", "== Busy machine",
                 "== Solve epoch (run_swingup.SOLVE: E=3 T=12, float32", "clipped passes (ppo_update)",
                 "GFLOP by term:", "== Matrix-product ceiling", "learn step (value fit beside the passes)",
                 "== The minibatch Adam step", "Acrobot-v1    64-64         64"):
        assert text in summary, text

    assert written["minipg"]["toy"] is True and "calib" not in json.dumps(written["minipg"])
    assert written["minipg"]["threads"]["blas_threads"] == 1
    assert len(written["minipg"]["before"]["loadavg"]) == len(written["minipg"]["after"]["loadavg"]) == 3
    assert sorted(figures) == sorted([
        "test_blog_epoch[cartpole]", "test_blog_epoch[swingup]",
        "test_busy_machine[cartpole]", "test_busy_machine[swingup]",
        "test_swingup_env_stepping[vector]", "test_swingup_env_stepping[sync]",
        "test_swingup_scaling[E2-T10]", "test_swingup_scaling[E5-T10]", "test_solve_epoch", "test_minibatch_step",
        *floors, *envpool_runs])
    if has_envpool:
        assert "test_envpool_against_gymnasium[CartPole-v1]" in envpool_runs
        assert "== EnvPool against gymnasium" in summary
        versus = figures["test_envpool_against_gymnasium[CartPole-v1]"]["extra_info"]
        assert versus["speedup"] > 0 and len(versus["seconds"]["envpool"]) == 2
    for bench in figures.values():
        assert bench["stats"]["median"] > 0 and bench["stats"]["rounds"] == 2
    blog = figures["test_blog_epoch[swingup]"]["extra_info"]
    assert (blog["E"], blog["T"]) == (3, 12) and blog["target_met"] is None
    assert blog["epoch_median_s"] == figures["test_blog_epoch[swingup]"]["stats"]["median"]
    assert len(blog["split_per_round_s"]) == len(blog["env_alone_s"]) == 2  # warm-up round dropped
    assert all(blog["split_median_s"][key] > 0 for key in ("env_step", "act", "update", "total"))
    assert blog["learn_peak_bytes"] > 0 and blog["env_alone_median_s"] > 0
    busy = figures["test_busy_machine[cartpole]"]["extra_info"]
    assert len(busy["alone_s"]) == len(busy["busy_s"]) == 2 and busy["slowdown"] > 0
    assert figures["test_swingup_scaling[E5-T10]"]["extra_info"]["samples"] == 50
    assert figures["test_swingup_env_stepping[sync]"]["extra_info"]["steps_per_s"] > 0
    floor, preset = figures["test_env_floor[CartPole-v1]"]["extra_info"], load_presets()["CartPole-v1"]
    assert (floor["E"], floor["T"], floor["env_steps"], len(floor["seconds"])) == (preset.num_envs, preset.T, 20, 2)
    budget = preset.num_envs * preset.T * preset.epochs
    assert floor["budget_env_steps"] == budget and floor["budget_s"] == pytest.approx(floor["median_s"] * budget / 20)
    floors_section = summary.split("== Env-alone floors")[1].split("\n\n")[0]
    assert [line.split()[:3] for line in floors_section.splitlines() if line.startswith("CartPole-v1 ")] == [
        ["CartPole-v1", str(preset.num_envs), str(preset.T)]]
    reference = written["minipg"]["reference"]
    assert reference["blog"]["cartpole"] == {"env_id": "CartPole-v0", "E": 3, "env_steps": 36,
                                             "seconds": figures["test_blog_epoch[cartpole]"]["extra_info"][
                                                 "env_alone_median_s"]}
    assert sorted(reference["floors"]) == [name[len("test_env_floor["):-1] for name in floors]
    assert reference["floors"]["CartPole-v1"]["seconds"] == floor["median_s"] > 0
    minibatch = figures["test_minibatch_step"]["extra_info"]
    assert (minibatch["minibatch_size"], minibatch["samples"], minibatch["rounds"]) == (64, 130, 2)
    assert all(minibatch[f"{part}_us_median"] > 0 for part in ("minibatch_step", "policy_step", "products", "adam"))
    solve = figures["test_solve_epoch"]["extra_info"]
    assert (solve["E"], solve["T"], solve["dtype"]) == (3, 12, "float32")
    assert len(solve["per_round"]) == len(solve["ceiling_per_round"]) == 2  # warm-up round dropped
    assert solve["gflop"]["total"] == pytest.approx(sum(solve["gflop"][part] for part, _ in flops.SOLVE_PARTS))
    assert all(solve["seconds"][part] > 0 and solve["gflop"][part] > 0 for part, _ in flops.SOLVE_PARTS)
    assert set(solve["ceiling_gflop_per_s"]) == {"value_fit", "passes"}
    assert all(rate > 0 for rates in solve["ceiling_gflop_per_s"].values() for rate in rates.values())
    assert set(solve["over_ceiling"]) == set(flops.LEARN_PARTS)


# ---------------------------------------------------------------- the solve epoch (test_solve_epoch.py)
def toy_solve(epochs=3):
    """The solve preset at the benchmark's toy sizes, `epochs` long: (env, policy, state, options)."""
    options = dataclasses.replace(flops.solve_preset(), **flops.TOY_SOLVE, epochs=epochs)
    env = make_env(options.env, options.num_envs, options.vectorization)
    policy = make_policy(env, options, seed=0)
    return env, policy, new_state(policy, options), options


def test_the_solve_preset_is_run_swingups():
    from minipg.options import load_presets

    options = flops.solve_preset()
    assert options == load_presets()["CartPoleSwingUp-v0"] and options.dtype == "float32" and options.mirror
    assert (options.num_envs, options.T, options.update_epochs, options.minibatch_size, options.value_steps) == (
        64, 500, 10, 4096, 50)


def test_timed_epochs_one_at_a_time_are_train_itself():
    """Epochs run one by one under SolverParts end with the parameters (policy and value net) and
    history of one plain train call: the wrappers and the stop after each epoch change nothing
    that runs; leaving SolverParts puts the originals back."""
    originals = (minipg.solver.collect_rollout, minipg.solver.ppo_update, ValueBaseline.prepare_fit)
    env, policy, state, options = toy_solve()
    with flops.SolverParts() as parts:
        assert minipg.solver.ppo_update is not originals[1]
        for _ in range(options.epochs):
            parts.reset()
            history = flops.train_one_epoch(env, policy, options, state, seed=5)
            figures = flops.solve_epoch_figures(parts, history, options)
            assert all(figures["seconds"][part] > 0 for part in flops.TIMED_PARTS)
            assert figures["seconds"]["rest"] >= 0
        with pytest.raises(RuntimeError, match="no epoch left"):
            flops.train_one_epoch(env, policy, options, state, seed=5)
    assert (minipg.solver.collect_rollout, minipg.solver.ppo_update, ValueBaseline.prepare_fit) == originals
    plain_env, plain_policy, plain_state, _ = toy_solve()
    plain = train(plain_env, plain_policy, options, seed=5, state=plain_state)
    assert len(history["loss"]) == len(plain["loss"]) == options.epochs
    for mine, theirs in zip(policy.parameters() + state.baseline.net.params,
                            plain_policy.parameters() + plain_state.baseline.net.params, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for key in ("loss", "entropy", "mean_return", "env_steps"):
        np.testing.assert_array_equal(history[key], plain[key], err_msg=key)


def test_the_flop_count_is_what_the_networks_compute(monkeypatch):
    """The analytical count per part equals 2 × the multiply-adds of every MLP.forward and
    MLP.backward call of the epoch, from the rows each call was given and its layer sizes."""
    counted = {part: 0 for part, _ in flops.SOLVE_PARTS}
    forward, backward = MLP.forward, MLP.backward
    parts = flops.SolverParts()

    def count(net, array, pass_index):
        rows = array.size // array.shape[-1]
        counted[parts.active or "rest"] += 2 * rows * flops.mlp_macs(net.sizes)[pass_index]

    def counting_forward(net, x):
        count(net, x, 0)
        return forward(net, x)

    def counting_backward(net, grad_out):
        count(net, grad_out, 1)
        return backward(net, grad_out)

    monkeypatch.setattr(MLP, "forward", counting_forward)
    monkeypatch.setattr(MLP, "backward", counting_backward)
    env, policy, state, options = toy_solve()
    with parts:
        for _ in range(2):
            counted.update(dict.fromkeys(counted, 0))
            parts.reset()
            history = flops.train_one_epoch(env, policy, options, state, seed=0)
            figures = flops.solve_epoch_figures(parts, history, options)
            assert figures["flop"]["parts"] == counted
            assert figures["flop"]["total"] == sum(counted.values())
            assert figures["sizes"]["passes"]["samples"] <= options.num_envs * options.T


def test_the_solve_preset_counts_23_6_gflop_an_epoch():
    """The module docstrings' figures: 32,000 valid samples of the solve preset."""
    sizes = {"rollout": {"T": 500, "E": 64, "rows_per_sample": 2, "final_observations": 0},
             "value_fit": {"steps": 50, "batch_rows": 4096, "value_sizes": (5, 64, 64, 1)},
             "passes": {"samples": 32000, "update_epochs": 10, "rows_per_sample": 2, "policy_sizes": (5, 64, 64, 1)},
             "bootstrap": True}
    assert flops.mlp_macs((5, 64, 64, 1)) == (4480, 8640)
    assert flops.mlp_macs((4, 2)) == (8, 8)  # one layer: no ∂x of the input
    flop = flops.epoch_flop(sizes)
    assert flop["parts"] == {"rollout": 573_440_000, "value_fit": 5_373_952_000, "passes": 17_367_040_000,
                             "rest": 287_293_440}
    assert flop["total"] == 23_601_725_440


def test_one_minibatch_of_4096_is_one_chunk_on_one_thread():
    assert flops.threads_used(2, 4096, 4096, 4480) == 1
    assert flops.threads_used(2, 4096, 2048, 4480) == 2
    assert flops.threads_used(1, 4096, 2048, 4480) == 1
    assert flops.threads_used(4, 8192, 2048, 4480) == 4
    assert flops.threads_used(2, 100, 50, 8) == 1  # too little work to hand to a thread


def test_ceiling_shapes_and_matmul_rate():
    env, policy, state, options = toy_solve()
    assert flops.ceiling_shapes(policy, state.baseline, options) == {"value_fit": 36, "passes": 32}
    solve = flops.solve_preset()
    solve_env = make_env(solve.env, 2, solve.vectorization)
    solve_policy = make_policy(solve_env, solve)
    assert flops.ceiling_shapes(solve_policy, new_state(solve_policy, solve).baseline, solve) == {
        "value_fit": 4096, "passes": 8192}
    per_repeat = 3 * 2 * 32 * 8 * 8  # three products of (32 x 8) @ (8 x 8)
    for threads in (1, 2):
        rate = flops.matmul_rate(rows=32, width=8, threads=threads, dtype=np.float32, flop_per_thread=5 * per_repeat)
        assert rate["flop"] == threads * 5 * per_repeat
        assert rate["gflop_per_s"] == pytest.approx(rate["flop"] / rate["seconds"] / 1e9)
