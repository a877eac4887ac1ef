"""Running independent runs (one per seed) in several processes: `--seeds S … --jobs N`.

Each run is a forked child process that calls `function(item)` and sends the result back
through a pipe; at most `jobs` run at once.  A child computes exactly what the same call in
this process would (the same code, seeded the same way; results do not depend on thread
counts, see minipg/parallel.py), so a run's outputs are those of a sequential run.

Why fork: the child inherits the experiment as it is (presets, functions), with nothing to
pickle but the result.  Why processes at all: a run is mostly Python stepping NumPy, which
one process cannot spread over cores.

Output: each child's printed lines get a prefix (e.g. "[seed 3] "), so interleaved progress
stays readable.  Signals: Ctrl-C reaches every process of the terminal's group, and each
child stops as a sequential run would; this process ignores it and waits for them.  SIGTERM
(a scheduler's) is sent to this process only, so it is passed on to the children.
"""

import io
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys

from ..parallel import WORKER_THREADS_VARIABLE, usable_cores


class PrefixedLines(io.TextIOBase):
    """A text stream that writes whole lines, each starting with `prefix`, to `stream`."""

    def __init__(self, stream, prefix):
        self.stream, self.prefix, self.pending = stream, prefix, ""

    def write(self, text):
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.stream.write(f"{self.prefix}{line}\n")
        self.stream.flush()
        return len(text)

    def flush(self):
        self.stream.flush()


class ChildFailed(RuntimeError):
    """A child process ended without sending its result (it crashed or was killed)."""


def _child(function, item, prefix, threads, sender):
    sys.stdout = PrefixedLines(sys.__stdout__, prefix)
    sys.stderr = PrefixedLines(sys.__stderr__, prefix)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.setdefault(WORKER_THREADS_VARIABLE, str(threads))
    try:
        result = ("result", function(item))
    except SystemExit as exit_:  # e.g. a usage error found once the env is built
        result = ("exit", exit_.code)
    sys.stdout.flush()
    sender.send(result)
    sender.close()


def run_in_processes(function, items, jobs, prefix=lambda item: f"[{item}] "):
    """[function(item) for item in items], each in a forked process, `jobs` at a time.

    Returns the results in item order.  A SystemExit in a child is raised here again, after
    every child has ended; a child that dies without a result raises ChildFailed.
    """
    items = list(items)
    context = multiprocessing.get_context("fork")
    # The learn step's threads (parallel.py) share the cores among the processes.
    threads = max(1, usable_cores() // max(1, min(jobs, len(items))))
    results, running, waiting = {}, {}, list(enumerate(items))
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def pass_on(signum, frame):
        for process, _ in running.values():
            os.kill(process.pid, signum)
        waiting.clear()  # and start no more runs

    previous_term = signal.signal(signal.SIGTERM, pass_on)
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, item = waiting.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(function, item, prefix(item), threads, sender))
                process.start()
                sender.close()
                running[receiver] = (process, index)
            for receiver in multiprocessing.connection.wait(list(running)):
                process, index = running.pop(receiver)
                try:
                    results[index] = receiver.recv()
                except EOFError:
                    results[index] = ("died", process)
                receiver.close()
                process.join()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    outputs = []
    for index in range(len(items)):
        kind, value = results[index]
        if kind == "exit":
            raise SystemExit(value)
        if kind == "died":
            raise ChildFailed(f"the process running {items[index]} ended without a result "
                              f"(exit code {value.exitcode})")
        outputs.append(value)
    return outputs
