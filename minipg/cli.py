"""The command line shared by run_cartpole.py and run_swingup.py.

Each script describes its experiment (presets of defaults and the policy to build) and calls
`main`; everything else — flags, progress lines, the learning-curve PNG — lives here once.
"""

import argparse
import math
import sys
import time

import numpy as np

from .baselines import BASELINES
from .envs import VECTORIZATION_MODES, make_env
from .evaluation import evaluate
from .plotting import plot_learning_curves
from .policies import CategoricalPolicy, DiagonalGaussianPolicy
from .reinforce import reinforce

# Evaluation episodes are seeded apart from training's epoch seeds.
EVAL_SEED_OFFSET = 10_000

POLICIES = {"categorical": CategoricalPolicy, "gaussian": DiagonalGaussianPolicy}


# ---------------------------------------------------------------- argument types
def argument_type(convert, accept, expected):
    """An argparse `type=` that converts, checks and names what it expected on failure.

    Bad values then end in argparse's usage error ("argument --lr: expected ..."), not a traceback.
    """
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected  # argparse names the type in some messages
    return parse


positive_int = argument_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = argument_type(int, lambda v: v >= 0, "a non-negative integer")
positive_float = argument_type(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
unit_interval = argument_type(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
finite_float = argument_type(float, math.isfinite, "a finite number")


# ---------------------------------------------------------------- parser
def build_parser(experiment):
    """The flags of one experiment; defaults come from its default preset."""
    parser = argparse.ArgumentParser(
        prog=experiment["prog"],
        description=experiment["description"],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    presets = experiment["presets"]
    parser.add_argument("--preset", choices=sorted(presets), default=experiment["default_preset"],
                        help="a named set of defaults; explicit flags override it")
    parser.add_argument("--env", help="gymnasium environment id")
    parser.add_argument("--num-envs", type=positive_int, help="E, parallel environments")
    parser.add_argument("--lr", type=positive_float, help="Adam learning rate")
    parser.add_argument("--gamma", type=unit_interval, help="discount factor γ")
    parser.add_argument("--epochs", type=positive_int, help="policy updates (one per rollout)")
    parser.add_argument("--T", type=positive_int, help="rollout length in steps per epoch")
    parser.add_argument("--seed", type=int, help="seeds the policy (init and sampling) and the envs")
    parser.add_argument("--hidden", type=positive_int, nargs="*",
                        help="hidden layer sizes of the policy network (none: linear)")
    parser.add_argument("--vectorization", choices=VECTORIZATION_MODES,
                        help="how the E envs are stepped (see minipg/envs.py)")
    parser.add_argument("--plot", help="learning-curve PNG path (default: runs/<name>-seed<seed>.png)")
    training = parser.add_argument_group("variance reduction and step control (off in the post)")
    training.add_argument("--baseline", choices=BASELINES,
                          help="subtract a baseline from the returns (see minipg/baselines.py)")
    training.add_argument("--normalize-advantages", action=argparse.BooleanOptionalAction,
                          help="standardize advantages over each epoch's batch")
    training.add_argument("--lr-decay", action=argparse.BooleanOptionalAction,
                          help="decay the learning rate linearly to 0 over the epochs")
    training.add_argument("--max-grad-norm", type=positive_float,
                          help="rescale gradients whose global L2 norm exceeds this")
    parser.add_argument("--eval", type=non_negative_int, metavar="N",
                        help="after training, evaluate N episodes with sampled actions and with "
                             "the mode action (0: skip)")
    for add in experiment.get("extra_arguments", ()):
        add(parser)
    return parser


def parse_args(experiment, argv=None):
    """Parse argv, taking unset flags from the chosen preset."""
    parser = build_parser(experiment)
    preset_name = parser.parse_known_args(argv)[0].preset
    parser.set_defaults(**experiment["presets"][preset_name])
    args = parser.parse_args(argv)
    if "finalize_args" in experiment:
        experiment["finalize_args"](args)
    if args.plot is None:
        args.plot = f"runs/{experiment['name']}-seed{args.seed}.png"
    return args


# ---------------------------------------------------------------- progress
def format_progress(epoch, epochs, history):
    """One line per epoch: the post's metric, the honest one, loss, entropy, speed and ETA."""
    seconds = history["seconds"]
    steps_per_epoch = history["env_steps"][-1] / (epoch + 1)
    rate = steps_per_epoch / seconds[-1] if seconds[-1] > 0 else float("inf")
    eta = (epochs - epoch - 1) * float(np.median(seconds))
    return (
        f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}"
        f"  avg_reward {history['avg_reward'][-1]:8.2f}"
        f"  mean_return {history['mean_return'][-1]:8.2f}"
        f"  episodes {history['episodes'][-1]:5d}"
        f"  loss {history['loss'][-1]:10.4g}"
        f"  entropy {history['entropy'][-1]:7.3f}"
        f"  {rate / 1000:7.1f}k steps/s  ETA {eta:5.1f}s"
    )


def print_progress(epochs):
    def callback(epoch, history):
        print(format_progress(epoch, epochs, history), flush=True)

    return callback


# ---------------------------------------------------------------- running
def build_policy(experiment, env, args):
    policy_class = POLICIES[experiment["policy"]]
    kwargs = {"lr": args.lr, "hidden": tuple(args.hidden), "seed": args.seed}
    kwargs.update(experiment.get("policy_kwargs", lambda a: {})(args))
    return policy_class(env, **kwargs)


def main(experiment, argv=None):
    """Train one experiment from the command line; returns (agent, history)."""
    args = parse_args(experiment, argv)
    env = make_env(args.env, args.num_envs, args.vectorization)
    agent = build_policy(experiment, env, args)
    print(f"{experiment['prog']}: {args.env}, {args.num_envs} envs × T {args.T}, "
          f"{args.epochs} epochs, lr {args.lr}, γ {args.gamma}, seed {args.seed}", flush=True)
    start = time.perf_counter()
    history = reinforce(env, agent, gamma=args.gamma, epochs=args.epochs, T=args.T,
                        seed=args.seed, callback=print_progress(args.epochs),
                        baseline=args.baseline, normalize_advantages=args.normalize_advantages,
                        lr_decay=args.lr_decay, max_grad_norm=args.max_grad_norm)
    env.close()
    wall = time.perf_counter() - start
    last = history["mean_return"][-10:]
    print(f"done: {len(history['loss'])} epochs in {wall:.1f}s "
          f"({np.median(history['seconds']):.3f}s per epoch, median); "
          f"mean episode return over the last {len(last)} epochs: {np.nanmean(last):.2f}")
    path = plot_learning_curves({f"minipg seed {args.seed}": history}, args.plot,
                                title=f"REINFORCE on {args.env} ({args.num_envs} envs, T={args.T})")
    print(f"learning curve: {path}")
    if args.eval:
        report_evaluation(agent, args)
    return agent, history


def report_evaluation(agent, args):
    """Print sampled-action and deterministic evaluations; the deterministic one last."""
    eval_seed = None if args.seed is None else args.seed + EVAL_SEED_OFFSET
    for deterministic in (False, True):
        returns = evaluate(agent, args.env, args.eval, deterministic=deterministic,
                           seed=eval_seed, vectorization=args.vectorization)
        kind = "deterministic" if deterministic else "sampled"
        print(f"eval ({kind}): min {returns.min():.1f}, max {returns.max():.1f}")
        print(f"eval: mean return {returns.mean():.1f} ± {returns.std():.1f} "
              f"over {len(returns)} episodes ({kind})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run run_cartpole.py or run_swingup.py")
