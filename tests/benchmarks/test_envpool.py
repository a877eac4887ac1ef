"""EnvPool against gymnasium, per suite task: the env-alone floor (minipg/tools/floor.py) of the
preset's gymnasium env as the preset makes it (its num_envs and vectorization; `auto` where the
preset uses EnvPool) and of the same copies made with vectorization = "envpool", measured back
to back in each round (the machine's speed swings between sittings, not within a round),
medians of the rounds.  A task EnvPool lacks, or whose gymnasium env needs an extra that is not
installed, is skipped; so is the whole file without EnvPool.

    make bench BENCH_ARGS='-k envpool'     2,000 env steps per floor, 5 rounds: about 30 s

Figures: each backend's env steps/s and their ratio (EnvPool's over gymnasium's: above 1,
EnvPool steps faster).  The ratio, not the rates, carries from one sitting to another.
"""

import pytest

from minipg.envs import make_env
from minipg.options import load_presets
from minipg.tools.floor import env_floor_seconds
from minipg.tools.suite import TASKS, preset_env_steps

from . import blocks

pytest.importorskip("envpool", reason="EnvPool is not installed: pip install -e '.[envpool]' (make setup does)")

ROUNDS = 5


@pytest.mark.benchmark(group="envpool vs gymnasium")
@pytest.mark.parametrize("env_id", list(TASKS))
def test_envpool_against_gymnasium(benchmark, bench, env_id):
    options = load_presets()[env_id]
    gymnasium = "auto" if options.vectorization == "envpool" else options.vectorization
    try:
        make_env(env_id, 1, gymnasium).close()
        make_env(env_id, 1, "envpool").close()
    except ValueError as error:
        pytest.skip(str(error))
    steps = bench.floor_steps(preset_env_steps(options))
    rounds = 2 if bench.toy else ROUNDS
    floors = {gymnasium: [], "envpool": []}

    def both():
        for vectorization, seconds in floors.items():
            seconds.append(env_floor_seconds(env_id, options.num_envs, steps, vectorization, T=options.T))

    benchmark.pedantic(both, rounds=rounds, warmup_rounds=0)
    if benchmark.disabled:
        return
    gymnasium_s, envpool_s = (blocks.median(seconds) for seconds in floors.values())
    bench.record(benchmark, "envpool", env_id, {
        "env_id": env_id, "E": options.num_envs, "T": options.T, "vectorization": gymnasium,
        "env_steps": steps, "rounds": rounds, "seconds": floors,
        "gymnasium_steps_per_s": steps / gymnasium_s, "envpool_steps_per_s": steps / envpool_s,
        "speedup": gymnasium_s / envpool_s,
    })
