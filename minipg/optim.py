"""Adam (Kingma & Ba, 2015), updating a list of NumPy arrays in place.

For each parameter θ with gradient g at step t = 1, 2, ...:

    m_t = β₁ m_{t−1} + (1 − β₁) g              first moment (mean of g)
    v_t = β₂ v_{t−1} + (1 − β₂) g²             second moment (uncentred variance of g)
    m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)   bias correction: m₀ = v₀ = 0
    θ_t = θ_{t−1} − lr · m̂_t / (√v̂_t + ε)

This is the update torch.optim.Adam performs with its defaults (no weight decay, no amsgrad).
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
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, float(eps)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads):
        """Apply one Adam update given grads (same order and shapes as params)."""
        if len(grads) != len(self.params):
            raise ValueError(f"Adam.step got {len(grads)} gradients for {len(self.params)} parameters")
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        for param, grad, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * grad**2
            param -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)

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
