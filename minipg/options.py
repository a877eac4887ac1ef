"""The solver's options: every setting of a run in one dataclass, each field with its doc,
default and check.

`Options()` is the post's CartPole experiment (CartPole-v0, 32 envs × T 1000, a linear softmax
policy, lr 0.1, γ 0.99, 100 epochs) with every addition off, and the post's algorithm whatever
the task: `solver.train(env, policy, Options(...))` then gives exactly `reinforce`'s history.
Everything the solver adds is a field here, off by default, and the code in solver.py (or the
math module) that uses it.  The command line (tools/cli.py) makes one flag per field from the
same metadata, and a checkpoint stores `asdict(options)`; presets (presets.toml) are tables of
fields.

Fields are checked once, when an Options is made (`__post_init__`): each against its own
`Check`, then the rules between fields (RULES).  Both raise OptionsError, a ValueError whose
message names the fields ("gae_lambda needs baseline='value' ..."); the command line renders
the same message with flags ("--gae-lambda needs --baseline value ...").

Presets are data: presets.toml holds a [default] table for any task and one table per
gymnasium id with the fields in which its settings differ (`load_presets`, which checks the
whole file when it reads it and raises PresetsError naming the file, the table and the field).
"""

import dataclasses
import difflib
import json
import math
import numbers
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


# ---------------------------------------------------------------- what a field accepts
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Check:
    """What a field accepts: `accept(value)`, said in words (`expected`), and how its flag reads
    text (`parse`).  optional: None is accepted too ('none' on the command line)."""

    expected: str
    accept: Callable[[Any], bool]
    parse: Callable[[str], Any] = str
    optional: bool = False
    choices: tuple = None

    def __call__(self, value):
        return (self.optional and value is None) or self.accept(value)

    def words(self, command_line=False):
        """'a positive integer', or 'a positive integer or None' ('or 'none'' on the command line)."""
        if not self.optional:
            return self.expected
        return f"{self.expected} or {repr('none') if command_line else 'None'}"


POSITIVE_INT = Check("a positive integer", lambda v: _is_int(v) and v >= 1, int)
POSITIVE = Check("a positive finite number", lambda v: _is_real(v) and v > 0, float)
UNIT_INTERVAL = Check("a number in [0, 1]", lambda v: _is_real(v) and 0 <= v <= 1, float)
FINITE = Check("a finite number", _is_real, float)
NON_NEGATIVE = Check("a non-negative finite number", lambda v: _is_real(v) and v >= 0, float)
FLAG = Check("True or False", lambda v: isinstance(v, bool))
SIZES = Check("a sequence of positive integers", lambda v: isinstance(v, tuple) and all(POSITIVE_INT(s) for s in v))
BITS = Check("an integer from 1 to 62", lambda v: _is_int(v) and 1 <= v <= 62, int)
ENV_ID = Check("a gymnasium environment id", lambda v: isinstance(v, str) and bool(v))


def optional(check):
    """The same check, with None accepted as well."""
    return dataclasses.replace(check, optional=True)


def choice(*values):
    """One of `values`."""
    return Check(f"one of {', '.join(values)}", lambda v: v in values, choices=values)


# Groups of the command line's help, in order.
EXPERIMENT, POLICY, SOLVER, SPEED = "experiment", "policy", "solver (each off in the post)", "speed and memory"


def option(default, doc, check, group, gaussian=False, fixed=False, metavar=None):
    """A field of Options.  doc: its meaning (the flag's help); gaussian: only a Gaussian policy
    has it; fixed: it defines the network or the run's randomness, so a resumed run cannot change it."""
    return field(default=default, metadata={"doc": doc, "check": check, "group": group,
                                            "gaussian": gaussian, "fixed": fixed, "metavar": metavar})


# ---------------------------------------------------------------- the options
@dataclass(frozen=True)
class Options:
    """Every setting of a training run (see the module docstring); each field's doc in its metadata."""

    # --- the experiment (the post's arguments)
    env: str = option("CartPole-v0", "gymnasium environment id", ENV_ID, EXPERIMENT, fixed=True)
    num_envs: int = option(32, "E, environments stepped at once", POSITIVE_INT, EXPERIMENT)
    T: int = option(1000, "rollout length in steps per epoch", POSITIVE_INT, EXPERIMENT)
    epochs: int = option(100, "policy updates (one per rollout); with --load, the total to reach",
                         POSITIVE_INT, EXPERIMENT)
    gamma: float = option(0.99, "discount factor γ", UNIT_INTERVAL, EXPERIMENT)
    lr: float = option(0.1, "Adam learning rate", POSITIVE, EXPERIMENT)
    vectorization: str = option("auto", "how the E envs are stepped: auto (the env's batched "
                                "implementation when it has one, else sync), vector, sync, async, envpool "
                                "(EnvPool, an optional extra; see minipg/envs/vector.py)",
                                choice("auto", "vector", "sync", "async", "envpool"), EXPERIMENT)
    learners: int = option(1, "train this many learners at once, each on its own thread (n times the "
                           "compute and memory), from the seed and seeds derived from it, and keep the one whose "
                           "training episodes scored most over its last 10 epochs (never the evaluation); the "
                           "outputs are that learner's, a one-learner run of its own seed.  A rule of a run "
                           "(minipg/tools/run.py's train_run): solver.train trains one",
                           POSITIVE_INT, EXPERIMENT, fixed=True, metavar="N")
    select_after: int = option(None, "with learners n > 1, choose the one to keep after this many epochs, by the "
                               "same rule, and train it alone from there (none: all n train to the end)",
                               optional(POSITIVE_INT), EXPERIMENT, fixed=True, metavar="EPOCHS")

    # --- the policy network
    hidden: tuple = option((), "hidden layer sizes of the policy network (none: linear)", SIZES, POLICY,
                           fixed=True)
    dtype: str = option("float64", "float type of the policy, buffers and learning (float32: faster)",
                        choice("float64", "float32"), POLICY, fixed=True)
    log_std_init: float = option(0.5, "initial log σ of the Gaussian policy (the post's σ² = e¹ is "
                                 "log σ = 0.5)", FINITE, POLICY, gaussian=True, fixed=True)
    output_scale: float = option(1.0, "scale of the policy network's initial output layer (0.01: the mean "
                                 "starts near 0, the softmax near uniform)", POSITIVE, POLICY, fixed=True)
    mirror: bool = option(False, "make the Gaussian policy's mean odd under the env's left-right "
                          "reflection (see DiagonalGaussianPolicy)", FLAG, POLICY, gaussian=True, fixed=True)

    # --- what the solver adds, each off in the post
    normalize_observations: bool = option(False, "normalize observations by their running mean and standard "
                                          "deviation, clipped to ±10 (see minipg/normalization.py)", FLAG,
                                          SOLVER, fixed=True)
    normalize_rewards: bool = option(False, "scale rewards by the running standard deviation of the "
                                     "discounted return (see minipg/normalization.py)", FLAG, SOLVER, fixed=True)
    baseline: str = option("none", "subtract a baseline from the returns: the mean return per step "
                           "(time) or a learned V(s) (value); see minipg/baselines.py",
                           choice("none", "time", "value"), SOLVER, fixed=True)
    value_steps: int = option(32, "with baseline value: Adam steps of the value fit per epoch",
                              POSITIVE_INT, SOLVER, metavar="STEPS")
    value_hidden: tuple = option((64, 64), "with baseline value: hidden layer sizes of the value network",
                                 SIZES, SOLVER, fixed=True)
    normalize_advantages: bool = option(False, "standardize the advantages over each epoch's batch",
                                        FLAG, SOLVER)
    gae_lambda: float = option(None, "advantages by GAE(λ) from the value baseline, fitted to the "
                               "λ-returns (see minipg/returns.py); none: G − V", optional(UNIT_INTERVAL),
                               SOLVER, metavar="LAMBDA")
    bootstrap: bool = option(False, "an episode cut by its time limit or by the rollout's end is worth V "
                             "of its last state, not 0", FLAG, SOLVER, fixed=True)
    terminal_value: float = option(0.0, "what a terminated episode is worth after its last step (0 in "
                                   "the MDP; r_min/(1 − γ) makes ending an episode early as bad as "
                                   "the worst continuation, see minipg/solver.py)", FINITE, SOLVER,
                                   metavar="V")
    clip_ratio: float = option(None, "PPO: instead of one REINFORCE step per rollout, update_epochs "
                               "passes of minibatch steps on the clipped surrogate (see minipg/ppo.py); "
                               "none: REINFORCE", optional(POSITIVE), SOLVER, metavar="EPSILON")
    update_epochs: int = option(1, "with clip_ratio, passes over each rollout", POSITIVE_INT, SOLVER)
    minibatch_size: int = option(None, "with clip_ratio, samples per step (none: the whole rollout)",
                                 optional(POSITIVE_INT), SOLVER, metavar="SAMPLES")
    entropy_coef: float = option(0.0, "an entropy bonus: the update's loss minus this times the mean entropy "
                                 "of π over the rollout's states, against an early collapse of exploration",
                                 NON_NEGATIVE, SOLVER, metavar="C")
    count_bonus: float = option(0.0, "an exploration bonus: β/√n(s) added to every reward, n(s) the visits so "
                                "far to the state's cell (a SimHash of count_bits bits; Tang et al. 2017, see "
                                "minipg/exploration.py); 0: off", NON_NEGATIVE, SOLVER, fixed=True, metavar="BETA")
    count_bits: int = option(32, "with count_bonus, k (1 to 62): the cells are cut by k random hyperplanes "
                             "(finer with more)", BITS, SOLVER, fixed=True, metavar="K")
    max_grad_norm: float = option(None, "rescale gradients whose global L2 norm exceeds this",
                                  optional(POSITIVE), SOLVER)
    lr_decay: bool = option(False, "decay the learning rate linearly to 0 over the epochs", FLAG, SOLVER)
    log_std_final: float = option(None, "cap log σ of the Gaussian policy by a bound moving linearly "
                                  "from its initial value to this over the epochs (none: no cap)",
                                  optional(FINITE), SOLVER, gaussian=True)

    # --- speed and memory (results do not depend on them but for rounding)
    chunk_size: int = option(None, "samples per chunk of the learn step (bounds its memory; the "
                             "gradient is the same sum); none: minipg.policies.DEFAULT_CHUNK_SIZE",
                             optional(POSITIVE_INT), SPEED, metavar="ROWS")

    def __post_init__(self):
        for name in SIZE_FIELDS:
            sizes = getattr(self, name)
            if isinstance(sizes, list):  # from JSON or TOML
                object.__setattr__(self, name, tuple(sizes))
            if SIZES(getattr(self, name)):
                object.__setattr__(self, name, tuple(int(size) for size in getattr(self, name)))
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            check = spec.metadata["check"]
            if not check(value):
                raise OptionsError(f"{{{spec.name}}} must be {check.words()}, got {{{spec.name}}}={value!r}",
                                   f"{{{spec.name}}} must be {check.words(command_line=True)}, "
                                   f"got {{{spec.name}}} {value!r}")
            if check.parse is float and value is not None:  # a float field holds a Python float
                object.__setattr__(self, spec.name, float(value))
            elif check.parse is int and value is not None:
                object.__setattr__(self, spec.name, int(value))
        for broken, message in RULES:
            if broken(self):
                raise OptionsError(message)

    @classmethod
    def from_dict(cls, values):
        """Options from a mapping (a checkpoint's JSON, a TOML table); unknown names are an OptionsError."""
        unknown = sorted(set(values) - set(NAMES))
        if unknown:
            raise OptionsError(f"unknown option {unknown[0]!r} (options: {', '.join(NAMES)})")
        return cls(**values)

    def replace(self, **changes):
        """A copy with some fields changed, checked like a new Options."""
        return dataclasses.replace(self, **changes)

    def asdict(self):
        """{field: value}, JSON-ready (the sizes as lists)."""
        values = dataclasses.asdict(self)
        for name in SIZE_FIELDS:
            values[name] = list(values[name])
        return values

    def changes(self, other):
        """{field: (value here, value in other)} of the fields that differ."""
        return {name: (getattr(self, name), getattr(other, name))
                for name in NAMES if getattr(self, name) != getattr(other, name)}

    def is_posts_algorithm(self):
        """True when no addition of the solver is on: the run is `reinforce` itself."""
        return all(getattr(self, spec.name) == spec.default for spec in dataclasses.fields(self)
                   if spec.metadata["group"] == SOLVER)

    def check_policy(self, gaussian):
        """OptionsError if a Gaussian-only addition is on (mirror, log_std_final) for a policy that
        is not Gaussian (`gaussian` False).  The Gaussian's initial settings (log_std_init,
        output_scale) do not apply to another policy and are left alone: a preset for any task
        sets them."""
        if gaussian:
            return
        for spec in dataclasses.fields(self):
            if spec.metadata["gaussian"] and spec.default in (None, False) and getattr(self, spec.name) != spec.default:
                raise OptionsError(f"{{{spec.name}}} needs a Gaussian policy")


NAMES = tuple(spec.name for spec in dataclasses.fields(Options))
FIELDS = {spec.name: spec for spec in dataclasses.fields(Options)}
# The fields of layer sizes (tuples in an Options, lists in JSON and TOML).
SIZE_FIELDS = tuple(name for name, spec in FIELDS.items() if spec.metadata["check"] is SIZES)
# help(minipg.Options) lists the fields with their defaults and docs, which live in the metadata.
Options.__doc__ += ("\n\nRaises OptionsError for a value its field's check refuses or a broken rule between "
                    "fields.\n\nFields:\n" + "\n".join(f"    {spec.name} = {spec.default!r}: {spec.metadata['doc']}"
                                                       for spec in FIELDS.values()))

# Rules between fields: (broken(options), message).  {name} names a field, {name=value} a field
# with a value; OptionsError renders them for Python or for the command line.
RULES = (
    (lambda o: o.gae_lambda is not None and o.baseline != "value",
     "{gae_lambda} needs {baseline=value} (GAE uses the learned value V)"),
    (lambda o: o.bootstrap and o.gae_lambda is None,
     "{bootstrap} needs {gae_lambda} (1 for Monte-Carlo returns with bootstrapped cuts)"),
    (lambda o: o.terminal_value != 0.0 and o.gae_lambda is None,
     "{terminal_value} needs {gae_lambda} (it is V after a termination, in GAE)"),
    (lambda o: o.clip_ratio is None and (o.update_epochs != 1 or o.minibatch_size is not None),
     "{update_epochs} and {minibatch_size} need {clip_ratio} (several steps on one rollout need the "
     "clipped surrogate; REINFORCE's one step is {update_epochs} 1 with {minibatch_size} none)"),
    (lambda o: o.count_bits != FIELDS["count_bits"].default and o.count_bonus == 0,
     "{count_bits} needs {count_bonus} (the cells of the exploration bonus)"),
    (lambda o: o.select_after is not None and (o.learners < 2 or o.select_after >= o.epochs),
     "{select_after} needs {learners} of 2 or more and fewer epochs than {epochs} (it chooses among the "
     "learners before the end)"),
)


def flag(name):
    """The command-line flag of a field: --num-envs for num_envs."""
    return "--" + name.replace("_", "-")


_PLACEHOLDER = re.compile(r"\{(\w+)(?:=(\w+))?\}")


def render(message, command_line=False):
    """A message with {name} / {name=value} placeholders, for Python (gae_lambda, baseline='value')
    or for the command line (--gae-lambda, --baseline value)."""
    def name(match):
        field_name, value = match.groups()
        if command_line:
            return flag(field_name) + ("" if value is None else f" {value}")
        return field_name + ("" if value is None else f"={value!r}")
    return _PLACEHOLDER.sub(name, message)


class OptionsError(ValueError):
    """A field's value, or a combination of fields, that a run cannot use.  str(error) names the
    fields as Python does; `command_line()` names them as flags."""

    def __init__(self, message, command_line_message=None):
        self.command_line_message = message if command_line_message is None else command_line_message
        super().__init__(render(message))

    def command_line(self):
        return render(self.command_line_message, command_line=True)


# ---------------------------------------------------------------- presets
PRESETS_PATH = Path(__file__).with_name("presets.toml")


class PresetsError(OptionsError):
    """A presets file that cannot be used.  str(error) is one line naming the file, and the table
    and the field at fault when there is one:

        presets.toml, table [CartPole-v1], field num_envs: must be a positive integer, got "8"

    The fields are named as the file writes them, for Python and the command line alike."""

    def __init__(self, message):
        ValueError.__init__(self, message)  # no {name} placeholders: a value may hold braces

    def command_line(self):
        return str(self)


def load_presets(path=None):
    """{name: Options} from a TOML file of tables of fields (default: the package's presets.toml):
    [default] (any task), and tables named after gymnasium ids, each [default] with its own fields
    changed and `env` its name.

    A table that says `family = true` is a *family* of presets: another set of defaults for any
    task ([reinforce]: the post's algorithm), and each table in it ([reinforce.HalfCheetah-v5])
    that family's settings for one task (a family may have none).  Preset "reinforce" is
    [default] with the family's fields changed (its env [default]'s), "reinforce.HalfCheetah-v5"
    that with the task's fields changed and `env` its id; the result's `families` says which is
    which, and `preset_for(presets, "reinforce", env)` picks the task's table when there is one.
    The dict keeps the file's order, a family's tables right after it.

    In the file, a field that may be None is written "none" (TOML has no null); elsewhere "none" is
    the string (baseline = "none").  A task's table may leave `env` out or write its own name;
    [default] may set it: the task of the preset "default" itself (`python -m minipg --preset
    default` without --env; CartPole-v0 if not set), never inherited by a task's table.

    The whole file is checked when read.  Raises PresetsError (an OptionsError), one line naming
    the file, the table and the field, for: a file that cannot be read or is not TOML (with
    tomllib's line and column), no [default] table (an empty file has none), a field outside
    any table, an unknown field, a value its field refuses (written as TOML: "8", true, [64, 64]),
    a task's table whose `env` is another id, a table inside one that is not a family, a family
    that sets `env` (or `family` not true), a family's task table that holds tables or is also a
    top-level table, or fields that break a rule together (RULES) in a table once [default]
    (and its family) is under it.
    """
    path = PRESETS_PATH if path is None else path
    try:
        with open(path, "rb") as file:
            tables = tomllib.load(file)
    except OSError as error:
        raise PresetsError(f"{path}: cannot be read ({error.strerror or error})") from error
    except tomllib.TOMLDecodeError as error:  # its message ends with "(at line L, column C)"
        raise PresetsError(f"{path}: not valid TOML: {error}") from error
    except UnicodeDecodeError as error:
        raise PresetsError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at "
                           f"offset {error.start})") from error
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise PresetsError(f"{path}, field {name}: set outside any table; a field belongs in [default] "
                               "or in a task's table")
    if "default" not in tables:
        found = ", ".join(f"[{name}]" for name in tables) or "none"
        raise PresetsError(f"{path}: no [default] table (the settings for any task, which each task's "
                           f"table changes); its tables: {found}")
    # {preset name: the fields it is made of, in order: [default]'s, its family's, its own}
    layers, families = {}, {}
    for name, table in tables.items():
        own = {key: value for key, value in table.items() if not isinstance(value, dict)}
        tasks = {key: value for key, value in table.items() if isinstance(value, dict)}
        marked = own.pop("family", None)
        if marked is not None and marked is not True:  # `is`: TOML's 1 is not true
            raise PresetsError(f"{path}, table [{name}], field family: must be true (it marks a family of "
                               f"presets), got {toml_value(marked)}")
        if marked and name == "default":
            raise PresetsError(f"{path}, table [default], field family: [default] is the settings for any "
                               f"task, not a family")
        if tasks and not marked:
            raise PresetsError(f"{path}, table [{name}.{next(iter(tasks))}]: a table inside [{name}], which is "
                               f"not a family (a family says family = true); a task id with a dot is "
                               f"written quoted: [\"{name}.{next(iter(tasks))}\"]")
        if not marked:
            layers[name] = [_table_fields(path, name, own)] if name == "default" else \
                [{"env": name}, _table_fields(path, name, own)]
            continue
        if "env" in own:
            raise PresetsError(f"{path}, table [{name}], field env: a family of presets is for any task; its "
                               f"tasks' tables are named after them")
        family = _table_fields(path, name, own)
        layers[name], families[name] = [family], {}
        for task, table in tasks.items():
            where = f"{name}.{task}"
            nested = [key for key, value in table.items() if isinstance(value, dict)]
            if nested:
                raise PresetsError(f"{path}, table [{where}.{nested[0]}]: a task's table holds fields, not tables")
            if where in tables:
                raise PresetsError(f"{path}, table [{where}]: defined twice, as a task's table and as "
                                   f"family {name}'s table for {task}")
            layers[where] = [family, {"env": task}, _table_fields(path, where, table, env=task)]
            families[name][task] = where
    presets = {}
    for name in ["default", *(name for name in layers if name != "default")]:  # [default]'s rules first
        merged = {}
        for layer in ([] if name == "default" else [layers["default"][0]]) + layers[name]:
            merged.update(layer)
        try:
            presets[name] = Options(**merged)
        except OptionsError as error:  # only a rule between fields: each value passed its check
            raise PresetsError(f"{path}, table [{name}]: {error}") from None
    return Presets(((name, presets[name]) for name in layers), families)


class Presets(dict):
    """load_presets' {name: Options}, with `families`: {family: {task id: its table's preset name}}
    (a family with no task's table maps to {})."""

    def __init__(self, items, families):
        super().__init__(items)
        self.families = families


def family_tables(presets):
    """The names of the presets that are a family's table for one task (none in a plain dict)."""
    return {name for tables in getattr(presets, "families", {}).values() for name in tables.values()}


def preset_for(presets, name, env=None):
    """The name of the preset a run of `name` on task `env` uses: "reinforce.HalfCheetah-v5" for
    the family "reinforce" when it has a table for that task, else `name` itself."""
    return getattr(presets, "families", {}).get(name, {}).get(env, name)


def _table_fields(path, name, table, env=None):
    """The fields of one table, each checked alone: {field: value} with "none" read as None in an
    optional field and lists of sizes as tuples; env: the task's id the table is for (default: its
    name).  Raises PresetsError naming the table and field."""
    env = name if env is None else env
    fields = {}
    for key, value in table.items():
        where = f"{path}, table [{name}]"
        if key not in FIELDS:
            close = difflib.get_close_matches(key, NAMES, n=1)
            hint = f"did you mean {close[0]}?" if close else f"options: {', '.join(NAMES)}"
            raise PresetsError(f"{where}: unknown option {key!r} ({hint})")
        check = FIELDS[key].metadata["check"]
        if check.optional and value == "none":
            value = None
        elif key in SIZE_FIELDS and isinstance(value, list):
            value = tuple(value)
        if not check(value):
            words = f'{check.expected} or "none"' if check.optional else check.expected
            raise PresetsError(f"{where}, field {key}: must be {words}, got {toml_value(table[key])}")
        if key == "env" and name != "default" and value != env:
            raise PresetsError(f"{where}, field env: must be the table's own id {toml_value(env)} (or left out), "
                               f"got {toml_value(value)}; a task's settings go in the table named after it")
        fields[key] = value
    return fields


def toml_value(value):
    """A value as presets.toml writes it: 8, true, [64, 64], "envpool", "none" for None (off)."""
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    return repr(value)
