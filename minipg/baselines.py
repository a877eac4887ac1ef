"""Variance reduction for the REINFORCE gradient: baselines and normalization of returns.

For any b that does not depend on the action a_t,

    E[∇ log π(a_t|s_t) · b] = b · ∇ Σ_a π(a|s_t) = b · ∇ 1 = 0,

so replacing G_t by the advantage A_t = G_t − b leaves the expected gradient unchanged while
(with a good b) shrinking its variance.  The post uses A_t = G_t (no baseline).

- `time_baseline`: b_t = mean over the E parallel episodes of G_t at the same step t.  Every
  epoch starts by resetting all E envs, so step t is the same point in time for each of them
  (exactly, while their first episodes last); b_t uses the other envs' returns too, a bias
  of order 1/E that vanishes for large E.
- `ValueBaseline`: b(s_t, t) = V_φ(s_t, t), an MLP fitted by least squares to the returns of
  past rollouts (REINFORCE with a learned baseline, Williams 1992; Sutton & Barto §13.4).
  It compares each action with what is usually achieved *from that state*, which is what
  separates a good swing from a lucky start.
- `normalize`: A ← (A − mean A) / std A over the batch, a per-epoch rescaling of the step
  size that keeps updates the same size as returns grow.
"""

import copy

import numpy as np

from .layers import MLP
from .optim import Adam
from .parallel import add_gradients, map_in_order
from .state import checked_arrays, copy_arrays

BASELINES = ("none", "time", "value")


def time_baseline(returns, valid):
    """b_t = mean of G_{t,e} over the envs e whose step t is a valid transition.

    returns: (T, E); valid: (T, E) bools.  Returns b: (T, 1), ready to broadcast.
    """
    counts = valid.sum(axis=1, keepdims=True)
    sums = np.where(valid, returns, 0.0).sum(axis=1, keepdims=True)
    return sums / np.maximum(counts, 1)


def normalize(advantages, valid):
    """(A − mean) / std over the valid samples; A: (T, E).  A constant batch is only centred."""
    values = advantages[valid]
    std = values.std()
    return (advantages - values.mean()) / (std if std > 0 else 1.0)


class ValueBaseline:
    """V_φ(s, t) ≈ E[G_t | s_t = s], an MLP on the features [s, 1 − t/T] (or [s]).

    Why the time feature: a rollout stops after T steps, so G_t only sums rewards up to T and
    depends on the time left, not on the state alone.  When the loop bootstraps V at the cuts
    instead (the solver's `bootstrap` option), the target no longer depends on the time left, and
    time_feature=False fits V on the state alone.

    Why the scale: returns are fitted as G/H, H = min(1/(1 − γ), horizon), which lies in [−1, 1]
    when |r| ≤ 1 (a discounted sum of rewards of size ≤ 1 is at most 1/(1 − γ), and a return cut
    after `horizon` steps sums at most that many), so the output layer needs no large weights.
    Without the bound by the horizon a long discount over short rollouts shrinks the targets
    below what the fit resolves: with γ = 0.9999 and 1,000-step rollouts the scale 1 − γ makes
    the untrained network's outputs (≈ 0.1–1) mean returns in the thousands against returns of
    ≈ 20, and one Adam step (lr 1e-3) on the output's bias moves V by ≈ 10 (docs/results.md,
    Swimmer).  horizon None (the loop bootstraps V at the cuts, so a target counts the rest of
    the discounted sum): H = 1/(1 − γ), and with γ = 1 H = 1.  H is fixed when the baseline is
    built: a run resumed with another T keeps its first one.

    Fit: after the advantages of an epoch are computed, `fit` takes `steps` Adam steps on
    random minibatches of the epoch's valid samples, minimizing
        L_V(φ) = mean_n (V_φ(x_n) − y_n)²,   ∂L_V/∂V_φ(x_n) = 2 (V_φ(x_n) − y_n) / n,
    and MLP.backward carries that to φ.  As the policy's learn step, a minibatch is cut into
    chunks of `chunk_size` rows that run on `threads` worker threads (parallel.py) and are summed
    in order: the same sums for any thread count.
    """

    def __init__(self, obs_dim, gamma, rng, hidden=(64, 64), lr=1e-3, steps=32, batch_size=4096,
                 dtype=np.float64, time_feature=True, chunk_size=4096, threads=1, horizon=None):
        self.time_feature = bool(time_feature)
        self.net = MLP((obs_dim + self.time_feature, *hidden, 1), rng, dtype)
        self.opt = Adam(self.net.params, lr=lr)
        self.scale = 1.0 - gamma if gamma < 1.0 else 1.0
        if horizon is not None and (gamma == 1.0 or horizon * (1.0 - gamma) < 1.0):
            self.scale = 1.0 / horizon  # the horizon binds: horizon·(1 − γ) < 1 as floats
        self.rng, self.steps, self.batch_size = rng, int(steps), int(batch_size)
        self.chunk_size, self.threads = int(chunk_size), int(threads)

    def features(self, states):
        """[s, 1 − t/T] for states: (T, E, obs_dim) → (T, E, obs_dim + 1); [s] without the time feature."""
        if not self.time_feature:
            return states
        T, E = states.shape[:2]
        time_left = np.broadcast_to((1.0 - np.arange(T, dtype=states.dtype) / T)[:, None, None], (T, E, 1))
        return np.concatenate([states, time_left], axis=-1)

    def __call__(self, states):
        """b = V_φ(s, t) in units of return: (T, E)."""
        return self.net.predict(self.features(states))[..., 0] / self.scale

    def of_states(self, states):
        """V_φ(s) in units of return for states: (..., obs_dim), without the time feature."""
        if self.time_feature:
            raise ValueError("V of single states needs a ValueBaseline with time_feature=False")
        return self.net.predict(states)[..., 0] / self.scale

    def loss_and_grads(self, features, targets):
        """L_V = mean (V − y)² on (n, obs_dim + 1) features and (n,) scaled targets; ∂L_V/∂φ,
        summed over chunks of chunk_size rows (computed on `threads` threads)."""
        n = len(targets)

        def chunk(start):
            rows = slice(start, start + self.chunk_size)
            net = copy.copy(self.net)  # a forward cache of its own, for a thread of its own
            error = net.forward(features[rows])[:, 0] - targets[rows]
            return (error**2).sum(), net.backward((2.0 / n) * error[:, None])

        squares, grads = 0.0, None
        work = min(self.chunk_size, n) * self.net.multiply_adds_per_sample
        for chunk_squares, chunk_grads in map_in_order(chunk, range(0, n, self.chunk_size), self.threads, work):
            squares += chunk_squares
            grads = add_gradients(grads, chunk_grads)
        return float(squares / n), grads

    def fit(self, states, returns, valid, steps=None):
        """`steps` Adam steps (default self.steps) on minibatches of the valid (s, t, G) samples:
        states (T, E, obs_dim), returns and valid (T, E).  Returns the last loss."""
        return self.prepare_fit(states, returns, valid, steps)()

    def step_multiply_adds(self, valid):
        """The multiply-adds of one fit step's products on an epoch with `valid` (T, E) samples."""
        return min(self.batch_size, int(np.count_nonzero(valid))) * self.net.multiply_adds_per_sample

    def prepare_fit(self, states, returns, valid, steps=None):
        """fit's Adam steps as a function of no arguments, their minibatches drawn now.

        The generator is the policy's: drawn here, in the caller's thread, the draws come in the
        same order as fit's, and the function, which draws nothing, can then run on another thread
        while the policy's update shuffles with the same generator (solver.train does): the same
        bits as fit.  Arguments as fit's; the function returns the last loss.
        """
        features = self.features(states)[valid]
        targets = returns[valid] * self.scale
        batches = [self.rng.integers(len(targets), size=min(self.batch_size, len(targets)))
                   for _ in range(self.steps if steps is None else steps)]

        def run():
            loss = float("nan")
            for batch in batches:
                loss, grads = self.loss_and_grads(features[batch], targets[batch])
                self.opt.step(grads)
            return loss
        return run


    def state_dict(self):
        """{"parameters": V_φ's [W1, b1, ...], "optimizer": its Adam state} (state.py's protocol;
        the generator is the policy's, saved with it)."""
        return {"parameters": self.net.params, "optimizer": self.opt.state_dict()}

    def load_state_dict(self, state):
        """Take back a `state_dict()`; ValueError naming what does not fit, before anything changes."""
        parameters = checked_arrays("parameters", state["parameters"], self.net.params)
        try:
            self.opt.load_state_dict(state["optimizer"])
        except ValueError as error:
            raise ValueError(f"optimizer {error}") from None
        copy_arrays(self.net.params, parameters)


def make_baseline(name, policy, gamma, bootstrap=False, T=None, **value_options):
    """The baseline the solver uses for a name in BASELINES: a ValueBaseline for "value" (sharing
    the policy's generator, dtype, chunk size and threads); unless the loop bootstraps, with the
    time feature and its returns counted over the rollout's T steps at most (see ValueBaseline;
    T None: no such bound, the scale 1 − γ); value_options (steps, lr, batch_size, hidden) go to
    its constructor."""
    if name not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {name!r}")
    if name == "value":
        return ValueBaseline(policy.obs_dim, gamma, policy.rng, dtype=policy.dtype, time_feature=not bootstrap,
                             chunk_size=policy.chunk_size, threads=policy.threads,
                             horizon=None if bootstrap else T, **value_options)
    return name


def compute_advantages(returns, valid, baseline="none", normalize_advantages=False, states=None):
    """A = G − b (b from `baseline`: "none", "time", or a ValueBaseline), optionally normalized.

    returns, valid: (T, E); states: (T, E, obs_dim), needed by a ValueBaseline.  Returns (T, E).
    """
    if isinstance(baseline, ValueBaseline):
        advantages = returns - baseline(states)
    elif baseline == "none":
        advantages = returns
    elif baseline == "time":
        advantages = returns - time_baseline(returns, valid)
    else:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    if normalize_advantages:
        advantages = normalize(advantages, valid)
    return advantages
