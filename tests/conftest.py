"""Shared helpers: a finite-difference gradient checker and stand-in environments.

Every hand-written gradient in minipg is checked against central finite differences,

    ∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / (2ε),

in float64.  The truncation error is O(ε²) and the rounding error O(machine-eps / ε), so with
ε = 1e-6 both are far below the 1e-6 relative tolerance the tests demand of a correct gradient,
while a wrong gradient (a missing term, a transposed matrix, a wrong sign) is off by O(1).
"""

import re
from types import SimpleNamespace

import numpy as np
import pytest
from gymnasium import spaces

# Step of the central differences, and the largest relative error a correct gradient may show.
FD_EPS = 1e-6
GRAD_TOL = 1e-6

# Seeds that the randomized tests are parametrized over: several, so a test does not pass by
# the luck of one draw, few enough to stay fast.
SEEDS = range(5)


def numerical_gradient(f, array, eps=FD_EPS):
    """∂f/∂array by central differences.  `f()` takes no arguments and returns a scalar.

    f must read `array` itself (e.g. a parameter array a model holds): each entry is nudged
    in place by ±eps, f is evaluated, and the entry is restored.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        f_plus = f()
        array[index] = original - eps
        f_minus = f()
        array[index] = original
        grad[index] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def relative_error(a, b):
    """‖a − b‖ / max(‖a‖, ‖b‖): 0 when equal, O(1) when unrelated (0 if both are all zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0.0 else float(np.linalg.norm(a - b) / scale)


def stand_in_env(obs_dim, action_space):
    """The minimum a policy constructor reads: an object with observation_space and action_space."""
    observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float64)
    return SimpleNamespace(observation_space=observation_space, action_space=action_space)


def exactly(message):
    """A `pytest.raises(match=...)` pattern that accepts this whole message and nothing else."""
    return f"^{re.escape(message)}$"


def state_leaves(tree, prefix=""):
    """{dotted path: leaf} of a state_dict() tree (minipg/state.py): arrays and JSON values."""
    if isinstance(tree, (list, tuple)) and any(isinstance(value, (dict, list, tuple, np.ndarray)) for value in tree):
        tree = dict(enumerate(tree))
    if isinstance(tree, dict):
        return {path: leaf for key, value in tree.items()
                for path, leaf in state_leaves(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


def assert_same_state(a, b, ignore=("history.seconds",)):
    """Two state_dict() trees hold bitwise the same state: every array of the same dtype, shape
    and bytes, every other leaf equal (the paths in `ignore` skipped: wall seconds differ)."""
    leaves_a, leaves_b = state_leaves(a), state_leaves(b)
    assert leaves_a.keys() == leaves_b.keys()
    for path in leaves_a.keys() - set(ignore):
        x, y = leaves_a[path], leaves_b[path]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), path
        else:
            assert x == y, path


@pytest.fixture
def mujoco_log(tmp_path, monkeypatch):
    """The path MuJoCo logs its warnings to when nothing catches them: MUJOCO_LOG.TXT in the working
    directory, here tmp_path.  MuJoCo's warning handler is reset as in a fresh process (whatever
    test installed minipg's hook before), so a test sees whether its own code installs it."""
    mujoco = pytest.importorskip("mujoco")
    from minipg.envs.vector import mujoco_warnings_as_python_warnings

    monkeypatch.chdir(tmp_path)
    mujoco.set_mju_user_warning(None)
    mujoco_warnings_as_python_warnings.cache_clear()
    return tmp_path / "MUJOCO_LOG.TXT"
