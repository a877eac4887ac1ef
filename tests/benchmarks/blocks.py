"""What the benchmarks measure, as plain functions (test_smoke.py checks them directly).

Every time is wall-clock time from time.perf_counter(), pytest-benchmark's default timer too,
and every figure the tables print is a MEDIAN over rounds, so one slow round (one hit by
another process on this shared machine) does not move it.

The two configurations are the post's experiments (run_cartpole.py, run_swingup.py --preset blog):

    cartpole: CartPole-v0, E = 32 envs × T = 1000 steps, linear CategoricalPolicy, lr 0.1, γ 0.99;
    swingup:  CartPoleSwingUp-v0 (minipg's batched NumPy twin), E = 256 × T = 1000,
              DiagonalGaussianPolicy hidden (64, 64), lr 1e-2, log_std_init 0.5, γ 0.999.

Run as `python -m benchmarks.blocks NAME E T DTYPE CHUNK_SIZE` from tests/, this module is the
busy-machine benchmark's competitor: it trains NAME's configuration until it is terminated.
"""

import copy
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import gymnasium
import numpy as np
import threadpoolctl

from minipg.envs import make_env
from minipg.parallel import (
    BLAS_THREADS_VARIABLE,
    WORKER_THREADS_VARIABLE,
    worker_threads,
)
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.reinforce import epoch_metrics, epoch_seed, reinforce, rollout_buffers
from minipg.returns import calculate_returns
from minipg.solver import collect_rollout

TESTS_DIR = Path(__file__).resolve().parent.parent
ROOT = TESTS_DIR.parent

CONFIGS = {
    "cartpole": {
        "env_id": "CartPole-v0", "vectorization": "auto", "E": 32, "T": 1000, "gamma": 0.99,
        "policy": CategoricalPolicy, "policy_kwargs": {"lr": 0.1, "hidden": ()},
        "rounds": 15,  # epochs are short (0.06 s), and the 1.5x target is tight: more rounds
    },
    "swingup": {
        "env_id": "CartPoleSwingUp-v0", "vectorization": "vector", "E": 256, "T": 1000, "gamma": 0.999,
        "policy": DiagonalGaussianPolicy,
        "policy_kwargs": {"lr": 1e-2, "hidden": (64, 64), "log_std_init": 0.5},
        "rounds": 9,
    },
}
SWINGUP_ID = CONFIGS["swingup"]["env_id"]

# The targets, judged at the blog sizes only (and the swing-up epoch in float64 only).
CARTPOLE_MAX_RATIO = 1.5          # CartPole epoch ≤ 1.5 × the env alone
SWINGUP_MAX_EPOCH_SECONDS = 0.45  # swing-up blog epoch, float64
BUSY_MAX_SLOWDOWN = 2.5           # an epoch beside one competing process / alone (a fair share is 2x)

# Environment variables that set thread counts; recorded with the figures.
THREAD_ENV_VARS = (BLAS_THREADS_VARIABLE, WORKER_THREADS_VARIABLE, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                   "MKL_NUM_THREADS")

# The parts of an instrumented epoch (instrumented_epoch), in the order the table prints them.
SPLIT_PARTS = (
    ("env_step", "env.step"),
    ("act", "policy.act (forward + sample)"),
    ("rollout_rest", "rest of the rollout"),
    ("returns", "calculate_returns"),
    ("update", "policy.update (learn step)"),
    ("reset_metrics", "reset + epoch_metrics"),
)


def make_config_env(config, E):
    """E copies of the configuration's environment, vectorized as the scripts do."""
    return make_env(config["env_id"], E, config["vectorization"])


def make_policy(config, env, chunk_size=None, seed=0, dtype="float64"):
    """The configuration's policy for `env`.  chunk_size: samples per chunk of the learn step
    (None: the policies' default); dtype: float64 or float32, of the policy and its buffers."""
    return config["policy"](env, seed=seed, chunk_size=chunk_size, dtype=dtype, **config["policy_kwargs"])


def median(values):
    return float(statistics.median(values))


# ---------------------------------------------------------------- the epoch, part by part
class Timed:
    """`wrapped` with one method timed: each call adds its perf_counter seconds to `.seconds`.

    Every other attribute passes through, so the real rollout code runs unchanged on it.
    """

    def __init__(self, wrapped, method):
        self._wrapped = wrapped
        self.seconds = 0.0
        inner = getattr(wrapped, method)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(self, method, timed)

    def __getattr__(self, name):
        return getattr(self._wrapped, name)


def instrumented_rollout(env, policy, buffers, observations):
    """minipg.solver.collect_rollout, with `policy.act` and `env.step` timed.

    It is the rollout of minipg.reinforce's loop (the same calls in the same order, so the same
    actions), plus what bootstrapping needs (which steps terminated, the last observations).
    Returns (Σ seconds in policy.act, Σ seconds in env.step).
    """
    timed_env, timed_policy = Timed(env, "step"), Timed(policy, "act")
    collect_rollout(timed_env, timed_policy, buffers, observations)
    return timed_policy.seconds, timed_env.seconds


def instrumented_epoch(env, policy, buffers, gamma, seed):
    """The first epoch of minipg.reinforce(env, policy, gamma, T=len(buffers["states"]), seed=seed),
    timed part by part.

    reset with the epoch's seed; the rollout (instrumented_rollout); G = calculate_returns;
    policy.update(states, actions, G, mask=valid); epoch_metrics.  Only reinforce's appends to
    its history lists are left out (microseconds).  test_smoke.py checks that the policy ends
    with the same parameters as after reinforce's epoch.

    Returns (seconds, metrics): seconds per part (the keys of SPLIT_PARTS) and "total", the wall
    time of the whole epoch, which the parts add up to; metrics: epoch_metrics' dict.
        env_step       Σ over the T steps of env.step
        act            Σ of policy.act: the forward pass and sampling with the pre-drawn noise
        rollout_rest   the rest of the rollout: drawing the epoch's sampling noise, writing the
                       buffers, the done flags, the mask of valid transitions
        returns        calculate_returns, the backward recursion of returns.py
        update         the learn step: loss, hand-written gradients, Adam (policies.py)
        reset_metrics  env.reset at the start and epoch_metrics at the end
    """
    clock = time.perf_counter
    start = clock()
    observations, _ = env.reset(seed=epoch_seed(seed, 0))
    rollout_start = clock()
    act_seconds, step_seconds = instrumented_rollout(env, policy, buffers, observations)
    rollout_end = clock()
    G = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    returns_end = clock()
    policy.update(buffers["states"], buffers["actions"], G, mask=buffers["valid"])
    update_end = clock()
    metrics = epoch_metrics(buffers["rewards"], buffers["dones"])
    end = clock()
    seconds = {
        "env_step": step_seconds,
        "act": act_seconds,
        "rollout_rest": (rollout_end - rollout_start) - act_seconds - step_seconds,
        "returns": returns_end - rollout_end,
        "update": update_end - returns_end,
        "reset_metrics": (rollout_start - start) + (end - update_end),
        "total": end - start,
    }
    return seconds, metrics


def fixed_action(env):
    """A batch of zero actions for every env: (E,) int64 for Discrete, (E, M) for a Box."""
    space = env.single_action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.zeros(env.num_envs, dtype=np.int64)
    return np.zeros((env.num_envs,) + space.shape, dtype=space.dtype)


def time_env_alone(env, T, seed):
    """The env-alone floor: seconds for T env.step calls with a fixed action (after one untimed
    reset), the least any policy pays for those E·T steps."""
    actions = fixed_action(env)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(T):
        env.step(actions)
    return time.perf_counter() - start


def blog_target(name, size, dtype, epoch_seconds, env_alone_seconds):
    """(the target as text, whether it is met), met None where it is not judged: at sizes other
    than the blog's, and for the swing-up epoch in another dtype than float64."""
    config = CONFIGS[name]
    if name == "cartpole":
        text = f"epoch <= {CARTPOLE_MAX_RATIO}x env alone"
        met = epoch_seconds <= CARTPOLE_MAX_RATIO * env_alone_seconds
        judged = True
    else:
        text = f"epoch <= {SWINGUP_MAX_EPOCH_SECONDS} s (float64)"
        met = epoch_seconds <= SWINGUP_MAX_EPOCH_SECONDS
        judged = dtype == "float64"
    judged = judged and tuple(size) == (config["E"], config["T"])
    return text, (bool(met) if judged else None)


# ---------------------------------------------------------------- memory
def learn_step_peak(policy, buffers, gamma=None):
    """Peak bytes allocated during one policy.update on `buffers` (tracemalloc: Python and NumPy
    allocations), above what was allocated before it.

    Runs on a deep copy of the policy, so the measured policy is not moved by an extra step;
    measured apart from the timed epochs, because tracing slows allocation down.
    buffers: a filled rollout; its rewards serve as the returns when gamma is None.
    """
    policy = copy.deepcopy(policy)
    rewards, dones = buffers["rewards"], buffers["dones"]
    G = rewards if gamma is None else calculate_returns(rewards, dones, gamma)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        policy.update(buffers["states"], buffers["actions"], G, mask=buffers["valid"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def random_rollout(env, policy, T, seed=0):
    """Rollout buffers of shape (T, E, ...) filled with random numbers, step by step in place
    (no full-size temporaries that would raise the process peak).  The learn step's allocations
    depend on the shapes only, so its peak memory can be measured on these."""
    buffers = rollout_buffers(env, policy, T)
    rng = np.random.default_rng(seed)
    for key in ("states", "actions", "rewards"):
        for block in buffers[key]:  # (E, ...) per step
            block[...] = rng.standard_normal(block.shape)
    buffers["dones"][...] = False
    return buffers


def buffers_bytes(buffers):
    """Bytes of a rollout's preallocated arrays."""
    return sum(value.nbytes for value in buffers.values() if isinstance(value, np.ndarray))


def maxrss_bytes():
    """The process's peak resident set so far: everything, the interpreter, NumPy and gymnasium
    included (getrusage; Linux reports KiB, macOS bytes).  It only ever grows."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


# ---------------------------------------------------------------- env stepping
def step_through(env, actions):
    """env.step(a) for each batch a of actions: (steps, E, ...)."""
    for action in actions:
        env.step(action)


# ---------------------------------------------------------------- the machine
def thread_settings():
    """BLAS threads (threadpoolctl), the learn step's worker threads (minipg/parallel.py) and
    the thread variables of the environment, unset ones as None."""
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
    return {
        "blas_threads": counts[0] if counts else None,
        "worker_threads": worker_threads(),
        "thread_env": {key: os.environ.get(key) for key in THREAD_ENV_VARS},
    }


def loadavg():
    """The 1, 5 and 15 minute load averages, or None where the OS does not tell."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# ---------------------------------------------------------------- the busy machine
class Competitor:
    """A second process training `name`'s configuration without end, as a second run_*.py
    would; a context manager that returns once its first epoch is done.

    pause() stops it (SIGSTOP), resume() lets it run again (SIGCONT).  It inherits the
    environment, so MINIPG_BLAS_THREADS=default MINIPG_THREADS=1 apply to both processes.
    """

    def __init__(self, name, E, T, dtype="float64", chunk_size=None):
        self.command = [sys.executable, "-m", "benchmarks.blocks", name, str(E), str(T), dtype,
                        str(chunk_size or 0)]
        self.process = None

    def __enter__(self):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(self.command, cwd=TESTS_DIR, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self.__exit__(None, None, None)
            raise RuntimeError(f"the competitor {self.command} did not start:\n{self.errors}")
        return self

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def __exit__(self, *exc_info):
        if self.process.poll() is None:
            self.resume()  # a stopped process does not act on SIGTERM
            self.process.terminate()
        self.process.wait()
        self.process.stdout.close()
        self._stderr.seek(0)
        self.errors = self._stderr.read()[-2000:]  # the end of what it wrote to stderr
        self._stderr.close()


def compete(name, E, T, dtype, chunk_size):
    """The competitor: train `name`'s configuration at E × T; print "ready" after the first epoch."""
    config = CONFIGS[name]
    env = make_config_env(config, E)
    policy = make_policy(config, env, chunk_size or None, seed=1, dtype=dtype)

    def ready(epoch, history):
        if epoch == 0:
            print("ready", flush=True)

    reinforce(env, policy, gamma=config["gamma"], epochs=10**9, T=T, seed=1, callback=ready)


if __name__ == "__main__":
    name, E, T, dtype, chunk_size = sys.argv[1:]
    compete(name, int(E), int(T), dtype, int(chunk_size))
