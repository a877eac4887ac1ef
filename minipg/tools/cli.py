"""The command line shared by run_cartpole.py and run_swingup.py.

Each script describes its experiment (presets of defaults and the policy to build) and calls
`main`; everything else — flags, progress lines, the learning-curve PNG — lives here once.
"""

import argparse
import csv
import errno
import functools
import io
import json
import math
import os
import signal
import sys
import time

import gymnasium
import numpy as np

from ..baselines import BASELINES, ValueBaseline, make_baseline
from ..envs import VECTORIZATION_MODES, make_env
from .evaluation import evaluate
from .checkpoint import (CheckpointError, describe_architecture, load_checkpoint, restore_baseline,
                         restore_policy, save_checkpoint, write_atomically)
from .plotting import plot_learning_curves
from ..policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError
from ..reinforce import new_history, reinforce
from .jobs import ChildFailed, run_in_processes
from .render import render_episode_gif

# Evaluation episodes are seeded apart from training's epoch seeds.
EVAL_SEED_OFFSET = 10_000

CSV_COLUMNS = ("epoch", "avg_reward", "mean_return", "episodes", "loss", "entropy", "log_std",
               "env_steps", "steps_per_s", "wall_seconds")

# What --save stores as the run's configuration and --load restores as defaults.
CONFIG_KEYS = ("env", "num_envs", "lr", "gamma", "epochs", "T", "seed", "hidden", "vectorization",
               "baseline", "normalize_advantages", "lr_decay", "max_grad_norm", "log_std_init",
               "log_std_final", "mirror", "gae_lambda", "bootstrap", "terminal_value", "value_steps",
               "clip_ratio", "update_epochs", "minibatch_size", "output_scale", "env_impl", "preset",
               "dtype", "chunk_size")

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
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected  # argparse names the type in some messages
    return parse


positive_int = argument_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = argument_type(int, lambda v: v >= 0, "a non-negative integer")
positive_float = argument_type(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
unit_interval = argument_type(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
finite_float = argument_type(float, math.isfinite, "a finite number")


def or_none(convert):
    """convert(text), or None for 'none' (a flag that a preset turns on and a command line turns off)."""
    return lambda text: None if text.lower() == "none" else convert(text)


optional_unit_interval = argument_type(or_none(float), lambda v: v is None or 0.0 <= v <= 1.0,
                                       "a number in [0, 1] or 'none'")
optional_float = argument_type(or_none(float), lambda v: v is None or math.isfinite(v),
                               "a finite number or 'none'")
optional_positive_float = argument_type(or_none(float), lambda v: v is None or (math.isfinite(v) and v > 0),
                                        "a positive finite number or 'none'")
optional_positive_int = argument_type(or_none(int), lambda v: v is None or v >= 1,
                                      "a positive integer or 'none'")


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
    parser.add_argument("--epochs", type=positive_int,
                        help="policy updates (one per rollout); with --load, the total to reach")
    parser.add_argument("--T", type=positive_int, help="rollout length in steps per epoch")
    parser.add_argument("--seed", type=int, help="seeds the policy (init and sampling) and the envs")
    parser.add_argument("--hidden", type=positive_int, nargs="*",
                        help="hidden layer sizes of the policy network (none: linear)")
    parser.add_argument("--vectorization", choices=VECTORIZATION_MODES,
                        help="how the E envs are stepped (see minipg/envs/vector.py)")
    speed = parser.add_argument_group("speed and memory")
    speed.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                       help="float type of the policy, buffers and learning (float32: faster)")
    speed.add_argument("--chunk-size", type=positive_int, metavar="ROWS",
                       help="samples per chunk of the learn step (bounds its memory; the gradient "
                            "is the same sum); default: minipg.policies.DEFAULT_CHUNK_SIZE")
    parser.add_argument("--plot", help="learning-curve PNG path (default: runs/<name>-seed<seed>.png)")
    parser.add_argument("--reference", metavar="JSON",
                        help="overlay learning curves of the original code on the plot: a JSON file "
                             "{run name: {'avg_reward_per_epoch': [...]}}; runs named <name>_* are drawn")
    training = parser.add_argument_group("variance reduction and step control (off in the post)")
    training.add_argument("--baseline", choices=BASELINES,
                          help="subtract a baseline from the returns (see minipg/baselines.py)")
    training.add_argument("--value-steps", type=positive_int, metavar="STEPS",
                          help="with --baseline value: Adam steps of the value fit per epoch")
    training.add_argument("--normalize-advantages", action=argparse.BooleanOptionalAction,
                          help="standardize advantages over each epoch's batch")
    training.add_argument("--lr-decay", action=argparse.BooleanOptionalAction,
                          help="decay the learning rate linearly to 0 over the epochs")
    training.add_argument("--max-grad-norm", type=positive_float,
                          help="rescale gradients whose global L2 norm exceeds this")
    training.add_argument("--mirror", action=argparse.BooleanOptionalAction,
                          help="Gaussian policies: make the mean odd under the env's left-right "
                               "reflection (see DiagonalGaussianPolicy)")
    training.add_argument("--log-std-final", type=optional_float,
                          help="Gaussian policies: cap log σ by a bound falling linearly from "
                               "its initial value to this over the epochs ('none': no cap)")
    training.add_argument("--gae-lambda", type=optional_unit_interval, metavar="LAMBDA",
                          help="advantages by GAE(λ) from the value baseline, fitted to the λ-returns "
                               "(see minipg/returns.py; needs --baseline value; 'none': G − V)")
    training.add_argument("--bootstrap", action=argparse.BooleanOptionalAction,
                          help="an episode cut by its time limit or by the rollout's end is worth V of "
                               "its last state, not 0 (needs --gae-lambda)")
    training.add_argument("--terminal-value", type=finite_float, metavar="V",
                          help="with --gae-lambda: what a terminated episode is worth after its last "
                               "step (0 in the MDP; r_min/(1 − γ) makes ending an episode early as "
                               "bad as the worst continuation, see minipg/reinforce.py)")
    training.add_argument("--clip-ratio", type=optional_positive_float, metavar="EPSILON",
                          help="PPO: instead of one REINFORCE step per rollout, --update-epochs passes "
                               "of minibatch steps on the clipped surrogate (see minipg/ppo.py; "
                               "'none': REINFORCE)")
    training.add_argument("--update-epochs", type=positive_int,
                          help="with --clip-ratio, passes over each rollout")
    training.add_argument("--minibatch-size", type=optional_positive_int, metavar="SAMPLES",
                          help="with --clip-ratio, samples per step ('none': the whole rollout)")
    outputs = parser.add_argument_group("outputs and runs")
    outputs.add_argument("--save", metavar="PATH", help="write a checkpoint (.npz) at the end")
    outputs.add_argument("--save-every", type=positive_int, metavar="K",
                         help="with --save, also write it every K epochs")
    outputs.add_argument("--load", metavar="PATH",
                         help="resume from a checkpoint: its preset and settings become the "
                              "defaults, so --load alone continues the run to the epochs it was "
                              "started with; --epochs N extends or shortens it to N in total "
                              "(only evaluates if already there)")
    outputs.add_argument("--csv", metavar="PATH", help="write one row per epoch to this CSV file")
    outputs.add_argument("--gif", metavar="PATH", help="render one deterministic episode as a GIF")
    outputs.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                         help="run each seed in turn; plot mean ± std over them and print a table")
    outputs.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                         help="with --seeds, run N seeds at once in separate processes (each seed's "
                              "results are those of a sequential run)")
    outputs.add_argument("--eval", type=non_negative_int, metavar="N",
                        help="after training, evaluate N episodes with sampled actions and with "
                             "the mode action (0: skip)")
    for add in experiment.get("extra_arguments", ()):
        add(parser)
    return parser


def parse_args(experiment, argv=None):
    """Parse argv, taking unset flags from the chosen preset."""
    parser = build_parser(experiment)
    presets = experiment["presets"]
    known = parser.parse_known_args(argv)[0]
    checkpoint, saved = None, {}
    if known.load:
        try:
            checkpoint = load_checkpoint(known.load)
        except (OSError, ValueError) as error:
            parser.error(f"--load: {error}")
        # --load alone continues the saved run: its preset's defaults, then its own settings
        # (its number of epochs included); explicit flags, --preset and --epochs too, override.
        saved = {key: value for key, value in checkpoint.config.items() if key in CONFIG_KEYS}
        if saved.get("preset") in presets:
            parser.set_defaults(preset=saved["preset"])
            known = parser.parse_known_args(argv)[0]
    parser.set_defaults(**presets[known.preset])
    parser.set_defaults(**saved)
    args = parser.parse_args(argv)
    args.checkpoint = checkpoint
    policy_name = POLICIES[experiment["policy"]].__name__
    if args.checkpoint is not None and args.checkpoint.architecture.get("policy") != policy_name:
        parser.error(f"--load: {known.load} is a checkpoint of "
                     f"{describe_architecture(args.checkpoint.architecture)}; "
                     f"{experiment['prog']} trains a {policy_name}")
    if args.checkpoint is not None and args.checkpoint.config.get("env", args.env) != args.env:
        parser.error(f"--load: {known.load} was trained on {args.checkpoint.config['env']}, "
                     f"not on --env {args.env}")
    try:
        gymnasium.spec(args.env)
    except gymnasium.error.Error as error:
        parser.error(f"argument --env: unknown environment id {args.env!r} ({error})")
    if experiment["policy"] != "gaussian":
        for flag, value in (("--mirror", args.mirror), ("--log-std-final", args.log_std_final)):
            if value:
                parser.error(f"{flag} needs a Gaussian policy; {experiment['prog']} trains a "
                             f"{policy_name}")
    if args.gae_lambda is not None and args.baseline != "value":
        parser.error("--gae-lambda needs --baseline value (GAE uses the learned value V)")
    if args.bootstrap and args.gae_lambda is None:
        parser.error("--bootstrap needs --gae-lambda (1 for Monte-Carlo returns with bootstrapped cuts)")
    if args.terminal_value != 0.0 and args.gae_lambda is None:
        parser.error("--terminal-value needs --gae-lambda (it is V after a termination, in GAE)")
    if args.clip_ratio is None and (args.update_epochs != 1 or args.minibatch_size is not None):
        parser.error("--update-epochs and --minibatch-size need --clip-ratio (several steps on one "
                     "rollout need the clipped surrogate)")
    if args.jobs > 1 and not args.seeds:
        parser.error("--jobs needs --seeds (it runs several seeds at once)")
    if args.save_every and not args.save:
        parser.error("--save-every needs --save PATH")
    if "finalize_args" in experiment:
        experiment["finalize_args"](args)
    if args.plot is None:
        seeds = "-".join(str(seed) for seed in args.seeds) if args.seeds else args.seed
        args.plot = f"runs/{experiment['name']}-seed{seeds}.png"
    # Now, not after a run that then cannot keep what it trained.
    for flag, path in (("--save", args.save), ("--csv", args.csv), ("--plot", args.plot), ("--gif", args.gif)):
        reason = None if path is None else unwritable(path)
        if reason:
            parser.error(f"argument {flag}: cannot write {path}: {reason}")
    return args


def unwritable(path):
    """Why the file `path` could not be written, as the OS would say it; None if it can.

    Checked without creating anything: an existing `path` must be a file we may write;
    otherwise its nearest existing ancestor must be a directory we may add entries to (the
    writers create the missing directories, such as runs/).
    """
    if not os.path.basename(path) or os.path.isdir(path):
        return os.strerror(errno.EISDIR)
    if os.path.exists(path):
        return None if os.access(path, os.W_OK) else os.strerror(errno.EACCES)
    ancestor = os.path.dirname(path) or os.curdir
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor) or os.curdir
    if not os.path.isdir(ancestor):
        return f"{ancestor}: {os.strerror(errno.ENOTDIR)}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor}: {os.strerror(errno.EACCES)}"
    return None


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


# ---------------------------------------------------------------- running
def build_policy(experiment, env, args):
    policy_class = POLICIES[experiment["policy"]]
    kwargs = {"lr": args.lr, "hidden": tuple(args.hidden), "seed": args.seed,
              "dtype": args.dtype, "chunk_size": args.chunk_size}
    kwargs.update(experiment.get("policy_kwargs", lambda a: {})(args))
    return policy_class(env, **kwargs)


def algorithm_name(args):
    """What trains the policy, for plot titles: REINFORCE's one step, or the clipped surrogate's passes."""
    return "REINFORCE" if args.clip_ratio is None else f"PPO (clipped surrogate, ε {args.clip_ratio})"


def run_config(args):
    """The settings that define a run, stored in its checkpoint and restored by --load."""
    return {key: getattr(args, key) for key in CONFIG_KEYS if hasattr(args, key)}


class Interrupt:
    """Ctrl-C or SIGTERM asks the training loop to stop after the current env step, not mid-update.

    SIGTERM is what `timeout`, Slurm, Kubernetes and systemd send before they kill a job, so it
    gets the same chance to write the completed epochs.  Used as a context manager around
    training: the first signal sets `requested` and `signum`; a second one ends the process at
    once (Ctrl-C as Python's KeyboardInterrupt) for a user who really wants out now.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signum = None
        self._previous = {}

    def __enter__(self):
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        if self.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(EXIT_TERMINATED)
        self.requested, self.signum = True, signum
        notice = ("interrupted: stopping after this step (Ctrl-C again to abort)" if signum == signal.SIGINT
                  else f"{signal.Signals(signum).name}: stopping after this step")
        print(f"\n{notice}", flush=True)

    def __call__(self):
        return self.requested

    @property
    def status(self):
        """The exit status a shell reports for a process ended by the signal: 128 + its number."""
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED


class Outputs:
    """Writes a run's output files so that an I/O error ends the run cleanly.

    A full disk, a removed directory or a lost permission makes a writer raise OSError.  That
    must not end in a traceback that loses the trained policy: `write` records the failure (the
    file is not tried again), `failed` stops training after the current env step (it is polled
    like Ctrl-C), the other outputs are still written, and `report` says in one message what
    failed, the OS's reason and what is intact.  Checkpoints and CSVs are written atomically, so
    a failed write leaves their previous complete version: `complete` remembers what it holds.
    """

    def __init__(self):
        self.failures = {}  # path -> the OSError its writer raised
        self.complete = {}  # path -> (kind, epochs) of its last complete version (atomic writes)

    @property
    def failed(self):
        return bool(self.failures)

    def write(self, path, write, kind=None, epochs=None):
        """write()'s result, or None if it raised OSError (now or for this path before).

        kind, epochs: for a file written atomically, e.g. ("checkpoint", 7), what it then holds.
        """
        if path in self.failures:
            return None
        try:
            result = write()
        except OSError as error:
            self.failures[path] = error
            return None
        if kind is not None:
            self.complete[path] = (kind, epochs)
        return result

    def report(self, prog, epochs=None):
        """One line: each file that failed with the OS's reason, then, given the run's `epochs`,
        what is intact: 'prog: error: cannot write runs/x.npz: No space left on device.
        Epochs trained: 8; last complete checkpoint: epoch 7 at runs/x.npz'."""
        message = f"{prog}: error: " + "; ".join(f"cannot write {path}: {error.strerror or error}"
                                                 for path, error in self.failures.items())
        if epochs is None:
            return message
        intact = "; ".join(f"last complete {kind}: epoch {done} at {path}"
                           for path, (kind, done) in self.complete.items()
                           if os.path.exists(path))  # not if its directory was removed
        return f"{message}. Epochs trained: {epochs}; {intact or 'no complete checkpoint or CSV'}"


def suffixed(path, seed, several):
    """PATH, or PATH with '-seedS' before its extension when several seeds share one flag."""
    if path is None or not several:
        return path
    root, extension = os.path.splitext(path)
    return f"{root}-seed{seed}{extension}"


def usage_error(experiment, message):
    """Exit as argparse does on a bad flag: usage and 'prog: error: message' on stderr, status 2."""
    build_parser(experiment).error(message)


# Exit statuses of main besides 0 and argparse's 2 (usage errors).
EXIT_NON_FINITE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process ended by Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a scheduler (timeout, Slurm, systemd) sends
EXIT_IO_ERROR = 74  # EX_IOERR of sysexits.h: an output file could not be written (see Outputs)


def train(experiment, args, several_seeds=False):
    """Train (or resume, or only load) one seed's run and write its outputs.

    Returns (agent, history, status): status 0, EXIT_NON_FINITE, EXIT_IO_ERROR, EXIT_INTERRUPTED
    (Ctrl-C) or EXIT_TERMINATED (SIGTERM).
    """
    env = make_env(args.env, args.num_envs, args.vectorization)
    try:
        agent = build_policy(experiment, env, args)
    except (TypeError, ValueError) as error:  # e.g. a Box action space for a categorical policy
        env.close()
        usage_error(experiment, f"{args.env}: {error}")
    history, start_epoch, evaluation = None, 0, None
    baseline = make_baseline(args.baseline, agent, args.gamma, args.bootstrap, steps=args.value_steps)
    learned_baseline = baseline if isinstance(baseline, ValueBaseline) else None
    if args.checkpoint is not None:
        try:
            restore_policy(args.checkpoint, agent)
            if learned_baseline is not None:
                restore_baseline(args.checkpoint, learned_baseline)
        except CheckpointError as error:
            env.close()
            usage_error(experiment, f"--load: {error}")
        history, start_epoch = args.checkpoint.history or None, args.checkpoint.epoch
        print(f"loaded {args.load}: {start_epoch} epochs done", flush=True)
    save_path = suffixed(args.save, args.seed, several_seeds)
    csv_path = suffixed(args.csv, args.seed, several_seeds)
    config = run_config(args)
    outputs = Outputs()
    if args.load and save_path and os.path.abspath(args.load) == os.path.abspath(save_path):
        outputs.complete[save_path] = ("checkpoint", start_epoch)
    # The agent's generator as it was after the last complete epoch.  Ctrl-C abandons the epoch
    # in progress, whose rollout has already drawn actions from the generator; the checkpoint
    # gets this state back so that a resumed run samples exactly what an uninterrupted one would.
    rng_after_epoch = agent.rng.bit_generator.state

    def save(history, epochs):
        """Write the checkpoint after `epochs` epochs; True if it was written."""
        return outputs.write(save_path, lambda: save_checkpoint(save_path, agent, config, history, epochs,
                                                                learned_baseline), "checkpoint", epochs)

    def log(history):
        """Write the CSV of the epochs in `history`; True if it was written."""
        return outputs.write(csv_path, lambda: write_csv(history, csv_path), "CSV", len(history["loss"]))

    def after_epoch(epoch, history):
        nonlocal rng_after_epoch
        rng_after_epoch = agent.rng.bit_generator.state
        print(format_progress(epoch, args.epochs, history), flush=True)
        if csv_path:
            log(history)
        if save_path and args.save_every and (epoch + 1) % args.save_every == 0:
            save(history, epoch + 1)

    print(f"{experiment['prog']}: {args.env}, {args.num_envs} envs × T {args.T}, "
          f"{args.epochs} epochs, lr {args.lr}, γ {args.gamma}, seed {args.seed}", flush=True)
    if history is None:
        history = new_history(agent)
    ok = True
    with Interrupt() as interrupt:
        try:
            reinforce(env, agent, gamma=args.gamma, epochs=args.epochs, T=args.T, seed=args.seed,
                      callback=after_epoch, baseline=baseline,
                      normalize_advantages=args.normalize_advantages, lr_decay=args.lr_decay,
                      max_grad_norm=args.max_grad_norm, log_std_final=args.log_std_final,
                      gae_lambda=args.gae_lambda, bootstrap=args.bootstrap,
                      terminal_value=args.terminal_value, clip_ratio=args.clip_ratio,
                      update_epochs=args.update_epochs, minibatch_size=args.minibatch_size,
                      start_epoch=start_epoch,
                      history=history, should_stop=lambda: interrupt() or outputs.failed)
        except NonFiniteError as error:
            ok = False
            print(f"stopped: {error}. Outputs keep the {len(history['loss'])} good epochs; "
                  f"the last checkpoint written before this epoch is kept.", file=sys.stderr, flush=True)
    env.close()
    done = len(history["loss"])
    stopped = interrupt.requested or outputs.failed
    if stopped:
        agent.rng.bit_generator.state = rng_after_epoch
    if interrupt.requested:
        print(f"interrupted after {done} complete epochs; writing what was done", flush=True)
    if done > start_epoch or not args.load:
        summarize_training(history, start_epoch)
    # Each output is written if it still can be; one that fails is reported at the end.
    if save_path and ok and save(history, done):
        print(f"checkpoint: {save_path}")
    if csv_path and log(history):
        print(f"csv: {csv_path}")
    if not several_seeds and done:
        plotted = outputs.write(args.plot, lambda: plot_learning_curves(
            {f"minipg seed {args.seed}": history}, args.plot, reference=reference_curves(args, experiment),
            title=f"{algorithm_name(args)} on {args.env} ({args.num_envs} envs, T={args.T})"))
        if plotted:
            print(f"learning curve: {plotted}")
    if ok and not stopped:
        if args.eval:
            evaluation = report_evaluation(agent, args)
        if args.gif:
            gif_path = suffixed(args.gif, args.seed, several_seeds)
            gif = outputs.write(gif_path, lambda: render_episode_gif(
                agent, args.env, gif_path, seed=None if args.seed is None else args.seed + EVAL_SEED_OFFSET))
            if gif:
                print(f"gif: {gif_path} (one deterministic episode, return {gif[1]:.1f})")
    if outputs.failed:
        print(outputs.report(experiment["prog"], done), file=sys.stderr, flush=True)
    # The most serious reason to stop decides the exit status.
    status = interrupt.status if interrupt.requested else 0
    if outputs.failed:
        status = EXIT_IO_ERROR
    if not ok:
        status = EXIT_NON_FINITE
    return agent, history, status, evaluation


def reference_curves(args, experiment):
    """{label: avg_reward per epoch} of the runs in --reference named after this experiment."""
    if not args.reference:
        return None
    try:
        with open(args.reference) as handle:
            runs = json.load(handle)
        prefix = f"{experiment['name']}_"
        return {f"original {name[len(prefix):]}": run["avg_reward_per_epoch"]
                for name, run in runs.items() if name.startswith(prefix)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"warning: --reference {args.reference} not drawn: {error}", file=sys.stderr)
        return None


def nan_reduce(reduce, values):
    """reduce() over the non-NaN values, NaN if there are none — without NumPy's RuntimeWarning
    (a short swing-up rollout often ends no episode, so every mean_return is NaN)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(reduce(values)) if values.size else float("nan")


def summarize_training(history, start_epoch):
    seconds = history["seconds"][start_epoch:] or history["seconds"]
    last = history["mean_return"][-10:]
    print(f"done: {len(history['loss'])} epochs ({np.median(seconds):.3f}s per epoch, median); "
          f"mean episode return over the last {len(last)} epochs: {nan_reduce(np.mean, last):.2f}")


def main(experiment, argv=None):
    """Train one experiment (or one per --seeds) from the command line.

    Returns (agent, history) of the last seed run.  Exits with status 1 if training stopped
    on a non-finite value (or, with --jobs, a seed's process died), 74 if an output could not
    be written, 130 if it was interrupted by Ctrl-C, 143 by SIGTERM.
    """
    args = parse_args(experiment, argv)
    seeds = args.seeds if args.seeds else [args.seed]
    several = len(seeds) > 1
    if several and args.load:
        raise SystemExit(f"{experiment['prog']}: error: --load takes one run, not --seeds")
    run = functools.partial(run_seed, experiment, args, several)
    if args.jobs > 1 and several:
        try:
            results = run_in_processes(run, seeds, args.jobs, prefix=lambda seed: f"[seed {seed}] ")
        except ChildFailed as error:  # killed (e.g. out of memory): its own outputs say how far it got
            print(f"{experiment['prog']}: error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
    else:
        results = []
        for seed in seeds:
            results.append(run(seed))
            if results[-1][3]:  # a failed or interrupted seed stops the ones after it
                break
    histories = {f"seed {seed}": history for seed, _, history, _, _, _ in results}
    summaries = [(seed, history, evaluation, wall) for seed, _, history, _, evaluation, wall in results]
    _, agent, history, _, _, _ = results[-1]
    status = next((result[3] for result in results if result[3]), 0)
    if several:
        outputs = Outputs()
        path = outputs.write(args.plot, lambda: plot_learning_curves(
            histories, args.plot, reference=reference_curves(args, experiment),
            title=f"{algorithm_name(args)} on {args.env}: {len(histories)} seeds"))
        if path:
            print(f"learning curves (mean ± std over seeds): {path}")
        print_seed_table(summaries)
        if outputs.failed:
            print(outputs.report(experiment["prog"]), file=sys.stderr, flush=True)
            status = status or EXIT_IO_ERROR
    if status:
        raise SystemExit(status)
    return agent, history


def run_seed(experiment, args, several, seed):
    """train() one seed; returns (seed, agent, history, status, evaluation, wall seconds)."""
    run_args = argparse.Namespace(**vars(args))
    run_args.seed = seed
    started = time.perf_counter()
    agent, history, status, evaluation = train(experiment, run_args, several)
    return seed, agent, history, status, evaluation, time.perf_counter() - started


def print_seed_table(summaries):
    """Per seed: last-10-epoch mean return, deterministic evaluation (mean, min) and wall time."""
    print(f"{'seed':>6} {'epochs':>7} {'last-10 mean return':>20} {'eval mean':>10} "
          f"{'eval min':>9} {'wall s':>8}")
    for seed, history, evaluation, wall in summaries:
        returns = np.asarray(history["mean_return"], dtype=float)
        eval_mean, eval_min = ((evaluation.mean(), evaluation.min()) if evaluation is not None
                               else (float("nan"), float("nan")))
        print(f"{seed:>6} {len(returns):>7} {nan_reduce(np.mean, returns[-10:]):>20.2f} "
              f"{eval_mean:>10.1f} {eval_min:>9.1f} {wall:>8.1f}")


def write_csv(history, path):
    """One row per epoch (see CSV_COLUMNS); rewritten whole and atomically each time."""
    epochs = len(history["loss"])
    log_std = history.get("log_std", [""] * epochs)
    wall = np.cumsum(history["seconds"])
    steps_per_epoch = np.diff(np.concatenate(([0], history["env_steps"])))
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for i in range(epochs):
        seconds = history["seconds"][i]
        writer.writerow([
            i + 1, history["avg_reward"][i], history["mean_return"][i], history["episodes"][i],
            history["loss"][i], history["entropy"][i], log_std[i], history["env_steps"][i],
            steps_per_epoch[i] / seconds if seconds > 0 else "", wall[i],
        ])
    write_atomically(path, lambda file: file.write(text.getvalue().encode("utf-8")))
    return path


def report_evaluation(agent, args):
    """Print sampled-action and deterministic evaluations, the deterministic one last.

    Returns the deterministic episode returns: (args.eval,).
    """
    eval_seed = None if args.seed is None else args.seed + EVAL_SEED_OFFSET
    for deterministic in (False, True):
        returns = evaluate(agent, args.env, args.eval, deterministic=deterministic,
                           seed=eval_seed, vectorization=args.vectorization)
        kind = "deterministic" if deterministic else "sampled"
        print(f"eval ({kind}): min {returns.min():.1f}, max {returns.max():.1f}")
        print(f"eval: mean return {returns.mean():.1f} ± {returns.std():.1f} "
              f"over {len(returns)} episodes ({kind})")
    return returns
