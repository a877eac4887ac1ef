"""The environments minipg trains on, stepped E at a time through gymnasium's vector API.

    vector.py   make_env (batched, sync or async vector envs), make_single_env (one env, the same
                way), autoreset_mode, observation_mirror
    envpool.py  EnvPoolVectorEnv: EnvPool's C++ copies of a task behind the same interface
                (vectorization "envpool", an optional extra)
    swingup.py  CartPoleSwingUp-v0/-v1: an adapter for the gym-cartpole-swingup package and a
                batched NumPy twin of its physics
    tabular.py  a TabularMDP (exact.py) as a gymnasium Env, for the policy-gradient theorem's tests

Importing this package registers CartPoleSwingUp-v0/-v1 with gymnasium (without importing gym),
so `gymnasium.make("CartPoleSwingUp-v0")` and `gymnasium.make_vec(...)` work after `import minipg`.
"""

from .swingup import register_swingup
from .vector import VECTORIZATION_MODES, autoreset_mode, env_spec, make_env, make_single_env, observation_mirror

register_swingup()

__all__ = ["VECTORIZATION_MODES", "autoreset_mode", "env_spec", "make_env", "make_single_env", "observation_mirror",
           "register_swingup"]
