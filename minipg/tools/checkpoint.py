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

Why .npz: it is a zip of .npy arrays, which are read here without pickle (an object dtype is
refused), so loading a checkpoint never executes code from the file.  The non-array parts are stored as
UTF-8 JSON text in uint8 arrays, and the zip is compressed (np.savez_compressed): a long
history is mostly repetitive text.  Python's json module writes NaN and ±Infinity as the bare
tokens NaN / Infinity (an extension of JSON that it also reads back), so an epoch in which no
episode ended (NaN mean return) survives the round trip.

Why atomic: a run is usually checkpointed every few epochs over the same path.  The file is
written to a temporary name in the same directory, flushed and fsync'ed, then renamed over the
old checkpoint with os.replace (atomic on POSIX and Windows).  A crash at any moment leaves
either the previous complete checkpoint or the new complete one, never a half-written file.

Why defensive: a checkpoint may come from anywhere.  Before a member is decompressed, its
declared size is checked against what the format and the checkpoint's architecture allow, and
before an array is made, the dtype and shape its .npy header declares (see "loading" below):
a malformed, truncated or oversized file ends in CheckpointError naming the file and the
member, never in a traceback or an allocation larger than a legitimate checkpoint needs.
"""

import dataclasses
import errno
import io
import itertools
import json
import math
import os
import re
import reprlib
import secrets
import zipfile
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.lib import format as npy_format

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
_COUNTS_KEYS = ("state_counter_cells", "state_counter_visits")  # the exploration bonus's visit counts
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
    "observation_normalizer", "reward_scaler", "state_counter"}, the last with the visit counts
    read back from their int64 members), or None for a run of `reinforce`.
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
    solver: dict = None  # a SolverState's schedules, normalization statistics and visit counts, when one was saved


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
    state: the run's solver.SolverState, whose learned value baseline, schedules, normalization
    statistics and visit counts are saved too, so a resumed run continues exactly; None for a
    run of `reinforce`.

    The write is atomic (see the module docstring).  Returns `path`.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer (epochs completed), got {epoch!r}")
    opt = policy.opt
    normalizer, scaler = (None, None) if state is None else (state.observation_normalizer, state.reward_scaler)
    counter = None if state is None or state.state_counter is None else state.state_counter.state()
    solver = None if state is None else {
        "schedules": dataclasses.asdict(state.schedules),
        "observation_normalizer": None if normalizer is None else normalizer.state(),
        "reward_scaler": None if scaler is None else scaler.moments.state(),
        # the visit counts go to two int64 members (below): a run may visit millions of cells
        "state_counter": None if counter is None else {key: counter[key] for key in ("projection", "mean", "std")},
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
    if counter is not None:
        arrays[_COUNTS_KEYS[0]], arrays[_COUNTS_KEYS[1]] = counter["cells"], counter["visits"]
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
#
# A checkpoint is input from wherever a user downloaded it, so it is read defensively.  The zip
# directory and the .npy headers say how large each member and array is; those declarations are
# checked against the limits below, and against the shapes the checkpoint's architecture implies,
# before a member is decompressed or an array allocated.  A crafted file (a 4 kB archive whose
# header announces a terabyte, a zip bomb, a JSON member of gigabytes) thus ends in
# CheckpointError naming the file and the member, having used no more memory than a legitimate
# checkpoint of the architecture it claims.

# The most parameters a network (the policy, or the value baseline) in a checkpoint may have.
# minipg's own networks have thousands (the swing-up MLP (5, 64, 64, 1): 4,609); 2**24 is
# thousands of times more, and 2**24 float64 parameters with Adam's m and v take 384 MiB.
MAX_PARAMETERS = 2**24
# The most cells the exploration bonus's visit counts may hold: at most one a state counted, and
# 2**24 is more than 16M env steps (minipg's longest preset run takes 5M); 128 MiB an array.
MAX_CELLS = 2**24
# The most hidden layers a network may have: far deeper than a plain ReLU MLP trains (there is
# no normalization or residual connection here).  It bounds the number of members.
MAX_HIDDEN_LAYERS = 64
# The longest .npy header accepted, in bytes.  np.save writes magic, version, length and a dict
# padded to a multiple of 64 bytes: 128 bytes for every array minipg saves.  (NumPy itself
# refuses header dicts over 10,000 bytes, as unsafe to parse.)
NPY_HEADER_MAX = 4096
# The most UTF-8 JSON text each JSON member may hold, in bytes, from what it stores.
JSON_MAX_BYTES = {
    "architecture": 1 << 20,  # 7 fields and the mirror's obs_dim signs: ~200,000 signs
    "optimizer": 64 << 10,    # five numbers
    "rng_state": 64 << 10,    # a NumPy bit generator's state: PCG64's ~150 bytes, MT19937's ~7 kB
    "config": 1 << 20,        # the Options fields, a preset and a seed: ~600 bytes
    "solver": 8 << 20,        # the schedules (3 numbers), the normalizers (2 · obs_dim + 5 numbers),
                              # the bonus's hyperplanes ((k ≤ 62) · (obs_dim + 1) numbers, ~22 bytes
                              # each: obs_dim up to ~6,000)
    "history": 64 << 20,      # per-epoch numbers, ~200 bytes an epoch: over 300,000 epochs
}
# The most bytes one stored byte of a zip member can give, by compression method: a stored
# member gives itself; deflate's densest code spends 2 bits on a 258-byte match (1032 bytes a
# byte).  Other methods (bzip2, LZMA) are refused: NumPy never writes them, and zipfile
# decompresses each read of them whole, with no bound on what one read may give.
MAX_EXPANSION = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}

# The .npy format versions np.save writes (2.0 only for headers over 64 kB), with NumPy's own
# readers of their headers.
_NPY_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
_INTEGER = (NPY_HEADER_MAX + 8, "an integer scalar")


def load_checkpoint(path):
    """Read the checkpoint at `path` into a `Checkpoint`, checking every member before it is read.

    Raises FileNotFoundError if there is no such file, and CheckpointError (a ValueError)
    naming the path if the file is not an .npz archive, is an .npz that minipg did not write,
    has another format version, is truncated or corrupt, or declares a member that the format
    or the checkpoint's architecture does not allow (too large, another dtype or shape, one
    too many or too few: named in the message).  See `_read_checkpoint` for the order of the
    checks and `_Archive` for how a member is read.
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
    try:
        zip_file = zipfile.ZipFile(path)  # reads the zip's directory only
    except Exception as error:  # see _damaged for the many types
        raise _damaged(path, f"{type(error).__name__}: {error}") from error
    with zip_file:
        return _read_checkpoint(_Archive(path, zip_file))


def _read_checkpoint(archive):
    """The Checkpoint in `archive`, checked in this order: the format tag and the version (so
    another program's .npz, or another version, is named as such); the architecture, which
    fixes every other member: its name, its declared size (checked for all of them before any
    is decompressed), dtype and shape; then the members, each array's header before its data.
    """
    _check_format(archive)
    architecture = archive.json("architecture")
    try:
        shapes = parameter_shapes(architecture)
    except (TypeError, ValueError) as error:
        raise archive.corrupt(f"member architecture.npy: {error}") from error
    dtype = np.dtype(architecture["dtype"])
    policy = describe_architecture(architecture)
    baseline_arrays = _count_baseline_arrays(archive)
    counts_limits = _counts_limits(archive)
    archive.expect(_policy_limits(shapes, dtype, policy) | _baseline_limits(baseline_arrays, dtype) | counts_limits,
                   f"a checkpoint of {policy} has {len(shapes)} parameter arrays")
    _check_baseline_total(archive, baseline_arrays, dtype)

    meta = {key: archive.json(key) for key in _JSON_KEYS if key != "architecture"}
    _check_json_kinds(archive, meta)
    epoch = archive.integer("epoch")
    if epoch < 0:
        raise archive.corrupt(f"member epoch.npy holds {epoch}; a count of epochs is not negative")
    parameters, adam_m, adam_v = (
        [archive.array(archive.npy(key.format(i) + ".npy"), shape, dtype, policy) for i, shape in enumerate(shapes)]
        for key in (_PARAM_KEY, _ADAM_M_KEY, _ADAM_V_KEY))
    return Checkpoint(
        path=archive.path,
        version=FORMAT_VERSION,
        architecture=architecture,
        parameters=parameters,
        adam=_adam_state(archive, meta["optimizer"], adam_m, adam_v),
        rng_state=meta["rng_state"],
        config=meta["config"],
        history=meta["history"],
        epoch=epoch,
        baseline=_read_baseline(archive, architecture["obs_dim"], dtype, baseline_arrays),
        solver=_with_counts(archive, meta["solver"], counts_limits),
    )


def _damaged(path, detail):
    """The error for bytes that are not as written: a zip cut short or damaged, a CRC-32 that
    does not match.  zipfile reports such damage with many exception types: BadZipFile (cut
    short, directory damaged, bad CRC-32), zlib.error (compressed data damaged), EOFError,
    NotImplementedError (a mangled version field), RuntimeError (a flipped "encrypted" flag),
    OSError (a seek to a mangled offset), ...; `detail` keeps the original type and text."""
    return CheckpointError(f"{path}: truncated or corrupt checkpoint ({detail})")


class _Npy(NamedTuple):
    """An .npy member as its header describes it; `data`: the bytes after the header."""

    name: str
    shape: tuple
    dtype: np.dtype
    fortran_order: bool
    data: memoryview


class _Archive:
    """One checkpoint's zip archive, each member checked before it is read.

    On opening, the zip's directory is checked, decompressing nothing: every member appears
    once, is stored or deflated (MAX_EXPANSION), and declares an uncompressed size that its
    compressed bytes can give.  Each member has a limit (`limits`: the bytes it may declare,
    and what it holds): the fixed members' from the constants above, the arrays' from the
    architecture (`expect`).  `read` refuses a member that declares more than its limit before
    decompressing a byte of it, then reads exactly the declared size, never more (zipfile
    checks the CRC-32 on the last byte), so memory is bounded by the limits, whatever the file.
    """

    def __init__(self, path, zip_file):
        self.path, self.zip_file, self.members = path, zip_file, {}
        self.limits = {"format.npy": (NPY_HEADER_MAX + len(FORMAT_TAG), "the format tag"),
                       "version.npy": _INTEGER, "epoch.npy": _INTEGER,
                       **{f"{key}.npy": (NPY_HEADER_MAX + JSON_MAX_BYTES[key],
                                         f"the {key} ({JSON_MAX_BYTES[key]:,} bytes of JSON at most)")
                          for key in _JSON_KEYS}}
        for info in zip_file.infolist():
            name = info.filename
            if name in self.members:
                raise self.corrupt(f"member {name} appears twice")
            expansion = MAX_EXPANSION.get(info.compress_type)
            if expansion is None:
                raise self.corrupt(f"member {name} is compressed with zip method {info.compress_type}; "
                                   "minipg reads stored and deflated members only")
            if info.file_size > expansion * info.compress_size:
                raise self.corrupt(f"member {name} declares {info.file_size:,} bytes uncompressed from "
                                   f"{info.compress_size:,} compressed bytes, more than "
                                   f"{'deflate' if expansion > 1 else 'storing'} can give")
            self.members[name] = info

    def corrupt(self, detail):
        return CheckpointError(f"{self.path}: corrupt checkpoint ({detail})")

    def too_large(self, name):
        """Raise CheckpointError if member `name` declares more bytes than its limit."""
        size, (limit, holds) = self.members[name].file_size, self.limits[name]
        if size > limit:
            raise self.corrupt(f"member {name} declares {size:,} bytes uncompressed; {holds} and an .npy "
                               f"header take at most {limit:,}")

    def expect(self, limits, arrays):
        """Add `limits` ({name: (most bytes, what it holds)}) and check, decompressing nothing,
        that the archive holds exactly the members that have limits, none declaring more.
        arrays: what the architecture has, for the message about a member too many."""
        self.limits = {**self.limits, **limits}
        for name in self.members:
            if name not in self.limits:
                raise self.corrupt(f"unexpected member {name} ({arrays})")
        for name in self.limits:
            if name not in self.members:
                raise self.corrupt(f"member {name} is missing ({arrays})")
            self.too_large(name)

    def read(self, name):
        """The bytes of member `name`, refused before decompression if it declares too many."""
        if name not in self.members:
            raise self.corrupt(f"member {name} is missing")
        self.too_large(name)
        info = self.members[name]
        try:
            with self.zip_file.open(info) as stream:
                data = stream.read(info.file_size)  # each read decompresses at most this much
        except Exception as error:  # see _damaged
            raise _damaged(self.path, f"member {name}: {type(error).__name__}: {error}") from error
        if len(data) != info.file_size:
            raise _damaged(self.path, f"member {name} holds {len(data):,} of the {info.file_size:,} bytes it declares")
        return data

    def npy(self, name):
        """Member `name` as an _Npy: read (see `read`), its header parsed by NumPy's own readers,
        which describe the dtype and shape without making an array (nor unpickling anything)."""
        data = self.read(name)
        stream = io.BytesIO(data)
        try:
            version = npy_format.read_magic(stream)
            if version not in _NPY_HEADER_READERS:
                raise ValueError(f".npy format version {version[0]}.{version[1]}, not 1.0 or 2.0")
            shape, fortran_order, dtype = _NPY_HEADER_READERS[version](stream, max_header_size=NPY_HEADER_MAX)
        except Exception as error:  # a header is a Python literal: its parse fails in many ways
            raise self.corrupt(f"member {name} has no readable .npy header "
                               f"({type(error).__name__}: {error})") from error
        return _Npy(name, shape, dtype, fortran_order, memoryview(data)[stream.tell():])

    def array(self, npy, shape, dtype, owner):
        """A new array of npy's data, if its header declares `shape` and `dtype` (what `owner`
        has there); checked on the header, before anything is allocated."""
        if npy.shape != tuple(shape) or npy.dtype != dtype:
            raise self.corrupt(f"member {npy.name} declares shape {npy.shape} {npy.dtype}; {owner} has "
                               f"{tuple(shape)} {dtype} there")
        return np.frombuffer(self.payload(npy), dtype=npy.dtype).reshape(npy.shape).copy()

    def payload(self, npy):
        """npy's data bytes, if they are the C-order array its header declares, no more, no less."""
        if npy.fortran_order:
            raise self.corrupt(f"member {npy.name} declares Fortran order; minipg writes C order")
        size = math.prod(npy.shape) * npy.dtype.itemsize
        if len(npy.data) != size:
            raise self.corrupt(f"member {npy.name} holds {len(npy.data):,} bytes of data; its header declares "
                               f"shape {npy.shape} {npy.dtype}, {size:,} bytes")
        return npy.data

    def integer(self, key):
        """The integer scalar in member key.npy, as an int."""
        npy = self.npy(key + ".npy")
        if npy.shape != () or npy.dtype.kind not in "iu" or not npy.dtype.isnative:
            raise self.corrupt(f"member {npy.name} declares shape {npy.shape} {npy.dtype}; an integer scalar is "
                               "stored there")
        return int(np.frombuffer(self.payload(npy), dtype=npy.dtype)[0])

    def json(self, key):
        """The value of the UTF-8 JSON text in member key.npy (a uint8 vector, see _text_array)."""
        npy = self.npy(key + ".npy")
        if npy.dtype != np.uint8 or len(npy.shape) != 1:
            raise self.corrupt(f"member {npy.name} declares shape {npy.shape} {npy.dtype}; JSON text is stored "
                               "there as a uint8 vector")
        text = self.payload(npy)
        if len(text) > JSON_MAX_BYTES[key]:
            raise self.corrupt(f"member {npy.name} holds {len(text):,} bytes of JSON; the {key} may have at "
                               f"most {JSON_MAX_BYTES[key]:,}")
        try:
            return json.loads(str(text, "utf-8"))
        except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, or nested too deep
            raise self.corrupt(f"member {npy.name} holds no JSON text ({type(error).__name__}: {error})") from error


def _check_format(archive):
    """Raise CheckpointError unless `archive` holds minipg's format tag and FORMAT_VERSION."""
    foreign = CheckpointError(f"{archive.path}: not a minipg checkpoint (no '{FORMAT_TAG}' format tag)")
    name, tag = "format.npy", FORMAT_TAG.encode("utf-8")
    if name not in archive.members or archive.members[name].file_size > archive.limits[name][0]:
        raise foreign
    npy = archive.npy(name)
    if npy.dtype != np.uint8 or npy.shape != (len(tag),) or archive.payload(npy) != tag:
        raise foreign
    version = archive.integer("version")
    if version != FORMAT_VERSION:
        relation = "newer" if version > FORMAT_VERSION else "older"
        raise CheckpointError(
            f"{archive.path}: checkpoint format version {version} is {relation} than this minipg "
            f"reads (version {FORMAT_VERSION})"
        )


def parameter_shapes(architecture):
    """The shapes of a policy's parameters, in `policy.parameters()` order, from its
    architecture (see `policy_architecture`): a weight (n_in, n_out) and a bias (n_out,) for
    each layer of the MLP (obs_dim, *hidden, act_dim), then log_std (act_dim,) if it has one.

    Raises TypeError for an architecture minipg does not write (a field missing or of another
    type) and ValueError for one it cannot have (a size that is not positive, a dtype but
    float32 and float64, more than MAX_HIDDEN_LAYERS hidden layers or MAX_PARAMETERS parameters).
    """
    if not isinstance(architecture, dict):
        raise TypeError(f"an architecture is a JSON object, got {reprlib.repr(architecture)}")
    for name, kind in (("policy", str), ("obs_dim", int), ("act_dim", int), ("hidden", list), ("log_std", bool),
                       ("dtype", str)):
        value = architecture.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"{name} must be a {kind.__name__}, got {reprlib.repr(value)}")
    hidden = architecture["hidden"]
    sizes = [architecture["obs_dim"], *hidden, architecture["act_dim"]]
    if not all(isinstance(size, int) and not isinstance(size, bool) for size in hidden):
        raise TypeError(f"hidden sizes must be integers, got {reprlib.repr(hidden)}")
    if min(sizes) <= 0:
        raise ValueError(f"obs_dim, act_dim and hidden sizes must be positive, got obs_dim="
                         f"{reprlib.repr(sizes[0])}, act_dim={reprlib.repr(sizes[-1])}, hidden={reprlib.repr(hidden)}")
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"{len(hidden)} hidden layers, more than {MAX_HIDDEN_LAYERS}")
    if architecture["dtype"] not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {reprlib.repr(architecture['dtype'])}")
    if not isinstance(architecture.get("mirror"), (list, type(None))):
        raise TypeError(f"mirror must be a list of signs or null, got {reprlib.repr(architecture['mirror'])}")
    shapes = []
    for n_in, n_out in itertools.pairwise(sizes):
        shapes += [(n_in, n_out), (n_out,)]
    if architecture["log_std"]:
        shapes.append((architecture["act_dim"],))
    count = sum(math.prod(shape) for shape in shapes)
    if count > MAX_PARAMETERS:
        raise ValueError(f"{count:,} parameters, more than {MAX_PARAMETERS:,}")
    return shapes


def _policy_limits(shapes, dtype, policy):
    """{member: (most bytes, what it holds)} of the policy's parameters and Adam moments."""
    return {key.format(i) + ".npy": (NPY_HEADER_MAX + math.prod(shape) * dtype.itemsize,
                                     f"a {shape} {dtype} array of {policy}")
            for key in (_PARAM_KEY, _ADAM_M_KEY, _ADAM_V_KEY) for i, shape in enumerate(shapes)}


def _count_baseline_arrays(archive):
    """How many parameter arrays the saved value baseline has (0: none saved), counted from the
    members named baseline_param_<i>.npy and rounded up to whole layers (a weight and a bias,
    at least one layer), so that `expect` names the member missing from an incomplete layer."""
    pattern = re.compile(re.escape(_BASELINE_PREFIX + _PARAM_KEY.format("")) + r"[0-9]+\.npy")
    count = sum(1 for name in archive.members if pattern.fullmatch(name))
    if count == 0 and not any(name.startswith(_BASELINE_PREFIX) for name in archive.members):
        return 0
    count = max(2, count + count % 2)
    most = 2 * (MAX_HIDDEN_LAYERS + 1)
    if count > most:
        raise archive.corrupt(f"unexpected member {_BASELINE_PREFIX}{_PARAM_KEY.format(most)}.npy (a value "
                              f"network has at most {MAX_HIDDEN_LAYERS} hidden layers: {most} parameter arrays)")
    return count


def _baseline_limits(count, dtype):
    """{member: (most bytes, what it holds)} of a saved value baseline of `count` parameter
    arrays (their sizes are not in the architecture: each may hold up to MAX_PARAMETERS; their
    total is `_check_baseline_total`'s)."""
    if not count:
        return {}
    holds = f"a value network's {dtype} array ({MAX_PARAMETERS:,} parameters at most)"
    return {"baseline_step.npy": _INTEGER,
            **{_BASELINE_PREFIX + key.format(i) + ".npy": (NPY_HEADER_MAX + MAX_PARAMETERS * dtype.itemsize, holds)
               for key in (_PARAM_KEY, _ADAM_M_KEY, _ADAM_V_KEY) for i in range(count)}}


def _check_baseline_total(archive, count, dtype):
    """Raise CheckpointError, decompressing nothing, if the value baseline's parameters (or
    either Adam moment) declare more bytes together than MAX_PARAMETERS parameters and their
    .npy headers take; the message names the member that goes over."""
    limit = MAX_PARAMETERS * dtype.itemsize + count * NPY_HEADER_MAX
    for key in (_PARAM_KEY, _ADAM_M_KEY, _ADAM_V_KEY):
        total = 0
        for i in range(count):
            name = _BASELINE_PREFIX + key.format(i) + ".npy"
            total += archive.members[name].file_size
            if total > limit:
                raise archive.corrupt(f"member {name} brings the value network's arrays to {total:,} bytes "
                                      f"uncompressed; {MAX_PARAMETERS:,} {dtype} parameters and {count} .npy "
                                      f"headers take at most {limit:,}")


def _counts_limits(archive):
    """{member: (most bytes, what it holds)} of the exploration bonus's visit counts: both of
    _COUNTS_KEYS if either is in the archive, else none."""
    if not any(key + ".npy" in archive.members for key in _COUNTS_KEYS):
        return {}
    holds = f"the exploration bonus's visit counts ({MAX_CELLS:,} int64 at most)"
    return {key + ".npy": (NPY_HEADER_MAX + MAX_CELLS * 8, holds) for key in _COUNTS_KEYS}


def _with_counts(archive, solver, counts_limits):
    """The solver state with the visit counts put back into its "state_counter" ("cells" and
    "visits", int64 vectors of one length; StateCounter.restore checks their values), or as it
    is when none were saved.  CheckpointError if counts come without a state counter."""
    if not counts_limits:
        return solver
    if not isinstance(solver, dict) or not isinstance(solver.get("state_counter"), dict):
        raise archive.corrupt(f"members {' and '.join(key + '.npy' for key in _COUNTS_KEYS)} without the solver "
                              "state's state_counter")
    cells, visits = (archive.npy(key + ".npy") for key in _COUNTS_KEYS)
    if len(cells.shape) != 1:
        raise archive.corrupt(f"member {cells.name} declares shape {cells.shape}; the visit counts' cells are a vector")
    length, owner = cells.shape[0], "the exploration bonus's visit counts"
    counts = {key: archive.array(npy, (length,), np.dtype(np.int64), owner)
              for key, npy in (("cells", cells), ("visits", visits))}
    return {**solver, "state_counter": {**solver["state_counter"], **counts}}


def _read_baseline(archive, obs_dim, dtype, count):
    """The saved value baseline as {"parameters", "m", "v", "t"}, or None if none was saved.

    Its network is an MLP (obs_dim [+ 1 time feature], *hidden, 1) whose hidden sizes the
    checkpoint does not record, so the declared shapes must chain: a weight (n_in, n_out) and a
    bias (n_out,) per layer, the first n_in obs_dim or obs_dim + 1, each next n_in the last
    n_out, the last n_out 1; Adam's m and v have the parameters' shapes; all of the policy's
    dtype.  All headers are checked before any array is made.
    """
    if not count:
        return None
    step = archive.integer("baseline_step")
    if step < 0:
        raise archive.corrupt(f"member baseline_step.npy holds {step}; Adam's step count is not negative")
    npys = {key: [archive.npy(_BASELINE_PREFIX + key.format(i) + ".npy") for i in range(count)]
            for key in (_PARAM_KEY, _ADAM_M_KEY, _ADAM_V_KEY)}
    inputs = (obs_dim, obs_dim + 1)
    for i, npy in enumerate(npys[_PARAM_KEY]):
        if i % 2 == 0:  # a weight (inputs, n_out), n_out = 1 in the last layer
            last = i == count - 2
            expected = f"({' or '.join(map(str, inputs))}, {1 if last else 'n'})"
            fits = (len(npy.shape) == 2 and npy.shape[0] in inputs
                    and (npy.shape[1] == 1 if last else npy.shape[1] > 0))
        else:  # the bias (n_out,) of the weight before
            expected = f"({inputs[0]},)"
            fits = npy.shape == (inputs[0],)
        if not fits or npy.dtype != dtype:
            raise archive.corrupt(f"member {npy.name} declares shape {npy.shape} {npy.dtype}; a value network "
                                  f"for obs_dim={obs_dim} has {expected} {dtype} there")
        inputs = (npy.shape[-1],)
    owner = "the value network's parameter"
    arrays = {name: [archive.array(npy, param.shape, dtype, owner) for npy, param in zip(npys[key], npys[_PARAM_KEY])]
              for name, key in (("parameters", _PARAM_KEY), ("m", _ADAM_M_KEY), ("v", _ADAM_V_KEY))}
    return {"t": step, **arrays}


def _check_json_kinds(archive, meta):
    """Raise CheckpointError naming the member unless the JSON members hold the kinds of value
    minipg writes: JSON objects (the solver's: or null), the history a list of numbers per
    key (NaN included).  What the values mean is checked where they are used: the optimizer's
    by _adam_state, the config's by Options, the generator state's by restore_policy."""
    for key in ("optimizer", "rng_state", "config", "history", "solver"):
        if not isinstance(meta[key], dict) and not (key == "solver" and meta[key] is None):
            raise archive.corrupt(f"member {key}.npy holds {reprlib.repr(meta[key])}; minipg writes a JSON "
                                  "object there")
    for key, values in meta["history"].items():
        if not isinstance(values, list) or not all(map(_is_number, values)):
            raise archive.corrupt(f"member history.npy: {key} is {reprlib.repr(values)}, not a list of numbers")


def _adam_state(archive, optimizer, m, v):
    """The AdamState of the optimizer member's fields and the moments m, v, if the fields are
    what Adam can have: the step count t a non-negative integer, the rates and eps finite
    numbers (lr ≥ 0: a decayed rate ends at 0; initial_lr, eps > 0), the betas in [0, 1)."""
    def corrupt(detail):
        return archive.corrupt(f"member optimizer.npy: {detail}")

    t = optimizer.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise corrupt(f"the step count t is {reprlib.repr(t)}, not a non-negative integer")
    betas = optimizer.get("betas")
    if not isinstance(betas, list) or len(betas) != 2:
        raise corrupt(f"betas are {reprlib.repr(betas)}, not two numbers")
    non_negative = ("a finite number ≥ 0", lambda x: 0 <= x < math.inf)
    positive = ("a positive finite number", lambda x: 0 < x < math.inf)
    below_one = ("a number in [0, 1)", lambda x: 0 <= x < 1)
    fields = {"lr": (optimizer.get("lr"), non_negative), "initial_lr": (optimizer.get("initial_lr"), positive),
              "eps": (optimizer.get("eps"), positive), "beta1": (betas[0], below_one), "beta2": (betas[1], below_one)}
    numbers = {}
    for name, (value, (allowed, fits)) in fields.items():
        numbers[name] = _as_float(value)
        if not fits(numbers[name]):
            raise corrupt(f"{name} is {reprlib.repr(value)}, not {allowed}")
    return AdamState(m=m, v=v, t=t, lr=numbers["lr"], betas=(numbers["beta1"], numbers["beta2"]),
                     eps=numbers["eps"], initial_lr=numbers["initial_lr"])


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_float(value):
    """`value` as a float; NaN if it is not a number, or an integer beyond float's range."""
    try:
        return float(value) if _is_number(value) else math.nan
    except OverflowError:
        return math.nan


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
    try:  # on a new generator of the same kind: the policy's is changed only once all is checked
        type(policy.rng.bit_generator)().state = checkpoint.rng_state
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(
            f"{checkpoint.path}: corrupt checkpoint (rng_state: {type(error).__name__}: {error})"
        ) from error

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
    (restore_baseline), where its schedules start, its normalization statistics and visit
    counts.  A checkpoint of a `reinforce` run holds none of them: the state is left as it is.
    Raises CheckpointError if what was saved does not fit `state`."""
    restore_baseline(checkpoint, state.baseline)
    saved = checkpoint.solver
    if saved is None:
        return state
    try:
        state.schedules = Schedules(**saved["schedules"])
        for name, target in (("observation_normalizer", state.observation_normalizer),
                             ("reward_scaler", None if state.reward_scaler is None else state.reward_scaler.moments),
                             ("state_counter", state.state_counter)):
            # checkpoints from before the exploration bonus lack its key; the others are always written
            saved_part = saved.get(name) if name == "state_counter" else saved[name]
            if (saved_part is None) != (target is None):
                raise ValueError(f"{name} {'missing' if saved_part is None else 'not expected'}")
            if target is not None:
                target.restore(saved_part)
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
