"""REINFORCE on CartPole-v0 with a linear softmax policy: the post's first experiment.

    python run_cartpole.py                 # the post's settings: 32 envs, lr 0.1, γ 0.99, 100 epochs, T 1000
    python run_cartpole.py --help          # every flag
"""

import sys

from minipg import Options
from minipg.tools.cli import Script, main

CARTPOLE = Script(
    name="cartpole",
    prog="run_cartpole.py",
    description="REINFORCE with a linear categorical policy on CartPole-v0 (the post's first experiment).",
    policy="categorical",
    default_preset="blog",
    presets={
        # The post's experiment: Options' defaults (32 envs × T 1000, linear softmax, lr 0.1, γ 0.99,
        # 100 epochs, nothing added).
        "blog": Options(env="CartPole-v0", num_envs=32, T=1000, epochs=100, lr=0.1, gamma=0.99, hidden=()),
    },
)

if __name__ == "__main__":
    main(CARTPOLE, sys.argv[1:])
