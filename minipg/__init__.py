"""minipg: the policy-gradient theorem and REINFORCE in NumPy, every gradient written by hand.

The math and the training loop, one concept per module (read them in this order):

    reinforce.py      the training loop: rollout T steps × E envs, returns, one update per epoch
    returns.py        G_t = r_t + γ(1 − d_t) G_{t+1}
    policies.py       L = −mean(log π(a|s) G) and ∂L/∂θ (CategoricalPolicy, DiagonalGaussianPolicy)
    distributions.py  log π and ∇ log π for Categorical and diagonal-Gaussian policies
    layers.py         y = x W + b, ReLU, and their backward pass (MLP)
    optim.py          Adam
    baselines.py      advantages A = G − b: time and learned value baselines, normalization

Around them, in their own packages:

    envs/             vector environments (vector.py) and CartPoleSwingUp-v0/-v1 (swingup.py);
                      importing minipg registers the swing-up ids with gymnasium
    tools/            what the scripts use: cli, checkpoint, evaluation, render, plotting, bench
                      (`python -m minipg.tools.bench`); nothing above imports from it
"""

from .distributions import Categorical, DiagGaussian
from .envs import make_env
from .layers import MLP
from .optim import Adam
from .policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError, Policy
from .reinforce import reinforce
from .returns import calculate_returns

__all__ = [
    "Adam",
    "Categorical",
    "CategoricalPolicy",
    "DiagGaussian",
    "DiagonalGaussianPolicy",
    "MLP",
    "NonFiniteError",
    "Policy",
    "calculate_returns",
    "make_env",
    "reinforce",
]
