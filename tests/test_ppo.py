"""The clipped surrogate (ppo.py): its per-sample derivative, the policies' gradients of it
against finite differences, and the multi-epoch update.

The reference loss is computed directly from the policy's distribution,

    L^CLIP(θ) = −(1/N) Σ_{valid n} min(ρ_n A_n, clip(ρ_n, 1 − ε, 1 + ε) A_n),
    ρ_n = exp(log π_θ(a_n|s_n) − log π_old(a_n|s_n)),

with old log-probabilities that put the ratios on both sides of the clipping range (but not
within FD reach of its kinks), and differentiated by central finite differences.
"""

import numpy as np
import pytest
from gymnasium import spaces

from conftest import GRAD_TOL, SEEDS, exactly, numerical_gradient, relative_error, stand_in_env
from test_policies import POLICIES, random_batch
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError, reinforce_objective
from minipg.ppo import clipped_objective, clipped_surrogate, ppo_update
from minipg import Options, make_env, train

CLIP = 0.2
KINK_MARGIN = 1e-3  # ratios this close to 1 ± ε are redrawn: FD would straddle the kink


def ratios_away_from_kinks(rng, shape):
    """log ρ uniform in [−0.6, 0.6] (ρ ∈ [0.55, 1.8]: clipped and unclipped samples of both
    signs of A), none within KINK_MARGIN of 1 − ε or 1 + ε."""
    log_ratio = rng.uniform(-0.6, 0.6, size=shape)
    while True:
        ratio = np.exp(log_ratio)
        near = np.minimum(np.abs(ratio - (1 - CLIP)), np.abs(ratio - (1 + CLIP))) < KINK_MARGIN
        if not near.any():
            return log_ratio
        log_ratio[near] = rng.uniform(-0.6, 0.6, size=near.sum())


def clipped_loss_and_grads(policy, states, actions, advantages, mask, old_log_probs):
    """L^CLIP and ∂L^CLIP/∂θ through the policy's gradient path, on the valid samples (as
    ppo_update takes them)."""
    if mask is not None:
        states, actions, advantages, old_log_probs = (x[mask] for x in (states, actions, advantages, old_log_probs))
    objective = clipped_objective(old_log_probs.ravel(), advantages.ravel(), CLIP)
    loss, grads, _ = policy.chunked_objective_and_grads(states, actions, objective)
    return loss, grads


def direct_clipped_loss(policy, states, actions, advantages, mask, old_log_probs):
    ratio = np.exp(policy.pi(states).log_prob(actions) - old_log_probs)
    objective = np.minimum(ratio * advantages, np.clip(ratio, 1 - CLIP, 1 + CLIP) * advantages)
    valid = np.ones(advantages.shape, dtype=bool) if mask is None else mask
    return -np.mean(objective[valid])


# ------------------------------------------------------------------ clipped_surrogate
@pytest.mark.gradcheck
@pytest.mark.parametrize("seed", SEEDS)
def test_surrogate_weights_are_its_derivative_by_log_pi(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    old_log_probs = rng.normal(size=n)
    log_probs = old_log_probs + ratios_away_from_kinks(rng, n)
    advantages = rng.normal(size=n)
    objective, weights = clipped_surrogate(log_probs, old_log_probs, advantages, CLIP)
    h = 1e-6  # the objective is elementwise, so one FD pass gives every derivative
    numeric = (clipped_surrogate(log_probs + h, old_log_probs, advantages, CLIP)[0]
               - clipped_surrogate(log_probs - h, old_log_probs, advantages, CLIP)[0]) / (2 * h)
    assert relative_error(weights, numeric) < GRAD_TOL
    ratio = np.exp(log_probs - old_log_probs)
    clipped = ((advantages > 0) & (ratio > 1 + CLIP)) | ((advantages < 0) & (ratio < 1 - CLIP))
    assert clipped.any() and (~clipped).any()
    assert np.all(weights[clipped] == 0.0)
    np.testing.assert_allclose(objective[clipped], np.clip(ratio, 1 - CLIP, 1 + CLIP)[clipped] * advantages[clipped])
    np.testing.assert_allclose(objective[~clipped], (ratio * advantages)[~clipped])


def test_surrogate_ignores_an_overflowed_ratio_that_is_clipped():
    """ρ = inf with A > 0 is clipped to (1 + ε)A: weight 0, not inf·0 = NaN.  With A < 0 the
    objective is −inf, which the policy's update reports as non-finite."""
    with np.errstate(over="ignore"):
        objective, weights = clipped_surrogate(np.array([1000.0, 1000.0]), np.zeros(2), np.array([2.0, -1.0]), CLIP)
    assert objective[0] == pytest.approx(2.0 * (1 + CLIP)) and weights[0] == 0.0
    assert objective[1] == -np.inf


# ------------------------------------------------------------------ the policies' gradients
@pytest.mark.gradcheck
@pytest.mark.parametrize("with_mask", [False, True], ids=["all-valid", "masked"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(POLICIES))
def test_clipped_gradients_match_finite_differences(name, seed, with_mask):
    rng = np.random.default_rng(100 + seed)
    policy = POLICIES[name](seed, chunk_size=7)  # several chunks, the last one partial
    shape = tuple(rng.integers(2, 7, size=2))
    states, actions, advantages, mask = random_batch(policy, rng, with_mask, shape)
    old_log_probs = policy.pi(states).log_prob(actions) - ratios_away_from_kinks(rng, shape)
    loss, grads = clipped_loss_and_grads(policy, states, actions, advantages, mask, old_log_probs)
    direct = lambda: direct_clipped_loss(policy, states, actions, advantages, mask, old_log_probs)
    assert loss == pytest.approx(direct(), rel=1e-12)
    for param, grad in zip(policy.parameters(), grads):
        assert relative_error(grad, numerical_gradient(direct, param)) < GRAD_TOL


@pytest.mark.gradcheck
def test_clipped_gradients_of_a_mirrored_gaussian_match_finite_differences():
    rng = np.random.default_rng(7)
    env = stand_in_env(4, spaces.Box(-1.0, 1.0, shape=(1,)))
    policy = DiagonalGaussianPolicy(env, hidden=(6, 5), seed=3, mirror=[-1, -1, 1, -1], chunk_size=9)
    states, actions, advantages, mask = random_batch(policy, rng, True, (4, 5))
    old_log_probs = policy.pi(states).log_prob(actions) - ratios_away_from_kinks(rng, (4, 5))
    _, grads = clipped_loss_and_grads(policy, states, actions, advantages, mask, old_log_probs)
    direct = lambda: direct_clipped_loss(policy, states, actions, advantages, mask, old_log_probs)
    params = policy.parameters()
    for index, (param, grad) in enumerate(zip(params, grads)):
        numeric = numerical_gradient(direct, param)
        if index == len(params) - 2:  # the output bias cancels in the odd mean: no gradient
            assert np.abs(grad).max() < 1e-15 and np.abs(numeric).max() < 1e-9
        else:
            assert relative_error(grad, numeric) < GRAD_TOL


@pytest.mark.parametrize("name", list(POLICIES))
def test_at_the_old_policy_the_clipped_gradient_is_reinforces(name):
    """ρ = 1 at θ = θ_old: L^CLIP's gradient is exactly REINFORCE's with G = A."""
    rng = np.random.default_rng(1)
    policy = POLICIES[name](0, chunk_size=7)
    states, actions, advantages, mask = random_batch(policy, rng, True)
    old_log_probs = policy.pi(states).log_prob(actions)
    _, clipped_grads = clipped_loss_and_grads(policy, states, actions, advantages, mask, old_log_probs)
    _, grads = policy.loss_and_grads(states[mask], actions[mask], advantages[mask])
    for clipped_grad, grad in zip(clipped_grads, grads):
        np.testing.assert_array_equal(clipped_grad, grad)


def test_clipping_arguments_are_checked():
    rng = np.random.default_rng(0)
    policy = POLICIES["gaussian_1d"](0)
    states, actions, advantages, _ = random_batch(policy, rng, False)
    old_log_probs = policy.pi(states).log_prob(actions).ravel()
    advantages = advantages.ravel()
    for clip_ratio in (-0.1, 0.0, float("inf")):
        with pytest.raises(ValueError, match=exactly(f"clip_ratio must be a positive finite number, got {clip_ratio}")):
            clipped_objective(old_log_probs, advantages, clip_ratio)
    with pytest.raises(ValueError, match=r"^old_log_probs must have shape \(20,\)"):
        clipped_objective(old_log_probs[:2], advantages, CLIP)
    old_log_probs[0] = np.nan
    with pytest.raises(NonFiniteError, match=exactly("old_log_probs contain NaN or inf")):
        clipped_objective(old_log_probs, advantages, CLIP)
    advantages[3] = np.inf
    with pytest.raises(NonFiniteError, match=exactly("advantages contain NaN or inf")):
        clipped_objective(np.zeros(20), advantages, CLIP)


def test_an_infinite_clipped_loss_leaves_the_parameters_untouched():
    rng = np.random.default_rng(0)
    policy = POLICIES["gaussian_1d"](0)
    states, actions, advantages, _ = random_batch(policy, rng, False)
    advantages[:] = -1.0
    old_log_probs = policy.pi(states).log_prob(actions) - 1000.0  # ρ overflows: L = +inf
    before = [p.copy() for p in policy.parameters()]
    objective = clipped_objective(old_log_probs.ravel(), advantages.ravel(), CLIP)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteError, match="^non-finite loss"):
        policy.step(states, actions, objective)
    for param, old in zip(policy.parameters(), before):
        np.testing.assert_array_equal(param, old)


# ------------------------------------------------------------------ ppo_update
def test_ppo_update_takes_a_step_per_minibatch_per_pass_on_the_valid_samples(monkeypatch):
    """3 passes over 17 valid samples in minibatches of 5: 4 steps a pass (5, 5, 5, 2), each on
    a fresh shuffle of exactly the valid samples, against the log-probs of the acting policy."""
    rng = np.random.default_rng(2)
    policy = POLICIES["gaussian_3d"](0)
    states, actions, advantages, _ = random_batch(policy, rng, False)
    mask = np.zeros((5, 4), dtype=bool)
    mask.flat[rng.permutation(20)[:17]] = True
    acting_log_probs = policy.pi(states).log_prob(actions)
    steps = []
    step = DiagonalGaussianPolicy.step

    step_stats = []

    def spy(self, batch_states, batch_actions, objective, mask=None, max_grad_norm=None, entropy_coef=0.0,
            checked=False):
        rows = [int(np.flatnonzero((states == row).all(axis=-1).ravel())[0]) for row in batch_states]
        steps.append(rows)
        # the objective's weights at the acting policy (ρ = 1) are −A/n for these rows' advantages
        _, weights = objective(acting_log_probs.ravel()[rows])
        np.testing.assert_allclose(weights, -advantages.ravel()[rows] / len(rows), rtol=1e-12)
        # checked: the rollout was checked once by ppo_update, not again in each minibatch
        assert mask is None and max_grad_norm == 0.5 and entropy_coef == 0.01 and checked
        step_stats.append(step(self, batch_states, batch_actions, objective, mask, max_grad_norm, entropy_coef,
                               checked))
        return step_stats[-1]

    monkeypatch.setattr(DiagonalGaussianPolicy, "step", spy)
    stats = ppo_update(policy, states, actions, advantages, mask, CLIP, update_epochs=3, minibatch_size=5,
                       max_grad_norm=0.5, entropy_coef=0.01)
    assert [len(rows) for rows in steps] == [5, 5, 5, 2] * 3
    valid_rows = sorted(np.flatnonzero(mask.ravel()).tolist())
    for start in (0, 4, 8):
        assert sorted(sum(steps[start:start + 4], [])) == valid_rows
    assert steps[0:4] != steps[4:8]  # reshuffled
    assert policy.opt.t == 12
    assert set(stats) == {"loss", "entropy", "grad_norm"}
    for key in stats:  # the mean over the 12 steps
        assert stats[key] == pytest.approx(np.mean([step[key] for step in step_stats]), rel=1e-12)


def test_ppo_update_without_a_minibatch_size_steps_on_the_whole_rollout(monkeypatch):
    rng = np.random.default_rng(4)
    policy = POLICIES["gaussian_1d"](0)
    states, actions, advantages, mask = random_batch(policy, rng, True)
    sizes = []
    step = DiagonalGaussianPolicy.step
    monkeypatch.setattr(DiagonalGaussianPolicy, "step",
                        lambda self, s, *args, **kwargs: sizes.append(len(s)) or step(self, s, *args, **kwargs))
    ppo_update(policy, states, actions, advantages, mask, CLIP, update_epochs=2, minibatch_size=None)
    assert sizes == [int(mask.sum())] * 2


def test_ppo_update_is_reproducible():
    results = []
    for _ in range(2):
        rng = np.random.default_rng(3)
        policy = POLICIES["categorical_hidden8"](1)
        states, actions, advantages, mask = random_batch(policy, rng, True)
        ppo_update(policy, states, actions, advantages, mask, CLIP, update_epochs=4, minibatch_size=6)
        results.append([p.copy() for p in policy.parameters()])
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)


# ------------------------------------------------------------------ in the training loop
def test_clipped_updates_in_the_loop_learn_cartpole():
    """PPO-style updates with GAE on CartPole: a handful of rollouts lifts the mean return well
    above a random policy's ≈ 22."""
    options = Options(env="CartPole-v1", num_envs=8, T=200, epochs=12, lr=3e-3, hidden=(32,), baseline="value",
                      normalize_advantages=True, gae_lambda=0.95, bootstrap=True, clip_ratio=0.2,
                      update_epochs=4, minibatch_size=256)
    env = make_env(options.env, options.num_envs)
    history = train(env, CategoricalPolicy(env, lr=3e-3, hidden=(32,), seed=0), options, seed=0)
    env.close()
    assert np.nanmean(history["mean_return"][:2]) < 40
    assert np.nanmean(history["mean_return"][-3:]) > 100


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_and_reinforce_gradients_keep_the_policy_dtype(dtype):
    rng = np.random.default_rng(6)
    policy = POLICIES["gaussian_3d"](0, dtype=dtype)
    states, actions, advantages, mask = random_batch(policy, rng, True)
    states, actions, advantages = states.astype(dtype), actions.astype(dtype), advantages.astype(dtype)
    old_log_probs = policy.pi(states).log_prob(actions)
    for clipped in (False, True):
        if clipped:
            _, grads = clipped_loss_and_grads(policy, states, actions, advantages, mask, old_log_probs)
        else:
            _, grads = policy.loss_and_grads(states, actions, advantages, mask)
        assert all(grad.dtype == dtype for grad in grads)
    objective = reinforce_objective(advantages, mask)
    _, grads, _ = policy.chunked_objective_and_grads(states, actions, objective, mask, entropy_coef=0.1)
    assert all(grad.dtype == dtype for grad in grads)  # with an entropy bonus too


def test_no_entropy_bonus_unless_asked():
    """step and ppo_update take no entropy term by default: the same step as entropy_coef=0."""
    results = []
    for kwargs in ({}, {"entropy_coef": 0.0}):
        policy = POLICIES["gaussian_3d"](0)
        states, actions, advantages, mask = random_batch(policy, np.random.default_rng(9), True)
        stats = policy.step(states, actions, reinforce_objective(advantages, mask), mask, **kwargs)
        ppo_update(policy, states, actions, advantages, mask, CLIP, 2, 7, **kwargs)
        results.append((stats["loss"], [p.copy() for p in policy.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def test_the_clipped_objective_takes_one_advantage_per_sample():
    with pytest.raises(ValueError, match=r"^advantages must have shape \(3,\) \(the states' batch shape\), "
                                         r"got \(3, 2\)"):
        clipped_objective(np.zeros((3, 2)), np.zeros((3, 2)), CLIP)


@pytest.mark.parametrize("broken, error, message", [
    ("advantages", NonFiniteError, "advantages contain NaN or inf"),
    ("states", NonFiniteError, "states contain NaN or inf"),
    ("actions", ValueError, "actions contain NaN or inf"),
])
def test_ppo_update_checks_the_rollout_once_before_any_step(broken, error, message, monkeypatch):
    """The rollout is checked as a whole before the first minibatch (not again in each step):
    a NaN anywhere, even in a sample the last minibatch would hold, stops the update with
    the parameters untouched."""
    policy = POLICIES["gaussian_3d"](0)
    batch = dict(zip(("states", "actions", "advantages", "mask"), random_batch(policy, np.random.default_rng(3), True)))
    last_valid = np.flatnonzero(batch["mask"].ravel())[-1]
    batch[broken].reshape(batch["mask"].size, -1)[last_valid] = np.nan
    before = [p.copy() for p in policy.parameters()]
    monkeypatch.setattr(DiagonalGaussianPolicy, "step", lambda *args, **kwargs: pytest.fail("a step was taken"))
    with pytest.raises(error, match=exactly(message)):
        ppo_update(policy, *batch.values(), CLIP, update_epochs=2, minibatch_size=5)
    for a, b in zip(before, policy.parameters()):
        assert a.tobytes() == b.tobytes()
