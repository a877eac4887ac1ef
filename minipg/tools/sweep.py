"""Seed sweeps through the standard `concurrent.futures.Executor` interface: `--seeds S … --jobs N`
on a local process pool, `--seeds S … --cluster ADDRESS` (or `--cluster slurm`) on a Dask cluster.

One code path serves both.  Each seed is one call `run_elsewhere(run)` of the seed's Run (run.py)
submitted to an executor: the standard library's ProcessPoolExecutor, or the one that Dask's
`distributed.Client(address).get_executor()` hands out.  The call is `train_run`, exactly as a
sequential run (results do not depend on thread counts, see minipg/parallel.py), with its output
paths redirected into a temporary directory of the worker, and returns a SeedRun: the RunResult
and the bytes of the files it wrote.  This process writes those files where the Run says
(atomically), so the workers need no shared filesystem.

Progress: one line per finished run (its seed, evaluation or last-10 return, wall time, how many
remain).  A run that stops on a non-finite value or cannot start (RunError), a run that raises,
and a worker that dies are each named in one line; the finished runs are kept and written, and
the exit status says that one failed (1, or the run's own status).

Signals.  On the first Ctrl-C or SIGTERM no further run starts: what has not started is
cancelled, what finished is written, and the exit status is 130 or 143.  On a local pool the
runs in progress stop after their current env step and keep their complete epochs, as a
sequential run does: Ctrl-C reaches every process of the terminal's foreground group, and
SIGTERM (sent by `timeout` or Slurm to this process only) is passed on to the pool's processes.
Between runs those processes ignore both.  On a Dask cluster a running task cannot be stopped
from here: the runs not finished are cancelled, and whatever a worker was computing is dropped.
A second signal ends this process at once, as in a sequential run.

Workers.  A pool's processes are forked from this one and share its cores: each run's learn
step gets usable cores // processes threads (MINIPG_THREADS, unless set).  A Dask worker needs
minipg installed (the same version) and takes MINIPG_THREADS from its own environment (default:
its cores).  Start Dask workers with --no-nanny: the nanny sets MALLOC_TRIM_THRESHOLD_=65536 in
its workers' environment, which switches off glibc's adaptive mmap threshold, and the swing-up
then trains ≈ 1.5× slower (every large NumPy temporary mapped and unmapped again; measured,
docs/sweeps.md).
Dask retries a run whose worker died on another worker (the same seed gives the same results),
and gives up with KilledWorker after its `allowed-failures`.
"""

import concurrent.futures
import contextlib
import dataclasses
import io
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool


from ..parallel import WORKER_THREADS_VARIABLE, usable_cores
from .checkpoint import one_line, write_atomically
from .run import EXIT_INTERRUPTED, EXIT_NON_FINITE, EXIT_TERMINATED, Interrupt, RunError, last_mean_return, train_run

DASK_INSTALL = 'pip install "dask[distributed]"'
JOBQUEUE_INSTALL = "pip install dask-jobqueue"
# Seconds to wait for a Dask scheduler before --cluster ADDRESS is refused.
CONNECT_SECONDS = 10
# How often the waiting loop looks at the signal flag, in seconds.
POLL_SECONDS = 0.2
EXIT_USAGE = 2  # a run that could not start (RunError), as the command line's usage errors


class ClusterError(Exception):
    """--cluster cannot be used as given (Dask missing, a scheduler that does not answer, ...);
    the message says why, and how to fix it."""


@dataclasses.dataclass
class SeedRun:
    """What one seed's run sends back from its worker: picklable, no files.

    result: its RunResult (None when the run ended before returning one: it could not start, or
    a second signal abandoned it); status: the result's, or EXIT_USAGE for a RunError, or the
    signal's; wall: seconds; files: {output path as the Run names it: its bytes}; errors: what
    the run printed to stderr (its last line says why it failed).
    """

    seed: int
    status: int
    result: object
    wall: float
    files: dict
    errors: str

    def reason(self, prog):
        """Why the run failed, in one line: the last line it printed to stderr ('prog: error: '
        dropped), else its exit status."""
        lines = [line.strip() for line in self.errors.splitlines() if line.strip()]
        return lines[-1].removeprefix(f"{prog}: error: ") if lines else f"exit status {self.status}"


def run_elsewhere(run):
    """train_run(run) with its output files written into a temporary directory; a SeedRun.

    What the run prints is captured, so that it works alike in a pool's process, on a Dask
    worker, or here: its progress lines stay in the worker (the sweep prints one line per run),
    its errors are returned.  The capture is process-wide (sys.stdout), so a Dask worker should
    run one task at a time (`--nthreads 1`; a run is one Python thread, or one per learner).
    """
    with tempfile.TemporaryDirectory(prefix=f"minipg-seed{run.seed}-") as directory:
        paths = dataclasses.asdict(run.outputs)
        local = {name: os.path.join(directory, name + os.path.splitext(path)[1])  # writers may go by the suffix
                 for name, path in paths.items() if isinstance(path, str)}
        local_run = dataclasses.replace(run, outputs=dataclasses.replace(run.outputs, **local))
        progress, errors = io.StringIO(), io.StringIO()
        result, started = None, time.perf_counter()
        with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(errors):
            try:
                result = train_run(local_run)
                status = result.status
            except RunError as error:
                print(f"{run.prog}: error: {error}", file=sys.stderr)
                status = EXIT_USAGE
            except SystemExit as exit_:  # a second SIGTERM (143)
                status = exit_.code if isinstance(exit_.code, int) else 1
            except KeyboardInterrupt:  # a second Ctrl-C: the run is abandoned mid-step
                status = EXIT_INTERRUPTED
        files = {}
        for name, path in local.items():
            if os.path.isfile(path):
                with open(path, "rb") as file:
                    files[paths[name]] = file.read()
    if result is not None:
        result.written = {paths[name]: result.written[path] for name, path in local.items() if path in result.written}
    return SeedRun(run.seed, status, result, time.perf_counter() - started, files, errors.getvalue())


# ---------------------------------------------------------------- executors
@dataclasses.dataclass
class Workers:
    """An executor and how a sweep uses it.

    in_flight: how many runs are submitted at once: the pool's processes (so that a run not
    started is never queued where it cannot be cancelled), or every run for a cluster (its
    scheduler queues them).  description: where the runs go, for the first line.  stops_running:
    whether a signal stops the runs in progress (a pool's processes are signalled; a cluster's
    tasks cannot be).  forward: passes a signal on to the processes running the runs.
    """

    executor: concurrent.futures.Executor
    in_flight: int
    description: str
    stops_running: bool = False
    forward: Callable[[int], None] = lambda signum: None


def _start_pool_process(threads):
    """The pool's initializer: the learn step's share of the cores (MINIPG_THREADS, unless set),
    and Ctrl-C and SIGTERM ignored between runs (a run's own handler takes them while it trains)."""
    os.environ.setdefault(WORKER_THREADS_VARIABLE, str(threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextlib.contextmanager
def local_workers(jobs, runs):
    """Workers of a local ProcessPoolExecutor: min(jobs, runs) processes, each run's learn step
    on usable cores // processes threads.

    The processes are forked: cheap to start, and this process has no other threads then (the
    sweep's parent only waits).  Closing waits for them to end.
    """
    processes = max(1, min(jobs, runs))
    threads = max(1, usable_cores() // processes)
    before = set(multiprocessing.active_children())

    def forward(signum):
        for process in multiprocessing.active_children():
            if process not in before:  # the pool's processes, not other children of this one
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    pool = concurrent.futures.ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork"),
                                                  initializer=_start_pool_process, initargs=(threads,))
    with pool:
        yield Workers(pool, processes, f"a local pool of {processes} processes "
                                       f"({threads} learn-step thread{'s' if threads > 1 else ''} each)",
                      stops_running=True, forward=forward)


def slurm_cluster(jobs):
    """A dask_jobqueue.SLURMCluster from dask-jobqueue's own configuration (its jobqueue.yaml or
    DASK_JOBQUEUE__SLURM__* variables: cores, memory, queue, ...), scaled to `jobs` workers.

    Raises ClusterError if dask-jobqueue is missing or its configuration is incomplete.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ClusterError(f"slurm needs dask-jobqueue, which is not installed; install it with: "
                           f"{JOBQUEUE_INSTALL}") from None
    try:
        cluster = SLURMCluster()
    except (ValueError, TypeError, KeyError) as error:  # e.g. no cores or memory configured
        raise ClusterError(f"slurm: dask-jobqueue's SLURMCluster: {error} (see dask-jobqueue's "
                           f"configuration, ~/.config/dask/jobqueue.yaml)") from None
    cluster.scale(jobs)
    return cluster


@contextlib.contextmanager
def cluster_workers(spec, jobs, runs):
    """Workers of a Dask cluster: `spec` is a scheduler's address, or 'slurm' (slurm_cluster with
    `jobs` workers).  The client (and a Slurm cluster) are closed on the way out.

    Raises ClusterError if Dask is missing or the scheduler does not answer in CONNECT_SECONDS.
    """
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"Dask is not installed; install it with: {DASK_INSTALL}") from None
    with contextlib.ExitStack() as stack:
        if spec == "slurm":
            target = stack.enter_context(slurm_cluster(jobs))
            where = f"a Slurm cluster scaled to {jobs} Dask worker{'s' if jobs > 1 else ''}"
        else:
            target, where = spec, f"the Dask cluster at {spec}"
        try:
            client = stack.enter_context(distributed.Client(target, timeout=CONNECT_SECONDS))
        except (OSError, TimeoutError, ValueError, TypeError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {error}") from None
        count = len(client.scheduler_info().get("workers", {}))
        # pure=False: a run is submitted as a new task, never taken from an earlier identical one.
        yield Workers(client.get_executor(pure=False), runs,
                      f"{where} ({count} worker{'s' if count != 1 else ''} now)")


class SweepInterrupt(Interrupt):
    """The sweep's Ctrl-C and SIGTERM: as Interrupt (the first sets `requested`, a second ends
    this process at once), and SIGTERM is passed on with `forward` (Ctrl-C from a terminal
    reaches the pool's processes by itself)."""

    def __init__(self, workers):
        super().__init__()
        self.workers = workers

    def _handle(self, signum, frame):
        if signum == signal.SIGTERM:
            self.workers.forward(signum)
        super()._handle(signum, frame)

    def notice(self, signum):
        name = "interrupted" if signum == signal.SIGINT else signal.Signals(signum).name
        doing = ("starting no more runs; the runs in progress stop after this step" if self.workers.stops_running
                 else "cancelling the runs not finished")
        again = " (Ctrl-C again to abort)" if signum == signal.SIGINT else ""
        return f"{name}: {doing}{again}"


@dataclasses.dataclass
class Outcome:
    """How a sweep ended.  finished: {seed: SeedRun} of the runs that returned (whatever their
    status); unfinished: {seed: why} of the others (raised, lost with their worker, cancelled,
    never started); signal_status: 130 or 143 if Ctrl-C or SIGTERM stopped the sweep, else None."""

    finished: dict
    unfinished: dict
    signal_status: int | None = None


# ---------------------------------------------------------------- the sweep
def sweep_seeds(runs, jobs, cluster, outputs, prog):
    """Run `runs` (one Run per seed) on a Dask cluster (`cluster`: an address or 'slurm'), else on
    a local pool of `jobs` processes.

    Writes each finished run's files with `outputs` (run.Outputs: a failed write is recorded
    and reported by the caller) and prints one line per finished run.  Returns (results,
    status): the RunResults, in seed order, of the runs that returned one; status: 130 or 143 if
    interrupted, else the first failed seed's status (1 for a run that raised or whose worker
    died), else 0.  Raises ClusterError if the cluster cannot be used.
    """
    if cluster is not None:
        chosen = cluster_workers(cluster, jobs, len(runs))
    else:
        chosen = local_workers(jobs, len(runs))
    with chosen as workers:
        outcome = run_all(workers, runs, outputs, prog)
    seeds = [run.seed for run in runs]
    failures = {seed: EXIT_NON_FINITE for seed, why in outcome.unfinished.items() if why != NOT_RUN}
    failures.update({seed_run.seed: seed_run.status for seed_run in outcome.finished.values() if seed_run.status})
    status = outcome.signal_status or next((failures[seed] for seed in seeds if seed in failures), 0)
    results = [seed_run.result for seed in seeds
               if (seed_run := outcome.finished.get(seed)) is not None and seed_run.result is not None]
    return results, status


NOT_RUN = "not run"  # cancelled, or never submitted, after a signal


def run_all(workers, runs, outputs, prog):
    """Submit run_elsewhere for each Run, `workers.in_flight` at a time; as each returns, write its
    files and print its line; on a signal, start no more and cancel what can be.  Returns an Outcome.
    """
    print(f"{prog}: {len(runs)} seeds on {workers.description}", flush=True)
    seeds = [run.seed for run in runs]
    by_seed = {run.seed: run for run in runs}
    waiting, running, finished, unfinished = list(seeds), {}, {}, {}
    broken = None  # the BrokenProcessPool of a pool whose process died
    with SweepInterrupt(workers) as interrupt:
        while waiting or running:
            while waiting and len(running) < workers.in_flight and not interrupt.requested and broken is None:
                try:
                    future = workers.executor.submit(run_elsewhere, by_seed[waiting[0]])
                except BrokenProcessPool as error:
                    broken = error
                    break
                running[future] = waiting.pop(0)
            if interrupt.requested or broken is not None:
                for future in running:
                    future.cancel()  # those not started (on a cluster: every one not finished)
                if not running:
                    break
            done, _ = concurrent.futures.wait(running, timeout=POLL_SECONDS,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            for future in sorted(done, key=lambda future: seeds.index(running[future])):
                seed = running.pop(future)
                if future.cancelled():
                    unfinished[seed] = NOT_RUN
                    continue
                try:
                    run = future.result()
                except BrokenProcessPool as error:  # a process of the pool died: every run in the pool is lost
                    broken, unfinished[seed] = error, "its process died"
                    continue
                except Exception as error:  # raised by the run, or its Dask worker died (KilledWorker)
                    unfinished[seed] = f"{type(error).__name__}: {one_line(error)}"
                    print(f"{prog}: error: seed {seed} did not finish: {unfinished[seed]}", file=sys.stderr,
                          flush=True)
                    continue
                finished[seed] = run
                for path, data in run.files.items():
                    outputs.write(path, lambda path=path, data=data: write_atomically(
                        path, lambda file: file.write(data)))
                report(prog, run, by_seed[seed].options.epochs, len(waiting) + len(running))
    if broken is not None:
        for seed in waiting:
            unfinished[seed] = "not started"
        lost = [seed for seed in seeds if seed in unfinished and unfinished[seed] != NOT_RUN]
        print(f"{prog}: error: a process of the pool died ({type(broken).__name__}: {one_line(broken)}); "
              f"seeds that could not finish: {', '.join(map(str, lost))}; the {len(finished)} finished "
              f"runs are kept", file=sys.stderr, flush=True)
    if interrupt.requested:
        for seed in waiting:
            unfinished.setdefault(seed, NOT_RUN)
        not_run = [seed for seed in seeds if unfinished.get(seed) == NOT_RUN]
        name = "interrupted" if interrupt.signum == signal.SIGINT else signal.Signals(interrupt.signum).name
        print(f"{name}: {len(finished)} runs written; cancelled: {', '.join(map(str, not_run)) or 'none'}",
              flush=True)
        return Outcome(finished, unfinished, interrupt.status)
    return Outcome(finished, unfinished)


def report(prog, seed_run, epochs, remaining):
    """The line of a finished run: its figures, wall time and how many runs remain."""
    left = f"{remaining} run{'s' if remaining != 1 else ''} left"
    result = seed_run.result
    done = len(result.history["loss"]) if result is not None else 0
    if seed_run.status == 0:
        figures = []
        if result.evaluation is not None:
            figures.append(f"eval mean {result.evaluation.mean():.1f}, worst {result.evaluation.min():.1f}")
        figures.append(f"last-10 mean return {last_mean_return(result.history):.2f}")
        print(f"seed {seed_run.seed} done: {', '.join(figures)}; {seed_run.wall:.1f} s; {left}", flush=True)
    elif seed_run.status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        print(f"seed {seed_run.seed} interrupted after {done} of {epochs} epochs; {seed_run.wall:.1f} s; {left}",
              flush=True)
    else:
        print(f"{prog}: error: seed {seed_run.seed} failed after {done} epochs ({left}): {seed_run.reason(prog)}",
              file=sys.stderr, flush=True)
