"""The two action distributions of the policy-gradient post, with ∇ log π written by hand.

Categorical (discrete actions), parameterized by logits z: (..., n_actions):

    log π(a) = z_a − logsumexp(z)
    ∂ log π(a) / ∂z_j = 1[j = a] − softmax(z)_j
    H = −Σ_j p_j log p_j,      ∂H/∂z_j = −p_j (log p_j + H)

Diagonal Gaussian (continuous actions), parameterized by the mean μ: (..., M) and a true log
standard deviation log σ: (M,) or (..., M), σ = exp(log σ):

    log π(a) = Σ_i [ −(a_i − μ_i)² / (2σ_i²) − log σ_i − ½ log 2π ]
    ∂ log π / ∂μ_i     = (a_i − μ_i) / σ_i²
    ∂ log π / ∂log σ_i = (a_i − μ_i)² / σ_i² − 1
    H = Σ_i [ log σ_i + ½ (1 + log 2π) ],     ∂H/∂μ = 0,  ∂H/∂log σ_i = 1

(The original post passed exp(log_sigma) to a MultivariateNormal as the *covariance*, so its
exp(log_sigma) is a variance. Here log_std is what its name says; the original's initial
log_sigma = 1 corresponds to log_std = 0.5.)
"""

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))  # a Python float, so float32 inputs stay float32


# Reductions over the action axis.  NumPy reduces a short last axis row by row, at 15–35 ns
# a row: for 2 actions that was half of CartPole's learn step.  A product with a ones vector
# (one BLAS call) sums 10× faster, and the max of a transposed copy (one vectorized pass per
# action) is 25× faster for 2 actions, but slower beyond a few dozen actions.
FEW_ACTIONS = 16


def sum_last(x):
    """Σ over the last axis: (..., n) → (...)."""
    return x @ np.ones(x.shape[-1], dtype=x.dtype)


def max_last(x):
    """max over the last axis: (..., n) → (...)."""
    if x.shape[-1] > FEW_ACTIONS:
        return x.max(axis=-1)
    return np.moveaxis(x, -1, 0).copy().max(axis=0)


def log_softmax(logits):
    """log softmax(z) = z − logsumexp(z) along the last axis, stable for any finite z.

    Subtracting max(z) first keeps exp() in [0, 1], so logits of ±1e4 give finite results.
    """
    shifted = logits - max_last(logits)[..., None]
    return shifted - np.log(sum_last(np.exp(shifted)))[..., None]


class Categorical:
    """π(a) = softmax(logits)_a.  logits: (..., n_actions); actions: (...) integers."""

    def __init__(self, logits):
        self.logits = logits
        self._log_probs = None
        self._probs = None

    @property
    def log_probs(self):
        """log softmax(logits): (..., n_actions), computed on first use (sampling needs none)."""
        if self._log_probs is None:
            self._log_probs = log_softmax(self.logits)
        return self._log_probs

    @property
    def probs(self):
        """softmax(logits) = exp(log_probs): (..., n_actions), computed on first use."""
        if self._probs is None:
            self._probs = np.exp(self.log_probs)
        return self._probs

    @staticmethod
    def standard_noise(rng, shape, dtype=np.float64):
        """g ~ Gumbel(0, 1) i.i.d. of `shape` = (..., n_actions): all the randomness of a sample."""
        return rng.gumbel(size=shape).astype(dtype, copy=False)

    def sample_with(self, noise):
        """The Gumbel-max trick: a = argmax_j (z_j + g_j) is distributed as π when g is
        `standard_noise`.  noise: (..., n_actions) → integer actions (...).  Uses only the
        logits, so no softmax is needed.
        """
        return np.argmax(self.logits + noise, axis=-1)

    def sample(self, rng):
        """Draw a ~ π: (...) integers (`sample_with` fresh Gumbel noise)."""
        return self.sample_with(self.standard_noise(rng, self.logits.shape, self.logits.dtype))

    def mode(self):
        """The most probable action, argmax_j z_j: (...)."""
        return np.argmax(self.logits, axis=-1)

    def log_prob(self, actions):
        """log π(a) for integer actions: (...) → (...)."""
        return np.take_along_axis(self.log_probs, actions[..., None], axis=-1)[..., 0]

    def entropy(self):
        """H = −Σ_j p_j log p_j: (...)."""
        return -sum_last(self.probs * self.log_probs)

    def grad_entropy(self):
        """∂H/∂logits = −p ⊙ (log p + H): (..., n_actions).

        From ∂p_k/∂z_j = p_k(1[k = j] − p_j): ∂H/∂z_j = −Σ_k (log p_k + 1) p_k (1[k = j] − p_j)
        = −p_j (log p_j + 1) + p_j Σ_k p_k (log p_k + 1) = −p_j (log p_j + H).
        """
        return -self.probs * (self.log_probs + self.entropy()[..., None])

    def grad_log_prob(self, actions):
        """∂ log π(a) / ∂logits = onehot(a) − softmax(logits): (..., n_actions)."""
        n_actions = self.logits.shape[-1]
        onehot = actions[..., None] == np.arange(n_actions)
        return onehot - self.probs


class DiagGaussian:
    """π(a) = N(a; μ, diag(σ²)) with σ = exp(log_std).

    mean: (..., M); log_std: (M,) (state-independent, as in the post) or (..., M).
    actions: (..., M).  log_prob sums over the M action dimensions.
    """

    def __init__(self, mean, log_std):
        self.mean = mean
        self.log_std = log_std
        self.std = np.exp(log_std)

    @staticmethod
    def standard_noise(rng, shape, dtype=np.float64):
        """z ~ N(0, I) of `shape` = (..., M): all the randomness of a sample."""
        return rng.standard_normal(shape, dtype=dtype)

    def sample_with(self, noise):
        """a = μ + σ ⊙ z, distributed as π when z is `standard_noise`: (..., M) → (..., M)."""
        return self.mean + self.std * noise

    def sample(self, rng):
        """Draw a ~ π: (..., M) (`sample_with` fresh standard normal noise)."""
        return self.sample_with(self.standard_noise(rng, self.mean.shape, self.mean.dtype))

    def mode(self):
        """The most probable action, μ: (..., M)."""
        return self.mean

    def log_prob(self, actions):
        """log N(a; μ, diag(σ²)) summed over action dimensions: (..., M) → (...)."""
        z = (actions - self.mean) / self.std
        return sum_last(-0.5 * z**2 - self.log_std - 0.5 * LOG_2PI)

    def entropy(self):
        """H = Σ_i (log σ_i + ½(1 + log 2π)), broadcast to the batch shape: (...)."""
        per_dim = np.broadcast_to(self.log_std + 0.5 * (1.0 + LOG_2PI), self.mean.shape)
        return sum_last(per_dim)

    def grad_log_prob(self, actions):
        """(∂ log π/∂μ, ∂ log π/∂log σ) = ((a−μ)/σ², ((a−μ)/σ)² − 1), each (..., M).

        The log σ gradient is per sample; a state-independent log σ sums it over the batch.
        """
        z = (actions - self.mean) / self.std
        return z / self.std, z**2 - 1.0
