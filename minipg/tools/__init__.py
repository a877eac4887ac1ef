"""What the scripts use around the training loop; nothing in minipg's core imports from here.

    cli.py         the command line shared by run_cartpole.py and run_swingup.py
    checkpoint.py  saving and resuming a run (.npz, written atomically)
    evaluation.py  complete episodes with the mode action or sampled actions
    render.py      one episode drawn as an animated GIF
    plotting.py    learning-curve PNGs
    floor.py       the env-alone floor: a task's env stepped with no policy, the reference of wall times

Where an epoch's time goes is measured by the benchmarks in tests/benchmarks (`make bench`),
which are not part of the installed package.
"""
