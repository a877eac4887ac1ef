"""A diagonal-Gaussian MLP policy on CartPoleSwingUp-v0: the post's second experiment, and a solver.

    python run_swingup.py                      # the preset that solves the task (README: "Solving the swing-up")
    python run_swingup.py --preset blog        # the post's settings: 256 envs, lr 1e-2, γ 0.999, T 1000, 20 epochs
    python run_swingup.py --env-impl package   # step the package's own env classes one by one
"""

import sys

from minipg.tools.cli import finite_float, main, positive_float
from minipg.envs import observation_mirror

# --env-impl picks the vectorization: the batched NumPy twin, or the package's classes one by one.
ENV_IMPLEMENTATIONS = {"numpy": "vector", "package": "sync"}


def add_swingup_arguments(parser):
    parser.add_argument("--log-std-init", type=finite_float,
                        help="initial log σ of the Gaussian policy (the post's σ² = e¹ is log σ = 0.5)")
    parser.add_argument("--output-scale", type=positive_float,
                        help="scale of the policy's initial output layer (0.01: the mean starts near 0)")
    parser.add_argument("--env-impl", choices=sorted(ENV_IMPLEMENTATIONS),
                        help="numpy: minipg's batched twin of the env; package: gym-cartpole-swingup's "
                             "own classes stepped one by one (--vectorization overrides)")


def resolve_env_impl(args):
    if args.vectorization is None:
        args.vectorization = ENV_IMPLEMENTATIONS[args.env_impl]


COMMON = {
    "env": "CartPoleSwingUp-v0", "num_envs": 256, "seed": 0, "hidden": [64, 64],
    "eval": 100, "env_impl": "numpy", "vectorization": None, "output_scale": 1.0,
    "terminal_value": 0.0, "value_steps": 32, "clip_ratio": None, "update_epochs": 1, "minibatch_size": None,
}

SWINGUP = {
    "name": "swingup",
    "prog": "run_swingup.py",
    "description": "A diagonal-Gaussian MLP policy on CartPoleSwingUp-v0: the post's REINFORCE "
                   "(--preset blog) or the solve preset's clipped-surrogate passes.",
    "policy": "gaussian",
    "default_preset": "solve",
    "extra_arguments": (add_swingup_arguments,),
    "finalize_args": resolve_env_impl,
    "policy_kwargs": lambda args: {
        "log_std_init": args.log_std_init,
        "output_scale": args.output_scale,
        "mirror": observation_mirror(args.env) if args.mirror else None,
    },
    "presets": {
        # The post's experiment, unchanged.  Its log_sigma = 1 was used as a variance, so
        # σ = exp(0.5) ≈ 1.65: log_std_init 0.5 reproduces that exploration.
        "blog": dict(COMMON, lr=1e-2, gamma=0.999, epochs=20, T=1000, log_std_init=0.5,
                     baseline="none", normalize_advantages=False, lr_decay=False, max_grad_norm=None,
                     log_std_final=None, mirror=False, gae_lambda=None, bootstrap=False,
                     dtype="float64"),
        # Swings the pole up and holds it (README: "Solving the swing-up").  The post's network and
        # Gaussian policy; GAE(0.95) advantages from a learned value, bootstrapped at time-limit
        # cuts; a termination (driving off the track) is worth r_min / (1 − γ) = −1 / 0.002, as bad
        # as hanging forever, so leaving the track is no escape from the negative rewards; ten
        # passes of clipped-surrogate (PPO) steps per rollout; a mean odd under the track's
        # reflection; σ capped on a schedule from 1 to e^-1.5 and a learning rate decaying to 0.
        "solve": dict(COMMON, lr=1e-3, gamma=0.998, epochs=150, T=500, num_envs=64, log_std_init=0.0,
                      baseline="value", value_steps=50, normalize_advantages=True, lr_decay=True,
                      max_grad_norm=None, log_std_final=-1.5, mirror=True, gae_lambda=0.95,
                      bootstrap=True, terminal_value=-500.0, clip_ratio=0.2, update_epochs=10,
                      minibatch_size=4096, dtype="float32"),
    },
}

if __name__ == "__main__":
    main(SWINGUP, sys.argv[1:])
