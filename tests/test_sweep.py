"""Seed sweeps (minipg/tools/sweep.py): `--seeds … --jobs N` on a local process pool and
`--seeds … --cluster ADDRESS` on a Dask cluster give each seed its sequential results, in seed
order; a failing run, a run that raises and a pool process that dies are named, the others kept;
Ctrl-C and SIGTERM cancel what has not started and write what finished; a missing Dask or
dask-jobqueue is one usage error; `--cluster slurm` builds its cluster from dask-jobqueue.

The Dask tests start a local cluster of two worker processes on 127.0.0.1 (one for the module).
"""

import csv
import glob
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types

import pytest

from test_cli import REPO, SCRIPTS, assert_same_run, read_csv, run

import run_cartpole
from minipg.policies import NonFiniteError
from minipg.tools import cli
from minipg.tools import run as run_module, sweep
from minipg.tools.checkpoint import load_checkpoint

try:
    import dask
    import distributed
except ImportError:  # the pool's tests still run
    dask = distributed = None
NEEDS_DASK = pytest.mark.skipif(distributed is None, reason="Dask is not installed (make setup installs it)")

BOTH = pytest.mark.parametrize("script", sorted(SCRIPTS))
TABLE_ROW = re.compile(r"^ +(\d+) +\d+ ")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Run in tmp_path, so that nothing (e.g. a default runs/ plot) lands in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A Dask scheduler and two single-threaded worker processes on this machine (loopback only),
    their scratch space in a temporary directory of the tests (not /tmp/dask-scratch-space)."""
    scratch = tmp_path_factory.mktemp("dask")
    with dask.config.set({"temporary-directory": str(scratch)}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=":0", silence_logs=logging.ERROR,
                                     local_directory=scratch) as cluster:
        yield cluster


def table_seeds(out):
    """The seeds of the per-seed table that ends the output, in its order."""
    table = out.rsplit("wall s", 1)[1]
    return [int(match.group(1)) for line in table.splitlines() if (match := TABLE_ROW.match(line))]


def assert_sequential_results(script, tmp_path, capsys, *sweep_flags):
    """Each seed of the sweep has its sequential run's checkpoint and CSV (bitwise, but wall
    times), the table lists the seeds in order, and one line per run reports it."""
    flags = ["--epochs", 2, "--seeds", 0, 1, 2, "--eval", 2]
    run(script, tmp_path, *flags, "--save", tmp_path / "seq.st", "--csv", tmp_path / "seq.csv")
    capsys.readouterr()
    run(script, tmp_path, *flags, "--save", tmp_path / "par.st", "--csv", tmp_path / "par.csv", *sweep_flags)
    out = capsys.readouterr().out
    for seed in (0, 1, 2):
        assert_same_run(load_checkpoint(tmp_path / f"seq-seed{seed}.st"),
                        load_checkpoint(tmp_path / f"par-seed{seed}.st"))
        rows = [read_csv(tmp_path / f"{name}-seed{seed}.csv") for name in ("seq", "par")]
        timing = [rows[0][0].index(column) for column in ("steps_per_s", "wall_seconds")]
        strip = [[[cell for i, cell in enumerate(row) if i not in timing] for row in table] for table in rows]
        assert strip[0] == strip[1]
        # one line when the run finishes: its evaluation, last-10 return, wall time, runs left
        assert len(re.findall(rf"^seed {seed} done: eval mean -?\d+\.\d, worst -?\d+\.\d, last-10 mean "
                              rf"return \S+; \d+\.\d s; [0-2] runs? left$", out, flags=re.M)) == 1, out
    assert table_seeds(out) == [0, 1, 2]
    assert not re.search(r"^epoch ", out, flags=re.M)  # the runs' own progress stays in their workers
    return out


# ------------------------------------------------------------------ the local pool (--jobs)
@BOTH
def test_jobs_give_each_seed_the_sequential_results(script, tmp_path, capsys):
    out = assert_sequential_results(script, tmp_path, capsys, "--jobs", 2)
    assert f"{SCRIPTS[script][0].prog}: 3 seeds on a local pool of 2 processes" in out


def test_jobs_need_seeds(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(run_cartpole.CARTPOLE, ["--jobs", "2"])
    assert exit_.value.code == 2
    assert "--jobs needs --seeds (it runs several seeds at once)" in capsys.readouterr().err


def minipg_threads():
    return os.environ.get("MINIPG_THREADS")


def test_the_pool_shares_the_cores_among_its_processes(monkeypatch):
    """MINIPG_THREADS in each pool process: the usable cores over the processes (at least 1)."""
    monkeypatch.delenv("MINIPG_THREADS", raising=False)
    monkeypatch.setattr(sweep, "usable_cores", lambda: 8)
    with sweep.local_workers(jobs=4, runs=10) as workers:
        assert workers.executor.submit(minipg_threads).result() == "2"
    with sweep.local_workers(jobs=4, runs=2) as workers:  # two runs: two processes of 4 threads
        assert workers.executor.submit(minipg_threads).result() == "4"


def failing_run_loop(real):
    """run_loop, but seed 1 stops on a non-finite value and seed 2 raises (the pool's processes
    are forked after the test patches run_module.run_loop, so they run this)."""
    def run_loop(env, policy, options, seed, callback, state):
        if seed == 1:
            raise NonFiniteError("a test's non-finite loss")
        if seed == 2:
            raise RuntimeError("a test's bug")
        return real(env, policy, options, seed, callback, state)
    return run_loop


def test_a_failing_run_is_named_and_the_others_are_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_module, "run_loop", failing_run_loop(run_module.run_loop))
    with pytest.raises(SystemExit) as exit_:
        run("cartpole", tmp_path, "--epochs", 2, "--seeds", 0, 1, 2, 3, "--jobs", 2, "--save", tmp_path / "r.st")
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert re.fullmatch(r"run_cartpole\.py: error: seed 1 failed after 0 epochs \([0-3] runs? left\): stopped: "
                        r"epoch 1: a test's non-finite loss\. Outputs keep the 0 good epochs; .*", errors[0]), errors
    assert errors[1:] == ["run_cartpole.py: error: seed 2 did not finish: RuntimeError: a test's bug"]
    for seed in (0, 3):
        assert load_checkpoint(tmp_path / f"r-seed{seed}.st").epoch == 2
    assert not (tmp_path / "r-seed2.st").exists()
    assert table_seeds(captured.out) == [0, 1, 3]  # seed 1 stopped with 0 epochs, seed 2 returned nothing


def dying_run_loop(real, tmp_path):
    """run_loop, but seed 2's process dies (os._exit, as if killed) once seeds 0 and 1 are written
    (so that the finished runs are known: a process that dies takes the pool's other runs with it)."""
    def run_loop(env, policy, options, seed, callback, state):
        if seed == 2:
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"r-seed{s}.st").exists() for s in (0, 1)) and time.monotonic() < deadline:
                time.sleep(0.02)
            os._exit(3)
        return real(env, policy, options, seed, callback, state)
    return run_loop


def test_a_pool_process_that_dies_is_named_and_the_finished_runs_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_module, "run_loop", dying_run_loop(run_module.run_loop, tmp_path))
    # The dying process cannot remove its temporary directory: let it leave it in tmp_path (the
    # pool forks, so its processes take tempfile's directory from this one).
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(SystemExit) as exit_:
        run("cartpole", tmp_path, "--epochs", 2, "--seeds", 0, 1, 2, "--jobs", 2, "--save", tmp_path / "r.st",
            "--csv", tmp_path / "r.csv")
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "run_cartpole.py: error: a process of the pool died (BrokenProcessPool: A process in the process pool was "
        "terminated abruptly while the future was running or pending.); seeds that could not finish: 2; the 2 "
        "finished runs are kept"]
    for seed in (0, 1):
        assert load_checkpoint(tmp_path / f"r-seed{seed}.st").epoch == 2
        assert len(read_csv(tmp_path / f"r-seed{seed}.csv")) == 1 + 2
    assert sorted(path.name for path in tmp_path.glob("r-seed*")) == [
        "r-seed0.csv", "r-seed0.st", "r-seed1.csv", "r-seed1.st"]
    assert table_seeds(captured.out) == [0, 1]
    assert [path.name.startswith("minipg-seed2-") for path in scratch.iterdir()] == [True]  # the dead one's


# Ctrl-C reaches the whole foreground process group (the pool's processes too); SIGTERM, what
# timeout and Slurm send, reaches this process only and is passed on.
@pytest.mark.parametrize("signum, status, notice", [
    (signal.SIGINT, 130, "interrupted: starting no more runs; the runs in progress stop after this step "
                         "(Ctrl-C again to abort)"),
    (signal.SIGTERM, 143, "SIGTERM: starting no more runs; the runs in progress stop after this step"),
], ids=["SIGINT to the group", "SIGTERM to the parent"])
def test_a_signal_stops_the_sweep_and_writes_what_was_done(signum, status, notice, tmp_path):
    """A real sweep of 4 seeds, 2 at a time, signalled while seeds 0 and 1 train: both stop after
    their current step and are written with their complete epochs; seeds 2 and 3 never start."""
    scratch = tmp_path / "scratch"  # the workers' temporary directories, to see them train
    scratch.mkdir()
    command = [sys.executable, "-u", str(REPO / "run_cartpole.py"), "--epochs", "100000", "--T", "200",
               "--num-envs", "4", "--eval", "0", "--seeds", "0", "1", "2", "3", "--jobs", "2",
               "--save", "r.st", "--csv", "r.csv", "--plot", "curve.png"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(scratch)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both runs have written their CSV of 2 epochs or more
            logs = glob.glob(str(scratch / "minipg-seed*" / "csv-seed*.csv"))
            if len(logs) == 2 and all(len(read_csv_quietly(path)) >= 3 for path in logs):
                break
            time.sleep(0.05)
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # as a terminal's Ctrl-C: its own session, so only the sweep's
        else:
            process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == status, err
    assert err == ""
    assert notice in out
    assert f"{'interrupted' if signum == signal.SIGINT else 'SIGTERM'}: 2 runs written; cancelled: 2, 3" in out
    for seed in (0, 1):
        epochs = load_checkpoint(tmp_path / f"r-seed{seed}.st").epoch
        assert 2 <= epochs < 100000
        assert len(read_csv(tmp_path / f"r-seed{seed}.csv")) == 1 + epochs
        assert re.search(rf"^seed {seed} interrupted after {epochs} of 100000 epochs; ", out, flags=re.M)
    assert sorted(path.name for path in tmp_path.glob("r-seed*")) == [
        "r-seed0.csv", "r-seed0.st", "r-seed1.csv", "r-seed1.st"]
    assert table_seeds(out) == [0, 1]
    assert (tmp_path / "curve.png").exists()
    assert os.listdir(scratch) == []  # the workers' temporary directories are gone


def read_csv_quietly(path):
    """The rows of a CSV that may be replaced while it is read (it is written atomically)."""
    try:
        with open(path, newline="") as handle:
            return list(csv.reader(handle))
    except FileNotFoundError:
        return []


# ------------------------------------------------------------------ a Dask cluster (--cluster)
@NEEDS_DASK
@BOTH
def test_a_dask_cluster_gives_each_seed_the_sequential_results(script, dask_cluster, tmp_path, capsys):
    out = assert_sequential_results(script, tmp_path, capsys, "--cluster", dask_cluster.scheduler_address)
    assert f"3 seeds on the Dask cluster at {dask_cluster.scheduler_address} (2 workers now)" in out


@NEEDS_DASK
def test_sigterm_cancels_the_cluster_runs_not_finished(dask_cluster, tmp_path, monkeypatch, capsys):
    """SIGTERM as the first run is reported: no run is waited for any more; each seed is either
    written or named as not run, and the exit status is 143."""
    report, sent = sweep.report, []

    def report_then_terminate(*args):
        report(*args)
        if not sent:  # once: a second SIGTERM would end the process at once
            sent.append(os.kill(os.getpid(), signal.SIGTERM))

    monkeypatch.setattr(sweep, "report", report_then_terminate)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seeds = list(range(8))
    with pytest.raises(SystemExit) as exit_:
        run("cartpole", tmp_path, "--epochs", 30, "--seeds", *seeds, "--cluster", dask_cluster.scheduler_address,
            "--save", tmp_path / "r.st")
    assert exit_.value.code == 143
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    captured = capsys.readouterr()
    out = captured.out
    assert "Traceback" not in captured.err
    assert "SIGTERM: cancelling the runs not finished" in out
    written = re.search(r"^SIGTERM: (\d+) runs written; cancelled: ([\d, ]+)$", out, flags=re.M)
    assert written, out
    not_run = [int(seed) for seed in written.group(2).split(", ")]
    done = [seed for seed in seeds if (tmp_path / f"r-seed{seed}.st").exists()]
    assert sorted(done + not_run) == seeds and len(done) == int(written.group(1)) >= 1


def test_cluster_needs_seeds_and_does_not_resume(tmp_path, capsys):
    for flags, message in ((["--cluster", "tcp://127.0.0.1:8786"],
                            "--cluster needs --seeds (it runs the seeds on a Dask cluster)"),
                           (["--cluster", "tcp://127.0.0.1:8786", "--seeds", "0", "--load", "x.st"],
                            "--load with --cluster: a resumed run runs in this process (drop --cluster)")):
        with pytest.raises(SystemExit) as exit_:
            cli.main(run_cartpole.CARTPOLE, flags)
        assert exit_.value.code == 2
        assert capsys.readouterr().err.splitlines()[-1] == f"run_cartpole.py: error: {message}"


@pytest.mark.parametrize("module, cluster, message", [
    ("distributed", "tcp://127.0.0.1:8786",
     'argument --cluster: Dask is not installed; install it with: pip install "dask[distributed]"'),
    ("dask_jobqueue", "slurm",
     "argument --cluster: slurm needs dask-jobqueue, which is not installed; install it with: "
     "pip install dask-jobqueue"),
], ids=["dask", "dask-jobqueue"])
def test_a_missing_package_is_one_usage_error(module, cluster, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(SystemExit) as exit_:
        run("cartpole", tmp_path, "--epochs", 2, "--seeds", 0, 1, "--cluster", cluster, "--save", tmp_path / "r.st")
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    # the flags parsed: one line, not argparse's usage block
    assert captured.err.splitlines() == [f"run_cartpole.py: error: {message} (see run_cartpole.py --help)"]
    assert "Traceback" not in captured.err and not list(tmp_path.glob("r-seed*"))


@NEEDS_DASK
def test_an_unreachable_scheduler_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "CONNECT_SECONDS", 0.5)
    with pytest.raises(SystemExit) as exit_:
        run("cartpole", tmp_path, "--epochs", 2, "--seeds", 0, 1, "--cluster", "tcp://127.0.0.1:1")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "run_cartpole.py: error: argument --cluster: cannot reach the Dask scheduler at tcp://127.0.0.1:1: ")


@NEEDS_DASK
def test_cluster_slurm_scales_a_slurm_cluster_to_jobs_workers(tmp_path, monkeypatch, capsys):
    """--cluster slurm --jobs 2: dask_jobqueue.SLURMCluster() (its own configuration), scaled to 2
    workers, runs the sweep and is closed.  The stand-in is a local cluster that records that."""
    calls = []

    class SLURMCluster(distributed.LocalCluster):
        def __init__(self, **kwargs):
            calls.append(("made", kwargs))
            super().__init__(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=":0", silence_logs=logging.ERROR)

        def scale(self, n=None, **kwargs):
            calls.append(("scale", n))
            return super().scale(n, **kwargs)

        def close(self, *args, **kwargs):
            calls.append(("close",))
            return super().close(*args, **kwargs)

    monkeypatch.setitem(sys.modules, "dask_jobqueue", types.SimpleNamespace(SLURMCluster=SLURMCluster))
    run("cartpole", tmp_path, "--epochs", 2, "--seeds", 0, 1, "--cluster", "slurm", "--jobs", 2,
        "--save", tmp_path / "r.st")
    assert calls[:2] == [("made", {}), ("scale", 2)] and ("close",) in calls
    out = capsys.readouterr().out
    assert "2 seeds on a Slurm cluster scaled to 2 Dask workers" in out
    assert [load_checkpoint(tmp_path / f"r-seed{seed}.st").epoch for seed in (0, 1)] == [2, 2]
