"""minipg: the policy-gradient theorem and REINFORCE in NumPy, every gradient written by hand.

The math and the training loop, one concept per module (read them in this order):

    reinforce.py      the training loop: rollout T steps × E envs, returns, an update per epoch
    returns.py        G_t = r_t + γ(1 − d_t) G_{t+1}
    policies.py       L = −mean(log π(a|s) G) and ∂L/∂θ (CategoricalPolicy, DiagonalGaussianPolicy)
    distributions.py  log π and ∇ log π for Categorical and diagonal-Gaussian policies
    layers.py         y = x W + b, ReLU, and their backward pass (MLP)
    optim.py          Adam
    baselines.py      advantages A = G − b: time and learned value baselines, normalization
    ppo.py            the clipped surrogate L^CLIP and its multi-epoch minibatch update (optional)
    parallel.py       one BLAS thread, the learn step's chunks on worker threads (why: see there)

Around them, in their own packages:

    envs/             vector environments (vector.py) and CartPoleSwingUp-v0/-v1 (swingup.py);
                      importing minipg registers the swing-up ids with gymnasium
    tools/            what the scripts use: cli, checkpoint, evaluation, render, plotting, bench
                      (`python -m minipg.tools.bench`); nothing above imports from it
"""

from .parallel import limit_blas_threads

limit_blas_threads()  # one BLAS thread unless MINIPG_BLAS_THREADS says otherwise (see parallel.py)

from .distributions import Categorical, DiagGaussian  # noqa: E402
from .envs import make_env  # noqa: E402
from .layers import MLP  # noqa: E402
from .optim import Adam  # noqa: E402
from .policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError, Policy  # noqa: E402
from .reinforce import reinforce  # noqa: E402
from .returns import calculate_returns  # noqa: E402

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
