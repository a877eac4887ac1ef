"""How robust a swing-up policy is (docs/seeds.md): two measurements of a checkpoint's mean action.

    python docs/recovery.py CHECKPOINT [CHECKPOINT ...]

- **1,000 starts**: 1,000 deterministic episodes from the task's own start distribution, drawn
  with seed 777 (not the evaluation's starts): how many score below 300, the mean and the worst.
  A run whose policy loses 1 episode in 1,000 passes a 100-episode evaluation 9 times in 10.
- **recovery**: 500 states the task never starts from, the pole at any angle and spinning at up
  to 12 rad/s (θ ~ U(−π, π), θ̇ = ±U(0, 12) rad/s, x ~ U(−0.5, 0.5) m, ẋ = 0), then 400 steps:
  the share whose pole is within 18° of upright for at least 95 of the last 100 steps, the cart
  still on the track.  A policy that catches the pole only along the trajectories it trained on
  scores low; one that catches it from anywhere, near 1.
"""

import sys

import numpy as np

from minipg.envs import make_env
from minipg.tools.checkpoint import load_checkpoint, load_policy
from minipg.tools.evaluation import evaluate

UPRIGHT = np.cos(np.radians(18.0))


def load(path):
    """A checkpoint's (policy, observation normalizer or None, env id)."""
    policy, normalizer = load_policy(path)
    return policy, normalizer, load_checkpoint(path).options.env


def returns_from_starts(policy, normalizer, env_id, count=1000, seed=777):
    """The returns of `count` deterministic episodes from the env's own starts, all in one batch
    (so the starts are those one vector env of `count` copies draws from `seed`): (count,)."""
    return evaluate(policy, env_id, count, seed=seed, vectorization="vector", normalizer=normalizer,
                    batch_size=count)


def recovery(policy, normalizer, env_id, count=500, steps=400, seed=0):
    """The share of `count` spinning starts after which the pole is held upright (module docstring)."""
    env = make_env(env_id, count, "vector")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    states = np.zeros((count, 4))  # [x, ẋ, θ, θ̇]
    states[:, 0] = rng.uniform(-0.5, 0.5, count)
    states[:, 2] = rng.uniform(-np.pi, np.pi, count)
    states[:, 3] = rng.choice([-1.0, 1.0], count) * rng.uniform(0.0, 12.0, count)
    swingup = env.unwrapped  # the batched twin: its states can be set
    swingup.state = states
    observations = swingup._observe_state(swingup.state)
    on_track, upright = np.ones(count, dtype=bool), np.zeros(count)
    for step in range(steps):
        seen = observations if normalizer is None else normalizer(observations)
        observations, _, terminated, _, _ = env.step(policy.act_deterministic(seen))
        on_track &= ~terminated
        if step >= steps - 100:
            upright += (observations[:, 2] > UPRIGHT) & on_track
    env.close()
    return float(np.mean(upright >= 95))


def main(paths):
    if not paths:
        sys.exit(__doc__.split("\n\n")[1].strip())
    print("| checkpoint | 1,000 starts: below 300 | mean | worst | recovery |")
    print("|---|---|---|---|---|")
    for path in paths:
        loaded = load(path)
        returns = returns_from_starts(*loaded)
        print(f"| {path} | {int((returns < 300).sum())} | {returns.mean():.1f} | {returns.min():.1f} | "
              f"{recovery(*loaded):.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
