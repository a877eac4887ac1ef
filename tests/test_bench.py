"""The benchmark runs end to end at toy sizes, and its instrumented rollout is the real one."""

import json
import re

import numpy as np

from minipg.tools import bench
from minipg.reinforce import collect_rollout, rollout_buffers


def numbers_after(label, text):
    """The numbers on the output line that starts with `label` (thousands separators removed)."""
    line = next(line for line in text.splitlines() if line.startswith(label))
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*", line[len(label):])]


def test_bench_main_smoke(tmp_path, capsys):
    path = tmp_path / "bench.json"
    report = bench.main([
        "--epochs", "1", "--blog-E", "3", "--blog-T", "12",
        "--E", "2", "5", "--T", "10", "--scaling-epochs", "1",
        "--impl-E", "3", "--impl-steps", "4", "--impl-repeats", "1",
        "--chunk-size", "7", "--json", str(path),
    ])
    out = capsys.readouterr().out

    for header in ("== Epoch split", "== Baseline", "== Swing-up scaling", "== Swing-up env stepping",
                   "cartpole [s]", "swingup [s]", "env alone [s]", "us/sample", "learn peak [MiB]",
                   "env steps/s", "load average before", "load average after"):
        assert header in out, header
    # The parts are printed to 0.1 ms and may round to 0 at these toy sizes; the totals may not.
    for label in ("env.step", "agent.act", "update (learn step)", "calculate_returns"):
        values = numbers_after(label, out)
        assert len(values) == 4 and all(v >= 0 for v in values), (label, values)
    for label in ("sum of parts (instrumented)", "real reinforce epoch [s]", "env steps/s (real epoch)"):
        values = numbers_after(label, out)
        assert len(values) >= 2 and all(v > 0 for v in values), (label, values)
    for name in ("cartpole", "swingup"):
        split = report["blog"][name]["split_median_s"]
        assert all(split[key] > 0 for key in ("env_step", "act", "returns", "update", "total")), split
    assert "n/a (not blog size)" in out  # targets are only judged at the blog sizes
    for label in ("cartpole", "swingup"):
        values = numbers_after(label, out.split("== Baseline")[1])
        assert all(v > 0 for v in values), (label, values)
    assert len(report["scaling"]) == 2
    for row in report["scaling"]:
        assert row["epoch_median_s"] > 0 and row["us_per_sample"] > 0 and row["learn_peak_bytes"] > 0
    assert report["impl"]["numpy_twin"]["steps_per_s"] > 0
    assert report["impl"]["package_sync"]["steps_per_s"] > 0

    written = json.loads(path.read_text())
    assert written["meta"]["chunk_size"] == 7
    assert written["blog"]["swingup"]["E"] == 3 and written["blog"]["swingup"]["T"] == 12
    assert written["blog"]["cartpole"]["real_epoch_median_s"] > 0


def test_instrumented_rollout_fills_the_same_buffers_as_collect_rollout():
    for name in ("cartpole", "swingup"):
        config = bench.CONFIGS[name]
        filled = []
        for rollout in ("real", "instrumented"):
            env = bench.make_env(config["env_id"], 3, config["vectorization"])
            agent = bench.make_policy(config, env, chunk_size=None, seed=1)
            buffers = rollout_buffers(env, agent, 40)
            observations, _ = env.reset(seed=2)
            if rollout == "real":
                collect_rollout(env, agent, buffers, observations)
            else:
                act_seconds, step_seconds = bench.instrumented_rollout(env, agent, buffers, observations)
                assert act_seconds > 0 and step_seconds > 0
            filled.append(buffers)
        real, instrumented = filled
        for key in real:
            np.testing.assert_array_equal(real[key], instrumented[key], err_msg=f"{name}: {key}")


def test_linearity_line_reports_the_spread_of_time_per_sample():
    rows = [{"E": E, "T": 10, "us_per_sample": us} for E, us in ((32, 3.0), (256, 1.2), (1024, 1.0))]
    line = bench.linearity_line(rows)
    assert line.startswith("linearity: max/min us per sample = 3.00x (target <= 1.5x: NOT met)")
    assert "E >= 256: 1.20x" in line and "E >= 1024" not in line  # one row is no spread
    assert "met)" in bench.linearity_line(rows[1:]) and "NOT" not in bench.linearity_line(rows[1:])
