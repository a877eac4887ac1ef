"""The policy-gradient theorem, checked: minipg's sampled gradient against the exact one.

Samples many independent rollouts of a small tabular MDP through minipg's own path (the
gymnasium vector env, solver.collect_rollout as reinforce's loop steps it, calculate_returns,
the reset-step mask, CategoricalPolicy.loss_and_grads) and compares their average with
exact.py's reference, with a stated statistical test.  docs/theorem.md explains it;
tests/test_theorem.py runs it; the figure:

    .venv/bin/python -m minipg.tools.theorem --plot docs/theorem.png     (about a minute)

Estimators: the weight of each sample's score ∇ log π(a|s), all computed from
calculate_returns's G (γ in the recursion):

    "G_0"      the episode's whole return, for every step (exact.weighting "episode_return")
    "γ^k G_k"  reward-to-go discounted from the episode's start ("discounted_reward_to_go")
    "G_k"      reward-to-go as the post and `reinforce` use it ("reward_to_go")
    "G_k − b"  the same, minus a frozen learned baseline b(s, t) (baselines.ValueBaseline)

A batch is one rollout of T steps in E envs.  Its loss gradient is ∇L = −(1/N) Σ_valid ∇ log π · w
(N valid samples); the statistics below use S = −N ∇L = Σ_valid ∇ log π · w (the rollout's sum)
and N, whose expectations per env exact.rollout_expectation gives.
"""

import argparse
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..baselines import ValueBaseline, time_baseline
from ..envs.tabular import make_tabular_env
from ..exact import TabularMDP, linear_policy_gradient, rollout_expectation, tabular_logits, weighting
from ..policies import CategoricalPolicy
from ..reinforce import epoch_seed, rollout_buffers
from ..returns import calculate_returns
from ..solver import collect_rollout

ESTIMATORS = {"G_0": "episode_return", "γ^k G_k": "discounted_reward_to_go", "G_k": "reward_to_go",
              "G_k − b": "reward_to_go"}

# The family-wise false-alarm rate of one test: the probability that a correct estimator fails it.
ALPHA = 1e-3


def teaching_mdp():
    """The MDP of the tests and the figure: 4 states, 2 actions.

    States 0-2 are ordinary, 3 is terminal; episodes start in 0 or 1 and end by entering 3 (76 %
    of them under teaching_policy) or by the time limit of H = 4 steps (24 %), so both kinds of
    end, and the reset step after each, occur in every rollout.  Rewards are positive (as CartPole's), so
    a baseline has an offset to remove.
    """
    P = np.array([
        [[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.3, 0.3]],
        [[0.2, 0.1, 0.5, 0.2], [0.1, 0.2, 0.2, 0.5]],
        [[0.4, 0.2, 0.2, 0.2], [0.1, 0.1, 0.3, 0.5]],
        [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]],
    ])
    R = np.array([[1.0, 2.0], [0.5, 1.5], [3.0, 1.0], [0.0, 0.0]])
    return TabularMDP(P, R, start=np.array([0.6, 0.4, 0.0, 0.0]), terminal=np.array([False, False, False, True]),
                      horizon=4)


def teaching_policy(mdp, seed=0):
    """A linear CategoricalPolicy on the MDP's one-hot states, with fixed non-uniform logits."""
    env = make_tabular_env(mdp, 1)
    policy = CategoricalPolicy(env, lr=0.01, seed=seed)
    W, b = policy.parameters()
    W[...] = np.array([[0.5, -0.3], [-0.4, 0.6], [0.2, 0.1], [0.0, 0.0]])[: len(W)]
    b[...] = [0.1, -0.1]
    env.close()
    return policy


def flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


@dataclass
class Batches:
    """B independent rollouts of one estimator: sums S_b = Σ_valid ∇ log π · w, flattened
    (W then b): (B, d); counts N_b: (B,); envs: E per rollout."""

    sums: np.ndarray
    counts: np.ndarray
    envs: int

    def mean_per_env(self):
        """Σ_b S_b / (B E): unbiased for E[S]/E."""
        return self.sums.sum(axis=0) / (len(self.counts) * self.envs)

    def pooled_gradient(self):
        """Σ_b S_b / Σ_b N_b: −∇L of the pooled batch (the loss gradient of all B rollouts at once)."""
        return self.sums.sum(axis=0) / self.counts.sum()

    def covariance_trace(self):
        """tr Cov(S_e): the variance of one env's rollout sum, E × the trace of Cov(S_b / E)."""
        return float(self.envs * (self.sums / self.envs).var(axis=0, ddof=1).sum())


def fit_value_baseline(mdp, policy, gamma, T, num_envs, seed, steps=300):
    """A ValueBaseline (linear in [one-hot s, 1 − t/T]) fitted to the returns of one pilot rollout
    of its own seed, then frozen: b(s, t) does not depend on the action, so G − b stays unbiased."""
    env = make_tabular_env(mdp, num_envs)
    buffers = rollout_buffers(env, policy, T)
    collect_rollout(env, policy, buffers, env.reset(seed=seed)[0])
    env.close()
    baseline = ValueBaseline(mdp.n_states, gamma, np.random.default_rng(seed), hidden=(), lr=0.05, steps=steps)
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    baseline.fit(buffers["states"], returns, buffers["valid"])
    return baseline


def sample_estimators(mdp, policy, T, num_envs, batches, seed, gammas, baseline=None, estimators=tuple(ESTIMATORS)):
    """{γ: {estimator: Batches}} from `batches` rollouts of T steps in num_envs envs, every
    estimator and γ weighing the same rollouts; batch b resets the envs with epoch_seed(seed, b),
    as reinforce's epoch b.  "G_k − b" is computed for the γ in `baseline`: {γ: a frozen
    ValueBaseline, or "time" for time_baseline}."""
    env = make_tabular_env(mdp, num_envs)
    buffers = rollout_buffers(env, policy, T)
    sums = {gamma: {name: [] for name in estimators} for gamma in gammas}
    counts = []
    for b in range(batches):
        collect_rollout(env, policy, buffers, env.reset(seed=epoch_seed(seed, b))[0])
        states, actions, dones, valid = (buffers[key] for key in ("states", "actions", "dones", "valid"))
        n_valid = int(valid.sum())
        counts.append(n_valid)
        for gamma in gammas:
            returns = calculate_returns(buffers["rewards"], dones, gamma)
            for name in estimators:
                if name == "G_k − b" and gamma not in (baseline or {}):
                    continue
                weights = weighting(ESTIMATORS[name], returns, dones, valid, gamma)
                if name == "G_k − b":
                    b_t = baseline[gamma]
                    weights = weights - (time_baseline(returns, valid) if b_t == "time" else b_t(states))
                _, grads = policy.loss_and_grads(states, actions, weights, mask=valid)
                sums[gamma][name].append(-n_valid * flat(grads))
    env.close()
    counts = np.asarray(counts, dtype=np.float64)
    return {gamma: {name: Batches(np.array(values), counts, num_envs) for name, values in by_name.items() if values}
            for gamma, by_name in sums.items()}


def exact_reference(mdp, policy, gamma, T, estimator):
    """(E[S]/E flattened as W then b: (d,), E[N]/E) for the policy's logits (exact.rollout_expectation)."""
    W, b = policy.parameters()
    grad_theta, count = rollout_expectation(mdp, tabular_logits(W, b), gamma, T, ESTIMATORS[estimator])
    return flat(linear_policy_gradient(grad_theta)), count


def z_threshold(d, alpha=ALPHA):
    """The two-sided Bonferroni bound on d z-scores: all |z| below it with probability ≥ 1 − alpha."""
    return NormalDist().inv_cdf(1.0 - alpha / (2 * d))


def _z(difference, se):
    # a coordinate that never varies (a terminal state's row, never acted in) must match exactly
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, difference / np.where(se > 0, se, 1.0), np.where(difference == 0, 0.0, np.inf))


def sum_z_scores(batches, reference_sum):
    """z-scores of the mean rollout sum per env against E[S]/E: (d,).  The B batch means
    S_b / E are i.i.d.; the standard error is their standard deviation over √B."""
    per_env = batches.sums / batches.envs
    se = per_env.std(axis=0, ddof=1) / np.sqrt(len(per_env))
    return _z(per_env.mean(axis=0) - reference_sum, se)


def gradient_z_scores(batches, reference_sum, reference_count):
    """z-scores of the pooled loss gradient Σ S_b / Σ N_b against E[S]/E[N]: (d,).  A ratio
    estimator; its standard error by the delta method, from the residuals S_b − ĝ N_b."""
    pooled = batches.pooled_gradient()
    residuals = batches.sums - pooled * batches.counts[:, None]
    B = len(batches.counts)
    se = np.sqrt((residuals**2).sum(axis=0) / (B * (B - 1))) / batches.counts.mean()
    return _z(pooled - reference_sum / reference_count, se)


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def cosine_by_episodes(mdp, policy, gamma, T, env_counts, repeats, seed, baseline=None,
                       estimators=("G_0", "G_k", "G_k − b")):
    """{estimator: (len(env_counts),) mean cosine similarity of −∇L to the exact ∇J}, each from
    `repeats` rollouts of T steps in E envs for E in env_counts (the post's parallel rollouts)."""
    reference = exact_reference(mdp, policy, gamma, T, "G_k")
    direction = reference[0] / reference[1]
    curves = {name: [] for name in estimators}
    for E in env_counts:
        sampled = sample_estimators(mdp, policy, T, E, repeats, seed + E, (gamma,), {gamma: baseline},
                                    estimators)[gamma]
        for name in estimators:
            grads = sampled[name].sums / sampled[name].counts[:, None]
            curves[name].append(np.mean([cosine(g, direction) for g in grads]))
    return {name: np.array(values) for name, values in curves.items()}


def plot(path, env_counts, T, curves, traces):
    """docs/theorem.png: cosine to ∇J against the episodes' steps E·T (left), tr Cov per env (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.8))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    steps = np.asarray(env_counts) * T
    for name, values in curves.items():
        left.plot(steps, values, marker="o", label=name)
    left.set_xscale("log")
    left.set_xlabel("env steps per rollout, E·T (T = 10: about 3.2 E episodes)")
    left.set_ylabel("mean cosine(−∇L, ∇J)")
    left.set_ylim(top=1.0)
    left.grid(alpha=0.3)
    left.legend()
    names = list(traces)
    right.bar(names, [traces[name] for name in names], color=[f"C{i}" for i in range(len(names))])
    right.set_ylabel("tr Cov of one env's sum")
    right.set_title("variance (γ = 1)", fontsize="medium")
    right.grid(alpha=0.3, axis="y")
    figure.suptitle("REINFORCE's gradient estimate against the exact ∇J (a 4-state MDP)")
    figure.tight_layout()
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minipg.tools.theorem", description=__doc__.split("\n")[0])
    parser.add_argument("--plot", metavar="PNG", help="write the figure there")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    mdp, T = teaching_mdp(), 10
    policy = teaching_policy(mdp, args.seed)
    baseline = fit_value_baseline(mdp, policy, 1.0, T, 500, seed=10_000 + args.seed)
    sampled = sample_estimators(mdp, policy, T, 200, 100, args.seed, (1.0,), {1.0: baseline},
                                ("G_0", "G_k", "G_k − b"))[1.0]
    traces = {name: batches.covariance_trace() for name, batches in sampled.items()}
    for name, trace in traces.items():
        print(f"γ = 1, {name:>8}: tr Cov of one env's rollout sum = {trace:.2f}")
    env_counts = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    curves = cosine_by_episodes(mdp, policy, 1.0, T, env_counts, 200, args.seed, baseline)
    for name, values in curves.items():
        print(f"{name:>8}: mean cosine at E·T = {env_counts[0] * T}..{env_counts[-1] * T}: "
              + " ".join(f"{v:.3f}" for v in values))
    if args.plot:
        plot(args.plot, env_counts, T, curves, traces)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
