"""The count-based exploration bonus (exploration.py): codes are the documented SimHash of the
standardized observation, the bonus is β/√n with n counted over every epoch so far (this
one's included), invalid steps neither count nor score, the counts survive a JSON round trip,
and the solver learns from rewards + bonus while its metrics keep the task's own rewards."""

import json

import numpy as np
import pytest

from conftest import SEEDS, exactly
from corridor import LENGTHS, NEXT_STEP, SAME_STEP, T, Corridor, make_policy
from minipg import Options, OptionsError, train
from minipg.exploration import EPSILON, StateCounter
from minipg.reinforce import rollout_buffers
from minipg.solver import collect_rollout, new_state

BETA = 0.3


def counter(obs_dim=3, bits=12, seed=0):
    return StateCounter(obs_dim, bits, np.random.default_rng(seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_codes_are_the_signs_of_random_affine_projections_of_standardized_observations(seed):
    rng = np.random.default_rng(seed)
    shape, obs_dim, bits = (int(rng.integers(1, 6)), int(rng.integers(1, 5))), int(rng.integers(1, 7)), 20
    states = StateCounter(obs_dim, bits, np.random.default_rng(seed))
    observations = rng.normal(3.0, 5.0, size=shape + (obs_dim,))
    states.bonus(observations, np.ones(shape, dtype=bool), BETA)  # the first batch sets μ₀, σ₀

    flat = observations.reshape(-1, obs_dim)
    mean, std = flat.mean(axis=0), np.sqrt(flat.var(axis=0) + EPSILON)
    np.testing.assert_array_equal(states.mean, mean)
    np.testing.assert_array_equal(states.std, std)
    assert states.codes(observations).dtype == np.int64
    for observation, code in zip(flat, states.codes(observations).reshape(-1)):
        g = np.append((observation - mean) / std, 1.0)
        expected = sum(1 << i for i in range(bits) if states.projection[i] @ g > 0)
        assert code == expected


def test_the_bonus_is_beta_over_the_root_of_the_visits_so_far():
    states = counter(obs_dim=2)
    points = np.array([[0.0, 0.0], [5.0, -3.0], [-4.0, 6.0]])
    first = points[[0, 1, 1, 2, 2, 2, 2]].reshape(7, 1, 2)  # (T, E, obs_dim): 1, 2 and 4 visits
    valid = np.ones((7, 1), dtype=bool)
    codes = states.codes  # needs μ₀ and σ₀, set by the first bonus
    bonus = states.bonus(first, valid, BETA)
    cells = codes(first)
    assert len(set(cells[[0, 1, 3], 0].tolist())) == 3  # the three points fall in three cells
    np.testing.assert_allclose(bonus[:, 0], BETA / np.sqrt([1, 2, 2, 4, 4, 4, 4]), rtol=1e-15)
    second = states.bonus(points[[0, 0, 1]].reshape(3, 1, 2), np.ones((3, 1), dtype=bool), BETA)
    np.testing.assert_allclose(second[:, 0], BETA / np.sqrt([3, 3, 3]), rtol=1e-15)
    assert sum(states.counts.values()) == 10


def test_the_standardization_is_fixed_by_the_first_batch():
    states = counter()
    rng = np.random.default_rng(1)
    first = rng.normal(size=(4, 2, 3))
    states.bonus(first, np.ones((4, 2), dtype=bool), BETA)
    codes = states.codes(first)
    states.bonus(rng.normal(10.0, 0.1, size=(4, 2, 3)), np.ones((4, 2), dtype=bool), BETA)
    np.testing.assert_array_equal(states.codes(first), codes)


def test_a_coordinate_constant_in_the_first_rollout_is_not_blown_up():
    """σ₀ = 1 where the first rollout did not vary (a contact flag): its later 0/1 moves the
    standardized value by 1, not by 10⁴, so the other coordinates still tell cells apart."""
    states = counter(obs_dim=2)
    rng = np.random.default_rng(3)
    first = np.stack([rng.normal(size=(50, 1)), np.zeros((50, 1))], axis=-1)  # (T, E, 2), the flag 0
    states.bonus(first, np.ones((50, 1), dtype=bool), BETA)
    np.testing.assert_array_equal(states.std[1], 1.0)
    landed = first.copy()
    landed[..., 1] = 1.0
    assert len(np.unique(states.codes(landed))) > 1
    with pytest.raises(ValueError, match=exactly("no codes before the first batch is counted (it sets the "
                                                 "standardization)")):
        counter().codes(np.zeros((1, 3)))


def test_float32_observations_are_counted_in_float64():
    """A float32 policy's states (no normalizer) are standardized in float64, as their float64 copy."""
    observations = np.random.default_rng(5).normal(100.0, 0.01, size=(40, 2, 3)).astype(np.float32)
    valid = np.ones((40, 2), dtype=bool)
    single, double = counter(), counter()
    np.testing.assert_array_equal(single.bonus(observations, valid, BETA),
                                  double.bonus(observations.astype(np.float64), valid, BETA))
    np.testing.assert_array_equal(single.mean, double.mean)
    assert single.mean.dtype == np.float64


def test_invalid_steps_neither_count_nor_score():
    states = counter(obs_dim=1)
    observations = np.zeros((4, 2, 1))
    valid = np.array([[True, False], [True, True], [False, True], [True, True]])
    bonus = states.bonus(observations, valid, BETA)
    np.testing.assert_array_equal(bonus[~valid], 0.0)
    np.testing.assert_allclose(bonus[valid], BETA / np.sqrt(6))
    assert states.counts == {int(states.codes(observations[0, 0])): 6}


def test_state_dict_round_trip_through_json():
    states = counter()
    rng = np.random.default_rng(2)
    observations, valid = rng.normal(size=(5, 3, 3)), np.ones((5, 3), dtype=bool)
    states.bonus(observations, valid, BETA)
    saved = states.state_dict()
    assert saved["cells"].dtype == saved["visits"].dtype == np.int64 and (np.diff(saved["cells"]) > 0).all()
    as_json = {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in saved.items()}
    restored = counter(seed=99)
    restored.load_state_dict(json.loads(json.dumps(as_json)))
    assert restored.counts == states.counts
    later = rng.normal(size=(5, 3, 3))
    np.testing.assert_array_equal(restored.bonus(later, valid, BETA), states.bonus(later, valid, BETA))
    with pytest.raises(ValueError, match=r"projection of shape \(12, 4\) saved, \(5, 4\) expected"):
        counter(bits=5).load_state_dict(states.state_dict())
    empty = counter().state_dict()  # before any batch: no μ₀ yet, no counts
    assert empty["cells"].dtype == empty["visits"].dtype == np.int64
    fresh = counter()
    fresh.load_state_dict(empty)
    assert fresh.mean is None and fresh.counts == {}
    whole_numbers = {"projection": np.ones((12, 4), dtype=int).tolist(), "mean": [0, 1, 2], "std": [1, 1, 2],
                     "cells": [3.0, 9.0], "visits": [2, 1]}  # as JSON may give them back
    fresh.load_state_dict(whole_numbers)
    assert fresh.projection.dtype == fresh.mean.dtype == fresh.std.dtype == np.float64
    assert fresh.counts == {3: 2, 9: 1} and all(type(cell) is int for cell in fresh.counts)


@pytest.mark.parametrize("change, problem", [
    ({"mean": [0.0, 0.0]}, "standardization of shapes [(2,), (3,)] saved, two of (3,) or two None expected"),
    ({"std": None}, "standardization of shapes [(3,), None] saved, two of (3,) or two None expected"),
    ({"visits": [1]}, "counts: cells of shape (2,) (2 different) and visits of shape (1,) saved (each "
                      "must be at least 1)"),
    ({"cells": [5, 5]}, "counts: cells of shape (2,) (1 different) and visits of shape (2,) saved (each "
                        "must be at least 1)"),
    ({"visits": [1, 0]}, "counts: cells of shape (2,) (2 different) and visits of shape (2,) saved (each "
                         "must be at least 1)"),
    ({"cells": [[3], [9]], "visits": [[2], [1]]}, "counts: cells of shape (2, 1) (2 different) and "
                                                  "visits of shape (2, 1) saved (each must be at least 1)"),
])
def test_restore_refuses_what_does_not_fit(change, problem):
    states = counter()
    states.bonus(np.random.default_rng(4).normal(size=(3, 1, 3)), np.ones((3, 1), dtype=bool), BETA)
    saved = {**states.state_dict(), "cells": [3, 9], "visits": [2, 1], **change}
    with pytest.raises(ValueError, match=exactly(problem)):
        counter().load_state_dict(saved)


def test_bits_must_fit_an_int64_code():
    for bits in (1, 62):  # the codes of 62 bits fill an int64 but for its sign bit
        states = counter(bits=bits)
        states.bonus(np.eye(3).reshape(3, 1, 3), np.ones((3, 1), dtype=bool), BETA)
        assert 0 <= min(states.counts) and max(states.counts) < 2**bits
    for bits in (0, 63):
        with pytest.raises(ValueError, match=exactly(f"bits must be from 1 to 62, got {bits}")):
            counter(bits=bits)
    with pytest.raises(OptionsError, match="count_bits must be an integer from 1 to 62"):
        Options(count_bonus=0.1, count_bits=0)
    with pytest.raises(OptionsError, match="count_bits needs count_bonus"):
        Options(count_bits=8)


@pytest.mark.parametrize("mode", [NEXT_STEP, SAME_STEP], ids=["next_step", "same_step"])
def test_the_solver_learns_from_rewards_plus_bonus_and_reports_the_tasks_rewards(mode):
    import minipg.solver as solver

    env = Corridor(LENGTHS, mode)
    options = Options(num_envs=len(LENGTHS), T=T, epochs=2, lr=0.01, gamma=0.9, count_bonus=BETA, count_bits=6,
                      normalize_observations=True)
    policy = make_policy(env)
    state = new_state(policy, options)
    # What the solver's counter will score: a copy fed the same rollouts (the corridor ignores actions).
    expected_counter = StateCounter(1, 6, np.random.default_rng(0))
    expected_counter.load_state_dict(state.state_counter.state_dict())
    seen = []
    real = solver.advantages_and_targets

    def spy(buffers, options, baseline, rewards=None):
        seen.append((buffers["rewards"].copy(), rewards.copy(), buffers["observations"].copy(),
                     buffers["valid"].copy()))
        return real(buffers, options, baseline, rewards)

    solver.advantages_and_targets = spy
    try:
        history = train(env, policy, options, seed=0, state=state)
    finally:
        solver.advantages_and_targets = real
    for raw, rewards, observations, valid in seen:
        np.testing.assert_allclose(rewards, raw + expected_counter.bonus(observations, valid, BETA), rtol=1e-15)
    assert (seen[0][1] > seen[0][0])[seen[0][3]].all()
    assert state.state_counter.counts == expected_counter.counts
    assert sum(state.state_counter.counts.values()) == 2 * seen[0][3].sum()
    plain = train(Corridor(LENGTHS, mode), make_policy(Corridor(LENGTHS, mode)), options.replace(count_bonus=0.0,
                  count_bits=32), seed=0)  # the corridor's returns do not depend on the actions
    assert history["mean_return"] == plain["mean_return"]


def test_off_by_default_and_drawn_from_the_policys_generator():
    env = Corridor(LENGTHS, SAME_STEP)
    assert new_state(make_policy(env), Options()).state_counter is None
    policy = make_policy(env)
    expected = np.random.default_rng(0)
    expected.bit_generator.state = policy.rng.bit_generator.state
    state = new_state(policy, Options(count_bonus=1.0, count_bits=4))
    np.testing.assert_array_equal(state.state_counter.projection, expected.standard_normal((4, 2)))


@pytest.mark.parametrize("normalize", [False, True], ids=["raw_states", "normalized_states"])
def test_the_counter_sees_the_raw_observations(normalize, monkeypatch):
    """Without a normalizer the states are the raw observations; with one, the raw ones kept beside."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    counted = []
    real = StateCounter.bonus

    def spy(self, observations, valid, beta):
        counted.append(np.array(observations))
        return real(self, observations, valid, beta)

    monkeypatch.setattr(StateCounter, "bonus", spy)
    options = Options(num_envs=len(LENGTHS), T=T, epochs=1, lr=0.01, count_bonus=BETA,
                      normalize_observations=normalize)
    train(env, policy, options, seed=0)
    plain = rollout_buffers(env, policy, T)
    collect_rollout(Corridor(LENGTHS, SAME_STEP), policy, plain, Corridor(LENGTHS, SAME_STEP).reset(seed=0)[0])
    np.testing.assert_array_equal(counted[0], plain["states"])  # the step counts 0, 1, 2, ... (corridor.py)
    assert counted[0].max() >= 1


def test_a_float32_run_learns_from_float32_rewards_with_the_bonus(monkeypatch):
    import minipg.solver as solver
    from minipg.policies import CategoricalPolicy

    env = Corridor(LENGTHS, SAME_STEP)
    policy = CategoricalPolicy(env, lr=0.01, seed=0, dtype="float32")
    seen = []
    real = solver.advantages_and_targets

    def spy(buffers, options, baseline, rewards=None):
        seen.append(rewards.dtype)
        return real(buffers, options, baseline, rewards)

    monkeypatch.setattr(solver, "advantages_and_targets", spy)
    train(env, policy, Options(num_envs=len(LENGTHS), T=T, epochs=1, lr=0.01, dtype="float32", count_bonus=BETA),
          seed=0)
    assert seen == [np.float32]
