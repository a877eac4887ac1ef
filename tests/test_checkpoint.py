"""Checkpoints: a restored policy continues the run exactly, writes are atomic, and every kind
of bad file fails with a clear error, crafted ones included (refused before the member they
abuse is decompressed or an array allocated, with little memory).

"Exactly" means bitwise: a policy restored from a checkpoint samples the same actions (same
generator stream), assigns the same log-probabilities and takes the same next Adam step as
the policy that was saved, and a training run resumed from a checkpoint ends with the same
parameters as the run that was never interrupted.
"""

import io
import math
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from gymnasium import spaces
from numpy.lib import format as npy_format

from conftest import exactly, stand_in_env
from minipg.tools import checkpoint as checkpoint_module
from minipg.tools.checkpoint import (
    CheckpointError,
    load_checkpoint,
    policy_from_checkpoint,
    restore_policy,
    save_checkpoint,
)
from minipg.envs import make_env
from minipg import Options, train
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.solver import new_state
from minipg.tools.checkpoint import restore_state

OBS_DIM = 4
N_ACTIONS = 2
ACTION_DIM = 2
T, E = 6, 3
LEARN_STEPS = 3        # updates before saving, so Adam's m, v and t are not at their initial values
SAVED_SEED, OTHER_SEED, BATCH_SEED = 0, 1, 2

CONFIG = {"env_id": "CartPole-v0", "gamma": 0.99, "lr": 0.01, "hidden": [], "baseline": "none",
          "lr_decay": False}
HISTORY = {"mean_return": [9.0, float("nan"), 12.5], "episodes": [3, 0, 2],
           "env_steps": [18, 36, 54]}


def categorical_env():
    return stand_in_env(OBS_DIM, spaces.Discrete(N_ACTIONS))


def gaussian_env():
    return stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,)))


# id → constructor(seed): the policies every round-trip test runs on.
POLICIES = {
    "categorical_linear": lambda seed: CategoricalPolicy(categorical_env(), hidden=(), seed=seed),
    "categorical_hidden": lambda seed: CategoricalPolicy(categorical_env(), hidden=(8,), seed=seed),
    "gaussian": lambda seed: DiagonalGaussianPolicy(gaussian_env(), hidden=(8, 8), seed=seed),
    "gaussian_float32": lambda seed: DiagonalGaussianPolicy(gaussian_env(), hidden=(8,), seed=seed,
                                                            dtype=np.float32),
}


def random_batch(policy, rng):
    """states (T, E, obs_dim), actions sampled from the policy with `rng`, returns (T, E)."""
    states = rng.normal(size=(T, E, OBS_DIM))
    return states, policy.pi(states).sample(rng), rng.normal(size=(T, E))


def trained(make_policy):
    """A policy after LEARN_STEPS updates on random batches, its learning rate decayed as
    `lr_decay` would (the rate is the run's configuration, not restored: the solver sets it)."""
    policy = make_policy(SAVED_SEED)
    rng = np.random.default_rng(BATCH_SEED)
    for step in range(LEARN_STEPS):
        policy.opt.lr = policy.lr * (1.0 - step / (2 * LEARN_STEPS))
        policy.update(*random_batch(policy, rng))
    return policy


def assert_same_state(a, b):
    """Parameters, Adam state (but the learning rate) and generator state bitwise equal."""
    for pa, pb, ma, mb, va, vb in zip(a.parameters(), b.parameters(), a.opt.m, b.opt.m, a.opt.v, b.opt.v):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(ma, mb)
        np.testing.assert_array_equal(va, vb)
    assert (a.opt.t, a.opt.beta1, a.opt.beta2, a.opt.eps) == (b.opt.t, b.opt.beta1, b.opt.beta2, b.opt.eps)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


# ------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", POLICIES)
def test_restored_policy_continues_bitwise(name, tmp_path):
    saved = trained(POLICIES[name])
    path = save_checkpoint(tmp_path / "policy.npz", saved, CONFIG, HISTORY, epoch=LEARN_STEPS)
    restored = POLICIES[name](OTHER_SEED)  # different parameters and generator until restored
    adam_params = restored.opt.params

    restore_policy(load_checkpoint(path), restored)

    assert_same_state(saved, restored)
    # In place: Adam still updates the very arrays the policy computes with.
    assert all(p is q for p, q in zip(restored.opt.params, adam_params))
    assert all(p is q for p, q in zip(restored.parameters(), adam_params))

    rng = np.random.default_rng(BATCH_SEED + 1)
    states = rng.normal(size=(T, E, OBS_DIM))
    np.testing.assert_array_equal(saved.act(states), restored.act(states))  # same random stream
    batch = random_batch(saved, rng)
    np.testing.assert_array_equal(saved.pi(batch[0]).log_prob(batch[1]),
                                  restored.pi(batch[0]).log_prob(batch[1]))
    assert restored.opt.lr == restored.lr != saved.opt.lr  # the rate is configuration, left as it was
    restored.opt.lr = saved.opt.lr  # as the solver sets it every epoch
    saved.update(*batch)
    restored.update(*batch)
    assert_same_state(saved, restored)


def test_config_history_and_epoch_round_trip(tmp_path):
    path = save_checkpoint(tmp_path / "run.npz", POLICIES["gaussian"](SAVED_SEED),
                           {**CONFIG, "hidden": (64, 64), "seed": np.int64(3)}, HISTORY, epoch=np.int64(7))
    loaded = load_checkpoint(path)

    assert loaded.version == checkpoint_module.FORMAT_VERSION
    assert loaded.epoch == 7
    assert loaded.config == {**CONFIG, "hidden": [64, 64], "seed": 3}  # JSON: tuples come back as lists
    assert loaded.history.keys() == HISTORY.keys()
    assert math.isnan(loaded.history["mean_return"][1])
    assert loaded.history["mean_return"][::2] == HISTORY["mean_return"][::2]
    assert loaded.history["episodes"] == HISTORY["episodes"]
    assert loaded.architecture == {"policy": "DiagonalGaussianPolicy", "obs_dim": OBS_DIM, "act_dim": ACTION_DIM,
                                   "hidden": [8, 8], "log_std": True, "dtype": "float64", "mirror": None}
    assert loaded.solver is None and loaded.baseline is None  # no SolverState was saved


def test_policy_from_checkpoint_builds_the_saved_policy(tmp_path):
    saved = trained(POLICIES["gaussian"])
    path = save_checkpoint(tmp_path / "policy.npz", saved, CONFIG, HISTORY, epoch=LEARN_STEPS)

    rebuilt = policy_from_checkpoint(load_checkpoint(path), gaussian_env())

    assert isinstance(rebuilt, DiagonalGaussianPolicy) and rebuilt.hidden == (8, 8)
    assert_same_state(saved, rebuilt)
    with pytest.raises(CheckpointError, match="cannot act in this environment"):
        policy_from_checkpoint(load_checkpoint(path), categorical_env())


# Two ways to get the policy back: build it from the checkpoint, or restore into a new policy
# constructed with other settings (another seed, the default learning rate).
RESUMERS = {
    "policy_from_checkpoint": policy_from_checkpoint,
    "restore_policy": lambda loaded, env: restore_policy(loaded, CategoricalPolicy(env, seed=OTHER_SEED)),
}


@pytest.mark.parametrize("resume", RESUMERS)
@pytest.mark.parametrize("solver_options", [{}, {"lr_decay": True, "baseline": "value", "value_steps": 3},
                                            {"normalize_observations": True, "normalize_rewards": True},
                                            {"count_bonus": 0.5, "count_bits": 8, "normalize_observations": True},
                                            {"count_bonus": 0.5}],
                         ids=["constant_lr", "lr_decay_value_baseline", "normalized", "exploration_bonus",
                              "exploration_bonus_raw_states"])
def test_resumed_training_equals_uninterrupted_training(solver_options, resume, tmp_path):
    """The solver for 2 epochs, checkpoint, then 2 more in a new policy and env == 4 straight
    (with the learning rate decaying and a learned value baseline, both restored)."""
    resume_at, seed = 2, 0
    options = Options(num_envs=E, T=20, epochs=4, lr=0.03, **solver_options)

    straight = CategoricalPolicy(make_env("CartPole-v0", E), lr=options.lr, seed=seed)
    straight_history = train(make_env("CartPole-v0", E), straight, options, seed=seed)

    path = tmp_path / "run.npz"
    first = CategoricalPolicy(make_env("CartPole-v0", E), lr=options.lr, seed=seed)
    state = new_state(first, options)

    def save_every_epoch(epoch, history):
        if epoch + 1 <= resume_at:  # later epochs stand for the work a crash would lose
            save_checkpoint(path, first, CONFIG, history, epoch + 1, state)

    train(make_env("CartPole-v0", E), first, options, seed=seed, callback=save_every_epoch, state=state)

    loaded = load_checkpoint(path)
    env = make_env("CartPole-v0", E)
    resumed = RESUMERS[resume](loaded, env)
    resumed_state = new_state(resumed, options)
    # A new value baseline draws its initial weights from the policy's generator: restore the
    # policy (and so its generator) after making the state, as the command line does.
    restore_policy(loaded, resumed)
    restore_state(loaded, resumed_state)
    resumed_state.history = loaded.history
    resumed_history = train(env, resumed, options, seed=seed, state=resumed_state)

    assert loaded.epoch == resume_at
    assert_same_state(straight, resumed)
    for key in straight_history.keys() - {"seconds"}:  # wall time differs, of course
        np.testing.assert_array_equal(straight_history[key], resumed_history[key])


def test_visit_counts_must_be_saved_where_the_state_has_them(tmp_path):
    """A run with the exploration bonus cannot continue from a checkpoint without its counts (nor
    the other way round); a checkpoint from before the bonus existed has no key for them."""
    env = make_env("CartPole-v0", E)
    plain, bonus = Options(num_envs=E, T=5, epochs=1, lr=0.03), Options(num_envs=E, T=5, epochs=1, lr=0.03,
                                                                         count_bonus=0.5)
    for saved_options, resumed_options, problem in ((plain, bonus, "state_counter missing"),
                                                    (bonus, plain, "state_counter not expected")):
        policy = CategoricalPolicy(env, lr=0.03, seed=0)
        state = new_state(policy, saved_options)
        train(env, policy, saved_options, seed=0, state=state)
        path = save_checkpoint(tmp_path / "run.npz", policy, CONFIG, state.history, 1, state)
        with pytest.raises(CheckpointError, match=f"corrupt checkpoint \\(solver state: {problem}\\)"):
            restore_state(load_checkpoint(path), new_state(CategoricalPolicy(env, lr=0.03, seed=0), resumed_options))
    older = load_checkpoint(save_checkpoint(tmp_path / "old.npz", policy, CONFIG, state.history, 1,
                                            new_state(policy, plain)))
    del older.solver["state_counter"]
    assert restore_state(older, new_state(policy, plain)).state_counter is None
    del older.solver["reward_scaler"]  # written by every version: its absence is damage
    with pytest.raises(CheckpointError, match="corrupt checkpoint \\(solver state: 'reward_scaler'\\)"):
        restore_state(older, new_state(policy, plain))


def test_visit_counts_of_a_long_run_are_array_members(tmp_path):
    """A run may visit millions of cells: the counts are int64 members, not JSON, and a
    checkpoint with 300,000 of them loads back whole; members of the wrong shape, or counts
    without the state they belong to, are named."""
    env = make_env("CartPole-v0", E)
    options = Options(num_envs=E, T=5, epochs=1, lr=0.03, count_bonus=0.5)
    policy = CategoricalPolicy(env, lr=0.03, seed=0)
    state = new_state(policy, options)
    train(env, policy, options, seed=0, state=state)
    state.state_counter.counts = {cell * 7919: 1 + cell % 5 for cell in range(300_000)}
    path = save_checkpoint(tmp_path / "long.npz", policy, CONFIG, state.history, 1, state)
    assert {"state_counter_cells.npy", "state_counter_visits.npy"} <= set(zipfile.ZipFile(path).namelist())
    resumed = restore_state(load_checkpoint(path), new_state(CategoricalPolicy(env, lr=0.03, seed=0), options))
    assert resumed.state_counter.counts == state.state_counter.counts

    arrays = dict(np.load(path))
    for changes, problem in (({"state_counter_cells": arrays["state_counter_cells"].reshape(-1, 2)},
                              r"member state_counter_cells.npy declares shape \(150000, 2\)"),
                             ({"state_counter_visits": arrays["state_counter_visits"][:-1]},
                              r"member state_counter_visits.npy declares shape \(299999,\) int64; the exploration "
                              r"bonus's visit counts has \(300000,\) int64 there"),
                             ({"solver": checkpoint_module._json_array({**json_member(arrays, "solver"),
                                                                        "state_counter": None})},
                              "without the solver state's state_counter")):
        np.savez(tmp_path / "bad.npz", **{**arrays, **changes})
        with pytest.raises(CheckpointError, match=problem):
            load_checkpoint(tmp_path / "bad.npz")
    del arrays["state_counter_visits"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="member state_counter_visits.npy is missing"):
        load_checkpoint(tmp_path / "bad.npz")


def json_member(arrays, key):
    import json
    return json.loads(bytes(arrays[key]).decode("utf-8"))


# -------------------------------------------------------------------------- atomicity


def test_parent_directories_are_created(tmp_path):
    path = tmp_path / "runs" / "cartpole" / "latest.npz"
    save_checkpoint(path, POLICIES["categorical_linear"](SAVED_SEED), CONFIG, HISTORY, epoch=1)
    assert load_checkpoint(path).epoch == 1


def _crash_while_writing(file, **arrays):
    file.write(b"PK\x03\x04 the first bytes of an archive")
    raise RuntimeError("simulated crash while writing")


def _crash_before_rename(source, destination):
    raise OSError("simulated crash before the rename")


@pytest.mark.parametrize("patch", [
    ("savez_compressed", np, _crash_while_writing),
    ("replace", os, _crash_before_rename),
], ids=["during_write", "before_rename"])
def test_crash_leaves_previous_checkpoint_intact(patch, tmp_path, monkeypatch):
    policy = trained(POLICIES["categorical_hidden"])
    path = tmp_path / "latest.npz"
    save_checkpoint(path, policy, CONFIG, HISTORY, epoch=1)
    previous_bytes = path.read_bytes()

    name, module, crash = patch
    monkeypatch.setattr(module, name, crash)
    with pytest.raises((RuntimeError, OSError), match="simulated crash"):
        save_checkpoint(path, policy, CONFIG, HISTORY, epoch=2)
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["latest.npz"]  # no temporary file left behind
    assert path.read_bytes() == previous_bytes
    assert load_checkpoint(path).epoch == 1


# ----------------------------------------------------------------------------- errors


@pytest.fixture
def checkpoint_path(tmp_path):
    """A real checkpoint of a linear CategoricalPolicy(obs_dim=4, act_dim=2)."""
    return save_checkpoint(tmp_path / "good.npz", POLICIES["categorical_linear"](SAVED_SEED),
                           CONFIG, HISTORY, epoch=3)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_checkpoint(path)


@pytest.mark.parametrize("keep", [0.5, 0.0, 3], ids=["half", "empty", "3_bytes"])
def test_truncated_file(keep, checkpoint_path, tmp_path):
    data = checkpoint_path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[:int(len(data) * keep)] if isinstance(keep, float) else data[:keep])
    with pytest.raises(CheckpointError, match=r"cut\.npz: truncated or corrupt"):
        load_checkpoint(cut)


def test_corrupted_bytes(checkpoint_path, tmp_path):
    """One byte flipped inside the stored data of the first parameter: its CRC-32 no longer matches."""
    data = bytearray(checkpoint_path.read_bytes())
    with zipfile.ZipFile(checkpoint_path) as archive:
        member = archive.getinfo("param_0.npy")
    # A zip local file header: 30 fixed bytes, with the name and extra-field lengths at 26 and 28.
    name_length, extra_length = struct.unpack_from("<HH", data, member.header_offset + 26)
    data_start = member.header_offset + 30 + name_length + extra_length
    data[data_start + member.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"damaged\.npz: truncated or corrupt"):
        load_checkpoint(damaged)


def test_not_an_npz(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(CheckpointError, match=r"noise\.npz: not a minipg checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("writer", [
    lambda path: np.savez(path, weights=np.zeros(3)),
    lambda path: np.savez(path, format=np.array("something else")),
    lambda path: np.save(path, np.zeros(3)),
], ids=["npz_without_tag", "npz_with_other_tag", "npy"])
def test_someone_elses_numpy_file(writer, tmp_path):
    path = tmp_path / "foreign.npz"
    with open(path, "wb") as file:  # a file object, so np.save keeps the name as given
        writer(file)
    with pytest.raises(CheckpointError, match=r"foreign\.npz: not a minipg checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("offset, relation", [(1, "newer"), (-1, "older")])
def test_other_format_version(tmp_path, monkeypatch, offset, relation):
    """Only the current format is read; another version is named, not misread."""
    path = tmp_path / "other.npz"
    version = checkpoint_module.FORMAT_VERSION + offset
    monkeypatch.setattr(checkpoint_module, "FORMAT_VERSION", version)
    save_checkpoint(path, POLICIES["categorical_linear"](SAVED_SEED), CONFIG, HISTORY, epoch=1)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=f"version {version} is {relation} than this minipg reads"):
        load_checkpoint(path)


@pytest.mark.parametrize("make_policy, differences", [
    (lambda: CategoricalPolicy(categorical_env(), hidden=(8,)), "hidden: () in the checkpoint, (8,) here"),
    (lambda: CategoricalPolicy(stand_in_env(OBS_DIM, spaces.Discrete(3))), "act_dim: 2 in the checkpoint, 3 here"),
    (lambda: CategoricalPolicy(stand_in_env(5, spaces.Discrete(2))), "obs_dim: 4 in the checkpoint, 5 here"),
    (lambda: CategoricalPolicy(categorical_env(), dtype=np.float32),
     "dtype: float64 in the checkpoint, float32 here"),
    (lambda: DiagonalGaussianPolicy(gaussian_env(), hidden=()),
     "policy: CategoricalPolicy in the checkpoint, DiagonalGaussianPolicy here"),
], ids=["hidden", "actions", "observations", "dtype", "class"])
def test_architecture_mismatch_names_the_fields_that_differ(make_policy, differences, checkpoint_path):
    policy = make_policy()
    before = [p.copy() for p in policy.parameters()]
    with pytest.raises(CheckpointError, match=exactly(
            f"{checkpoint_path}: checkpoint is for CategoricalPolicy(obs_dim=4, act_dim=2, hidden=(), "
            f"dtype=float64), the policy differs in {differences}")):
        restore_policy(load_checkpoint(checkpoint_path), policy)
    for param, original in zip(policy.parameters(), before):  # nothing was half-restored
        np.testing.assert_array_equal(param, original)


def test_a_mirror_that_differs_is_named(tmp_path):
    """Policies that differ in their mirror alone: the message says so (their other fields match)."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(1,)))
    mirrored = DiagonalGaussianPolicy(env, hidden=(4,), mirror=[-1, -1, 1, -1])
    path = save_checkpoint(tmp_path / "mirrored.npz", mirrored, CONFIG, HISTORY, epoch=1)
    with pytest.raises(CheckpointError, match=exactly(
            f"{path}: checkpoint is for DiagonalGaussianPolicy(obs_dim=4, act_dim=1, hidden=(4,), dtype=float64, "
            "mirror=(-1, -1, 1, -1)), the policy differs in mirror: (-1, -1, 1, -1) in the checkpoint, None here")):
        restore_policy(load_checkpoint(path), DiagonalGaussianPolicy(env, hidden=(4,)))


def test_epoch_must_be_a_count(tmp_path):
    with pytest.raises(ValueError, match="epoch"):
        save_checkpoint(tmp_path / "x.npz", POLICIES["categorical_linear"](SAVED_SEED), CONFIG, HISTORY, -1)


# ---------------------------------------------------------------------- crafted files
# A checkpoint may come from anywhere.  Files made to exhaust memory or to be misread are
# refused with a CheckpointError naming the file and the member, before that member is
# decompressed (a size) or an array is made (a dtype or shape).

# The architecture of the `checkpoint_path` fixture, as messages name it.
LINEAR = "CategoricalPolicy(obs_dim=4, act_dim=2, hidden=(), dtype=float64)"
MiB = 2**20


def npy_header(shape, descr="<f8", fortran_order=False):
    """A version 1.0 .npy header declaring `shape`, dtype `descr` and the order, as np.save writes it."""
    stream = io.BytesIO()
    npy_format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return stream.getvalue()


def npy_member(shape, descr="<f8", fortran_order=False, data=None):
    """An .npy member: npy_header(...) then `data` (default: the declared number of zero bytes)."""
    data = bytes(math.prod(shape) * np.dtype(descr).itemsize) if data is None else data
    return npy_header(shape, descr, fortran_order) + data


def filler(size, byte=b"\0"):
    """`size` bytes of `byte`, in chunks of at most 1 MiB, for members too large to build whole."""
    chunk = byte * MiB
    for start in range(0, size, MiB):
        yield chunk[:min(MiB, size - start)]


def members_of(path):
    """{name: bytes} of the members of the zip archive at `path`, in order."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def crafted(source, path, replace=None, drop=(), declare=None):
    """A copy of the checkpoint at `source`, written to `path` deflated (as np.savez_compressed
    does), with the members of `replace` ({name: bytes, or an iterable of byte chunks}) replaced
    or added, those in `drop` left out, and the uncompressed sizes in `declare` ({name: bytes})
    claimed by the zip's central directory, whatever the member holds.  Returns `path`."""
    members = {name: data for name, data in members_of(source).items() if name not in drop} | (replace or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if isinstance(data, bytes):
                archive.writestr(name, data)
            else:
                with archive.open(name, "w") as member:
                    for chunk in data:
                        member.write(chunk)
        for name, size in (declare or {}).items():
            archive.getinfo(name).file_size = size  # the central directory is written on close
    return path


def refused(path):
    """The message of the CheckpointError that loading `path` raises (it must start with the path)."""
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: corrupt checkpoint (")
    return message


@pytest.fixture
def opened(monkeypatch):
    """The names of the zip members opened for reading from now on (the test clears it after crafting)."""
    names = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            names.append(getattr(name, "filename", name))
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


@pytest.fixture
def value_checkpoint_path(tmp_path):
    """A checkpoint of the linear CategoricalPolicy with a learned value baseline: an MLP
    (4 + 1 time feature, 64, 64, 1), members baseline_param_0 ... baseline_param_5."""
    policy = POLICIES["categorical_linear"](SAVED_SEED)
    state = new_state(policy, Options(baseline="value"))
    return save_checkpoint(tmp_path / "value.npz", policy, CONFIG, HISTORY, epoch=3, state=state)


def test_a_huge_declared_shape_is_refused_before_allocation(checkpoint_path, tmp_path):
    """The bug this guards against: a 4 kB file whose .npy header declares 10^11 float64 (745 GiB)."""
    path = crafted(checkpoint_path, tmp_path / "huge.npz",
                   {"param_0.npy": npy_member((10**11,), data=bytes(4000))})
    assert path.stat().st_size < 5000
    with pytest.raises(CheckpointError, match=exactly(
            f"{path}: corrupt checkpoint (member param_0.npy declares shape (100000000000,) float64; "
            f"{LINEAR} has (4, 2) float64 there)")):
        load_checkpoint(path)


@pytest.mark.parametrize("descr, shown", [
    ("|O", "object"),
    ([("x", "<f8"), ("y", "<f8")], "[('x', '<f8'), ('y', '<f8')]"),
    (">f8", ">f8"),
    ("<f4", "float32"),
    ("<i8", "int64"),
], ids=["object", "structured", "big_endian", "float32", "int64"])
def test_a_wrong_dtype_is_refused(descr, shown, checkpoint_path, tmp_path):
    path = crafted(checkpoint_path, tmp_path / "dtype.npz", {"adam_m_0.npy": npy_member((4, 2), descr, data=bytes(64))})
    with pytest.raises(CheckpointError, match=exactly(
            f"{path}: corrupt checkpoint (member adam_m_0.npy declares shape (4, 2) {shown}; "
            f"{LINEAR} has (4, 2) float64 there)")):
        load_checkpoint(path)


def test_fortran_order_is_refused(checkpoint_path, tmp_path):
    path = crafted(checkpoint_path, tmp_path / "fortran.npz", {"param_0.npy": npy_member((4, 2), fortran_order=True)})
    assert refused(path).endswith("(member param_0.npy declares Fortran order; minipg writes C order)")


@pytest.mark.parametrize("member, shape", [
    ("param_0.npy", (2, 4)),
    ("param_0.npy", (4, 3)),
    ("param_1.npy", ()),
    ("adam_v_1.npy", (2, 1)),
])
def test_a_shape_that_disagrees_with_the_architecture_is_refused(member, shape, checkpoint_path, tmp_path):
    expected = (4, 2) if member == "param_0.npy" else (2,)
    path = crafted(checkpoint_path, tmp_path / "shape.npz", {member: npy_member(shape)})
    with pytest.raises(CheckpointError, match=exactly(
            f"{path}: corrupt checkpoint (member {member} declares shape {shape} float64; "
            f"{LINEAR} has {expected} float64 there)")):
        load_checkpoint(path)


@pytest.mark.parametrize("member, shape, expected", [
    ("baseline_param_0.npy", (7, 64), "a value network for obs_dim=4 has (4 or 5, n) float64 there"),
    ("baseline_param_1.npy", (63,), "a value network for obs_dim=4 has (64,) float64 there"),
    ("baseline_param_2.npy", (32, 64), "a value network for obs_dim=4 has (64, n) float64 there"),
    ("baseline_param_4.npy", (64, 2), "a value network for obs_dim=4 has (64, 1) float64 there"),
    ("baseline_adam_v_2.npy", (64, 63), "the value network's parameter has (64, 64) float64 there"),
])
def test_a_value_baseline_whose_shapes_do_not_chain_is_refused(member, shape, expected, value_checkpoint_path,
                                                              tmp_path):
    """The checkpoint does not record the value network's hidden sizes: its declared shapes
    must make an MLP from obs_dim (+ 1 time feature) to 1, and m, v must match them."""
    assert load_checkpoint(value_checkpoint_path).baseline["parameters"][0].shape == (5, 64)
    path = crafted(value_checkpoint_path, tmp_path / "baseline.npz", {member: npy_member(shape)})
    assert refused(path).endswith(f"(member {member} declares shape {shape} float64; {expected})")


def adam_and_parameter(i, shape):
    return {key.format(i) + ".npy": npy_member(shape) for key in ("param_{}", "adam_m_{}", "adam_v_{}")}


@pytest.mark.parametrize("change, message", [
    ({"drop": ("param_1.npy", "adam_m_1.npy", "adam_v_1.npy")},
     f"member param_1.npy is missing (a checkpoint of {LINEAR} has 2 parameter arrays)"),
    ({"drop": ("adam_v_0.npy",)}, f"member adam_v_0.npy is missing (a checkpoint of {LINEAR} has 2 parameter arrays)"),
    ({"replace": adam_and_parameter(2, (2,))},
     f"unexpected member param_2.npy (a checkpoint of {LINEAR} has 2 parameter arrays)"),
    ({"replace": {"notes.npy": npy_member((3,))}},
     f"unexpected member notes.npy (a checkpoint of {LINEAR} has 2 parameter arrays)"),
    ({"drop": ("epoch.npy",)}, "member epoch.npy is missing"),
], ids=["too_few", "one_moment_missing", "too_many", "foreign_member", "no_epoch"])
def test_too_many_or_too_few_members_are_refused(change, message, checkpoint_path, tmp_path):
    path = crafted(checkpoint_path, tmp_path / "members.npz", **change)
    assert message in refused(path)


@pytest.mark.parametrize("change, message", [
    ({"drop": ("baseline_step.npy",)}, "member baseline_step.npy is missing"),
    ({"drop": ("baseline_param_5.npy", "baseline_adam_m_5.npy", "baseline_adam_v_5.npy")},
     "member baseline_param_5.npy is missing"),
    ({"replace": {f"baseline_param_{i}.npy": npy_member((1,)) for i in range(6, 200)}},
     ("unexpected member baseline_param_130.npy (a value network has at most 64 hidden layers: "
      "130 parameter arrays)")),
], ids=["no_step", "a_layer_missing_its_bias", "too_deep"])
def test_a_value_baseline_with_members_too_many_or_too_few_is_refused(change, message, value_checkpoint_path,
                                                                     tmp_path):
    path = crafted(value_checkpoint_path, tmp_path / "members.npz", **change)
    assert message in refused(path)


# (member, chunks of its data, the size the zip's central directory claims or None): members
# that would take gigabytes once decompressed, in a file of kilobytes.
BOMBS = {
    "deflated_zeros_64_MiB": ("param_0.npy", [npy_header((8 * MiB,)), *filler(64 * MiB)], None),
    "zip_directory_2_TiB": ("param_0.npy", None, 2**41),
    "history_1_TiB": ("history.npy", None, 2**40),
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_member_declaring_a_huge_uncompressed_size_is_refused_before_decompression(bomb, checkpoint_path,
                                                                                    tmp_path, opened):
    """Two lies: deflated zeros (the size in the directory is true, but more than the
    architecture allows: 64 bytes of parameters), and a directory that claims more than the
    compressed bytes could ever give (deflate gives at most 1032 bytes a byte)."""
    member, data, declared = BOMBS[bomb]
    path = crafted(checkpoint_path, tmp_path / "bomb.npz", {member: data} if data else None,
                   declare={member: declared} if declared else None)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    assert path.stat().st_size < MiB
    opened.clear()
    message = refused(path)
    if declared:
        assert message.endswith(f"(member {member} declares {declared:,} bytes uncompressed from "
                                f"{info.compress_size:,} compressed bytes, more than deflate can give)")
    else:
        assert message.endswith(f"(member param_0.npy declares {info.file_size:,} bytes uncompressed; a (4, 2) "
                                f"float64 array of {LINEAR} and an .npy header take at most 4,160)")
    assert member not in opened


@pytest.mark.parametrize("key", checkpoint_module.JSON_MAX_BYTES)
def test_a_huge_json_member_is_refused_before_decompression(key, checkpoint_path, tmp_path, opened):
    limit, header_limit = checkpoint_module.JSON_MAX_BYTES[key], checkpoint_module.NPY_HEADER_MAX
    size = limit + header_limit  # JSON text: over the limit whatever the size of its header
    text = [npy_header((size,), "|u1"), *filler(size - 2, b" "), b"{}"]
    path = crafted(checkpoint_path, tmp_path / "json.npz", {f"{key}.npy": text})
    with zipfile.ZipFile(path) as archive:
        declared = archive.getinfo(f"{key}.npy").file_size
    opened.clear()
    assert refused(path).endswith(
        f"(member {key}.npy declares {declared:,} bytes uncompressed; the {key} ({limit:,} bytes of JSON at most) "
        f"and an .npy header take at most {limit + header_limit:,})")
    assert f"{key}.npy" not in opened


def test_json_text_over_its_limit_is_refused(checkpoint_path, tmp_path):
    """Within the header's slack in the zip, but more JSON than the member may hold."""
    size = checkpoint_module.JSON_MAX_BYTES["optimizer"] + 1
    path = crafted(checkpoint_path, tmp_path / "json.npz",
                   {"optimizer.npy": npy_member((size,), "|u1", data=b" " * (size - 2) + b"{}")})
    assert refused(path).endswith(f"(member optimizer.npy holds {size:,} bytes of JSON; the optimizer may "
                                  f"have at most {size - 1:,})")


@pytest.mark.parametrize("cut, error", [
    (0, "EOF: reading magic string, expected 8 bytes got 0"),
    (5, "EOF: reading magic string, expected 8 bytes got 5"),
    (9, "EOF: reading array header length, expected 2 bytes got 1"),
    (40, "EOF: reading array header, expected 118 bytes got 30"),
])
def test_a_truncated_npy_header_is_refused(cut, error, checkpoint_path, tmp_path):
    member = members_of(checkpoint_path)["param_0.npy"]
    path = crafted(checkpoint_path, tmp_path / "cut.npz", {"param_0.npy": member[:cut]})
    assert refused(path).endswith(f"(member param_0.npy has no readable .npy header (ValueError: {error}))")


@pytest.mark.parametrize("member, error", [
    (b"NOT-NUMPY" + bytes(200), "the magic string is not correct"),
    (b"\x93NUMPY\x03\x00" + bytes(200), "ValueError: .npy format version 3.0, not 1.0 or 2.0"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8',", ""),  # the parse fails (how: NumPy's and Python's matter)
    (b"\x93NUMPY\x01\x00\x07\x00[1, 2]\n", "Header is not a dictionary"),
    (npy_header((4, 2)).replace(b"'fortran_order'", b"'fortran_ordex'"), "Header does not contain the correct keys"),
], ids=["magic", "version", "syntax", "not_a_dict", "keys"])
def test_a_malformed_npy_header_is_refused(member, error, checkpoint_path, tmp_path):
    path = crafted(checkpoint_path, tmp_path / "malformed.npz", {"param_0.npy": member})
    message = refused(path)
    assert "(member param_0.npy has no readable .npy header (" in message and error in message


@pytest.mark.parametrize("change", [-8, 8], ids=["short", "long"])
def test_data_of_another_size_than_the_header_declares_is_refused(change, checkpoint_path, tmp_path):
    member = members_of(checkpoint_path)["param_0.npy"]
    member = member[:change] if change < 0 else member + bytes(change)
    path = crafted(checkpoint_path, tmp_path / "size.npz", {"param_0.npy": member})
    assert refused(path).endswith(f"(member param_0.npy holds {64 + change} bytes of data; its header declares "
                                  "shape (4, 2) float64, 64 bytes)")


def test_zip_methods_other_than_deflate_and_duplicate_members_are_refused(checkpoint_path, tmp_path):
    """bzip2 and LZMA members decompress a whole read at once (no bound on its output); a name
    twice could be checked in one member and read from the other."""
    members = members_of(checkpoint_path)
    bzip2, twice = tmp_path / "bzip2.npz", tmp_path / "twice.npz"
    with zipfile.ZipFile(bzip2, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_BZIP2 if name == "history.npy" else zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(twice, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name: 'param_0.npy'"):
            archive.writestr("param_0.npy", npy_member((10**11,), data=b""))
    assert refused(bzip2).endswith("(member history.npy is compressed with zip method 12; minipg reads stored and "
                                   "deflated members only)")
    assert refused(twice).endswith("(member param_0.npy appears twice)")


@pytest.mark.parametrize("member, text, message", [
    ("history.npy", '{"loss": 5}', "(member history.npy: loss is 5, not a list of numbers)"),
    ("config.npy", "[]", "(member config.npy holds []; minipg writes a JSON object there)"),
    ("optimizer.npy", '{"t": -1}', "(member optimizer.npy: the step count t is -1, not a non-negative integer)"),
    ("optimizer.npy", '{"t": 1, "betas": [0.9, 0.999], "lr": 0.0, "eps": 1e-8, "initial_lr": 1' + "0" * 400 + "}",
     "(member optimizer.npy: initial_lr is 100000000000000000...0000000000000000000, not a positive finite number)"),
    ("optimizer.npy", '{"t": 1, "betas": [0.9, 1.5], "lr": 1e-3, "eps": 1e-8, "initial_lr": 1e-3}',
     "(member optimizer.npy: beta2 is 1.5, not a number in [0, 1))"),
    ("optimizer.npy", '{"t": 1, "betas": [0.9, 0.999], "lr": 1e999, "eps": 1e-8, "initial_lr": 1e-3}',
     "(member optimizer.npy: lr is inf, not a finite number ≥ 0)"),
    ("architecture.npy", ('{"policy": "CategoricalPolicy", "obs_dim": 4, "act_dim": 2, "hidden": [65536, 65536], '
                          '"log_std": false, "dtype": "float64", "mirror": null}'),
     "(member architecture.npy: 4,295,491,586 parameters, more than 16,777,216)"),
    ("history.npy", "[" * 100_000, "(member history.npy holds no JSON text (RecursionError: "),
], ids=["history", "config", "step_count", "overflow", "beta", "infinite_lr", "architecture_too_large",
       "nested_too_deep"])
def test_json_members_must_hold_what_minipg_writes(member, text, message, checkpoint_path, tmp_path):
    data = text.encode()
    path = crafted(checkpoint_path, tmp_path / "json.npz", {member: npy_member((len(data),), "|u1", data=data)})
    assert message in refused(path)


def test_a_generator_state_that_does_not_fit_is_refused_and_the_policy_kept(checkpoint_path):
    loaded = load_checkpoint(checkpoint_path)
    loaded.rng_state["state"] = {"state": -1, "inc": 1}
    policy = POLICIES["categorical_linear"](OTHER_SEED)
    before = [p.copy() for p in policy.parameters()], policy.rng.bit_generator.state
    with pytest.raises(CheckpointError, match=r"corrupt checkpoint \(rng_state: OverflowError"):
        restore_policy(loaded, policy)
    for param, original in zip(policy.parameters(), before[0]):
        np.testing.assert_array_equal(param, original)
    assert policy.rng.bit_generator.state == before[1]


# Crafted files that declare terabytes (or, deflated, 64 MiB): the memory they may cost to refuse.
MEMORY_BOUND = 50 * MiB
CRAFTS = {
    "npy_header_8_TB": lambda source, path: crafted(source, path, {"param_0.npy": npy_member((10**12,), data=b"")}),
    "zip_directory_2_TiB": lambda source, path: crafted(source, path, declare={"param_1.npy": 2**41}),
    "json_directory_1_TiB": lambda source, path: crafted(source, path, declare={"history.npy": 2**40}),
    "deflated_zeros_64_MiB": lambda source, path: crafted(
        source, path, {"adam_v_0.npy": [npy_header((8 * MiB,)), *filler(64 * MiB)]}),
}


@pytest.mark.parametrize("craft", CRAFTS)
def test_refusing_a_crafted_file_takes_little_memory(craft, checkpoint_path, tmp_path):
    path = CRAFTS[craft](checkpoint_path, tmp_path / "crafted.npz")
    tracemalloc.start()
    try:
        refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{peak / MiB:.1f} MiB"
