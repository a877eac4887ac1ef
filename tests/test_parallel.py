"""Threads (minipg/parallel.py): one BLAS thread on import, overridable; the learn step gives the
same bits on any number of worker threads."""

import os
import subprocess
import sys

import numpy as np
import pytest
from gymnasium import spaces

from conftest import stand_in_env
from minipg import parallel
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy


def blas_threads_after_import(**variables):
    """The BLAS thread count a fresh `import minipg` leaves, with these environment variables."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MINIPG_")}
    environment.update(variables)
    code = ("import minipg, threadpoolctl; "
            "print([i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'][0])")
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    return result


def test_import_sets_one_blas_thread_and_the_variable_overrides_it():
    assert blas_threads_after_import(OPENBLAS_NUM_THREADS="2").stdout.strip() == "1"
    assert blas_threads_after_import(OPENBLAS_NUM_THREADS="2", MINIPG_BLAS_THREADS="2").stdout.strip() == "2"
    # "default" leaves what NumPy's BLAS was started with
    assert blas_threads_after_import(OPENBLAS_NUM_THREADS="2", MINIPG_BLAS_THREADS="default").stdout.strip() == "2"


def test_bad_blas_thread_variable_is_named_at_import():
    result = blas_threads_after_import(MINIPG_BLAS_THREADS="many")
    assert result.returncode != 0
    assert "MINIPG_BLAS_THREADS must be a positive integer, got 'many'" in result.stderr


@pytest.mark.parametrize("text, expected", [("", 3), ("1", 1), (" 4 ", 4)])
def test_thread_count(monkeypatch, text, expected):
    monkeypatch.setenv("MINIPG_THREADS", text)
    assert parallel.thread_count("MINIPG_THREADS", 3) == expected


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "two"])
def test_thread_count_rejects(monkeypatch, text):
    monkeypatch.setenv("MINIPG_THREADS", text)
    with pytest.raises(ValueError, match=f"MINIPG_THREADS must be a positive integer, got '{text}'"):
        parallel.worker_threads()


def test_worker_threads_default_to_the_usable_cores(monkeypatch):
    monkeypatch.delenv("MINIPG_THREADS", raising=False)
    assert parallel.worker_threads() == parallel.usable_cores() >= 1


@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("multiply_adds", [None, 1, parallel.MIN_PARALLEL_MULTIPLY_ADDS])
def test_map_in_order(threads, multiply_adds):
    assert parallel.map_in_order(lambda x: x * x, range(7), threads, multiply_adds) == [x * x for x in range(7)]


def test_worker_threads_see_the_callers_numpy_error_state():
    """np.errstate is a context variable: each item runs in a copy of the caller's context, so a
    caller that silences overflow warnings silences them in the workers too."""
    import threading

    def state(item):
        return np.geterr()["over"], threading.current_thread() is threading.main_thread()

    with np.errstate(over="ignore"):
        results = parallel.map_in_order(state, range(4), threads=2)
    assert [over for over, _ in results] == ["ignore"] * 4
    assert not all(main for _, main in results)  # some ran on worker threads
    assert np.geterr()["over"] == "warn"


def test_policy_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), threads=0)


@pytest.mark.parametrize("make_policy, actions", [
    (lambda threads: DiagonalGaussianPolicy(stand_in_env(5, spaces.Box(-1, 1, (2,))), hidden=(64, 64),
                                            seed=0, chunk_size=300, threads=threads,
                                            mirror=(1, -1, 1, -1, 1)),
     lambda rng, shape: rng.standard_normal(shape + (2,))),
    (lambda threads: CategoricalPolicy(stand_in_env(5, spaces.Discrete(3)), hidden=(300, 300), seed=0,
                                       chunk_size=101, threads=threads),
     lambda rng, shape: rng.integers(0, 3, size=shape)),
], ids=["gaussian-mirror", "categorical-mlp"])
def test_learn_step_is_bitwise_the_same_on_any_number_of_threads(make_policy, actions):
    """Chunks big enough to run in parallel (so threads are really used), summed in order."""
    rng = np.random.default_rng(0)
    shape = (40, 31)
    states = rng.standard_normal(shape + (5,))
    batch = (states, actions(rng, shape), rng.standard_normal(shape), rng.random(shape) < 0.9)
    results = []
    for threads in (1, 2, 3):
        policy = make_policy(threads)
        assert policy.chunk_size * policy.net.multiply_adds_per_sample >= parallel.MIN_PARALLEL_MULTIPLY_ADDS
        stats = policy.update(*batch)
        results.append((stats["loss"], stats["entropy"], [p.copy() for p in policy.parameters()]))
    for loss, entropy, parameters in results[1:]:
        assert loss == results[0][0] and entropy == results[0][1]
        for a, b in zip(parameters, results[0][2]):
            np.testing.assert_array_equal(a, b)


def test_beside_runs_the_function_on_another_thread_and_waits_for_it():
    import threading
    import time
    log = []

    def slow():
        time.sleep(0.05)
        log.append(("beside", threading.current_thread() is threading.main_thread()))

    with parallel.beside(slow, threads=2):
        log.append(("block", True))
    assert log == [("block", True), ("beside", False)]  # waited for at the block's end
    log.clear()
    with parallel.beside(slow, threads=1):  # one thread: before the block
        log.append(("block", True))
    assert log == [("beside", True), ("block", True)]
    with parallel.beside(None, threads=2):
        pass


def test_beside_raises_the_functions_error_and_waits_for_it_when_the_block_fails():
    import time
    finished = []

    def fails():
        raise ValueError("from beside")

    with pytest.raises(ValueError, match="from beside"):
        with parallel.beside(fails, threads=2):
            pass

    def slow():
        time.sleep(0.05)
        finished.append(True)

    with pytest.raises(KeyError):
        with parallel.beside(slow, threads=2):
            raise KeyError("block")
    assert finished == [True]


def test_beside_runs_the_function_in_the_callers_numpy_error_state():
    seen = []
    with np.errstate(over="ignore"):
        with parallel.beside(lambda: seen.append(np.geterr()["over"]), threads=2):
            pass
    assert seen == ["ignore"]


def test_when_both_fail_the_blocks_error_wins_with_the_functions_as_its_context():
    def fails():
        raise ValueError("from beside")

    with pytest.raises(KeyError) as raised:
        with parallel.beside(fails, threads=2):
            raise KeyError("block")
    assert isinstance(raised.value.__context__, ValueError)


def test_beside_runs_a_small_function_before_the_block_as_on_one_thread():
    import threading
    log = []

    def record():
        log.append(threading.current_thread() is threading.main_thread())

    with parallel.beside(record, threads=2, multiply_adds=parallel.MIN_BESIDE_MULTIPLY_ADDS - 1):
        assert log == [True]  # already run, in the caller's thread
    with parallel.beside(record, threads=2, multiply_adds=parallel.MIN_BESIDE_MULTIPLY_ADDS):
        pass
    assert log == [True, False]


def test_the_value_fit_steps_work_is_its_rows_times_the_networks_forward_multiply_adds():
    from minipg.baselines import ValueBaseline
    baseline = ValueBaseline(3, 0.99, np.random.default_rng(0), hidden=(64, 64), batch_size=4096)
    per_row = (3 + 1) * 64 + 64 * 64 + 64  # the time feature is an input
    assert baseline.step_multiply_adds(np.ones((8, 200), dtype=bool)) == 1600 * per_row
    assert baseline.step_multiply_adds(np.ones((16, 500), dtype=bool)) == 4096 * per_row
