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

k random hyperplanes (`count_bits`; the appended 1 gives them offsets, so the cells near the
observations are bounded regions rather than cones through the origin), through the
observations standardized by the mean μ₀ and standard deviation σ₀ = √(σ² + 10⁻⁸) of the
first rollout (σ₀ = 1 for a coordinate that did not vary there, such as a contact flag),
fixed from then on so that a cell stays the same region of the state space for the whole
run.  More bits, finer cells.

Each epoch the rollout's states are counted first, then scored: the only state of its cell
so far gets β, one in a cell visited 100 times (this rollout's visits included) β/10.  The
metrics and the evaluation use the task's own rewards only.  The counts are part of a run:
checkpoints save them (`state_dict`), and a resumed run continues them bit for bit.
"""

import numpy as np

from .normalization import EPSILON  # σ₀ = √(σ² + ε), as the observation normalizer's
CONSTANT = 1e-12  # a first-rollout variance at most this: the coordinate did not vary, σ₀ = 1


class StateCounter:
    """Visit counts of SimHash cells (see the module docstring).

    obs_dim: D, the observation's length; bits: k, 1 to 62 (a cell's code is packed into an
    int64); rng: a numpy Generator to draw A from (the solver passes the policy's).  Raises
    ValueError for bits outside 1 to 62.
    """

    def __init__(self, obs_dim, bits, rng):
        if not 1 <= bits <= 62:
            raise ValueError(f"bits must be from 1 to 62, got {bits}")
        self.projection = rng.standard_normal((bits, obs_dim + 1))  # A: (k, D + 1)
        self.mean = self.std = None  # μ₀, σ₀: (D,), set by the first batch counted
        self.counts = {}  # {code: visits}

    def codes(self, observations):
        """φ of each observation, packed into an int64 (bit i set where hyperplane i has the
        observation on its positive side): (...) for observations (..., D).  Raises ValueError
        before the first `bonus`, which sets μ₀ and σ₀."""
        if self.mean is None:
            raise ValueError("no codes before the first batch is counted (it sets the standardization)")
        standardized = (np.asarray(observations) - self.mean) / self.std  # float64, as μ₀ and σ₀
        signs = standardized @ self.projection[:, :-1].T + self.projection[:, -1] > 0  # (..., k)
        return signs.astype(np.int64) @ (np.int64(1) << np.arange(signs.shape[-1]))

    def bonus(self, observations, valid, beta):
        """Count the valid observations, then return β / √n of each: (T, E) in float64, 0 where
        not valid.  observations: (T, E, D); valid: (T, E) bools (False on autoreset steps)."""
        seen = np.asarray(observations, dtype=np.float64)[valid]  # (n, D), the valid ones
        if self.mean is None:
            variance = seen.var(axis=0)
            self.mean, self.std = seen.mean(axis=0), np.where(variance > CONSTANT, np.sqrt(variance + EPSILON), 1.0)
        cells, inverse, visits = np.unique(self.codes(seen), return_inverse=True, return_counts=True)
        cells = cells.tolist()
        totals = [self.counts.get(cell, 0) + n for cell, n in zip(cells, visits.tolist())]
        self.counts.update(zip(cells, totals))
        bonus = np.zeros(valid.shape)
        bonus[valid] = beta / np.sqrt(np.array(totals, dtype=np.float64)[inverse])
        return bonus

    def state_dict(self):
        """{"projection": A, "mean": μ₀, "std": σ₀ (None before the first batch), "cells": the
        visited codes (sorted) and "visits": their counts (≥ 1 each), int64 arrays of one
        length} (state.py's protocol; a run may visit millions of cells)."""
        cells = np.array(sorted(self.counts), dtype=np.int64)
        return {"projection": self.projection, "mean": self.mean, "std": self.std,
                "cells": cells, "visits": np.array([self.counts[cell] for cell in cells.tolist()], dtype=np.int64)}

    def load_state_dict(self, state):
        """Take back a `state_dict()`; ValueError naming what does not fit: A's shape, μ₀'s or
        σ₀'s, cells and visits of different lengths, a cell twice, a count below 1."""
        projection = np.asarray(state["projection"], dtype=np.float64)
        if projection.shape != self.projection.shape:
            raise ValueError(f"projection of shape {projection.shape} saved, {self.projection.shape} expected")
        obs_dim = projection.shape[1] - 1
        moments = [None if state[name] is None else np.asarray(state[name], dtype=np.float64)
                   for name in ("mean", "std")]
        if (moments[0] is None) != (moments[1] is None) or any(
                moment is not None and moment.shape != (obs_dim,) for moment in moments):
            shapes = [None if moment is None else moment.shape for moment in moments]
            raise ValueError(f"standardization of shapes {shapes} saved, two of {(obs_dim,)} or two None expected")
        cells, visits = (np.asarray(state[name]).astype(np.int64) for name in ("cells", "visits"))
        different = len(np.unique(cells))
        if cells.shape != visits.shape or cells.ndim != 1 or different != len(cells) or (visits < 1).any():
            raise ValueError(f"counts: cells of shape {cells.shape} ({different} different) and visits of "
                             f"shape {visits.shape} saved (each must be at least 1)")
        self.projection, (self.mean, self.std) = projection, moments
        self.counts = dict(zip(cells.tolist(), visits.tolist()))
