"""CategoricalPolicy and DiagonalGaussianPolicy: the REINFORCE loss and its gradient wrt every
parameter entry, masking, chunking, and the Adam step of learn/update.

The reference loss is computed directly from the policy's distribution,

    L(θ) = −(1/N) Σ_{valid (t, e)} log π_θ(a_te | s_te) · G_te,

and differentiated by central finite differences; the policies' hand-written gradients must
match it on (T, E) batches, with and without a mask of invalid (autoreset) steps.
"""

import numpy as np
import pytest
from gymnasium import spaces

from conftest import GRAD_TOL, SEEDS, exactly, numerical_gradient, relative_error, stand_in_env
from minipg.ppo import clipped_objective
from minipg.policies import (LOG_STD_MAX, LOG_STD_MIN, CategoricalPolicy, DiagonalGaussianPolicy,
                             NonFiniteError, reinforce_objective)

OBS_DIM = 4
N_ACTIONS = 3
T, E = 5, 4            # 20 samples: not a multiple of CHUNK_SIZE, so the last chunk is partial
CHUNK_SIZE = 7
LR = 0.01
ADAM_EPS = 1e-8        # Adam's default ε
CHUNK_TOL = 1e-12      # chunking only reorders a sum: it may change nothing but rounding


# ------------------------------------------------------------------------------- helpers


def make_categorical(seed, hidden=(), chunk_size=None, dtype=np.float64):
    env = stand_in_env(OBS_DIM, spaces.Discrete(N_ACTIONS))
    return CategoricalPolicy(env, lr=LR, hidden=hidden, seed=seed, chunk_size=chunk_size, dtype=dtype)


def make_gaussian(seed, action_dim, hidden=(7, 5), chunk_size=None, dtype=np.float64):
    """A Gaussian policy whose log_std entries differ (random), so each gets its own gradient."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(action_dim,)))
    policy = DiagonalGaussianPolicy(env, lr=LR, hidden=hidden, seed=seed, chunk_size=chunk_size, dtype=dtype)
    policy.log_std[:] = np.random.default_rng(seed).uniform(-0.5, 0.5, size=action_dim)
    return policy


# Every policy configuration the batch tests run on: (id, constructor(seed, chunk_size, dtype)).
POLICIES = {
    "categorical_linear": lambda seed, **options: make_categorical(seed, (), **options),
    "categorical_hidden8": lambda seed, **options: make_categorical(seed, (8,), **options),
    "gaussian_1d": lambda seed, **options: make_gaussian(seed, 1, **options),
    "gaussian_3d": lambda seed, **options: make_gaussian(seed, 3, **options),
}


def random_batch(policy, rng, with_mask, shape=(T, E)):
    """States (T, E, obs_dim), actions sampled from the policy, random advantages (T, E), and a
    mask with about a third of the steps invalid (or None)."""
    states = rng.normal(size=shape + (OBS_DIM,))
    actions = policy.pi(states).sample(rng)
    advantages = rng.normal(size=shape)
    mask = None
    if with_mask:
        mask = rng.random(shape) < 2 / 3
        mask.flat[0] = True  # at least one valid sample
        mask.flat[-1] = False  # and at least one invalid one
    return states, actions, advantages, mask


def direct_loss(policy, states, actions, advantages, mask):
    """−mean over valid samples of log π(a|s)·G, straight from the policy's distribution."""
    log_prob = policy.pi(states).log_prob(actions)
    valid = np.ones(advantages.shape, dtype=bool) if mask is None else mask
    return -np.mean(log_prob[valid] * advantages[valid])


def assert_gradients_match_finite_differences(policy, batch):
    _, grads = policy.loss_and_grads(*batch)
    params = policy.parameters()
    assert len(grads) == len(params)
    for index, (param, grad) in enumerate(zip(params, grads)):
        assert grad.shape == param.shape
        numeric = numerical_gradient(lambda: direct_loss(policy, *batch), param)
        assert relative_error(grad, numeric) <= GRAD_TOL, f"gradient of parameter {index} is wrong"


# ----------------------------------------------------------------------- the gradient


@pytest.mark.gradcheck
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("hidden", [(), (8,)], ids=["linear", "hidden8"])
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_gradients_match_finite_differences(seed, hidden, with_mask):
    """∂L/∂θ of CategoricalPolicy equals central differences of L, for every entry of every θ."""
    policy = make_categorical(seed, hidden)
    batch = random_batch(policy, np.random.default_rng(seed + 100), with_mask)
    assert_gradients_match_finite_differences(policy, batch)


@pytest.mark.gradcheck
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("action_dim", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_gaussian_gradients_match_finite_differences(seed, action_dim, with_mask):
    """∂L/∂θ of DiagonalGaussianPolicy (hidden (7, 5)) equals central differences of L, for every
    entry of every W, b and of log_std."""
    policy = make_gaussian(seed, action_dim)
    batch = random_batch(policy, np.random.default_rng(seed + 100), with_mask)
    assert_gradients_match_finite_differences(policy, batch)


@pytest.mark.gradcheck
def test_gaussian_default_network_gradients_match_finite_differences():
    """The post's network (hidden (64, 64)), on a tiny 2×2 batch to keep ~9000 evaluations fast."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(3,)))
    policy = DiagonalGaussianPolicy(env, lr=LR, seed=0)
    assert policy.hidden == (64, 64)
    batch = random_batch(policy, np.random.default_rng(1), with_mask=True, shape=(2, 2))
    assert_gradients_match_finite_differences(policy, batch)


@pytest.mark.gradcheck
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("name", POLICIES)
def test_entropy_bonus_gradients_match_finite_differences(name, seed, with_mask):
    """L − c·mean H over the valid samples (an entropy bonus, c = 0.3): its value and ∂/∂θ of
    every parameter against central differences of the directly computed loss, in chunks of 7."""
    policy = POLICIES[name](seed=seed, chunk_size=CHUNK_SIZE)
    states, actions, advantages, mask = random_batch(policy, np.random.default_rng(seed + 200), with_mask)
    valid = np.ones(advantages.shape, dtype=bool) if mask is None else mask
    coef = 0.3

    def direct():
        dist = policy.pi(states)
        return -np.mean((dist.log_prob(actions) * advantages)[valid]) - coef * np.mean(dist.entropy()[valid])

    objective = reinforce_objective(advantages, mask)
    loss, grads, entropy = policy.chunked_objective_and_grads(states, actions, objective, mask, entropy_coef=coef)
    assert loss == pytest.approx(direct(), rel=1e-12)
    assert entropy == pytest.approx(np.mean(policy.pi(states).entropy()[valid]), rel=1e-12)
    for param, grad in zip(policy.parameters(), grads):
        assert relative_error(grad, numerical_gradient(direct, param)) <= GRAD_TOL


def test_the_entropy_bonus_raises_the_entropy():
    """Advantages of 0 leave only the bonus: steps on it make π more uniform (categorical) and σ
    larger (Gaussian)."""
    for name in ("categorical_hidden8", "gaussian_3d"):
        policy = POLICIES[name](seed=0)
        states, actions, advantages, _ = random_batch(policy, np.random.default_rng(1), False)
        before = policy.pi(states).entropy().mean()
        for _ in range(5):
            policy.update(states, actions, np.zeros_like(advantages), entropy_coef=0.5)
        assert policy.pi(states).entropy().mean() > before


def test_output_scale_shrinks_the_categorical_logits_towards_uniform():
    env = stand_in_env(OBS_DIM, spaces.Discrete(N_ACTIONS))
    plain, small = CategoricalPolicy(env, hidden=(8,), seed=0), CategoricalPolicy(env, hidden=(8,), seed=0,
                                                                                   output_scale=0.01)
    for a, b in zip(plain.parameters()[:-2], small.parameters()[:-2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain.parameters()[-2:], small.parameters()[-2:]):
        np.testing.assert_allclose(b, 0.01 * a)
    states = np.random.default_rng(0).normal(size=(50, OBS_DIM))
    assert small.pi(states).entropy().min() > np.log(N_ACTIONS) - 1e-3


# --------------------------------------------------------------------------- the loss


@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("name", POLICIES)
def test_loss_is_minus_mean_of_log_prob_times_return(name, with_mask):
    """The loss value is −(1/N) Σ log π(a|s)·G over the N valid samples, computed from pi()."""
    policy = POLICIES[name](seed=0)
    batch = random_batch(policy, np.random.default_rng(1), with_mask)
    loss, _ = policy.loss_and_grads(*batch)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, direct_loss(policy, *batch), rtol=1e-12)


@pytest.mark.parametrize("name", POLICIES)
def test_masked_samples_are_ignored(name):
    """Loss and gradients on a masked batch equal those on the valid samples alone."""
    policy = POLICIES[name](seed=0)
    states, actions, advantages, mask = random_batch(policy, np.random.default_rng(1), with_mask=True)
    loss, grads = policy.loss_and_grads(states, actions, advantages, mask)
    # The valid samples as a (N, 1) batch without a mask.
    only_valid = (states[mask][:, None], actions[mask][:, None], advantages[mask][:, None])
    loss_valid, grads_valid = policy.loss_and_grads(*only_valid)
    np.testing.assert_allclose(loss, loss_valid, rtol=1e-12)
    for grad, grad_valid in zip(grads, grads_valid):
        assert relative_error(grad, grad_valid) <= 1e-12


@pytest.mark.parametrize("name", POLICIES)
def test_all_false_mask_raises(name):
    """With no valid sample the mean is undefined: ValueError rather than a 0/0."""
    policy = POLICIES[name](seed=0)
    states, actions, advantages, _ = random_batch(policy, np.random.default_rng(1), with_mask=False)
    with pytest.raises(ValueError, match=exactly("no valid samples to learn from (the mask is all False)")):
        policy.loss_and_grads(states, actions, advantages, np.zeros((T, E), dtype=bool))


@pytest.mark.parametrize("chunk_size", [CHUNK_SIZE, 1])
@pytest.mark.parametrize("with_mask", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("name", POLICIES)
def test_chunked_equals_unchunked(name, with_mask, chunk_size):
    """Splitting the T·E samples into chunks of CHUNK_SIZE (or of one sample each) gives the
    same loss, gradients and entropy as one chunk: the loss is a sum over samples (with the
    global N in every term)."""
    whole = POLICIES[name](seed=3)
    chunked = POLICIES[name](seed=3, chunk_size=chunk_size)
    batch = random_batch(whole, np.random.default_rng(4), with_mask)

    loss, grads = whole.loss_and_grads(*batch)
    loss_chunked, grads_chunked = chunked.loss_and_grads(*batch)
    assert relative_error(loss, loss_chunked) <= CHUNK_TOL
    for grad, grad_chunked in zip(grads, grads_chunked):
        assert relative_error(grad, grad_chunked) <= CHUNK_TOL
    entropy = whole.update(*batch)["entropy"]
    assert relative_error(entropy, chunked.update(*batch)["entropy"]) <= CHUNK_TOL


@pytest.mark.parametrize("objective_name", ["reinforce", "clipped"])
@pytest.mark.parametrize("chunk_size, threads", [(CHUNK_SIZE, 1), (CHUNK_SIZE, 3), (1, 2), (T * E, 1)])
@pytest.mark.parametrize("name", POLICIES)
def test_chunks_and_threads_wrap_the_plain_path(name, chunk_size, threads, objective_name):
    """chunked_objective_and_grads (chunks of the flattened batch, on worker threads, summed in
    order) gives what one call of the plain path objective_and_grads gives on the whole batch:
    distribution → log π → per-sample weight → backward, to 1e-12."""
    policy = POLICIES[name](seed=3, chunk_size=chunk_size)
    policy.threads = threads
    states, actions, advantages, mask = random_batch(policy, np.random.default_rng(4), True)
    states, actions, advantages = states[mask], actions[mask], advantages[mask]  # (n, ...) valid samples
    if objective_name == "reinforce":
        objective = reinforce_objective(advantages)
    else:
        old_log_probs = policy.pi(states).log_prob(actions) + np.random.default_rng(5).normal(0, 0.3, len(states))
        objective = clipped_objective(old_log_probs, advantages, 0.2)
    loss, grads, dist = policy.objective_and_grads(states, actions, objective)
    chunked_loss, chunked_grads, entropy = policy.chunked_objective_and_grads(states, actions, objective)
    assert relative_error(loss, chunked_loss) <= CHUNK_TOL
    for grad, chunked_grad in zip(grads, chunked_grads):
        assert relative_error(grad, chunked_grad) <= CHUNK_TOL
    assert relative_error(dist.entropy().mean(), entropy) <= CHUNK_TOL


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", POLICIES)
def test_act_with_pre_drawn_noise_picks_the_actions_of_step_by_step_sampling(name, dtype):
    """A rollout draws all its noise at once (sampling_noise); the actions must be exactly
    those of one act(states) call per step from the same generator state."""
    step_by_step, pre_drawn = POLICIES[name](seed=3, dtype=dtype), POLICIES[name](seed=3, dtype=dtype)
    states = np.random.default_rng(4).normal(size=(T, E, OBS_DIM)).astype(dtype)
    noise = pre_drawn.sampling_noise((T, E))
    assert noise.shape[:2] == (T, E) and noise.dtype == dtype
    for t in range(T):
        np.testing.assert_array_equal(pre_drawn.act(states[t], noise[t]), step_by_step.act(states[t]))
    assert pre_drawn.rng.bit_generator.state == step_by_step.rng.bit_generator.state


def test_categorical_parameters_are_the_network_weights_in_order():
    """parameters() = [W1, b1, W2, b2]: the network's own arrays, which Adam updates in place."""
    policy = make_categorical(0, hidden=(8,))
    params = policy.parameters()
    assert [p.shape for p in params] == [(OBS_DIM, 8), (8,), (8, N_ACTIONS), (N_ACTIONS,)]
    assert all(p is q for p, q in zip(params, policy.net.params))
    assert all(p is q for p, q in zip(params, policy.opt.params))


def test_gaussian_parameters_end_with_log_std():
    """parameters() = [W1, b1, W2, b2, W3, b3, log_std], log_std initialized to log_std_init."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    policy = DiagonalGaussianPolicy(env, hidden=(7, 5), seed=0, log_std_init=0.25)
    params = policy.parameters()
    assert [p.shape for p in params] == [(OBS_DIM, 7), (7,), (7, 5), (5,), (5, 2), (2,), (2,)]
    assert all(p is q for p, q in zip(params[:-1], policy.net.params))
    assert params[-1] is policy.log_std
    assert all(p is q for p, q in zip(params, policy.opt.params))
    np.testing.assert_array_equal(policy.log_std, [0.25, 0.25])


def test_output_scale_shrinks_only_the_initial_output_layer():
    """output_scale multiplies the last layer's W and b at initialization (the same draws), and
    leaves the hidden layers and log σ alone; a non-positive scale is refused by name."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    plain = DiagonalGaussianPolicy(env, hidden=(7, 5), seed=3)
    scaled = DiagonalGaussianPolicy(env, hidden=(7, 5), seed=3, output_scale=0.01)
    for a, b in zip(plain.net.params[:-2], scaled.net.params[:-2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain.net.params[-2:], scaled.net.params[-2:]):
        np.testing.assert_allclose(b, 0.01 * a, rtol=1e-15)
    np.testing.assert_array_equal(plain.log_std, scaled.log_std)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="output_scale must be a positive finite number"):
            DiagonalGaussianPolicy(env, output_scale=bad)


def test_policies_prefer_single_spaces_of_a_vector_env():
    """On a vector env the spaces of ONE copy (single_*) define the network, not the batched ones."""
    vector_env = stand_in_env(OBS_DIM, spaces.MultiDiscrete([N_ACTIONS] * 8))
    vector_env.observation_space = spaces.Box(-1.0, 1.0, shape=(8, OBS_DIM))
    vector_env.single_observation_space = spaces.Box(-1.0, 1.0, shape=(OBS_DIM,))
    vector_env.single_action_space = spaces.Discrete(N_ACTIONS)
    policy = CategoricalPolicy(vector_env, seed=0)
    assert (policy.obs_dim, policy.act_dim) == (OBS_DIM, N_ACTIONS)


@pytest.mark.parametrize("name", POLICIES)
def test_same_seed_same_initial_parameters(name):
    """The seed fixes the initialization; another seed gives another one."""
    a, b, c = POLICIES[name](seed=5), POLICIES[name](seed=5), POLICIES[name](seed=6)
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.parameters()[0], c.parameters()[0])


# ------------------------------------------------------------------------- learn / update


@pytest.mark.parametrize("name", POLICIES)
def test_learn_is_one_adam_step_on_the_gradient(name):
    """learn returns the loss and moves every θ by Adam's first step, θ − lr·g/(√(g²) + ε)
    (at t = 1 the bias-corrected moments are exactly g and g²)."""
    policy = POLICIES[name](seed=0)
    batch = random_batch(policy, np.random.default_rng(1), with_mask=True)
    before = [p.copy() for p in policy.parameters()]
    loss, grads = policy.loss_and_grads(*batch)

    assert policy.learn(*batch) == loss
    for param, old, grad in zip(policy.parameters(), before, grads):
        assert not np.array_equal(param, old)
        np.testing.assert_allclose(param, old - LR * grad / (np.sqrt(grad**2) + ADAM_EPS), rtol=1e-12, atol=1e-15)
    assert direct_loss(policy, *batch) < loss, "a small step against the gradient lowers the loss"


@pytest.mark.parametrize("name", POLICIES)
def test_update_reports_loss_entropy_and_gradient_norm(name):
    """update returns the loss, the mean entropy over VALID states and ‖∇L‖, all before its step."""
    policy = POLICIES[name](seed=0)
    states, actions, advantages, mask = random_batch(policy, np.random.default_rng(1), with_mask=True)
    loss, grads = policy.loss_and_grads(states, actions, advantages, mask)
    entropy = policy.pi(states).entropy()[mask].mean()

    stats = policy.update(states, actions, advantages, mask)
    np.testing.assert_allclose(stats["loss"], loss, rtol=1e-15)
    np.testing.assert_allclose(stats["entropy"], entropy, rtol=1e-12)
    np.testing.assert_allclose(stats["grad_norm"], np.sqrt(sum((g**2).sum() for g in grads)), rtol=1e-12)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", POLICIES)
def test_update_rejects_non_finite_returns_without_changing_parameters(name, bad_value):
    """A NaN or infinite return would make the loss non-finite: NonFiniteError, and neither the
    parameters nor Adam's state change (a later good batch starts from a clean optimizer)."""
    policy = POLICIES[name](seed=0)
    states, actions, advantages, _ = random_batch(policy, np.random.default_rng(1), with_mask=False)
    advantages[2, 1] = bad_value
    before = [p.copy() for p in policy.parameters()]
    with pytest.raises(NonFiniteError, match=exactly("advantages contain NaN or inf")):
        policy.update(states, actions, advantages)
    assert all(np.array_equal(p, old) for p, old in zip(policy.parameters(), before))
    assert policy.opt.t == 0


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
@pytest.mark.parametrize("name", POLICIES)
def test_non_finite_states_are_refused(name, bad_value):
    """A NaN or inf observation stops the policy before it acts on it."""
    states = np.zeros((E, OBS_DIM))
    states[1, 2] = bad_value
    with pytest.raises(NonFiniteError, match=exactly("states contain NaN or inf")):
        POLICIES[name](seed=0).act(states)


@pytest.mark.parametrize("name", POLICIES)
def test_update_rejects_non_numeric_returns(name):
    policy = POLICIES[name](seed=0)
    states, actions, advantages, _ = random_batch(policy, np.random.default_rng(1), with_mask=False)
    with pytest.raises(TypeError, match="advantages must be numeric, got dtype <U"):
        policy.update(states, actions, advantages.astype(str))


@pytest.mark.parametrize("name", POLICIES)
def test_update_rejects_a_finite_loss_with_a_non_finite_gradient(name):
    """Returns of 1e300 keep the loss finite (|L| ≈ 1e300) but ‖∇L‖² overflows: that is a
    non-finite gradient too, so training stops there and nothing changes."""
    policy = POLICIES[name](seed=0)
    states, actions, advantages, mask = random_batch(policy, np.random.default_rng(1), with_mask=True)
    advantages = np.full_like(advantages, 1e300)
    before = [p.copy() for p in policy.parameters()]
    with np.errstate(over="ignore"):
        loss, _ = policy.loss_and_grads(states, actions, advantages, mask)
        assert np.isfinite(loss)
        with pytest.raises(NonFiniteError, match=r"non-finite gradient \(loss=.*, gradient norm=inf\)"):
            policy.update(states, actions, advantages, mask)
    assert all(np.array_equal(p, old) for p, old in zip(policy.parameters(), before))
    assert policy.opt.t == 0


@pytest.mark.parametrize("name", ["gaussian_1d", "gaussian_3d"])
def test_update_rejects_a_loss_that_overflows(name):
    """Actions 10σ from the mean (log π ≈ −50 per dimension) with finite advantages of 1e307: the loss
    −mean(log π·G) ≈ 5e308 overflows to inf, and update says the loss is non-finite."""
    policy = POLICIES[name](seed=0)
    states = np.random.default_rng(2).normal(size=(T, E, OBS_DIM))
    actions = policy.pi(states).mean + 10.0 * np.exp(policy.log_std)
    before = [p.copy() for p in policy.parameters()]
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError, match="non-finite loss .loss=inf"):
        policy.update(states, actions, np.full((T, E), 1e307))
    assert all(np.array_equal(p, old) for p, old in zip(policy.parameters(), before))


def test_update_stops_when_the_step_overflows_a_parameter():
    """A float32 policy with lr = 1e39 (finite, but beyond float32's 3.4e38): Adam's first step
    moves each θ by ≈ lr, which overflows to ±inf; update says so instead of returning."""
    policy = POLICIES["categorical_hidden8"](seed=0, dtype=np.float32)
    policy.opt.lr = 1e39
    batch = random_batch(policy, np.random.default_rng(1), with_mask=False)
    message = "a parameter became non-finite after the Adam step (learning rate too large?)"
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError, match=exactly(message)):
        policy.update(*batch)


@pytest.mark.parametrize("name", POLICIES)
def test_max_grad_norm_rescales_a_larger_gradient_to_that_norm(name):
    """With max_grad_norm = ‖g‖/4 Adam receives g/4 (its first moment after one step is
    (1 − β₁)·g/4, its second (1 − β₂)·g²/16); update still reports ‖g‖, the norm before clipping."""
    policy = POLICIES[name](seed=0)
    batch = random_batch(policy, np.random.default_rng(1), with_mask=True)
    _, grads = policy.loss_and_grads(*batch)
    norm = np.sqrt(sum((g**2).sum() for g in grads))

    stats = policy.update(*batch, max_grad_norm=norm / 4)
    np.testing.assert_allclose(stats["grad_norm"], norm, rtol=1e-12)
    beta1, beta2 = policy.opt.beta1, policy.opt.beta2
    for m, v, grad in zip(policy.opt.m, policy.opt.v, grads):
        np.testing.assert_allclose(m, (1 - beta1) * grad / 4, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(v, (1 - beta2) * grad**2 / 16, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", POLICIES)
def test_max_grad_norm_leaves_a_smaller_gradient_alone(name):
    """A gradient already within max_grad_norm reaches Adam unchanged."""
    policy = POLICIES[name](seed=0)
    batch = random_batch(policy, np.random.default_rng(1), with_mask=True)
    _, grads = policy.loss_and_grads(*batch)
    norm = np.sqrt(sum((g**2).sum() for g in grads))

    policy.update(*batch, max_grad_norm=2 * norm)
    for m, grad in zip(policy.opt.m, grads):
        np.testing.assert_array_equal(m, (1 - policy.opt.beta1) * grad)


# ------------------------------------------------------------------------- log σ bounds


def batch_pushing_log_std(policy, upward):
    """A (T, E) batch with advantages +1 whose gradient pushes every log σ_i up (actions 3σ from
    the mean: ∂L/∂log σ_i = −mean(z² − 1) = −8) or down (actions at the mean: +1)."""
    states = np.random.default_rng(2).normal(size=(T, E, OBS_DIM))
    mean = policy.pi(states).mean
    actions = mean + 3.0 * np.exp(policy.log_std) if upward else mean.copy()
    return states, actions, np.ones((T, E))


@pytest.mark.parametrize("bound", ["max", "min"])
def test_update_keeps_log_std_within_its_bounds(bound):
    """With lr = 1 Adam's first step moves log σ by ≈ 1 against the gradient.  Started 0.5 inside
    a bound, log σ_0 would overshoot it by 0.5: it stops exactly on LOG_STD_MAX (LOG_STD_MIN),
    while log σ_1, started at 0, moves the full step."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    policy = DiagonalGaussianPolicy(env, lr=1.0, hidden=(7, 5), seed=0)
    upward = bound == "max"
    policy.log_std[:] = [LOG_STD_MAX - 0.5 if upward else LOG_STD_MIN + 0.5, 0.0]
    policy.update(*batch_pushing_log_std(policy, upward))
    assert policy.log_std[0] == (LOG_STD_MAX if upward else LOG_STD_MIN)
    np.testing.assert_allclose(policy.log_std[1], 1.0 if upward else -1.0, rtol=1e-6)


def test_log_std_bounds_are_those_documented():
    """σ ∈ [e⁻⁵, e²] ≈ [0.0067, 7.4], as the comment in policies.py explains."""
    assert (LOG_STD_MIN, LOG_STD_MAX) == (-5.0, 2.0)


def test_limit_log_std_caps_log_std_at_a_bound_kept_in_range():
    """limit_log_std(u) lowers log σ to u where it is above; u below LOG_STD_MIN caps at LOG_STD_MIN."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(3,)))
    policy = DiagonalGaussianPolicy(env, hidden=(7,), seed=0)
    policy.log_std[:] = [-1.0, 0.5, 1.5]
    policy.limit_log_std(0.0)
    np.testing.assert_array_equal(policy.log_std, [-1.0, 0.0, 0.0])
    policy.limit_log_std(-10.0)
    np.testing.assert_array_equal(policy.log_std, [LOG_STD_MIN] * 3)


# ------------------------------------------------------------------------- construction


def test_categorical_rejects_continuous_actions():
    with pytest.raises(TypeError):
        CategoricalPolicy(stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,))))


def test_categorical_rejects_actions_not_starting_at_zero():
    """Actions index the logits, so they must be numbered 0 … n−1."""
    with pytest.raises(ValueError, match="CategoricalPolicy needs actions numbered from 0, got Discrete"):
        CategoricalPolicy(stand_in_env(OBS_DIM, spaces.Discrete(3, start=1)))


@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-1.0, 1.0, shape=(2, 2))])
def test_gaussian_rejects_non_vector_box_actions(action_space):
    with pytest.raises(TypeError):
        DiagonalGaussianPolicy(stand_in_env(OBS_DIM, action_space))


@pytest.mark.parametrize("policy_class", [CategoricalPolicy, DiagonalGaussianPolicy])
def test_policies_reject_non_flat_observations(policy_class):
    """Observations must be a flat Box (obs_dim,): the network's input is a vector."""
    action_space = spaces.Discrete(2) if policy_class is CategoricalPolicy else spaces.Box(-1.0, 1.0, shape=(1,))
    env = stand_in_env(OBS_DIM, action_space)
    env.observation_space = spaces.Box(-1.0, 1.0, shape=(2, 2))
    with pytest.raises(TypeError):
        policy_class(env)


@pytest.mark.parametrize("log_std_init", [LOG_STD_MIN, LOG_STD_MAX])
def test_gaussian_accepts_log_std_init_on_either_bound(log_std_init):
    """The allowed range of log σ is closed: both ends are valid initial values."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    policy = DiagonalGaussianPolicy(env, hidden=(7,), seed=0, log_std_init=log_std_init)
    np.testing.assert_array_equal(policy.log_std, [log_std_init] * 2)


@pytest.mark.parametrize("log_std_init", [LOG_STD_MIN - 0.01, LOG_STD_MAX + 0.01])
def test_gaussian_rejects_log_std_init_outside_the_bounds(log_std_init):
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    with pytest.raises(ValueError, match=r"log_std_init must lie in \[-5.0, 2.0\], got"):
        DiagonalGaussianPolicy(env, hidden=(7,), seed=0, log_std_init=log_std_init)


@pytest.mark.parametrize("hidden", [(0,), (8, -1), (2.5,), (True,)])
def test_policies_reject_bad_hidden_sizes(hidden):
    with pytest.raises(ValueError, match=r"hidden sizes must be positive integers, got hidden=\("):
        make_categorical(0, hidden=hidden)


def test_policies_accept_a_hidden_layer_of_width_one():
    policy = make_categorical(0, hidden=(1, np.int64(3)))
    assert policy.net.sizes == (OBS_DIM, 1, 3, N_ACTIONS)


def test_defaults_are_the_posts():
    """CategoricalPolicy: linear softmax, lr 1e-2; DiagonalGaussianPolicy: a (64, 64) ReLU mean,
    lr 1e-2, log σ = 0.5 (the original's log_sigma = 1 used as a variance)."""
    categorical = CategoricalPolicy(stand_in_env(OBS_DIM, spaces.Discrete(N_ACTIONS)))
    assert (categorical.hidden, categorical.opt.lr, categorical.dtype) == ((), 1e-2, np.float64)
    gaussian = DiagonalGaussianPolicy(stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,))))
    assert (gaussian.hidden, gaussian.opt.lr, gaussian.mirror) == ((64, 64), 1e-2, None)
    np.testing.assert_array_equal(gaussian.log_std, [0.5, 0.5])


@pytest.mark.parametrize("name", POLICIES)
def test_a_single_state_gets_a_single_action(name):
    """states of shape (obs_dim,): one action (a scalar, or (M,) for a Box), as for a batch row."""
    policy = POLICIES[name](seed=0)
    state = np.random.default_rng(1).normal(size=OBS_DIM)
    expected = policy.act_deterministic(state[None])[0]
    np.testing.assert_array_equal(policy.act_deterministic(state), expected)
    assert np.shape(policy.act(state)) == np.shape(expected)


@pytest.mark.parametrize("policy_class", [CategoricalPolicy, DiagonalGaussianPolicy])
def test_policies_keep_their_chunk_size_and_threads(policy_class):
    """chunk_size and threads given to either policy are the ones its learn step uses."""
    action_space = spaces.Discrete(2) if policy_class is CategoricalPolicy else spaces.Box(-1.0, 1.0, shape=(1,))
    policy = policy_class(stand_in_env(OBS_DIM, action_space), hidden=(4,), chunk_size=7, threads=3)
    assert (policy.chunk_size, policy.threads) == (7, 3)


def test_policies_reject_non_positive_chunk_size():
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        make_categorical(0, chunk_size=0)


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("dtype", ["float32", np.float64])
def test_policies_compute_in_their_dtype(name, dtype):
    """Every parameter, and the network's output, has the policy's float dtype."""
    policy = POLICIES[name](seed=0, dtype=dtype)
    assert policy.dtype == np.dtype(dtype)
    assert all(p.dtype == np.dtype(dtype) for p in policy.parameters())
    states = np.zeros((T, E, OBS_DIM), dtype=dtype)
    assert policy.net.forward(states).dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mirrored_gaussian_computes_in_its_dtype(dtype):
    """The mirror signs take the policy's dtype too, so a float32 mirrored mean stays float32."""
    env = stand_in_env(OBS_DIM, spaces.Box(-1.0, 1.0, shape=(2,)))
    policy = DiagonalGaussianPolicy(env, hidden=(5,), seed=0, dtype=dtype, mirror=[1, -1, 1, -1])
    assert policy.mirror.dtype == dtype
    assert policy.pi(np.ones((3, OBS_DIM), dtype=dtype)).mean.dtype == dtype


@pytest.mark.parametrize("name", POLICIES)
def test_act_deterministic_is_the_mode(name):
    """Evaluation without exploration: the argmax action, or the Gaussian's mean."""
    policy = POLICIES[name](seed=0)
    states = np.random.default_rng(1).normal(size=(E, OBS_DIM))
    if isinstance(policy, CategoricalPolicy):
        expected = policy.net.forward(states).argmax(axis=-1)
    else:
        expected = policy.net.forward(states)
    np.testing.assert_array_equal(policy.act_deterministic(states), expected)


@pytest.mark.parametrize("actions, error, message", [
    (np.zeros((T, E, 2), dtype=int), TypeError, "actions of a Box space must be floats, got dtype int64"),
    (np.full((T, E, 2), np.nan), ValueError, "actions contain NaN or inf"),
    (np.full((T, E, 2), -np.inf), ValueError, "actions contain NaN or inf"),
], ids=["int", "nan", "inf"])
def test_gaussian_rejects_bad_actions(actions, error, message):
    policy = make_gaussian(0, 2)
    states, _, advantages, _ = random_batch(policy, np.random.default_rng(1), with_mask=False)
    with pytest.raises(error, match=exactly(message)):
        policy.update(states, actions, advantages)


@pytest.mark.parametrize("dtype", [np.float16, np.int64, "complex128"])
def test_policies_reject_other_dtypes(dtype):
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got"):
        make_categorical(0, dtype=dtype)


@pytest.mark.parametrize("name", list(POLICIES))
def test_integer_returns_give_the_gradients_of_their_float_values(name):
    rng = np.random.default_rng(5)
    policy = POLICIES[name](0, chunk_size=CHUNK_SIZE)
    states, actions, _, mask = random_batch(policy, rng, True)
    advantages = rng.integers(-5, 6, size=(T, E))
    loss, grads = policy.loss_and_grads(states, actions, advantages, mask)
    float_loss, float_grads = policy.loss_and_grads(states, actions, advantages.astype(float), mask)
    assert loss == float_loss and loss != 0.0
    for grad, float_grad in zip(grads, float_grads):
        np.testing.assert_array_equal(grad, float_grad)


def unchecked_batch(where, value):
    """A categorical policy and a batch of 3 states with one non-finite entry, and its objective."""
    policy = CategoricalPolicy(stand_in_env(2, spaces.Discrete(2)), seed=0)
    states = np.zeros((3, 2))
    states[where] = value
    return policy, states, reinforce_objective(np.ones(3))


def test_step_checks_its_batch_unless_told_it_is_checked():
    """Policy.step on a batch nobody checked refuses a NaN state; ppo_update, which checks its
    rollout once, passes checked=True for its minibatches."""
    policy, states, objective = unchecked_batch((1, 0), np.nan)
    with pytest.raises(NonFiniteError, match=exactly("states contain NaN or inf")):
        policy.step(states, np.zeros(3, dtype=int), objective)
    with pytest.raises(NonFiniteError, match="non-finite loss"), np.errstate(invalid="ignore"):
        policy.step(states, np.zeros(3, dtype=int), objective, checked=True)  # unchecked: the NaN reaches the loss


def test_the_chunked_pass_checks_its_batch_unless_told_it_is_checked():
    policy, states, objective = unchecked_batch((0, 1), np.inf)
    with pytest.raises(NonFiniteError, match=exactly("states contain NaN or inf")):
        policy.chunked_objective_and_grads(states, np.zeros(3, dtype=int), objective)
    with np.errstate(invalid="ignore"):  # the inf goes through the products unchecked, as asked
        loss, _, _ = policy.chunked_objective_and_grads(states, np.zeros(3, dtype=int), objective, checked=True)
    assert not np.isfinite(loss)  # not checked again: the inf reaches the loss
