"""minipg: the policy-gradient theorem and REINFORCE in NumPy, every gradient written by hand.

Where each piece of the math lives:

    layers.py         y = x W + b, ReLU, and their backward pass (MLP)
    distributions.py  log π and ∇ log π for Categorical and diagonal-Gaussian policies
    optim.py          Adam
    returns.py        G_t = r_t + γ(1 − d_t) G_{t+1}
    policies.py       L = −mean(log π(a|s) G) and ∂L/∂θ (CategoricalPolicy, DiagonalGaussianPolicy)
    baselines.py      advantages A = G − b: time and learned value baselines, normalization
    reinforce.py      the training loop: rollout T steps × E envs, returns, one update per epoch
    envs.py           vector environments and their autoreset modes
    swingup.py        CartPoleSwingUp-v0/-v1: adapter for the package and a batched NumPy twin

and the tooling around them: evaluation.py, checkpoint.py, render.py (GIFs), plotting.py,
cli.py (the scripts' shared command line) and bench.py (`python -m minipg.bench`).
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
