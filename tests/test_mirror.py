"""The mirror-symmetric Gaussian policy and the symmetry of the swing-up task it relies on."""

import numpy as np
import pytest
from conftest import GRAD_TOL, SEEDS, numerical_gradient, relative_error, stand_in_env
from gymnasium import spaces

from minipg import DiagonalGaussianPolicy
from minipg.envs import observation_mirror
from minipg.envs.swingup import OBSERVATION_MIRROR, CartPoleSwingUpVectorEnv


def mirrored_policy(seed, obs_dim=5, action_dim=1, hidden=(6, 5)):
    rng = np.random.default_rng(seed)
    mirror = rng.choice([-1.0, 1.0], size=obs_dim)
    mirror[0] = -1.0  # at least one flipped sign, or μ = ½(f(s) − f(s)) would vanish
    env = stand_in_env(obs_dim, spaces.Box(-1, 1, shape=(action_dim,)))
    return DiagonalGaussianPolicy(env, hidden=hidden, seed=seed, log_std_init=-0.3, mirror=mirror), rng


@pytest.mark.gradcheck
@pytest.mark.parametrize("seed", SEEDS)
def test_mirrored_loss_gradient_matches_finite_differences(seed):
    """∂L/∂θ of the mirrored policy (stacked forward, ±½ backward) equals central differences."""
    agent, rng = mirrored_policy(seed, action_dim=int(1 + seed % 2))
    T, E = 4, 3
    states = rng.normal(size=(T, E, agent.obs_dim))
    actions = rng.normal(size=(T, E, agent.act_dim))
    returns = rng.normal(size=(T, E))
    mask = rng.random((T, E)) > 0.2
    _, grads = agent.loss_and_grads(states, actions, returns, mask)
    for param, grad in zip(agent.parameters(), grads):
        numeric = numerical_gradient(lambda: agent.loss_and_grads(states, actions, returns, mask)[0], param)
        # The output bias cancels in f(s) − f(m ⊙ s): its true gradient is exactly 0, and the
        # hand-written one is 0 up to rounding (~1e-17), where a relative error means nothing.
        if np.abs(numeric).max() < 1e-9:
            assert np.abs(grad).max() < 1e-12
        else:
            assert relative_error(grad, numeric) <= GRAD_TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_mirrored_policy_is_equivariant(seed):
    """π(−a | m ⊙ s) = π(a | s): the mean is odd under the reflection, σ is shared."""
    agent, rng = mirrored_policy(seed)
    states = rng.normal(size=(7, agent.obs_dim))
    actions = rng.normal(size=(7, agent.act_dim))
    np.testing.assert_allclose(agent.pi(states * agent.mirror).mean, -agent.pi(states).mean, atol=1e-12)
    np.testing.assert_allclose(agent.pi(states * agent.mirror).log_prob(-actions),
                               agent.pi(states).log_prob(actions), atol=1e-12)


def test_mirror_must_be_one_sign_per_observation_dimension():
    """A mirror of the wrong length or with entries other than ±1 is rejected by name."""
    env = stand_in_env(5, spaces.Box(-1, 1, shape=(1,)))
    for mirror in ([1, -1], [1, -1, 1, 0.5, 1]):
        with pytest.raises(ValueError, match="mirror must be 5 signs"):
            DiagonalGaussianPolicy(env, mirror=mirror)


def test_swingup_dynamics_are_symmetric_under_the_mirror():
    """Reflecting state and action reflects the next observation; rewards and ends are equal.

    This is what makes the mirrored policy a restriction without loss for the swing-up.
    """
    rng = np.random.default_rng(0)
    n = 2000
    states = np.column_stack([rng.uniform(-2.3, 2.3, n), rng.uniform(-5, 5, n),
                              rng.uniform(-np.pi, 3 * np.pi, n), rng.uniform(-15, 15, n)])
    actions = rng.uniform(-1.5, 1.5, size=(n, 1))
    reflect_state = np.array([-1.0, -1.0, -1.0, -1.0])  # x, ẋ, θ, θ̇
    outcomes = []
    for sign in (1.0, -1.0):
        env = CartPoleSwingUpVectorEnv(num_envs=n)
        env.reset(seed=0)
        env.state = states * (reflect_state if sign < 0 else 1.0)
        outcomes.append(env.step(actions * sign)[:3])
    (obs, reward, terminated), (obs_m, reward_m, terminated_m) = outcomes
    np.testing.assert_allclose(obs_m, obs * np.array(OBSERVATION_MIRROR), atol=1e-5)
    np.testing.assert_allclose(reward_m, reward, atol=1e-6)
    np.testing.assert_array_equal(terminated_m, terminated)
    assert observation_mirror("CartPoleSwingUp-v0") == OBSERVATION_MIRROR
    with pytest.raises(ValueError, match="no mirror symmetry is known for CartPole-v1"):
        observation_mirror("CartPole-v1")
