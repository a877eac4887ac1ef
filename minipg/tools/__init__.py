"""Everything around the math; nothing in minipg's core imports from here.

    run.py         one training run as a function: Run(options, seed, outputs) → RunResult
    cli.py         the command line of the scripts and `python -m minipg`: parse, run, report
    sweep.py       several seeds on a process pool or a Dask cluster (--jobs, --cluster)
    checkpoint.py  a run's state and config in a safetensors file, written atomically
    evaluation.py  complete episodes with the mode action or sampled actions
    render.py      one episode drawn as an animated GIF (imageio)
    plotting.py    learning-curve PNGs
    suite.py       `make suite`: the standard tasks with their presets, the results table
    floor.py       the env-alone floor: a task's env stepped with no policy, the reference of wall times
    theorem.py     REINFORCE's estimate against the exact gradient (tests/test_theorem.py, docs/theorem.md)

Where an epoch's time goes is measured by the benchmarks in tests/benchmarks (`make bench`).
"""
