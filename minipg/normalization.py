"""Running normalization of observations and rewards, for tasks whose scales are far from 1.

A network learns fastest from inputs of order 1, and the value fit and Adam's steps from
returns of a steady scale.  Classic-control and MuJoCo observations mix metres, radians and
velocities of very different sizes, and their rewards range over orders of magnitude, so the
solver can normalize both with running statistics (options `normalize_observations`,
`normalize_rewards`), as SB3's VecNormalize and CleanRL's wrappers do:

    s ← clip((s − μ) / √(σ² + ε), −c, c)            μ, σ²: running mean and variance of every s seen
    r ← r / √(Var[G] + ε)                            G_t = γ(1 − d_{t−1}) G_{t−1} + r_t, per env

The reward is only scaled (not centred): a centred reward would change which policies are
optimal where episodes end early; scaling by the spread of the discounted return G keeps the
returns the value fits of order 1.

`RunningMeanStd` merges each batch into the running moments with the parallel update of Chan,
Golub & LeVeque (1979): for counts n_a, n_b, means μ_a, μ_b and variances σ²_a, σ²_b,

    δ = μ_b − μ_a,   n = n_a + n_b,   μ = μ_a + δ n_b / n,
    σ² = (n_a σ²_a + n_b σ²_b + δ² n_a n_b / n) / n,

which equals the moments of the concatenated data (tested) without storing it.  The statistics
are part of a run: checkpoints save them, and a resumed run continues them bit for bit.
"""

import numpy as np

EPSILON = 1e-8   # keeps √(σ² + ε) away from 0 for an input that never moved
CLIP = 10.0      # normalized observations beyond ±10 standard deviations are outliers: clipped


class RunningMeanStd:
    """Running mean and variance of batches of vectors of `shape`, in float64.

    The count starts at ε rather than 0 (with mean 0, variance 1), so the first batch gets
    nearly all the weight but a division by zero never happens.
    """

    def __init__(self, shape=()):
        self.mean = np.zeros(shape)  # float64, NumPy's default
        self.var = np.ones(shape)
        self.count = EPSILON

    def update(self, batch):
        """Merge a batch: (..., *shape), every leading index one sample."""
        batch = np.asarray(batch, dtype=np.float64).reshape((-1,) + self.mean.shape)
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mean_b, var_b = batch.mean(axis=0), batch.var(axis=0)
        delta = mean_b - self.mean
        n = self.count + n_b
        self.mean = self.mean + delta * (n_b / n)
        self.var = (self.count * self.var + n_b * var_b + delta**2 * (self.count * n_b / n)) / n
        self.count = n

    def std(self):
        """√(σ² + ε): (*shape)."""
        return np.sqrt(self.var + EPSILON)

    def state_dict(self):
        """{"mean", "var": float64 arrays of `shape`, "count": a float} (state.py's protocol)."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state):
        """Take back a `state_dict()`; ValueError if a shape differs or the count is not positive."""
        mean, var = (np.array(state[name], dtype=np.float64) for name in ("mean", "var"))
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(f"statistics of shapes {mean.shape} and {var.shape} saved, {self.mean.shape} expected")
        count = float(state["count"])
        if not 0 < count < np.inf:
            raise ValueError(f"count {state['count']!r} saved, a positive number expected")
        self.mean, self.var, self.count = mean, var, count


class ObservationNormalizer(RunningMeanStd):
    """s ← clip((s − μ) / √(σ² + ε), ±CLIP), with μ, σ² over every observation seen in training."""

    def __call__(self, observations, update=False):
        """Normalized observations: (..., obs_dim) in float64 (the statistics' precision; a
        float32 policy's buffers round them once).  update=True merges them into the statistics
        first; False (the solver's rollout, V of a last observation, evaluation) leaves them."""
        observations = np.asarray(observations)
        if update:
            self.update(observations)
        return np.clip((observations - self.mean) / self.std(), -CLIP, CLIP)


class RewardScaler:
    """r ← r / √(Var[G] + ε), G the discounted return of each env's current episode.

    `scale(rewards, dones, γ)` takes a rollout's (T, E) rewards and dones (the episode ended at t,
    so G restarts after it; every rollout starts new episodes, so G starts at 0), merges the
    T·E values of G into the running variance, then returns the rewards divided by the new
    √(Var[G] + ε).
    """

    def __init__(self):
        self.moments = RunningMeanStd()

    def state_dict(self):
        """{"moments": the discounted return's RunningMeanStd state}."""
        return {"moments": self.moments.state_dict()}

    def load_state_dict(self, state):
        self.moments.load_state_dict(state["moments"])

    def scale(self, rewards, dones, gamma):
        """rewards / √(Var[G] + ε): (T, E), in the rewards' dtype; γ of the run's returns."""
        discounted = np.empty(rewards.shape)  # float64
        returns = np.zeros(rewards.shape[1:])
        for t in range(len(rewards)):
            returns = gamma * returns + rewards[t]
            discounted[t] = returns
            returns = np.where(dones[t], 0.0, returns)
        self.moments.update(discounted)
        return (rewards / self.moments.std()).astype(rewards.dtype)
