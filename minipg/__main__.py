"""python -m minipg --env ENV_ID: train any gymnasium task with its preset (minipg/presets.toml).

The same flags, progress lines, checkpoints and outputs as run_cartpole.py and run_swingup.py
(`python -m minipg --help`); the policy is the categorical one for a Discrete action space and
the diagonal Gaussian for a Box.
"""

import sys

from .tools.cli import main, presets_errors, task_script

PROG = "python -m minipg"


def run(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with presets_errors(PROG):  # a broken presets.toml: one line, status 2
        script = task_script(argv)
    return main(script, argv)


if __name__ == "__main__":
    run()
