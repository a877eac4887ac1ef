"""The swing-up solve epoch in FLOP: its arithmetic counted, its parts timed, and the ceiling.

What test_solve_epoch.py measures, as plain functions (test_smoke.py checks them directly).

**Counting.**  Only the dense layers' matrix products are counted, analytically from the sizes
each part was called with, a multiply-add (MAC) being 2 FLOP.  For an MLP of layer sizes
(n_0, n_1, ..., n_L), MLP.forward and MLP.backward (minipg/layers.py) do per row:

    forward   F = Σ_l n_{l-1}·n_l                     y = x W_l
    backward  B = Σ_l n_{l-1}·n_l                     ∂W_l = h_{l-1}ᵀ g
                + Σ_{l ≥ 2} n_{l-1}·n_l               ∂h_{l-1} = g W_lᵀ (none for the input layer)

so for the swing-up's 5-64-64-1 networks (the policy's mean and the value net) F = 4,480 and
B = 8,640 MACs a row.  The elementwise work (bias, ReLU and its mask, the Gaussian's log π, the
clipped surrogate, Adam) is left out: about 650 FLOP a row against the products' 26,240 (≈ 2.5 %).

Per epoch, with E envs × T steps, n valid samples (≤ E·T: a NEXT_STEP env's reset steps are no
transitions), m = 2 rows per sample with the mirror (μ(s) = ½(f(s) − f(m ⊙ s)) runs the network
on s and m ⊙ s stacked) else 1, F, B of the policy's network and F_V, B_V of the value net:

    rollout     T·E·m·F                 collect_rollout: policy.act's forward, every step
    value fit   S·min(b, n)·(F_V + B_V) ValueBaseline.fit: S = value_steps Adam steps, each on a
                                        minibatch of min(b, n) samples (b = 4096), forward + backward
    passes      K·n·m·(F + B)           ppo_update: K = update_epochs passes over the n samples in
                                        minibatches, forward + backward of each
              + n·m·F                   and, once, log π of the policy that acted (θ_old)
    rest        (T·E + E + f)·F_V       V of the rollout's states and, bootstrapping, of the E last
                                        observations and the f final observations of episodes cut
                                        in a SAME_STEP env (f = 0 for the swing-up twin, NEXT_STEP)

each × 2 FLOP.  The solve preset (E 64, T 500, S 50, K 10, mirror; n ≈ 32,000): passes ≈ 17.4
GFLOP, value fit 5.4, rollout 0.57, rest 0.29; ≈ 23.6 GFLOP an epoch.

**Timing.**  SolverParts replaces minipg.solver's collect_rollout and ppo_update and
ValueBaseline.prepare_fit by wrappers that call the original with the same arguments, return its
result (prepare_fit's is the value fit's steps as a function, itself timed when it runs), and add its
perf_counter (wall) and CPU seconds to the part, as blocks.Timed does for env.step and
policy.act: process_time (all threads) for the rollout, thread_time (the thread that ran it) for
the value fit and the passes, which run at once on two threads (solver.train; the solve
preset's passes and fit are one chunk each, so each part is one thread).  They also note the
sizes the count needs (n from the mask the function was given, and so on), outside the timed
call.  The learn step's wall time is the union of the fit's and the passes' spans; "rest" is the
epoch's wall time as train records it (history["seconds"]) less the rollout and the learn step.

**The ceiling.**  matmul_rate: the machine's own float32 rate for the products that carry
nearly all of the learn step's FLOP, those of the 64 → 64 hidden layer over a chunk's rows,
forward Z = H W, ∂W = Hᵀ G and ∂H = G Wᵀ, repeated into preallocated outputs, with nothing else
(no bias, no ReLU, no Python between them), on one thread and on several at once.
"""

import functools
import inspect
import math
import sys
import threading
import time

import numpy as np

import minipg.solver
from minipg.baselines import ValueBaseline
from minipg.parallel import MIN_PARALLEL_MULTIPLY_ADDS, map_in_order

from .blocks import ROOT

GIGA = 1e9

# The parts of a solve epoch, in the order the table prints them.
SOLVE_PARTS = (
    ("rollout", "rollout (collect_rollout)"),
    ("value_fit", "value fit (ValueBaseline.prepare_fit, beside the passes)"),
    ("passes", "clipped passes (ppo_update)"),
    ("rest", "rest (reset, V predictions, GAE, the fit's draws, metrics)"),
)
TIMED_PARTS = ("rollout", "value_fit", "passes")
TERM_NAMES = {"rollout": "rollout", "value_fit": "value fit", "passes": "passes", "rest": "rest"}
LEARN_PARTS = ("value_fit", "passes")  # the learn step: nearly all matrix products

# The solve preset at toy sizes (test_smoke.py): 3 envs × 12 steps, two passes in minibatches of 16,
# 2 value steps.
TOY_SOLVE = {"num_envs": 3, "T": 12, "update_epochs": 2, "minibatch_size": 16, "value_steps": 2}


def solve_preset():
    """run_swingup.SOLVE, the swing-up's `solve` preset (run_swingup.py lives at the repository root)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import run_swingup

    return run_swingup.SOLVE


# ---------------------------------------------------------------- counting
def mlp_macs(sizes):
    """(F, B): multiply-adds per row of MLP.forward and of MLP.backward for layer sizes
    (n_0, ..., n_L): F = Σ n_{l-1}·n_l; B = F (∂W) + the same sum without the input layer (∂h,
    which MLP.backward skips for the input).  (5, 64, 64, 1): (4480, 8640)."""
    layers = [n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return sum(layers), sum(layers) + sum(layers[1:])


def epoch_flop(sizes):
    """FLOP of one solve epoch per term and part, from the sizes SolverParts noted (see the
    module's docstring for the formulas).  Returns {"terms": {"part: what": FLOP}, "parts":
    {part: FLOP}, "total": FLOP}; the parts are the keys of SOLVE_PARTS, each the sum of its terms."""
    rollout, fit, passes = sizes["rollout"], sizes["value_fit"], sizes["passes"]
    F, B = mlp_macs(passes["policy_sizes"])
    F_V, B_V = mlp_macs(fit["value_sizes"])
    m, n = passes["rows_per_sample"], passes["samples"]
    predictions = rollout["T"] * rollout["E"]                        # V(s) of the rollout's states
    if sizes["bootstrap"]:
        predictions += rollout["E"] + rollout["final_observations"]  # V of the last observations
    terms = [  # (part, what, multiply-adds)
        ("rollout", "policy forward, every step", rollout["T"] * rollout["E"] * rollout["rows_per_sample"] * F),
        ("value_fit", "forward + backward", fit["steps"] * fit["batch_rows"] * (F_V + B_V)),
        ("passes", "forward + backward", passes["update_epochs"] * n * m * (F + B)),
        ("passes", "log π of the acting policy", n * m * F),
        ("rest", "V predictions", predictions * F_V),
    ]
    parts = {part: 0 for part, _ in SOLVE_PARTS}
    for part, _, macs in terms:
        parts[part] += 2 * macs
    return {"terms": {f"{TERM_NAMES[part]}: {what}": 2 * macs for part, what, macs in terms}, "parts": parts,
            "total": sum(parts.values())}


def threads_used(threads, samples_per_step, chunk_size, multiply_adds_per_sample):
    """The threads one learn step's chunks run on: map_in_order (minipg/parallel.py) runs a step
    of one chunk, or of chunks with less work than MIN_PARALLEL_MULTIPLY_ADDS, in the caller."""
    chunks = math.ceil(samples_per_step / chunk_size)
    work = min(chunk_size, samples_per_step) * multiply_adds_per_sample
    if threads <= 1 or chunks <= 1 or work < MIN_PARALLEL_MULTIPLY_ADDS:
        return 1
    return min(threads, chunks)


# ---------------------------------------------------------------- timing
class SolverParts:
    """A context manager: while entered, minipg.solver.collect_rollout, minipg.solver.ppo_update
    and ValueBaseline.prepare_fit are timed wrappers of themselves (train looks the first two up in
    minipg.solver when it calls them, and the value baseline's prepare_fit on its class; the
    function prepare_fit returns is timed when it runs, on the thread that runs it).

    After each call, `seconds[part]` and `cpu_seconds[part]` have grown by its wall and CPU
    time, `spans[part]` holds its (start, end) perf_counter times and `sizes[part]` what the FLOP
    count needs; `learn_seconds()` is the union of the learn parts' spans; `reset()` starts a new epoch.
    `active` is the part the calling thread is running now (None outside the three).
    The wrappers pass every argument on and return the result: what runs does not change
    (test_smoke.py checks the parameters against a plain train).
    """

    def __init__(self):
        # (owner, name, part, note, whether the part's work is the function the call returns)
        self._patches = [
            (minipg.solver, "collect_rollout", "rollout", self._note_rollout, False),
            (ValueBaseline, "prepare_fit", "value_fit", self._note_value_fit, True),  # only draws: the fit runs later
            (minipg.solver, "ppo_update", "passes", self._note_passes, False),
        ]
        self._originals = []
        self._thread = threading.local()  # the part each thread is in: the fit and the passes run at once
        self.reset()

    @property
    def active(self):
        """The part the calling thread is running now (None outside the three)."""
        return getattr(self._thread, "part", None)

    def reset(self):
        """Zero the seconds and forget the sizes: the next epoch starts."""
        self.seconds = dict.fromkeys(TIMED_PARTS, 0.0)
        self.cpu_seconds = dict.fromkeys(TIMED_PARTS, 0.0)
        self.spans = {part: [] for part in TIMED_PARTS}
        self.sizes = {}

    def learn_seconds(self):
        """Wall seconds in which the value fit or the passes (or both at once) ran."""
        spans = sorted(span for part in LEARN_PARTS for span in self.spans[part])
        total, reached = 0.0, float("-inf")
        for start, end in spans:
            total += max(0.0, end - max(start, reached))
            reached = max(reached, end)
        return total

    def __enter__(self):
        for owner, name, part, note, returns_work in self._patches:
            original = getattr(owner, name)
            self._originals.append((owner, name, original))
            setattr(owner, name, self._timed(original, part, note, returns_work))
        return self

    def __exit__(self, *exc_info):
        while self._originals:
            owner, name, original = self._originals.pop()
            setattr(owner, name, original)

    def _clocked(self, function, part):
        """function, adding its wall and CPU seconds and its span to `part` when it runs."""
        cpu_clock = time.process_time if part == "rollout" else time.thread_time

        @functools.wraps(function)
        def clocked(*args, **kwargs):
            self._thread.part = part
            wall, cpu = time.perf_counter(), cpu_clock()
            try:
                return function(*args, **kwargs)
            finally:
                end = time.perf_counter()
                self.seconds[part] += end - wall
                self.cpu_seconds[part] += cpu_clock() - cpu
                self.spans[part].append((wall, end))
                self._thread.part = None

        return clocked

    def _timed(self, function, part, note, returns_work):
        signature = inspect.signature(function)
        timed_call = function if returns_work else self._clocked(function, part)

        @functools.wraps(function)
        def timed(*args, **kwargs):
            result = timed_call(*args, **kwargs)
            arguments = signature.bind(*args, **kwargs)  # after the clock: the sizes for the count
            arguments.apply_defaults()
            self.sizes[part] = note(arguments.arguments)
            return self._clocked(result, part) if returns_work else result

        return timed

    @staticmethod
    def _note_rollout(arguments):
        buffers, policy = arguments["buffers"], arguments["policy"]
        T, E = buffers["states"].shape[:2]
        finals = sum(len(ended) for ended, _ in buffers.get("final_observations", {}).values())
        return {"T": T, "E": E, "rows_per_sample": 1 if getattr(policy, "mirror", None) is None else 2,
                "final_observations": finals}

    @staticmethod
    def _note_value_fit(arguments):
        baseline, steps = arguments["self"], arguments["steps"]
        samples = int(np.count_nonzero(arguments["valid"]))
        batch_rows = min(baseline.batch_size, samples)
        return {"steps": baseline.steps if steps is None else int(steps), "samples": samples,
                "batch_rows": batch_rows, "value_sizes": baseline.net.sizes,
                "time_feature": baseline.time_feature, "chunk_size": baseline.chunk_size,
                "threads": threads_used(baseline.threads, batch_rows, baseline.chunk_size,
                                        baseline.net.multiply_adds_per_sample)}

    @staticmethod
    def _note_passes(arguments):
        policy = arguments["policy"]
        samples = int(np.count_nonzero(arguments["mask"]))
        minibatch = arguments["minibatch_size"]
        minibatch = samples if minibatch is None else min(int(minibatch), samples)
        return {"samples": samples, "update_epochs": int(arguments["update_epochs"]),
                "minibatch_size": minibatch, "steps": arguments["update_epochs"] * math.ceil(samples / minibatch),
                "rows_per_sample": 1 if getattr(policy, "mirror", None) is None else 2,
                "policy_sizes": policy.net.sizes, "chunk_size": policy.chunk_size,
                "threads": threads_used(policy.threads, minibatch, policy.chunk_size,
                                        policy.net.multiply_adds_per_sample)}


class _EpochDone(Exception):
    """Raised by train_one_epoch's callback to end train after one epoch."""


def train_one_epoch(env, policy, options, state, seed):
    """The next epoch of the run `state` carries: minipg.train(env, policy, options, seed,
    state=state), whose callback stops it after one epoch.  With the run's own options, each
    call continues the schedules (learning rate, log σ cap) exactly as one long train call
    would.  Returns the history (one epoch longer)."""
    def stop(epoch, history):
        raise _EpochDone

    try:
        minipg.solver.train(env, policy, options, seed=seed, callback=stop, state=state)
    except _EpochDone:
        return state.history
    raise RuntimeError(f"the run had no epoch left (options.epochs = {options.epochs})")


def solve_epoch_figures(parts, history, options):
    """One epoch's figures after train_one_epoch under `parts` (a SolverParts): wall and CPU
    seconds per part ("learn" = the union of the value fit's and the passes' spans, which overlap;
    "rest" = train's epoch seconds less the rollout and the learn step; "total" = the epoch),
    the sizes noted, and FLOP per term, part and in total."""
    epoch_seconds, learn = history["seconds"][-1], parts.learn_seconds()
    seconds = dict(parts.seconds, learn=learn, rest=epoch_seconds - parts.seconds["rollout"] - learn,
                   total=epoch_seconds)
    sizes = dict(parts.sizes, bootstrap=bool(options.bootstrap and options.gae_lambda is not None))
    return {"seconds": seconds, "cpu_seconds": dict(parts.cpu_seconds), "sizes": sizes, "flop": epoch_flop(sizes)}


# ---------------------------------------------------------------- the ceiling
def ceiling_shapes(policy, baseline, options):
    """{part: rows} of the hidden layer's products in the learn step's chunks: the value fit's,
    min(value batch, its chunk size, E·T) rows, and a minibatch's in the passes, min(minibatch,
    the policy's chunk size, E·T) samples × 2 rows with the mirror (4096 and 8192 for solve)."""
    samples = options.num_envs * options.T
    minibatch = samples if options.minibatch_size is None else options.minibatch_size
    rows_per_sample = 1 if getattr(policy, "mirror", None) is None else 2
    return {"value_fit": min(baseline.batch_size, baseline.chunk_size, samples),
            "passes": min(minibatch, policy.chunk_size, samples) * rows_per_sample}


def matmul_rate(rows, width, threads, dtype, flop_per_thread):
    """The machine's matrix-product rate: `threads` threads at once (parallel.map_in_order; one
    thread: the caller), each with arrays of its own, repeat the three products of a width → width
    dense layer over `rows` rows,

        Z = H W  (rows × width @ width × width),  ∂W = Hᵀ G  (width × rows @ rows × width),
        ∂H = G Wᵀ (rows × width @ width × width):  3 · 2·rows·width² FLOP a repeat,

    into preallocated outputs (np.matmul out=), products only: no bias, no ReLU, no allocation.
    BLAS runs as minipg set it (one thread per call, parallel.py).  Each thread repeats until it
    has done about `flop_per_thread` FLOP; the arrays are made and each product run once before
    the clock starts.  Returns {"gflop_per_s", "seconds", "flop"}: all threads' FLOP / wall time
    from the start of the first to the end of the last.
    """
    per_repeat = 3 * 2 * rows * width * width
    repeats = max(1, round(flop_per_thread / per_repeat))
    rng = np.random.default_rng(0)

    def arrays():
        H, G = rng.standard_normal((2, rows, width)).astype(dtype)
        W = rng.standard_normal((width, width)).astype(dtype)
        return H, G, W, np.empty((rows, width), dtype), np.empty((width, width), dtype), np.empty((rows, width), dtype)

    def products(H, G, W, Z, dW, dH, repeats=repeats):
        for _ in range(repeats):
            np.matmul(H, W, out=Z)
            np.matmul(H.T, G, out=dW)
            np.matmul(G, W.T, out=dH)

    work = [arrays() for _ in range(threads)]
    for item in work:
        products(*item, repeats=1)
    start = time.perf_counter()
    map_in_order(lambda item: products(*item), work, threads)
    seconds = time.perf_counter() - start
    flop = threads * repeats * per_repeat
    return {"gflop_per_s": flop / seconds / GIGA, "seconds": seconds, "flop": flop}


# ---------------------------------------------------------------- the figures of a run
def summary(epochs, ceilings, threads):
    """Medians over the rounds, and what follows from them.

    epochs: solve_epoch_figures of each round; ceilings: per round {part: {"one_thread": GFLOP/s,
    "threads": GFLOP/s}} for the shapes of ceiling_shapes; threads: the learn step's worker
    threads (the "threads" ceiling's count).  Returns:
        seconds, cpu_seconds     median wall and CPU seconds per part and of the epoch ("total")
        gflop, gflop_terms       median GFLOP per part, term and epoch
        gflop_per_s              median GFLOP / median seconds, per part and for the epoch
        ceiling_gflop_per_s      median ceiling per shape (part) and thread count
        over_ceiling             for the learn parts: achieved GFLOP/s / the ceiling of their shape
        learn_at_ceiling_s       the learn parts' GFLOP at their ceilings: the least time their
                                 products could take, on one thread and on `threads`
        epoch_at_ceiling_s       the median epoch with its learn parts at that least time
    """
    def median_of(path):
        values = [functools.reduce(lambda d, key: d[key], path, epoch) for epoch in epochs]
        return float(np.median(values))

    parts = [part for part, _ in SOLVE_PARTS] + ["total"]
    seconds = {part: median_of(("seconds", part)) for part in parts}
    cpu = {part: median_of(("cpu_seconds", part)) for part in TIMED_PARTS}
    gflop = {part: median_of(("flop", "parts", part)) / GIGA for part in parts[:-1]}
    gflop["total"] = median_of(("flop", "total")) / GIGA
    terms = {term: median_of(("flop", "terms", term)) / GIGA for term in epochs[0]["flop"]["terms"]}
    rate = {part: gflop[part] / seconds[part] if seconds[part] > 0 else float("nan") for part in parts}
    ceiling = {part: {count: float(np.median([c[part][count] for c in ceilings])) for count in ceilings[0][part]}
               for part in ceilings[0]}
    over = {part: {count: rate[part] / ceiling[part][count] for count in ceiling[part]} for part in LEARN_PARTS}
    at_ceiling = {count: sum(gflop[part] / ceiling[part][count] for part in LEARN_PARTS)
                  for count in ("one_thread", "threads")}
    learn_seconds = median_of(("seconds", "learn"))
    return {
        "seconds": seconds, "cpu_seconds": cpu, "gflop": gflop, "gflop_terms": terms, "gflop_per_s": rate,
        "ceiling_gflop_per_s": ceiling, "worker_threads": threads, "over_ceiling": over,
        "learn_s": learn_seconds, "learn_at_ceiling_s": at_ceiling,
        "epoch_at_ceiling_s": {count: seconds["total"] - learn_seconds + value for count, value in at_ceiling.items()},
    }
