"""Checkpoints: a restored policy continues the run exactly, writes are atomic, and every kind
of bad file fails with a clear error.

"Exactly" means bitwise: a policy restored from a checkpoint samples the same actions (same
generator stream), assigns the same log-probabilities and takes the same next Adam step as
the policy that was saved, and a training run resumed from a checkpoint ends with the same
parameters as the run that was never interrupted.
"""

import math
import os
import struct
import zipfile

import numpy as np
import pytest
from gymnasium import spaces

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
                                            {"normalize_observations": True, "normalize_rewards": True}],
                         ids=["constant_lr", "lr_decay_value_baseline", "normalized"])
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
