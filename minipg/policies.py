"""Stochastic policies π_θ(a|s) and the REINFORCE loss with its hand-written gradient.

The policy-gradient theorem, estimated from N sampled (s, a, G) triples:

    ∇_θ J(θ) ≈ (1/N) Σ_n ∇_θ log π_θ(a_n|s_n) · G_n

so gradient *descent* on the surrogate loss

    L(θ) = −(1/N) Σ_n log π_θ(a_n|s_n) · G_n

ascends J.  G_n is held constant (it came from the environment, not from θ).  With a batch of
shape (T, E) the sum runs over every valid (t, e) pair and N is their count (= T·E unless some
steps are masked out as autoreset steps, see `reinforce`).

The backward pass is the chain rule through the distribution and the network:

    ∂L/∂(dist. input) = −(G_n / N) · ∂ log π(a_n|s_n) / ∂(dist. input)     (distributions.py)
    ∂L/∂θ_network      = MLP.backward(∂L/∂(dist. input))                    (layers.py)

Passed the log-probabilities of the policy that acted and a clip ratio, the same pass computes
the clipped surrogate of ppo.py instead: only the per-sample weight on ∇ log π changes.
"""

import copy

import numpy as np

from .distributions import Categorical, DiagGaussian
from .layers import MLP
from .optim import Adam
from .parallel import map_in_order, worker_threads
from .ppo import clipped_surrogate

# Samples per chunk of the learn step: bounds the memory of the (chunk, hidden) activations.
# The gradient is a sum over samples, so chunking changes nothing but rounding.
# 4096 rows of 64-wide float64 activations (2 MiB) stay in cache, which also makes the
# matrix products faster than with larger chunks (measured with `python -m minipg.tools.bench`).
DEFAULT_CHUNK_SIZE = 4096


# log σ is kept in [LOG_STD_MIN, LOG_STD_MAX] after every update, σ ∈ [0.0067, 7.4]:
# below, 1/σ² in ∂ log π/∂μ = (a − μ)/σ² grows past 2e4 and one outlier action dominates a step
# (and σ → 0 would underflow log π to −inf); above, σ is far wider than any Box action range
# in these tasks (actions are clipped to [−1, 1]), so more noise only hides the mean.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class NonFiniteError(FloatingPointError):
    """The loss, a gradient or a parameter became NaN or infinite."""


def valid_sum(values, mask):
    """Σ values over the valid samples (all of them when mask is None)."""
    return values.sum() if mask is None else values[mask].sum()


def check_dtype(dtype):
    """float64 (the default, as the original) or float32 (faster; gradient checks stay float64)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def single_spaces(env):
    """(observation space, action space) of ONE environment, from a gymnasium Env or VectorEnv."""
    observation_space = getattr(env, "single_observation_space", None) or env.observation_space
    action_space = getattr(env, "single_action_space", None) or env.action_space
    return observation_space, action_space


def _check_observation_space(space):
    from gymnasium import spaces

    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(
            f"minipg policies need a flat Box observation space of shape (obs_dim,), got {space!r}"
        )
    return space.shape[0]


def _check_hidden(hidden):
    hidden = tuple(hidden)
    for size in hidden:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"hidden sizes must be positive integers, got hidden={hidden}")
    return hidden


class Policy:
    """Base class: a network maps states to the inputs of an action distribution.

    Subclasses set self.net (an MLP), self.N (obs_dim), self.M (action dim or count) and
    implement `distribution`, `check_actions` and `_chunk_loss_and_grads`.
    """

    def __init__(self, net, lr, rng, chunk_size=None, threads=None):
        self.net = net
        self.rng = rng
        self.chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else int(chunk_size)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        # Threads the learn step's chunks run on (parallel.py); results do not depend on it.
        self.threads = worker_threads() if threads is None else int(threads)
        if self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads}")
        self.opt = Adam(self.parameters(), lr=lr)
        self.lr = self.opt.lr  # the configured rate; a schedule sets opt.lr from it

    def parameters(self):
        """[W1, b1, W2, b2, ...] (+ [log_std] for the Gaussian): the arrays Adam updates in place."""
        return list(self.net.params)

    def thread_copy(self):
        """A shallow copy sharing every parameter array, with a network of its own whose forward
        cache another thread's chunk cannot overwrite."""
        twin = copy.copy(self)
        twin.net = copy.copy(self.net)
        return twin

    def pi(self, states):
        """The action distribution π(·|s) for states: (..., obs_dim), checked by check_states."""
        return self.distribution(self.check_states(states))

    def distribution(self, states):
        """π(·|s) for states already checked (the learn step checks a whole batch once)."""
        raise NotImplementedError

    # ------------------------------------------------------------ input checks
    def check_states(self, states):
        """states as an array of shape (..., obs_dim), finite; else a TypeError or ValueError that
        says so, or NonFiniteError for NaN or inf (so training stops as on a NaN reward)."""
        states = np.asarray(states)
        if states.dtype.kind not in "fiu":
            raise TypeError(f"states must be numeric, got dtype {states.dtype}")
        if states.ndim < 1 or states.shape[-1] != self.N:
            raise ValueError(f"states must have shape (..., {self.N}) (obs_dim = {self.N}), "
                             f"got shape {states.shape}")
        if not np.isfinite(states).all():
            raise NonFiniteError("states contain NaN or inf")
        return states

    def check_batch(self, states, actions, returns, mask):
        """Validate a learning batch: states (T, E, obs_dim) or (..., obs_dim); the rest match."""
        states = self.check_states(states)
        batch_shape = states.shape[:-1]
        returns = np.asarray(returns)
        if returns.shape != batch_shape:
            raise ValueError(f"returns must have shape {batch_shape} (the states' batch shape), "
                             f"got {returns.shape}")
        if returns.dtype.kind not in "fiu":
            raise TypeError(f"returns must be numeric, got dtype {returns.dtype}")
        if not np.isfinite(returns).all():
            raise NonFiniteError("returns contain NaN or inf")
        actions = self.check_actions(np.asarray(actions), batch_shape)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != batch_shape or mask.dtype != bool:
                raise ValueError(f"mask must be a bool array of shape {batch_shape}, "
                                 f"got {mask.dtype} of shape {mask.shape}")
        return states, actions, returns, mask

    def check_actions(self, actions, batch_shape):
        raise NotImplementedError

    def act(self, states, noise=None):
        """Sample one action per state: a ~ π(·|s).  states: (E, obs_dim) → actions: (E, ...).

        noise: optional pre-drawn standard noise for these states, from `sampling_noise`;
        drawn from self.rng when omitted.
        """
        distribution = self.pi(states)
        if noise is None:
            return distribution.sample(self.rng)
        return distribution.sample_with(noise)

    def sampling_noise(self, batch_shape):
        """The standard noise of `batch_shape` samples (Gumbel or normal, see distributions.py),
        drawn from self.rng in one call: (*batch_shape, M).

        The generator yields the same numbers whether drawn at once or step by step, so
        act(states_t, noise[t]) for noise = sampling_noise((T, E)) picks exactly the actions
        of T calls act(states_t).  The rollout draws an epoch's noise at once: a generator call
        per step costs more than the numbers it draws.
        """
        return self.distribution_type.standard_noise(self.rng, tuple(batch_shape) + (self.M,), self.dtype)

    def act_deterministic(self, states):
        """The distribution's mode (argmax or mean), for evaluation without exploration noise."""
        return self.pi(states).mode()

    def loss_and_grads(self, states, actions, returns, mask=None, old_log_probs=None, clip_ratio=None):
        """L = −(1/N) Σ log π(a|s)·G over the valid samples, and ∂L/∂θ for every parameter.

        states: (T, E, obs_dim); actions: (T, E) discrete or (T, E, M) continuous;
        returns: (T, E); mask: optional (T, E) bools, False for samples that are not
        transitions (they get weight 0 and do not count in N).
        old_log_probs: (T, E) log π_θold(a|s), with clip_ratio ε: the clipped surrogate L^CLIP
        of ppo.py instead, `returns` then being the advantages A.
        Returns (loss: float, grads: list in the order of `parameters()`).
        """
        loss, grads, _ = self._loss_grads_entropy(states, actions, returns, mask, old_log_probs, clip_ratio)
        return loss, grads

    def update(self, states, actions, returns, mask=None, max_grad_norm=None, old_log_probs=None,
               clip_ratio=None):
        """One REINFORCE step: gradients of L, then one Adam step.

        max_grad_norm: if given, the gradient is rescaled to this global L2 norm when larger
        (Adam is nearly invariant to a constant scale, so this mostly damps single outlier
        batches relative to the running moments).
        old_log_probs, clip_ratio: a step on the clipped surrogate instead (see loss_and_grads).

        Returns {'loss', 'entropy' (mean over valid states), 'grad_norm'} measured before the step.
        Raises NonFiniteError (and leaves the parameters untouched) if the loss or a gradient
        is NaN or infinite.
        """
        loss, grads, entropy = self._loss_grads_entropy(states, actions, returns, mask, old_log_probs,
                                                        clip_ratio)
        grad_norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads)))
        if not (np.isfinite(loss) and np.isfinite(grad_norm)):
            raise NonFiniteError(
                f"non-finite {'loss' if not np.isfinite(loss) else 'gradient'} "
                f"(loss={loss}, gradient norm={grad_norm}); the parameters were not updated"
            )
        if max_grad_norm is not None and grad_norm > max_grad_norm:
            grads = [g * (max_grad_norm / grad_norm) for g in grads]
        self.opt.step(grads)
        self.project()
        if not all(np.isfinite(p).all() for p in self.parameters()):
            raise NonFiniteError("a parameter became non-finite after the Adam step (learning rate too large?)")
        return {"loss": loss, "entropy": entropy, "grad_norm": grad_norm}

    def project(self):
        """Keep parameters in their allowed range after a step (nothing to do by default)."""

    def learn(self, states, actions, returns, mask=None):
        """The original's learn: one Adam step on L.  Returns the loss."""
        return self.update(states, actions, returns, mask)["loss"]

    def _loss_grads_entropy(self, states, actions, returns, mask, old_log_probs=None, clip_ratio=None):
        """Sum the loss, gradients and entropy over chunks of the flattened (T·E) samples."""
        states, actions, returns, mask = self.check_batch(states, actions, returns, mask)
        obs_dim = states.shape[-1]
        flat_states = states.reshape(-1, obs_dim)
        n_samples = flat_states.shape[0]
        flat_actions = actions.reshape((n_samples,) + actions.shape[returns.ndim:])
        flat_returns = returns.reshape(n_samples)
        flat_mask = None if mask is None else mask.reshape(n_samples)
        n_valid = n_samples if mask is None else int(np.count_nonzero(mask))
        if n_valid == 0:
            raise ValueError("no valid samples to learn from (the mask is all False)")
        flat_old_log_probs = self.check_clipping(old_log_probs, clip_ratio, returns.shape)

        def chunk(start):
            rows = slice(start, start + self.chunk_size)
            # −1/N on valid samples, 0 on masked ones (integer returns give float weights)
            scale = np.full(len(flat_returns[rows]), -1.0 / n_valid, dtype=np.result_type(flat_returns.dtype, 1.0))
            chunk_mask = None if flat_mask is None else flat_mask[rows]
            if chunk_mask is not None:
                scale[~chunk_mask] = 0.0

            def objective(log_prob):
                """(L of the chunk, ∂L/∂log π per sample), L = Σ_n scale_n · objective_n."""
                if flat_old_log_probs is None:  # REINFORCE: objective_n = log π(a_n|s_n) · G_n
                    weights = scale * flat_returns[rows]
                    return (weights * log_prob).sum(), weights
                terms, term_weights = clipped_surrogate(log_prob, flat_old_log_probs[rows],
                                                        flat_returns[rows], clip_ratio)
                return (scale * terms).sum(), scale * term_weights

            # Its own forward cache, so that chunks can run on several threads at once.
            return self.thread_copy()._chunk_loss_and_grads(
                flat_states[rows], flat_actions[rows], objective, chunk_mask
            )

        loss = 0.0
        entropy_sum = 0.0
        grads = None
        # Summed in chunk order whatever thread computed a chunk: the same sums for any thread count.
        chunk_work = min(self.chunk_size, n_samples) * self.net.multiply_adds_per_sample
        for chunk_loss, chunk_grads, chunk_entropy in map_in_order(
                chunk, range(0, n_samples, self.chunk_size), self.threads, chunk_work):
            loss += chunk_loss
            entropy_sum += chunk_entropy
            if grads is None:
                grads = chunk_grads
            else:
                for total, g in zip(grads, chunk_grads):
                    total += g
        return float(loss), grads, float(entropy_sum / n_valid)

    def check_clipping(self, old_log_probs, clip_ratio, batch_shape):
        """The flattened old log-probabilities of a clipped-surrogate step, or None for REINFORCE."""
        if (old_log_probs is None) != (clip_ratio is None):
            raise ValueError("old_log_probs and clip_ratio go together (the clipped surrogate needs both)")
        if old_log_probs is None:
            return None
        if not (np.isfinite(clip_ratio) and clip_ratio > 0):
            raise ValueError(f"clip_ratio must be a positive finite number, got {clip_ratio}")
        old_log_probs = np.asarray(old_log_probs)
        if old_log_probs.shape != batch_shape:
            raise ValueError(f"old_log_probs must have shape {batch_shape} (the states' batch shape), "
                             f"got {old_log_probs.shape}")
        if not np.isfinite(old_log_probs).all():
            raise NonFiniteError("old_log_probs contain NaN or inf")
        return old_log_probs.reshape(-1)

    def _chunk_loss_and_grads(self, states, actions, objective, mask):
        """(L of one chunk of rows, its gradients, Σ over valid samples of entropy).

        objective(log π(a|s)) → (L of the chunk, ∂L/∂log π per sample): the loss, REINFORCE's or
        the clipped surrogate (see _loss_grads_entropy).  mask: (rows,) bools, or None when every
        sample is valid.
        """
        raise NotImplementedError


class CategoricalPolicy(Policy):
    """π(a|s) = softmax(f_θ(s))_a for a Discrete action space.

    f_θ is linear by default (the post's CartPole policy: logits = s @ W + b); pass
    hidden=(64, 64) for a ReLU MLP.
    """

    distribution_type = Categorical

    def __init__(self, env, lr=1e-2, hidden=(), seed=None, chunk_size=None, dtype=np.float64,
                 threads=None):
        from gymnasium import spaces

        observation_space, action_space = single_spaces(env)
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"CategoricalPolicy needs a Discrete action space, got {action_space!r}")
        self.N = _check_observation_space(observation_space)
        if int(action_space.start) != 0:
            raise ValueError(f"CategoricalPolicy needs actions numbered from 0, got {action_space!r}")
        self.M = int(action_space.n)
        self.hidden = _check_hidden(hidden)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        net = MLP((self.N, *self.hidden, self.M), rng, self.dtype)
        super().__init__(net, lr, rng, chunk_size, threads)

    def distribution(self, states):
        """Categorical(logits = f_θ(s)).  states: (..., obs_dim) → logits: (..., n_actions)."""
        return Categorical(self.net.forward(states))

    def check_actions(self, actions, batch_shape):
        if actions.shape != batch_shape:
            raise ValueError(f"actions must have shape {batch_shape} (one integer per state), "
                             f"got {actions.shape}")
        if actions.dtype.kind not in "iu":
            raise TypeError(f"actions of a Discrete space must be integers, got dtype {actions.dtype}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.M):
            raise ValueError(f"actions must lie in [0, {self.M}), got values in "
                             f"[{actions.min()}, {actions.max()}]")
        return actions

    def _chunk_loss_and_grads(self, states, actions, objective, mask):
        dist = self.distribution(states)
        loss, weights = objective(dist.log_prob(actions))
        grad_logits = weights[:, None] * dist.grad_log_prob(actions)
        entropy = valid_sum(dist.entropy(), mask)
        return loss, self.net.backward(grad_logits), entropy


class DiagonalGaussianPolicy(Policy):
    """π(a|s) = N(a; μ_θ(s), diag(σ²)), σ = exp(log_std), for a Box action space of shape (M,).

    μ_θ is a ReLU MLP (default hidden=(64, 64), the post's network); log_std is a
    state-independent parameter vector, initialized to `log_std_init`.  The default 0.5 gives
    σ = e^0.5 ≈ 1.65, the exploration of the original, whose log_sigma = 1 was used as a
    *variance* (σ² = e¹).

    output_scale: the output layer's initial weights and bias are multiplied by it.  At 0.01 the
    mean starts near 0 everywhere, so the first rollouts explore around a neutral policy instead
    of a random initial push towards one side of the track.

    mirror (optional): a reflection of the state space, given as one sign per observation
    dimension, m ∈ {−1, +1}^obs_dim, under which the task is symmetric with the action negated
    (cart-pole: reflect the track).  The mean is then made odd under it,

        μ_θ(s) = ½ (f_θ(s) − f_θ(m ⊙ s)),   so  π(−a | m ⊙ s) = π(a | s),

    and ∂L/∂θ = ½ (J_f(s)ᵀ g − J_f(m ⊙ s)ᵀ g), one forward and backward pass over the stacked
    pair.  (The output layer's bias cancels in the difference; it keeps its initial value.)  A symmetric task has an optimal policy with this symmetry; restricting the search
    to such policies means a behaviour learned for one side (say, a pole leaning left) holds
    for the other, instead of being learned twice — or once only.
    """

    distribution_type = DiagGaussian

    def __init__(self, env, lr=1e-2, hidden=(64, 64), seed=None, log_std_init=0.5, chunk_size=None,
                 dtype=np.float64, mirror=None, threads=None,
                 output_scale=1.0):
        from gymnasium import spaces

        observation_space, action_space = single_spaces(env)
        if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
            raise TypeError(
                f"DiagonalGaussianPolicy needs a Box action space of shape (M,), got {action_space!r}"
            )
        self.N = _check_observation_space(observation_space)
        self.M = int(action_space.shape[0])
        self.hidden = _check_hidden(hidden)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        net = MLP((self.N, *self.hidden, self.M), rng, self.dtype)
        if not (np.isfinite(output_scale) and output_scale > 0):
            raise ValueError(f"output_scale must be a positive finite number, got {output_scale}")
        for param in net.params[-2:]:  # the output layer's W and b
            param *= output_scale
        if not LOG_STD_MIN <= log_std_init <= LOG_STD_MAX:
            raise ValueError(f"log_std_init must lie in [{LOG_STD_MIN}, {LOG_STD_MAX}], got {log_std_init}")
        self.log_std_init = float(log_std_init)
        self.log_std = np.full(self.M, self.log_std_init, dtype=self.dtype)
        self.mirror = None
        if mirror is not None:
            self.mirror = np.asarray(mirror, dtype=self.dtype)
            if self.mirror.shape != (self.N,) or not np.all(np.abs(self.mirror) == 1):
                raise ValueError(f"mirror must be {self.N} signs (+1 or -1), one per observation "
                                 f"dimension, got {mirror!r}")
        super().__init__(net, lr, rng, chunk_size, threads)

    def parameters(self):
        return list(self.net.params) + [self.log_std]

    def distribution(self, states):
        """DiagGaussian(μ_θ(s), log_std).  states: (..., obs_dim) → mean: (..., M)."""
        return DiagGaussian(self.mean(states), self.log_std)

    def mean(self, states):
        """μ_θ(s): f_θ(s), or ½(f_θ(s) − f_θ(m ⊙ s)) with a mirror.  (..., obs_dim) → (..., M)."""
        if self.mirror is None:
            return self.net.forward(states)
        outputs = self.net.forward(np.stack([states, states * self.mirror]))
        return 0.5 * (outputs[0] - outputs[1])

    def mean_backward(self, grad_mean):
        """Parameter gradients of the network given ∂L/∂μ for the last `mean` call."""
        if self.mirror is None:
            return self.net.backward(grad_mean)
        return self.net.backward(np.stack([0.5 * grad_mean, -0.5 * grad_mean]))

    def check_actions(self, actions, batch_shape):
        expected = batch_shape + (self.M,)
        if actions.shape != expected:
            raise ValueError(f"actions must have shape {expected} (action dim M = {self.M}), "
                             f"got {actions.shape}")
        if actions.dtype.kind != "f":
            raise TypeError(f"actions of a Box space must be floats, got dtype {actions.dtype}")
        if not np.isfinite(actions).all():
            raise ValueError("actions contain NaN or inf")
        return actions

    def project(self):
        """Clip log_std to [LOG_STD_MIN, LOG_STD_MAX] (see there for why)."""
        np.clip(self.log_std, LOG_STD_MIN, LOG_STD_MAX, out=self.log_std)

    def limit_log_std(self, upper):
        """log_std ← min(log_std, upper), upper clipped to the allowed range (std control)."""
        np.minimum(self.log_std, np.clip(upper, LOG_STD_MIN, LOG_STD_MAX), out=self.log_std)

    def _chunk_loss_and_grads(self, states, actions, objective, mask):
        dist = self.distribution(states)
        loss, weights = objective(dist.log_prob(actions))
        grad_mean, grad_log_std = dist.grad_log_prob(actions)
        grads = self.mean_backward(weights[:, None] * grad_mean)
        # log_std is shared by every sample, so its gradient sums over the chunk
        grads.append((weights[:, None] * grad_log_std).sum(axis=0))
        entropy = valid_sum(dist.entropy(), mask)
        return loss, grads, entropy
