"""A count-based exploration bonus: extra reward for states the run has rarely visited.

Where the reward says nothing until a goal is found (Acrobot, MountainCar: −1 every step),
every episode of a policy that has not found it scores the same, the advantages are noise, and
the policy drifts until it stops exploring.  An entropy bonus keeps the actions random, which
does not carry a car up a hill.  Counting visits does: with n(s) the number of times the run
has been in s's cell, the solver learns from

    r_t + β / √n(φ(s_t))                                        (Tang et al. 2017, "#Exploration")

so a rollout that reaches cells few others reached scores more, and the bonus fades where the
policy keeps going (option `count_bonus` = β).  The cells are a SimHash of the observation:

    φ(s) = sgn(A g(s)) ∈ {−1, 1}^k,     A: (k, obs_dim + 1), entries i.i.d. N(0, 1)
    g(s) = [(s − μ₀) / σ₀, 1]

k random hyperplanes (`count_bits`; the appended 1 gives them offsets, so they cut the space
into bounded cells rather than cones from the origin), through the observations standardized
by the mean μ₀ and standard deviation σ₀ of the first rollout, fixed from then on so that a
cell stays the same region of the state space for the whole run.  More bits, finer cells.

Each epoch the rollout's states are counted first, then scored: a state seen for the first
time gets β, one in a cell visited 100 times β/10.  The metrics and the evaluation use the
task's own rewards only.  The counts are part of a run: checkpoints save them, and a resumed
run continues them bit for bit.
"""

import numpy as np

EPSILON = 1e-8  # keeps σ₀ away from 0 for a coordinate that never moved in the first rollout


class StateCounter:
    """Visit counts of SimHash cells (see the module docstring).

    obs_dim: D, the observation's length; bits: k, 1 to 62 (a cell's code is packed into an
    int64); rng: a numpy Generator to draw A from (the solver passes the policy's).
    """

    def __init__(self, obs_dim, bits, rng):
        if not 1 <= bits <= 62:
            raise ValueError(f"bits must be from 1 to 62, got {bits}")
        self.projection = rng.standard_normal((bits, obs_dim + 1))  # A: (k, D + 1)
        self.mean = self.std = None  # μ₀, σ₀: (D,), set by the first batch counted
        self.counts = {}  # {code: visits}

    def codes(self, observations):
        """φ of each observation, packed into an int64: (...) for observations (..., D)."""
        observations = np.asarray(observations, dtype=np.float64)
        standardized = (observations - self.mean) / self.std
        signs = standardized @ self.projection[:, :-1].T + self.projection[:, -1] > 0  # (..., k)
        return signs.astype(np.int64) @ (np.int64(1) << np.arange(signs.shape[-1], dtype=np.int64))

    def bonus(self, observations, valid, beta):
        """Count the valid observations, then return β / √n of each: (T, E) in float64, 0 where
        not valid.  observations: (T, E, D); valid: (T, E) bools (False on autoreset steps)."""
        observations = np.asarray(observations, dtype=np.float64)
        if self.mean is None:
            seen = observations[valid]
            self.mean, self.std = seen.mean(axis=0), np.sqrt(seen.var(axis=0) + EPSILON)
        codes = self.codes(observations)
        cells, visits = np.unique(codes[valid], return_counts=True)
        for cell, n in zip(cells.tolist(), visits.tolist()):
            self.counts[cell] = self.counts.get(cell, 0) + n
        cells, inverse = np.unique(codes, return_inverse=True)
        counts = np.array([self.counts.get(cell, 0) for cell in cells.tolist()], dtype=np.float64)[inverse]
        return np.where(valid, beta / np.sqrt(np.maximum(counts.reshape(valid.shape), 1.0)), 0.0)

    def state(self):
        """A JSON-able dict of A, μ₀, σ₀ and the counts, for a checkpoint."""
        cells = sorted(self.counts)
        return {"projection": self.projection.tolist(),
                "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist(),
                "cells": cells, "visits": [self.counts[cell] for cell in cells]}

    def restore(self, state):
        """Set everything from `state()`; ValueError if A's shape differs."""
        projection = np.asarray(state["projection"], dtype=np.float64)
        if projection.shape != self.projection.shape:
            raise ValueError(f"state counter projection of shape {projection.shape}, expected "
                             f"{self.projection.shape}")
        self.projection = projection
        self.mean = None if state["mean"] is None else np.asarray(state["mean"], dtype=np.float64)
        self.std = None if state["std"] is None else np.asarray(state["std"], dtype=np.float64)
        self.counts = dict(zip((int(cell) for cell in state["cells"]), (int(n) for n in state["visits"])))
