"""Reward-to-go G_t and finished-episode returns against direct, loop-by-loop definitions."""

import numpy as np
import pytest

from conftest import SEEDS
from minipg.returns import calculate_returns, episode_returns, gae_advantages


def direct_returns(rewards, dones, gamma):
    """G_t = Σ_{k=t}^{K} γ^{k−t} r_k, where K is the first k ≥ t whose episode ends (or T−1)."""
    T, E = rewards.shape
    returns = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            k = t
            while True:
                returns[t, e] += gamma ** (k - t) * rewards[k, e]
                if dones[k, e] or k == T - 1:
                    break
                k += 1
    return returns


def hand_episode_returns(rewards, dones):
    """Undiscounted sums of the episodes that end inside the rollout, env by env, in time order."""
    finished = []
    for e in range(rewards.shape[1]):
        running = 0.0
        for t in range(rewards.shape[0]):
            running += rewards[t, e]
            if dones[t, e]:
                finished.append(running)
                running = 0.0
    return np.array(finished)


def random_rollout(rng):
    """Random T, E, rewards and dones (~20 % of steps end an episode, so ends fall anywhere)."""
    T, E = int(rng.integers(1, 12)), int(rng.integers(1, 5))
    rewards = rng.normal(size=(T, E))
    dones = rng.random((T, E)) < 0.2
    return rewards, dones


@pytest.mark.parametrize("seed", SEEDS)
def test_returns_match_direct_discounted_sums(seed):
    """On random T, E, γ, rewards and dones, the backward recursion equals the direct sum."""
    rng = np.random.default_rng(seed)
    rewards, dones = random_rollout(rng)
    gamma = rng.uniform(0.0, 1.0)
    returns = calculate_returns(rewards, dones, gamma)
    assert returns.shape == rewards.shape and returns.dtype == rewards.dtype
    np.testing.assert_allclose(returns, direct_returns(rewards, dones, gamma), rtol=1e-12, atol=1e-12)


def test_returns_stop_at_episode_ends():
    """A worked example: ends in the middle and at the last step, two envs, γ = 0.5.

    env 0: rewards 1, 2, 3, 4 with an end after step 1 → G = (1 + ½·2, 2, 3 + ½·4, 4)
    env 1: rewards 1, 1, 1, 1 with an end after step 3 → G = (1.875, 1.75, 1.5, 1)
    """
    rewards = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    dones = np.array([[False, False], [True, False], [False, False], [False, True]])
    expected = np.array([[2.0, 1.875], [2.0, 1.75], [5.0, 1.5], [4.0, 1.0]])
    np.testing.assert_array_equal(calculate_returns(rewards, dones, 0.5), expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_last_step_return_is_its_reward(seed):
    """G_{T−1} = r_{T−1}: an episode still running when the rollout stops is cut there."""
    rng = np.random.default_rng(seed)
    rewards, dones = random_rollout(rng)
    dones[-1] = False
    np.testing.assert_array_equal(calculate_returns(rewards, dones, 0.99)[-1], rewards[-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_gamma_zero_and_one(seed):
    """γ = 0 gives G = r; γ = 1 gives the plain (undiscounted) reward-to-go within each episode."""
    rewards, dones = random_rollout(np.random.default_rng(seed))
    np.testing.assert_array_equal(calculate_returns(rewards, dones, 0.0), rewards)
    np.testing.assert_allclose(calculate_returns(rewards, dones, 1.0), direct_returns(rewards, dones, 1.0),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_episode_returns_match_hand_loop(seed):
    """episode_returns equals summing rewards env by env and emitting the total at every end."""
    rng = np.random.default_rng(seed)
    rewards, dones = random_rollout(rng)
    dones[rng.integers(0, dones.shape[0]), rng.integers(0, dones.shape[1])] = True  # at least one end
    np.testing.assert_allclose(episode_returns(rewards, dones), hand_episode_returns(rewards, dones),
                               rtol=1e-12, atol=1e-12)


def test_episode_returns_worked_example():
    """Two envs; rewards after an env's last end (an unfinished episode) are not counted.

    env 0: 1, 2 | 3 | 4 (unfinished) → 3, 3;   env 1: 1, 1, 1, 1 | → 4.
    """
    rewards = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    dones = np.array([[False, False], [True, False], [True, False], [False, True]])
    np.testing.assert_array_equal(episode_returns(rewards, dones), [3.0, 3.0, 4.0])


def test_episode_returns_empty_when_no_episode_ends():
    """No end inside the rollout → no finished episode."""
    assert episode_returns(np.ones((5, 3)), np.zeros((5, 3), dtype=bool)).shape == (0,)


def direct_gae(rewards, values, next_values, dones, gamma, lam):
    """A_t = Σ_{k=t}^{K} (γλ)^{k−t} δ_k, δ_k = r_k + γV'_k − V(s_k), K the first k ≥ t that ends
    its episode (or T−1): GAE's definition as a finite sum, not a recursion."""
    T, E = rewards.shape
    deltas = rewards + gamma * next_values - values
    advantages = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            k = t
            while True:
                advantages[t, e] += (gamma * lam) ** (k - t) * deltas[k, e]
                if dones[k, e] or k == T - 1:
                    break
                k += 1
    return advantages


@pytest.mark.parametrize("seed", SEEDS)
def test_gae_matches_its_definition(seed):
    """Random T, E, γ, λ, values and episode ends: the recursion equals the direct sum."""
    rng = np.random.default_rng(seed)
    rewards, dones = random_rollout(rng)
    values, next_values = rng.normal(size=(2,) + rewards.shape)
    gamma, lam = rng.uniform(0.0, 1.0, size=2)
    advantages = gae_advantages(rewards, values, next_values, dones, gamma, lam)
    assert advantages.shape == rewards.shape and advantages.dtype == rewards.dtype
    np.testing.assert_allclose(advantages, direct_gae(rewards, values, next_values, dones, gamma, lam),
                               rtol=1e-12, atol=1e-12)


def test_gae_keeps_float32_rewards_in_float32():
    """A float32 run stays float32 (a float64 value function does not promote its advantages)."""
    rng = np.random.default_rng(0)
    rewards, dones = random_rollout(rng)
    values, next_values = rng.normal(size=(2,) + rewards.shape)  # float64
    advantages = gae_advantages(rewards.astype(np.float32), values, next_values, dones, 0.99, 0.95)
    assert advantages.dtype == np.float32
    np.testing.assert_allclose(advantages, direct_gae(rewards.astype(np.float32), values, next_values,
                                                      dones, 0.99, 0.95), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", SEEDS)
def test_gae_lambda_one_is_returns_minus_values_and_zero_is_td_error(seed):
    """λ = 1 with V' = 0 at every end and after the last step: A = G − V (the post's G);
    λ = 0: A = δ, the one-step TD error."""
    rng = np.random.default_rng(seed)
    rewards, dones = random_rollout(rng)
    values = rng.normal(size=rewards.shape)
    gamma = rng.uniform(0.0, 1.0)
    next_values = np.append(values[1:], np.zeros((1, rewards.shape[1])), axis=0) * ~dones
    np.testing.assert_allclose(gae_advantages(rewards, values, next_values, dones, gamma, 1.0),
                               calculate_returns(rewards, dones, gamma) - values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gae_advantages(rewards, values, next_values, dones, gamma, 0.0),
                               rewards + gamma * next_values - values, rtol=1e-12, atol=1e-12)


def test_gae_worked_example():
    """One env, γ = 0.5, λ = 0.5, an end after step 1 (a cut: V' = 4 there), V = 1 everywhere.

    δ = r + γV' − V = (2 + 0.5·1 − 1, 1 + 0.5·4 − 1, 3 + 0.5·2 − 1) = (1.5, 2, 3)
    A = (1.5 + 0.25·2, 2, 3) = (2, 2, 3): the end at step 1 stops A_2 from flowing into A_1.
    """
    rewards = np.array([[2.0], [1.0], [3.0]])
    values = np.ones((3, 1))
    next_values = np.array([[1.0], [4.0], [2.0]])
    dones = np.array([[False], [True], [False]])
    np.testing.assert_allclose(gae_advantages(rewards, values, next_values, dones, 0.5, 0.5),
                               [[2.0], [2.0], [3.0]])
