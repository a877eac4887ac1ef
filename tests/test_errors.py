"""Reliability: bad inputs and faults end in a clear error, never in a traceback from NumPy.

One table (CASES) lists each bad input or fault, the error it must raise and a fragment of
its message.  API cases raise an exception whose raising frame is minipg's own check (not
deep inside NumPy); script cases run `minipg.tools.cli.main` as the scripts do and must exit with
argparse's usage status 2 and "prog: error: ..." on stderr, without a traceback: after
argparse's usage block for a flag that cannot parse (Usage), as one line for a run the flags
describe but that cannot start (Fails: an env that cannot be made, spaces that do not fit,
more memory than the machine has).

Faults during a script's run (SIGTERM, a full disk, a lost permission) are injected by
replacing one function for the case (`with_patch`); they must end with their exit status and
at most one line on stderr.

After the table: the NaN guard (training stops naming the epoch, the script exits 1 and keeps
the outputs of the good epochs), what a full disk leaves behind, and two real subprocesses for
the exit statuses.
"""

import csv
import errno
import itertools
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import gymnasium
import numpy as np
import pytest
import safetensors.numpy
from gymnasium import spaces

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from conftest import assert_same_state, stand_in_env  # noqa: E402
from minipg.tools import checkpoint, cli  # noqa: E402
from minipg.tools import run as run_module  # noqa: E402
from minipg.tools.checkpoint import CheckpointError, load_checkpoint, restore, resume  # noqa: E402
from minipg.envs import make_env  # noqa: E402
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError  # noqa: E402
from minipg.reinforce import reinforce  # noqa: E402

NUMPY_DIR = Path(np.__file__).resolve().parent
SCRIPTS = {"cartpole": run_cartpole.CARTPOLE, "swingup": run_swingup.SWINGUP}
TINY = ["--num-envs", "4", "--T", "20", "--epochs", "1", "--eval", "0"]


# ------------------------------------------------------------------ stand-ins
def box(*shape):
    return spaces.Box(-1.0, 1.0, shape=shape, dtype=np.float64)


def spaces_env(observation_space, action_space):
    return SimpleNamespace(observation_space=observation_space, action_space=action_space)


def categorical(hidden=()):
    return CategoricalPolicy(stand_in_env(4, spaces.Discrete(2)), hidden=hidden, seed=0)


def gaussian():
    return DiagonalGaussianPolicy(stand_in_env(5, box(1)), hidden=(8,), seed=0)


def batch(T=3, E=2, obs_dim=4):
    """A valid CartPole-sized batch: states (T, E, 4), integer actions, returns, mask."""
    rng = np.random.default_rng(0)
    return (rng.normal(size=(T, E, obs_dim)), rng.integers(0, 2, size=(T, E)),
            rng.normal(size=(T, E)), np.ones((T, E), dtype=bool))


def with_value(array, index, value):
    array = np.array(array, dtype=float)
    array[index] = value
    return array


class Faulty(gymnasium.vector.VectorWrapper):
    """A vector env that, in its `bad_epoch`-th rollout (counted by resets), returns a NaN (or
    `value`) as one reward or as one observation entry."""

    def __init__(self, env, bad_epoch, where="reward", value=np.nan):
        super().__init__(env)
        self.resets, self.bad_epoch, self.where, self.value = 0, bad_epoch, where, value

    def reset(self, **kwargs):
        self.resets += 1
        return self.env.reset(**kwargs)

    def step(self, actions):
        observations, rewards, terminated, truncated, info = self.env.step(actions)
        if self.resets == self.bad_epoch:
            if self.where == "reward":
                rewards = with_value(rewards, 0, self.value)
            else:
                observations = with_value(observations, (0, 0), self.value)
        return observations, rewards, terminated, truncated, info


def train_faulty(bad_epoch, where="reward", value=np.nan, history=None):
    env = Faulty(make_env("CartPole-v0", 4), bad_epoch, where, value)
    agent = CategoricalPolicy(env, seed=0)
    return reinforce(env, agent, epochs=5, T=20, seed=0, history=history)


def train_cartpole(**kwargs):
    env = make_env("CartPole-v0", 2)
    settings = dict(epochs=1, T=5, seed=0)
    settings.update(kwargs)
    return reinforce(env, CategoricalPolicy(env, seed=0), **settings)


# ------------------------------------------------------------------ files for --load
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Checkpoints of each script (1 tiny epoch) and files that are not checkpoints."""
    root = tmp_path_factory.mktemp("checkpoints")
    paths = {"cartpole": root / "cartpole.safetensors", "swingup": root / "swingup.safetensors"}
    cli.main(run_cartpole.CARTPOLE, TINY + ["--save", str(paths["cartpole"]), "--plot", str(root / "c.png")])
    cli.main(run_swingup.SWINGUP, TINY + ["--hidden", "8", "--save", str(paths["swingup"]),
                                          "--plot", str(root / "s.png")])
    data = paths["cartpole"].read_bytes()
    paths["truncated"] = root / "truncated.safetensors"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["empty"] = root / "empty.safetensors"
    paths["empty"].write_bytes(b"")
    paths["text"] = root / "notes.safetensors"
    paths["text"].write_text("not a checkpoint\n")
    paths["foreign"] = root / "foreign.safetensors"
    paths["foreign"].write_bytes(safetensors.numpy.save({"weights": np.ones(3)}))
    paths["npz"] = root / "old.npz"
    np.savez(paths["npz"], weights=np.ones(3))
    # a 4 kB file whose header declares 10^11 float64 (745 GiB)
    header = json.dumps({"param": {"dtype": "F64", "shape": [10**11], "data_offsets": [0, 8 * 10**11]}}).encode()
    paths["crafted"] = root / "crafted.safetensors"
    paths["crafted"].write_bytes(struct.pack("<Q", len(header)) + header + bytes(4000))
    paths["missing"] = root / "missing.safetensors"
    paths["dir"] = root
    paths["read_only_dir"] = root / "read-only"
    paths["read_only_dir"].mkdir(mode=0o555)
    paths["read_only_file"] = root / "read-only.gif"
    paths["read_only_file"].touch(mode=0o444)
    paths["fifo"] = root / "fifo.csv"
    os.mkfifo(paths["fifo"])
    paths["link"] = root / "link.safetensors"  # a symbolic link to the cartpole checkpoint
    paths["link"].symlink_to(paths["cartpole"])
    paths["device"] = os.devnull  # a character device on POSIX
    return paths


def script(name, *flags):
    """A case that runs one script's main with flags ({name} in a flag: a path from `files`)."""
    def run(files):
        argv = [str(flag).format(**files) for flag in flags]
        plot = [] if "--plot" in argv else ["--plot", str(files["cartpole"].parent / "x.png")]
        cli.main(SCRIPTS[name], TINY + argv + plot)
    return run


class Usage:
    """Expected outcome of a script case: SystemExit(2) and this fragment on stderr ({name}: a
    path from `files`), before any training."""

    def __init__(self, fragment):
        self.fragment = fragment


class Fails(Usage):
    """Expected outcome of a script case whose flags parse but whose run cannot start:
    SystemExit(2) and one line on stderr, "prog: error: <this fragment ...> (see prog --help)",
    without argparse's usage block, before any training."""


class Exits:
    """Expected outcome of a script case that fails during its run: SystemExit(status), this
    fragment ({name}: a path from `files`) on stderr (stream="out": stdout), and at most one
    line on stderr."""

    def __init__(self, status, fragment, stream="err"):
        self.status, self.fragment, self.stream = status, fragment, stream


# ------------------------------------------------------------------ faults during a script's run
def with_patch(owner, name, make, case):
    """`case` run with owner.name replaced by make(the original)."""
    def run(files):
        with mock.patch.object(owner, name, make(getattr(owner, name))):
            case(files)
    return run


def disk_full_after(writes):
    """For write_atomically: `writes` files are written, then every write fails part-way with
    ENOSPC, as on a disk that filled up (the real write_atomically cleans up after it)."""
    def make(write_atomically):
        count = itertools.count(1)

        def filling_up(path, write):
            def write_until_full(file):
                file.write(b"PK\x03\x04 the first bytes")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return write_atomically(path, write if next(count) <= writes else write_until_full)
        return filling_up
    return make


def permission_lost(writer):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    return refused


def after_progress_of_epoch(epoch, act):
    """For format_progress: act() once epoch `epoch` has ended, before its outputs are written."""
    def make(format_progress):
        def progress(index, epochs, history):
            if index + 1 == epoch:
                act()
            return format_progress(index, epochs, history)
        return progress
    return make


def replace_directory_by_a_file(path):
    shutil.rmtree(path)
    Path(path).write_text("")


# ------------------------------------------------------------------ the table
CASES = [
    # --- spaces a policy cannot handle
    ("categorical-multidiscrete-actions",
     lambda f: CategoricalPolicy(stand_in_env(4, spaces.MultiDiscrete([2, 3]))),
     TypeError, "CategoricalPolicy needs a Discrete action space"),
    ("dict-observations",
     lambda f: CategoricalPolicy(spaces_env(spaces.Dict({"x": box(4)}), spaces.Discrete(2))),
     TypeError, "flat Box observation space"),
    ("tuple-observations",
     lambda f: DiagonalGaussianPolicy(spaces_env(spaces.Tuple((box(2), box(2))), box(1))),
     TypeError, "flat Box observation space"),
    ("image-observations",
     lambda f: CategoricalPolicy(spaces_env(spaces.Box(0, 255, (8, 8, 3), np.uint8), spaces.Discrete(2))),
     TypeError, "flat Box observation space"),
    ("2d-box-observations",
     lambda f: DiagonalGaussianPolicy(spaces_env(box(4, 4), box(1))),
     TypeError, "flat Box observation space"),
    ("categorical-box-actions",
     lambda f: CategoricalPolicy(stand_in_env(4, box(1))),
     TypeError, "CategoricalPolicy needs a Discrete action space"),
    ("gaussian-discrete-actions",
     lambda f: DiagonalGaussianPolicy(stand_in_env(4, spaces.Discrete(2))),
     TypeError, "DiagonalGaussianPolicy needs a Box action space"),
    ("gaussian-2d-box-actions",
     lambda f: DiagonalGaussianPolicy(stand_in_env(4, box(2, 2))),
     TypeError, "DiagonalGaussianPolicy needs a Box action space of shape (act_dim,)"),
    ("script-box-actions-for-categorical", script("cartpole", "--env", "Pendulum-v1"),
     SystemExit, Fails("Pendulum-v1: CategoricalPolicy needs a Discrete action space")),
    # --- wrong shapes and dtypes
    ("pi-states-last-dim",
     lambda f: categorical().pi(np.zeros((3, 5))),
     ValueError, "states must have shape (..., 4) (obs_dim = 4), got shape (3, 5)"),
    ("act-scalar-state",
     lambda f: categorical().act(np.float64(1.0)),
     ValueError, "states must have shape (..., 4)"),
    ("act-string-states",
     lambda f: categorical().act(np.array([["a", "b", "c", "d"]])),
     TypeError, "states must be numeric"),
    ("learn-states-last-dim",
     lambda f: categorical().learn(np.zeros((3, 2, 3)), *batch()[1:3]),
     ValueError, "states must have shape (..., 4)"),
    ("learn-float-actions-for-categorical",
     lambda f: categorical().learn(batch()[0], batch()[1].astype(float), batch()[2]),
     TypeError, "actions of a Discrete space must be integers"),
    ("learn-action-out-of-range",
     lambda f: categorical().learn(batch()[0], np.full((3, 2), 2), batch()[2]),
     ValueError, "actions must lie in [0, 2)"),
    ("learn-negative-action",
     lambda f: categorical().learn(batch()[0], np.full((3, 2), -1), batch()[2]),
     ValueError, "actions must lie in [0, 2)"),
    ("learn-actions-shape",
     lambda f: categorical().learn(batch()[0], np.zeros((3, 2, 1), dtype=int), batch()[2]),
     ValueError, "actions must have shape (3, 2)"),
    ("gaussian-actions-shape",
     lambda f: gaussian().learn(np.zeros((3, 2, 5)), np.zeros((3, 2)), np.zeros((3, 2))),
     ValueError, "actions must have shape (3, 2, 1)"),
    ("loss-returns-shape",
     lambda f: categorical().loss_and_grads(*batch()[:2], np.zeros((2, 3))),
     ValueError, "advantages must have shape (3, 2)"),
    ("loss-mask-shape",
     lambda f: categorical().loss_and_grads(*batch()[:3], mask=np.ones((3,), dtype=bool)),
     ValueError, "mask must be a bool array of shape (3, 2)"),
    ("loss-mask-dtype",
     lambda f: categorical().loss_and_grads(*batch()[:3], mask=np.ones((3, 2))),
     ValueError, "mask must be a bool array"),
    ("loss-mask-all-false",
     lambda f: categorical().loss_and_grads(*batch()[:3], mask=np.zeros((3, 2), dtype=bool)),
     ValueError, "no valid samples"),
    # --- NaN and inf in inputs
    ("pi-nan-states",
     lambda f: categorical().pi(with_value(np.zeros((2, 4)), (1, 2), np.nan)),
     NonFiniteError, "states contain NaN or inf"),
    ("learn-inf-states",
     lambda f: categorical().learn(with_value(batch()[0], (0, 0, 0), np.inf), *batch()[1:3]),
     NonFiniteError, "states contain NaN or inf"),
    ("learn-nan-returns",
     lambda f: categorical().learn(*batch()[:2], with_value(batch()[2], (2, 1), np.nan)),
     NonFiniteError, "advantages contain NaN or inf"),
    ("learn-inf-returns",
     lambda f: categorical().learn(*batch()[:2], with_value(batch()[2], (0, 0), -np.inf)),
     NonFiniteError, "advantages contain NaN or inf"),
    ("gaussian-nan-actions",
     lambda f: gaussian().learn(np.zeros((3, 2, 5)), with_value(np.zeros((3, 2, 1)), (0, 0, 0), np.nan),
                                np.zeros((3, 2))),
     ValueError, "actions contain NaN or inf"),
    # --- hyperparameters out of range, API
    ("lr-zero", lambda f: CategoricalPolicy(stand_in_env(4, spaces.Discrete(2)), lr=0.0),
     ValueError, "learning rate must be a positive finite number"),
    ("lr-negative", lambda f: DiagonalGaussianPolicy(stand_in_env(4, box(1)), lr=-1e-3),
     ValueError, "learning rate must be a positive finite number"),
    ("lr-nan", lambda f: CategoricalPolicy(stand_in_env(4, spaces.Discrete(2)), lr=float("nan")),
     ValueError, "learning rate must be a positive finite number"),
    ("gamma-above-1", lambda f: train_cartpole(gamma=1.5), ValueError, "gamma must lie in [0, 1]"),
    ("gamma-negative", lambda f: train_cartpole(gamma=-0.1), ValueError, "gamma must lie in [0, 1]"),
    ("gamma-nan", lambda f: train_cartpole(gamma=float("nan")), ValueError, "gamma must lie in [0, 1]"),
    ("T-zero", lambda f: train_cartpole(T=0), ValueError, "T must be a positive integer"),
    ("epochs-zero", lambda f: train_cartpole(epochs=0), ValueError, "epochs must be a positive integer"),
    ("epochs-float", lambda f: train_cartpole(epochs=2.5), ValueError, "epochs must be a positive integer"),
    ("hidden-zero", lambda f: categorical(hidden=(0,)), ValueError, "hidden sizes must be positive integers"),
    ("hidden-negative", lambda f: categorical(hidden=(8, -4)), ValueError, "hidden sizes must be positive integers"),
    ("num-envs-zero", lambda f: make_env("CartPole-v0", 0), ValueError, "num_envs must be a positive integer"),
    ("log-std-init-too-large",
     lambda f: DiagonalGaussianPolicy(stand_in_env(4, box(1)), log_std_init=3.0),
     ValueError, "log_std_init must lie in [-5.0, 2.0]"),
    ("log-std-init-nan",
     lambda f: DiagonalGaussianPolicy(stand_in_env(4, box(1)), log_std_init=float("nan")),
     ValueError, "log_std_init must lie in [-5.0, 2.0]"),
    ("vectorization-unknown", lambda f: make_env("CartPole-v0", 2, "gpu"),
     ValueError, "vectorization must be one of"),
    # --- hyperparameters out of range, scripts
    ("script-lr-zero", script("cartpole", "--lr", "0"),
     SystemExit, Usage("argument --lr: expected a positive finite number, got '0'")),
    ("script-lr-nan", script("swingup", "--lr", "nan"),
     SystemExit, Usage("argument --lr: expected a positive finite number")),
    ("script-gamma-1.5", script("cartpole", "--gamma", "1.5"),
     SystemExit, Usage("argument --gamma: expected a number in [0, 1], got '1.5'")),
    ("script-num-envs-zero", script("swingup", "--num-envs", "0"),
     SystemExit, Usage("argument --num-envs: expected a positive integer, got '0'")),
    ("script-T-zero", script("cartpole", "--T", "0"),
     SystemExit, Usage("argument --T: expected a positive integer, got '0'")),
    ("script-epochs-zero", script("swingup", "--epochs", "0"),
     SystemExit, Usage("argument --epochs: expected a positive integer, got '0'")),
    ("script-hidden-zero", script("cartpole", "--hidden", "0"),
     SystemExit, Usage("argument --hidden: expected a positive integer, got '0'")),
    ("script-eval-negative", script("cartpole", "--eval", "-1"),
     SystemExit, Usage("argument --eval: expected a non-negative integer")),
    ("script-log-std-init-out-of-range", script("swingup", "--log-std-init", "9"),
     SystemExit, Fails("log_std_init must lie in [-5.0, 2.0], got 9.0")),
    ("script-save-every-without-save", script("cartpole", "--save-every", "2"),
     SystemExit, Usage("--save-every needs --save PATH")),
    ("script-update-epochs-without-clip-ratio", script("cartpole", "--update-epochs", "4"),
     SystemExit, Usage("--update-epochs and --minibatch-size need --clip-ratio")),
    ("script-clip-ratio-zero", script("swingup", "--clip-ratio", "0"),
     SystemExit, Usage("argument --clip-ratio: expected a positive finite number or 'none', got '0'")),
    ("script-minibatch-size-zero", script("swingup", "--minibatch-size", "0"),
     SystemExit, Usage("argument --minibatch-size: expected a positive integer or 'none', got '0'")),
    ("script-terminal-value-without-gae", script("swingup", "--gae-lambda", "none", "--no-bootstrap"),
     SystemExit, Usage("--terminal-value needs --gae-lambda (it is V after a termination, in GAE)")),
    ("script-terminal-value-inf", script("swingup", "--terminal-value", "inf"),
     SystemExit, Usage("argument --terminal-value: expected a finite number, got 'inf'")),
    # --- unknown environment ids
    ("env-unknown", lambda f: make_env("NoSuchEnv-v0", 2), ValueError, "unknown environment id 'NoSuchEnv-v0'"),
    ("script-env-unknown", script("cartpole", "--env", "NoSuchEnv-v0"),
     SystemExit, Usage("argument --env: unknown environment id 'NoSuchEnv-v0'")),
    # --- checkpoints, API
    ("load-missing", lambda f: load_checkpoint(f["missing"]), FileNotFoundError, "no checkpoint file"),
    ("load-truncated", lambda f: load_checkpoint(f["truncated"]), CheckpointError, "truncated, corrupt or not"),
    ("load-empty", lambda f: load_checkpoint(f["empty"]), CheckpointError, "truncated or corrupt"),
    ("load-text-file", lambda f: load_checkpoint(f["text"]), CheckpointError, "truncated, corrupt or not a checkpoint"),
    ("load-foreign-safetensors", lambda f: load_checkpoint(f["foreign"]), CheckpointError,
     "not a minipg checkpoint (a safetensors file without minipg's format tag)"),
    ("load-npz", lambda f: load_checkpoint(f["npz"]), CheckpointError,
     "an .npz archive, the checkpoint format of minipg 0.1"),
    ("load-crafted-huge-shape", lambda f: load_checkpoint(f["crafted"]), CheckpointError,
     "truncated, corrupt or not a checkpoint (safetensors: "),
    ("restore-other-hidden",
     lambda f: restore(load_checkpoint(f["cartpole"]), categorical(hidden=(8,))),
     CheckpointError, "checkpoint does not fit (the saved policy is CategoricalPolicy(obs_dim=4, act_dim=2, "
                      "hidden=(), dtype=float64), this one differs in hidden: () saved, (8,) here)"),
    ("restore-other-policy-class",
     lambda f: restore(load_checkpoint(f["swingup"]), categorical()),
     CheckpointError, "this one differs in policy: DiagonalGaussianPolicy saved, CategoricalPolicy here; obs_dim: "
                      "5 saved, 4 here; act_dim: 1 saved, 2 here; hidden: (8,) saved, () here"),
    ("resume-other-env",
     lambda f: resume(load_checkpoint(f["swingup"]), make_env("CartPole-v1", 1)),
     CheckpointError, "the saved policy cannot act in this environment"),
    # --- checkpoints, scripts
    ("script-load-missing", script("cartpole", "--load", "{missing}"),
     SystemExit, Usage("--load: [Errno 2] no checkpoint file")),
    ("script-load-truncated", script("cartpole", "--load", "{truncated}"),
     SystemExit, Usage("truncated, corrupt or not a checkpoint")),
    ("script-load-not-a-checkpoint", script("swingup", "--load", "{text}"),
     SystemExit, Usage("truncated, corrupt or not a checkpoint")),
    ("script-load-npz", script("swingup", "--load", "{npz}"),
     SystemExit, Usage("run_swingup.py: error: --load: {npz}: an .npz archive, the checkpoint format of minipg 0.1; "
                       "this minipg reads its safetensors checkpoints only")),
    ("script-load-crafted-huge-shape", script("cartpole", "--load", "{crafted}"),
     SystemExit, Usage("run_cartpole.py: error: --load: {crafted}: truncated, corrupt or not a checkpoint "
                       "(safetensors: ")),
    ("script-load-other-env", script("cartpole", "--load", "{cartpole}", "--env", "CartPole-v1"),
     SystemExit, Usage("was trained on CartPole-v0, not on --env CartPole-v1")),
    ("script-load-other-architecture", script("cartpole", "--load", "{cartpole}", "--hidden", "8"),
     SystemExit, Usage("--load: {cartpole} was trained with --hidden (none); --hidden cannot change in a "
                       "resumed run (got --hidden 8)")),
    ("script-load-swingup-checkpoint-in-cartpole", script("cartpole", "--load", "{swingup}"),
     SystemExit, Usage("is a checkpoint of DiagonalGaussianPolicy(obs_dim=5, act_dim=1, hidden=(8,)")),
    ("script-load-cartpole-checkpoint-in-swingup", script("swingup", "--load", "{cartpole}"),
     SystemExit, Usage("run_swingup.py trains a DiagonalGaussianPolicy")),
    ("script-load-swingup-checkpoint-names-the-script", script("cartpole", "--load", "{swingup}"),
     SystemExit, Usage("run_cartpole.py trains a CategoricalPolicy")),
    # --- output paths that cannot be written: refused before training, without creating anything
    ("script-save-under-a-file", script("cartpole", "--save", "{text}/run.safetensors"),
     SystemExit, Usage("argument --save: cannot write {text}/run.safetensors: {text}: Not a directory")),
    ("script-csv-is-a-directory", script("swingup", "--csv", "{dir}"),
     SystemExit, Usage("argument --csv: cannot write {dir}: Is a directory")),
    ("script-plot-under-a-file", script("cartpole", "--plot", "{text}/figures/curve.png"),
     SystemExit, Usage("argument --plot: cannot write {text}/figures/curve.png: {text}: Not a directory")),
    ("script-gif-read-only-file", script("cartpole", "--gif", "{read_only_file}"),
     SystemExit, Usage("argument --gif: cannot write {read_only_file}: Permission denied")),
    ("script-save-in-read-only-directory", script("swingup", "--save", "{read_only_dir}/new/run.safetensors"),
     SystemExit, Usage("argument --save: cannot write {read_only_dir}/new/run.safetensors: {read_only_dir}: "
                       "Permission denied")),
    ("script-csv-is-a-device", script("cartpole", "--csv", "{device}"),
     SystemExit, Usage("argument --csv: cannot write {device}: not a regular file (a character device)")),
    ("script-save-is-a-fifo", script("swingup", "--save", "{fifo}"),
     SystemExit, Usage("argument --save: cannot write {fifo}: not a regular file (a FIFO)")),
    ("write-atomically-over-a-fifo", lambda f: checkpoint.write_atomically(f["fifo"], lambda file: file.write(b"x")),
     OSError, "not a regular file (a FIFO); not replaced"),
    # --- one file named by two output flags (as the OS resolves it), refused before training
    ("script-save-and-csv-one-file", script("cartpole", "--save", "x.npz", "--csv", "x.npz"),
     SystemExit, Usage("argument --csv: x.npz is also the file of --save; each output needs a file of its own")),
    ("script-save-and-gif-one-file", script("cartpole", "--save", "g.gif", "--gif", "g.gif"),
     SystemExit, Usage("argument --gif: g.gif is also the file of --save")),
    ("script-csv-and-plot-one-file-by-relative-paths", script("cartpole", "--csv", "y.png", "--plot", "./y.png"),
     SystemExit, Usage("argument --plot: ./y.png is also the file of --csv (y.png)")),
    ("script-save-over-a-symbolic-link-to-load", script("cartpole", "--load", "{cartpole}", "--csv", "{link}"),
     SystemExit, Usage("argument --csv: {link} is also the file of --load ({cartpole})")),
    ("script-seeds-suffixed-csv-is-the-results-file",
     script("cartpole", "--seeds", "1", "2", "--csv", "r.csv", "--results", "r-seed2.csv"),
     SystemExit, Usage("argument --results: r-seed2.csv is also the file of --csv")),
    # --- output formats, checked before training
    ("script-plot-format-unknown", script("cartpole", "--plot", "curve.txt", "--save", "c.npz"),
     SystemExit, Usage("argument --plot: curve.txt: the format '.txt' cannot be written; --plot writes one of "
                       ".avif, .eps")),
    ("script-gif-format-unknown", script("swingup", "--gif", "a.mp4"),
     SystemExit, Usage("argument --gif: a.mp4: the format '.mp4' cannot be written; --gif writes .gif")),
    # --- sizes no machine has: refused before allocating
    # 10^20 · 4 envs · (obs_dim 4 + 1 action + 4) · 8 bytes = 2.7e13 GiB of rollout buffers
    ("script-T-beyond-memory", script("cartpole", "--T", "99999999999999999999"),
     SystemExit, Fails("CartPole-v0: the run would need about 2.7e+13 GiB of memory, more than this machine's")),
    ("script-T-beyond-memory-names-the-flags", script("cartpole", "--T", "99999999999999999999"),
     SystemExit, Fails("most of it rollout buffers (--T 99999999999999999999 × --num-envs 4: ")),
    ("script-hidden-beyond-memory", script("swingup", "--hidden", "1000000", "1000000"),
     SystemExit, Fails("most of it networks and Adam's moments (--hidden 1000000 1000000, --value-hidden 64 64: ")),
    # --- seeds
    ("script-seeds-duplicate", script("cartpole", "--seeds", "0", "0", "1"),
     SystemExit, Usage("argument --seeds: each seed once (a seed's run and files are a function of it), given "
                       "more than once: 0")),
    ("script-seed-negative", script("cartpole", "--seed", "-1"),
     SystemExit, Usage("argument --seed: expected a non-negative integer, got '-1'")),
    ("script-seeds-negative", script("swingup", "--seeds", "0", "-1"),
     SystemExit, Usage("argument --seeds: expected a non-negative integer, got '-1'")),
    # --- --cluster addresses, parsed before connecting
    ("script-cluster-inproc", script("cartpole", "--seeds", "0", "1", "--cluster", "inproc://x"),
     SystemExit, Usage("argument --cluster: expected 'slurm' or a scheduler address tcp://HOST:PORT (or HOST:PORT); "
                       "inproc:// is not a scheduler this process can reach, got 'inproc://x'")),
    ("script-cluster-port-out-of-range", script("cartpole", "--seeds", "0", "1", "--cluster", "localhost:99999"),
     SystemExit, Usage("argument --cluster: expected 'slurm' or a scheduler address tcp://HOST:PORT (or HOST:PORT), "
                       "with a port in 1-65535, got 'localhost:99999'")),
    ("script-cluster-without-port", script("cartpole", "--seeds", "0", "1", "--cluster", "tcp://localhost"),
     SystemExit, Usage("with a port in 1-65535, got 'tcp://localhost'")),
    # --- "module:EnvId" of a module that cannot be imported
    ("script-env-module-missing", script("cartpole", "--env", "no_such_module_of_minipg:Foo-v0"),
     SystemExit, Usage("argument --env: environment id 'no_such_module_of_minipg:Foo-v0': cannot import "
                       "'no_such_module_of_minipg', the module that registers Foo-v0 (ModuleNotFoundError: ")),
    # --- faults during a script's run: what was done is written, one message, no traceback
    ("script-sigterm",
     with_patch(run_module, "format_progress", after_progress_of_epoch(1, lambda: os.kill(os.getpid(), signal.SIGTERM)),
                script("cartpole", "--epochs", "3", "--save", "run.safetensors")),
     SystemExit, Exits(143, "SIGTERM: stopping after this step", stream="out")),
    ("script-disk-full-writing-a-checkpoint",
     with_patch(checkpoint, "write_atomically", disk_full_after(2),
                script("cartpole", "--epochs", "4", "--save", "run.safetensors", "--save-every", "1")),
     SystemExit, Exits(74, "run_cartpole.py: error: cannot write run.safetensors: No space left on device. "
                           "Epochs trained: 3; last complete checkpoint: epoch 2 at run.safetensors")),
    ("script-disk-full-writing-the-csv",
     with_patch(run_module, "write_atomically", disk_full_after(1),
                script("swingup", "--epochs", "4", "--csv", "run.csv", "--save", "run.safetensors")),
     SystemExit, Exits(74, "run_swingup.py: error: cannot write run.csv: No space left on device. "
                           "Epochs trained: 2; last complete CSV: epoch 1 at run.csv; "
                           "last complete checkpoint: epoch 2 at run.safetensors")),
    ("script-permission-lost-for-the-plot",
     with_patch(run_module, "plot_learning_curves", permission_lost, script("cartpole", "--save", "run.safetensors")),
     SystemExit, Exits(74, "cannot write {dir}/x.png: Permission denied. "
                           "Epochs trained: 1; last complete checkpoint: epoch 1 at run.safetensors")),
    ("script-output-directory-replaced-by-a-file",
     with_patch(run_module, "format_progress", after_progress_of_epoch(2, lambda: replace_directory_by_a_file("out")),
                script("cartpole", "--epochs", "3", "--csv", "out/run.csv")),
     SystemExit, Exits(74, "cannot write out/run.csv: File exists. Epochs trained: 2; no complete checkpoint or CSV")),
    # --- faults during training
    ("train-nan-reward", lambda f: train_faulty(3), NonFiniteError, "advantages contain NaN or inf"),
    ("train-inf-reward", lambda f: train_faulty(2, value=np.inf), NonFiniteError,
     "advantages contain NaN or inf"),
    ("train-overflowing-returns", lambda f: train_faulty(3, value=1e308), NonFiniteError,
     "advantages contain NaN or inf"),
    ("train-nan-observation", lambda f: train_faulty(2, where="observation"), NonFiniteError,
     "states contain NaN or inf"),
]


# Permissions do not stop root, so these cases cannot fail as root.
NEEDS_PERMISSIONS = {"script-gif-read-only-file", "script-save-in-read-only-directory"}
AS_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")


@pytest.mark.parametrize("run, error, expected", [
    pytest.param(run, error, expected, id=name, marks=AS_ROOT if name in NEEDS_PERMISSIONS else ())
    for name, run, error, expected in CASES])
def test_bad_input_gives_a_clear_error(run, error, expected, files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(files["dir"].rglob("*"))
    with pytest.raises(error) as info, np.errstate(over="ignore", invalid="ignore"):
        run(files)
    if isinstance(expected, Usage):
        assert info.value.code == 2
        out, err = capsys.readouterr()
        assert expected.fragment.format(**files) in err
        assert "Traceback" not in err
        assert not re.search(r"^epoch ", out, re.MULTILINE)  # refused before any training
        assert sorted(files["dir"].rglob("*")) == before and not list(tmp_path.iterdir())  # nothing written
        prog = "run_swingup.py" if "run_swingup.py" in err.splitlines()[0] else "run_cartpole.py"
        if isinstance(expected, Fails):  # one line, no usage block
            assert err.splitlines() == [err.strip()]
            assert err.startswith(f"{prog}: error: ") and err.strip().endswith(f" (see {prog} --help)")
        else:
            assert err.splitlines()[0].startswith(f"usage: {prog}")
            assert err.splitlines()[-1].startswith(f"{prog}: error: ")
    elif isinstance(expected, Exits):
        assert info.value.code == expected.status
        out, err = capsys.readouterr()
        assert expected.fragment.format(**files) in (out if expected.stream == "out" else err)
        assert len(err.splitlines()) <= 1 and "Traceback" not in err
    else:
        message = str(info.value)
        assert expected in message
        assert "Traceback" not in message
        raised_in = Path(info.traceback[-1].path).resolve()
        assert NUMPY_DIR not in raised_in.parents, f"raised inside NumPy ({raised_in}): {message}"


def test_the_table_is_large_enough():
    assert len(CASES) >= 18
    assert len({name for name, *_ in CASES}) == len(CASES)


# ------------------------------------------------------------------ the NaN guard
def test_nan_guard_keeps_the_good_epochs_in_history():
    history = {key: [] for key in ("avg_reward", "mean_return", "episodes", "loss", "entropy",
                                   "env_steps", "seconds")}
    with pytest.raises(NonFiniteError, match="advantages contain NaN or inf"):
        train_faulty(3, history=history)  # in epoch 3
    assert all(len(values) == 2 for values in history.values())
    assert np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("where, message", [
    ("reward", "stopped: epoch 3: the environment returned a non-finite reward"),
    ("observation", "stopped: epoch 3: states contain NaN or inf"),
])
def test_script_stops_on_nan_and_keeps_good_outputs(where, message, tmp_path, monkeypatch, capsys):
    real_make_env = run_module.make_env
    monkeypatch.setattr(run_module, "make_env", lambda *args: Faulty(real_make_env(*args), 3, where))
    paths = {name: tmp_path / name for name in ("run.safetensors", "run.csv", "run.png", "run.gif")}
    flags = ["--epochs", "6", "--save", paths["run.safetensors"], "--save-every", "2", "--csv", paths["run.csv"],
             "--plot", paths["run.png"], "--eval", "3", "--gif", paths["run.gif"]]
    with pytest.raises(SystemExit) as stopped:
        cli.main(run_cartpole.CARTPOLE, TINY + [str(flag) for flag in flags])
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Outputs keep the 2 good epochs" in captured.err
    assert "Traceback" not in captured.err
    with open(paths["run.csv"], newline="") as handle:
        assert [row[0] for row in csv.reader(handle)] == ["epoch", "1", "2"]
    assert paths["run.png"].stat().st_size > 0
    assert not paths["run.gif"].exists() and "eval:" not in captured.out  # no eval of a broken run

    # the checkpoint is the last good --save-every one (epoch 2), not overwritten at the end
    kept = load_checkpoint(paths["run.safetensors"])
    assert kept.epoch == 2 and len(kept.history["loss"]) == 2
    assert all(np.isfinite(p).all() for p in kept.state["policy"]["parameters"])
    monkeypatch.setattr(run_module, "make_env", real_make_env)
    clean = tmp_path / "clean.safetensors"
    cli.main(run_cartpole.CARTPOLE, TINY + ["--epochs", "2", "--save", str(clean), "--plot", str(tmp_path / "c.png")])
    for a, b in zip(kept.state["policy"]["parameters"], load_checkpoint(clean).state["policy"]["parameters"]):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ a full disk
@pytest.mark.parametrize("fills_up", ["checkpoint", "csv"])
def test_full_disk_keeps_what_was_done_and_the_run_resumes(fills_up, tmp_path, monkeypatch, capsys):
    """The disk fills up while epoch 3's output is written: training stops, the other outputs
    are written, no temporary file is left, and the last complete checkpoint resumes the run
    exactly."""
    paths = {name: tmp_path / name for name in ("run.safetensors", "run.csv", "run.png", "run.gif")}
    flags = ["--epochs", "4", "--save", paths["run.safetensors"], "--save-every", "1", "--csv", paths["run.csv"],
             "--plot", paths["run.png"], "--eval", "2", "--gif", paths["run.gif"]]
    owner = checkpoint if fills_up == "checkpoint" else run_module
    monkeypatch.setattr(owner, "write_atomically", disk_full_after(2)(owner.write_atomically))
    with pytest.raises(SystemExit) as stopped:
        cli.main(run_cartpole.CARTPOLE, TINY + [str(flag) for flag in flags])
    assert stopped.value.code == cli.EXIT_IO_ERROR == 74
    captured = capsys.readouterr()
    failed = paths["run.safetensors"] if fills_up == "checkpoint" else paths["run.csv"]
    assert captured.err.startswith(f"run_cartpole.py: error: cannot write {failed}: No space left on device.")
    assert "eval:" not in captured.out and not paths["run.gif"].exists()  # the run did not finish
    assert paths["run.png"].stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))
    with open(paths["run.csv"], newline="") as handle:
        rows = 1 + (3 if fills_up == "checkpoint" else 2)  # a failed CSV keeps its previous version
        assert len(list(csv.reader(handle))) == rows
    kept = load_checkpoint(paths["run.safetensors"])
    assert kept.epoch == (2 if fills_up == "checkpoint" else 3)  # epoch 3's, written after the CSV failed

    monkeypatch.undo()
    cli.main(run_cartpole.CARTPOLE, ["--load", str(paths["run.safetensors"]), "--eval", "0",
                                     "--save", str(tmp_path / "resumed.safetensors"), "--plot", str(paths["run.png"])])
    cli.main(run_cartpole.CARTPOLE, TINY + ["--epochs", "4", "--save", str(tmp_path / "straight.safetensors"),
                                          "--plot", str(paths["run.png"])])
    resumed, straight = (load_checkpoint(tmp_path / f"{name}.safetensors") for name in ("resumed", "straight"))
    assert resumed.epoch == straight.epoch == 4
    assert_same_state(resumed.state, straight.state)


# ------------------------------------------------------------------ real processes
def test_usage_error_exit_status_in_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "run_cartpole.py"), "--gamma", "1.5"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "run_cartpole.py: error: argument --gamma: expected a number in [0, 1], got '1.5'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_crafted_checkpoint_in_a_real_process(files, tmp_path):
    """The 4 kB checkpoint that announces 745 GiB: status 2 and one usage line, no MemoryError."""
    result = subprocess.run([sys.executable, str(REPO / "run_cartpole.py"), "--load", str(files["crafted"])],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        f"run_cartpole.py: error: --load: {files['crafted']}: truncated, corrupt or not a checkpoint (safetensors: ")
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_nan_guard_exit_status_in_a_real_process(tmp_path):
    program = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        import run_cartpole
        from minipg.tools import cli
        from minipg.tools import run as run_module
        from test_errors import Faulty
        real_make_env = run_module.make_env
        run_module.make_env = lambda *args: Faulty(real_make_env(*args), 3)
        cli.main(run_cartpole.CARTPOLE, sys.argv[1:])
    """)
    result = subprocess.run([sys.executable, "-c", program, *TINY, "--epochs", "5", "--csv", "run.csv",
                             "--plot", "run.png"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "stopped: epoch 3: the environment returned a non-finite reward" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "run.png").exists()
    assert len((tmp_path / "run.csv").read_text().splitlines()) == 1 + 2


def test_numerical_trouble_ends_in_one_line_in_a_real_process(tmp_path):
    """A reward of 1e308 is finite, but the returns overflow: NumPy would warn ("overflow
    encountered in ...") before minipg's own check stops the run; the script shows one line."""
    program = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        import run_swingup
        from minipg.tools import cli
        from minipg.tools import run as run_module
        from test_errors import Faulty
        real_make_env = run_module.make_env
        run_module.make_env = lambda *args: Faulty(real_make_env(*args), 2, value=1e308)
        cli.main(run_swingup.SWINGUP, sys.argv[1:])
    """)
    result = subprocess.run([sys.executable, "-W", "default", "-c", program, "--num-envs", "4", "--T", "50",
                             "--hidden", "8", "--value-steps", "2", "--epochs", "3", "--eval", "0",
                             "--plot", "run.png"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "stopped: epoch 2: advantages contain NaN or inf. Outputs keep the 1 good epochs; the last "
        "checkpoint written before this epoch is kept."]
