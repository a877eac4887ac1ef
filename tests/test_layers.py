"""MLP: the forward pass is x @ W + b with ReLU between layers, and backward is its exact gradient."""

import numpy as np
import pytest

from conftest import GRAD_TOL, SEEDS, exactly, numerical_gradient, relative_error
from minipg.layers import MLP

# Leading batch shapes the MLP must treat as "many independent inputs": a flat batch (B,),
# a rollout (T, E), and an arbitrary 3-d batch.
BATCH_SHAPES = [(5,), (4, 3), (2, 3, 4)]


def random_sizes(rng):
    """Layer sizes (n_in, h_1, ..., n_out) of an MLP with 1 to 4 linear layers of width 1 to 6."""
    n_layers = int(rng.integers(1, 5))
    return tuple(int(s) for s in rng.integers(1, 7, size=n_layers + 1))


@pytest.mark.gradcheck
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_backward_matches_finite_differences(seed, batch_shape):
    """∂L/∂θ from MLP.backward equals central differences for L = Σ grad_out ⊙ MLP(x), every θ.

    L is a random linear function of the output, so ∂L/∂y = grad_out: any upstream gradient can
    be tested this way.  Depth, widths, inputs and grad_out are all random.
    """
    rng = np.random.default_rng(seed)
    sizes = random_sizes(rng)
    mlp = MLP(sizes, rng)
    x = rng.normal(size=batch_shape + (sizes[0],))
    grad_out = rng.normal(size=batch_shape + (sizes[-1],))

    y = mlp.forward(x)
    assert y.shape == batch_shape + (sizes[-1],)
    grads = mlp.backward(grad_out)
    assert len(grads) == len(mlp.params) == 2 * (len(sizes) - 1)

    def loss():
        return np.sum(grad_out * mlp.forward(x))

    for param, grad in zip(mlp.params, grads):
        assert grad.shape == param.shape
        assert relative_error(grad, numerical_gradient(loss, param)) <= GRAD_TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_single_layer_is_affine(seed):
    """With sizes (n_in, n_out) the MLP is one linear layer, y = x @ W + b, with no ReLU."""
    rng = np.random.default_rng(seed)
    mlp = MLP((4, 3), rng)
    weight, bias = mlp.params
    x = rng.normal(size=(6, 4))
    np.testing.assert_allclose(mlp(x), x @ weight + bias, rtol=1e-15, atol=0)
    assert (mlp(x) < 0).any(), "a single layer must not apply ReLU to its output"


def test_hidden_layers_apply_relu():
    """A 2-layer MLP is W2ᵀ relu(W1ᵀ x + b1) + b2, written out directly."""
    rng = np.random.default_rng(0)
    mlp = MLP((3, 5, 2), rng)
    w1, b1, w2, b2 = mlp.params
    x = rng.normal(size=(7, 3))
    np.testing.assert_allclose(mlp(x), np.maximum(x @ w1 + b1, 0.0) @ w2 + b2, rtol=1e-15, atol=1e-15)


def test_initialization_is_uniform_within_pytorch_bound():
    """Every W and b of a layer with n_in inputs lies in [−1/√n_in, 1/√n_in] (nn.Linear's default)."""
    mlp = MLP((16, 8, 4), np.random.default_rng(0))
    for layer, n_in in enumerate((16, 8)):
        bound = 1.0 / np.sqrt(n_in)
        for param in mlp.params[2 * layer: 2 * layer + 2]:
            assert np.abs(param).max() <= bound


def test_initialization_fills_the_whole_interval():
    """W and b are spread uniformly over [−b, b], b = 1/√n_in: mean 0 and variance b²/3, each
    within 5 standard errors over a 4 → 2000 → 1 network's 8000 weights and 2000 biases."""
    mlp = MLP((4, 2000, 1), np.random.default_rng(0))
    bound = 1.0 / np.sqrt(4)
    for param in mlp.params[:2]:
        n = param.size
        assert abs(param.mean()) <= 5 * bound / np.sqrt(3 * n)
        assert abs(param.var() - bound**2 / 3) <= 5 * bound**2 * np.sqrt(4 / 45 / n)


def test_params_order_and_shapes():
    """params = [W1, b1, W2, b2, ...] with W_i: (n_in, n_out) and b_i: (n_out,)."""
    mlp = MLP((3, 5, 2), np.random.default_rng(0))
    assert [p.shape for p in mlp.params] == [(3, 5), (5,), (5, 2), (2,)]
    assert all(w is p for w, p in zip(mlp.weights, mlp.params[0::2]))
    assert all(b is p for b, p in zip(mlp.biases, mlp.params[1::2]))


@pytest.mark.parametrize("chunk_size", [1, 5, 12, 4096])
def test_predict_is_forward_in_chunks(chunk_size):
    """predict(x) equals forward(x) for any chunk size, for a (T, E, n_in) batch of 12 rows."""
    rng = np.random.default_rng(0)
    mlp = MLP((3, 5, 2), rng)
    x = rng.normal(size=(4, 3, 3))
    predicted = mlp.predict(x, chunk_size=chunk_size)
    assert predicted.shape == (4, 3, 2)
    np.testing.assert_allclose(predicted, mlp.forward(x), rtol=1e-15, atol=1e-15)


def test_backward_before_forward_raises():
    """backward needs the inputs cached by forward; without them it must fail loudly."""
    mlp = MLP((3, 2), np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=exactly("MLP.backward called before forward")):
        mlp.backward(np.ones((1, 2)))


def test_backward_after_predict_raises():
    """predict caches nothing: its last chunk is not the batch a backward would be about."""
    mlp = MLP((3, 4, 2), np.random.default_rng(0))
    mlp.forward(np.ones((5, 3)))
    mlp.predict(np.ones((7, 3)), chunk_size=3)
    with pytest.raises(RuntimeError, match=exactly("MLP.backward called before forward")):
        mlp.backward(np.ones((7, 2)))


@pytest.mark.parametrize("sizes, message", [
    ((), r"MLP needs at least input and output sizes, got sizes=\(\)"),
    ((4,), r"MLP needs at least input and output sizes, got sizes=\(4,\)"),
    ((4, 0), r"MLP layer sizes must be positive integers, got sizes=\(4, 0\)"),
    ((0, 3), "MLP layer sizes must be positive integers"),
    ((3, -2, 1), "MLP layer sizes must be positive integers"),
])
def test_bad_sizes_raise(sizes, message):
    """Fewer than two sizes, or a non-positive size, is rejected with ValueError saying which."""
    with pytest.raises(ValueError, match=message):
        MLP(sizes, np.random.default_rng(0))
