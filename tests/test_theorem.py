"""The policy-gradient theorem, checked: minipg's estimator averages to the exact gradient.

1. exact.py against independent references: J by enumerating every trajectory, ∇J by central
   differences of J, with a time limit and without.
2. minipg's own estimator (a gymnasium SyncVectorEnv with TimeLimit and NEXT_STEP autoreset,
   solver.collect_rollout, calculate_returns, the reset-step mask, loss_and_grads) over
   B = 64 independent rollouts of T = 10 steps in E = 500 envs of a 4-state MDP (about 2,400
   episodes a rollout, both kinds of end), against exact.rollout_expectation.

The statistical test: per-coordinate z-scores (d = 10: ∂/∂W (4 × 2) and ∂/∂b (2)) with a
Bonferroni bound, so that a correct estimator fails a test with probability at most
α = 1e-3 (normal approximation over 64 batch means).  The seeds are fixed, so each run draws the
same numbers: a pass or a failure is reproducible.  Power: docs/theorem.md lists the bugs these
tests catch (a return leaking across an episode end, an unmasked reset step, a flipped sign,
G_{t+1} for G_t), each applied to minipg's source and failing here.
"""

import numpy as np
import pytest

from conftest import numerical_gradient
from minipg.envs.tabular import make_tabular_env
from minipg.exact import (TabularMDP, episode_steps, expected_return, policy_gradient, rollout_expectation,
                          softmax_policy, tabular_logits)
from minipg.tools.theorem import (exact_reference, fit_value_baseline, gradient_z_scores, sample_estimators,
                                  sum_z_scores, teaching_mdp, teaching_policy, z_threshold)

T, ENVS, BATCHES, SEED = 10, 500, 64, 0
GAMMAS = (0.9, 1.0)
THRESHOLD = z_threshold(10)  # ≈ 3.89


def random_mdp(seed, horizon, S=4, A=3):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    terminal = np.zeros(S, dtype=bool)
    terminal[-1] = True
    start = np.r_[rng.dirichlet(np.ones(S - 1)), 0.0]
    return TabularMDP(P, rng.normal(size=(S, A)), start, terminal, horizon), rng.normal(size=(S, A))


def enumerated_return(mdp, theta, gamma):
    """J = Σ_τ p(τ) Σ_k γ^k r_k over every trajectory of at most H steps, written out."""
    pi = softmax_policy(theta)
    S, A = mdp.R.shape
    total = 0.0

    def walk(s, k, probability, discounted):
        nonlocal total
        for a in range(A):
            value = discounted + gamma**k * mdp.R[s, a]
            for following in range(S):
                p = probability * pi[s, a] * mdp.P[s, a, following]
                if mdp.terminal[following] or k + 1 == mdp.horizon:
                    total += p * value
                elif p > 0:
                    walk(following, k + 1, p, value)

    for s in range(S):
        if mdp.start[s] > 0:
            walk(s, 0, mdp.start[s], 0.0)
    return total


# ---------------------------------------------------------------- 1. the exact reference
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("seed", range(3))
def test_exact_return_matches_enumeration(seed, gamma):
    mdp, theta = random_mdp(seed, horizon=3)
    assert expected_return(mdp, theta, gamma) == pytest.approx(enumerated_return(mdp, theta, gamma), rel=1e-12)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("horizon", [1, 4, None])
@pytest.mark.gradcheck
@pytest.mark.parametrize("seed", range(3))
def test_exact_gradient_matches_finite_differences(seed, horizon, gamma):
    mdp, theta = random_mdp(seed, horizon)
    numeric = numerical_gradient(lambda: expected_return(mdp, theta, gamma), theta)
    np.testing.assert_allclose(policy_gradient(mdp, theta, gamma), numeric, rtol=1e-6, atol=1e-8)


def test_dropping_the_discount_changes_the_gradient_only_when_gamma_is_below_one():
    mdp, theta = random_mdp(0, horizon=4)
    undiscounted = {gamma: policy_gradient(mdp, theta, gamma, discount_weighting=False) for gamma in GAMMAS}
    np.testing.assert_array_equal(policy_gradient(mdp, theta, 1.0), undiscounted[1.0])
    assert not np.allclose(policy_gradient(mdp, theta, 0.9), undiscounted[0.9])


def test_a_rollout_of_one_step_is_one_step_of_an_episode():
    """T = 1: one episode per env, cut after its first step: the gradient of J with H = 1."""
    mdp, theta = random_mdp(1, horizon=4)
    expected_sum, count = rollout_expectation(mdp, theta, 0.9, T=1)
    np.testing.assert_allclose(expected_sum, policy_gradient(mdp, theta, 0.9, horizon=1), rtol=1e-12)
    assert count == 1.0


def test_bad_mdp_is_named():
    mdp, _ = random_mdp(0, horizon=4)
    with pytest.raises(ValueError, match=r"^P must hold probabilities: P\[s, a\] ≥ 0 summing to 1 over s'$"):
        TabularMDP(mdp.P * 2, mdp.R, mdp.start, mdp.terminal, 4)
    with pytest.raises(ValueError, match="^start must be a distribution of shape"):
        TabularMDP(mdp.P, mdp.R, np.eye(4)[3], mdp.terminal, 4)
    with pytest.raises(ValueError, match="^horizon must be a positive integer or None, got 0$"):
        TabularMDP(mdp.P, mdp.R, mdp.start, mdp.terminal, 0)


# ---------------------------------------------------------------- the env and the rollout's bookkeeping
def test_tabular_env_ends_episodes_by_termination_and_by_the_time_limit():
    mdp = teaching_mdp()
    env = make_tabular_env(mdp, 200)
    observations, _ = env.reset(seed=0)
    assert set(np.unique(observations.sum(axis=1))) == {1.0} and not observations[:, 3].any()
    terminated_seen = truncated_seen = False
    for _ in range(mdp.horizon):
        observations, _, terminated, truncated, _ = env.step(np.zeros(200, dtype=np.int64))
        assert (observations[terminated, 3] == 1).all()
        terminated_seen |= terminated.any()
        truncated_seen |= truncated.any()
    assert terminated_seen and truncated_seen  # truncated: every episode still running after H = 4 steps
    env.close()


def test_episode_steps_counts_from_each_episode_start():
    # one env, NEXT_STEP: an episode of 2 steps, the reset step, an episode of 3 steps, the reset, 1 step
    dones = np.array([0, 1, 0, 0, 0, 1, 0, 0], dtype=bool)[:, None]
    valid = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)[:, None]
    steps, starts = episode_steps(dones, valid)
    np.testing.assert_array_equal(steps[valid], [0, 1, 0, 1, 2, 0])
    np.testing.assert_array_equal(starts[valid], [0, 0, 3, 3, 3, 7])


# ---------------------------------------------------------------- 2. minipg's estimator, sampled
@pytest.fixture(scope="module")
def sampled():
    mdp = teaching_mdp()
    policy = teaching_policy(mdp)
    baseline = fit_value_baseline(mdp, policy, 1.0, T, ENVS, seed=10_000)  # its own rollout, then frozen
    return mdp, policy, sample_estimators(mdp, policy, T, ENVS, BATCHES, SEED, GAMMAS, {1.0: baseline})


def z_scores(sampled, gamma, estimator, reference=None):
    """(sum z, pooled-gradient z) against the exact expectation of `reference` (default: the estimator)."""
    mdp, policy, batches = sampled
    expected_sum, expected_count = exact_reference(mdp, policy, gamma, T, reference or estimator)
    sample = batches[gamma][estimator]
    return sum_z_scores(sample, expected_sum), gradient_z_scores(sample, expected_sum, expected_count)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("estimator", ["G_0", "γ^k G_k"])
def test_whole_return_and_discounted_reward_to_go_are_unbiased_for_the_gradient(sampled, estimator, gamma):
    """(a) G₀ at every step and (b) γ^k G_k: both average to ∇J_γ (in the rollout's mix of horizons)."""
    for z in z_scores(sampled, gamma, estimator):
        assert np.abs(z).max() < THRESHOLD, z


def test_the_posts_reward_to_go_is_unbiased_when_gamma_is_one(sampled):
    """(c) G_k without γ^k, γ = 1: the gradient itself (the two weightings coincide there)."""
    for z in z_scores(sampled, 1.0, "G_k", reference="γ^k G_k"):
        assert np.abs(z).max() < THRESHOLD, z


def test_the_posts_reward_to_go_is_biased_when_gamma_is_below_one(sampled):
    """(c) G_k without γ^k, γ = 0.9: it averages to its own (exact) expectation, which is not ∇J_γ;
    the sampled mean sits far outside the gradient's band (docs/theorem.md gives the bias's size)."""
    for z in z_scores(sampled, 0.9, "G_k"):
        assert np.abs(z).max() < THRESHOLD, z
    for z in z_scores(sampled, 0.9, "G_k", reference="γ^k G_k"):
        assert np.abs(z).max() > 3 * THRESHOLD, z


def test_a_frozen_value_baseline_keeps_the_mean_and_cuts_the_variance(sampled):
    """(d) G_k − b(s, t), b fitted on another rollout and frozen: unbiased, and its covariance's trace
    less than half that of G_k (measured: about a quarter)."""
    for z in z_scores(sampled, 1.0, "G_k − b", reference="G_k"):
        assert np.abs(z).max() < THRESHOLD, z
    traces = {name: batches.covariance_trace() for name, batches in sampled[2][1.0].items()}
    assert traces["G_k − b"] < 0.5 * traces["G_k"] < 0.5 * traces["G_0"]


def test_the_rollout_counts_its_valid_samples_as_expected(sampled):
    """N, the loss's normalization: per env, E[N]/E from the renewal argument; reset steps excluded."""
    mdp, policy, batches = sampled
    counts = batches[1.0]["G_k"].counts / ENVS
    expected = exact_reference(mdp, policy, 1.0, T, "G_k")[1]
    assert abs(counts.mean() - expected) < THRESHOLD * counts.std(ddof=1) / np.sqrt(len(counts))


def test_every_coordinate_is_exercised(sampled):
    """The test has power in every coordinate but the terminal state's row (never acted in)."""
    mdp, policy, _ = sampled
    expected_sum, _ = exact_reference(mdp, policy, 1.0, T, "G_k")
    assert np.count_nonzero(np.abs(expected_sum) > 1e-3) == expected_sum.size - mdp.n_actions
    W, b = policy.parameters()
    assert not np.allclose(softmax_policy(tabular_logits(W, b))[:3], 0.5)  # a policy that is not uniform


def test_z_scores_flag_a_wrong_reference(sampled):
    """The machinery has power: 10 % off in one coordinate is rejected."""
    mdp, policy, batches = sampled
    expected_sum, expected_count = exact_reference(mdp, policy, 1.0, T, "G_k")
    wrong = expected_sum.copy()
    largest = np.argmax(np.abs(wrong))
    wrong[largest] *= 1.1
    assert np.abs(sum_z_scores(batches[1.0]["G_k"], wrong)).max() > THRESHOLD


def test_sampling_is_deterministic():
    mdp = teaching_mdp()
    runs = [sample_estimators(mdp, teaching_policy(mdp), 4, 8, 2, SEED, (0.9,), estimators=("G_k",))[0.9]["G_k"]
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].sums, runs[1].sums)
    np.testing.assert_array_equal(runs[0].counts, runs[1].counts)
