"""minipg: the policy-gradient theorem and REINFORCE in NumPy, every gradient written by hand.

The math and the training loops, one concept per module (read them in this order):

    reinforce.py      the post's algorithm: reset, roll out T steps × E envs, returns, one update
    returns.py        G_t = r_t + γ(1 − d_t) G_{t+1}, and GAE(λ)
    policies.py       L = −mean(log π(a|s) A) and ∂L/∂θ (CategoricalPolicy, DiagonalGaussianPolicy)
    distributions.py  log π and ∇ log π for Categorical and diagonal-Gaussian policies
    layers.py         y = x W + b, ReLU, and their backward pass (MLP)
    optim.py          Adam
    options.py        the solver's options: one dataclass, every setting of a run
    solver.py         the post's loop with the options: baselines, GAE, clipped passes, schedules
    baselines.py      advantages A = G − b: time and learned value baselines, normalization
    normalization.py  running normalization of observations and rewards (Chan et al.'s update)
    exploration.py    a bonus β/√n(s) for rarely visited states (SimHash visit counts, Tang et al.)
    ppo.py            the clipped surrogate L^CLIP and its minibatch passes
    parallel.py       one BLAS thread, the learn step's chunks on worker threads (why: see there)
    state.py          the state protocol: state_dict() and load_state_dict() of what a run carries
    exact.py          J and ∇J of small tabular MDPs, exactly: the reference for tests/test_theorem.py

Around them, in their own packages:

    envs/             vector environments (vector.py; EnvPool's, envpool.py), CartPoleSwingUp-v0/-v1
                      (swingup.py) and a TabularMDP as a gymnasium env (tabular.py);
                      importing minipg registers the swing-up ids with gymnasium
    tools/            what the command line uses: cli, checkpoint, evaluation, render, plotting;
                      nothing above imports from it
"""

from .parallel import limit_blas_threads

limit_blas_threads()  # one BLAS thread unless MINIPG_BLAS_THREADS says otherwise (see parallel.py)

from .distributions import Categorical, DiagGaussian  # noqa: E402
from .envs import make_env  # noqa: E402
from .layers import MLP  # noqa: E402
from .optim import Adam  # noqa: E402
from .options import Options, OptionsError  # noqa: E402
from .policies import CategoricalPolicy, DiagonalGaussianPolicy, NonFiniteError, Policy  # noqa: E402
from .reinforce import reinforce  # noqa: E402
from .returns import calculate_returns  # noqa: E402
from .solver import SolverState, make_policy, new_state, train  # noqa: E402

__all__ = [
    "Adam",
    "Categorical",
    "CategoricalPolicy",
    "DiagGaussian",
    "DiagonalGaussianPolicy",
    "MLP",
    "NonFiniteError",
    "Options",
    "OptionsError",
    "Policy",
    "SolverState",
    "calculate_returns",
    "make_env",
    "make_policy",
    "new_state",
    "reinforce",
    "train",
]
