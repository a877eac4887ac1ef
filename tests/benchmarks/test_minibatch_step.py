"""The per-call cost of one minibatch Adam step: Acrobot-v1's preset (a 6-64-64-3 categorical
policy, float64, minibatches of 64 in 20 clipped-surrogate passes over each 16 × 500 rollout:
2,500 steps an epoch), where the step's fixed costs, not its arithmetic, set the run's time.

Each round times, in CPU seconds of this process (time.process_time: other processes on the
shared machine count less than in wall time), the best of 3 repetitions of:

    minibatch step   one pass of ppo_update over a random rollout of Acrobot's size, ÷ its
                     125 minibatches: gathers, the clipped objective, Policy.step
    policy.step      Policy.step alone on one minibatch (checked=True, as ppo_update calls it)
    products         the step's six matrix products alone (the forward pass's three, ∂W of
                     each layer, ∂x of the two upper ones), same shapes
    Adam             Adam.step alone on the network's 7 gradient arrays

    make bench BENCH_ARGS='-k minibatch'      7 rounds: about 15 s

Figures: µs per call, medians over the rounds.  What is neither products nor Adam is NumPy's
per-call overhead on small arrays and Python (docs/speed.md, "The minibatch step").
"""

import time
import timeit

import numpy as np
import pytest
from gymnasium import spaces

from minipg.options import load_presets
from minipg.policies import CategoricalPolicy
from minipg.ppo import ppo_update, unchecked_clipped_objective

from . import blocks

ROUNDS = 7


class AcrobotSpaces:
    single_observation_space = spaces.Box(-np.inf, np.inf, (6,))
    single_action_space = spaces.Discrete(3)


def microseconds(function, number):
    """CPU µs per call of function(): the best of 3 repetitions of `number` calls."""
    return min(timeit.Timer(function, timer=time.process_time).repeat(3, number)) / number * 1e6


@pytest.mark.benchmark(group="minibatch step")
def test_minibatch_step(benchmark, bench):
    options = load_presets()["Acrobot-v1"]
    size = options.minibatch_size
    T, E = (10, 13) if bench.toy else (options.T, options.num_envs)
    policy = CategoricalPolicy(AcrobotSpaces(), lr=options.lr, hidden=options.hidden, seed=0)
    rng = np.random.default_rng(0)
    states, actions = rng.normal(size=(T, E, 6)), rng.integers(0, 3, (T, E))
    advantages, mask = rng.normal(size=(T, E)), np.ones((T, E), bool)
    batch = slice(0, size)
    flat_states, flat_actions = states.reshape(-1, 6)[batch], actions.reshape(-1)[batch]
    old_log_probs = policy.pi(flat_states).log_prob(flat_actions) + 0.01
    flat_advantages = advantages.reshape(-1)[batch]
    grads = [np.full_like(param, 1e-3) for param in policy.parameters()]
    W = policy.net.weights
    x, y = np.maximum(flat_states @ W[0], 0), np.maximum(np.maximum(flat_states @ W[0], 0) @ W[1], 0)
    g = rng.normal(size=(size, 3))
    minibatches = -(-T * E // size)
    number = 20 if bench.toy else 300

    def products():
        flat_states @ W[0], x @ W[1], y @ W[2]
        y.T @ g, x.T @ (g @ W[2].T), flat_states.T @ (g @ W[2].T @ W[1].T)

    figures = {"minibatch_step_us": [], "policy_step_us": [], "products_us": [], "adam_us": []}

    def one_round():
        figures["minibatch_step_us"].append(microseconds(
            lambda: ppo_update(policy, states, actions, advantages, mask, options.clip_ratio, 1, size), 1)
            / minibatches)
        figures["policy_step_us"].append(microseconds(lambda: policy.step(
            flat_states, flat_actions, unchecked_clipped_objective(old_log_probs, flat_advantages, 0.2),
            checked=True), number))
        figures["products_us"].append(microseconds(products, number))
        figures["adam_us"].append(microseconds(lambda: policy.opt.step(grads), number))

    rounds = 2 if bench.toy else ROUNDS
    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=0)
    if benchmark.disabled:
        return
    bench.record(benchmark, "minibatch", "Acrobot-v1", {
        "env_id": "Acrobot-v1", "hidden": list(options.hidden), "minibatch_size": size, "samples": T * E,
        "rounds": rounds, **figures, **{f"{key}_median": blocks.median(values) for key, values in figures.items()},
    })
