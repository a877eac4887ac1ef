"""The policy-gradient theorem, computed exactly on small tabular MDPs: the reference that
minipg's sampled gradient is tested against (tests/test_theorem.py, docs/theorem.md).

The MDP.  S states, A actions; P[s, a, s'] the transition probabilities, R[s, a] the reward of
a step, μ₀ the start distribution, `terminal` the states whose entry ends the episode
(terminated), H the time limit (the episode is truncated after H steps; None: no limit).  An
episode is s₀ ~ μ₀, then a_k ~ π(·|s_k), r_k = R(s_k, a_k), s_{k+1} ~ P(s_k, a_k, ·) for
k = 0, 1, ... until a terminal state is entered or k + 1 = H.  The policy is the tabular
softmax π(a|s) = softmax(θ[s])_a, θ: (S, A): minipg's linear CategoricalPolicy on one-hot
states, whose logits are θ[s] = W[s] + b (`tabular_logits`).

The objective, J_h(θ) = E[Σ_{k<h} γ^k r_k] for a time limit h, by backward induction over
the steps left, m (P̃ is P with the columns of the terminal states zeroed: nothing follows them):

    V⁰ = 0,   Q^m(s, a) = R(s, a) + γ Σ_{s'} P̃(s, a, s') V^{m−1}(s'),   V^m(s) = Σ_a π(a|s) Q^m(s, a),
    J_h = Σ_s μ₀(s) V^h(s).

The state distribution, d_k(s) = Pr(s_k = s and the episode still runs at step k), forward:

    d₀ = μ₀,   d_{k+1}(s') = Σ_{s, a} d_k(s) π(a|s) P̃(s, a, s').

The gradient, by the policy-gradient theorem (Sutton et al. 2000), the step-k term weighted by
γ^k because J discounts from the episode's start:

    ∇_θ J_h = Σ_{k<h} γ^k Σ_s d_k(s) Σ_a π(a|s) ∇_θ log π(a|s) Q^{h−k}(s, a),

and for the tabular softmax, ∂ log π(a|s)/∂θ[s, b] = 1[a = b] − π(b|s), so

    ∂J_h/∂θ[s, b] = Σ_{k<h} γ^k d_k(s) π(b|s) (Q^{h−k}(s, b) − V^{h−k}(s)).

Without a time limit the sums over k are linear solves: with P_π(s, s') = Σ_a π(a|s) P̃(s, a, s')
and r_π(s) = Σ_a π(a|s) R(s, a), V = (I − γ P_π)⁻¹ r_π and the discounted visitation
d_γ = μ₀ᵀ (I − γ P_π)⁻¹ replaces Σ_k γ^k d_k (γ < 1, or every state must lead to a terminal one).

The post's estimator drops γ^k ("in practice"): E[Σ_k ∇ log π(a_k|s_k) G_k] is the same sum
with weight 1 in place of γ^k (`discount_weighting=False`), which is not the gradient of any
J when γ < 1 (Thomas 2014; Nota & Thomas 2020).  γ = 1 makes the two agree.

What a rollout estimates (`rollout_expectation`).  minipg's rollout runs T steps in each of E
envs, which restart finished episodes by themselves: an episode of length L started at step τ is
followed by the next one at τ + L + 1 (NEXT_STEP autoreset: one reset step, masked out of the
loss) or τ + L (SAME_STEP).  The last episode is cut by the rollout's end, and so are its
returns.  Given its start τ, an episode is a fresh one whose time limit is min(H, T − τ), so the
sum of its terms has the expectation ∇J_{min(H, T − τ)} (or its γ^k-less twin), and

    E[Σ_valid ∇ log π · G] / E = Σ_{τ<T} u(τ) g(min(H, T − τ)),
    E[N] / E                   = Σ_{τ<T} u(τ) E[min(L, T − τ)],

with u(τ) = Pr(an episode starts at step τ), the renewal equation u(0) = 1,
u(τ) = Σ_ℓ Pr(L = ℓ) u(τ − ℓ − r) (r = 1 reset step for NEXT_STEP, 0 for SAME_STEP), and N
the number of valid samples.  minipg's loss gradient is −(1/N) Σ_valid ∇ log π · G: its
expectation is that of the sum over N, which over a pooled batch of many envs tends to the
ratio of the two expectations above (a ratio estimator: exact as E → ∞, biased by O(1/E) for
a single rollout).  `tests/test_theorem.py` tests both: the sum, unbiased for any E, and the
pooled loss gradient, whose N a wrongly masked reset step would change.

Shapes: P (S, A, S), R (S, A), start (S,), terminal (S,) bools, θ (S, A).  Errors: ValueError
naming the first array that is not a valid MDP.
"""

from dataclasses import dataclass

import numpy as np

# Weightings of the score ∇ log π(a_k|s_k) in one episode, and whether their expectation
# carries the γ^k of the discounted objective: G₀ (the whole return) and γ^k G_k (reward-to-go,
# discounted from the start) estimate ∇J_γ; the post's G_k drops γ^k.
WEIGHTINGS = {"episode_return": True, "discounted_reward_to_go": True, "reward_to_go": False}


@dataclass(frozen=True)
class TabularMDP:
    """A finite episodic MDP as arrays (see the module docstring).

    P: (S, A, S) rows summing to 1; R: (S, A); start: (S,) a distribution over non-terminal
    states; terminal: (S,) bools; horizon: the time limit H in steps (a positive int), or None.
    """

    P: np.ndarray
    R: np.ndarray
    start: np.ndarray
    terminal: np.ndarray
    horizon: int | None = None

    def __post_init__(self):
        P, R = np.asarray(self.P, dtype=np.float64), np.asarray(self.R, dtype=np.float64)
        start, terminal = np.asarray(self.start, dtype=np.float64), np.asarray(self.terminal, dtype=bool)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        S, A = P.shape[:2]
        if (P < 0).any() or not np.allclose(P.sum(axis=2), 1.0):
            raise ValueError("P must hold probabilities: P[s, a] ≥ 0 summing to 1 over s'")
        if R.shape != (S, A) or not np.isfinite(R).all():
            raise ValueError(f"R must be finite with shape (S, A) = {(S, A)}, got {R.shape}")
        if terminal.shape != (S,):
            raise ValueError(f"terminal must have shape (S,) = {(S,)}, got {terminal.shape}")
        if start.shape != (S,) or (start < 0).any() or not np.isclose(start.sum(), 1.0) or start[terminal].any():
            raise ValueError("start must be a distribution of shape (S,) over non-terminal states")
        if self.horizon is not None and (isinstance(self.horizon, bool) or not isinstance(self.horizon, int)
                                         or self.horizon < 1):
            raise ValueError(f"horizon must be a positive integer or None, got {self.horizon!r}")
        for name, value in (("P", P), ("R", R), ("start", start), ("terminal", terminal)):
            object.__setattr__(self, name, value)

    @property
    def n_states(self):
        return self.P.shape[0]

    @property
    def n_actions(self):
        return self.P.shape[1]

    @property
    def continuing(self):
        """P̃: P with the transitions into terminal states zeroed (no value follows them)."""
        return self.P * ~self.terminal


def softmax_policy(theta):
    """π(a|s) = softmax(θ[s])_a: (S, A) probabilities from (S, A) logits."""
    z = np.exp(theta - theta.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def tabular_logits(W, b):
    """θ[s] = W[s] + b: the logits of a linear CategoricalPolicy (W: (S, A), b: (A,)) on one-hot states."""
    return np.asarray(W, dtype=np.float64) + np.asarray(b, dtype=np.float64)


def linear_policy_gradient(grad_theta):
    """(∂J/∂W, ∂J/∂b) from ∂J/∂θ: (S, A), by the chain rule through θ[s] = W[s] + b."""
    return grad_theta, grad_theta.sum(axis=0)


def _tables(mdp, pi, gamma, steps):
    """Q^m, V^m for m = 0..steps steps left ((steps+1, S, A), (steps+1, S)) and d_k for
    k = 0..steps−1 ((steps, S)), by backward and forward induction."""
    S, A = mdp.R.shape
    P = mdp.continuing
    Q = np.zeros((steps + 1, S, A))
    V = np.zeros((steps + 1, S))
    for m in range(1, steps + 1):
        Q[m] = mdp.R + gamma * P @ V[m - 1]
        V[m] = (pi * Q[m]).sum(axis=1)
    d = np.zeros((steps, S))
    d[0] = mdp.start
    for k in range(1, steps):
        d[k] = np.einsum("s,sa,sat->t", d[k - 1], pi, P)
    return Q, V, d


def _horizon_gradients(mdp, pi, gamma, steps, discount_weighting):
    """g(h) for h = 0..steps: ((steps+1, S, A)), the expected score-weighted sum of one episode
    with time limit h (the γ^k-weighted ∇J_h, or the γ^k-less twin), and the expected length
    E[L_h] = Σ_{k<h} Σ_s d_k(s): (steps+1,)."""
    Q, V, d = _tables(mdp, pi, gamma, steps)
    advantage = pi[None] * (Q - V[..., None])              # π(b|s)(Q^m(s,b) − V^m(s)): (steps+1, S, A)
    weight = gamma ** np.arange(steps) if discount_weighting else np.ones(steps)
    grads = np.zeros((steps + 1, *pi.shape))
    for h in range(1, steps + 1):
        k = np.arange(h)
        grads[h] = np.einsum("k,ks,ksa->sa", weight[k], d[k], advantage[h - k])
    lengths = np.concatenate(([0.0], np.cumsum(d.sum(axis=1))))
    return grads, lengths, d


def _no_limit(mdp, pi, gamma):
    """Q, V and the visitation (I − γP_π)⁻ᵀ μ₀ of an MDP without a time limit (linear solves)."""
    S = mdp.n_states
    P = mdp.continuing
    P_pi = np.einsum("sa,sat->st", pi, P)
    r_pi = (pi * mdp.R).sum(axis=1)
    system = np.eye(S) - gamma * P_pi
    if np.linalg.cond(system) > 1e12:
        raise ValueError("without a time limit, γ = 1 needs every state to lead to a terminal state")
    V = np.linalg.solve(system, r_pi)
    Q = mdp.R + gamma * P @ V
    return Q, V, P_pi


def expected_return(mdp, theta, gamma, horizon="mdp"):
    """J(θ) = E[Σ_k γ^k r_k] over one episode, exactly.  horizon: the time limit (default: the
    MDP's own; None: none).  theta: (S, A); gamma in [0, 1].  Returns a float."""
    horizon = mdp.horizon if horizon == "mdp" else horizon
    pi = softmax_policy(np.asarray(theta, dtype=np.float64))
    if horizon is None:
        return float(mdp.start @ _no_limit(mdp, pi, gamma)[1])
    Q, V, _ = _tables(mdp, pi, gamma, horizon)
    return float(mdp.start @ V[horizon])


def policy_gradient(mdp, theta, gamma, horizon="mdp", discount_weighting=True):
    """∇_θ J(θ): (S, A), exactly, by the policy-gradient theorem (see the module docstring).

    discount_weighting=False drops γ^k: E[Σ_k ∇ log π(a_k|s_k) G_k], the post's estimator's
    expectation, equal to ∇J only when γ = 1.  horizon as in expected_return.
    """
    horizon = mdp.horizon if horizon == "mdp" else horizon
    pi = softmax_policy(np.asarray(theta, dtype=np.float64))
    if horizon is not None:
        return _horizon_gradients(mdp, pi, gamma, horizon, discount_weighting)[0][horizon]
    Q, V, P_pi = _no_limit(mdp, pi, gamma)
    visits = np.linalg.solve((np.eye(mdp.n_states) - (gamma if discount_weighting else 1.0) * P_pi).T, mdp.start)
    return visits[:, None] * pi * (Q - V[:, None])


def rollout_expectation(mdp, theta, gamma, T, weighting="reward_to_go", reset_steps=1):
    """E[Σ_valid ∇_θ log π(a|s) · w] / E and E[N] / E for a rollout of T steps per env.

    The sum runs over the valid samples of one env's rollout (autoreset steps excluded), w is
    the episode's weighting of each step (WEIGHTINGS: "episode_return" G₀, "discounted_reward_to_go"
    γ^k G_k, "reward_to_go" G_k as in the post), cut at the rollout's end as calculate_returns
    cuts it; reset_steps: 1 for NEXT_STEP autoreset, 0 for SAME_STEP.  See the module
    docstring for the renewal argument.  Returns (expected sum: (S, A), expected N: float).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {tuple(WEIGHTINGS)}, got {weighting!r}")
    pi = softmax_policy(np.asarray(theta, dtype=np.float64))
    limit = T if mdp.horizon is None else min(mdp.horizon, T)
    grads, lengths, d = _horizon_gradients(mdp, pi, gamma, limit, WEIGHTINGS[weighting])
    # Pr(L = ℓ) = Pr(L > ℓ − 1) − Pr(L > ℓ) for ℓ = 1..limit, with Pr(L > limit) taken as 0: exact
    # when the time limit is within the rollout, and harmless otherwise (an episode as long as the
    # rollout starts no other inside it).
    alive = d.sum(axis=1)
    ends = alive - np.append(alive[1:], 0.0)
    starts = np.zeros(T)                                           # u(τ): an episode starts at step τ
    starts[0] = 1.0
    for tau in range(1, T):
        before = tau - np.arange(1, limit + 1) - reset_steps       # where an episode of length ℓ began
        ok = before >= 0
        starts[tau] = ends[ok] @ starts[before[ok]]
    horizons = np.minimum(limit, T - np.arange(T))
    return np.einsum("t,tsa->sa", starts, grads[horizons]), float(starts @ lengths[horizons])


# ---------------------------------------------------------------- the weightings, from a rollout
def episode_steps(dones, valid):
    """(k, start): (T, E) ints each, the step of each sample within its episode (0 at the
    episode's first step) and the rollout step where that episode started.

    dones, valid: (T, E) bools as the rollout leaves them (reinforce.transitions).  An episode
    starts at t = 0, after an episode's end (SAME_STEP) or after a reset step (NEXT_STEP: valid
    is False there).  Reset steps get the step count of the episode they close; they are masked.
    """
    T = len(dones)
    starts = np.zeros(dones.shape, dtype=bool)
    starts[0] = True
    starts[1:] = valid[1:] & (dones[:-1] | ~valid[:-1])
    time = np.arange(T)[:, None]
    last_start = np.maximum.accumulate(np.where(starts, time, 0), axis=0)
    return time - last_start, last_start


def weighting(name, returns, dones, valid, gamma):
    """The weight of each sample's score in one of WEIGHTINGS, from minipg's reward-to-go
    returns (calculate_returns): G₀ of the sample's episode, γ^k G_k, or G_k itself.  (T, E)."""
    if name not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {tuple(WEIGHTINGS)}, got {name!r}")
    k, start = episode_steps(dones, valid)
    if name == "episode_return":
        return np.take_along_axis(returns, start, axis=0)
    if name == "discounted_reward_to_go":
        return gamma ** k * returns
    return returns
