"""A diagonal-Gaussian MLP policy on CartPoleSwingUp-v0: the post's second experiment, and a solver.

    python run_swingup.py                      # the preset that solves the task (docs/swingup.md)
    python run_swingup.py --preset blog        # the post's settings: 256 envs, lr 1e-2, γ 0.999, T 1000, 20 epochs
    python run_swingup.py --env-impl package   # step the package's own env classes one by one
"""

import functools
import sys

from minipg import Options
from minipg.options import load_presets
from minipg.tools.cli import Script, main, presets_errors

# --env-impl picks the vectorization: the batched NumPy twin, or the package's classes one by one.
ENV_IMPLEMENTATIONS = {"numpy": "vector", "package": "sync"}


def add_swingup_arguments(parser):
    parser.add_argument("--env-impl", choices=sorted(ENV_IMPLEMENTATIONS),
                        help="numpy: minipg's batched twin of the env; package: gym-cartpole-swingup's "
                             "own classes stepped one by one (an explicit --vectorization wins)")


def env_impl_sets_vectorization(args, explicit):
    if args.env_impl is not None and "vectorization" not in explicit:
        explicit["vectorization"] = ENV_IMPLEMENTATIONS[args.env_impl]


# The post's experiment, unchanged.  Its log_sigma = 1 was used as a variance, so σ = exp(0.5) ≈ 1.65:
# log_std_init 0.5 reproduces that exploration.
BLOG = Options(env="CartPoleSwingUp-v0", num_envs=256, T=1000, epochs=20, lr=1e-2, gamma=0.999,
               hidden=(64, 64), log_std_init=0.5)

PROG = "run_swingup.py"


@functools.cache
def swingup_script():
    """The Script: the post's preset and `solve`, which swings the pole up and holds it
    (docs/swingup.md): the task's table in minipg/presets.toml, which says what it adds to the
    post's settings.  Read on first use (PresetsError if the file is broken)."""
    return Script(
        name="swingup",
        prog=PROG,
        description="A diagonal-Gaussian MLP policy on CartPoleSwingUp-v0: the post's REINFORCE "
                    "(--preset blog) or the solve preset's clipped-surrogate passes.",
        policy="gaussian",
        default_preset="solve",
        extra_arguments=(add_swingup_arguments,),
        option_flags=(env_impl_sets_vectorization,),
        presets={"blog": BLOG, "solve": load_presets()["CartPoleSwingUp-v0"]},
    )


def __getattr__(name):
    """SWINGUP (the Script) and SOLVE (its solve preset), read from presets.toml when first asked
    for, so that importing this module or running it with a broken file does not raise there."""
    if name == "SWINGUP":
        return swingup_script()
    if name == "SOLVE":
        return swingup_script().presets["solve"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    with presets_errors(PROG):  # a broken presets.toml: one line, status 2
        script = swingup_script()
    main(script, sys.argv[1:])
