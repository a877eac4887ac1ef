"""pytest wiring of the benchmarks: their options, the run's header, and the tables at the end.

The options below exist when tests/benchmarks is on the command line (`make bench` puts it
there; `make bench BENCH_ARGS='--bench-full-grid'` passes more):

    --bench-full-grid        the swing-up scaling over E ∈ {32, 256, 1024, 4096} (default: up to 1024)
    --bench-dtype float32    the policies' and buffers' float type (the swing-up target is float64's;
                             the solve epoch keeps its preset's float32)
    --bench-chunk-size N     samples per chunk of the learn step (learn peak memory shows its effect;
                             in the solve epoch, 2048 cuts each minibatch into 2 chunks, on 2 threads)
    --bench-rounds N         rounds of the blog, busy and solve benchmarks (default: 15 CartPole, 9 swing-up,
                             7 solve)
    --bench-check-targets    fail a benchmark whose target is missed (default: report it)
    --bench-suite-floors     the suite tasks' env-alone floors as the suite measures them: each preset's
                             whole budget (on a slice of up to 100,000 env steps), one round; about
                             2 minutes for the eleven tasks (default: 2,000 env steps, 3 rounds)
    --bench-toy              every benchmark at toy sizes, to check that it runs (test_smoke.py)

The run's reference is the env alone, measured in the run itself: the blog configs' env stepped
with no policy (test_blog_epochs.py) and the suite tasks' env-alone floors (test_env_floors.py),
the floors the suite quotes its wall times against.  Machine speed swings cancel in a ratio to
them measured in the same sitting.  The first benchmark reads the load average, the end of the
run reads it again.  pytest-benchmark prints its own table of the timed calls; after it comes
minipg's summary (report.py), and `--benchmark-json PATH` saves each benchmark's figures (its
extra_info) with this header under the key "minipg".
"""

import dataclasses
import os
import platform

import gymnasium
import numpy as np
import pytest

from minipg.policies import DEFAULT_CHUNK_SIZE

from . import blocks, flops, report

RUN = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("minipg benchmarks (tests/benchmarks)")
    group.addoption("--bench-full-grid", action="store_true",
                    help="swing-up scaling over E in {32, 256, 1024, 4096} x T in {200, 1000}")
    group.addoption("--bench-dtype", choices=("float64", "float32"), default="float64",
                    help="float type of the policies and rollout buffers")
    group.addoption("--bench-chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                    help="samples per chunk of the learn step")
    group.addoption("--bench-rounds", type=int, default=None,
                    help="rounds of the blog-epoch, busy-machine and solve-epoch benchmarks")
    group.addoption("--bench-check-targets", action="store_true",
                    help="fail a benchmark whose target is missed")
    group.addoption("--bench-suite-floors", action="store_true",
                    help="the suite tasks' env-alone floors over their presets' budgets, as the suite measures them")
    group.addoption("--bench-toy", action="store_true",
                    help="toy sizes: check that every benchmark runs, in seconds")


class BenchRun:
    """One run's settings (the options), its readings of the machine, and its figures."""

    TOY_SIZE = (3, 12)                           # E, T of the blog configs at toy sizes
    SCALING_E, FULL_SCALING_E, SCALING_T = (32, 256, 1024), (32, 256, 1024, 4096), (200, 1000)
    TOY_SCALING_E, TOY_SCALING_T = (2, 5), (10,)
    STEPPING = (256, 300)                        # E, steps of the swing-up env stepping
    TOY_STEPPING = (3, 4)
    FLOOR_STEPS, TOY_FLOOR_STEPS = 2_000, 20     # env steps of a suite task's short env-alone floor
    FLOOR_ROUNDS = 3
    SOLVE_ROUNDS = 7
    SOLVE_CEILING_FLOP, TOY_SOLVE_CEILING_FLOP = 4e9, 1e5  # per thread and measurement (≈ 0.06 s at 65 GFLOP/s)

    def __init__(self, config):
        option = config.getoption
        self.toy = option("bench_toy")
        self.full_grid = option("bench_full_grid")
        self.dtype = option("bench_dtype")
        self.chunk_size = option("bench_chunk_size")
        self.rounds_option = option("bench_rounds")
        self.check_targets = option("bench_check_targets")
        self.suite_floors = option("bench_suite_floors")
        self.results = {"blog": {}, "scaling": [], "envs": {}, "busy": {}, "solve": {}, "floors": {}, "envpool": {},
                        "minibatch": {}}
        self.before = self.after = None

    def start(self):
        """Before the first benchmark: the load average."""
        if self.before is None:
            self.before = {"loadavg": blocks.loadavg()}

    def finish(self):
        """After the last benchmark (once): the load average."""
        if self.after is None and self.before is not None:
            self.after = {"loadavg": blocks.loadavg()}

    def meta(self):
        """What the figures were measured with: versions, machine, options, threads, load, and the
        run's reference (the env alone, as reference() gives it)."""
        return {
            "python": platform.python_version(), "numpy": np.__version__, "gymnasium": gymnasium.__version__,
            "cpus": os.cpu_count(), "dtype": self.dtype, "chunk_size": self.chunk_size, "toy": self.toy,
            "threads": blocks.thread_settings(), "before": self.before, "after": self.after,
            "reference": self.reference(),
        }

    def reference(self):
        """The env-alone figures this run measured, the reference of its times: per blog config and
        per suite task that ran, {env_id, E, env_steps, seconds} (medians over rounds)."""
        blog = {name: {"env_id": r["env_id"], "E": r["E"], "env_steps": r["E"] * r["T"],
                       "seconds": r["env_alone_median_s"]} for name, r in self.results["blog"].items()}
        floors = {env_id: {"env_id": env_id, "E": r["E"], "env_steps": r["env_steps"], "seconds": r["median_s"]}
                  for env_id, r in self.results["floors"].items()}
        return {"blog": blog, "floors": floors}

    # sizes and rounds
    def size(self, name):
        """(E, T) of a blog config."""
        config = blocks.CONFIGS[name]
        return self.TOY_SIZE if self.toy else (config["E"], config["T"])

    def rounds(self, name):
        """Rounds of a blog config's epoch and busy benchmarks."""
        return 2 if self.toy else self.rounds_option or blocks.CONFIGS[name]["rounds"]

    def scaling_grid(self):
        """The (E, T) of the swing-up scaling benchmark."""
        if self.toy:
            Es, Ts = self.TOY_SCALING_E, self.TOY_SCALING_T
        else:
            Es, Ts = (self.FULL_SCALING_E if self.full_grid else self.SCALING_E), self.SCALING_T
        return [(E, T) for E in Es for T in Ts]

    def scaling_rounds(self):
        return 2 if self.toy else 3

    def stepping_size(self):
        """(E, steps) of the swing-up env stepping benchmark."""
        return self.TOY_STEPPING if self.toy else self.STEPPING

    def stepping_rounds(self):
        return 2 if self.toy else 3

    def floor_steps(self, budget):
        """Env steps of a suite task's floor: its preset's budget with --bench-suite-floors (stepped
        on a slice and scaled, as the suite measures it), else a short one."""
        if self.toy:
            return self.TOY_FLOOR_STEPS
        return budget if self.suite_floors else self.FLOOR_STEPS

    def floor_rounds(self):
        return 2 if self.toy else 1 if self.suite_floors else self.FLOOR_ROUNDS

    def solve_options(self):
        """run_swingup.SOLVE, the swing-up's solve preset, in its own float32 whatever --bench-dtype;
        with --bench-chunk-size, that chunk size; at toy sizes, flops.TOY_SOLVE's fields replaced."""
        options = flops.solve_preset()
        if self.chunk_size != DEFAULT_CHUNK_SIZE:  # --bench-chunk-size given: the learn step's chunks
            options = dataclasses.replace(options, chunk_size=self.chunk_size)
        return dataclasses.replace(options, **flops.TOY_SOLVE) if self.toy else options

    def solve_rounds(self):
        return 2 if self.toy else self.rounds_option or self.SOLVE_ROUNDS

    def solve_ceiling_flop(self):
        """FLOP per thread of one ceiling measurement (flops.matmul_rate)."""
        return self.TOY_SOLVE_CEILING_FLOP if self.toy else self.SOLVE_CEILING_FLOP

    # results
    def record(self, benchmark, section, key, figures):
        """Keep a benchmark's figures for the summary and pytest-benchmark's JSON (extra_info)."""
        benchmark.extra_info.update(figures)
        if section == "scaling":
            self.results[section].append(figures)
        else:
            self.results[section][key] = figures

    def check_target(self, what, met):
        """With --bench-check-targets, fail when a judged target (met not None) is missed."""
        if self.check_targets and met is False:
            pytest.fail(f"target missed: {what}")


def bench_run(config):
    """This session's BenchRun, made on first use."""
    if RUN not in config.stash:
        config.stash[RUN] = BenchRun(config)
    return config.stash[RUN]


@pytest.fixture(scope="session")
def bench(pytestconfig):
    """The run's settings and figures; its first use reads the load average."""
    run = bench_run(pytestconfig)
    run.start()
    return run


def pytest_generate_tests(metafunc):
    """test_scaling.py's sizes: the grid the options choose."""
    if "scaling_size" in metafunc.fixturenames:
        grid = bench_run(metafunc.config).scaling_grid()
        metafunc.parametrize("scaling_size", grid, ids=[f"E{E}-T{T}" for E, T in grid])


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    """pytest-benchmark's JSON (--benchmark-json) gets the run's header under "minipg"."""
    run = config.stash.get(RUN, None)
    if run is not None and run.before is not None:
        run.finish()
        output_json["minipg"] = run.meta()


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own table
def pytest_terminal_summary(terminalreporter, config):
    run = config.stash.get(RUN, None)
    if run is None or run.before is None:
        return
    run.finish()
    terminalreporter.section("minipg benchmarks")
    for line in report.render(run.meta(), run.results):
        terminalreporter.write_line(line)
