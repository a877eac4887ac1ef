"""Checkpoints: a restored run continues exactly, writes are atomic, and every kind of bad file
fails with one clear line, crafted ones included (refused before anything of their size is
allocated, with little memory).

"Exactly" means bitwise: a policy restored from a checkpoint samples the same actions (same
generator stream), assigns the same log-probabilities and takes the same next Adam step as
the policy that was saved, and a training run resumed from a checkpoint ends with the same
parameters as the run that was never interrupted.
"""

import json
import math
import os
import struct
import tracemalloc

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from gymnasium import spaces

from conftest import assert_same_state, exactly, stand_in_env
from minipg import Options, train
from minipg.envs import make_env
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.solver import new_state
from minipg.tools import checkpoint as checkpoint_module
from minipg.tools.checkpoint import CheckpointError, load_checkpoint, load_policy, restore, resume, save_checkpoint

OBS_DIM, N_ACTIONS, ACTION_DIM = 4, 2, 2
T, E = 6, 3
LEARN_STEPS = 3  # updates before saving, so Adam's m, v and t are not at their initial values
SAVED_SEED, OTHER_SEED, BATCH_SEED = 0, 1, 2
CONFIG = {**Options().asdict(), "seed": 0, "preset": "blog"}
MiB = 1 << 20


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


def saved(policy, path, history=None):
    """Save `policy` in a SolverState of the post's options (with `history`) to `path`."""
    state = new_state(policy, Options())
    if history is not None:
        state.history.update(history)
    return save_checkpoint(path, state, CONFIG)


@pytest.fixture
def checkpoint_path(tmp_path):
    """A real checkpoint of a linear CategoricalPolicy(obs_dim=4, act_dim=2)."""
    return saved(POLICIES["categorical_linear"](SAVED_SEED), tmp_path / "good.safetensors")


# ------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", POLICIES)
def test_restored_policy_continues_bitwise(name, tmp_path):
    policy = trained(POLICIES[name])
    path = saved(policy, tmp_path / "policy.safetensors")
    restored = POLICIES[name](OTHER_SEED)  # different parameters and generator until restored
    adam_params = restored.opt.params

    restore(load_checkpoint(path), restored)

    assert_same_state(policy.state_dict(), restored.state_dict())
    # In place: Adam still updates the very arrays the policy computes with.
    assert all(p is q for p, q in zip(restored.parameters(), adam_params))
    rng = np.random.default_rng(BATCH_SEED + 1)
    states = rng.normal(size=(T, E, OBS_DIM))
    np.testing.assert_array_equal(policy.act(states), restored.act(states))  # same random stream
    batch = random_batch(policy, rng)
    assert restored.opt.lr == restored.lr != policy.opt.lr  # the rate is configuration, left as it was
    restored.opt.lr = policy.opt.lr  # as the solver sets it every epoch
    policy.update(*batch)
    restored.update(*batch)
    assert_same_state(policy.state_dict(), restored.state_dict())


def test_config_and_history_round_trip(tmp_path):
    history = {"avg_reward": [1.5, float("nan")], "mean_return": [9.0, float("nan")], "episodes": [3, 0],
               "loss": [0.5, -0.25], "entropy": [0.6, 0.5], "env_steps": [18, 36], "seconds": [0.1, 0.2],
               "log_std": [0.0, -0.1]}
    config = {**CONFIG, "hidden": (64, 64), "seed": np.int64(3)}
    state = new_state(POLICIES["gaussian"](SAVED_SEED), Options())
    state.history.update(history)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "run.safetensors", state, config))

    assert loaded.epoch == 2
    assert loaded.config == {**CONFIG, "hidden": [64, 64], "seed": 3}  # JSON: tuples come back as lists
    assert math.isnan(loaded.history["mean_return"][1]) and loaded.history["mean_return"][0] == 9.0
    assert loaded.history["episodes"] == [3, 0] and type(loaded.history["episodes"][0]) is int
    assert loaded.architecture == {"policy": "DiagonalGaussianPolicy", "obs_dim": OBS_DIM, "act_dim": ACTION_DIM,
                                   "hidden": [8, 8], "dtype": "float64", "mirror": None}
    with safetensors.safe_open(loaded.path, framework="np") as file:  # the arrays are tensors, named by path
        assert "policy.parameters.0" in file.keys() and "history.loss" in file.keys()


def test_load_policy_builds_the_saved_policy(tmp_path):
    env = make_env("CartPole-v1", 2)
    options = Options(env="CartPole-v1", num_envs=2, T=10, epochs=1, hidden=(8,), lr=0.01,
                      normalize_observations=True, baseline="value")
    policy = CategoricalPolicy(env, lr=0.01, hidden=(8,), seed=0)
    state = new_state(policy, options)
    train(env, policy, options, seed=0, state=state)
    path = save_checkpoint(tmp_path / "run.safetensors", state, {**options.asdict(), "seed": 0, "preset": None})

    rebuilt, normalizer = load_policy(path)

    assert isinstance(rebuilt, CategoricalPolicy) and rebuilt.hidden == (8,)
    assert_same_state(policy.state_dict(), rebuilt.state_dict())
    np.testing.assert_array_equal(normalizer.mean, state.observation_normalizer.mean)
    with pytest.raises(CheckpointError, match="this one differs in policy: CategoricalPolicy saved, "
                                              "DiagonalGaussianPolicy here"):
        resume(load_checkpoint(path), make_env("Pendulum-v1", 1))


@pytest.mark.parametrize("solver_options", [{}, {"lr_decay": True, "baseline": "value", "value_steps": 3},
                                            {"normalize_observations": True, "normalize_rewards": True},
                                            {"count_bonus": 0.5, "count_bits": 8, "normalize_observations": True},
                                            {"count_bonus": 0.5}],
                         ids=["constant_lr", "lr_decay_value_baseline", "normalized", "exploration_bonus",
                              "exploration_bonus_raw_states"])
def test_resumed_training_equals_uninterrupted_training(solver_options, tmp_path):
    """The solver for 2 epochs, checkpoint, then 2 more in a new policy and env == 4 straight
    (with the learning rate decaying, a learned value baseline, the normalizers and the visit
    counts, all restored)."""
    resume_at, seed = 2, 0
    options = Options(num_envs=E, T=20, epochs=4, lr=0.03, **solver_options)
    straight = CategoricalPolicy(make_env("CartPole-v0", E), lr=options.lr, seed=seed)
    straight_state = new_state(straight, options)
    train(make_env("CartPole-v0", E), straight, options, seed=seed, state=straight_state)

    path = tmp_path / "run.safetensors"
    first = CategoricalPolicy(make_env("CartPole-v0", E), lr=options.lr, seed=seed)
    state = new_state(first, options)

    def save_every_epoch(epoch, history):
        if epoch + 1 <= resume_at:  # later epochs stand for the work a crash would lose
            save_checkpoint(path, state, {**options.asdict(), "seed": seed})

    train(make_env("CartPole-v0", E), first, options, seed=seed, callback=save_every_epoch, state=state)
    loaded = load_checkpoint(path)
    env = make_env("CartPole-v0", E)
    resumed = resume(loaded, env)
    train(env, resumed.policy, options, seed=seed, state=resumed)

    assert loaded.epoch == resume_at
    assert_same_state(straight_state.state_dict(), resumed.state_dict())


def test_visit_counts_must_be_saved_where_the_state_has_them(tmp_path):
    """A run with the exploration bonus cannot continue from a checkpoint without its counts,
    nor the other way round."""
    env = make_env("CartPole-v0", E)
    plain, bonus = (Options(num_envs=E, T=5, epochs=1, lr=0.03, count_bonus=beta) for beta in (0.0, 0.5))
    for saved_options, resumed_options, problem in ((plain, bonus, "state_counter: missing"),
                                                    (bonus, plain, "state_counter: saved, but this run has none")):
        policy = CategoricalPolicy(env, lr=0.03, seed=0)
        state = new_state(policy, saved_options)
        train(env, policy, saved_options, seed=0, state=state)
        path = save_checkpoint(tmp_path / "run.safetensors", state, CONFIG)
        with pytest.raises(CheckpointError, match=f"checkpoint does not fit \\({problem}\\)"):
            restore(load_checkpoint(path), new_state(CategoricalPolicy(env, lr=0.03, seed=0), resumed_options))


def test_visit_counts_of_a_long_run_are_tensors(tmp_path):
    """A run may visit millions of cells: the counts are int64 tensors, not JSON, and a checkpoint
    with 300,000 of them loads back whole."""
    env = make_env("CartPole-v0", E)
    options = Options(num_envs=E, T=5, epochs=1, lr=0.03, count_bonus=0.5)
    state = new_state(CategoricalPolicy(env, lr=0.03, seed=0), options)
    train(env, state.policy, options, seed=0, state=state)
    state.state_counter.counts = {cell * 7919: 1 + cell % 5 for cell in range(300_000)}
    path = save_checkpoint(tmp_path / "long.safetensors", state, CONFIG)
    with safetensors.safe_open(path, framework="np") as file:
        assert file.get_slice("state_counter.cells").get_shape() == [300_000]
    resumed = restore(load_checkpoint(path), new_state(CategoricalPolicy(env, lr=0.03, seed=0), options))
    assert resumed.state_counter.counts == state.state_counter.counts


# -------------------------------------------------------------------------- atomicity
def test_parent_directories_are_created(tmp_path):
    path = tmp_path / "runs" / "cartpole" / "latest.safetensors"
    saved(POLICIES["categorical_linear"](SAVED_SEED), path)
    assert load_checkpoint(path).epoch == 0


def _crash(*args, **kwargs):
    raise OSError("simulated crash")


@pytest.mark.parametrize("name", ["fsync", "replace"], ids=["during_write", "before_rename"])
def test_crash_leaves_previous_checkpoint_intact(name, tmp_path, monkeypatch):
    policy = trained(POLICIES["categorical_hidden"])
    path = saved(policy, tmp_path / "latest.safetensors")
    previous_bytes = path.read_bytes()
    monkeypatch.setattr(os, name, _crash)
    with pytest.raises(OSError, match="simulated crash"):
        saved(policy, path, {"loss": [1.0], "avg_reward": [1.0], "mean_return": [1.0], "episodes": [1],
                             "entropy": [1.0], "env_steps": [1], "seconds": [1.0]})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["latest.safetensors"]  # no temporary file left behind
    assert path.read_bytes() == previous_bytes


# ----------------------------------------------------------------------------- errors
def refused(path):
    """The CheckpointError message of loading `path` and restoring it into a run of its options."""
    with pytest.raises(CheckpointError) as info:
        checkpoint = load_checkpoint(path)
        restore(checkpoint, new_state(CategoricalPolicy(categorical_env(), seed=OTHER_SEED), Options()))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def rewritten(source, path, tensors=None, **metadata):
    """`source` written again to `path` with some tensors and metadata entries replaced."""
    with safetensors.safe_open(source, framework="np") as file:
        all_tensors = {name: file.get_tensor(name) for name in file.keys()}
        all_metadata = file.metadata()
    path.write_bytes(safetensors.numpy.save({**all_tensors, **(tensors or {})}, {**all_metadata, **metadata}))
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        load_checkpoint(tmp_path / "nowhere.safetensors")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0, 3], ids=["half", "most", "empty", "3_bytes"])
def test_truncated_file(keep, checkpoint_path, tmp_path):
    data = checkpoint_path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:int(len(data) * keep)] if isinstance(keep, float) else data[:keep])
    assert "truncated or corrupt" in refused(cut) or "truncated, corrupt or not a checkpoint" in refused(cut)


@pytest.mark.parametrize("where", ["header", "length"])
def test_corrupted_bytes(where, checkpoint_path, tmp_path):
    data = bytearray(checkpoint_path.read_bytes())
    if where == "header":
        data[8 + 2] ^= 0xFF  # inside the JSON header
    else:
        data[0:8] = struct.pack("<Q", len(data) * 10)  # a header longer than the file
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(bytes(data))
    assert "damaged.safetensors: truncated, corrupt or not a checkpoint (safetensors: " in refused(damaged)


def test_noise_and_text_are_not_checkpoints(tmp_path):
    for name, data in (("noise.bin", np.random.default_rng(0).bytes(1000)), ("notes.txt", b"not a checkpoint\n")):
        path = tmp_path / name
        path.write_bytes(data)
        assert "truncated, corrupt or not a checkpoint" in refused(path)


def test_someone_elses_safetensors_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.numpy.save({"weight": np.zeros(3)}, {"format": "pt"}))
    assert refused(path) == f"{path}: not a minipg checkpoint (a safetensors file without minipg's format tag)"


def test_an_npz_checkpoint_of_minipg_0_1_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, format=np.frombuffer(b"minipg-checkpoint", dtype=np.uint8))
    assert refused(path) == (f"{path}: an .npz archive, the checkpoint format of minipg 0.1; this minipg reads its "
                             "safetensors checkpoints only (train again, or resume with minipg 0.1)")


def test_another_format_version(checkpoint_path, tmp_path):
    path = rewritten(checkpoint_path, tmp_path / "other.safetensors", version="5")
    assert refused(path) == f"{path}: checkpoint format version 5, this minipg reads version 4"


def test_a_file_larger_than_any_checkpoint_is_refused_unread(checkpoint_path, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "MAX_BYTES", 100)
    size = os.path.getsize(checkpoint_path)
    assert refused(checkpoint_path) == (f"{checkpoint_path}: not a minipg checkpoint ({size:,} bytes; a checkpoint "
                                        "has at most 100)")


@pytest.mark.parametrize("metadata, message", [
    ({"state": "{not json"}, "truncated, corrupt or not a checkpoint (Expecting property name"),
    ({"state": json.dumps({"history": {"loss": {"tensor": "nowhere"}}})}, "corrupt checkpoint (state: 'nowhere')"),
    ({"state": "[1, 2]"}, "corrupt checkpoint (state: config and state are JSON objects, with a history)"),
    ({"config": json.dumps({"lr": -1.0})}, "corrupt checkpoint (config: lr must be a positive finite number"),
], ids=["state_not_json", "missing_tensor", "state_not_an_object", "bad_option"])
def test_damaged_metadata_is_named(metadata, message, checkpoint_path, tmp_path):
    path = rewritten(checkpoint_path, tmp_path / "bad.safetensors", **metadata)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path).options
    assert message in str(info.value)


@pytest.mark.parametrize("make_policy, differences", [
    (lambda: CategoricalPolicy(categorical_env(), hidden=(8,)), "hidden: () saved, (8,) here"),
    (lambda: CategoricalPolicy(stand_in_env(OBS_DIM, spaces.Discrete(3))), "act_dim: 2 saved, 3 here"),
    (lambda: CategoricalPolicy(stand_in_env(5, spaces.Discrete(2))), "obs_dim: 4 saved, 5 here"),
    (lambda: CategoricalPolicy(categorical_env(), dtype=np.float32), "dtype: float64 saved, float32 here"),
    (lambda: DiagonalGaussianPolicy(gaussian_env(), hidden=()),
     "policy: CategoricalPolicy saved, DiagonalGaussianPolicy here"),
], ids=["hidden", "actions", "observations", "dtype", "class"])
def test_architecture_mismatch_names_the_fields_that_differ(make_policy, differences, checkpoint_path):
    policy = make_policy()
    before = [p.copy() for p in policy.parameters()]
    with pytest.raises(CheckpointError, match=exactly(
            f"{checkpoint_path}: checkpoint does not fit (the saved policy is CategoricalPolicy(obs_dim=4, act_dim=2, "
            f"hidden=(), dtype=float64), this one differs in {differences})")):
        restore(load_checkpoint(checkpoint_path), policy)
    for param, original in zip(policy.parameters(), before):  # nothing was half-restored
        np.testing.assert_array_equal(param, original)


def test_a_mirror_that_differs_is_named(tmp_path):
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(1,)))
    path = saved(DiagonalGaussianPolicy(env, hidden=(4,), mirror=[-1, -1, 1, -1]), tmp_path / "mirrored.safetensors")
    with pytest.raises(CheckpointError, match=exactly(
            f"{path}: checkpoint does not fit (the saved policy is DiagonalGaussianPolicy(obs_dim=4, act_dim=1, "
            "hidden=(4,), dtype=float64, mirror=(-1, -1, 1, -1)), this one differs in mirror: (-1, -1, 1, -1) saved, "
            "None here)")):
        restore(load_checkpoint(path), DiagonalGaussianPolicy(env, hidden=(4,)))


@pytest.mark.parametrize("tensor, value, message", [
    ("policy.parameters.0", np.zeros((4, 3)), "policy: parameters[0]: float64 of shape (4, 3) saved, float64 of "
                                              "shape (4, 2) expected"),
    ("policy.optimizer.m.1", np.zeros(2, dtype=np.float32), "policy: optimizer m[1]: float32 of shape (2,) saved"),
], ids=["parameter_shape", "moment_dtype"])
def test_a_tensor_that_does_not_fit_is_named(tensor, value, message, checkpoint_path, tmp_path):
    path = rewritten(checkpoint_path, tmp_path / "bad.safetensors", {tensor: value})
    assert message in refused(path)


def test_a_generator_state_that_does_not_fit_is_refused_and_the_policy_kept(checkpoint_path):
    loaded = load_checkpoint(checkpoint_path)
    loaded.state["policy"]["rng"]["state"] = {"state": -1, "inc": 1}
    policy = POLICIES["categorical_linear"](OTHER_SEED)
    before = [p.copy() for p in policy.parameters()], policy.rng.bit_generator.state
    with pytest.raises(CheckpointError, match=r"checkpoint does not fit \(rng: not a PCG64 state"):
        restore(loaded, policy)
    for param, original in zip(policy.parameters(), before[0]):
        np.testing.assert_array_equal(param, original)
    assert policy.rng.bit_generator.state == before[1]


def test_a_header_that_declares_terabytes_is_refused_with_little_memory(tmp_path):
    """A 4 kB file whose header declares 10^11 float64 (745 GiB): safetensors checks every tensor
    against the bytes the file holds before anything is allocated."""
    header = json.dumps({"__metadata__": {"format": "minipg-checkpoint", "version": "4", "config": "{}",
                                          "state": "{}"},
                         "huge": {"dtype": "F64", "shape": [10**11], "data_offsets": [0, 8 * 10**11]}}).encode()
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4000))
    tracemalloc.start()
    try:
        message = refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "truncated, corrupt or not a checkpoint (safetensors: " in message
    assert peak < 50 * MiB, f"{peak / MiB:.1f} MiB"
