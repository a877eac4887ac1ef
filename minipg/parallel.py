"""How minipg uses the cores: one BLAS thread, and the learn step's chunks on worker threads.

Why not NumPy's default?  Its OpenBLAS splits every matrix product over all cores, and its
threads *spin* while they wait for each other.  When another busy process holds a core, each
small product (a 256 × 64 rollout step) waits for a thread that is not running: two swing-up
runs at once took 25 s per epoch each instead of 0.75 s.  So on `import minipg` BLAS is set
to one thread (with threadpoolctl, which works whatever NumPy was imported before), and the
second core works where there is independent work of a size that pays: the learn step's chunks,
when a batch is cut into several (policies.py), and the value fit beside the policy's update
(`beside`, solver.py), each on Python threads.  NumPy releases
the GIL inside its array operations, and a Python thread waiting for a busy core sleeps instead
of spinning, so a shared machine slows a run by about its fair share, not 30×.

Each chunk's gradient is computed on one thread by one BLAS thread, and the chunks are summed
in their order whatever thread computed them, so results do not depend on the thread counts.

Overrides, read when minipg is imported:

    MINIPG_BLAS_THREADS=N   BLAS threads (default 1); "default" leaves NumPy's own setting
    MINIPG_THREADS=N        worker threads of the learn step (default: the usable cores)
"""

import contextlib
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor, wait

import numpy  # noqa: F401  (loads NumPy's BLAS: threadpoolctl only sees loaded libraries)
from threadpoolctl import threadpool_limits

BLAS_THREADS_VARIABLE = "MINIPG_BLAS_THREADS"
WORKER_THREADS_VARIABLE = "MINIPG_THREADS"


def usable_cores():
    """The cores this process may run on (its CPU affinity, where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count(variable, default):
    """The positive integer in environment `variable`, `default` when unset; else a ValueError."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{variable} must be a positive integer, got {text!r}")
    return value


def limit_blas_threads():
    """Set the BLAS thread count from MINIPG_BLAS_THREADS (default 1; "default": leave it).

    Returns the count set, or None when left alone.
    """
    if os.environ.get(BLAS_THREADS_VARIABLE, "").strip().lower() == "default":
        return None
    count = thread_count(BLAS_THREADS_VARIABLE, 1)
    threadpool_limits(limits=count, user_api="blas")
    return count


def worker_threads():
    """Threads for the learn step's chunks: MINIPG_THREADS, or the usable cores."""
    return thread_count(WORKER_THREADS_VARIABLE, usable_cores())


# Handing an item to a thread costs tens of microseconds; an item with fewer multiply-adds than
# this (a linear CartPole policy's chunk: 4096 × 4 × 2) finishes sooner on the calling thread.
MIN_PARALLEL_MULTIPLY_ADDS = 2**20


def map_in_order(function, items, threads, multiply_adds=None):
    """[function(item) for item in items], computed on up to `threads` threads, in item order.

    multiply_adds: the work of one item, if known; below MIN_PARALLEL_MULTIPLY_ADDS, and with one
    thread or one item, everything runs in the caller's thread: no pool, nothing to wait for.
    """
    items = list(items)
    small = multiply_adds is not None and multiply_adds < MIN_PARALLEL_MULTIPLY_ADDS
    if threads <= 1 or len(items) <= 1 or small:
        return [function(item) for item in items]
    # Each item runs in a copy of the caller's context, so NumPy's error state (np.errstate, a
    # context variable) holds in the worker threads as in the caller's.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(lambda item: context.copy().run(function, item), items))


# A step of the function beside the block (one value-fit step: its rows × the network's forward
# multiply-adds a row) below this is mostly short NumPy calls: both threads then queue for the
# interpreter lock.  Pendulum's fit steps (1,600 rows × 4,352 = 7.0M) beside its passes made an epoch
# 15–20 % slower; Acrobot's and the swing-up's (4,096 rows, 18.4–18.6M) 25 % and 16 % faster
# (docs/speed.md).  Between the two.
MIN_BESIDE_MULTIPLY_ADDS = 12_000_000


@contextlib.contextmanager
def beside(function, threads, multiply_adds=None):
    """Run function() on a thread of its own while the with-block runs in the caller's, and wait
    for it when the block ends (its exception, if any, is raised there); with threads ≤ 1, run it
    before the block.  For two independent pieces of work, e.g. the value fit beside the policy's
    update (solver.train): each does its arithmetic in the same order on any thread, so the
    results are the same bits either way.  The block's own exception waits for the thread too,
    and wins if both fail (the function's is then its __context__).  On one thread a failing
    function stops the block before it starts; on two the block has run.  function None: nothing
    beside the block.  multiply_adds: the work of one of the function's steps, if known; below
    MIN_BESIDE_MULTIPLY_ADDS it runs before the block, as on one thread."""
    small = multiply_adds is not None and multiply_adds < MIN_BESIDE_MULTIPLY_ADDS
    if function is None or threads <= 1 or small:
        if function is not None:
            function()
        yield
        return
    context = contextvars.copy_context()  # NumPy's error state holds in the thread, as in map_in_order
    with ThreadPoolExecutor(max_workers=1) as pool:
        done = pool.submit(context.run, function)
        try:
            yield
        except BaseException as error:
            wait([done])
            if done.exception() is not None and error.__context__ is None:
                error.__context__ = done.exception()
            raise
    done.result()


def add_gradients(total, grads):
    """total + grads for lists of gradient arrays, added into total's arrays in place (None: the
    first chunk's list itself).  Chunks summed in their order give the same bits on any thread count."""
    if total is None:
        return grads
    for array, g in zip(total, grads):
        array += g
    return total
