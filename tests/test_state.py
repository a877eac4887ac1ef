"""The state protocol (minipg/state.py): every object a run carries gives its state with
state_dict() and takes it back with load_state_dict(), bit for bit; what does not fit is
refused with a ValueError naming the part, and the object is left as it was."""

import json
import re

import numpy as np
import pytest
from gymnasium import spaces

from conftest import assert_same_state, exactly, stand_in_env
from minipg import Options, train
from minipg.baselines import ValueBaseline
from minipg.exploration import StateCounter
from minipg.normalization import RewardScaler, RunningMeanStd
from minipg.optim import Adam
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.solver import new_state
from minipg.state import checked_arrays, checked_count
from corridor import NEXT_STEP, Corridor


def corridor_env():
    """Three corridors whose episodes end by termination and by truncation (tests/corridor.py)."""
    return Corridor([3, 5, 4], NEXT_STEP)


def adam(seed=0, steps=3):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    optimizer = Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    for _ in range(steps):
        optimizer.step([rng.normal(size=p.shape) for p in params])
    return optimizer


def snapshot(obj):
    """A deep copy of obj.state_dict(), to compare with later."""
    def copy(node):
        if isinstance(node, dict):
            return {key: copy(value) for key, value in node.items()}
        if isinstance(node, (list, tuple)):
            return [copy(value) for value in node]
        return node.copy() if isinstance(node, np.ndarray) else node
    return copy(obj.state_dict())


def test_checked_arrays_names_the_count_shape_and_dtype():
    targets = [np.zeros((2, 3)), np.zeros(3, dtype=np.float32)]
    assert [a.shape for a in checked_arrays("m", [np.ones((2, 3)), np.ones(3, np.float32)], targets)] == [(2, 3), (3,)]
    with pytest.raises(ValueError, match=exactly("m: 1 arrays saved, 2 expected")):
        checked_arrays("m", [np.ones((2, 3))], targets)
    with pytest.raises(ValueError, match=exactly("m: dict arrays saved, 2 expected")):
        checked_arrays("m", {}, targets)
    with pytest.raises(ValueError, match=exactly("m[0]: float64 of shape (3, 2) saved, float64 of shape (2, 3) "
                                                 "expected")):
        checked_arrays("m", [np.ones((3, 2)), np.ones(3, np.float32)], targets)
    with pytest.raises(ValueError, match=exactly("m[1]: float64 of shape (3,) saved, float32 of shape (3,) expected")):
        checked_arrays("m", [np.ones((2, 3)), np.ones(3)], targets)


def test_checked_count_takes_non_negative_integers_only():
    assert checked_count("t", 0) == 0 and checked_count("t", np.int64(7)) == 7
    for bad in (-1, 1.5, True, "3", None):
        with pytest.raises(ValueError, match=exactly(f"t: {bad!r} saved, a non-negative integer expected")):
            checked_count("t", bad)


def test_adam_round_trip_continues_bitwise():
    saved, restored = adam(0), adam(1, steps=1)
    moments = restored.m
    restored.load_state_dict(json.loads(json.dumps(saved.state_dict(), default=lambda a: a.tolist()))
                             | {"m": saved.m, "v": saved.v})
    assert restored.m is moments  # in place
    assert_same_state(saved.state_dict(), restored.state_dict())
    assert (restored.t, restored.beta1, restored.beta2, restored.eps) == (3, 0.8, 0.99, 1e-6)
    grads = [np.ones((3, 2)), np.ones(2)]
    saved.step(grads)
    restored.step(grads)
    assert_same_state(saved.state_dict(), restored.state_dict())
    np.testing.assert_array_equal(saved.params[0], saved.params[0])


def test_adam_takes_betas_of_zero_as_its_constructor_does():
    optimizer = adam(0)
    optimizer.load_state_dict({**adam(1).state_dict(), "betas": [0.0, 0.0], "eps": 1e-3})
    assert (optimizer.beta1, optimizer.beta2, optimizer.eps) == (0.0, 0.0, 1e-3)


@pytest.mark.parametrize("change, message", [
    ({"t": -1}, "t: -1 saved, a non-negative integer expected"),
    ({"betas": [1.0, 0.9]}, "betas [1.0, 0.9] and eps 1e-06 saved: betas in [0, 1) and a positive finite eps expected"),
    ({"betas": [0.9, -0.1]}, "betas [0.9, -0.1] and eps 1e-06 saved"),
    ({"betas": [0.9, 1.0]}, "betas [0.9, 1.0] and eps 1e-06 saved"),
    ({"eps": 0.0}, "betas [0.8, 0.99] and eps 0.0 saved"),
    ({"eps": float("inf")}, "betas [0.8, 0.99] and eps inf saved"),
    ({"v": [np.zeros((3, 2))]}, "v: 1 arrays saved, 2 expected"),
], ids=["t", "beta1", "beta2", "beta2_one", "eps_zero", "eps_inf", "v_count"])
def test_adam_refuses_what_does_not_fit_and_keeps_its_state(change, message):
    optimizer, other = adam(0), adam(1)
    before = snapshot(optimizer)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        optimizer.load_state_dict({**other.state_dict(), **change})
    assert_same_state(before, optimizer.state_dict())


@pytest.mark.parametrize("make", [
    lambda seed: CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), hidden=(4,), seed=seed),
    lambda seed: DiagonalGaussianPolicy(stand_in_env(3, spaces.Box(-1, 1, (2,))), hidden=(4,), seed=seed,
                                        mirror=[1, -1, 1], dtype=np.float32),
], ids=["categorical", "gaussian"])
def test_a_policy_round_trip_gives_its_parameters_adam_and_generator(make):
    policy, restored = make(0), make(1)
    policy.update(np.ones((2, 2, 3)), policy.act(np.ones((2, 2, 3))), np.ones((2, 2)))
    architecture = policy.state_dict()["architecture"]
    assert json.loads(json.dumps(architecture)) == architecture  # JSON as it is
    restored.load_state_dict(policy.state_dict())
    assert_same_state(policy.state_dict(), restored.state_dict())
    states = np.zeros((5, 3))
    np.testing.assert_array_equal(policy.act(states), restored.act(states))


def test_a_policy_refuses_another_architecture_or_generator_and_keeps_its_state():
    policy = CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), seed=0)
    other = CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), seed=1)
    wider = CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), hidden=(4,), seed=1)
    before = snapshot(policy)
    with pytest.raises(ValueError, match=exactly(
            "the saved policy is CategoricalPolicy(obs_dim=3, act_dim=2, hidden=(4,), dtype=float64), this one "
            "differs in hidden: (4,) saved, () here")):
        policy.load_state_dict(wider.state_dict())
    broken_rng = {**other.state_dict(), "rng": {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}}}
    with pytest.raises(ValueError, match="^rng: not a PCG64 state"):
        policy.load_state_dict(broken_rng)
    with pytest.raises(ValueError, match=exactly("optimizer t: -2 saved, a non-negative integer expected")):
        policy.load_state_dict({**other.state_dict(), "optimizer": {**other.opt.state_dict(), "t": -2}})
    with pytest.raises(ValueError, match=r"^parameters\[1\]: float64 of shape \(3,\) saved"):
        policy.load_state_dict({**other.state_dict(), "parameters": [other.parameters()[0], np.zeros(3)]})
    assert_same_state(before, policy.state_dict())


def test_an_architecture_names_its_mirror_and_its_dtype():
    env = stand_in_env(3, spaces.Box(-1, 1, (1,)))
    mirrored = DiagonalGaussianPolicy(env, hidden=(2,), mirror=[1, -1, 1], seed=0)
    plain32 = DiagonalGaussianPolicy(env, hidden=(2,), dtype=np.float32, seed=0)
    assert set(mirrored.state_dict()) == {"architecture", "parameters", "optimizer", "rng"}
    with pytest.raises(ValueError, match=exactly(
            "the saved policy is DiagonalGaussianPolicy(obs_dim=3, act_dim=1, hidden=(2,), dtype=float64, "
            "mirror=(1, -1, 1)), this one differs in dtype: float64 saved, float32 here; mirror: (1, -1, 1) saved, "
            "None here")):
        plain32.load_state_dict(mirrored.state_dict())


def test_the_value_baseline_round_trip_and_refusal():
    rng = np.random.default_rng(0)
    baseline, restored = (ValueBaseline(3, 0.99, np.random.default_rng(seed), hidden=(4,)) for seed in (0, 1))
    baseline.fit(rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2)), np.ones((4, 2), dtype=bool), steps=2)
    restored.load_state_dict(baseline.state_dict())
    assert_same_state(baseline.state_dict(), restored.state_dict())
    before = snapshot(restored)
    narrow = ValueBaseline(3, 0.99, np.random.default_rng(2), hidden=(2,))
    with pytest.raises(ValueError, match=r"^parameters\[0\]: float64 of shape \(4, 2\) saved, float64 of shape "
                                         r"\(4, 4\) expected"):
        restored.load_state_dict(narrow.state_dict())
    with pytest.raises(ValueError, match=exactly("optimizer t: 1.5 saved, a non-negative integer expected")):
        restored.load_state_dict({**baseline.state_dict(), "optimizer": {**baseline.opt.state_dict(), "t": 1.5}})
    assert_same_state(before, restored.state_dict())


def test_the_normalizers_round_trip_and_refusal():
    moments = RunningMeanStd((2,))
    moments.update(np.arange(8.0).reshape(4, 2))
    restored = RunningMeanStd((2,))
    restored.load_state_dict(moments.state_dict())
    assert_same_state(moments.state_dict(), restored.state_dict())
    for change, message in (({"count": 0.0}, "count 0.0 saved, a positive number expected"),
                            ({"count": float("inf")}, "count inf saved, a positive number expected"),
                            ({"var": np.ones(3)}, "statistics of shapes (2,) and (3,) saved, (2,) expected")):
        with pytest.raises(ValueError, match=exactly(message)):
            RunningMeanStd((2,)).load_state_dict({**moments.state_dict(), **change})
    fresh = RunningMeanStd((2,))  # nothing seen yet: the count is ε, not 0
    fresh.load_state_dict(RunningMeanStd((2,)).state_dict())
    assert 0 < fresh.count < 1
    scaler, other = RewardScaler(), RewardScaler()
    scaler.scale(np.ones((3, 2)), np.zeros((3, 2), dtype=bool), 0.9)
    other.load_state_dict(scaler.state_dict())
    assert_same_state(scaler.state_dict(), other.state_dict())


def test_the_visit_counter_round_trip():
    counter = StateCounter(2, 8, np.random.default_rng(0))
    counter.bonus(np.random.default_rng(1).normal(size=(5, 2, 2)), np.ones((5, 2), dtype=bool), 0.5)
    restored = StateCounter(2, 8, np.random.default_rng(3))
    restored.load_state_dict(counter.state_dict())
    assert restored.counts == counter.counts and all(type(cell) is int for cell in restored.counts)
    assert_same_state(counter.state_dict(), restored.state_dict())


def test_a_solver_state_round_trip_continues_training_bitwise():
    env = corridor_env()
    options = Options(num_envs=env.num_envs, T=6, epochs=4, lr=0.01, baseline="value", value_steps=2,
                      normalize_observations=True, normalize_rewards=True, count_bonus=0.5, count_bits=6,
                      lr_decay=True)
    first = new_state(CategoricalPolicy(env, lr=0.01, seed=0), options.replace(epochs=2))
    empty = first.state_dict()["history"]  # before the first epoch too: counts are integers
    assert (empty["episodes"].dtype, empty["env_steps"].dtype, empty["loss"].dtype) == (np.int64, np.int64, np.float64)
    train(env, first.policy, options.replace(epochs=2), seed=0, state=first)
    saved = first.state_dict()
    assert set(saved) == {"history", "schedules", "policy", "baseline", "observation_normalizer", "reward_scaler",
                          "state_counter"}  # the names checkpoints hold
    assert saved["history"]["episodes"].dtype == np.int64 and saved["history"]["loss"].dtype == np.float64
    second = new_state(CategoricalPolicy(env, lr=0.01, seed=5), options.replace(epochs=2))
    second.load_state_dict(saved)
    assert second.history == first.history or all(
        np.array_equal(second.history[key], first.history[key], equal_nan=True) for key in first.history)
    assert type(second.history["episodes"][0]) is int and type(second.history["loss"][0]) is float
    for state in (first, second):
        train(env, state.policy, options, seed=0, state=state)
    assert_same_state(first.state_dict(), second.state_dict())


def test_a_solver_state_names_a_part_saved_or_missing_and_a_broken_history():
    env = corridor_env()
    plain = new_state(CategoricalPolicy(env, lr=0.01, seed=0), Options(num_envs=env.num_envs, lr=0.01))
    valued = new_state(CategoricalPolicy(env, lr=0.01, seed=0), Options(num_envs=env.num_envs, lr=0.01,
                                                                        baseline="value"))
    with pytest.raises(ValueError, match=exactly("baseline: missing")):
        valued.load_state_dict(plain.state_dict())
    with pytest.raises(ValueError, match=exactly("baseline: saved, but this run has none")):
        plain.load_state_dict(valued.state_dict())
    broken = plain.state_dict()
    broken["history"] = {**broken["history"], "loss": np.zeros(3)}
    with pytest.raises(ValueError, match=exactly("history: one value per epoch expected for every metric")):
        plain.load_state_dict(broken)
    broken["history"]["loss"] = np.zeros((0, 1))
    with pytest.raises(ValueError, match=exactly("history: one value per epoch expected for every metric")):
        plain.load_state_dict(broken)
    with pytest.raises(ValueError, match=r"^policy: optimizer m: 1 arrays saved"):
        plain.load_state_dict({**plain.state_dict(), "policy": {
            **plain.policy.state_dict(), "optimizer": {**plain.policy.opt.state_dict(), "m": [np.zeros(1)]}}})
