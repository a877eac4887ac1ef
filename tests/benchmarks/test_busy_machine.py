"""Each blog configuration alone and beside a second process training the same thing.

The competitor (blocks.Competitor) is a second process training the same configuration without
end, as a second run_*.py would.  pytest-benchmark times the busy epochs: one minipg.reinforce
epoch with the competitor running.  Before each of its rounds, untimed by it, one epoch runs
alone: the competitor stopped (SIGSTOP), the epoch timed with the same clock, the competitor
continued (SIGCONT).  Alone and busy epochs alternate, so a drift of the machine's speed hits
both alike; one warm-up round comes first.

    slowdown = median busy epoch / median alone epoch;  target ≤ 2.5 (a fair share of 2 cores is 2x)

minipg runs BLAS on one thread (minipg/parallel.py); the competitor inherits the environment,
so `MINIPG_BLAS_THREADS=default MINIPG_THREADS=1 make bench BENCH_ARGS='-k busy'` shows NumPy's
default threading instead (an epoch tens of times slower beside a competitor).
"""

import itertools
import time

import pytest

from minipg.reinforce import reinforce

from . import blocks


@pytest.mark.benchmark(group="busy machine")
@pytest.mark.parametrize("name", ["cartpole", "swingup"])
def test_busy_machine(benchmark, bench, name):
    config = blocks.CONFIGS[name]
    E, T = bench.size(name)
    rounds = bench.rounds(name)
    env = blocks.make_config_env(config, E)
    policy = blocks.make_policy(config, env, bench.chunk_size, dtype=bench.dtype)
    seeds = itertools.count()
    alone = []

    def epoch():
        reinforce(env, policy, gamma=config["gamma"], epochs=1, T=T, seed=next(seeds))

    try:
        with blocks.Competitor(name, E, T, bench.dtype, bench.chunk_size) as competitor:
            def epoch_alone():  # each round's setup, untimed by pytest-benchmark
                competitor.pause()
                try:
                    start = time.perf_counter()
                    epoch()
                    alone.append(time.perf_counter() - start)
                finally:
                    competitor.resume()

            benchmark.pedantic(epoch, setup=epoch_alone, rounds=rounds, warmup_rounds=1)
            assert competitor.process.poll() is None, "the competitor stopped during the benchmark"
    finally:
        env.close()
    if benchmark.disabled:
        return
    del alone[0]  # the warm-up round
    busy = list(benchmark.stats.stats.data)
    slowdown = blocks.median(busy) / blocks.median(alone)
    met = slowdown <= blocks.BUSY_MAX_SLOWDOWN if (E, T) == (config["E"], config["T"]) else None
    bench.record(benchmark, "busy", name, {
        "env_id": config["env_id"], "E": E, "T": T, "rounds": rounds,
        "alone_s": alone, "busy_s": busy,
        "alone_median_s": blocks.median(alone), "busy_median_s": blocks.median(busy),
        "slowdown": slowdown, "target_met": met,
    })
    bench.check_target(f"{name} beside a competitor: slowdown {slowdown:.2f}x <= {blocks.BUSY_MAX_SLOWDOWN}x", met)
