"""The two action distributions of the policy-gradient post, with ∇ log π written by hand.

Categorical (discrete actions), parameterized by logits z: (..., n_actions):

    log π(a) = z_a − logsumexp(z)
    ∂ log π(a) / ∂z_j = 1[j = a] − softmax(z)_j
    H = −Σ_j p_j log p_j

Diagonal Gaussian (continuous actions), parameterized by the mean μ: (..., M) and a true log
standard deviation log σ: (M,) or (..., M), σ = exp(log σ):

    log π(a) = Σ_i [ −(a_i − μ_i)² / (2σ_i²) − log σ_i − ½ log 2π ]
    ∂ log π / ∂μ_i     = (a_i − μ_i) / σ_i²
    ∂ log π / ∂log σ_i = (a_i − μ_i)² / σ_i² − 1
    H = Σ_i [ log σ_i + ½ (1 + log 2π) ]

(The original post passed exp(log_sigma) to a MultivariateNormal as the *covariance*, so its
exp(log_sigma) is a variance. Here log_std is what its name says; the original's initial
log_sigma = 1 corresponds to log_std = 0.5.)
"""

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))  # a Python float, so float32 inputs stay float32


def log_softmax(logits):
    """log softmax(z) = z − logsumexp(z) along the last axis, stable for any finite z.

    Subtracting max(z) first keeps exp() in [0, 1], so logits of ±1e4 give finite results.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Categorical:
    """π(a) = softmax(logits)_a.  logits: (..., n_actions); actions: (...) integers."""

    def __init__(self, logits):
        self.logits = logits
        self._log_probs = None

    @property
    def log_probs(self):
        """log softmax(logits): (..., n_actions), computed on first use (sampling needs none)."""
        if self._log_probs is None:
            self._log_probs = log_softmax(self.logits)
        return self._log_probs

    @property
    def probs(self):
        return np.exp(self.log_probs)

    def sample(self, rng):
        """Draw a ~ π by the Gumbel-max trick: argmax_j (z_j + g_j), g_j ~ Gumbel(0, 1) i.i.d.

        Returns integer actions of shape (...).  Uses only the logits, so no softmax is needed.
        """
        return np.argmax(self.logits + rng.gumbel(size=self.logits.shape), axis=-1)

    def mode(self):
        """The most probable action, argmax_j z_j: (...)."""
        return np.argmax(self.logits, axis=-1)

    def log_prob(self, actions):
        """log π(a) for integer actions: (...) → (...)."""
        return np.take_along_axis(self.log_probs, actions[..., None], axis=-1)[..., 0]

    def entropy(self):
        """H = −Σ_j p_j log p_j: (...)."""
        return -(self.probs * self.log_probs).sum(axis=-1)

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

    def sample(self, rng):
        """a = μ + σ ⊙ z, z ~ N(0, I): (..., M)."""
        return self.mean + self.std * rng.standard_normal(self.mean.shape, dtype=self.mean.dtype)

    def mode(self):
        """The most probable action, μ: (..., M)."""
        return self.mean

    def log_prob(self, actions):
        """log N(a; μ, diag(σ²)) summed over action dimensions: (..., M) → (...)."""
        z = (actions - self.mean) / self.std
        return (-0.5 * z**2 - self.log_std - 0.5 * LOG_2PI).sum(axis=-1)

    def entropy(self):
        """H = Σ_i (log σ_i + ½(1 + log 2π)), broadcast to the batch shape: (...)."""
        per_dim = np.broadcast_to(self.log_std + 0.5 * (1.0 + LOG_2PI), self.mean.shape)
        return per_dim.sum(axis=-1)

    def grad_log_prob(self, actions):
        """(∂ log π/∂μ, ∂ log π/∂log σ) = ((a−μ)/σ², ((a−μ)/σ)² − 1), each (..., M).

        The log σ gradient is per sample; a state-independent log σ sums it over the batch.
        """
        z = (actions - self.mean) / self.std
        return z / self.std, z**2 - 1.0
