"""Where the time of each blog configuration's epoch goes, next to the real epoch and the env alone.

pytest-benchmark times the real thing: one epoch of minipg.reinforce (a `reinforce(...,
epochs=1)` call, with its own policy).  Before each of its rounds, untimed by it, the same round
runs one instrumented epoch (blocks.instrumented_epoch: the same epoch, with env.step and
policy.act timed) and the env alone (blocks.time_env_alone), so a change of the machine's load
hits all three alike.  One warm-up round comes first (first calls pay for lazy initialization).

Figures (medians over the rounds):
    the parts of the epoch    env.step, policy.act (forward + sampling), the rest of the
                              rollout, calculate_returns, policy.update (the learn step),
                              reset + epoch_metrics, and their sum (the instrumented epoch)
    epoch                     pytest-benchmark's median of the reinforce call;
                              also as reinforce records it (history["seconds"]) and its CPU time
                              (time.process_time, all threads: wall > CPU means the process
                              waited for a core)
    sum of parts / epoch      ≈ 1: the instrumentation neither misses nor adds time
    env alone                 the env reset once, then stepped T times with a fixed action:
                              the least any policy pays for the E·T steps
    epoch / env alone         target: CartPole ≤ 1.5x; the swing-up target is its epoch ≤ 0.45 s
                              (float64; judged in seconds as measured: the env alone beside it
                              says how fast the machine was)
    learn-step peak           tracemalloc peak of one extra update on the last rollout, on a copy
                              of the policy (blocks.learn_step_peak); the rollout buffers' bytes;
                              the process's peak resident set (maxrss) after the rounds
"""

import itertools
import time

import pytest

from minipg.reinforce import reinforce, rollout_buffers

from . import blocks


@pytest.mark.benchmark(group="blog epoch")
@pytest.mark.parametrize("name", ["cartpole", "swingup"])
def test_blog_epoch(benchmark, bench, name):
    config = blocks.CONFIGS[name]
    E, T = bench.size(name)
    gamma, rounds = config["gamma"], bench.rounds(name)
    env = blocks.make_config_env(config, E)
    alone_env = blocks.make_config_env(config, E)
    instrumented_policy = blocks.make_policy(config, env, bench.chunk_size, dtype=bench.dtype)
    policy = blocks.make_policy(config, env, bench.chunk_size, dtype=bench.dtype)
    buffers = rollout_buffers(env, instrumented_policy, T)
    splits, env_alone, recorded, cpu = [], [], [], []
    setup_seeds, epoch_seeds = itertools.count(), itertools.count()

    def instrumented_and_env_alone():  # each round's setup, untimed by pytest-benchmark
        seed = next(setup_seeds)
        splits.append(blocks.instrumented_epoch(env, instrumented_policy, buffers, gamma, seed)[0])
        env_alone.append(blocks.time_env_alone(alone_env, T, seed))

    def epoch():
        cpu_start = time.process_time()
        history = reinforce(env, policy, gamma=gamma, epochs=1, T=T, seed=next(epoch_seeds))
        cpu.append(time.process_time() - cpu_start)
        recorded.append(history["seconds"][0])

    try:
        benchmark.pedantic(epoch, setup=instrumented_and_env_alone, rounds=rounds, warmup_rounds=1)
        maxrss = blocks.maxrss_bytes()
    finally:
        env.close()
        alone_env.close()
    for split in splits:  # the parts add up to the epoch, none is negative
        assert min(split.values()) >= 0
        assert sum(split[key] for key, _ in blocks.SPLIT_PARTS) == pytest.approx(split["total"], rel=1e-9)
    if benchmark.disabled:  # --benchmark-disable: one untimed round, no figures
        return
    for measured in (splits, env_alone, recorded, cpu):
        del measured[0]  # the warm-up round
    epoch_median = benchmark.stats.stats.median
    split = {key: blocks.median([s[key] for s in splits]) for key in (*dict(blocks.SPLIT_PARTS), "total")}
    env_alone_median = blocks.median(env_alone)
    target, met = blocks.blog_target(name, (E, T), bench.dtype, epoch_median, env_alone_median)
    bench.record(benchmark, "blog", name, {
        "env_id": config["env_id"], "E": E, "T": T, "rounds": rounds,
        "split_median_s": split, "split_per_round_s": splits,
        "epoch_median_s": epoch_median, "epoch_s": list(benchmark.stats.stats.data),
        "epoch_recorded_median_s": blocks.median(recorded), "epoch_cpu_median_s": blocks.median(cpu),
        "sum_over_epoch": split["total"] / epoch_median,
        "env_steps_per_s": E * T / epoch_median,
        "env_alone_median_s": env_alone_median, "env_alone_s": env_alone,
        "env_alone_steps_per_s": E * T / env_alone_median,
        "epoch_over_env_alone": epoch_median / env_alone_median,
        "target": target, "target_met": met,
        "learn_peak_bytes": blocks.learn_step_peak(instrumented_policy, buffers, gamma),
        "buffers_bytes": blocks.buffers_bytes(buffers),
        "maxrss_bytes": maxrss,
    })
    bench.check_target(f"{name}: {target}", met)
