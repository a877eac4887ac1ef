"""One protocol for everything a run carries: `state_dict()` and `load_state_dict(state)`.

`state_dict()` gives an object's state as a tree of dicts and lists whose leaves are NumPy
arrays (parameters, Adam's moments, running moments, visit counts) or JSON values (a step count,
a generator's state); the arrays are the object's own, not copies.  `load_state_dict(state)`
takes such a tree back: it checks that every part fits (else a ValueError that names the part)
and only then changes the object, in place, since an optimizer holds references to the arrays
it updates.  The names are PyTorch's, whose modules and optimizers do the same.

The policy (policies.py, with its Adam state and generator), the value baseline (baselines.py),
the normalizers (normalization.py), the visit counter (exploration.py) and the solver's state
that holds them all (solver.py) follow it; a checkpoint (tools/checkpoint.py) only collects the
tree of a SolverState and writes it: the arrays as tensors, the rest as JSON.
"""

import numpy as np


def checked_arrays(name, saved, targets):
    """`saved` as a list of arrays of the targets' shapes and dtypes, one for each target.

    Raises ValueError naming `name` (and the index) for a count, shape or dtype that differs.
    """
    if not isinstance(saved, (list, tuple)) or len(saved) != len(targets):
        count = len(saved) if isinstance(saved, (list, tuple)) else type(saved).__name__
        raise ValueError(f"{name}: {count} arrays saved, {len(targets)} expected")
    arrays = []
    for i, (array, target) in enumerate(zip(saved, targets)):
        array = np.asarray(array)
        if array.shape != target.shape or array.dtype != target.dtype:
            raise ValueError(f"{name}[{i}]: {array.dtype} of shape {array.shape} saved, "
                             f"{target.dtype} of shape {target.shape} expected")
        arrays.append(array)
    return arrays


def copy_arrays(targets, sources):
    """Copy each source into its target array, in place (references to the targets stay valid)."""
    for target, source in zip(targets, sources):
        np.copyto(target, source)


def checked_count(name, value):
    """`value` if it is a non-negative integer (a step or visit count), else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: {value!r} saved, a non-negative integer expected")
    return int(value)
