"""Categorical and DiagGaussian: log π against direct formulas, ∇ log π against finite
differences, numerical stability, and sampling against the distribution it claims to draw from.

Sampling tests use many draws from a fixed seed (so they are deterministic) and allow an
error of Z_TOL standard errors, a margin a correct sampler essentially never exceeds while a
wrong mean, scale or probability is off by far more.
"""

import numpy as np
import pytest

from conftest import GRAD_TOL, SEEDS, numerical_gradient, relative_error
from minipg.distributions import FEW_ACTIONS, Categorical, DiagGaussian, max_last, sum_last

BATCH_SHAPE = (4, 3)   # a small (T, E) batch
N_SAMPLES = 200_000    # draws per sampling test: standard errors of ~0.2 % of σ
Z_TOL = 5.0            # allowed deviation of a sample statistic, in standard errors


# ------------------------------------------------------------- reductions over the action axis


@pytest.mark.parametrize("n", [1, 2, 5, FEW_ACTIONS, FEW_ACTIONS + 1, 40])
@pytest.mark.parametrize("batch_shape", [(), (7,), (3, 4)])
def test_action_axis_reductions_match_numpy(batch_shape, n):
    """sum_last and max_last (the fast paths for few actions and the plain one) equal NumPy's."""
    x = np.random.default_rng(n).normal(size=batch_shape + (n,))
    np.testing.assert_allclose(sum_last(x), x.sum(axis=-1), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(max_last(x), x.max(axis=-1))
    assert sum_last(x).shape == max_last(x).shape == batch_shape


# --------------------------------------------------------------------------- Categorical


def random_categorical(rng, n_actions, batch_shape=BATCH_SHAPE, scale=2.0):
    """Random logits (…, n_actions) and random integer actions (…)."""
    logits = scale * rng.normal(size=batch_shape + (n_actions,))
    actions = rng.integers(0, n_actions, size=batch_shape)
    return logits, actions


@pytest.mark.parametrize("n_actions", [2, 5, FEW_ACTIONS + 24])
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_log_prob_is_log_softmax(seed, n_actions):
    """log π(a) equals log(exp(z_a) / Σ_j exp(z_j)) computed directly; probs sum to 1."""
    rng = np.random.default_rng(seed)
    logits, actions = random_categorical(rng, n_actions)
    dist = Categorical(logits)

    softmax = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    expected = np.log(np.take_along_axis(softmax, actions[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(dist.log_prob(actions), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dist.probs, softmax, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dist.probs.sum(axis=-1), 1.0, rtol=1e-14)


@pytest.mark.gradcheck
@pytest.mark.parametrize("n_actions", [2, 5])
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_grad_log_prob_matches_finite_differences(seed, n_actions):
    """∂ log π(a)/∂z = onehot(a) − softmax(z), checked on f = Σ_n c_n log π(a_n) with random c.

    log π(a_n) depends only on sample n's logits, so ∂f/∂z_n = c_n ∇ log π(a_n): one finite-
    difference pass checks every sample's gradient.
    """
    rng = np.random.default_rng(seed)
    logits, actions = random_categorical(rng, n_actions)
    weights = rng.normal(size=BATCH_SHAPE)

    analytic = weights[..., None] * Categorical(logits).grad_log_prob(actions)
    numeric = numerical_gradient(lambda: np.sum(weights * Categorical(logits).log_prob(actions)), logits)
    assert relative_error(analytic, numeric) <= GRAD_TOL


@pytest.mark.gradcheck
@pytest.mark.parametrize("n_actions", [2, 5])
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_grad_entropy_matches_finite_differences(seed, n_actions):
    """∂H/∂z = −p ⊙ (log p + H), checked on f = Σ_n c_n H_n with random c (one FD pass, as above)."""
    rng = np.random.default_rng(seed)
    logits, _ = random_categorical(rng, n_actions)
    weights = rng.normal(size=BATCH_SHAPE)
    analytic = weights[..., None] * Categorical(logits).grad_entropy()
    numeric = numerical_gradient(lambda: np.sum(weights * Categorical(logits).entropy()), logits)
    assert relative_error(analytic, numeric) <= GRAD_TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_entropy_is_minus_sum_p_log_p(seed):
    """H = −Σ_j p_j log p_j, computed directly from softmax probabilities."""
    logits, _ = random_categorical(np.random.default_rng(seed), 4)
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(Categorical(logits).entropy(), -(p * np.log(p)).sum(axis=-1), rtol=1e-12)


def test_categorical_extreme_logits_are_finite():
    """Logits of ±1e4 (exp overflows float64 beyond ~709) still give finite log π, ∇ log π and H."""
    big = 1e4
    logits = np.array([[big, -big, 0.0], [-big, -big, big], [big, big, -big]])
    dist = Categorical(logits)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for action in range(3):
            actions = np.full(3, action)
            assert np.isfinite(dist.log_prob(actions)).all()
            assert np.isfinite(dist.grad_log_prob(actions)).all()
        entropy = dist.entropy()
    assert np.isfinite(entropy).all()
    # The limits are known exactly: a one-hot softmax (or a fair coin between two equal logits).
    np.testing.assert_allclose(dist.probs, [[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]], atol=1e-300)
    np.testing.assert_allclose(entropy, [0.0, 0.0, np.log(2.0)], atol=1e-12)
    # log π of the least likely action: z_a − logsumexp(z), with logsumexp = max(z) (+ log 2 for a tie)
    np.testing.assert_allclose(dist.log_prob(np.array([1, 0, 2])), [-2 * big, -2 * big, -2 * big - np.log(2.0)])


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_mode_is_argmax(seed):
    """The mode is the action with the largest logit."""
    logits, _ = random_categorical(np.random.default_rng(seed), 6)
    np.testing.assert_array_equal(Categorical(logits).mode(), logits.argmax(axis=-1))


def test_categorical_sample_frequencies_match_softmax():
    """Action frequencies over many draws match softmax(z): the chi-square statistic
    Σ_j (O_j − E_j)² / E_j (mean = dof, variance = 2·dof for a correct sampler) stays within
    Z_TOL standard deviations of its mean."""
    logits = np.array([1.0, -0.5, 0.0, 2.0])
    dist = Categorical(np.broadcast_to(logits, (N_SAMPLES, len(logits))))
    samples = dist.sample(np.random.default_rng(0))
    assert samples.shape == (N_SAMPLES,)

    observed = np.bincount(samples, minlength=len(logits))
    expected = N_SAMPLES * dist.probs[0]
    chi_square = ((observed - expected) ** 2 / expected).sum()
    dof = len(logits) - 1
    assert chi_square <= dof + Z_TOL * np.sqrt(2 * dof)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_categorical_sample_is_sample_with_noise_of_the_logits_dtype(dtype):
    """sample(rng) picks exactly the actions of sample_with(standard_noise(rng, shape, dtype)), the
    noise a rollout draws in advance, also for float32 logits so large (1e5: float32 spacing
    ≈ 0.008) that the float32 rounding of z + g decides some of the argmaxes."""
    logits = np.full((20_000, 2), 1e5, dtype=dtype)
    dist = Categorical(logits)
    noise = Categorical.standard_noise(np.random.default_rng(0), logits.shape, dtype)
    assert noise.dtype == dtype
    np.testing.assert_array_equal(dist.sample(np.random.default_rng(0)), dist.sample_with(noise))


def test_categorical_entropy_matches_sample_mean_of_minus_log_prob():
    """H = E[−log π(a)]: the sample mean of −log π over many draws is within Z_TOL standard errors."""
    logits = np.array([0.3, -1.2, 2.0, 0.0, 0.7])
    dist = Categorical(np.broadcast_to(logits, (N_SAMPLES, len(logits))))
    neg_log_prob = -dist.log_prob(dist.sample(np.random.default_rng(1)))
    standard_error = neg_log_prob.std() / np.sqrt(N_SAMPLES)
    assert abs(neg_log_prob.mean() - dist.entropy()[0]) <= Z_TOL * standard_error


def test_categorical_float32_stays_float32():
    """float32 logits give float32 log π, π, ∇ log π and H: no silent upcast to float64."""
    logits, actions = random_categorical(np.random.default_rng(0), 5)
    dist = Categorical(logits.astype(np.float32))
    for value in (dist.log_prob(actions), dist.probs, dist.grad_log_prob(actions), dist.entropy()):
        assert value.dtype == np.float32


# ------------------------------------------------------------------------- DiagGaussian


def random_gaussian(rng, action_dim, per_sample_log_std, batch_shape=BATCH_SHAPE):
    """Random mean (…, M), log_std (M,) or (…, M), and actions (…, M) near the mean."""
    mean = rng.normal(size=batch_shape + (action_dim,))
    log_std_shape = batch_shape + (action_dim,) if per_sample_log_std else (action_dim,)
    log_std = rng.uniform(-1.0, 1.0, size=log_std_shape)
    actions = mean + np.exp(log_std) * rng.normal(size=mean.shape)
    return mean, log_std, actions


def normal_pdf(x, mean, std):
    """The 1-D normal density, written out."""
    return np.exp(-((x - mean) ** 2) / (2 * std**2)) / (np.sqrt(2 * np.pi) * std)


@pytest.mark.parametrize("per_sample_log_std", [False, True], ids=["shared_log_std", "per_sample_log_std"])
@pytest.mark.parametrize("action_dim", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_log_prob_is_log_of_product_of_normal_pdfs(seed, action_dim, per_sample_log_std):
    """A diagonal Gaussian factorizes: log π(a) = log Π_i N(a_i; μ_i, σ_i²)."""
    rng = np.random.default_rng(seed)
    mean, log_std, actions = random_gaussian(rng, action_dim, per_sample_log_std)
    expected = np.log(np.prod(normal_pdf(actions, mean, np.exp(log_std)), axis=-1))
    log_prob = DiagGaussian(mean, log_std).log_prob(actions)
    assert log_prob.shape == BATCH_SHAPE
    np.testing.assert_allclose(log_prob, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.gradcheck
@pytest.mark.parametrize("per_sample_log_std", [False, True], ids=["shared_log_std", "per_sample_log_std"])
@pytest.mark.parametrize("action_dim", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_grad_log_prob_matches_finite_differences(seed, action_dim, per_sample_log_std):
    """∂ log π/∂μ = (a−μ)/σ² and ∂ log π/∂log σ = ((a−μ)/σ)² − 1, on f = Σ_n c_n log π(a_n).

    With a shared log_std of shape (M,), every sample depends on it, so ∂f/∂log σ is the sum
    over the batch of c_n times the per-sample gradient.
    """
    rng = np.random.default_rng(seed)
    mean, log_std, actions = random_gaussian(rng, action_dim, per_sample_log_std)
    weights = rng.normal(size=BATCH_SHAPE)

    grad_mean, grad_log_std = DiagGaussian(mean, log_std).grad_log_prob(actions)
    analytic_mean = weights[..., None] * grad_mean
    analytic_log_std = weights[..., None] * grad_log_std
    if not per_sample_log_std:
        analytic_log_std = analytic_log_std.reshape(-1, action_dim).sum(axis=0)

    def f():
        return np.sum(weights * DiagGaussian(mean, log_std).log_prob(actions))

    assert relative_error(analytic_mean, numerical_gradient(f, mean)) <= GRAD_TOL
    assert relative_error(analytic_log_std, numerical_gradient(f, log_std)) <= GRAD_TOL


def test_gaussian_far_actions_are_finite():
    """Actions 1e6 standard deviations from the mean (pdf underflows to 0) keep log π finite."""
    mean = np.array([[0.0, 1.0], [-2.0, 0.5]])
    log_std = np.array([0.0, -0.5])
    std = np.exp(log_std)
    offset = 1e6 * std
    actions = mean + np.array([[1, -1], [-1, 1]]) * offset
    dist = DiagGaussian(mean, log_std)

    log_prob = dist.log_prob(actions)
    grad_mean, grad_log_std = dist.grad_log_prob(actions)
    assert np.isfinite(log_prob).all() and np.isfinite(grad_mean).all() and np.isfinite(grad_log_std).all()
    # z = ±1e6 in every dimension: log π = Σ_i (−z²/2 − log σ_i − ½ log 2π)
    expected = (-0.5 * 1e12 - log_std - 0.5 * np.log(2 * np.pi)).sum()
    np.testing.assert_allclose(log_prob, expected, rtol=1e-12)


@pytest.mark.parametrize("per_sample_log_std", [False, True], ids=["shared_log_std", "per_sample_log_std"])
def test_gaussian_entropy_closed_form_and_mode(per_sample_log_std):
    """H = Σ_i (log σ_i + ½(1 + log 2π)) for every sample of the batch; the mode is the mean."""
    mean, log_std, _ = random_gaussian(np.random.default_rng(0), 3, per_sample_log_std)
    dist = DiagGaussian(mean, log_std)
    expected = np.broadcast_to((log_std + 0.5 * (1 + np.log(2 * np.pi))), mean.shape).sum(axis=-1)
    assert dist.entropy().shape == BATCH_SHAPE
    np.testing.assert_allclose(dist.entropy(), expected, rtol=1e-14)
    np.testing.assert_array_equal(dist.mode(), mean)


def test_gaussian_sample_with_is_mean_plus_std_times_noise():
    """sample_with(z) = μ + σ ⊙ z: the noise is scaled and shifted, not reflected."""
    dist = DiagGaussian(np.array([[0.5, -1.0]]), np.log(np.array([2.0, 0.25])))
    np.testing.assert_allclose(dist.sample_with(np.array([[1.0, 2.0]])), [[2.5, -0.5]], rtol=1e-15)


def test_gaussian_samples_have_mean_mu_and_std_sigma():
    """Per dimension, the sample mean is within Z_TOL·σ/√n of μ and the sample standard
    deviation within Z_TOL·σ/√(2n) of σ (the standard errors of both for normal data)."""
    mu = np.array([0.5, -1.0, 2.0])
    log_std = np.array([-1.0, 0.0, 0.7])
    sigma = np.exp(log_std)
    dist = DiagGaussian(np.broadcast_to(mu, (N_SAMPLES, 3)), log_std)
    samples = dist.sample(np.random.default_rng(2))
    assert samples.shape == (N_SAMPLES, 3)

    assert (np.abs(samples.mean(axis=0) - mu) <= Z_TOL * sigma / np.sqrt(N_SAMPLES)).all()
    assert (np.abs(samples.std(axis=0) - sigma) <= Z_TOL * sigma / np.sqrt(2 * N_SAMPLES)).all()


def test_gaussian_entropy_matches_sample_mean_of_minus_log_prob():
    """H = E[−log π(a)]: the sample mean of −log π over many draws is within Z_TOL standard errors."""
    mu = np.array([1.0, -0.3])
    log_std = np.array([0.4, -0.8])
    dist = DiagGaussian(np.broadcast_to(mu, (N_SAMPLES, 2)), log_std)
    neg_log_prob = -dist.log_prob(dist.sample(np.random.default_rng(3)))
    standard_error = neg_log_prob.std() / np.sqrt(N_SAMPLES)
    assert abs(neg_log_prob.mean() - dist.entropy()[0]) <= Z_TOL * standard_error

