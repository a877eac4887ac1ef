"""Running normalization (normalization.py): the parallel moment update equals the moments of
all the data, observations and rewards are normalized as documented, and the solver uses them:
states normalized with the statistics of the epochs before, rewards scaled for learning but
not for the metrics, statistics saved and resumed bit for bit."""

import numpy as np
import pytest
from gymnasium import spaces

from conftest import SEEDS, relative_error
from corridor import LENGTHS, SAME_STEP, T, Corridor, make_policy
from minipg import Options, train
from minipg.normalization import CLIP, EPSILON, ObservationNormalizer, RewardScaler, RunningMeanStd
from minipg.reinforce import rollout_buffers
from minipg.returns import calculate_returns
from minipg.solver import advantages_and_targets, collect_rollout, new_state


@pytest.mark.parametrize("seed", SEEDS)
def test_merged_moments_are_those_of_all_the_data(seed):
    rng = np.random.default_rng(seed)
    batches = [rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 10), size=(int(rng.integers(1, 50)), 3))
               for _ in range(int(rng.integers(2, 6)))]
    moments = RunningMeanStd((3,))
    for batch in batches:
        moments.update(batch)
    data = np.concatenate(batches)
    # the initial count ε weighs the prior mean 0 and variance 1: a relative effect of ε / n
    assert relative_error(moments.mean, data.mean(axis=0)) < 1e-8
    assert relative_error(moments.var, data.var(axis=0)) < 1e-8
    assert moments.count == pytest.approx(len(data))


def test_an_empty_batch_changes_nothing_and_leading_axes_are_samples():
    moments = RunningMeanStd((2,))
    moments.update(np.zeros((0, 2)))
    assert moments.count == EPSILON and np.array_equal(moments.var, [1.0, 1.0])
    moments.update(np.arange(12.0).reshape(2, 3, 2))  # (T, E, obs_dim): 6 samples
    np.testing.assert_allclose(moments.mean, [5.0, 6.0], rtol=1e-8)


def test_observations_are_centred_scaled_and_clipped():
    normalizer = ObservationNormalizer((2,))
    data = np.array([[1.0, 100.0], [3.0, 300.0], [5.0, 500.0]])
    same = normalizer(data)  # not updated: mean 0, variance 1
    np.testing.assert_allclose(same, np.clip(data / np.sqrt(1 + EPSILON), -CLIP, CLIP))
    normalized = normalizer(data, update=True)
    expected = (data - data.mean(axis=0)) / np.sqrt(data.var(axis=0) + EPSILON)
    np.testing.assert_allclose(normalized, expected, rtol=1e-6, atol=1e-7)
    assert normalizer(np.array([[1e9, 0.0]]))[0, 0] == CLIP
    assert normalizer(data.astype(np.float32)).dtype == np.float64


def test_rewards_are_scaled_by_the_spread_of_the_discounted_return():
    """G restarts after an episode ends and at every rollout's start; r is divided (not centred)."""
    rewards = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    dones = np.array([[False, False], [True, False], [False, False]])
    gamma = 0.5
    scaler = RewardScaler()
    scaled = scaler.scale(rewards, dones, gamma)
    returns = np.array([[1.0, 2.0], [1.5, 3.0], [1.0, 3.5]])  # env 0's episode ends at t = 1
    std = np.sqrt(returns.var() + EPSILON)
    np.testing.assert_allclose(scaled, rewards / std, rtol=1e-6)
    np.testing.assert_allclose(scaler.scale(rewards, dones, gamma), rewards / std, rtol=1e-6)  # same data again


def test_the_solver_normalizes_with_the_statistics_of_the_epochs_before():
    """Epoch 1 sees the observations scaled by the initial statistics (mean 0, variance 1);
    after it, the statistics are those of epoch 1's raw observations, and epoch 2's states are
    normalized by them."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    options = Options(num_envs=len(LENGTHS), T=T, epochs=2, lr=0.01, normalize_observations=True)
    state = new_state(policy, options)
    buffers = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, buffers, env.reset(seed=0)[0], state.observation_normalizer)
    raw = buffers["observations"].copy()
    np.testing.assert_allclose(buffers["states"], raw / np.sqrt(1 + EPSILON))
    train(env, policy, options.replace(epochs=1), seed=0, state=state)
    np.testing.assert_allclose(state.observation_normalizer.mean, raw.mean(axis=(0, 1)), rtol=1e-6)
    collect_rollout(env, policy, buffers, env.reset(seed=0)[0], state.observation_normalizer)
    np.testing.assert_allclose(buffers["states"], state.observation_normalizer(raw), rtol=1e-12)
    # the last observations (for V') are normalized alike
    plain = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, plain, env.reset(seed=0)[0])
    np.testing.assert_allclose(buffers["last_observations"],
                               state.observation_normalizer(plain["last_observations"]), rtol=1e-12)


def test_scaled_rewards_reach_the_advantages_and_raw_ones_the_metrics():
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    options = Options(num_envs=len(LENGTHS), T=T, epochs=1, lr=0.01, normalize_rewards=True, gamma=0.9)
    seen = {}
    import minipg.solver as solver
    real = solver.advantages_and_targets

    def spy(buffers, options, baseline, rewards=None):
        seen["rewards"] = rewards.copy()
        seen["raw"] = buffers["rewards"].copy()
        return real(buffers, options, baseline, rewards)

    solver.advantages_and_targets = spy
    try:
        history = train(env, policy, options, seed=0)
    finally:
        solver.advantages_and_targets = real
    returns = np.zeros(len(LENGTHS))
    discounted = []
    dones = np.zeros((T, len(LENGTHS)), dtype=bool)
    for t in range(T):
        returns = 0.9 * returns + seen["raw"][t]
        discounted.append(returns)
        dones[t] = np.asarray([(t + 1) % length == 0 for length in LENGTHS])
        returns = np.where(dones[t], 0.0, returns)
    np.testing.assert_allclose(seen["rewards"], seen["raw"] / np.sqrt(np.var(discounted) + EPSILON), rtol=1e-6)
    assert history["mean_return"][0] == pytest.approx(49 / 6)  # the corridor's raw returns (corridor.py)


def test_advantages_use_the_rewards_given():
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    buffers = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, buffers, env.reset(seed=0)[0])
    options = Options(gamma=0.9)
    advantages, targets = advantages_and_targets(buffers, options, "none", buffers["rewards"] * 3.0)
    np.testing.assert_allclose(targets, 3.0 * calculate_returns(buffers["rewards"], buffers["dones"], 0.9))


def test_a_normalized_box_task_trains():
    env = Corridor(LENGTHS, SAME_STEP, action_space=spaces.Box(-np.inf, np.inf, shape=(2,)))
    from minipg import DiagonalGaussianPolicy
    policy = DiagonalGaussianPolicy(env, hidden=(4,), seed=0)
    options = Options(num_envs=len(LENGTHS), T=T, epochs=3, lr=0.01, normalize_observations=True,
                      normalize_rewards=True, baseline="value", gae_lambda=0.9, bootstrap=True)
    history = train(env, policy, options, seed=0)
    assert np.isfinite(history["loss"]).all()


def test_statistics_are_kept_in_float64_whatever_the_observations():
    batch = np.random.default_rng(0).normal(3.0, 2.0, size=(200, 2)).astype(np.float32)
    moments = RunningMeanStd((2,))
    moments.update(batch)
    exact = batch.astype(np.float64)
    assert moments.mean.dtype == moments.var.dtype == np.float64
    np.testing.assert_allclose(moments.mean, exact.mean(axis=0) * 200 / (200 + EPSILON), rtol=1e-12)
    assert moments.std()[0] == np.sqrt(moments.var[0] + EPSILON)


def test_state_dict_round_trip_through_json():
    import json

    moments = RunningMeanStd((3,))
    moments.update(np.arange(12.0).reshape(4, 3))
    restored = RunningMeanStd((3,))
    as_json = {key: value.tolist() if isinstance(value, np.ndarray) else value
               for key, value in moments.state_dict().items()}
    restored.load_state_dict(json.loads(json.dumps(as_json)))
    assert restored.count == moments.count
    np.testing.assert_array_equal(restored.mean, moments.mean)
    np.testing.assert_array_equal(restored.var, moments.var)
    assert restored.mean.dtype == np.float64 and set(moments.state_dict()) == {"mean", "var", "count"}
    restored.load_state_dict({"mean": [0, 1, 2], "var": [1, 1, 2], "count": 3})  # whole numbers in the JSON
    assert restored.mean.dtype == restored.var.dtype == np.float64
    with pytest.raises(ValueError, match=r"statistics of shapes \(3,\) and \(3,\) saved, \(2,\) expected"):
        RunningMeanStd((2,)).load_state_dict(moments.state_dict())
    bad_var = dict(moments.state_dict(), var=[1.0, 2.0])
    with pytest.raises(ValueError, match="statistics of shapes"):
        RunningMeanStd((3,)).load_state_dict(bad_var)


def test_a_float32_rollout_keeps_its_dtype_when_scaled():
    rewards = np.ones((3, 2), dtype=np.float32)
    scaled = RewardScaler().scale(rewards, np.zeros((3, 2), dtype=bool), 0.9)
    assert scaled.dtype == np.float32


def test_observations_are_clipped_at_both_ends():
    normalizer = ObservationNormalizer((1,))
    normalized = normalizer(np.array([[-1e6], [1e6], [2.0]]))
    np.testing.assert_array_equal(normalized, [[-CLIP], [CLIP], [2.0 / np.sqrt(1 + EPSILON)]])


def test_same_step_final_observations_are_normalized_too():
    """A SAME_STEP env keeps each ended episode's last observation for V': normalized like the states."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    normalizer = ObservationNormalizer((1,))
    normalizer.update(np.array([[1.0], [3.0]]))  # mean 2, variance 1
    buffers = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, buffers, env.reset(seed=0)[0], normalizer)
    plain = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, plain, env.reset(seed=0)[0])
    assert buffers["final_observations"].keys() == plain["final_observations"].keys()
    for t, (envs, last) in buffers["final_observations"].items():
        np.testing.assert_array_equal(envs, plain["final_observations"][t][0])
        np.testing.assert_allclose(last, normalizer(plain["final_observations"][t][1]))
