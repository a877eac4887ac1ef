"""Adam: three steps computed by hand, in-place updates, and argument checking."""

import re

import numpy as np
import pytest

from minipg.optim import Adam

LR, BETA1, BETA2, EPS = 0.1, 0.9, 0.999, 1e-8


def test_three_steps_match_hand_computation():
    """Adam's m, v, bias correction and update, written out step by step for t = 1, 2, 3."""
    theta0 = np.array([1.0, -2.0, 0.5, 0.0])
    g1 = np.array([0.5, -1.0, 0.0, 3.0])
    g2 = np.array([0.1, 2.0, -0.4, 3.0])
    g3 = np.array([-0.3, 0.5, 0.2, -1.0])

    # t = 1: m₀ = v₀ = 0, so the bias-corrected moments are exactly g₁ and g₁²
    m1 = (1 - BETA1) * g1
    v1 = (1 - BETA2) * g1**2
    theta1 = theta0 - LR * (m1 / (1 - BETA1)) / (np.sqrt(v1 / (1 - BETA2)) + EPS)
    # t = 2
    m2 = BETA1 * m1 + (1 - BETA1) * g2
    v2 = BETA2 * v1 + (1 - BETA2) * g2**2
    theta2 = theta1 - LR * (m2 / (1 - BETA1**2)) / (np.sqrt(v2 / (1 - BETA2**2)) + EPS)
    # t = 3
    m3 = BETA1 * m2 + (1 - BETA1) * g3
    v3 = BETA2 * v2 + (1 - BETA2) * g3**2
    theta3 = theta2 - LR * (m3 / (1 - BETA1**3)) / (np.sqrt(v3 / (1 - BETA2**3)) + EPS)

    theta = theta0.copy()
    adam = Adam([theta], lr=LR, betas=(BETA1, BETA2), eps=EPS)
    for expected, grad in zip((theta1, theta2, theta3), (g1, g2, g3)):
        adam.step([grad])
        np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(adam.m[0], m3, rtol=1e-12)
    np.testing.assert_allclose(adam.v[0], v3, rtol=1e-12)
    assert adam.t == 3


def test_first_step_moves_each_entry_by_lr_against_its_gradient():
    """At t = 1 the update is lr·g/(|g| + ε): a step of ≈ lr against the sign of each nonzero g,
    whatever its magnitude (Adam's scale invariance), and no step where g = 0."""
    theta = np.zeros(4)
    grad = np.array([1e-3, -50.0, 2.0, 0.0])
    Adam([theta], lr=LR).step([grad])
    np.testing.assert_allclose(theta, [-LR, LR, -LR, 0.0], rtol=1e-4)


def test_updates_every_parameter_in_place():
    """Adam updates the very arrays it was given (models keep references to them)."""
    weight, bias = np.ones((2, 3)), np.zeros(3)
    adam = Adam([weight, bias], lr=LR)
    adam.step([np.ones((2, 3)), -np.ones(3)])
    assert adam.params[0] is weight and adam.params[1] is bias
    np.testing.assert_allclose(weight, 1.0 - LR, rtol=1e-6)
    np.testing.assert_allclose(bias, LR, rtol=1e-6)


@pytest.mark.parametrize("lr", [0.0, -1e-3, np.nan, np.inf])
def test_rejects_non_positive_or_non_finite_lr(lr):
    """The learning rate must be a positive finite number."""
    with pytest.raises(ValueError, match=f"Adam learning rate must be a positive finite number, got lr={lr}"):
        Adam([np.zeros(2)], lr=lr)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9, 1.5)])
def test_rejects_betas_outside_unit_interval(betas):
    """Each β must lie in [0, 1): β = 1 never forgets, and 1 − βᵗ = 0 divides by zero."""
    with pytest.raises(ValueError, match=re.escape(f"Adam betas must each lie in [0, 1), got betas={betas}")):
        Adam([np.zeros(2)], lr=LR, betas=betas)


def test_accepts_betas_of_zero():
    """β = 0 is allowed (no memory): each step is then lr·g/(|g| + ε), a sign step."""
    theta = np.zeros(2)
    adam = Adam([theta], lr=LR, betas=(0.0, 0.0))
    adam.step([np.array([2.0, -0.5])])
    np.testing.assert_allclose(theta, [-LR, LR], rtol=1e-7)
    adam.step([np.array([-3.0, -1.0])])
    np.testing.assert_allclose(theta, [0.0, 2 * LR], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("eps", [0.0, -1e-8])
def test_rejects_non_positive_eps(eps):
    """ε must be positive: it keeps the step finite where √v̂ = 0."""
    with pytest.raises(ValueError, match=f"Adam eps must be positive, got eps={eps}"):
        Adam([np.zeros(2)], lr=LR, eps=eps)


def test_default_hyperparameters_are_torchs():
    """lr must be given; betas (0.9, 0.999) and ε = 1e-8 are torch.optim.Adam's defaults."""
    adam = Adam([np.zeros(2)], lr=LR)
    assert (adam.beta1, adam.beta2, adam.eps) == (0.9, 0.999, 1e-8)


def test_step_rejects_wrong_number_of_gradients():
    """One gradient per parameter: a mismatch is an error, not a silent partial update."""
    adam = Adam([np.zeros(2), np.zeros(3)], lr=LR)
    with pytest.raises(ValueError, match="Adam.step got 1 gradients for 2 parameters"):
        adam.step([np.zeros(2)])
    assert adam.t == 0


@pytest.mark.parametrize("dtype, grad_dtype", [(np.float64, np.float64), (np.float32, np.float32),
                                               (np.float32, np.float64)])
def test_the_flat_step_is_the_per_array_formula_to_the_bit(dtype, grad_dtype):
    """Adam keeps its moments in one flat array (one NumPy call per operation for all the
    parameters): each element must go through exactly the per-array formula, in its order."""
    rng = np.random.default_rng(0)
    shapes = [(6, 64), (64,), (64, 64), (64,), (64, 3), (3,)]
    params = [rng.normal(size=shape).astype(dtype) for shape in shapes]
    reference = [p.copy() for p in params]
    ms, vs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    adam = Adam(params, lr=3e-4)
    for t in range(1, 6):
        grads = [rng.normal(size=shape).astype(grad_dtype) for shape in shapes]
        adam.step(grads)
        for param, grad, m, v in zip(reference, grads, ms, vs):
            m *= 0.9
            m += (1.0 - 0.9) * grad
            v *= 0.999
            v += (1.0 - 0.999) * grad**2
            param -= 3e-4 * (m / (1.0 - 0.9**t)) / (np.sqrt(v / (1.0 - 0.999**t)) + 1e-8)
    for ours, theirs in zip(params + adam.m + adam.v, reference + ms + vs):
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()


def test_parameters_of_several_dtypes_are_refused():
    with pytest.raises(ValueError, match=re.escape("Adam's parameters must share one dtype, got "
                                                   "['float32', 'float64']")):
        Adam([np.zeros(2), np.zeros(3, np.float32)], lr=LR)


def test_adam_can_be_made_over_no_parameters():
    """A network of no parameters still gets an optimizer (its flat moments are empty)."""
    optimizer = Adam([], lr=0.1)
    assert optimizer.state_dict()["m"] == [] and optimizer._m.shape == (0,)
