"""Saving and restoring a training run: one .npz file per checkpoint.

A checkpoint holds everything needed to continue a run exactly where it stopped:

- the policy's parameters, in the order of `policy.parameters()` (W1, b1, ..., [log_std]);
- Adam's state: the moments m and v of every parameter and the step count t (it sets the bias
  correction 1 − βᵗ); the learning rate is the run's configuration, not state (the solver sets
  it every epoch from its schedule, see solver.Schedules);
- the state of the policy's random generator, so the resumed run samples the same actions;
- what the solver carries besides the policy (solver.SolverState): a learned value baseline
  (network and Adam state), where the schedules start, and the normalization's running
  statistics;
- the run's `config` (every Options field, the seed and the preset), its per-epoch `history`
  and the number of epochs completed;
- the architecture (policy class, obs_dim, act_dim, hidden sizes, dtype, mirror), checked
  before anything is restored.

Why .npz: it is a zip of .npy arrays that NumPy reads without pickle (`allow_pickle=False`),
so loading a checkpoint never executes code from the file.  The non-array parts are stored as
UTF-8 JSON text in uint8 arrays, and the zip is compressed (np.savez_compressed): a long
history is mostly repetitive text.  Python's json module writes NaN and ±Infinity as the bare
tokens NaN / Infinity (an extension of JSON that it also reads back), so an epoch in which no
episode ended (NaN mean return) survives the round trip.

Why atomic: a run is usually checkpointed every few epochs over the same path.  The file is
written to a temporary name in the same directory, flushed and fsync'ed, then renamed over the
old checkpoint with os.replace (atomic on POSIX and Windows).  A crash at any moment leaves
either the previous complete checkpoint or the new complete one, never a half-written file.
"""

import dataclasses
import errno
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..baselines import ValueBaseline
from ..policies import CategoricalPolicy, DiagonalGaussianPolicy
from ..solver import Schedules

FORMAT_TAG = "minipg-checkpoint"
FORMAT_VERSION = 3

# The policy classes a checkpoint can name, for `policy_from_checkpoint`.
POLICY_CLASSES = {cls.__name__: cls for cls in (CategoricalPolicy, DiagonalGaussianPolicy)}

# A .npz is a zip archive: it starts with a local file header, or with the end-of-archive
# record when it holds no arrays at all (the same two prefixes np.load looks for).
ZIP_PREFIXES = (b"PK\x03\x04", b"PK\x05\x06")

# Keys of the archive.  Per-parameter arrays are numbered in `policy.parameters()` order.
_PARAM_KEY = "param_{}"
_ADAM_M_KEY = "adam_m_{}"
_ADAM_V_KEY = "adam_v_{}"
_BASELINE_PREFIX = "baseline_"
_JSON_KEYS = ("architecture", "optimizer", "rng_state", "config", "history", "solver")


class CheckpointError(ValueError):
    """A file is not a usable minipg checkpoint, or does not fit the policy it is loaded into."""


@dataclass
class AdamState:
    """Adam's state: per-parameter moments m, v (shapes of the parameters), step t, and, for
    information, the rate of the last step (lr) and the policy's configured rate (initial_lr)."""

    m: list
    v: list
    t: int
    lr: float
    betas: tuple
    eps: float
    initial_lr: float


@dataclass
class Checkpoint:
    """The contents of one checkpoint file.

    parameters: arrays in `policy.parameters()` order; architecture: see
    `policy_architecture`; rng_state: the dict of `Generator.bit_generator.state`;
    epoch: epochs completed; config and history as saved, after a JSON round trip (tuples
    come back as lists); solver: the JSON parts of a solver.SolverState ({"schedules",
    "observation_normalizer", "reward_scaler"}), or None for a run of `reinforce`.
    """

    path: str
    version: int
    architecture: dict
    parameters: list
    adam: AdamState
    rng_state: dict
    config: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    epoch: int = 0
    baseline: dict = None  # a learned baseline's {"parameters", "m", "v", "t"}, when one was saved
    solver: dict = None  # a SolverState's schedules and normalization statistics, when one was saved


# ------------------------------------------------------------------------------ saving


def policy_architecture(policy):
    """What must match for a checkpoint to fit a policy.

    {"policy": class name, "obs_dim", "act_dim", "hidden": list of sizes, "log_std": whether
    the policy has a log_std parameter, "dtype": "float64" or "float32", "mirror": the mirror
    signs of a symmetric Gaussian policy or None}.  The dtype counts because a run continued in
    another precision would not continue the saved one; the mirror, because it changes what the
    parameters mean.
    """
    mirror = getattr(policy, "mirror", None)
    return {
        "policy": type(policy).__name__,
        "obs_dim": int(policy.obs_dim),
        "act_dim": int(policy.act_dim),
        "hidden": [int(size) for size in policy.hidden],
        "log_std": hasattr(policy, "log_std"),
        "dtype": policy.parameters()[0].dtype.name,
        "mirror": None if mirror is None else [int(sign) for sign in mirror],
    }


def describe_architecture(architecture):
    """'CategoricalPolicy(obs_dim=4, act_dim=2, hidden=(), dtype=float64)' (and the mirror, when
    there is one), for error messages."""
    hidden = tuple(architecture["hidden"])
    mirror = architecture.get("mirror")
    return (f"{architecture['policy']}(obs_dim={architecture['obs_dim']}, act_dim={architecture['act_dim']}, "
            f"hidden={hidden}, dtype={architecture['dtype']}"
            + ("" if mirror is None else f", mirror={tuple(mirror)}") + ")")


def save_checkpoint(path, policy, config, history, epoch, state=None):
    """Write `policy`, its optimizer and generator, `config`, `history` and `epoch` to `path`.

    path: the file to write (used as given; np.load does not need an .npz suffix); parent
    directories are created.  policy: a Policy.  config: a JSON-able dict (None for {}).
    history: dict of per-epoch lists as the training loops return it (None for {}); NaN is
    kept.  epoch: the number of epochs completed — from a callback(epoch, history), which
    receives the 0-based index of the epoch just finished, pass epoch + 1.
    state: the run's solver.SolverState, whose learned value baseline, schedules and
    normalization statistics are saved too, so a resumed run continues exactly; None for a run
    of `reinforce`.

    The write is atomic (see the module docstring).  Returns `path`.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer (epochs completed), got {epoch!r}")
    opt = policy.opt
    solver = None if state is None else {
        "schedules": dataclasses.asdict(state.schedules),
        "observation_normalizer": None if state.observation_normalizer is None else state.observation_normalizer.state(),
        "reward_scaler": None if state.reward_scaler is None else state.reward_scaler.moments.state(),
    }
    arrays = {
        "format": _text_array(FORMAT_TAG),
        "version": np.array(FORMAT_VERSION),
        "epoch": np.array(int(epoch)),
        "architecture": _json_array(policy_architecture(policy)),
        "optimizer": _json_array({"t": opt.t, "lr": opt.lr, "betas": [opt.beta1, opt.beta2],
                                  "eps": opt.eps, "initial_lr": policy.lr}),
        "rng_state": _json_array(policy.rng.bit_generator.state),
        "config": _json_array({} if config is None else config),
        "history": _json_array({} if history is None else history),
        "solver": _json_array(solver),
    }
    baseline = None if state is None or not isinstance(state.baseline, ValueBaseline) else state.baseline
    for i, (param, m, v) in enumerate(zip(policy.parameters(), opt.m, opt.v)):
        arrays[_PARAM_KEY.format(i)] = param
        arrays[_ADAM_M_KEY.format(i)] = m
        arrays[_ADAM_V_KEY.format(i)] = v
    if baseline is not None:
        arrays["baseline_step"] = np.array(baseline.opt.t)
        for i, (param, m, v) in enumerate(zip(baseline.net.params, baseline.opt.m, baseline.opt.v)):
            arrays[_BASELINE_PREFIX + _PARAM_KEY.format(i)] = param
            arrays[_BASELINE_PREFIX + _ADAM_M_KEY.format(i)] = m
            arrays[_BASELINE_PREFIX + _ADAM_V_KEY.format(i)] = v
    write_atomically(path, lambda file: np.savez_compressed(file, **arrays))
    return path


def write_atomically(path, write):
    """write(binary file) to a temporary file beside `path`, fsync, then os.replace over `path`.

    A crash at any moment leaves the old file or the new one, never a partial file; parent
    directories are created.  Used for checkpoints and for the scripts' CSV logs.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Same directory, so os.replace is a rename within one filesystem (atomic).  O_EXCL: never
    # clobber another writer's temporary file; mode 0o666 is narrowed by the umask as usual.
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _json_default(value):
    """Let json encode NumPy scalars and arrays (e.g. an np.int64 episode count)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _text_array(text):
    """A string as a uint8 array of its UTF-8 bytes (unicode arrays take 4 bytes a character)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _json_array(value):
    # allow_nan=True (the default, made explicit): NaN/Infinity are written so they round-trip.
    return _text_array(json.dumps(value, default=_json_default, allow_nan=True))


# ----------------------------------------------------------------------------- loading


def load_checkpoint(path):
    """Read the checkpoint at `path` into a `Checkpoint`.

    Raises FileNotFoundError if there is no such file, and CheckpointError (a ValueError)
    naming the path if the file is not an .npz archive, is an .npz that minipg did not write,
    has a newer format version, or is truncated or corrupt.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no checkpoint file", path)
    with open(path, "rb") as file:
        head = file.read(len(ZIP_PREFIXES[0]))
    if not head:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (the file is empty)")
    if len(head) < len(ZIP_PREFIXES[0]) and any(prefix.startswith(head) for prefix in ZIP_PREFIXES):
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({len(head)} bytes long)")
    if not head.startswith(ZIP_PREFIXES):
        raise CheckpointError(f"{path}: not a minipg checkpoint (not an .npz archive)")
    _check_archive_integrity(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            tag = archive["format"] if "format" in keys else None
            if tag is None or tag.dtype != np.uint8 or tag.tobytes() != FORMAT_TAG.encode("utf-8"):
                raise CheckpointError(f"{path}: not a minipg checkpoint (no '{FORMAT_TAG}' format tag)")
            version = int(archive["version"])
            if version != FORMAT_VERSION:
                relation = "newer" if version > FORMAT_VERSION else "older"
                raise CheckpointError(
                    f"{path}: checkpoint format version {version} is {relation} than this minipg "
                    f"reads (version {FORMAT_VERSION})"
                )
            meta = {key: json.loads(_read_text(archive[key])) for key in _JSON_KEYS}
            epoch = int(archive["epoch"])
            count = sum(1 for key in keys if key.startswith(_PARAM_KEY.format("")))
            parameters = [archive[_PARAM_KEY.format(i)] for i in range(count)]
            adam_m = [archive[_ADAM_M_KEY.format(i)] for i in range(count)]
            adam_v = [archive[_ADAM_V_KEY.format(i)] for i in range(count)]
            baseline = None
            if "baseline_step" in keys:
                prefix = _BASELINE_PREFIX + _PARAM_KEY.format("")
                n = sum(1 for key in keys if key.startswith(prefix))
                baseline = {
                    "t": int(archive["baseline_step"]),
                    **{name: [archive[_BASELINE_PREFIX + key.format(i)] for i in range(n)]
                       for name, key in (("parameters", _PARAM_KEY), ("m", _ADAM_M_KEY),
                                         ("v", _ADAM_V_KEY))},
                }
        optimizer = meta["optimizer"]
        architecture = meta["architecture"]
        return Checkpoint(
            path=path,
            version=version,
            architecture=architecture,
            parameters=parameters,
            adam=AdamState(
                m=adam_m,
                v=adam_v,
                t=int(optimizer["t"]),
                lr=float(optimizer["lr"]),
                betas=tuple(optimizer["betas"]),
                eps=float(optimizer["eps"]),
                initial_lr=float(optimizer["initial_lr"]),
            ),
            rng_state=meta["rng_state"],
            config=meta["config"],
            history=meta["history"],
            epoch=epoch,
            baseline=baseline,
            solver=meta["solver"],
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        # The bytes are as written (checked above), but a member or field is missing or is not
        # what minipg writes there (a tagged file from another program, or a bug).
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({type(error).__name__}: {error})"
        ) from error


def _check_archive_integrity(path):
    """Raise CheckpointError unless the zip's structure and every member's CRC-32 are intact.

    Checked before NumPy parses anything: np.load checks a member's CRC only after reading
    it, so a damaged .npy header would otherwise fail in the parser with an arbitrary error
    (or announce an absurd array shape).  Reading a checkpoint twice costs little.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged_member = archive.testzip()
    except Exception as error:
        # zipfile reports damage with many exception types: BadZipFile (cut short, directory
        # damaged), zlib.error (compressed data damaged), EOFError, NotImplementedError (a
        # mangled version field), RuntimeError (a flipped "encrypted" flag), OSError (a seek
        # to a mangled offset), ...  The message keeps the original type and text.
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({type(error).__name__}: {error})"
        ) from error
    if damaged_member is not None:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (bad CRC-32 in {damaged_member})")


def _read_text(array):
    """The inverse of _text_array."""
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"expected UTF-8 bytes (uint8 vector), got {array.dtype} of shape {array.shape}")
    return array.tobytes().decode("utf-8")


# --------------------------------------------------------------------------- restoring


def restore_policy(checkpoint, policy):
    """Make `policy` continue the checkpointed run: parameters, Adam state and generator state.

    Parameters and Adam moments are copied INTO the policy's existing arrays, because Adam
    holds references to the parameter arrays and updates them in place.  Everything is
    checked before anything is changed, so on CheckpointError the policy is untouched; an
    architecture that differs is named field by field.  The learning rate is left as the
    policy has it: it is the run's configuration (a resumed run may change it), not its state.
    Returns `policy`.
    """
    differences = architecture_differences(checkpoint.architecture, policy_architecture(policy))
    if differences:
        raise CheckpointError(
            f"{checkpoint.path}: checkpoint is for {describe_architecture(checkpoint.architecture)}, "
            f"the policy differs in {'; '.join(differences)}"
        )
    targets = policy.parameters()
    opt = policy.opt
    sources = checkpoint.parameters, checkpoint.adam.m, checkpoint.adam.v
    if any(len(arrays) != len(targets) for arrays in sources):
        raise CheckpointError(
            f"{checkpoint.path}: checkpoint holds {len(checkpoint.parameters)} parameter arrays, "
            f"the policy has {len(targets)}"
        )
    for i, target in enumerate(targets):
        for name, arrays in zip(("parameter", "Adam m", "Adam v"), sources):
            if arrays[i].shape != target.shape or arrays[i].dtype != target.dtype:
                raise CheckpointError(
                    f"{checkpoint.path}: {name} {i} is {arrays[i].dtype} of shape {arrays[i].shape}, "
                    f"the policy's is {target.dtype} of shape {target.shape}"
                )
    generator_name = type(policy.rng.bit_generator).__name__
    if checkpoint.rng_state.get("bit_generator") != generator_name:
        raise CheckpointError(
            f"{checkpoint.path}: checkpoint holds a {checkpoint.rng_state.get('bit_generator')} "
            f"generator state, the policy uses {generator_name}"
        )

    for target, param, m_target, m, v_target, v in zip(
        targets, checkpoint.parameters, opt.m, checkpoint.adam.m, opt.v, checkpoint.adam.v
    ):
        np.copyto(target, param)
        np.copyto(m_target, m)
        np.copyto(v_target, v)
    opt.t = checkpoint.adam.t
    opt.beta1, opt.beta2 = (float(beta) for beta in checkpoint.adam.betas)
    opt.eps = checkpoint.adam.eps
    policy.rng.bit_generator.state = checkpoint.rng_state
    return policy


def restore_baseline(checkpoint, baseline):
    """Copy a saved learned baseline (network and Adam state) into `baseline`, in place.

    baseline: a ValueBaseline, or a baseline's name ("none", "time": nothing learned, nothing
    to restore).  Raises CheckpointError if the checkpoint holds none for a ValueBaseline, or
    one of other shapes.
    """
    if not isinstance(baseline, ValueBaseline):
        return baseline
    saved = checkpoint.baseline
    if saved is None:
        raise CheckpointError(f"{checkpoint.path}: checkpoint holds no learned baseline to restore")
    shapes = [p.shape for p in baseline.net.params]
    if [p.shape for p in saved["parameters"]] != shapes:
        raise CheckpointError(
            f"{checkpoint.path}: saved baseline has parameter shapes "
            f"{[p.shape for p in saved['parameters']]}, this baseline has {shapes}"
        )
    for targets, sources in ((baseline.net.params, saved["parameters"]),
                             (baseline.opt.m, saved["m"]), (baseline.opt.v, saved["v"])):
        for target, source in zip(targets, sources):
            np.copyto(target, source)
    baseline.opt.t = saved["t"]
    return baseline


def restore_state(checkpoint, state):
    """Make the solver.SolverState `state` continue the checkpointed run: its learned baseline
    (restore_baseline), where its schedules start, and its normalization statistics.  A
    checkpoint of a `reinforce` run holds none of them: the state is left as it is.
    Raises CheckpointError if what was saved does not fit `state`."""
    restore_baseline(checkpoint, state.baseline)
    saved = checkpoint.solver
    if saved is None:
        return state
    try:
        state.schedules = Schedules(**saved["schedules"])
        for name, target in (("observation_normalizer", state.observation_normalizer),
                             ("reward_scaler", None if state.reward_scaler is None else state.reward_scaler.moments)):
            if (saved[name] is None) != (target is None):
                raise ValueError(f"{name} {'missing' if saved[name] is None else 'not expected'}")
            if target is not None:
                target.restore(saved[name])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{checkpoint.path}: corrupt checkpoint (solver state: {error})") from None
    return state


def architecture_differences(saved, actual):
    """['hidden: (64, 64) in the checkpoint, (8,) here', ...] for the fields of two
    policy_architecture dicts that differ (hidden and mirror compared as tuples)."""
    differences = []
    for name in ("policy", "obs_dim", "act_dim", "hidden", "dtype", "mirror"):
        values = [architecture.get(name) for architecture in (saved, actual)]
        values = [tuple(value) if isinstance(value, list) else value for value in values]
        if values[0] != values[1]:
            differences.append(f"{name}: {values[0]} in the checkpoint, {values[1]} here")
    return differences


def policy_from_checkpoint(checkpoint, env):
    """A new policy of the checkpoint's class and sizes for `env`, restored from `checkpoint`.

    env: a gymnasium Env or VectorEnv (or anything with observation/action spaces), e.g. to
    evaluate a saved policy.  Raises CheckpointError if the class is unknown or the env's
    spaces do not give the checkpoint's obs_dim and act_dim.
    """
    name = checkpoint.architecture["policy"]
    if name not in POLICY_CLASSES:
        raise CheckpointError(
            f"{checkpoint.path}: unknown policy class {name!r} (known: {', '.join(POLICY_CLASSES)})"
        )
    try:
        extra = {}
        if checkpoint.architecture.get("mirror") is not None:
            extra["mirror"] = checkpoint.architecture["mirror"]
        policy = POLICY_CLASSES[name](env, lr=checkpoint.adam.initial_lr,
                                      hidden=tuple(checkpoint.architecture["hidden"]),
                                      dtype=checkpoint.architecture["dtype"], **extra)
    except (TypeError, ValueError) as error:  # the env's spaces do not suit the policy class
        raise CheckpointError(
            f"{checkpoint.path}: checkpoint is for {describe_architecture(checkpoint.architecture)}, "
            f"which cannot act in this environment: {error}"
        ) from error
    return restore_policy(checkpoint, policy)
