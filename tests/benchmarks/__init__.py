"""Benchmarks of minipg: where a REINFORCE epoch's time goes, and how it scales.

Run them with `make bench`, or `.venv/bin/python -m pytest tests/benchmarks -m benchmark`
plus any of the options in conftest.py (`--bench-full-grid`, `--bench-dtype float32`, …) and
pytest-benchmark's (`--benchmark-json PATH`, `-k busy`, …).  They carry pytest-benchmark's
`benchmark` marker, which pyproject.toml deselects by default (`addopts = -m 'not benchmark'`),
so `make test` runs only test_smoke.py from here: every benchmark at toy sizes, in seconds.

    blocks.py               the measurements: the instrumented epoch, the env alone, memory, the competitor
    flops.py                the solve epoch's FLOP count, its timed parts, the matrix-product ceiling
    report.py               the tables printed at the end of the run
    conftest.py             options, the run's header (threads, load, the env-alone reference) and the summary hook
    test_blog_epochs.py     each blog config's epoch, part by part, against the env alone
    test_scaling.py         the swing-up epoch and learn-step memory over E × T
    test_busy_machine.py    each blog config alone and beside a second process training it
    test_swingup_envs.py    the swing-up twin against the package's classes stepped one by one
    test_solve_epoch.py     the swing-up solve preset's epoch in GFLOP and GFLOP/s, against the machine's
                            own matrix-product rate (`make bench BENCH_ARGS='-k solve'`)
    test_env_floors.py      each installed suite task's env-alone floor, the reference of the suite's wall times
    test_smoke.py           (in `make test`) the instrumented epoch is the real one; everything runs
"""
