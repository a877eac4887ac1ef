"""Adam (Kingma & Ba, 2015), updating a list of NumPy arrays in place.

For each parameter θ with gradient g at step t = 1, 2, ...:

    m_t = β₁ m_{t−1} + (1 − β₁) g              first moment (mean of g)
    v_t = β₂ v_{t−1} + (1 − β₂) g²             second moment (uncentred variance of g)
    m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)   bias correction: m₀ = v₀ = 0
    θ_t = θ_{t−1} − lr · m̂_t / (√v̂_t + ε)

This is the update torch.optim.Adam performs with its defaults (no weight decay, no amsgrad).

The moments live in one flat array each (m and v are views of it, one per parameter), so a step
is a dozen NumPy calls on all parameters at once instead of a dozen per parameter: for the
64-64 network of a 64-sample minibatch the per-call overhead was the step's cost.  Each element
goes through the same operations in the same order, so the results are the same to the bit.
"""

import numpy as np

from .state import checked_arrays, checked_count, copy_arrays


class Adam:
    """Adam over `params` (a list of arrays that the optimizer updates in place)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        lr = float(lr)
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"Adam learning rate must be a positive finite number, got lr={lr}")
        beta1, beta2 = (float(b) for b in betas)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"Adam betas must each lie in [0, 1), got betas={betas}")
        if not eps > 0:
            raise ValueError(f"Adam eps must be positive, got eps={eps}")
        self.params = list(params)
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) > 1:
            raise ValueError(f"Adam's parameters must share one dtype, got {sorted(str(d) for d in dtypes)}")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, float(eps)
        dtype = dtypes.pop() if dtypes else np.float64
        size = sum(p.size for p in self.params)
        self._m, self._v, self._update, self._denominator = (np.zeros(size, dtype) for _ in range(4))
        self.m, self.v = (self._views(flat) for flat in (self._m, self._v))
        self._update_views = self._views(self._update)
        self.t = 0

    def _views(self, flat):
        """flat cut into one view per parameter, of its shape."""
        ends = np.cumsum([p.size for p in self.params])
        return [part.reshape(p.shape) for part, p in zip(np.split(flat, ends[:-1]), self.params)]

    def step(self, grads):
        """Apply one Adam update given grads (same order and shapes as params)."""
        if len(grads) != len(self.params):
            raise ValueError(f"Adam.step got {len(grads)} gradients for {len(self.params)} parameters")
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        grad = np.concatenate(grads, axis=None)  # in the gradients' own dtype, as a per-array step
        m, v, update, denominator = self._m, self._v, self._update, self._denominator
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * grad**2
        # lr · (m / c₁) / (√(v / c₂) + ε), one operation at a time in that order
        np.divide(m, correction1, out=update)
        update *= self.lr
        np.divide(v, correction2, out=denominator)
        np.sqrt(denominator, out=denominator)
        denominator += self.eps
        update /= denominator
        for param, step in zip(self.params, self._update_views):
            param -= step

    def state_dict(self):
        """{"t", "betas", "eps", "m", "v"}: the step count, the constants and the moments (the
        live arrays, in `params` order).  The learning rate is the run's configuration, not state
        (the solver sets it every epoch from its schedule)."""
        return {"t": self.t, "betas": [self.beta1, self.beta2], "eps": self.eps, "m": self.m, "v": self.v}

    def load_state_dict(self, state):
        """Take back a `state_dict()`; ValueError naming what does not fit, before anything changes."""
        m, v = (checked_arrays(name, state[name], self.params) for name in ("m", "v"))
        t = checked_count("t", state["t"])
        beta1, beta2 = (float(beta) for beta in state["betas"])
        eps = float(state["eps"])
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0 and 0.0 < eps < np.inf):
            raise ValueError(f"betas {state['betas']} and eps {state['eps']} saved: betas in [0, 1) and a positive "
                             "finite eps expected")
        copy_arrays(self.m, m)
        copy_arrays(self.v, v)
        self.t, self.beta1, self.beta2, self.eps = t, beta1, beta2, eps
