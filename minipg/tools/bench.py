"""Where the time of a REINFORCE epoch goes, and how it scales: `python -m minipg.tools.bench`.

Every figure is wall-clock time from time.perf_counter(), measured in this one process, and
reported as the MEDIAN over repeated epochs (so one slow epoch, e.g. the first one or one
hit by another process, does not move it).  The machine's load average (/proc/loadavg) is
printed before and after: on a shared machine the figures are only as good as that load.

Sections (pick a subset with --only):

cartpole, swingup — the two blog configurations
    cartpole: CartPole-v0, E = 32 envs × T = 1000 steps, linear CategoricalPolicy, lr 0.1, γ 0.99;
    swingup:  CartPoleSwingUp-v0 (NumPy twin), E = 256 × T = 1000, DiagonalGaussianPolicy
              hidden (64, 64), lr 1e-2, log_std_init 0.5, γ 0.999.

    Epoch split.  `instrumented_epoch` repeats what one epoch of minipg.reinforce.reinforce
    does (reset, collect_rollout, calculate_returns, update, epoch_metrics); the rollout is
    minipg.reinforce.collect_rollout itself, given an env and an agent whose `step` and `act`
    add their perf_counter time to accumulators (`Timed`).  Its rows:
        env.step            Σ over the T steps of the env.step calls
        agent.act           Σ of the policy forward pass + sampling with the pre-drawn noise
        rollout loop rest   the rest of the rollout: drawing the epoch's sampling noise, writing
                            the buffers, done/valid flags, reinforce's check that the rewards
                            are finite
        calculate_returns   the backward recursion of returns.py
        update              the learn step: loss, hand-written gradients, Adam (policies.py)
        reset + metrics     env.reset at the start, epoch_metrics at the end
        sum of parts        wall time of the whole instrumented epoch
        real epoch          the epoch time `reinforce` itself records (history["seconds"]),
                            for the SAME configuration with its own agent (same seed).
                            sum / real ≈ 1 shows the instrumentation neither misses nor adds time.
        real epoch, CPU     time.process_time() of that reinforce call (all threads of this
                            process).  Wall > CPU means the process waited for a core: with
                            one BLAS thread, CPU is about what the epoch takes on an idle core.
    Each round runs one instrumented epoch, one real epoch (a reinforce(..., epochs=1) call)
    and one env-alone run (below), so load changes hit all three alike; one untimed warm-up
    round comes first.  Each row is a median over --epochs rounds, so the rows need not add
    up exactly to the median "sum of parts".

    Also printed: env steps/s = E·T / real epoch; the learn step's peak memory (tracemalloc:
    the peak of Python + NumPy allocations during one extra `update`, run on a copy of the
    agent with the last epoch's buffers, minus what was allocated before it; measured apart
    from the timed epochs because tracing slows allocation); the rollout buffers' size; and
    the process's peak resident set so far (resource.getrusage ru_maxrss: everything, incl.
    the interpreter, NumPy and gymnasium).

    Baseline.  The environment alone, in the same run: make_env(env_id, E) reset once, then
    stepped T times with a fixed action (zeros), the minimum any agent pays for those E·T
    steps.  ratio = real epoch / env-alone time.  Targets: CartPole epoch ≤ 1.5 × env-alone;
    swing-up blog epoch ≤ 0.45 s (float64).  Targets are judged only at the blog sizes.

scaling — swing-up for E × T in a grid (default {32, 256, 1024, 4096} × {200, 1000})
    epoch: median of history["seconds"] over --scaling-epochs epochs of the real `reinforce`;
    µs/sample = epoch / (E·T), flat when the cost is linear in the batch (rising for small
    E, where per-step Python overhead is not amortized over the envs);
    learn peak: tracemalloc peak of one `update` on buffers of that shape (random contents:
    the learn step's allocations depend on shapes, not values);
    buffers: the bytes of the preallocated rollout buffers (rollout_buffers);
    maxrss: the process's peak resident set right after that row's reinforce epochs (it only
    ever grows, so a row shows a new peak only when it needed more than all rows before it).

impl — swing-up physics: minipg's NumPy twin vs the package's own classes
    Both stepped --impl-steps steps with the same random actions in [-1, 1], E = --impl-E
    (256): the twin via make_env(..., "vector") (one set of array operations for all E
    envs) and gym-cartpole-swingup's env classes via make_env(..., "sync") (gymnasium's
    SyncVectorEnv: E Python env.step calls per step).  Median of --impl-repeats runs; env
    construction and reset are not timed.

busy — each blog configuration alone and next to a competing process
    The competitor is a second process training the same configuration without end (what a
    second run_*.py would do).  Rounds alternate: --busy-epochs real reinforce epochs with the
    competitor paused (SIGSTOP: alone), then as many with it running (SIGCONT: busy), so a drift
    of the machine's speed hits both alike.  slowdown = median busy epoch / median alone epoch;
    target <= 2.5 (a fair share of 2 cores is 2x).  The competitor inherits the environment, so
    MINIPG_BLAS_THREADS=default MINIPG_THREADS=1 shows NumPy's default threading instead.

Threads.  minipg runs BLAS on one thread and the learn step's chunks on MINIPG_THREADS worker
threads (minipg/parallel.py); the header prints both counts.

--chunk-size N is passed to the policies (samples per chunk of the learn step); the learn
peak memory shows its effect.  --profile additionally profiles one swing-up blog epoch with
cProfile and prints the top functions by own time (tottime).  --json PATH writes every figure.
"""

import argparse
import copy
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc

import gymnasium
import numpy as np
import threadpoolctl

from ..envs import make_env
from ..parallel import BLAS_THREADS_VARIABLE, WORKER_THREADS_VARIABLE, worker_threads
from ..policies import DEFAULT_CHUNK_SIZE, CategoricalPolicy, DiagonalGaussianPolicy
from ..reinforce import check_finite, collect_rollout, epoch_metrics, reinforce, rollout_buffers
from ..returns import calculate_returns

MiB = 2**20

# The two experiments of the post (run_cartpole.py and run_swingup.py --preset blog).
CONFIGS = {
    "cartpole": {
        "env_id": "CartPole-v0", "vectorization": "auto", "E": 32, "T": 1000, "gamma": 0.99,
        "policy": CategoricalPolicy, "policy_kwargs": {"lr": 0.1, "hidden": ()},
    },
    "swingup": {
        "env_id": "CartPoleSwingUp-v0", "vectorization": "vector", "E": 256, "T": 1000, "gamma": 0.999,
        "policy": DiagonalGaussianPolicy,
        "policy_kwargs": {"lr": 1e-2, "hidden": (64, 64), "log_std_init": 0.5},
    },
}

# The targets the figures are judged against (at the blog sizes only).
CARTPOLE_MAX_RATIO = 1.5       # CartPole epoch ≤ 1.5 × the env alone
SWINGUP_MAX_EPOCH_SECONDS = 0.45  # swing-up blog epoch, float64
BUSY_MAX_SLOWDOWN = 2.5  # an epoch beside one competing process / alone (a fair share is 2x)

# Environment variables that set the BLAS thread count; recorded with the figures.
THREAD_ENV_VARS = (BLAS_THREADS_VARIABLE, WORKER_THREADS_VARIABLE, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                   "MKL_NUM_THREADS")

SECTIONS = ("cartpole", "swingup", "scaling", "impl", "busy")
SPLIT_ROWS = (
    ("env_step", "env.step"),
    ("act", "agent.act (forward + sample)"),
    ("rollout_rest", "rollout loop rest"),
    ("returns", "calculate_returns"),
    ("update", "update (learn step)"),
    ("reset_metrics", "reset + epoch_metrics"),
)


# ---------------------------------------------------------------- building blocks
def make_policy(config, env, chunk_size, seed=0, dtype="float64"):
    """The config's policy for `env`.  chunk_size: samples per chunk of the learn step;
    dtype: float64 or float32 for the policy and (through it) the rollout buffers."""
    return config["policy"](env, seed=seed, chunk_size=chunk_size, dtype=dtype, **config["policy_kwargs"])


class Timed:
    """`wrapped` with one method timed: calls add their perf_counter seconds to `.seconds`.

    Every other attribute passes through, so the real rollout loop runs unchanged on it.
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


def instrumented_rollout(env, agent, buffers, observations):
    """minipg.reinforce.collect_rollout itself, with `agent.act` and `env.step` timed.

    Returns (Σ seconds in agent.act, Σ seconds in env.step).
    """
    timed_env, timed_agent = Timed(env, "step"), Timed(agent, "act")
    collect_rollout(timed_env, timed_agent, buffers, observations)
    return timed_agent.seconds, timed_env.seconds


def instrumented_epoch(env, agent, buffers, gamma, seed):
    """One epoch as minipg.reinforce.reinforce runs it with its defaults, timed by part.

    reinforce's defaults (baseline "none", no normalization, no lr decay, no gradient
    clipping, no should_stop) make its advantages the returns themselves, so update gets the
    returns here.  Bookkeeping of the history lists is left out (microseconds).
    Returns seconds per part (keys of SPLIT_ROWS) and "total".
    """
    clock = time.perf_counter
    start = clock()
    observations, _ = env.reset(seed=seed)
    rollout_start = clock()
    act_seconds, step_seconds = instrumented_rollout(env, agent, buffers, observations)
    # reinforce's check that the env returned finite rewards (observations are checked by act)
    check_finite(0, "reward", buffers["rewards"])
    rollout_end = clock()
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    returns_end = clock()
    agent.update(buffers["states"], buffers["actions"], returns, mask=buffers["valid"])
    update_end = clock()
    epoch_metrics(buffers)
    end = clock()
    return {
        "env_step": step_seconds,
        "act": act_seconds,
        "rollout_rest": (rollout_end - rollout_start) - act_seconds - step_seconds,  # + finite check
        "returns": returns_end - rollout_end,
        "update": update_end - returns_end,
        "reset_metrics": (rollout_start - start) + (end - update_end),
        "total": end - start,
    }


def real_epoch_seconds(env, agent, T, gamma, seed):
    """(wall, CPU) seconds of one epoch of the real minipg.reinforce.reinforce.

    wall: the epoch time reinforce records (history["seconds"]); CPU: time.process_time() of
    the whole call (this process, all threads; includes allocating the rollout buffers).
    """
    cpu_start = time.process_time()
    history = reinforce(env, agent, gamma=gamma, epochs=1, T=T, seed=seed)
    return history["seconds"][0], time.process_time() - cpu_start


def learn_step_peak(agent, buffers, gamma=None):
    """Peak bytes allocated during one `update` on `buffers` (tracemalloc), above the start.

    Runs on a deep copy of the agent, so the measured agent is not moved by an extra step.
    buffers: a filled rollout (rewards used as the returns when gamma is None).
    """
    agent = copy.deepcopy(agent)
    returns = (buffers["rewards"] if gamma is None
               else calculate_returns(buffers["rewards"], buffers["dones"], gamma))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        agent.update(buffers["states"], buffers["actions"], returns, mask=buffers["valid"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def maxrss_bytes():
    """The process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def buffers_bytes(buffers):
    return sum(value.nbytes for value in buffers.values() if isinstance(value, np.ndarray))


def fixed_action(env):
    """A batch of zero actions for every env: (E,) int64 for Discrete, (E, M) float32 for Box."""
    space = env.single_action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.zeros(env.num_envs, dtype=np.int64)
    return np.zeros((env.num_envs,) + space.shape, dtype=space.dtype)


def time_env_alone(env, T, seed):
    """Seconds for T env.step calls with a fixed action, after one (untimed) reset."""
    actions = fixed_action(env)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(T):
        env.step(actions)
    return time.perf_counter() - start


def blas_threads():
    """The thread count of the BLAS NumPy uses (threadpoolctl), or None if none is found."""
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
    return counts[0] if counts else None


def median(values):
    return float(statistics.median(values))


def loadavg():
    """The 1, 5 and 15 minute load averages, or None where /proc/loadavg does not exist."""
    try:
        with open("/proc/loadavg") as file:
            return [float(field) for field in file.read().split()[:3]]
    except OSError:
        return None


# ---------------------------------------------------------------- sections
def bench_config(name, config, epochs, chunk_size, E=None, T=None, seed=0, dtype="float64"):
    """Epoch split, real epoch time, env-alone baseline and memory of one config (see module doc)."""
    E = config["E"] if E is None else E
    T = config["T"] if T is None else T
    gamma = config["gamma"]
    env = make_env(config["env_id"], E, config["vectorization"])
    instrumented_agent = make_policy(config, env, chunk_size, seed, dtype)
    real_agent = make_policy(config, env, chunk_size, seed, dtype)
    baseline_env = make_env(config["env_id"], E, config["vectorization"])
    buffers = rollout_buffers(env, instrumented_agent, T)

    # One untimed warm-up round: first calls pay for lazy initialization (caches, page faults).
    instrumented_epoch(env, instrumented_agent, buffers, gamma, seed)
    real_epoch_seconds(env, real_agent, T, gamma, seed)
    time_env_alone(baseline_env, T, seed)

    splits, real, real_cpu, env_alone = [], [], [], []
    for epoch in range(1, epochs + 1):  # interleaved, so load changes hit all three alike
        splits.append(instrumented_epoch(env, instrumented_agent, buffers, gamma, seed + epoch))
        wall, cpu = real_epoch_seconds(env, real_agent, T, gamma, seed + epoch)
        real.append(wall)
        real_cpu.append(cpu)
        env_alone.append(time_env_alone(baseline_env, T, seed + epoch))
    maxrss = maxrss_bytes()  # before the traced extra update below (which needs no more anyway)
    env.close()
    baseline_env.close()

    split = {key: median([s[key] for s in splits]) for key in (*dict(SPLIT_ROWS), "total")}
    real_median = median(real)
    env_alone_median = median(env_alone)
    # The swing-up target is stated for float64; CartPole's ratio holds for either dtype.
    is_blog_size = (E, T) == (config["E"], config["T"]) and (name == "cartpole" or dtype == "float64")
    if name == "cartpole":
        target = f"epoch <= {CARTPOLE_MAX_RATIO}x env alone"
        met = real_median <= CARTPOLE_MAX_RATIO * env_alone_median
    else:
        target = f"epoch <= {SWINGUP_MAX_EPOCH_SECONDS} s (float64)"
        met = real_median <= SWINGUP_MAX_EPOCH_SECONDS
    return {
        "env_id": config["env_id"], "E": E, "T": T, "epochs": epochs,
        "split_median_s": split,
        "split_per_epoch_s": splits,
        "real_epoch_median_s": real_median,
        "real_epoch_s": real,
        "real_epoch_cpu_median_s": median(real_cpu),
        "real_epoch_cpu_s": real_cpu,
        "sum_over_real": split["total"] / real_median,
        "env_steps_per_s": E * T / real_median,
        "env_alone_median_s": env_alone_median,
        "env_alone_s": env_alone,
        "env_alone_steps_per_s": E * T / env_alone_median,
        "ratio_epoch_over_env_alone": real_median / env_alone_median,
        "target": target,
        "target_met": bool(met) if is_blog_size else None,
        "learn_peak_bytes": learn_step_peak(instrumented_agent, buffers, gamma),
        "buffers_bytes": buffers_bytes(buffers),
        "maxrss_bytes": maxrss,
    }


def bench_scaling(Es, Ts, epochs, chunk_size, seed=0, dtype="float64"):
    """Swing-up epoch time and learn-step memory for every (E, T) (see module doc)."""
    config = CONFIGS["swingup"]
    rows = []
    for E in Es:
        for T in Ts:
            env = make_env(config["env_id"], E, config["vectorization"])
            agent = make_policy(config, env, chunk_size, seed, dtype)
            seconds = reinforce(env, agent, gamma=config["gamma"], epochs=epochs, T=T, seed=seed)["seconds"]
            epoch = median(seconds)
            maxrss = maxrss_bytes()  # read now: it includes reinforce's peak, not the lines below
            # The learn step's memory depends on shapes only: fill buffers at random, in place
            # (no full-size temporaries, so the process peak is not inflated by the filling).
            buffers = rollout_buffers(env, agent, T)
            rng = np.random.default_rng(seed)
            for key in ("states", "actions", "rewards"):
                for block in buffers[key]:  # (E, ...) per step
                    block[...] = rng.standard_normal(block.shape)
            buffers["dones"][...] = False
            env.close()
            rows.append({
                "E": E, "T": T, "samples": E * T, "epochs": epochs,
                "epoch_median_s": epoch, "epoch_s": seconds,
                "us_per_sample": 1e6 * epoch / (E * T),
                "learn_peak_bytes": learn_step_peak(agent, buffers),
                "buffers_bytes": buffers_bytes(buffers),
                "maxrss_bytes": maxrss,
            })
    return rows


def time_env_steps(env, actions, seed):
    """Seconds for len(actions) env.step calls (after an untimed reset)."""
    env.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return time.perf_counter() - start


def bench_impl(E, steps, repeats, seed=0):
    """Swing-up env steps/s: the NumPy twin vs the package's classes one by one (see module doc)."""
    env_id = CONFIGS["swingup"]["env_id"]
    actions = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(steps, E, 1)).astype(np.float32)
    result = {"E": E, "steps": steps, "repeats": repeats}
    for key, vectorization in (("numpy_twin", "vector"), ("package_sync", "sync")):
        env = make_env(env_id, E, vectorization)
        seconds = [time_env_steps(env, actions, seed + r) for r in range(repeats)]
        env.close()
        result[key] = {"vectorization": vectorization, "median_s": median(seconds), "seconds": seconds,
                       "steps_per_s": E * steps / median(seconds)}
    result["twin_over_package"] = result["numpy_twin"]["steps_per_s"] / result["package_sync"]["steps_per_s"]
    return result


def profile_swingup_epoch(chunk_size, top, seed=0, dtype="float64"):
    """cProfile of one real swing-up blog epoch (after one warm-up epoch): top functions by tottime."""
    config = CONFIGS["swingup"]
    env = make_env(config["env_id"], config["E"], config["vectorization"])
    agent = make_policy(config, env, chunk_size, seed, dtype)
    real_epoch_seconds(env, agent, config["T"], config["gamma"], seed)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    real_epoch_seconds(env, agent, config["T"], config["gamma"], seed + 1)
    profiler.disable()
    env.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---------------------------------------------------------------- output
def bench_busy(name, config, rounds, epochs, chunk_size, seed=0, dtype="float64"):
    """Epoch seconds of `config` alone and beside a competing process (see module doc)."""
    env = make_env(config["env_id"], config["E"], config["vectorization"])
    agent = make_policy(config, env, chunk_size, seed, dtype)
    competitor = subprocess.Popen(
        [sys.executable, "-m", "minipg.tools.bench", "--compete", name, "--dtype", dtype,
         "--chunk-size", str(chunk_size)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        competitor.stdout.readline()  # "ready": its first epoch is done
        reinforce(env, agent, gamma=config["gamma"], epochs=1, T=config["T"], seed=seed)  # warm-up
        alone, busy = [], []
        for round_ in range(rounds):
            for signal_, times in ((signal.SIGSTOP, alone), (signal.SIGCONT, busy)):
                competitor.send_signal(signal_)
                history = reinforce(env, agent, gamma=config["gamma"], epochs=epochs,
                                    T=config["T"], seed=seed + round_)
                times.extend(history["seconds"])
    finally:
        competitor.send_signal(signal.SIGCONT)  # a stopped process does not act on SIGTERM
        competitor.terminate()
        competitor.wait()
        env.close()
    return {"E": config["E"], "T": config["T"], "alone_s": alone, "busy_s": busy,
            "alone_median_s": median(alone), "busy_median_s": median(busy),
            "slowdown": median(busy) / median(alone)}


def compete(name, chunk_size, dtype):
    """The competitor of `bench_busy`: train `name`'s configuration until terminated."""
    config = CONFIGS[name]
    env = make_env(config["env_id"], config["E"], config["vectorization"])
    agent = make_policy(config, env, chunk_size, 1, dtype)

    def ready(epoch, history):
        if epoch == 0:
            print("ready", flush=True)

    reinforce(env, agent, gamma=config["gamma"], epochs=10**9, T=config["T"], seed=1, callback=ready)


def busy_table(results):
    headers = ["config", "E", "T", "alone epoch [s]", "busy epoch [s]", "slowdown", "target", "met"]
    rows = [[name, r["E"], r["T"], seconds(r["alone_median_s"]), seconds(r["busy_median_s"]),
             f"{r['slowdown']:.2f}x", f"<= {BUSY_MAX_SLOWDOWN}x",
             "yes" if r["slowdown"] <= BUSY_MAX_SLOWDOWN else "NO"] for name, r in results.items()]
    return format_table(headers, rows, "== Busy machine: alone vs beside a second process training "
                                       "the same configuration (medians) ==")


def format_table(headers, rows, title=None):
    """Plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    out = [] if title is None else [title]
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in cells[1:])
    return "\n".join(out)


def seconds(value):
    return f"{value:.4f}"


def mib(value):
    return f"{value / MiB:.1f}"


def rate(value):
    return f"{value:,.0f}"


def split_table(results, dtype_name, chunk_size):
    names = list(results)
    headers = ["part of the epoch"]
    for name in names:
        headers += [f"{name} [s]", "%"]
    rows = []
    for key, label in (*SPLIT_ROWS, ("total", "sum of parts (instrumented)")):
        row = [label]
        for name in names:
            part, total = results[name]["split_median_s"][key], results[name]["split_median_s"]["total"]
            row += [seconds(part), f"{100 * part / total:.1f}"]
        rows.append(row)
    extra = (
        ("real reinforce epoch [s]", lambda r: seconds(r["real_epoch_median_s"])),
        ("sum of parts / real", lambda r: f"{r['sum_over_real']:.3f}"),
        ("real epoch, CPU time [s]", lambda r: seconds(r["real_epoch_cpu_median_s"])),
        ("env steps/s (real epoch)", lambda r: rate(r["env_steps_per_s"])),
        ("learn-step peak, tracemalloc [MiB]", lambda r: mib(r["learn_peak_bytes"])),
        ("rollout buffers [MiB]", lambda r: mib(r["buffers_bytes"])),
        ("process maxrss so far [MiB]", lambda r: mib(r["maxrss_bytes"])),
    )
    for label, value in extra:
        row = [label]
        for name in names:
            row += [value(results[name]), ""]
        rows.append(row)
    sizes = ", ".join(f"{n}: E={results[n]['E']} T={results[n]['T']}" for n in names)
    epochs = results[names[0]]["epochs"]
    title = (f"== Epoch split, medians over {epochs} epochs ({sizes}; {dtype_name}, chunk_size {chunk_size}) ==")
    return format_table(headers, rows, title)


def baseline_table(results):
    headers = ["config", "E", "T", "env alone [s]", "env alone steps/s", "epoch [s]", "epoch CPU [s]",
               "epoch / env alone", "target", "met"]
    rows = []
    for name, r in results.items():
        met = "n/a (not blog size)" if r["target_met"] is None else ("yes" if r["target_met"] else "NO")
        rows.append([name, r["E"], r["T"], seconds(r["env_alone_median_s"]), rate(r["env_alone_steps_per_s"]),
                     seconds(r["real_epoch_median_s"]), seconds(r["real_epoch_cpu_median_s"]),
                     f"{r['ratio_epoch_over_env_alone']:.2f}x",
                     r["target"], met])
    return format_table(headers, rows, "== Baseline: the vector env alone, fixed zero actions, same E x T ==")


def scaling_table(rows, dtype_name, chunk_size):
    headers = ["E", "T", "samples E*T", "epoch [s]", "us/sample", "learn peak [MiB]", "buffers [MiB]",
               "maxrss [MiB]"]
    body = [[r["E"], r["T"], f"{r['samples']:,}", seconds(r["epoch_median_s"]), f"{r['us_per_sample']:.3f}",
             mib(r["learn_peak_bytes"]), mib(r["buffers_bytes"]), mib(r["maxrss_bytes"])] for r in rows]
    epochs = rows[0]["epochs"] if rows else 0
    table = format_table(headers, body, f"== Swing-up scaling: real reinforce epochs, median of {epochs} "
                                        f"({dtype_name}, chunk_size {chunk_size}) ==")
    return table + "\n" + linearity_line(rows)


def linearity_line(rows):
    """How far from proportional to E·T: the largest µs/sample over the smallest (target ≤ 1.5).

    Also for the rows with E ≥ each E of the table, which shows where a fixed per-step cost
    stops mattering."""
    def spread(subset):
        per_sample = [r["us_per_sample"] for r in subset]
        return max(per_sample) / min(per_sample)

    if len(rows) < 2:
        return "linearity: needs two or more (E, T) rows"
    overall = spread(rows)
    parts = [f"linearity: max/min us per sample = {overall:.2f}x (target <= 1.5x: "
             f"{'met' if overall <= 1.5 else 'NOT met'})"]
    for smallest in sorted({r["E"] for r in rows})[1:]:
        subset = [r for r in rows if r["E"] >= smallest]
        if len(subset) >= 2:
            parts.append(f"E >= {smallest}: {spread(subset):.2f}x")
    return "; ".join(parts)


def impl_table(result):
    headers = ["swing-up implementation", "E", "steps", "time [s]", "env steps/s"]
    rows = [[label, result["E"], result["steps"], seconds(result[key]["median_s"]), rate(result[key]["steps_per_s"])]
            for key, label in (("numpy_twin", "numpy twin (make_env vector)"),
                               ("package_sync", "package per-env (make_env sync)"))]
    rows.append(["twin / package speed-up", "", "", "", f"{result['twin_over_package']:.1f}x"])
    return format_table(headers, rows, f"== Swing-up env stepping, median of {result['repeats']} runs ==")


# ---------------------------------------------------------------- command line
def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m minipg.tools.bench",
        description="Time the blog configurations epoch by epoch, the env alone, swing-up scaling "
                    "and the swing-up env implementations (see the module docstring for each figure).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="sections to run")
    parser.add_argument("--epochs", type=positive_int, default=5,
                        help="epochs per blog config (medians are reported)")
    parser.add_argument("--blog-E", type=positive_int, default=None,
                        help="override E of the blog configs (quick checks; targets are then not judged)")
    parser.add_argument("--blog-T", type=positive_int, default=None,
                        help="override T of the blog configs (quick checks; targets are then not judged)")
    parser.add_argument("--E", type=positive_int, nargs="+", default=[32, 256, 1024, 4096],
                        help="scaling: numbers of envs")
    parser.add_argument("--T", type=positive_int, nargs="+", default=[200, 1000],
                        help="scaling: rollout lengths")
    parser.add_argument("--scaling-epochs", type=positive_int, default=2,
                        help="scaling: epochs per (E, T) (median reported)")
    parser.add_argument("--impl-E", type=positive_int, default=256, help="impl: number of envs")
    parser.add_argument("--impl-steps", type=positive_int, default=300, help="impl: steps per run")
    parser.add_argument("--impl-repeats", type=positive_int, default=3, help="impl: runs per implementation")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="float type of the policies and buffers (the swing-up target is for float64)")
    parser.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE,
                        help="samples per chunk of the learn step, passed to the policies")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of policies and env resets")
    parser.add_argument("--profile", type=positive_int, nargs="?", const=10, default=None, metavar="TOP",
                        help="also cProfile one swing-up blog epoch and print the TOP functions by tottime")
    parser.add_argument("--busy-rounds", type=positive_int, default=3,
                        help="busy: alternating rounds of alone and busy epochs")
    parser.add_argument("--busy-epochs", type=positive_int, default=3,
                        help="busy: epochs per round and condition")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--compete", choices=sorted(CONFIGS), help=argparse.SUPPRESS)  # bench_busy's competitor
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.compete:
        return compete(args.compete, args.chunk_size, args.dtype)
    dtype_name = args.dtype
    report = {
        "meta": {
            "argv": sys.argv[1:] if argv is None else list(argv),
            "python": platform.python_version(), "numpy": np.__version__, "gymnasium": gymnasium.__version__,
            "cpu_count": os.cpu_count(), "dtype": dtype_name, "chunk_size": args.chunk_size,
            "blas_threads": blas_threads(), "worker_threads": worker_threads(),
            "thread_env": {key: os.environ.get(key) for key in THREAD_ENV_VARS},
            "loadavg_before": loadavg(),
        },
    }
    print(f"minipg bench: python {report['meta']['python']}, numpy {np.__version__}, gymnasium "
          f"{gymnasium.__version__}, {os.cpu_count()} CPUs, {dtype_name}, chunk_size {args.chunk_size}")
    threads_set = {k: v for k, v in report["meta"]["thread_env"].items() if v is not None}
    print(f"BLAS threads: {report['meta']['blas_threads'] or 'unknown'}, learn-step worker threads: "
          f"{report['meta']['worker_threads']} ({threads_set or 'no thread variables set'})")
    print(f"load average before (1, 5, 15 min): {report['meta']['loadavg_before']}")
    print(flush=True)

    blog = [name for name in ("cartpole", "swingup") if name in args.only]
    if blog:
        results = {name: bench_config(name, CONFIGS[name], args.epochs, args.chunk_size,
                                      args.blog_E, args.blog_T, args.seed, args.dtype) for name in blog}
        report["blog"] = results
        print(split_table(results, dtype_name, args.chunk_size), end="\n\n")
        print(baseline_table(results), end="\n\n", flush=True)
    if "scaling" in args.only:
        rows = bench_scaling(args.E, args.T, args.scaling_epochs, args.chunk_size, args.seed, args.dtype)
        report["scaling"] = rows
        print(scaling_table(rows, dtype_name, args.chunk_size), end="\n\n", flush=True)
    if "impl" in args.only:
        result = bench_impl(args.impl_E, args.impl_steps, args.impl_repeats, args.seed)
        report["impl"] = result
        print(impl_table(result), end="\n\n", flush=True)
    if "busy" in args.only:
        results = {name: bench_busy(name, CONFIGS[name], args.busy_rounds, args.busy_epochs,
                                    args.chunk_size, args.seed, args.dtype)
                   for name in ("cartpole", "swingup")}
        report["busy"] = results
        print(busy_table(results), end="\n\n", flush=True)
    if args.profile:
        text = profile_swingup_epoch(args.chunk_size, args.profile, args.seed, args.dtype)
        report["profile_swingup"] = text
        print(f"== cProfile of one swing-up blog epoch, top {args.profile} by tottime ==")
        print(text)

    report["meta"]["loadavg_after"] = loadavg()
    report["meta"]["maxrss_bytes"] = maxrss_bytes()
    print(f"load average after (1, 5, 15 min): {report['meta']['loadavg_after']}")
    print(f"process maxrss at the end (incl. the bench's own measurement buffers): "
          f"{mib(report['meta']['maxrss_bytes'])} MiB")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=2)
        print(f"figures written to {args.json}")
    return report


if __name__ == "__main__":
    main()
