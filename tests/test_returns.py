"""Reward-to-go G_t and finished-episode returns against direct, loop-by-loop definitions."""

import numpy as np
import pytest

from conftest import SEEDS
from minipg.returns import calculate_returns, episode_returns


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
