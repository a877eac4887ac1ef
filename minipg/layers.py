"""Linear layers and a ReLU multi-layer perceptron with hand-written backward passes.

A linear layer maps inputs x of shape (..., n_in) to

    y = x @ W + b,        W: (n_in, n_out),  b: (n_out,)

Given the upstream gradient g = ∂L/∂y of shape (..., n_out), the chain rule gives

    ∂L/∂W = Σ_batch xᵀ g          (sum over every leading batch index)
    ∂L/∂b = Σ_batch g
    ∂L/∂x = g @ Wᵀ

ReLU, h = max(z, 0), passes the gradient where z > 0 and blocks it elsewhere:
∂L/∂z = ∂L/∂h · 1[z > 0].

`MLP` chains Linear → ReLU → Linear → ... → Linear (no activation after the last layer),
caching in `forward` exactly what `backward` needs: the input of every linear layer.
"""

import numpy as np


def init_linear(rng, n_in, n_out, dtype=np.float64):
    """PyTorch's default initialization of nn.Linear, so learning starts where the original's does.

    W and b are drawn from U(-1/sqrt(n_in), 1/sqrt(n_in)).  Returns (W: (n_in, n_out), b: (n_out,)).
    """
    bound = 1.0 / np.sqrt(n_in)
    weight = rng.uniform(-bound, bound, size=(n_in, n_out)).astype(dtype)
    bias = rng.uniform(-bound, bound, size=n_out).astype(dtype)
    return weight, bias


class MLP:
    """A stack of linear layers with ReLU between them: sizes = (n_in, h_1, ..., h_k, n_out).

    `sizes=(4, 2)` is a single linear layer (the original CartPole policy);
    `sizes=(5, 64, 64, 1)` is the original swing-up mean network.

    Parameters live in `self.params = [W1, b1, W2, b2, ...]` and are updated in place by the
    optimizer, so the list may be handed to `Adam` once.
    """

    def __init__(self, sizes, rng, dtype=np.float64):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least input and output sizes, got sizes={sizes}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"MLP layer sizes must be positive integers, got sizes={sizes}")
        self.sizes = sizes
        self.params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.params.extend(init_linear(rng, n_in, n_out, dtype))
        self._inputs = None  # forward cache: the input of each linear layer

    @property
    def multiply_adds_per_sample(self):
        """Σ n_in·n_out over the layers: the work of one sample's forward pass."""
        return sum(n_in * n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def weights(self):
        return self.params[0::2]

    @property
    def biases(self):
        return self.params[1::2]

    def forward(self, x):
        """y = MLP(x).  x: (..., n_in) → y: (..., n_out).  Caches each linear layer's input.

        The leading batch dimensions are flattened first: one (B, n_in) @ (n_in, n_out)
        product is far faster than NumPy's matmul looping over a (T, E, n_in) stack.
        """
        flat = x.ndim != 2  # a (B, n_in) batch, e.g. one rollout step, needs no reshaping
        h = x.reshape(-1, x.shape[-1]) if flat else x
        inputs = []
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            inputs.append(h)
            h = h @ weight
            h += bias  # in place: h is a fresh array from the product
            if i < last:
                np.maximum(h, 0.0, out=h)
        self._inputs = inputs  # each (B, n_in of that layer)
        return h.reshape(x.shape[:-1] + h.shape[-1:]) if flat else h

    __call__ = forward

    def predict(self, x, chunk_size=4096):
        """MLP(x) for a large batch, `chunk_size` rows at a time, caching nothing for backward.

        Chunks keep the (rows, width) activations in cache; one pass over, say, 128k rows
        spends most of its time moving them through memory (measured 3–4× slower).
        """
        flat = x.reshape(-1, x.shape[-1])
        outputs = [self.forward(flat[start:start + chunk_size])
                   for start in range(0, len(flat), chunk_size)]
        self._inputs = None  # a later backward must follow its own forward
        return np.concatenate(outputs).reshape(x.shape[:-1] + outputs[0].shape[-1:])

    def backward(self, grad_out):
        """Parameter gradients of L given grad_out = ∂L/∂y: (..., n_out), for the last `forward`.

        Returns [∂L/∂W1, ∂L/∂b1, ∂L/∂W2, ∂L/∂b2, ...], matching `self.params`.
        The ReLU mask is recovered from the cached input of the next layer: that input is
        relu(z), and relu(z) > 0 exactly where z > 0.
        """
        if self._inputs is None:
            raise RuntimeError("MLP.backward called before forward")
        grads = [None] * len(self.params)
        g = grad_out.reshape(-1, grad_out.shape[-1])  # (B, n_out), rows as in forward
        for i in reversed(range(len(self.weights))):
            h = self._inputs[i]
            grads[2 * i] = h.T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                # g Wᵀ; for a single output the outer product of two vectors, which broadcasting
                # computes with the same single multiplications 3× faster than a matrix product
                g = g * self.weights[i][:, 0] if g.shape[1] == 1 else g @ self.weights[i].T
                np.multiply(g, h > 0, out=g)  # the ReLU's mask, in place
        return grads
