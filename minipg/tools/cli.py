"""The command line of run_cartpole.py, run_swingup.py and `python -m minipg`: parse, run, report.

Each script is a Script (its presets, the policy it trains); `main(script, argv)` parses the
flags into one Run per seed (run.py), trains them — one after another, or as a sweep on a
process pool or a Dask cluster (sweep.py) — and turns what went wrong into one line and an exit
status.  The flags of a run's settings are made from the fields of minipg.Options (options.py):
one flag per field, its doc as help, its check as the flag's type, its group as the help's.

Why argparse and not a dataclass-to-CLI library (tyro, jsonargparse, simple-parsing, each
tried): the messages and flags users and tests rely on are argparse's own ("prog: error:
argument --lr: expected ..."), `--no-mirror`, `--T`, and `--load` needs to know which flags
were given (argparse.SUPPRESS defaults); none of the three keeps all of that.
"""

import argparse
import contextlib
import dataclasses
import errno
import json
import os
import sys
import urllib.parse
from dataclasses import dataclass, field

import numpy as np

from ..envs import env_spec
from ..envs.vector import MIRRORS, observation_mirror
from ..options import (FIELDS, FLAG, NAMES, POSITIVE_INT, SIZE_FIELDS, SIZES, OptionsError, PresetsError, flag,
                       family_tables, load_presets, optional, preset_for)
from ..policies import describe_architecture
from .checkpoint import load_checkpoint, special_file, write_atomically
from .plotting import plot_learning_curves
from .run import (EXIT_IO_ERROR, OutputPaths, Outputs, Run, RunError, algorithm_name, last_mean_return,
                  train_run)
from .sweep import ClusterError, sweep_seeds

EXIT_USAGE = 2  # argparse's status for a usage error, and ours for a run that cannot start
# The files a run writes, by flag; --plot and --gif have a format, which their suffix names.
OUTPUT_FLAGS = ("save", "csv", "plot", "gif", "results")

POLICY_CLASS_NAMES = {"categorical": "CategoricalPolicy", "gaussian": "DiagonalGaussianPolicy"}


@dataclass(frozen=True)
class Script:
    """What a script trains.  name: the stem of its default output files; prog: its name in
    messages; presets: {name: Options}, default_preset among them; policy: "categorical",
    "gaussian" or None (the action space decides); needs_env: --env is required (python -m
    minipg); extra_arguments: functions adding the script's own flags; option_flags: functions
    (args, explicit) that turn those flags into fields.  Only the parser sees the functions."""

    name: str
    prog: str
    description: str
    presets: dict
    default_preset: str
    policy: str = None
    needs_env: bool = False
    extra_arguments: tuple = field(default=())
    option_flags: tuple = field(default=())


# ---------------------------------------------------------------- argument types
def argument_type(convert, accept, expected):
    """An argparse `type=` that converts, checks and names what it expected on failure, so a bad
    value ends in argparse's usage error ("argument --lr: expected ..."), not a traceback."""
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
    return argument_type(lambda text: None if check.optional and text.lower() == "none" else check.parse(text),
                         check, check.words(command_line=True))


non_negative_int = argument_type(int, lambda v: v >= 0, "a non-negative integer")
# One size of --hidden N …; 'none' (standing alone) is no hidden layer.
hidden_size = argument_type(lambda text: None if text.lower() == "none" else int(text),
                            optional(POSITIVE_INT), POSITIVE_INT.expected)


def cluster_address(text):
    """The argparse type of --cluster: 'slurm', or a Dask scheduler's address tcp://HOST:PORT (or
    tls://, or HOST:PORT meaning tcp://), parsed here so that a typo is a usage error, not a wait
    for a scheduler that cannot answer.  Returns the text as given."""
    if text == "slurm":
        return text
    scheme, found, rest = text.partition("://")
    if not found:
        scheme, rest = "tcp", text
    expected = "'slurm' or a scheduler address tcp://HOST:PORT (or HOST:PORT)"
    if scheme not in ("tcp", "tls"):
        raise argparse.ArgumentTypeError(f"expected {expected}; {scheme}:// is not a scheduler this process can "
                                         f"reach, got {text!r}")
    try:
        address = urllib.parse.urlsplit(f"{scheme}://{rest}")
        port = address.port  # ValueError for a port that is not a number in 0-65535
    except ValueError:
        port = None
    if not address.hostname or not port or address.path or address.query or address.fragment:
        raise argparse.ArgumentTypeError(f"expected {expected}, with a port in 1-65535, got {text!r}")
    return text


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default in its help, except a None default (the help says what not giving it does)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


# ---------------------------------------------------------------- the parser
def build_parser(script):
    """The flags of one script: one per Options field (shown default: the default preset's value;
    not given, a flag leaves the field to the preset or the loaded checkpoint), and the run's own."""
    parser = argparse.ArgumentParser(prog=script.prog, description=script.description, formatter_class=HelpFormatter)
    defaults = script.presets[script.default_preset]
    families = getattr(script.presets, "families", {})
    parser.add_argument("--preset", choices=sorted(set(script.presets) - family_tables(script.presets)),  # by --env
                        default=argparse.SUPPRESS,
                        help=f"a named set of defaults (default: {script.default_preset}); explicit flags override it" +
                             (f"; a family ({', '.join(families)}) needs --env ID and takes its table for that task "
                              "if it has one" if families else ""))
    parser.add_argument("--seed", type=non_negative_int, default=argparse.SUPPRESS,
                        help="seeds the policy (init and sampling) and the envs (default: 0)")
    if script.needs_env:
        parser.add_argument("--list", action="store_true",
                            help="list the tasks that have presets and the families, each with what it changes "
                                 "from [default]")
    groups = {}
    for name, spec in FIELDS.items():
        meta, check = spec.metadata, spec.metadata["check"]
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        default = getattr(defaults, name)
        shown = "none" if default is None else (" ".join(map(str, default)) or "none") if check is SIZES else default
        needed = name == "env" and script.needs_env
        kwargs = {"dest": name, "default": argparse.SUPPRESS, "help": f"{meta['doc']} (" + (
            "required, unless --preset or --load gives it" if needed else f"default: {shown}") + ")"}
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
    add = outputs.add_argument
    add("--plot", help="learning-curve image path, its format named by its suffix (.png, .pdf, .svg, ...; none: "
        ".png is added) (default: runs/<name>-seed<seed>.png)")
    add("--reference", metavar="JSON", help="overlay learning curves of the original code on the plot: a JSON file "
        "{run name: {'avg_reward_per_epoch': [...]}}; runs named <name>_* are drawn")
    add("--save", metavar="PATH", help="write a checkpoint (a safetensors file) at the end")
    add("--save-every", type=check_type(POSITIVE_INT), metavar="K", help="with --save, also write it every K epochs")
    add("--load", metavar="PATH", help="resume from a checkpoint: its settings become the defaults, so --load alone "
        "continues the run to the epochs it was started with; --epochs N extends or shortens it to N in total "
        "(only evaluates if already there). Other flags take effect from the first resumed epoch, schedules "
        "(--lr-decay, --log-std-final) continuing from where they were; flags that define the network or the run "
        "(--env, --hidden, --dtype, --seed, ...) cannot change")
    add("--csv", metavar="PATH", help="write one row per epoch to this CSV file")
    add("--results", metavar="JSON", help="write the run's options and, per seed, its evaluation returns, env steps "
        "and wall seconds to this JSON file")
    add("--gif", metavar="PATH", help="render one deterministic episode as a GIF (a path without a suffix gets "
        ".gif)")
    add("--seeds", type=non_negative_int, nargs="+", metavar="SEED",
        help="run each seed in turn; plot mean ± std over them and print a table")
    add("--jobs", type=check_type(POSITIVE_INT), default=1, metavar="N",
        help="with --seeds, run N seeds at once in a local process pool, each run's learn step on cores // N "
             "threads (each seed's results are those of a sequential run); with --cluster slurm, the number of "
             "Dask workers; with --cluster ADDRESS, ignored (the cluster's workers decide)")
    add("--cluster", type=cluster_address, metavar="ADDRESS",
        help="with --seeds, run the seeds on a Dask cluster: the address of a running `dask scheduler` (e.g. "
             "tcp://127.0.0.1:8786), whose workers need minipg but no shared filesystem (the files are written "
             "here), or 'slurm': a dask-jobqueue SLURMCluster of --jobs workers, from dask-jobqueue's own "
             "configuration. Needs Dask: pip install \"dask[distributed]\"")
    add("--eval", type=non_negative_int, default=100, metavar="N",
        help="after training, evaluate N episodes with sampled actions and with the mode action (0: skip)")
    for add_arguments in script.extra_arguments:
        add_arguments(parser)
    return parser


def task_script(argv):
    """The Script of `python -m minipg --env ID`: any task, the policy chosen by its action space,
    its settings from presets.toml (the table named after the id, else [default])."""
    presets = load_presets()
    prober = argparse.ArgumentParser(add_help=False)
    prober.add_argument("--env")
    prober.add_argument("--preset")
    known = prober.parse_known_args(argv)[0]
    default = known.env if known.env in presets else "default"
    # an unknown --preset is argparse's "invalid choice" later; the name is the run's env (default_name)
    env_id = known.env or presets.get(known.preset, presets[default]).env
    return Script(name=env_id.replace("/", "-").replace(":", "-"), prog="python -m minipg",
                  description="Train any gymnasium task with a flat Box observation and a Discrete or Box action "
                              "space: the categorical or the Gaussian policy, as the action space says, with the "
                              "solver's options (minipg/options.py) and the task's preset (minipg/presets.toml).",
                  presets=presets, default_preset=default, needs_env=True)


def default_name(script, env_id):
    """The stem of a run's default plot: the script's name for its own task, else the env id
    (a run of another task, e.g. resumed with --load, does not overwrite the script's plot)."""
    if env_id == script.presets[script.default_preset].env:
        return script.name
    return env_id.replace("/", "-").replace(":", "-")


def list_presets(presets):
    """The lines of --list: each task's table as the fields it changes from [default]; then each
    family as what it changes from [default], and its tasks' tables as what they change from it."""
    def changes(options, base):
        return " ".join(shown(field, value).replace("(none)", "none")  # as typed
                        for field, (value, _) in options.changes(base).items() if field != "env")

    families, in_family = getattr(presets, "families", {}), family_tables(presets)
    lines = ["tasks with presets (python -m minipg --env ID), each with what it changes from [default]:"]
    lines += [f"  {name}: {changes(options, presets['default'])}" for name, options in presets.items()
              if name != "default" and name not in families and name not in in_family]
    for family, tables in families.items():
        lines.append(f"family {family} (python -m minipg --env ID --preset {family}), what it changes from "
                     f"[default]: {changes(presets[family], presets['default'])}")
        lines += [f"  {task}: {changes(presets[name], presets[family])}" for task, name in tables.items()]
    return "\n".join(lines)


def parse_args(script, argv=None):
    """Parse argv: args.options (an Options), args.seed, args.preset, args.checkpoint (the loaded
    --load) and the output flags.  Unset fields come from the preset or, with --load, from the
    checkpoint.  Every usage error exits as argparse does (status 2), before anything is written."""
    parser = build_parser(script)
    args = parser.parse_args(argv)
    if args.seeds and len(set(args.seeds)) < len(args.seeds):
        twice = sorted({seed for seed in args.seeds if args.seeds.count(seed) > 1})
        parser.error(f"argument --seeds: each seed once (a seed's run and files are a function of it), "
                     f"given more than once: {' '.join(map(str, twice))}")
    if getattr(args, "list", False):
        print(list_presets(script.presets))
        raise SystemExit(0)
    if script.needs_env and not (hasattr(args, "env") or hasattr(args, "preset") or args.load):
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
    for hook in script.option_flags:  # the script's own flags that set fields (--env-impl)
        hook(args, explicit)
    args.checkpoint = None
    if args.load:
        base = resumed_options(parser, script, args, explicit)
    else:
        args.preset = getattr(args, "preset", script.default_preset)
        if args.preset in getattr(script.presets, "families", {}):
            if "env" not in explicit:
                parser.error(f"--preset {args.preset} is a family of presets, for any task: give --env ID")
            args.preset = preset_for(script.presets, args.preset, explicit["env"])  # its table for the task, if any
        args.seed = getattr(args, "seed", 0)
        base = script.presets[args.preset]
    try:
        args.options = dataclasses.replace(base, **explicit)
    except OptionsError as error:
        parser.error(error.command_line())
    if script.policy == "categorical":  # else checked once the action space is known (run.start)
        for name in gaussian_only(explicit):
            parser.error(f"{flag(name)} needs a Gaussian policy; {script.prog} trains a "
                         f"{POLICY_CLASS_NAMES['categorical']}")
    args.env = args.options.env
    try:
        env_spec(args.env)
    except ValueError as error:
        parser.error(f"argument --env: {error}")
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
    if args.seeds and len(args.seeds) > 1 and args.load:
        parser.error("--load takes one run, not --seeds")
    if args.plot is None:
        seeds = "-".join(str(seed) for seed in args.seeds) if args.seeds else args.seed
        args.plot = f"runs/{default_name(script, args.env)}-seed{seeds}.png"
    check_outputs(parser, args)
    return args


def output_format(option, path):
    """`path` with the suffix of its format added if it has none (--plot curve: curve.png,
    --gif anim: anim.gif); raises ValueError if its suffix names a format the writer lacks.
    Only --plot (matplotlib's formats) and --gif (.gif) have one: --save, --csv and --results
    write their format whatever the name."""
    if option not in ("plot", "gif"):
        return path
    if option == "plot":
        import matplotlib.figure  # the formats this matplotlib can write, as savefig would find them
        formats, default = sorted(matplotlib.figure.Figure().canvas.get_supported_filetypes()), "png"
    else:
        formats, default = ["gif"], "gif"
    suffix = os.path.splitext(path)[1]
    if not suffix:
        return f"{path}.{default}"
    if suffix[1:].lower() not in formats:
        raise ValueError(f"{path}: the format {suffix!r} cannot be written; --{option} writes "
                         + (f"one of .{', .'.join(formats)}" if len(formats) > 1 else f".{default}"))
    return path


def check_outputs(parser, args):
    """Refuse, before training, the outputs that could not be kept: a format the writer lacks, a
    path that cannot be written, or one file named by two flags (compared as os.path.realpath
    resolves them, with the '-seedS' suffixes of --seeds), or the --load or --reference file
    under an output's name (but --save over --load: resuming in place).  A --plot or --gif
    path without a suffix gets its format's (output_format), in args."""
    for option in OUTPUT_FLAGS:
        path = getattr(args, option)
        if path is None:
            continue
        try:
            path = output_format(option, path)
        except ValueError as error:
            parser.error(f"argument --{option}: {error}")
        setattr(args, option, path)
        reason = unwritable(path)
        if reason:  # now, not after a run that then cannot keep what it trained
            parser.error(f"argument --{option}: cannot write {path}: {reason}")
    seeds = args.seeds if args.seeds else [args.seed]
    several = len(seeds) > 1
    owners = {}  # real path -> (flag, path as given) of the first flag that writes it
    named = [("load", args.load), ("reference", args.reference)]
    for option in OUTPUT_FLAGS:
        per_seed = option not in ("plot", "results") or not several  # one plot and one JSON for a sweep
        paths = [suffixed(getattr(args, option), seed, several) for seed in seeds] if per_seed else \
            [getattr(args, option)]
        named += [(option, path) for path in paths]
    for option, path in named:
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in owners and {owners[real][0], option} != {"load", "save"}:
            other, first = owners[real]
            alias = "" if path == first else f" ({first})"
            parser.error(f"argument --{option}: {path} is also the file of --{other}{alias}; each output needs "
                         "a file of its own")
        owners.setdefault(real, (option, path))


def gaussian_only(explicit):
    """The fields among the explicit flags that only a Gaussian policy has, given another value
    than their default ('--log-std-final none' asks for nothing a categorical policy lacks)."""
    return [name for name, value in explicit.items()
            if FIELDS[name].metadata["gaussian"] and value != FIELDS[name].default]


def resumed_options(parser, script, args, explicit):
    """The loaded run's Options.  Reads --load into args.checkpoint; its preset and seed become
    args'.  A flag that changes a field the run cannot change (a `fixed` field: the network, the
    env, the baseline's kind) or the seed is a usage error naming it."""
    try:
        args.checkpoint = load_checkpoint(args.load)
        base = args.checkpoint.options
        trained = args.checkpoint.architecture
    except (OSError, ValueError, KeyError, TypeError) as error:  # CheckpointError is a ValueError
        parser.error(f"--load: {error}")
    wanted = POLICY_CLASS_NAMES.get(script.policy)
    if wanted is not None and trained.get("policy") != wanted:
        parser.error(f"--load: {args.load} is a checkpoint of {describe_architecture(trained)}; "
                     f"{script.prog} trains a {wanted}")
    saved = args.checkpoint.config
    if hasattr(args, "preset") and args.preset != saved.get("preset"):
        parser.error(f"--preset with --load: {args.load} holds the settings of its run (preset "
                     f"{saved.get('preset')}); give single flags to change them")
    args.preset = saved.get("preset")
    seed = saved.get("seed", 0)
    origin = saved.get("learner_of")  # the learner a run of several kept: saved as the run of its own seed
    trained = (f"holds learner {origin.get('learner')} of a run of --seed {origin.get('seed')} --learners "
               f"{origin.get('learners')}, saved as the one-learner run of its own --seed {seed}"
               if isinstance(origin, dict) else f"was trained with --seed {seed}")
    if getattr(args, "seed", seed) != seed:
        parser.error(f"--load: {args.load} {trained}; the seed of a resumed run cannot change (got --seed "
                     f"{args.seed}; leave --seed out)")
    args.seed = seed
    for name, value in explicit.items():
        if value == getattr(base, name):
            continue
        if name == "env":
            parser.error(f"--load: {args.load} was trained on {base.env}, not on --env {value}")
        if name == "learners":
            parser.error(f"--load: a checkpoint holds one learner ({args.load} {trained}); a resumed run goes on "
                         f"with that one (got {shown(name, value)}; leave --learners out)")
        if FIELDS[name].metadata["fixed"]:
            parser.error(f"--load: {args.load} was trained with {shown(name, getattr(base, name))}; "
                         f"{flag(name)} cannot change in a resumed run (got {shown(name, value)})")
    return base


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

    Checked without creating anything: an existing `path` must be a regular file we may write
    (the writers replace it by a new file, which would put a regular file in the place of a
    device, a FIFO or a socket); otherwise its nearest existing ancestor must be a directory we
    may add entries to (the writers create the missing directories, such as runs/).
    """
    if not os.path.basename(path) or os.path.isdir(path):
        return os.strerror(errno.EISDIR)
    if os.path.exists(path):
        kind = special_file(path)
        if kind:
            return f"not a regular file ({kind}); give the path of a file to create or replace"
        return None if os.access(path, os.W_OK) else os.strerror(errno.EACCES)
    ancestor = os.path.dirname(path) or os.curdir
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor) or os.curdir
    if not os.path.isdir(ancestor):
        return f"{ancestor}: {os.strerror(errno.ENOTDIR)}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor}: {os.strerror(errno.EACCES)}"
    return None


# ---------------------------------------------------------------- running and reporting
def suffixed(path, seed, several):
    """PATH, or PATH with '-seedS' before its extension when several seeds share one flag."""
    if path is None or not several:
        return path
    root, extension = os.path.splitext(path)
    return f"{root}-seed{seed}{extension}"


def seed_runs(script, args):
    """One Run per seed of the parsed args (the outputs' paths suffixed by seed when several)."""
    seeds = args.seeds if args.seeds else [args.seed]
    several = len(seeds) > 1
    reference = reference_curves(args.reference, script.name) if args.reference else None
    return [Run(options=args.options, seed=seed, preset=args.preset, evaluation=args.eval, resume=args.checkpoint,
                policy=script.policy, reference=reference, prog=script.prog,
                outputs=OutputPaths(save=suffixed(args.save, seed, several), save_every=args.save_every,
                                    csv=suffixed(args.csv, seed, several), plot=None if several else args.plot,
                                    gif=suffixed(args.gif, seed, several)))
            for seed in seeds]


def main(script, argv=None):
    """Train one run (or one per --seeds) from the command line.

    The seeds run one after another in this process, or, with --jobs N (N > 1) or --cluster, as
    a sweep (sweep.py), each seed's results those of the sequential run.  Returns (policy,
    history) of the last seed run.  Exits with status 2 for a usage error or a run that cannot
    start, 1 if training stopped on a non-finite value (or, in a sweep, a run failed or its
    worker died), 74 if an output could not be written, 130 on Ctrl-C, 143 on SIGTERM.
    """
    args = parse_args(script, argv)
    runs = seed_runs(script, args)
    outputs = Outputs(script.prog)
    if args.cluster is not None or (args.jobs > 1 and len(runs) > 1):
        try:
            results, status = sweep_seeds(runs, args.jobs, args.cluster, outputs, script.prog)
        except ClusterError as error:
            run_error(script, f"argument --cluster: {error}")
    else:
        results, status = [], 0
        for run in runs:
            try:
                results.append(train_run(run))
            except RunError as error:
                run_error(script, str(error))
            status = results[-1].status
            if status:  # a failed or interrupted seed stops the ones after it
                break
    if len(runs) > 1 and results:
        histories = {f"seed {result.seed}": result.history for result in results}
        path = outputs.write(args.plot, lambda: plot_learning_curves(
            histories, args.plot, reference=runs[0].reference,
            title=f"{algorithm_name(args.options)} on {args.env}: {len(histories)} seeds"))
        if path:
            print(f"learning curves (mean ± std over seeds): {path}")
        print_seed_table(results)
    if args.results and outputs.write(args.results, lambda: write_results(args, results)):
        print(f"results: {args.results}")
    if outputs.failed:
        print(outputs.report(), file=sys.stderr, flush=True)
        status = status or EXIT_IO_ERROR
    if status:
        raise SystemExit(status)
    return (results[-1].policy, results[-1].history) if results else (None, None)


def run_error(script, message):
    """Exit with status 2 and one line for what the flags asked but the run found it cannot do
    (an env that cannot be made, spaces that do not fit, a cluster that does not answer): the
    flags parsed, so argparse's usage block would not help."""
    print(f"{script.prog}: error: {message} (see {script.prog} --help)", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


@contextlib.contextmanager
def presets_errors(prog):
    """Around what reads presets.toml at a command line's edge (python -m minipg, run_swingup.py):
    a PresetsError ends the process with its one line and status 2, not a traceback."""
    try:
        yield
    except PresetsError as error:
        print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None


def reference_curves(path, name):
    """{label: avg_reward per epoch} of the runs in the JSON file `path` named after the script
    (`name`_*), or None with a warning if it cannot be read."""
    try:
        with open(path) as handle:
            runs = json.load(handle)
        return {f"original {key[len(name) + 1:]}": run["avg_reward_per_epoch"]
                for key, run in runs.items() if key.startswith(f"{name}_")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"warning: --reference {path} not drawn: {error}", file=sys.stderr)
        return None


def print_seed_table(results):
    """Per seed: last-10-epoch mean return, deterministic evaluation (mean, min) and wall time."""
    print("per seed: the training episodes' mean return over the last 10 epochs, the deterministic evaluation")
    print(f"{'seed':>6} {'epochs':>7} {'last-10 mean return':>20} {'eval mean':>10} {'eval min':>9} {'wall s':>8}")
    for result in results:
        returns = np.asarray(result.history["mean_return"], dtype=float)
        evaluation = result.evaluation
        eval_mean, eval_min = (evaluation.mean(), evaluation.min()) if evaluation is not None else (np.nan, np.nan)
        print(f"{result.seed:>6} {len(returns):>7} {last_mean_return(result.history):>20.2f} "
              f"{eval_mean:>10.1f} {eval_min:>9.1f} {result.wall:>8.1f}")


def write_results(args, results):
    """The --results JSON: the run's options, and per seed its epochs, env steps, last-10-epoch
    mean return, the deterministic evaluation's episode returns (None with --eval 0) and the
    wall seconds of training and evaluation; written atomically."""
    seeds = []
    for result in results:
        returns = np.asarray(result.history["mean_return"], dtype=float)
        seeds.append({"seed": result.seed, "learner_seed": result.learner_seed, "epochs": len(returns),
                      "env_steps": result.history["env_steps"][-1] if len(returns) else 0,
                      "last_10_mean_return": last_mean_return(result.history),
                      "eval_returns": None if result.evaluation is None else [float(x) for x in result.evaluation],
                      "wall_seconds": result.wall})
    text = json.dumps({"env": args.env, "options": args.options.asdict(), "jobs": args.jobs, "cluster": args.cluster,
                       "seeds": seeds}, indent=1, allow_nan=True)
    write_atomically(args.results, lambda file: file.write(text.encode("utf-8")))
    return args.results
