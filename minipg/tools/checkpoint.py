"""Saving and resuming a training run: one safetensors file per checkpoint.

A checkpoint holds a run's configuration and its state:

- `config`: every Options field, the seed and the preset's name (JSON);
- `state`: the tree of `SolverState.state_dict()` (minipg/state.py's protocol): the history,
  where the schedules start, the policy (parameters, Adam's moments and step, the generator's
  state), the value baseline, the normalizers' statistics and the visit counts.  This module
  only collects it: each object gives and takes its own state.

The file is a safetensors file (https://github.com/huggingface/safetensors): the tree's arrays
are its tensors, named by their path in the tree ("policy.parameters.0"), and the rest of the
tree is JSON in its metadata, each array replaced by {"tensor": its name}.  The format was made
for files from anywhere: no pickle (nothing in the file is executed), a length-checked JSON
header, and every tensor's shape checked against the bytes the file holds before it is read,
so a damaged, truncated or crafted file ends in CheckpointError naming the file, never in a
traceback or an allocation larger than the file.

Why atomic: a run is usually checkpointed every few epochs over the same path.  The bytes are
written to a temporary file in the same directory, fsync'ed, then renamed over the old
checkpoint (os.replace, atomic on POSIX and Windows): a crash leaves the old file or the new.
"""

import errno
import json
import os
import secrets
import stat
from dataclasses import dataclass

import numpy as np
import safetensors
import safetensors.numpy

from ..envs import make_env
from ..options import Options, OptionsError
from ..solver import make_policy, new_state

FORMAT, VERSION = "minipg-checkpoint", 4  # versions 1-3 were .npz archives (minipg 0.1)
# The largest file read: a checkpoint of minipg's presets is at most a few MB, and the visit
# counts of a 16M-step run (2 int64 arrays of at most a cell a step) stay under 256 MiB.
MAX_BYTES = 1 << 30


# The config's keys that are not Options fields: the run's seed, its preset's name, and for the
# learner a run of several kept, {"seed", "learners", "learner"} of that run (tools/run.py).
RUN_KEYS = ("seed", "preset", "learner_of")


class CheckpointError(ValueError):
    """A file is not a usable minipg checkpoint, or does not fit the run it is loaded into."""


@dataclass
class Checkpoint:
    """A checkpoint's contents: `config` ({Options field: value} and RUN_KEYS) and `state`
    (a SolverState.state_dict() tree, its arrays read from the file)."""

    path: str
    config: dict
    state: dict

    @property
    def options(self):
        """The Options the run was trained with (CheckpointError if the saved fields are not valid)."""
        fields = {name: value for name, value in self.config.items() if name not in RUN_KEYS}
        try:
            return Options.from_dict(fields)
        except (OptionsError, TypeError) as error:
            raise CheckpointError(f"{self.path}: corrupt checkpoint (config: {error})") from None

    @property
    def epoch(self):
        """Epochs completed."""
        return len(self.state["history"]["loss"])

    @property
    def history(self):
        """{metric: list of per-epoch values}."""
        return {key: values.tolist() for key, values in self.state["history"].items()}

    @property
    def architecture(self):
        """The saved policy's Policy.architecture()."""
        return self.state["policy"]["architecture"]


# ------------------------------------------------------------------------------ saving
def save_checkpoint(path, state, config):
    """Write the SolverState `state` (its policy included) and the JSON-able `config` to `path`,
    atomically; parent directories are created.  Returns `path`."""
    tensors = {}
    tree = _to_json(state.state_dict(), "", tensors)
    metadata = {"format": FORMAT, "version": str(VERSION), "config": json.dumps(config, default=_json_value),
                "state": json.dumps(tree, default=_json_value)}
    data = safetensors.numpy.save(tensors, metadata=metadata)
    write_atomically(path, lambda file: file.write(data))
    return path


def _to_json(node, name, tensors):
    """`node` with each array moved into `tensors` under its dotted path and replaced by a reference."""
    if isinstance(node, np.ndarray):
        tensors[name] = np.ascontiguousarray(node)
        return {"tensor": name}
    if isinstance(node, dict):
        return {key: _to_json(value, f"{name}.{key}" if name else key, tensors) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [_to_json(value, f"{name}.{i}", tensors) for i, value in enumerate(node)]
    return node


def _json_value(value):
    """A NumPy scalar as the Python number JSON can write (an np.int64 seed, a float32 count)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_atomically(path, write):
    """write(binary file) to a temporary file beside `path`, fsync, then os.replace over `path`.

    A crash at any moment leaves the old file or the new one, never a partial file; parent
    directories are created.  Used for every file a run writes whole (checkpoints, CSVs, JSON).
    Raises OSError (EINVAL) naming `path` if it exists and is not a regular file (a device, a
    FIFO, a socket, a directory): replacing it would destroy it, not write to it.
    """
    path = os.fspath(path)
    if os.path.exists(path) and special_file(path):  # the rename would put a file in a device's place
        raise OSError(errno.EINVAL, f"not a regular file ({special_file(path)}); not replaced", path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Same directory, so os.replace is a rename within one filesystem.  O_EXCL: never clobber
    # another writer's temporary file; mode 0o666 is narrowed by the umask as usual.
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    try:  # make the rename itself durable, where a directory can be opened (POSIX)
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def special_file(path):
    """What the existing `path` is if not a regular file ('a character device', 'a FIFO', ...),
    else None; symbolic links are followed."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
             stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


# ----------------------------------------------------------------------------- loading
def load_checkpoint(path):
    """Read the checkpoint at `path`.

    Raises FileNotFoundError if there is no such file, and CheckpointError naming the path for
    anything else: an empty, truncated, damaged or oversized file, another program's file, an
    .npz checkpoint of minipg 0.1, another format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no checkpoint file", path)
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (the file is empty)")
    if size > MAX_BYTES:
        raise CheckpointError(f"{path}: not a minipg checkpoint ({size:,} bytes; a checkpoint has at most "
                              f"{MAX_BYTES:,})")
    with open(path, "rb") as file:
        if file.read(2) == b"PK":
            raise CheckpointError(f"{path}: an .npz archive, the checkpoint format of minipg 0.1; this minipg "
                                  "reads its safetensors checkpoints only (train again, or resume with minipg 0.1)")
    try:
        with safetensors.safe_open(path, framework="np") as file:
            metadata = file.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a minipg checkpoint (a safetensors file without minipg's "
                                      "format tag)")
            if metadata.get("version") != str(VERSION):
                raise CheckpointError(f"{path}: checkpoint format version {metadata.get('version')}, this minipg "
                                      f"reads version {VERSION}")
            config, tree = json.loads(metadata["config"]), json.loads(metadata["state"])
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except CheckpointError:
        raise
    except safetensors.SafetensorError as error:  # the library's checks of the header and the tensors
        raise CheckpointError(f"{path}: truncated, corrupt or not a checkpoint (safetensors: "
                              f"{one_line(error)})") from None
    except (OSError, KeyError, ValueError, RecursionError) as error:  # the metadata's JSON
        raise CheckpointError(f"{path}: truncated, corrupt or not a checkpoint ({one_line(error)})") from None
    try:
        state = _from_json(tree, tensors)
        if not isinstance(config, dict) or not isinstance(state, dict) or not isinstance(state["history"], dict):
            raise ValueError("config and state are JSON objects, with a history")
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt checkpoint (state: {one_line(error)})") from None
    return Checkpoint(path, config, state)


def _from_json(node, tensors):
    """The tree with each {"tensor": name} reference replaced by that tensor (KeyError if absent)."""
    if isinstance(node, dict):
        if set(node) == {"tensor"}:
            return tensors[node["tensor"]]
        return {key: _from_json(value, tensors) for key, value in node.items()}
    if isinstance(node, list):
        return [_from_json(value, tensors) for value in node]
    return node


def one_line(error):
    """An exception's message on one line (KeyError's repr quotes included)."""
    return " ".join(str(error).split()) or type(error).__name__


# --------------------------------------------------------------------------- restoring
def restore(checkpoint, target):
    """target.load_state_dict(the part of the checkpoint's state it takes), the error turned into
    CheckpointError naming the file: `target` a SolverState (the whole run) or a Policy."""
    state = checkpoint.state if hasattr(target, "parts") else checkpoint.state["policy"]
    try:
        target.load_state_dict(state)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, KeyError):
            error = f"{error} missing"
        raise CheckpointError(f"{checkpoint.path}: checkpoint does not fit ({one_line(error)})") from None
    return target


def resume(checkpoint, env):
    """The checkpointed run's SolverState (its policy in `.policy`) for `env`, as the run saved it:
    built from the saved options, then restored.  Raises CheckpointError if the env's spaces
    do not fit the saved policy, or the state does not fit its options."""
    options = checkpoint.options
    try:
        policy = make_policy(env, options, checkpoint.config.get("seed"))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{checkpoint.path}: the saved policy cannot act in this environment ({error})") from None
    return restore(checkpoint, new_state(policy, options))


def load_policy(path, env=None):
    """The trained policy of the checkpoint at `path` (and the run's observation normalizer, or
    None): (policy, normalizer), e.g. to evaluate it.  env: a gymnasium env or vector env for
    its spaces (default: the saved task's).  Raises CheckpointError or FileNotFoundError."""
    checkpoint = load_checkpoint(path)
    env = make_env(checkpoint.options.env, 1) if env is None else env
    state = resume(checkpoint, env)
    return state.policy, state.observation_normalizer
