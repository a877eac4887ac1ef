"""The command line shared by run_cartpole.py and run_swingup.py.

Each script describes its experiment (its presets, Options instances, and the policy it trains)
and calls `main`; everything else — flags, progress lines, checkpoints, the learning-curve PNG —
lives here once.  The flags of the run's settings are made from the fields of minipg.Options
(options.py): one flag per field, with the field's doc as help, its check as the flag's type.
"""

import argparse
import csv
import dataclasses
import errno
import io
import json
import os
import signal
import sys
import threading
import time

import gymnasium
import numpy as np

from ..envs import make_env
from ..envs.vector import MIRRORS, observation_mirror
from ..options import (FIELDS, FLAG, NAMES, POSITIVE_INT, SIZE_FIELDS, SIZES, Options, OptionsError, flag,
                       load_presets, optional)
from ..policies import NonFiniteError
from ..reinforce import reinforce
from ..solver import make_policy, new_state, train
from .checkpoint import (CheckpointError, describe_architecture, load_checkpoint, restore_policy, restore_state,
                         save_checkpoint, write_atomically)
from .evaluation import evaluate
from .plotting import plot_learning_curves
from .render import render_episode_gif

# Evaluation episodes are seeded apart from training's epoch seeds.
EVAL_SEED_OFFSET = 10_000

CSV_COLUMNS = ("epoch", "avg_reward", "mean_return", "episodes", "loss", "entropy", "log_std",
               "env_steps", "steps_per_s", "wall_seconds")

POLICY_CLASS_NAMES = {"categorical": "CategoricalPolicy", "gaussian": "DiagonalGaussianPolicy"}


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


def check_type(check):
    """The argparse type of an Options field's Check: its parse, 'none' for None where allowed."""
    def convert(text):
        return None if check.optional and text.lower() == "none" else check.parse(text)
    return argument_type(convert, check, check.words(command_line=True))


non_negative_int = argument_type(int, lambda v: v >= 0, "a non-negative integer")
# One size of --hidden N …; 'none' (standing alone) is no hidden layer.
hidden_size = argument_type(lambda text: None if text.lower() == "none" else int(text),
                            optional(POSITIVE_INT), POSITIVE_INT.expected)


# ---------------------------------------------------------------- parser
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default in its help, except a None default (the help says what not giving it does)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser(experiment):
    """The flags of one experiment: one per Options field (default: the default preset's value;
    not given, a flag leaves the field to the preset or the loaded checkpoint), and the run's own."""
    parser = argparse.ArgumentParser(
        prog=experiment["prog"],
        description=experiment["description"],
        formatter_class=HelpFormatter,
    )
    presets = experiment["presets"]
    defaults = presets[experiment["default_preset"]]
    parser.add_argument("--preset", choices=sorted(presets), default=argparse.SUPPRESS,
                        help=f"a named set of defaults (default: {experiment['default_preset']}); "
                             "explicit flags override it")
    parser.add_argument("--seed", type=int, default=argparse.SUPPRESS,
                        help="seeds the policy (init and sampling) and the envs (default: 0)")
    groups = {}
    for name in NAMES:
        spec = FIELDS[name]
        meta = spec.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        default = getattr(defaults, name)
        sizes = isinstance(default, tuple)
        shown = "none" if default is None else (" ".join(map(str, default)) or "none") if sizes else default
        needed = name == "env" and experiment.get("needs_env")  # python -m minipg: no default task
        default_text = "required, unless --preset or --load gives it" if needed else f"default: {shown}"
        kwargs = {"dest": name, "default": argparse.SUPPRESS, "help": f"{meta['doc']} ({default_text})"}
        check = meta["check"]
        if check is FLAG:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif check is SIZES:  # sizes, or none (or no value at all): no hidden layer
            kwargs.update(type=hidden_size, nargs="*", metavar="N")
        elif check.choices:
            kwargs["choices"] = check.choices
        else:
            kwargs.update(type=check_type(check), metavar=meta["metavar"])
        group.add_argument(flag(name), **kwargs)
    outputs = parser.add_argument_group("outputs and runs")
    outputs.add_argument("--plot", help="learning-curve PNG path (default: runs/<name>-seed<seed>.png)")
    outputs.add_argument("--reference", metavar="JSON",
                         help="overlay learning curves of the original code on the plot: a JSON file "
                              "{run name: {'avg_reward_per_epoch': [...]}}; runs named <name>_* are drawn")
    outputs.add_argument("--save", metavar="PATH", help="write a checkpoint (.npz) at the end")
    outputs.add_argument("--save-every", type=check_type(POSITIVE_INT), metavar="K",
                         help="with --save, also write it every K epochs")
    outputs.add_argument("--load", metavar="PATH",
                         help="resume from a checkpoint: its settings become the defaults, so --load "
                              "alone continues the run to the epochs it was started with; --epochs N "
                              "extends or shortens it to N in total (only evaluates if already there). "
                              "Other flags take effect from the first resumed epoch, schedules "
                              "(--lr-decay, --log-std-final) continuing from where they were; flags "
                              "that define the network or the run (--env, --hidden, --dtype, --seed, "
                              "...) cannot change")
    outputs.add_argument("--csv", metavar="PATH", help="write one row per epoch to this CSV file")
    outputs.add_argument("--results", metavar="JSON",
                         help="write the run's options and, per seed, its evaluation returns, env steps "
                              "and wall seconds to this JSON file")
    outputs.add_argument("--gif", metavar="PATH", help="render one deterministic episode as a GIF")
    outputs.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                         help="run each seed in turn; plot mean ± std over them and print a table")
    outputs.add_argument("--jobs", type=check_type(POSITIVE_INT), default=1, metavar="N",
                         help="with --seeds, run N seeds at once in a local process pool, each run's "
                              "learn step on cores // N threads (each seed's results are those of a "
                              "sequential run); with --cluster slurm, the number of Dask workers; "
                              "with --cluster ADDRESS, ignored (the cluster's workers decide)")
    outputs.add_argument("--cluster", metavar="ADDRESS",
                         help="with --seeds, run the seeds on a Dask cluster: the address of a running "
                              "`dask scheduler` (e.g. tcp://127.0.0.1:8786), whose workers need minipg "
                              "but no shared filesystem (the files are written here), or 'slurm': a "
                              "dask-jobqueue SLURMCluster of --jobs workers, from dask-jobqueue's own "
                              "configuration. Needs Dask: pip install \"dask[distributed]\"")
    outputs.add_argument("--eval", type=non_negative_int, default=100, metavar="N",
                         help="after training, evaluate N episodes with sampled actions and with "
                              "the mode action (0: skip)")
    for add in experiment.get("extra_arguments", ()):
        add(parser)
    return parser


def task_experiment(argv):
    """The experiment of `python -m minipg --env ID`: any task, the policy chosen by its action
    space, its settings from presets.toml (the table named after the id, else [default])."""
    presets = load_presets()
    prober = argparse.ArgumentParser(add_help=False)
    prober.add_argument("--env")
    prober.add_argument("--preset")
    known = prober.parse_known_args(argv)[0]
    default = known.env if known.env in presets else "default"
    return {
        "name": (known.env or presets[known.preset or default].env).replace("/", "-"),
        "prog": "python -m minipg",
        "description": "Train any gymnasium task with a flat Box observation and a Discrete or Box action "
                       "space: the categorical or the Gaussian policy, as the action space says, with the "
                       "solver's options (minipg/options.py) and the task's preset (minipg/presets.toml).",
        "policy": None,
        "default_preset": default,
        "presets": presets,
        "needs_env": True,
    }


def parse_args(experiment, argv=None):
    """Parse argv into the run's settings: args.options (an Options), args.seed, args.preset and
    the output flags.  Unset fields come from the preset, or, with --load, from the checkpoint."""
    parser = build_parser(experiment)
    args = parser.parse_args(argv)
    if experiment.get("needs_env") and not (hasattr(args, "env") or hasattr(args, "preset") or args.load):
        parser.error("--env ENV_ID is needed (a gymnasium id, e.g. --env LunarLander-v3), or --load PATH")
    if args.cluster is not None and not args.seeds:
        parser.error("--cluster needs --seeds (it runs the seeds on a Dask cluster)")
    if args.cluster is not None and args.load:
        parser.error("--load with --cluster: a resumed run runs in this process (drop --cluster)")
    explicit = {name: getattr(args, name) for name in NAMES if hasattr(args, name)}
    for name in SIZE_FIELDS:
        if name in explicit:
            sizes = explicit[name]
            if None in sizes and len(sizes) > 1:
                parser.error(f"argument {flag(name)}: 'none' (no hidden layer) stands alone, got "
                             f"{' '.join('none' if size is None else str(size) for size in sizes)}")
            explicit[name] = tuple(size for size in sizes if size is not None)
    for hook in experiment.get("option_flags", ()):  # script flags that set fields (--env-impl)
        hook(args, explicit)
    args.checkpoint, changed = None, {}
    if args.load:
        base, changed = resumed_options(parser, experiment, args, explicit)
    else:
        args.preset = getattr(args, "preset", experiment["default_preset"])
        args.seed = getattr(args, "seed", 0)
        base = experiment["presets"][args.preset]
    try:
        args.options = dataclasses.replace(base, **explicit)
    except OptionsError as error:
        parser.error(error.command_line())
    args.explicit = explicit
    if experiment["policy"] == "categorical":  # else checked once the action space is known (run_one)
        for name in gaussian_only(explicit):
            parser.error(f"{flag(name)} needs a Gaussian policy; {experiment['prog']} trains a "
                         f"{POLICY_CLASS_NAMES['categorical']}")
    args.changed = changed
    args.env = args.options.env
    try:
        gymnasium.spec(args.env)
    except gymnasium.error.Error as error:
        parser.error(f"argument --env: unknown environment id {args.env!r} ({error})")
    if args.options.mirror and args.env not in MIRRORS:
        if "mirror" in explicit or args.checkpoint is not None:
            parser.error(f"argument --mirror: {observation_mirror_error(args.env)}")
        # The preset's symmetry is its own task's: another task trains without it, and says so.
        args.options = args.options.replace(mirror=False)
        print(f"note: --mirror of preset {args.preset} is off: {observation_mirror_error(args.env)}", flush=True)
    if args.jobs > 1 and not args.seeds:
        parser.error("--jobs needs --seeds (it runs several seeds at once)")
    if args.save_every and not args.save:
        parser.error("--save-every needs --save PATH")
    if args.plot is None:
        seeds = "-".join(str(seed) for seed in args.seeds) if args.seeds else args.seed
        args.plot = f"runs/{experiment['name']}-seed{seeds}.png"
    # Now, not after a run that then cannot keep what it trained.
    for option, path in (("--save", args.save), ("--csv", args.csv), ("--plot", args.plot), ("--gif", args.gif),
                         ("--results", args.results)):
        reason = None if path is None else unwritable(path)
        if reason:
            parser.error(f"argument {option}: cannot write {path}: {reason}")
    return args


def gaussian_only(explicit):
    """The fields among the explicit flags that only a Gaussian policy has, given another value
    than their default ('--log-std-final none' asks for nothing a categorical policy lacks)."""
    return [name for name, value in explicit.items()
            if FIELDS[name].metadata["gaussian"] and value != FIELDS[name].default]


def resumed_options(parser, experiment, args, explicit):
    """(the loaded run's Options, {field: (saved, given)} of the explicit flags that change it).

    Reads the checkpoint of --load into args.checkpoint; its preset and seed become args'.
    A flag that changes a field the run cannot change (a `fixed` field: the network, the env,
    the baseline's kind) or the seed is a usage error naming it.
    """
    try:
        args.checkpoint = load_checkpoint(args.load)
        saved = args.checkpoint.config
        base = Options.from_dict({name: saved[name] for name in NAMES if name in saved})
    except (OSError, ValueError) as error:  # CheckpointError and OptionsError are ValueErrors
        parser.error(f"--load: {error}")
    args.checkpoint_options = base
    trained, wanted = args.checkpoint.architecture.get("policy"), POLICY_CLASS_NAMES.get(experiment["policy"])
    if wanted is not None and trained != wanted:
        parser.error(f"--load: {args.load} is a checkpoint of {describe_architecture(args.checkpoint.architecture)}; "
                     f"{experiment['prog']} trains a {wanted}")
    if hasattr(args, "preset") and args.preset != saved.get("preset"):
        parser.error(f"--preset with --load: {args.load} holds the settings of its run (preset "
                     f"{saved.get('preset')}); give single flags to change them")
    args.preset = saved.get("preset")
    seed = saved.get("seed", 0)
    if getattr(args, "seed", seed) != seed:
        parser.error(f"--load: {args.load} was trained with --seed {seed}; the seed of a resumed run "
                     f"cannot change (got --seed {args.seed})")
    args.seed = seed
    changed = {}
    for name, value in explicit.items():
        if value == getattr(base, name):
            continue
        if name == "env":
            parser.error(f"--load: {args.load} was trained on {base.env}, not on --env {value}")
        if FIELDS[name].metadata["fixed"]:
            parser.error(f"--load: {args.load} was trained with {shown(name, getattr(base, name))}; "
                         f"{flag(name)} cannot change in a resumed run (got {shown(name, value)})")
        changed[name] = (getattr(base, name), value)
    return base, changed


def observation_mirror_error(env_id):
    """Why env_id has no mirror: observation_mirror's message."""
    try:
        observation_mirror(env_id)
    except ValueError as error:
        return str(error)
    return ""


def shown(name, value):
    """A field's value as its flag would be typed: '--hidden 64 64', '--mirror', '--clip-ratio none'."""
    if isinstance(value, bool):
        return flag(name) if value else "--no-" + flag(name)[2:]
    if isinstance(value, tuple):
        return f"{flag(name)} {' '.join(map(str, value))}" if value else f"{flag(name)} (none)"
    return f"{flag(name)} {'none' if value is None else value}"


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
def algorithm_name(options):
    """What trains the policy, for plot titles: REINFORCE's one step, or the clipped surrogate's passes."""
    return "REINFORCE" if options.clip_ratio is None else f"PPO (clipped surrogate, ε {options.clip_ratio})"


def run_config(args):
    """What a checkpoint stores as the run's configuration, and --load restores: every Options
    field, the seed and the preset's name."""
    return {**args.options.asdict(), "seed": args.seed, "preset": args.preset}


class Stopped(Exception):
    """Raised by Watched's step when the run must stop (Ctrl-C, SIGTERM, a failed write)."""


class Watched(gymnasium.vector.VectorWrapper):
    """The training env as the command line sees it: after every step, a non-finite reward
    stops the run with NonFiniteError, and `should_stop()` (polled like a Ctrl-C flag) with
    Stopped, so a run stops after the current env step, never in the middle of an update."""

    def __init__(self, env, should_stop):
        super().__init__(env)
        self.should_stop = should_stop

    def step(self, actions):
        result = self.env.step(actions)
        if not np.isfinite(result[1]).all():
            raise NonFiniteError("the environment returned a non-finite reward")
        if self.should_stop():
            raise Stopped
        return result


def run_loop(env, policy, options, seed, callback, state):
    """The post's REINFORCE itself (reinforce.py) when no addition of the solver is on, else the
    solver (solver.py), which gives the same history in that case (tested)."""
    if options.is_posts_algorithm():
        return reinforce(env, policy, options.gamma, options.epochs, options.T, seed, callback, state.history)
    return train(env, policy, options, seed, callback, state)


class Interrupt:
    """Ctrl-C or SIGTERM asks the training loop to stop after the current env step, not mid-update.

    SIGTERM is what `timeout`, Slurm, Kubernetes and systemd send before they kill a job, so it
    gets the same chance to write the completed epochs.  Used as a context manager around
    training: the first signal sets `requested` and `signum`; a second one ends the process at
    once (Ctrl-C as Python's KeyboardInterrupt) for a user who really wants out now.

    Only the main thread may set signal handlers: elsewhere (a run on a Dask worker's thread)
    no handler is set, and `requested` stays False.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
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
        print(f"\n{self.notice(signum)}", flush=True)

    def notice(self, signum):
        """The line printed on the first signal."""
        return ("interrupted: stopping after this step (Ctrl-C again to abort)" if signum == signal.SIGINT
                else f"{signal.Signals(signum).name}: stopping after this step")

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


def run_one(experiment, args, several_seeds=False):
    """Train (or resume, or only load) one seed's run and write its outputs.

    Returns (policy, history, status, evaluation): status 0, EXIT_NON_FINITE, EXIT_IO_ERROR,
    EXIT_INTERRUPTED (Ctrl-C) or EXIT_TERMINATED (SIGTERM); evaluation: the deterministic
    evaluation's episode returns, or None.
    """
    options = args.options
    try:
        env = make_env(options.env, options.num_envs, options.vectorization)
    except ValueError as error:  # a missing optional dependency, a vectorization the env lacks
        usage_error(experiment, str(error))
    except Exception as error:  # whatever else an env's constructor raises (an env id is the user's)
        usage_error(experiment, f"{options.env}: cannot make the environment ({type(error).__name__}: {error})")
    try:
        policy = make_policy(env, options, args.seed, experiment["policy"])
    except (TypeError, ValueError) as error:  # e.g. a Box action space for a categorical policy
        env.close()
        usage_error(experiment, f"{options.env}: {error}")
    if not hasattr(policy, "log_std") and gaussian_only(args.explicit):
        env.close()
        usage_error(experiment, f"{flag(gaussian_only(args.explicit)[0])} needs a Gaussian policy; {options.env} "
                                f"has discrete actions (a CategoricalPolicy)")
    # The run as it was saved, if resuming: built from the saved options, then going on with the new ones.
    state = new_state(policy, options if args.checkpoint is None else args.checkpoint_options)
    start_epoch, evaluation = 0, None
    if args.checkpoint is not None:
        try:
            restore_policy(args.checkpoint, policy)
            restore_state(args.checkpoint, state)
        except CheckpointError as error:
            env.close()
            usage_error(experiment, f"--load: {error}")
        state.history, start_epoch = args.checkpoint.history or state.history, args.checkpoint.epoch
        print(f"loaded {args.load}: {start_epoch} epochs done", flush=True)
        if args.changed:
            print("changed against the checkpoint, from epoch " + f"{start_epoch + 1}: " + ", ".join(
                f"{flag(name)} {old} → {new}" for name, (old, new) in args.changed.items()), flush=True)
    save_path = suffixed(args.save, args.seed, several_seeds)
    csv_path = suffixed(args.csv, args.seed, several_seeds)
    config = run_config(args)
    outputs = Outputs()
    if args.load and save_path and os.path.abspath(args.load) == os.path.abspath(save_path):
        outputs.complete[save_path] = ("checkpoint", start_epoch)
    # The policy's generator as it was after the last complete epoch.  Ctrl-C abandons the epoch
    # in progress, whose rollout has already drawn actions from the generator; the checkpoint
    # gets this state back so that a resumed run samples exactly what an uninterrupted one would.
    rng_after_epoch = policy.rng.bit_generator.state
    history = state.history

    def save(epochs):
        """Write the checkpoint after `epochs` epochs; True if it was written."""
        return outputs.write(save_path, lambda: save_checkpoint(save_path, policy, config, history, epochs, state),
                             "checkpoint", epochs)

    def log():
        """Write the CSV of the epochs in `history`; True if it was written."""
        return outputs.write(csv_path, lambda: write_csv(history, csv_path), "CSV", len(history["loss"]))

    def after_epoch(epoch, history):
        nonlocal rng_after_epoch
        rng_after_epoch = policy.rng.bit_generator.state
        print(format_progress(epoch, options.epochs, history), flush=True)
        if csv_path:
            log()
        if save_path and args.save_every and (epoch + 1) % args.save_every == 0:
            save(epoch + 1)

    print(f"{experiment['prog']}: {options.env}, {options.num_envs} envs × T {options.T}, "
          f"{options.epochs} epochs, lr {options.lr}, γ {options.gamma}, seed {args.seed}", flush=True)
    time_limit = gymnasium.spec(options.env).max_episode_steps
    if time_limit is not None and options.T < time_limit:
        # Every rollout resets the envs (the post's loop), so steps past T are never trained on.
        print(f"note: T {options.T} is shorter than {options.env}'s time limit of {time_limit} steps: each "
              f"rollout starts new episodes, so only their first {options.T} steps are trained on", flush=True)
    ok = True
    with Interrupt() as interrupt:
        watched = Watched(env, lambda: interrupt() or outputs.failed)
        try:
            # Overflows and NaNs are caught by the loops' own checks and reported in one line;
            # NumPy's warnings before that line would only repeat it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run_loop(watched, policy, options, args.seed, after_epoch, state)
        except Stopped:
            pass  # the unfinished epoch is dropped; history holds the complete ones
        except NonFiniteError as error:
            ok = False
            print(f"stopped: epoch {len(history['loss']) + 1}: {error}. Outputs keep the "
                  f"{len(history['loss'])} good epochs; the last checkpoint written before this "
                  f"epoch is kept.", file=sys.stderr, flush=True)
    env.close()
    done = len(history["loss"])
    stopped = interrupt.requested or outputs.failed
    if stopped:
        policy.rng.bit_generator.state = rng_after_epoch
    if interrupt.requested:
        print(f"interrupted after {done} complete epochs; writing what was done", flush=True)
    if done > start_epoch or not args.load:
        summarize_training(history, start_epoch)
    # Each output is written if it still can be; one that fails is reported at the end.
    if save_path and ok and save(done):
        print(f"checkpoint: {save_path}")
    if csv_path and log():
        print(f"csv: {csv_path}")
    if not several_seeds and done:
        plotted = outputs.write(args.plot, lambda: plot_learning_curves(
            {f"minipg seed {args.seed}": history}, args.plot, reference=reference_curves(args, experiment),
            title=f"{algorithm_name(options)} on {options.env} ({options.num_envs} envs, T={options.T})"))
        if plotted:
            print(f"learning curve: {plotted}")
    if ok and not stopped:
        if args.eval:
            evaluation = report_evaluation(policy, args, state.observation_normalizer)
        if args.gif:
            gif_path = suffixed(args.gif, args.seed, several_seeds)
            try:
                gif = outputs.write(gif_path, lambda: render_episode_gif(
                    policy, options.env, gif_path, seed=None if args.seed is None else args.seed + EVAL_SEED_OFFSET,
                    normalizer=state.observation_normalizer))
            except ValueError as error:  # a task that cannot draw itself here
                gif = None
                print(f"warning: --gif {gif_path} not written: {error}", file=sys.stderr, flush=True)
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
    return policy, history, status, evaluation


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

    The seeds run one after another in this process, or, with --jobs N (N > 1) or --cluster, as a
    sweep (sweep.py): on a local process pool or a Dask cluster, each seed's results those of
    the sequential run.  Returns (policy, history) of the last seed run (of the last seed that
    finished, in a sweep).  Exits with status 1 if training stopped on a non-finite value (or, in
    a sweep, a run failed or its worker died), 74 if an output could not be written, 130 if it
    was interrupted by Ctrl-C, 143 by SIGTERM.
    """
    args = parse_args(experiment, argv)
    seeds = args.seeds if args.seeds else [args.seed]
    several = len(seeds) > 1
    if several and args.load:
        raise SystemExit(f"{experiment['prog']}: error: --load takes one run, not --seeds")
    outputs = Outputs()
    if args.cluster is not None or (args.jobs > 1 and several):
        from .sweep import sweep_seeds  # imported here: sweep.py builds on this module

        results, status = sweep_seeds(experiment, args, seeds, several, outputs)
    else:
        results = []
        for seed in seeds:
            results.append(run_seed(experiment, args, several, seed))
            if results[-1][3]:  # a failed or interrupted seed stops the ones after it
                break
        status = next((result[3] for result in results if result[3]), 0)
    histories = {f"seed {seed}": history for seed, _, history, _, _, _ in results}
    summaries = [(seed, history, evaluation, wall) for seed, _, history, _, evaluation, wall in results]
    _, policy, history, _, _, _ = results[-1] if results else (None, None, None, None, None, None)
    if several and results:
        path = outputs.write(args.plot, lambda: plot_learning_curves(
            histories, args.plot, reference=reference_curves(args, experiment),
            title=f"{algorithm_name(args.options)} on {args.env}: {len(histories)} seeds"))
        if path:
            print(f"learning curves (mean ± std over seeds): {path}")
        print_seed_table(summaries)
    if args.results and outputs.write(args.results, lambda: write_results(args, summaries)):
        print(f"results: {args.results}")
    if outputs.failed:
        print(outputs.report(experiment["prog"]), file=sys.stderr, flush=True)
        status = status or EXIT_IO_ERROR
    if status:
        raise SystemExit(status)
    return policy, history


def run_seed(experiment, args, several, seed):
    """run_one() with `seed`; returns (seed, policy, history, status, evaluation, wall seconds)."""
    run_args = argparse.Namespace(**vars(args))
    run_args.seed = seed
    started = time.perf_counter()
    policy, history, status, evaluation = run_one(experiment, run_args, several)
    return seed, policy, history, status, evaluation, time.perf_counter() - started


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


def write_results(args, summaries):
    """The --results JSON: the run's options, and per seed its epochs, env steps, last-10-epoch
    mean return, the deterministic evaluation's episode returns (None with --eval 0) and the
    wall seconds of training and evaluation; written atomically."""
    seeds = []
    for seed, history, evaluation, wall in summaries:
        returns = np.asarray(history["mean_return"], dtype=float)
        seeds.append({
            "seed": seed, "epochs": len(returns), "env_steps": history["env_steps"][-1] if len(returns) else 0,
            "last_10_mean_return": nan_reduce(np.mean, returns[-10:]),
            "eval_returns": None if evaluation is None else [float(x) for x in evaluation],
            "wall_seconds": wall,
        })
    text = json.dumps({"env": args.env, "options": args.options.asdict(), "jobs": args.jobs,
                       "cluster": args.cluster, "seeds": seeds}, indent=1, allow_nan=True)
    write_atomically(args.results, lambda file: file.write(text.encode("utf-8")))
    return args.results


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


def report_evaluation(policy, args, normalizer=None):
    """Print sampled-action and deterministic evaluations, the deterministic one last.
    normalizer: the run's ObservationNormalizer, or None.

    Returns the deterministic episode returns: (args.eval,).
    """
    eval_seed = None if args.seed is None else args.seed + EVAL_SEED_OFFSET
    for deterministic in (False, True):
        returns = evaluate(policy, args.env, args.eval, deterministic=deterministic,
                           seed=eval_seed, vectorization=args.options.vectorization, normalizer=normalizer)
        kind = "deterministic" if deterministic else "sampled"
        print(f"eval ({kind}): min {returns.min():.1f}, max {returns.max():.1f}")
        print(f"eval: mean return {returns.mean():.1f} ± {returns.std():.1f} "
              f"over {len(returns)} episodes ({kind})")
    return returns
