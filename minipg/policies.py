"""Stochastic policies π_θ(a|s) and the REINFORCE loss with its hand-written gradient.

The policy-gradient theorem, estimated from N sampled (s, a, A) triples:

    ∇_θ J(θ) ≈ (1/N) Σ_n ∇_θ log π_θ(a_n|s_n) · A_n

so gradient *descent* on the surrogate loss

    L(θ) = −(1/N) Σ_n log π_θ(a_n|s_n) · A_n

ascends J.  A_n is the weight of sample n, held constant (it came from the environment, not
from θ): the post's return G_n, or an advantage (baselines.py).  With a batch of shape (T, E)
the sum runs over every valid (t, e) pair and N is their count (= T·E unless some steps are
masked out as autoreset steps, see reinforce.py).

The backward pass is the chain rule through the distribution and the network:

    w_n = ∂L/∂log π(a_n|s_n) = −A_n / N                                   (reinforce_objective)
    ∂L/∂(dist. input) = w_n · ∂ log π(a_n|s_n) / ∂(dist. input)           (distributions.py)
    ∂L/∂θ_network      = MLP.backward(∂L/∂(dist. input))                  (layers.py)

Any objective of log π takes the same path (`Policy.objective_and_grads`); the clipped surrogate
of ppo.py only supplies another weight w_n.
"""

import copy
import functools

import numpy as np

from .distributions import Categorical, DiagGaussian
from .envs.vector import single_spaces
from .layers import MLP
from .optim import Adam
from .parallel import add_gradients, map_in_order, worker_threads
from .state import checked_arrays, copy_arrays

# Samples per chunk of the learn step: bounds the memory of the (chunk, hidden) activations.
# The gradient is a sum over samples, so chunking changes nothing but rounding.
# 4096 rows of 64-wide float64 activations (2 MiB) stay in cache, which also makes the
# matrix products faster than with larger chunks (measured with `make bench`).
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


def _check_observation_space(space):
    from gymnasium import spaces

    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(
            f"minipg policies need a flat Box observation space of shape (obs_dim,), got {space!r}"
        )
    return space.shape[0]


def scale_output_layer(net, output_scale):
    """`net` with its output layer's initial weights and bias multiplied by output_scale (a
    positive finite number, else ValueError).  Small: the policy starts near neutral (a mean
    near 0, logits near equal, so a softmax near uniform) whatever the input."""
    if not (np.isfinite(output_scale) and output_scale > 0):
        raise ValueError(f"output_scale must be a positive finite number, got {output_scale}")
    for param in net.params[-2:]:  # the output layer's W and b
        param *= output_scale
    return net


def _check_hidden(hidden):
    hidden = tuple(hidden)
    for size in hidden:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"hidden sizes must be positive integers, got hidden={hidden}")
    return hidden


class Policy:
    """π_θ(a|s): a network maps states to the inputs of an action distribution.

    Subclasses set self.net (an MLP), self.obs_dim, self.act_dim (the action vector's size, or
    the number of discrete actions) and implement `distribution(states)` and
    `backward(dist, actions, weights)`.

    The gradient of any objective of log π takes one path (`objective_and_grads`):

        π(·|s) = distribution(s)                   forward pass through the network
        log π(a|s)                                 distributions.py
        L, w = objective(log π)                    w_n = ∂L/∂log π(a_n|s_n), a weight per sample
        ∂L/∂θ = Σ_n w_n ∇_θ log π(a_n|s_n)         backward: through the distribution, then the network

    REINFORCE's objective gives w_n = −A_n/N (`reinforce_objective`); the clipped surrogate of
    ppo.py gives another weight, through the same path.  `chunked_objective_and_grads` runs the
    path over chunks of a large batch, on worker threads, and sums the chunks in order.
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
        self.lr = self.opt.lr  # the configured rate (the solver's schedules set opt.lr)

    def parameters(self):
        """[W1, b1, W2, b2, ...] (+ [log_std] for the Gaussian): the arrays Adam updates in place."""
        return list(self.net.params)

    def pi(self, states):
        """The action distribution π(·|s) for states: (..., obs_dim), checked by check_states."""
        return self.distribution(self.check_states(states))

    def distribution(self, states):
        """π(·|s) for states already checked (the learn step checks a whole batch once)."""
        raise NotImplementedError

    def backward(self, dist, actions, weights, entropy_weights=None):
        """Σ_n w_n ∇_θ log π(a_n|s_n) (+ Σ_n u_n ∇_θ H(π(·|s_n)) with entropy_weights u) for the
        `dist` of the last forward pass, as a list in the order of `parameters()`.
        actions: (n,) or (n, act_dim); weights, entropy_weights: (n,)."""
        raise NotImplementedError

    # ------------------------------------------------------------ acting
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
        drawn from self.rng in one call: (*batch_shape, act_dim).

        The generator yields the same numbers whether drawn at once or step by step, so
        act(states_t, noise[t]) for noise = sampling_noise((T, E)) picks exactly the actions
        of T calls act(states_t).  The rollout draws an epoch's noise at once: a generator call
        per step costs more than the numbers it draws.
        """
        shape = tuple(batch_shape) + (self.act_dim,)
        return self.distribution_type.standard_noise(self.rng, shape, self.dtype)

    def act_deterministic(self, states):
        """The distribution's mode (argmax or mean), for evaluation without exploration noise."""
        return self.pi(states).mode()

    # ------------------------------------------------------------ the gradient
    def objective_and_grads(self, states, actions, objective, entropy_weights=None):
        """One batch through the plain path: (L, ∂L/∂θ in `parameters()` order, π(·|s)).

        states: (n, obs_dim); actions: (n,) or (n, act_dim); objective(log π) → (L, w) with
        w_n = ∂L/∂log π(a_n|s_n): (n,).  entropy_weights: optional (n,) u_n, adding an entropy
        term Σ_n u_n H(π(·|s_n)) to L (u_n = −c/N: a bonus for exploration).  No checks, no
        chunks, no threads: the math.
        """
        dist = self.distribution(states)          # π(·|s): the forward pass
        log_probs = dist.log_prob(actions)        # log π(a|s): (n,)
        loss, weights = objective(log_probs)      # L and ∂L/∂log π
        if entropy_weights is not None:
            loss += (entropy_weights * dist.entropy()).sum()
        return loss, self.backward(dist, actions, weights, entropy_weights), dist

    def chunked_objective_and_grads(self, states, actions, objective, mask=None, entropy_coef=0.0, checked=False):
        """objective_and_grads over a batch of any size: (L, ∂L/∂θ, mean entropy of π over the valid states).

        states: (..., obs_dim) with a batch shape, e.g. (T, E); actions: (T, E) or (T, E, act_dim);
        objective(log π, rows) → (L of the rows, ∂L/∂log π of the rows), where rows is a slice of
        the flattened batch; mask: optional (T, E) bools, the samples that count (False: not a
        transition); entropy_coef c ≥ 0: L − c · mean H over the valid samples (an entropy
        bonus; 0: none, as in the post).  The flattened batch is cut into chunks of chunk_size rows (the memory of
        the activations is bounded by a chunk); the chunks run on `threads` worker threads and
        are summed in chunk order, so the result does not depend on the thread count.  The
        gradient is a sum over samples: the chunks change nothing but rounding.  checked: the
        batch has passed check_batch already (not checked again: a minibatch of a checked rollout).
        """
        if not checked:
            states, actions, mask = self.check_batch(states, actions, mask)
        n_samples = int(np.prod(states.shape[:-1]))
        flat_states = states.reshape(n_samples, self.obs_dim)
        flat_actions = actions.reshape((n_samples,) + actions.shape[states.ndim - 1:])
        flat_mask = None if mask is None else mask.reshape(n_samples)
        n_valid = n_samples if mask is None else int(np.count_nonzero(mask))

        # One chunk runs in the caller's thread (map_in_order) and needs no copy of the network.
        one_chunk = n_samples <= self.chunk_size

        def chunk(start):
            rows = slice(start, start + self.chunk_size)
            chunk_mask = None if flat_mask is None else flat_mask[rows]
            entropy_weights = None
            if entropy_coef:  # u_n = −c/N on the valid samples
                entropy_weights = np.full(len(flat_states[rows]), -entropy_coef / n_valid)
                if chunk_mask is not None:
                    entropy_weights[~chunk_mask] = 0.0
            # A copy with its own forward cache, so that chunks can run on several threads at once.
            loss, grads, dist = (self if one_chunk else self.thread_copy()).objective_and_grads(
                flat_states[rows], flat_actions[rows], functools.partial(objective, rows=rows), entropy_weights)
            return loss, grads, valid_sum(dist.entropy(), chunk_mask)

        loss = 0.0
        entropy_sum = 0.0
        grads = None
        chunk_work = min(self.chunk_size, n_samples) * self.net.multiply_adds_per_sample
        for chunk_loss, chunk_grads, chunk_entropy in map_in_order(
                chunk, range(0, n_samples, self.chunk_size), self.threads, chunk_work):
            loss += chunk_loss
            entropy_sum += chunk_entropy
            grads = add_gradients(grads, chunk_grads)
        return float(loss), grads, float(entropy_sum / n_valid)

    def thread_copy(self):
        """A shallow copy sharing every parameter array, with a network of its own whose forward
        cache another thread's chunk cannot overwrite."""
        twin = copy.copy(self)
        twin.net = copy.copy(self.net)
        return twin

    def loss_and_grads(self, states, actions, advantages, mask=None):
        """The post's loss L = −(1/N) Σ log π(a|s)·A over the valid samples, and ∂L/∂θ.

        states: (T, E, obs_dim); actions: (T, E) discrete or (T, E, act_dim) continuous;
        advantages: (T, E), the weights of the samples (the returns G in the post); mask:
        optional (T, E) bools, False for samples that are not transitions (they get weight 0
        and do not count in N).  Returns (loss: float, grads: list in `parameters()` order).
        """
        states, actions, mask = self.check_batch(states, actions, mask)
        advantages = check_per_sample("advantages", advantages, states.shape[:-1])
        loss, grads, _ = self.chunked_objective_and_grads(states, actions, reinforce_objective(advantages, mask), mask,
                                                          checked=True)
        return loss, grads

    def update(self, states, actions, advantages, mask=None, max_grad_norm=None, entropy_coef=0.0):
        """One REINFORCE step: one Adam step on L = −(1/N) Σ log π(a|s)·A (see loss_and_grads),
        − entropy_coef · mean H with an entropy bonus.

        Returns {'loss', 'entropy' (mean over valid states), 'grad_norm'} measured before the step.
        """
        states, actions, mask = self.check_batch(states, actions, mask)
        advantages = check_per_sample("advantages", advantages, states.shape[:-1])
        return self.step(states, actions, reinforce_objective(advantages, mask), mask, max_grad_norm, entropy_coef,
                         checked=True)

    def step(self, states, actions, objective, mask=None, max_grad_norm=None, entropy_coef=0.0, checked=False):
        """One Adam step on the objective (see chunked_objective_and_grads for the arguments).

        max_grad_norm: if given, the gradient is rescaled to this global L2 norm when larger
        (Adam is nearly invariant to a constant scale, so this mostly damps single outlier
        batches relative to the running moments).

        Returns {'loss', 'entropy' (mean over valid states), 'grad_norm'} measured before the step.
        Raises NonFiniteError (and leaves the parameters untouched) if the loss or a gradient
        is NaN or infinite.
        """
        loss, grads, entropy = self.chunked_objective_and_grads(states, actions, objective, mask, entropy_coef, checked)
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

    # ------------------------------------------------------------ state (state.py's protocol)
    def architecture(self):
        """What a saved state must match: {"policy": class name, "obs_dim", "act_dim", "hidden":
        list, "dtype": "float64" or "float32", "mirror": a Gaussian's mirror signs or None}.  The
        dtype counts because a run continued in another precision would not continue the saved
        one; the mirror, because it changes what the parameters mean."""
        mirror = getattr(self, "mirror", None)
        return {"policy": type(self).__name__, "obs_dim": self.obs_dim, "act_dim": self.act_dim,
                "hidden": [int(size) for size in self.hidden], "dtype": self.dtype.name,
                "mirror": None if mirror is None else [int(sign) for sign in mirror]}

    def state_dict(self):
        """{"architecture", "parameters" (in `parameters()` order), "optimizer" (Adam's state),
        "rng" (the generator's state: the resumed run samples the same actions)}."""
        return {"architecture": self.architecture(), "parameters": self.parameters(),
                "optimizer": self.opt.state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        """Take back a `state_dict()`: everything is checked before anything changes.  Raises
        ValueError naming the architecture's fields that differ, or the part that does not fit.
        The learning rate stays as the policy has it: it is the run's configuration, not state."""
        differences = architecture_differences(state["architecture"], self.architecture())
        if differences:
            raise ValueError(f"the saved policy is {describe_architecture(state['architecture'])}, this one "
                             f"differs in {'; '.join(differences)}")
        parameters = checked_arrays("parameters", state["parameters"], self.parameters())
        try:  # on a new generator of the same kind: the policy's own changes only once all is checked
            type(self.rng.bit_generator)().state = state["rng"]
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"rng: not a {type(self.rng.bit_generator).__name__} state ({error})") from None
        try:
            self.opt.load_state_dict(state["optimizer"])
        except ValueError as error:
            raise ValueError(f"optimizer {error}") from None
        copy_arrays(self.parameters(), parameters)
        self.rng.bit_generator.state = state["rng"]

    def learn(self, states, actions, advantages, mask=None):
        """The original's learn: one Adam step on L.  Returns the loss."""
        return self.update(states, actions, advantages, mask)["loss"]

    # ------------------------------------------------------------ input checks
    def check_states(self, states):
        """states as an array of shape (..., obs_dim), finite; else a TypeError or ValueError that
        says so, or NonFiniteError for NaN or inf (so training stops as on a NaN reward)."""
        states = np.asarray(states)
        if states.dtype.kind not in "fiu":
            raise TypeError(f"states must be numeric, got dtype {states.dtype}")
        if states.ndim < 1 or states.shape[-1] != self.obs_dim:
            raise ValueError(f"states must have shape (..., {self.obs_dim}) (obs_dim = {self.obs_dim}), "
                             f"got shape {states.shape}")
        if not np.isfinite(states).all():
            raise NonFiniteError("states contain NaN or inf")
        return states

    def check_batch(self, states, actions, mask):
        """Validate a learning batch: states (..., obs_dim), e.g. (T, E, obs_dim); actions and
        mask of the states' batch shape; at least one valid sample."""
        states = self.check_states(states)
        batch_shape = states.shape[:-1]
        actions = self.check_actions(np.asarray(actions), batch_shape)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != batch_shape or mask.dtype != bool:
                raise ValueError(f"mask must be a bool array of shape {batch_shape}, "
                                 f"got {mask.dtype} of shape {mask.shape}")
            if not mask.any():
                raise ValueError("no valid samples to learn from (the mask is all False)")
        return states, actions, mask

    def check_actions(self, actions, batch_shape):
        raise NotImplementedError


def describe_architecture(architecture):
    """'CategoricalPolicy(obs_dim=4, act_dim=2, hidden=(), dtype=float64)' (and the mirror, when
    there is one) for a Policy.architecture(), for messages."""
    mirror = architecture.get("mirror")
    return (f"{architecture['policy']}(obs_dim={architecture['obs_dim']}, act_dim={architecture['act_dim']}, "
            f"hidden={tuple(architecture['hidden'])}, dtype={architecture['dtype']}"
            + ("" if mirror is None else f", mirror={tuple(mirror)}") + ")")


def architecture_differences(saved, actual):
    """['hidden: () saved, (8,) here', ...] for the fields of two architectures that differ."""
    differences = []
    for name in ("policy", "obs_dim", "act_dim", "hidden", "dtype", "mirror"):
        values = [architecture.get(name) for architecture in (saved, actual)]
        values = [tuple(value) if isinstance(value, list) else value for value in values]
        if values[0] != values[1]:
            differences.append(f"{name}: {values[0]} saved, {values[1]} here")
    return differences


def check_per_sample(name, values, batch_shape):
    """`values` as a numeric array of shape `batch_shape` (one per sample), all finite; else a
    ValueError or TypeError naming `name`, or NonFiniteError for NaN or inf."""
    values = np.asarray(values)
    if values.shape != tuple(batch_shape):
        raise ValueError(f"{name} must have shape {tuple(batch_shape)} (the states' batch shape), "
                         f"got {values.shape}")
    if values.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {values.dtype}")
    if not np.isfinite(values).all():
        raise NonFiniteError(f"{name} contain NaN or inf")
    return values


def reinforce_objective(advantages, mask=None):
    """The post's loss as an objective of log π: L = −(1/N) Σ_n log π(a_n|s_n) · A_n.

    advantages: (T, E) (the returns G in the post), held constant; mask: optional (T, E) bools,
    the N samples that count.  Returns objective(log π, rows=all) → (L of the rows, w), with
    w_n = ∂L/∂log π_n = −A_n/N on valid samples and 0 on the others.
    """
    n_samples = advantages.size
    flat_advantages = advantages.reshape(n_samples)
    valid = None if mask is None else np.asarray(mask).reshape(n_samples)
    n_valid = n_samples if valid is None else int(np.count_nonzero(valid))

    def objective(log_probs, rows=slice(None)):
        # −1/N on valid samples, 0 on masked ones (integer advantages give float weights); made
        # for the rows asked, so that the learn step's memory stays that of a chunk
        chunk = flat_advantages[rows]
        weights = np.full(len(chunk), -1.0 / n_valid, dtype=np.result_type(advantages.dtype, 1.0))
        if valid is not None:
            weights[~valid[rows]] = 0.0
        weights *= chunk
        return (weights * log_probs).sum(), weights

    return objective


class CategoricalPolicy(Policy):
    """π(a|s) = softmax(f_θ(s))_a for a Discrete action space.

    f_θ is linear by default (the post's CartPole policy: logits = s @ W + b); pass
    hidden=(64, 64) for a ReLU MLP.  output_scale: see scale_output_layer.
    """

    distribution_type = Categorical

    def __init__(self, env, lr=1e-2, hidden=(), seed=None, chunk_size=None, dtype=np.float64,
                 threads=None, output_scale=1.0):
        from gymnasium import spaces

        observation_space, action_space = single_spaces(env)
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"CategoricalPolicy needs a Discrete action space, got {action_space!r}")
        self.obs_dim = _check_observation_space(observation_space)
        if int(action_space.start) != 0:
            raise ValueError(f"CategoricalPolicy needs actions numbered from 0, got {action_space!r}")
        self.act_dim = int(action_space.n)  # the number of actions: one logit each
        self.hidden = _check_hidden(hidden)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        net = scale_output_layer(MLP((self.obs_dim, *self.hidden, self.act_dim), rng, self.dtype), output_scale)
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
        if actions.size and (actions.min() < 0 or actions.max() >= self.act_dim):
            raise ValueError(f"actions must lie in [0, {self.act_dim}), got values in "
                             f"[{actions.min()}, {actions.max()}]")
        return actions

    def backward(self, dist, actions, weights, entropy_weights=None):
        """Σ_n w_n ∇_θ log π(a_n|s_n) (+ Σ_n u_n ∇_θ H_n): ∂/∂logits = w_n (onehot(a_n) − softmax)
        (+ u_n ∂H/∂logits), then the network's backward."""
        grad_logits = weights[:, None] * dist.grad_log_prob(actions)
        if entropy_weights is not None:
            grad_logits += entropy_weights[:, None] * dist.grad_entropy()
        return self.net.backward(grad_logits)


class DiagonalGaussianPolicy(Policy):
    """π(a|s) = N(a; μ_θ(s), diag(σ²)), σ = exp(log_std), for a Box action space of shape (act_dim,).

    μ_θ is a ReLU MLP (default hidden=(64, 64), the post's network); log_std is a
    state-independent parameter vector, initialized to `log_std_init`.  The default 0.5 gives
    σ = e^0.5 ≈ 1.65, the exploration of the original, whose log_sigma = 1 was used as a
    *variance* (σ² = e¹).

    output_scale: see scale_output_layer.  At 0.01 the mean starts near 0 everywhere, so the
    first rollouts explore around a neutral policy instead of a random initial push towards one
    side of the track.

    mirror (optional): a reflection of the state space, given as one sign per observation
    dimension, m ∈ {−1, +1}^obs_dim, under which the task is symmetric with the action negated
    (cart-pole: reflect the track).  The mean is then made odd under it,

        μ_θ(s) = ½ (f_θ(s) − f_θ(m ⊙ s)),   so  π(−a | m ⊙ s) = π(a | s),

    and ∂L/∂θ = ½ (J_f(s)ᵀ g − J_f(m ⊙ s)ᵀ g), one forward and backward pass over the stacked
    pair.  (The output layer's bias cancels in the difference; it keeps its initial value.)
    A symmetric task has an optimal policy with this symmetry; restricting the search to such
    policies means a behaviour learned for one side (say, a pole leaning left) holds
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
                f"DiagonalGaussianPolicy needs a Box action space of shape (act_dim,), got {action_space!r}"
            )
        self.obs_dim = _check_observation_space(observation_space)
        self.act_dim = int(action_space.shape[0])
        self.hidden = _check_hidden(hidden)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        net = scale_output_layer(MLP((self.obs_dim, *self.hidden, self.act_dim), rng, self.dtype), output_scale)
        if not LOG_STD_MIN <= log_std_init <= LOG_STD_MAX:
            raise ValueError(f"log_std_init must lie in [{LOG_STD_MIN}, {LOG_STD_MAX}], got {log_std_init}")
        self.log_std_init = float(log_std_init)
        self.log_std = np.full(self.act_dim, self.log_std_init, dtype=self.dtype)
        self.mirror = None
        if mirror is not None:
            self.mirror = np.asarray(mirror, dtype=self.dtype)
            if self.mirror.shape != (self.obs_dim,) or not np.all(np.abs(self.mirror) == 1):
                raise ValueError(f"mirror must be {self.obs_dim} signs (+1 or -1), one per observation "
                                 f"dimension, got {mirror!r}")
        super().__init__(net, lr, rng, chunk_size, threads)

    def parameters(self):
        return list(self.net.params) + [self.log_std]

    def distribution(self, states):
        """DiagGaussian(μ_θ(s), log_std).  states: (..., obs_dim) → mean: (..., act_dim)."""
        return DiagGaussian(self.mean(states), self.log_std)

    def mean(self, states):
        """μ_θ(s): f_θ(s), or ½(f_θ(s) − f_θ(m ⊙ s)) with a mirror.  (..., obs_dim) → (..., act_dim)."""
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
        expected = batch_shape + (self.act_dim,)
        if actions.shape != expected:
            raise ValueError(f"actions must have shape {expected} (act_dim = {self.act_dim}), "
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

    def backward(self, dist, actions, weights, entropy_weights=None):
        """Σ_n w_n ∇_θ log π(a_n|s_n): w_n ∂ log π/∂μ through the mean network, and
        Σ_n w_n ∂ log π/∂log σ for the state-independent log σ, shared by every sample
        (+ Σ_n u_n ∂H/∂log σ = Σ_n u_n per dimension: H = Σ_i log σ_i + const does not
        depend on μ)."""
        grad_mean, grad_log_std = dist.grad_log_prob(actions)
        grads = self.mean_backward(weights[:, None] * grad_mean)
        grad_log_std = (weights[:, None] * grad_log_std).sum(axis=0)
        if entropy_weights is not None:
            grad_log_std += entropy_weights.sum()
        grads.append(grad_log_std)
        return grads
