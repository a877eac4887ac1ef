"""Baselines and normalization (minipg/baselines.py) and the std schedule of reinforce."""

import numpy as np
import pytest
from conftest import GRAD_TOL, SEEDS, exactly, numerical_gradient, relative_error, stand_in_env
from gymnasium import spaces

from minipg import DiagonalGaussianPolicy
from minipg.baselines import (ValueBaseline, compute_advantages, make_baseline, normalize,
                              time_baseline)


@pytest.mark.gradcheck
@pytest.mark.parametrize("chunk_size", [4096, 2])
@pytest.mark.parametrize("seed", SEEDS)
def test_value_baseline_gradient_matches_finite_differences(seed, chunk_size):
    """∂L_V/∂φ of L_V = mean (V_φ(x) − y)² equals central differences, for every parameter (in
    one chunk, or in chunks of 2 rows, the last one partial or not)."""
    rng = np.random.default_rng(seed)
    obs_dim, n = int(rng.integers(1, 6)), int(rng.integers(3, 12))
    hidden = tuple(int(h) for h in rng.integers(2, 7, size=rng.integers(1, 3)))
    baseline = ValueBaseline(obs_dim, gamma=0.99, rng=rng, hidden=hidden, chunk_size=chunk_size)
    features = rng.normal(size=(n, obs_dim + 1))
    targets = rng.normal(size=n)
    _, grads = baseline.loss_and_grads(features, targets)
    for param, grad in zip(baseline.net.params, grads):
        numeric = numerical_gradient(lambda: baseline.loss_and_grads(features, targets)[0], param)
        assert relative_error(grad, numeric) <= GRAD_TOL


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_value_fit_in_chunks_is_the_same_for_any_thread_count(threads):
    """Chunks summed in order: a fit on 1, 2 or 3 threads gives the same bits, and equals the
    one-chunk fit to rounding."""
    def fitted(chunk_size, threads):
        rng = np.random.default_rng(0)
        baseline = ValueBaseline(5, 0.99, np.random.default_rng(1), hidden=(300,), chunk_size=chunk_size,
                                 threads=threads, batch_size=2000, steps=3)
        states, returns = rng.normal(size=(40, 50, 5)), rng.normal(size=(40, 50))
        baseline.fit(states, returns, np.ones((40, 50), dtype=bool))
        return baseline.net.params
    reference, chunked = fitted(4096, 1), fitted(700, 1)
    for a, b, c in zip(reference, chunked, fitted(700, threads)):
        assert b.tobytes() == c.tobytes()
        assert relative_error(a, b) <= 1e-12


def test_make_baseline_gives_the_value_net_the_policys_chunks_and_threads():
    from minipg import CategoricalPolicy

    policy = CategoricalPolicy(stand_in_env(3, spaces.Discrete(2)), seed=0, chunk_size=100, threads=3)
    baseline = make_baseline("value", policy, 0.9)
    assert (baseline.chunk_size, baseline.threads) == (100, 3)


def test_value_baseline_features_add_the_time_left():
    """features(states)[t, e] = [s_{t,e}, 1 − t/T]."""
    states = np.arange(3 * 2 * 4, dtype=float).reshape(3, 2, 4)
    features = ValueBaseline(4, gamma=0.99, rng=np.random.default_rng(0)).features(states)
    assert features.shape == (3, 2, 5)
    np.testing.assert_array_equal(features[..., :4], states)
    np.testing.assert_allclose(features[:, 0, 4], [1.0, 2 / 3, 1 / 3])


@pytest.mark.parametrize("gamma, scale", [(0.9, 0.1), (1.0, 1.0)])
def test_value_baseline_is_the_network_output_in_units_of_return(gamma, scale):
    """The network works on returns scaled by (1 − γ) (1 when γ = 1): b = V_φ(s, t) / (1 − γ)."""
    rng = np.random.default_rng(0)
    baseline = ValueBaseline(3, gamma=gamma, rng=rng, hidden=(8,))
    states = rng.normal(size=(4, 2, 3))
    expected = baseline.net.forward(baseline.features(states))[..., 0] / scale
    np.testing.assert_allclose(baseline(states), expected, rtol=1e-12)


@pytest.mark.parametrize("gamma, scale", [(0.9, 0.1), (1.0, 1.0)])
def test_value_baseline_fits_returns_scaled_by_one_minus_gamma(gamma, scale):
    """fit minimizes mean (V_φ(x) − G·(1 − γ))², and returns that loss of its last step (before
    the step).  With T = 1 and identical states every minibatch holds the same sample, so
    the loss of one step is known exactly."""
    rng = np.random.default_rng(0)
    baseline = ValueBaseline(3, gamma=gamma, rng=rng, hidden=(8,), steps=1, batch_size=4)
    states = np.broadcast_to(rng.normal(size=3), (1, 6, 3))
    returns = np.full((1, 6), 10.0)
    valid = np.ones((1, 6), dtype=bool)
    output = baseline(states)[0, 0] * scale  # the network's own output
    loss = baseline.fit(states, returns, valid)
    np.testing.assert_allclose(loss, (output - 10.0 * scale) ** 2, rtol=1e-12)


@pytest.mark.parametrize("gamma, horizon, scale", [
    (0.9999, 1000, 1e-3),   # the horizon binds: a return cut after 1,000 steps sums at most 1,000 rewards
    (0.9, 1000, 1.0 - 0.9),  # 1/(1 − γ) = 10 < 1,000: the discount binds, the scale is 1 − γ as before
    (0.998, 500, 1.0 - 0.998),  # T = 1/(1 − γ): 1 − γ, its bits unchanged
    (1.0, 50, 1 / 50),      # no discount: the horizon alone
    (0.9999, None, 1.0 - 0.9999),  # no horizon (the loop bootstraps): 1 − γ
    (1.0, None, 1.0),
])
def test_value_baseline_scale_is_one_over_the_steps_a_return_counts(gamma, horizon, scale):
    """scale = 1/H, H = min(1/(1 − γ), horizon): the targets G/H lie in [−1, 1] for |r| ≤ 1, and
    a long discount over short rollouts does not shrink them below what the fit resolves."""
    baseline = ValueBaseline(3, gamma=gamma, rng=np.random.default_rng(0), hidden=(4,), horizon=horizon)
    assert baseline.scale == scale


def test_value_baseline_fits_a_long_discount_over_a_short_horizon():
    """γ = 0.9999 over 1,000-step returns G = 20 + 5·s₀ (Swimmer's size; their std is 5).  The
    network's first outputs (≈ 0.2 here) mean returns of ≈ 200 scaled by 1/H, and 2,000 Adam steps
    at the default lr bring V within half the returns' std (it follows the state); scaled by
    1 − γ they mean ≈ 2,000, and the same steps leave V further off than the returns' mean would be."""
    def error_after_fit(horizon):
        rng = np.random.default_rng(0)
        baseline = ValueBaseline(2, gamma=0.9999, rng=rng, hidden=(16,), steps=2000, batch_size=256,
                                 horizon=horizon)
        states = rng.normal(size=(1000, 1, 2))
        returns = 20.0 + 5.0 * states[..., 0]
        valid = np.ones((1000, 1), dtype=bool)
        baseline.fit(states, returns, valid)
        return np.sqrt(np.mean((baseline(states) - returns) ** 2))
    assert error_after_fit(1000) < 0.5 * 5.0 and error_after_fit(None) > 2 * 5.0


def test_value_baseline_without_time_feature_sees_the_state_alone():
    """time_feature=False (for bootstrapping): the features are the states themselves, and
    of_states gives V_φ(s)/(1 − γ) for states of any batch shape, a single state included.
    With the time feature, V of a state alone is undefined: of_states says so."""
    rng = np.random.default_rng(0)
    baseline = ValueBaseline(3, gamma=0.9, rng=rng, hidden=(8,), time_feature=False)
    assert baseline.net.sizes[0] == 3
    states = rng.normal(size=(4, 2, 3))
    assert baseline.features(states) is states
    expected = baseline.net.forward(states)[..., 0] / 0.1
    np.testing.assert_allclose(baseline(states), expected, rtol=1e-12)
    np.testing.assert_allclose(baseline.of_states(states[0]), expected[0], rtol=1e-12)
    np.testing.assert_allclose(baseline.of_states(states[0, 1]), expected[0, 1], rtol=1e-12)
    message = "V of single states needs a ValueBaseline with time_feature=False"
    with pytest.raises(ValueError, match=exactly(message)):
        ValueBaseline(3, gamma=0.9, rng=rng).of_states(states[0])


def test_make_baseline_passes_value_options_on():
    env = stand_in_env(3, spaces.Box(-1.0, 1.0, shape=(1,)))
    agent = DiagonalGaussianPolicy(env, hidden=(4,), seed=0)
    baseline = make_baseline("value", agent, 0.99, bootstrap=True, steps=3, hidden=(5,))
    assert (baseline.time_feature, baseline.steps, baseline.net.sizes) == (False, 3, (3, 5, 1))
    assert baseline.rng is agent.rng
    assert make_baseline("time", agent, 0.99) == "time" and make_baseline("none", agent, 0.99) == "none"


def test_make_baseline_counts_returns_over_the_rollout_unless_it_bootstraps():
    """Without bootstrapping a return sums at most the rollout's T rewards: the horizon is T.  With
    it, a target counts V at the cut, the rest of the discounted sum: no horizon."""
    env = stand_in_env(3, spaces.Box(-1.0, 1.0, shape=(1,)))
    agent = DiagonalGaussianPolicy(env, hidden=(4,), seed=0)
    assert make_baseline("value", agent, 0.9999, bootstrap=False, T=1000).scale == 1e-3
    assert make_baseline("value", agent, 0.9999, bootstrap=True, T=1000).scale == 1.0 - 0.9999


def test_value_baseline_defaults():
    """V_φ(s, t): a (64, 64) ReLU network on [s, 1 − t/T], Adam lr 1e-3, 32 steps of 4096 samples."""
    baseline = ValueBaseline(3, gamma=0.99, rng=np.random.default_rng(0))
    assert baseline.net.sizes == (4, 64, 64, 1) and baseline.time_feature
    assert (baseline.opt.lr, baseline.steps, baseline.batch_size) == (1e-3, 32, 4096)


def test_value_baseline_follows_the_policy_dtype():
    """make_baseline builds the value network in the agent's dtype, and features keep the states'
    dtype: a float32 run stays float32."""
    env = stand_in_env(3, spaces.Box(-1.0, 1.0, shape=(1,)))
    agent = DiagonalGaussianPolicy(env, hidden=(4,), seed=0, dtype=np.float32)
    baseline = make_baseline("value", agent, 0.99)
    assert isinstance(baseline, ValueBaseline)
    assert all(p.dtype == np.float32 for p in baseline.net.params)
    assert baseline.net.sizes[0] == 3 + 1
    states = np.zeros((5, 2, 3), dtype=np.float32)
    assert baseline.features(states).dtype == np.float32
    assert baseline(states).dtype == np.float32


def test_value_baseline_fit_reduces_its_error():
    """A few hundred Adam steps fit a smooth function of the state much better than at start."""
    rng = np.random.default_rng(0)
    states = rng.uniform(-1, 1, size=(20, 16, 3))
    returns = 30.0 * np.sin(states[..., 0]) + 10.0 * states[..., 1]
    valid = np.ones((20, 16), dtype=bool)
    baseline = ValueBaseline(3, gamma=0.99, rng=rng, hidden=(32,), lr=1e-2, steps=300, batch_size=128)
    before = np.mean((baseline(states) - returns) ** 2)
    baseline.fit(states, returns, valid)
    after = np.mean((baseline(states) - returns) ** 2)
    assert after < 0.1 * before


def test_value_baseline_fit_without_steps_changes_nothing():
    """steps = 0: no Adam step, φ unchanged, and no loss was measured (NaN)."""
    rng = np.random.default_rng(0)
    baseline = ValueBaseline(3, gamma=0.99, rng=rng, hidden=(4,), steps=0)
    before = [p.copy() for p in baseline.net.params]
    loss = baseline.fit(rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2)), np.ones((5, 2), dtype=bool))
    assert isinstance(loss, float) and np.isnan(loss)
    assert all(np.array_equal(p, old) for p, old in zip(baseline.net.params, before))
    assert baseline.opt.t == 0


def test_time_baseline_averages_valid_envs_per_step():
    """b_t is the mean of G_t over the envs whose step t is valid; masked entries are ignored."""
    returns = np.array([[1.0, 3.0, 100.0], [2.0, 4.0, 6.0]])
    valid = np.array([[True, True, False], [True, True, True]])
    np.testing.assert_allclose(time_baseline(returns, valid), [[2.0], [4.0]])


def test_time_baseline_of_a_step_with_one_or_no_valid_env():
    """One valid env: b_t is its return; no valid env (all masked): b_t = 0, not 0/0."""
    returns = np.array([[5.0, 100.0], [-3.0, 7.0]])
    valid = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(time_baseline(returns, valid), [[5.0], [0.0]])


def test_normalize_standardizes_over_valid_samples():
    """After normalize, valid advantages have mean 0 and std 1; a constant batch is only centred."""
    rng = np.random.default_rng(1)
    advantages = rng.normal(5.0, 3.0, size=(30, 4))
    valid = rng.random((30, 4)) > 0.2
    normalized = normalize(advantages, valid)
    assert abs(normalized[valid].mean()) < 1e-12
    assert abs(normalized[valid].std() - 1.0) < 1e-12
    np.testing.assert_array_equal(normalize(np.full((2, 2), 7.0), np.ones((2, 2), bool)), 0.0)


def test_normalize_scales_up_advantages_with_std_below_one():
    """Small advantages (std 0.01) are scaled up to std 1 as well: normalization is not only a cap."""
    advantages = np.array([[0.01, -0.01], [0.03, 0.01]])  # mean 0.01, std 0.01414…
    normalized = normalize(advantages, np.ones((2, 2), dtype=bool))
    np.testing.assert_allclose(normalized, [[0.0, -np.sqrt(2)], [np.sqrt(2), 0.0]], atol=1e-12)


def test_compute_advantages_none_is_the_returns_and_unknown_is_rejected():
    """'none' leaves the returns as they are (the post); an unknown name is a ValueError."""
    returns = np.arange(6.0).reshape(3, 2)
    valid = np.ones((3, 2), dtype=bool)
    assert compute_advantages(returns, valid, "none") is returns
    assert compute_advantages(returns, valid) is returns  # the default
    with pytest.raises(ValueError, match="baseline must be one of"):
        compute_advantages(returns, valid, "median")
    with pytest.raises(ValueError, match="baseline must be one of"):
        make_baseline("median", None, 0.99)


@pytest.mark.parametrize("normalize_advantages", [False, True], ids=["raw", "normalized"])
def test_compute_advantages_subtracts_the_value_baseline(normalize_advantages):
    """With a ValueBaseline, A = G − V(s, t) (then normalized over the valid samples if asked)."""
    rng = np.random.default_rng(0)
    baseline = ValueBaseline(3, gamma=0.9, rng=rng, hidden=(8,))
    states, returns = rng.normal(size=(4, 5, 3)), rng.normal(5.0, 2.0, size=(4, 5))
    valid = rng.random((4, 5)) < 0.8
    expected = returns - baseline(states)
    if normalize_advantages:
        expected = (expected - expected[valid].mean()) / expected[valid].std()
    advantages = compute_advantages(returns, valid, baseline, normalize_advantages, states)
    np.testing.assert_allclose(advantages, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("normalize_advantages", [False, True], ids=["raw", "normalized"])
def test_compute_advantages_subtracts_the_time_baseline(normalize_advantages):
    """baseline "time": A_t = G_t − mean of G_t over the valid envs (then normalized if asked)."""
    returns = np.array([[1.0, 3.0, 100.0], [2.0, 4.0, 9.0]])
    valid = np.array([[True, True, False], [True, True, True]])
    expected = np.array([[-1.0, 1.0, 98.0], [-3.0, -1.0, 4.0]])
    if normalize_advantages:
        expected = expected / np.sqrt(28.0 / 5)  # the valid −1, 1, −3, −1, 4: mean 0, variance 28/5
    advantages = compute_advantages(returns, valid, "time", normalize_advantages)
    np.testing.assert_allclose(advantages, expected, rtol=1e-12)


def test_prepare_fit_draws_every_minibatch_before_it_returns():
    """What lets solver.train run the fit beside the policy's update, which shuffles with the same
    generator: prepare_fit takes all its draws at once, the function it returns takes none, and
    calling it is fit, to the bit."""
    def made():
        rng = np.random.default_rng(3)
        data = (rng.normal(size=(6, 5, 3)), rng.normal(size=(6, 5)), rng.random((6, 5)) < 0.8)
        return ValueBaseline(3, gamma=0.9, rng=rng, hidden=(8,), steps=4, batch_size=7), data

    fitted, data = made()
    loss = fitted.fit(*data)
    prepared, data = made()
    run = prepared.prepare_fit(*data)
    drawn = prepared.rng.bit_generator.state
    assert drawn == fitted.rng.bit_generator.state  # the same draws as fit's
    assert prepared.opt.t == 0  # nothing fitted yet
    assert run() == loss
    assert prepared.rng.bit_generator.state == drawn  # the steps drew nothing
    for a, b in zip(prepared.net.params, fitted.net.params):
        np.testing.assert_array_equal(a, b)
