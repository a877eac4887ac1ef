"""REINFORCE on CartPole-v0 with a linear softmax policy: the post's first experiment.

    python run_cartpole.py                 # the post's settings: 32 envs, lr 0.1, γ 0.99, 100 epochs, T 1000
    python run_cartpole.py --help          # every flag
"""

import sys

from minipg.tools.cli import main

CARTPOLE = {
    "name": "cartpole",
    "prog": "run_cartpole.py",
    "description": "REINFORCE with a linear categorical policy on CartPole-v0 (the post's first experiment).",
    "policy": "categorical",
    "default_preset": "blog",
    "presets": {
        "blog": {
            "env": "CartPole-v0", "num_envs": 32, "lr": 0.1, "gamma": 0.99, "epochs": 100,
            "T": 1000, "seed": 0, "hidden": [], "vectorization": "auto",
            "baseline": "none", "normalize_advantages": False, "lr_decay": False,
            "max_grad_norm": None, "log_std_final": None, "mirror": False, "gae_lambda": None,
            "bootstrap": False, "terminal_value": 0.0, "value_steps": 32, "clip_ratio": None,
            "update_epochs": 1, "minibatch_size": None, "eval": 100,
        },
    },
}

if __name__ == "__main__":
    main(CARTPOLE, sys.argv[1:])
