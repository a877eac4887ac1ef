"""The env-alone floor (minipg/tools/floor.py): what it steps, how it resets, how it scales."""

import pytest

from minipg.envs import make_env
from minipg.reinforce import epoch_seed
from minipg.tools import floor


class Recording:
    """A vector env that records the seeds of its resets and the actions of its steps."""

    def __init__(self, env):
        self.env, self.resets, self.actions = env, [], []

    def reset(self, seed=None):
        self.resets.append((len(self.actions), seed))
        return self.env.reset(seed=seed)

    def step(self, action):
        self.actions.append(action.copy())
        return self.env.step(action)

    def __getattr__(self, name):
        return getattr(self.env, name)


@pytest.fixture
def recorded(monkeypatch):
    """The envs env_floor_seconds makes, recording."""
    made = []

    def make(*args):
        made.append(Recording(make_env(*args)))
        return made[-1]

    monkeypatch.setattr(floor, "make_env", make)
    return made


def test_it_steps_the_budget_resetting_every_T_calls_as_training_does(recorded):
    seconds = floor.env_floor_seconds("Pendulum-v1", 3, 100, seed=4, T=7)
    env = recorded[0]
    assert seconds > 0 and len(env.actions) == 34  # ⌈100 / 3⌉ calls of 3 env steps
    assert env.resets == [(7 * epoch, epoch_seed(4, epoch)) for epoch in range(5)]
    assert all(action.shape == (3, 1) and env.action_space.contains(action) for action in env.actions)
    assert len({float(action[0, 0]) for action in env.actions}) == 34  # random, not one fixed action


def test_the_actions_come_from_the_seeded_action_space(recorded):
    for seed in (0, 0, 1):
        floor.env_floor_seconds("CartPole-v1", 4, 80, seed=seed)
    first, again, other = (env.actions for env in recorded)
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    assert any((a != b).any() for a, b in zip(first, other, strict=True))
    assert [env.resets for env in recorded] == [[(0, epoch_seed(seed, 0))] for seed in (0, 0, 1)]  # no T: once


def test_a_long_budget_is_measured_on_whole_epochs_of_a_slice_and_scaled(recorded, monkeypatch):
    measured = []
    monkeypatch.setattr(floor, "step_through", lambda env, actions, T, seed: measured.append((len(actions), T)) or 1.5)
    # 1,000 env steps of 2 envs: 500 calls; a slice of 100 env steps is 50 calls, one whole epoch of 30
    assert floor.env_floor_seconds("CartPole-v1", 2, 1000, T=30, slice_steps=100) == pytest.approx(1.5 * 500 / 30)
    assert floor.env_floor_seconds("CartPole-v1", 2, 1000, T=80, slice_steps=100) == pytest.approx(1.5 * 500 / 50)
    assert floor.env_floor_seconds("CartPole-v1", 2, 80, T=30, slice_steps=100) == 1.5  # within the slice
    assert measured == [(30, 30), (50, 80), (40, 30)]


@pytest.mark.parametrize("arguments, message", [
    ({"steps": 0}, "steps must be a positive integer, got 0"),
    ({"steps": 10.0}, "steps must be a positive integer, got 10.0"),
    ({"T": 0}, "T must be a positive integer, got 0"),
    ({"slice_steps": True}, "slice_steps must be a positive integer, got True"),
])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=f"^env_floor_seconds: {message}$"):
        floor.env_floor_seconds("CartPole-v1", 2, **{"steps": 10, **arguments})


def test_an_unknown_env_is_make_envs_one_line():
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'"):
        floor.env_floor_seconds("NoSuchEnv-v0", 2, 10)
