"""One epoch of the swing-up `solve` preset in FLOP, against the machine's matrix-product rate.

The epoch is the real one: minipg.train with run_swingup.SOLVE (float32, E = 64 envs × T = 500
steps, a value baseline fitted with value_steps = 50 Adam steps on minibatches of up to 4096
samples, update_epochs = 10 clipped-surrogate passes in minibatches of 4096, a mirrored 5-64-64-1
mean), on the learn step's default threads (MINIPG_THREADS, default: the usable cores).  Each
round of pytest-benchmark is the next epoch of one run (flops.train_one_epoch: train continued
from the run's state and stopped after one epoch, so the schedules run as in a full run), with
collect_rollout, ValueBaseline.prepare_fit and ppo_update timed by wrappers (flops.SolverParts) that
change nothing that runs.  One warm-up round comes first; every figure is a median over rounds.

Counted analytically (flops.py has the derivation): FLOP = 2 × multiply-adds of the dense
layers' matrix products; per row of the 5-64-64-1 networks forward F = Σ n_in·n_out = 4,480,
backward B = Σ n_in·n_out (∂W) + Σ_{not the first layer} n_in·n_out (∂x) = 8,640.  With n valid
samples (≤ E·T), m = 2 rows a sample (the mirror), K = update_epochs, S = value_steps:

    rollout     2 · T·E·m·F                   the policy's forward, every step
    value fit   2 · S·min(4096, n)·(F + B)     5 inputs: bootstrapping, no time feature
    passes      2 · (K·n·m·(F + B) + n·m·F)    the passes, and log π of the acting policy once
    rest        2 · (T·E + E)·F                V of the states and of the last observations

≈ 0.57 + 5.37 + 17.37 + 0.29 ≈ 23.6 GFLOP an epoch.  The elementwise work (bias, ReLU, the
distributions, Adam; ≈ 2.5 % more) is not counted.

Before each round, untimed by pytest-benchmark, the ceiling is measured (flops.matmul_rate): the
float32 rate of the hidden layer's three products, (rows × 64) @ (64 × 64), its ∂W (64 × rows)
@ (rows × 64) and its ∂x (rows × 64) @ (64 × 64)ᵀ, repeated, products only (no bias, no ReLU), at
the rows of the value fit's chunk (4096) and of a minibatch's chunk in the passes (4096 samples
× 2 mirrored = 8192), on one thread and on the worker threads at once, each with its own arrays.
Measured round by round beside the epochs, a change of the machine's load hits both alike.

Figures (the summary's tables, and extra_info in --benchmark-json):
    seconds, %        each part's wall time (the % add up to more than 100: the fit overlaps the
                      passes); the value fit runs beside the passes, on a thread
                      of its own; "rest" = the epoch (train's clock) less the rollout and the
                      learn step (the union of the fit's and the passes' spans)
    CPU / wall        the part's CPU seconds over its wall seconds (the process's for the rollout,
                      its own thread's for the fit and the passes, so at most 1 for those two):
                      ≈ 1 for a part on one thread, < 1 when it waited for a core
    threads           the threads a learn step's chunks can run on: one chunk per minibatch (4096
                      samples at chunk_size 4096) runs on the calling thread
    GFLOP, GFLOP/s    the part's count, and count / seconds
    / ceiling         achieved GFLOP/s over the ceiling of the part's shape, one thread and all
    learn at ceiling  the value fit's and passes' GFLOP at the ceiling: the least time their
                      products need, and the epoch with that learn step (the rest as measured)
"""

import pytest

from minipg.envs import make_env
from minipg.solver import make_policy, new_state

from . import flops


@pytest.mark.benchmark(group="solve epoch")
def test_solve_epoch(benchmark, bench):
    options = bench.solve_options()
    env = make_env(options.env, options.num_envs, options.vectorization)
    policy = make_policy(env, options, seed=0)
    state = new_state(policy, options)
    shapes = flops.ceiling_shapes(policy, state.baseline, options)
    width, threads = max(options.hidden), policy.threads
    parts = flops.SolverParts()
    epochs, ceilings = [], []

    def ceiling():  # each round's setup, untimed by pytest-benchmark
        ceilings.append({
            part: {count: flops.matmul_rate(rows, width, n, policy.dtype, bench.solve_ceiling_flop())["gflop_per_s"]
                   for count, n in (("one_thread", 1), ("threads", threads))}
            for part, rows in shapes.items()})

    def epoch():
        parts.reset()
        history = flops.train_one_epoch(env, policy, options, state, seed=0)
        epochs.append(flops.solve_epoch_figures(parts, history, options))

    try:
        rounds = bench.solve_rounds()
        with parts:
            benchmark.pedantic(epoch, setup=ceiling, rounds=rounds, warmup_rounds=1)
    finally:
        env.close()
    for figures in epochs:  # the parts add up to the epoch, none is negative
        assert min(figures["seconds"].values()) >= 0
    if benchmark.disabled:  # --benchmark-disable: one untimed round, no figures
        return
    del epochs[0], ceilings[0]  # the warm-up round
    results = flops.summary(epochs, ceilings, threads)
    sizes = epochs[-1]["sizes"]
    bench.record(benchmark, "solve", "solve", {
        "env_id": options.env, "E": options.num_envs, "T": options.T, "dtype": options.dtype,
        "update_epochs": options.update_epochs, "minibatch_size": options.minibatch_size,
        "value_steps": options.value_steps, "mirror": options.mirror, "hidden": list(options.hidden),
        "chunk_size": policy.chunk_size,
        "rounds": rounds, "samples": [figures["sizes"]["passes"]["samples"] for figures in epochs],
        "part_threads": {part: sizes[part]["threads"] for part in flops.LEARN_PARTS},
        "ceiling_rows": shapes, "ceiling_width": width,
        **results,
        "epoch_call_median_s": benchmark.stats.stats.median, "epoch_call_s": list(benchmark.stats.stats.data),
        "per_round": epochs, "ceiling_per_round": ceilings,
    })
