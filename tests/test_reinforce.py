"""The REINFORCE loop: rollouts under both autoreset modes traced by hand on a deterministic
"corridor" env, the update using only real transitions, argument checks, a short CartPole
learning run, and determinism.
"""

import time
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

import minipg
from conftest import exactly, relative_error
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.baselines import make_baseline
from minipg.reinforce import (HISTORY_KEYS, advantages_and_targets, collect_rollout, following_values, reinforce,
                              rollout_buffers)
from minipg.baselines import ValueBaseline, normalize, time_baseline
from minipg.returns import calculate_returns, gae_advantages

NEXT_STEP, SAME_STEP = AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP


class Corridor(VectorEnv):
    """E corridors; env e's episodes last exactly lengths[e] steps, whatever the actions.

    observation: [k], the number of steps taken in the current episode (0 after a reset);
    reward of the k-th step of an episode: k, so an episode of length L returns L(L+1)/2 and a
    return leaking across an episode boundary would show.  Even-numbered envs end their
    episodes by termination, odd-numbered ones by truncation (both end an episode).

    Autoreset, chosen per instance in metadata["autoreset_mode"]:
    NEXT_STEP: the step after an episode ends resets it: observation [0], reward 0, not done.
    SAME_STEP: the step that ends an episode already returns the next episode's observation [0].
    """

    def __init__(self, lengths, autoreset_mode, action_space=spaces.Discrete(2)):
        self.lengths = np.asarray(lengths)
        self.num_envs = len(lengths)
        self.autoreset_mode = autoreset_mode  # how this env behaves...
        self.metadata = {"autoreset_mode": autoreset_mode}  # ...and what it declares
        self.single_observation_space = spaces.Box(0.0, np.inf, shape=(1,), dtype=np.float32)
        self.single_action_space = action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.terminates = np.arange(self.num_envs) % 2 == 0
        self.steps = np.zeros(self.num_envs, dtype=np.int64)
        self.ended = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed=None, options=None):
        self.steps[:] = 0
        self.ended[:] = False
        return self._observations(), {}

    def step(self, actions):
        assert self.action_space.contains(np.asarray(actions, dtype=self.action_space.dtype))
        if self.autoreset_mode == NEXT_STEP:
            resetting = self.ended  # episodes that ended on the previous step restart now
            self.steps = np.where(resetting, 0, self.steps + 1)
            ended = ~resetting & (self.steps == self.lengths)
            rewards = self.steps.astype(np.float64)  # 0 on a reset step
            observations = self._observations()
            self.ended = ended
            info = {}
        else:
            self.steps += 1
            ended = self.steps == self.lengths
            rewards = self.steps.astype(np.float64)
            # as gymnasium's SAME_STEP envs: the ended episodes' last observations, in info
            final = np.full(self.num_envs, None, dtype=object)
            for e in np.flatnonzero(ended):
                final[e] = self._observations()[e]
            info = {"final_obs": final, "_final_obs": ended} if ended.any() else {}
            self.steps[ended] = 0
            observations = self._observations()
        return observations, rewards, ended & self.terminates, ended & ~self.terminates, info

    def _observations(self):
        return self.steps[:, None].astype(np.float32)


# ----------------------------------------------------------- the hand-traced rollout
#
# Four corridors of lengths 2, 3, 7 and 8 for T = 7 steps.  Per env (one row each, transposed
# to (T, E) below), "|" marking where an episode ends:
#
# SAME_STEP                              NEXT_STEP (· = reset step, masked out)
#   L=2  rewards 1 2|1 2|1 2|1             1 2|· 1 2|· 1
#   L=3  rewards 1 2 3|1 2 3|1             1 2 3|· 1 2 3|
#   L=7  rewards 1 2 3 4 5 6 7|            1 2 3 4 5 6 7|
#   L=8  rewards 1 2 3 4 5 6 7  (cut)      1 2 3 4 5 6 7  (cut)
#
# SAME_STEP: 6 episodes, returns 3,3,3,6,6,28 → mean 49/6; Σ rewards = 10+13+28+28 = 79.
# NEXT_STEP: 5 episodes, returns 3,3,6,6,28   → mean 46/5; Σ rewards = 7+12+28+28 = 75.
# avg_reward (the post's metric) = Σ rewards / Σ dones, the unfinished L=8 episode included.

LENGTHS = (2, 3, 7, 8)
T = 7


def per_env(*rows, dtype=np.float64):
    """Rows written one env at a time → a (T, E) array."""
    return np.array(rows, dtype=dtype).T


def ends_at(*times):
    row = np.zeros(T, dtype=bool)
    row[list(times)] = True
    return row


EXPECTED = {
    SAME_STEP: {
        "states": per_env([0, 1, 0, 1, 0, 1, 0], [0, 1, 2, 0, 1, 2, 0], range(7), range(7)),
        "rewards": per_env([1, 2, 1, 2, 1, 2, 1], [1, 2, 3, 1, 2, 3, 1], range(1, 8), range(1, 8)),
        "dones": per_env(ends_at(1, 3, 5), ends_at(2, 5), ends_at(6), ends_at(), dtype=bool),
        "valid": np.ones((T, len(LENGTHS)), dtype=bool),
        # undiscounted reward-to-go (γ = 1), stopping at each episode end
        "returns": per_env([3, 2, 3, 2, 3, 2, 1], [6, 5, 3, 6, 5, 3, 1],
                           [28, 27, 25, 22, 18, 13, 7], [28, 27, 25, 22, 18, 13, 7]),
        "episodes": 6,
        "mean_return": 49 / 6,
        "avg_reward": 79 / 6,
    },
    NEXT_STEP: {
        # a reset step sees the terminal observation of the episode that just ended (L)
        "states": per_env([0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 3, 0, 1, 2], range(7), range(7)),
        "rewards": per_env([1, 2, 0, 1, 2, 0, 1], [1, 2, 3, 0, 1, 2, 3], range(1, 8), range(1, 8)),
        "dones": per_env(ends_at(1, 4), ends_at(2, 6), ends_at(6), ends_at(), dtype=bool),
        "valid": per_env(~ends_at(2, 5), ~ends_at(3), ~ends_at(), ~ends_at(), dtype=bool),
        # on valid steps: the reward-to-go within the episode (reset steps are masked anyway)
        "returns": per_env([3, 2, 3, 3, 2, 1, 1], [6, 5, 3, 6, 6, 5, 3],
                           [28, 27, 25, 22, 18, 13, 7], [28, 27, 25, 22, 18, 13, 7]),
        "episodes": 5,
        "mean_return": 46 / 5,
        "avg_reward": 75 / 5,
    },
}
MODES = [NEXT_STEP, SAME_STEP]
MODE_IDS = ["next_step", "same_step"]


def make_agent(env, seed=0):
    return CategoricalPolicy(env, lr=0.01, seed=seed)


def hand_rollout(env, agent):
    """One rollout of T steps from a reset, as reinforce's first epoch does it."""
    buffers = rollout_buffers(env, agent, T)
    observations, _ = env.reset(seed=0)
    collect_rollout(env, agent, buffers, observations)
    return buffers


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_rollout_buffers_match_hand_trace(mode):
    """collect_rollout records the states, rewards, dones (terminated or truncated) and valid
    steps traced by hand above."""
    env = Corridor(LENGTHS, mode)
    buffers = hand_rollout(env, make_agent(env))
    for key in ("states", "rewards", "dones", "valid"):
        expected = EXPECTED[mode][key]
        actual = buffers[key][..., 0] if key == "states" else buffers[key]
        np.testing.assert_array_equal(actual, expected, err_msg=key)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_returns_do_not_cross_episode_boundaries(mode):
    """With γ = 1 on the recorded rollout, each valid step's return is the reward-to-go of its
    own episode (cut at the rollout's end), never including the next episode's rewards."""
    env = Corridor(LENGTHS, mode)
    buffers = hand_rollout(env, make_agent(env))
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma=1.0)
    valid = EXPECTED[mode]["valid"]
    np.testing.assert_array_equal(returns[valid], EXPECTED[mode]["returns"][valid])


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_history_matches_hand_count(mode):
    """Every epoch resets the envs, so both epochs see the hand-traced rollout: its episode
    count, mean finished-episode return and avg_reward = Σ rewards / Σ dones."""
    env = Corridor(LENGTHS, mode)
    epochs = 2
    history = reinforce(env, make_agent(env), gamma=0.9, epochs=epochs, T=T, seed=0)
    expected = EXPECTED[mode]
    assert set(history) == set(HISTORY_KEYS)
    assert all(len(values) == epochs for values in history.values())
    assert history["episodes"] == [expected["episodes"]] * epochs
    np.testing.assert_allclose(history["mean_return"], expected["mean_return"], rtol=1e-15)
    np.testing.assert_allclose(history["avg_reward"], expected["avg_reward"], rtol=1e-15)
    np.testing.assert_allclose(
        history["avg_reward"], expected["rewards"].sum() / expected["dones"].sum(), rtol=1e-15
    )
    assert history["env_steps"] == [T * len(LENGTHS) * (epoch + 1) for epoch in range(epochs)]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_update_uses_only_valid_transitions(mode):
    """reinforce's loss and parameter update equal those of a twin agent updated by hand on the
    valid transitions alone (hand-traced mask), so NEXT_STEP reset steps contribute nothing.

    The twin has the same seed, so it samples the same actions as the agent in reinforce.
    """
    gamma = 0.9
    env = Corridor(LENGTHS, mode)
    agent, twin = make_agent(env, seed=1), make_agent(env, seed=1)
    history = reinforce(env, agent, gamma=gamma, epochs=1, T=T, seed=0)

    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    valid = EXPECTED[mode]["valid"]
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    # The valid transitions only, as an (N, 1) batch with no mask.
    transitions = (buffers["states"][valid][:, None], buffers["actions"][valid][:, None], returns[valid][:, None])
    stats = twin.update(*transitions)

    assert relative_error(history["loss"][0], stats["loss"]) <= 1e-12
    assert relative_error(history["entropy"][0], stats["entropy"]) <= 1e-12
    for param, twin_param in zip(agent.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_time_baseline_normalization_and_clipping_reach_the_update(mode):
    """baseline="time", normalize_advantages and max_grad_norm: reinforce's update is a twin's
    update on normalize(G − b_time) over the valid steps, clipped to the same norm."""
    gamma, max_grad_norm = 0.9, 1e-3
    env = Corridor(LENGTHS, mode)
    agent, twin = make_agent(env, seed=1), make_agent(env, seed=1)
    history = reinforce(env, agent, gamma=gamma, epochs=1, T=T, seed=0, baseline="time", normalize_advantages=True,
                        max_grad_norm=max_grad_norm)

    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    valid = buffers["valid"]
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    advantages = normalize(returns - time_baseline(returns, valid), valid)
    stats = twin.update(buffers["states"], buffers["actions"], advantages, mask=valid, max_grad_norm=max_grad_norm)
    assert stats["grad_norm"] > max_grad_norm  # so the clipping mattered
    # The loss (before clipping) scales with the advantages; Adam's first moment, (1 − β₁)·g,
    # holds the clipped gradient; the parameters follow from both.
    assert relative_error(history["loss"][0], stats["loss"]) <= 1e-12
    for moment, twin_moment in zip(agent.opt.m, twin.opt.m):
        assert relative_error(moment, twin_moment) <= 1e-12
    for param, twin_param in zip(agent.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_value_baseline_is_built_subtracted_then_fitted(mode):
    """baseline="value": reinforce builds V_φ(s, t) (with the time feature) from the agent's
    generator, weights log π by A = G − V computed before V is fitted to G, then updates: as a
    twin does by hand in that order."""
    gamma = 0.9
    env = Corridor(LENGTHS, mode)
    agent, twin = make_agent(env, seed=1), make_agent(env, seed=1)
    reinforce(env, agent, gamma=gamma, epochs=1, T=T, seed=0, baseline="value")

    baseline = make_baseline("value", twin, gamma)
    assert baseline.time_feature
    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    advantages = returns - baseline(buffers["states"])
    baseline.fit(buffers["states"], returns, buffers["valid"])
    twin.update(buffers["states"], buffers["actions"], advantages, mask=buffers["valid"])
    for param, twin_param in zip(agent.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12
    assert agent.rng.bit_generator.state == twin.rng.bit_generator.state  # the fit drew its minibatches


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_gae_lambda_one_without_bootstrap_is_the_value_baseline(mode):
    """GAE(1) with V' = 0 at every end telescopes to A = G − V and the λ-return target to G:
    the same run as baseline="value" without GAE (value fit included), up to rounding."""
    runs = []
    for gae_lambda in (None, 1.0):
        env = Corridor(LENGTHS, mode)
        agent = make_agent(env, seed=2)
        history = reinforce(env, agent, gamma=0.9, epochs=3, T=T, seed=0, baseline="value",
                            gae_lambda=gae_lambda)
        runs.append((history, agent.parameters()))
    (history, params), (history_gae, params_gae) = runs
    np.testing.assert_allclose(history_gae["loss"], history["loss"], rtol=1e-9)
    for param, param_gae in zip(params, params_gae):
        assert relative_error(param_gae, param) <= 1e-9


def fixed_value_baseline(gamma):
    """A ValueBaseline on the state alone with V(s) = 0.1·s/(1 − γ), never refitted (steps = 0)."""
    baseline = ValueBaseline(1, gamma, np.random.default_rng(0), hidden=(), steps=0, time_feature=False)
    weight, bias = baseline.net.params
    weight[:], bias[:] = 0.1, 0.0
    return baseline


@pytest.mark.parametrize("gae_lambda, normalize_advantages", [(1.0, False), (0.5, False), (0.5, True)])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_gae_with_bootstrap_updates_on_hand_made_advantages(mode, gae_lambda, normalize_advantages):
    """With a fixed V(s) = 0.2·s (γ = 0.5), reinforce's update is a twin's update on GAE(λ)
    advantages whose V' is written out by hand for the corridor: after step t the episode has
    taken states[t] + 1 steps, so that is the observation V' sees after a time-limit cut (odd
    envs) and after the rollout's last step; V' = 0 after a termination (even envs) and
    V(s_{t+1}) inside an episode."""
    gamma = 0.5
    env = Corridor(LENGTHS, mode)
    agent, twin = make_agent(env, seed=1), make_agent(env, seed=1)
    history = reinforce(env, agent, gamma=gamma, epochs=1, T=T, seed=0, baseline=fixed_value_baseline(gamma),
                        gae_lambda=gae_lambda, bootstrap=True, normalize_advantages=normalize_advantages)

    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    steps, dones, valid = buffers["states"][..., 0], buffers["dones"], buffers["valid"]
    terminates = np.arange(len(LENGTHS)) % 2 == 0
    values = 0.2 * steps
    next_values = np.append(values[1:], np.zeros((1, len(LENGTHS))), axis=0)
    cut = (dones & ~terminates) | (np.arange(T) == T - 1)[:, None]
    next_values = np.where(cut, 0.2 * (steps + 1), next_values)
    next_values[dones & terminates] = 0.0
    advantages = gae_advantages(buffers["rewards"], values, next_values, dones, gamma, gae_lambda)
    if normalize_advantages:
        advantages = normalize(advantages, valid)
    stats = twin.update(buffers["states"], buffers["actions"], advantages, mask=valid)

    assert relative_error(history["loss"][0], stats["loss"]) <= 1e-12
    for param, twin_param in zip(agent.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


def test_bootstrap_builds_a_value_baseline_without_the_time_feature():
    """baseline="value" with bootstrap: V of a state alone is needed at the cuts, so reinforce
    builds V_φ(s) without the time feature (a ValueBaseline with it is refused, see below)."""
    env = Corridor(LENGTHS, SAME_STEP)
    history = reinforce(env, make_agent(env), epochs=2, T=T, seed=0, baseline="value", gae_lambda=0.9,
                        bootstrap=True)
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2


def test_resumed_run_continues_the_uninterrupted_run():
    """3 epochs, then reinforce(start_epoch=3, history=...) up to 5: the same history (env_steps
    keep counting from its last entry) and parameters as 5 epochs in one go."""
    env = Corridor(LENGTHS, NEXT_STEP)
    agent, resumed = make_agent(env, seed=4), make_agent(env, seed=4)
    history = reinforce(env, agent, epochs=5, T=T, seed=0)
    resumed_history = reinforce(env, resumed, epochs=3, T=T, seed=0)
    resumed_history = reinforce(env, resumed, epochs=5, T=T, seed=0, start_epoch=3, history=resumed_history)
    for key in HISTORY_KEYS:
        if key != "seconds":  # wall time
            assert resumed_history[key] == history[key], key
    assert resumed_history["env_steps"] == [T * len(LENGTHS) * k for k in range(1, 6)]
    for param, resumed_param in zip(agent.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(resumed_param, param)


def test_gaussian_policy_rollout_on_box_actions():
    """The loop also runs a DiagonalGaussianPolicy (actions buffer (T, E, M) floats) and counts
    the same episodes, since the corridor ignores actions."""
    env = Corridor(LENGTHS, NEXT_STEP, action_space=spaces.Box(-np.inf, np.inf, shape=(2,)))
    agent = DiagonalGaussianPolicy(env, hidden=(5,), seed=0)
    buffers = rollout_buffers(env, agent, T)
    assert buffers["actions"].shape == (T, len(LENGTHS), 2)
    history = reinforce(env, agent, epochs=1, T=T, seed=0)
    assert history["episodes"] == [EXPECTED[NEXT_STEP]["episodes"]]
    np.testing.assert_allclose(history["mean_return"], EXPECTED[NEXT_STEP]["mean_return"], rtol=1e-15)


@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-np.inf, np.inf, shape=(2,))],
                         ids=["discrete", "box"])
def test_rollout_actions_are_those_of_step_by_step_sampling(action_space):
    """The rollout draws all its noise at once; the actions it records must be exactly those a
    twin agent (same seed) picks calling act(states_t) step by step, and both generators end
    in the same state, so the next epoch also continues alike."""
    env = Corridor(LENGTHS, NEXT_STEP, action_space=action_space)
    policy_class = CategoricalPolicy if isinstance(action_space, spaces.Discrete) else DiagonalGaussianPolicy
    agent, twin = policy_class(env, seed=3, hidden=(5,)), policy_class(env, seed=3, hidden=(5,))
    buffers = rollout_buffers(env, agent, T)
    collect_rollout(env, agent, buffers, env.reset(seed=0)[0])
    for t in range(T):
        np.testing.assert_array_equal(buffers["actions"][t], twin.act(buffers["states"][t]))
    assert agent.rng.bit_generator.state == twin.rng.bit_generator.state


def test_rollout_sets_every_valid_entry_whatever_the_buffers_held():
    """The buffers are reused from epoch to epoch.  A NEXT_STEP rollout with one-step episodes
    masks out every other step from step 1 on (its reset steps); a SAME_STEP rollout into the
    same buffers must mark every step valid again, and a NEXT_STEP one re-derive its mask."""
    lengths = (1, 3)
    next_step_env, same_step_env = Corridor(lengths, NEXT_STEP), Corridor(lengths, SAME_STEP)
    agent = make_agent(same_step_env)
    buffers = rollout_buffers(same_step_env, agent, T)
    next_step_valid = per_env([1, 0, 1, 0, 1, 0, 1], [1, 1, 1, 0, 1, 1, 1], dtype=bool)  # 0: a reset step
    for env, expected in ((next_step_env, next_step_valid), (same_step_env, np.ones((T, 2), dtype=bool)),
                          (next_step_env, next_step_valid)):
        observations, _ = env.reset(seed=0)
        collect_rollout(env, agent, buffers, observations)
        np.testing.assert_array_equal(buffers["valid"], expected)


def test_env_without_declared_mode_is_treated_as_next_step():
    """gymnasium's default autoreset mode is NEXT_STEP, so an env that declares none gets masking."""
    env = Corridor(LENGTHS, NEXT_STEP)
    del env.metadata["autoreset_mode"]  # it still resets on the next step, but says nothing
    buffers = hand_rollout(env, make_agent(env))
    np.testing.assert_array_equal(buffers["valid"], EXPECTED[NEXT_STEP]["valid"])


def test_callback_sees_each_epoch():
    """callback(epoch, history) runs after every epoch with that epoch already recorded."""
    env = Corridor(LENGTHS, SAME_STEP)
    seen = []
    reinforce(env, make_agent(env), epochs=3, T=T, callback=lambda epoch, h: seen.append((epoch, len(h["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("lr_decay", [False, True], ids=["default", "lr_decay"])
def test_learning_rate_schedule(lr_decay):
    """By default (the post) Adam's rate stays lr; with lr_decay, epoch k of K steps with
    lr·(1 − k/K), falling linearly towards 0."""
    env = Corridor(LENGTHS, SAME_STEP)
    agent = make_agent(env)
    rates = []
    kwargs = {"lr_decay": True} if lr_decay else {}
    reinforce(env, agent, epochs=4, T=T, callback=lambda epoch, h: rates.append(agent.opt.lr), **kwargs)
    expected = [0.01, 0.0075, 0.005, 0.0025] if lr_decay else [0.01] * 4
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert agent.lr == 0.01


def test_should_stop_drops_the_unfinished_epoch_and_returns_the_history():
    """should_stop is polled after every env step; when it says stop during epoch 3, reinforce
    returns the history of the 2 complete epochs and makes no further update."""
    env = Corridor(LENGTHS, SAME_STEP)
    agent = make_agent(env)
    polls = 0

    def stop_at_step_3_of_epoch_3():
        nonlocal polls
        polls += 1
        return polls == 2 * T + 3

    history = reinforce(env, agent, epochs=5, T=T, should_stop=stop_at_step_3_of_epoch_3)
    assert polls == 2 * T + 3
    assert all(len(values) == 2 for values in history.values())
    assert agent.opt.t == 2


def test_history_seconds_are_each_epochs_wall_time():
    """seconds[k] is the wall time of epoch k: positive, and together at most the whole call."""
    env = Corridor(LENGTHS, SAME_STEP)
    start = time.perf_counter()
    history = reinforce(env, make_agent(env), epochs=3, T=T, seed=0)
    elapsed = time.perf_counter() - start
    assert all(seconds > 0 for seconds in history["seconds"])
    assert sum(history["seconds"]) <= elapsed


def test_epoch_without_a_finished_episode_reports_nan_quietly():
    """No episode ends within T steps: episodes = 0, avg_reward and mean_return NaN (not inf),
    and no NumPy warning about an empty mean or a division by zero."""
    env = Corridor((T + 5, T + 9), SAME_STEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = reinforce(env, make_agent(env), epochs=1, T=T, seed=0)
    assert history["episodes"] == [0]
    assert np.isnan(history["avg_reward"][0]) and np.isnan(history["mean_return"][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-1.0, 1.0, shape=(2,))],
                         ids=["discrete", "box"])
def test_rollout_buffers_are_in_the_agents_dtype(action_space, dtype):
    """Float buffers take the agent's dtype (a float32 agent learns on float32 arrays); discrete
    actions are int64; dones, terminated and valid are bools; shapes are (T, E, ...)."""
    env = Corridor(LENGTHS, SAME_STEP, action_space=action_space)
    policy_class = CategoricalPolicy if isinstance(action_space, spaces.Discrete) else DiagonalGaussianPolicy
    buffers = rollout_buffers(env, policy_class(env, seed=0, hidden=(5,), dtype=dtype), T)
    E = len(LENGTHS)
    expected = {"states": ((T, E, 1), dtype), "rewards": ((T, E), dtype), "dones": ((T, E), bool),
                "terminated": ((T, E), bool), "valid": ((T, E), bool),
                "actions": ((T, E), np.int64) if isinstance(action_space, spaces.Discrete) else ((T, E, 2), dtype)}
    assert {key: (buffers[key].shape, buffers[key].dtype) for key in expected} == expected


def test_default_run_is_100_epochs_of_1000_steps():
    """reinforce(env, agent) runs the post's T = 1000 steps per epoch over 100 epochs (seen in
    the env steps of epoch 1 and, with lr_decay, in epoch 2's rate lr·(1 − 1/100)); stopped
    early in epoch 3."""
    env = Corridor((3,), SAME_STEP)
    agent = make_agent(env)
    seen = []
    history = reinforce(env, agent, lr_decay=True, callback=lambda epoch, h: seen.append(agent.opt.lr),
                        should_stop=lambda: len(seen) == 2)
    assert history["env_steps"] == [1000, 2000]
    np.testing.assert_allclose(seen, [0.01, 0.01 * 0.99], rtol=1e-12)


# ------------------------------------------------------------------------ bad arguments


def test_disabled_autoreset_is_rejected():
    """Without autoreset, finished envs would keep stepping past their end: refuse to run."""
    env = Corridor(LENGTHS, AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="reinforce needs a NEXT_STEP or SAME_STEP autoreset vector env, got"):
        reinforce(env, make_agent(env), epochs=1, T=T)


@pytest.mark.parametrize(
    "kwargs",
    [{"gamma": -0.1}, {"gamma": 1.5}, {"gamma": np.nan},
     {"epochs": 0}, {"epochs": -1}, {"epochs": 2.0}, {"epochs": True},
     {"T": 0}, {"T": 3.5}, {"T": False}],
    ids=lambda kwargs: "-".join(f"{k}={v}" for k, v in kwargs.items()),
)
def test_bad_arguments_are_rejected(kwargs):
    """γ must lie in [0, 1]; epochs and T must be positive integers (not floats or bools)."""
    env = Corridor(LENGTHS, SAME_STEP)
    (name, value), = kwargs.items()
    message = "gamma must lie in \\[0, 1\\]" if name == "gamma" else f"{name} must be a positive integer"
    with pytest.raises(ValueError, match=f"{message}, got {name}={value!r}"):
        reinforce(env, make_agent(env), **{"epochs": 1, "T": T, **kwargs})


@pytest.mark.parametrize("kwargs", [{"gamma": 0.0}, {"gamma": 1.0},
                                    {"baseline": "value", "gae_lambda": 0.0},
                                    {"baseline": "value", "gae_lambda": 1.0}],
                         ids=lambda kwargs: "-".join(f"{k}={v}" for k, v in kwargs.items()))
def test_closed_ranges_accept_their_ends(kwargs):
    """γ and λ lie in the closed interval [0, 1]: both ends train."""
    env = Corridor(LENGTHS, SAME_STEP)
    history = reinforce(env, make_agent(env), epochs=1, T=T, **kwargs)
    assert np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"baseline": "value", "gae_lambda": -0.1}, "gae_lambda must lie in [0, 1], got gae_lambda=-0.1"),
    ({"baseline": "value", "gae_lambda": 1.5}, "gae_lambda must lie in [0, 1], got gae_lambda=1.5"),
    ({"baseline": "time", "gae_lambda": 0.9}, "gae_lambda needs the value baseline (baseline='value'), got 'time'"),
    ({"baseline": "value", "bootstrap": True},
     "bootstrap needs gae_lambda (1.0 for Monte-Carlo returns with bootstrapped cuts)"),
    ({"baseline": "value", "terminal_value": -10.0},
     "terminal_value needs gae_lambda (it is V after a termination, in GAE's δ)"),
    ({"baseline": "value", "gae_lambda": 0.9, "terminal_value": float("nan")},
     "terminal_value must be a finite number, got terminal_value=nan"),
    ({"baseline": ValueBaseline(1, 0.99, np.random.default_rng(0)), "gae_lambda": 1.0, "bootstrap": True},
     "bootstrap needs a ValueBaseline without the time feature (time_feature=False)"),
], ids=["lambda-negative", "lambda-above-1", "gae-time-baseline", "bootstrap-without-gae",
        "terminal-value-without-gae", "terminal-value-nan", "bootstrap-time-feature"])
def test_gae_and_bootstrap_arguments_are_checked(kwargs, message):
    env = Corridor(LENGTHS, SAME_STEP)
    with pytest.raises(ValueError, match=exactly(message)):
        reinforce(env, make_agent(env), epochs=1, T=T, **kwargs)


# --------------------------------------------------------------- CartPole: learning, determinism


def test_cartpole_learns():
    """The post's setup (linear softmax policy, lr 0.1) on 16 CartPole-v0 copies: after 8
    updates of T = 500 steps the mean episode return is clearly above the first epoch's
    (≈21 → ≈50 with these seeds; we ask for 1.5×)."""
    env = minipg.make_env("CartPole-v0", 16)
    agent = CategoricalPolicy(env, lr=0.1, seed=0)
    history = reinforce(env, agent, gamma=0.99, epochs=8, T=500, seed=0)
    returns = history["mean_return"]
    assert np.isfinite(returns).all()
    assert returns[-1] >= 1.5 * returns[0]


def short_cartpole_run(seed):
    env = minipg.make_env("CartPole-v0", 4)
    agent = CategoricalPolicy(env, lr=0.1, seed=seed)
    history = reinforce(env, agent, epochs=3, T=100, seed=seed)
    del history["seconds"]  # wall time, the one thing allowed to differ
    return history, agent.parameters()


def test_same_seed_is_bitwise_reproducible():
    """Same seed → identical history (except wall time) and identical parameters, bit for bit."""
    history_a, params_a = short_cartpole_run(seed=7)
    history_b, params_b = short_cartpole_run(seed=7)
    assert history_a.keys() == history_b.keys()
    for key in history_a:
        np.testing.assert_array_equal(history_a[key], history_b[key], err_msg=key)
    for a, b in zip(params_a, params_b):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_differ():
    """Another seed → another initialization and other rollouts."""
    history_a, params_a = short_cartpole_run(seed=7)
    history_b, params_b = short_cartpole_run(seed=8)
    assert history_a["loss"] != history_b["loss"]
    assert not np.array_equal(params_a[0], params_b[0])


class StateSumValue:
    """A stand-in value function: V(s) = 10 · s[0]."""

    def of_states(self, states):
        return 10.0 * np.asarray(states)[..., 0]


def test_following_values_bootstrap_cuts_but_not_terminations():
    """V'_t is V(s_{t+1}) inside an episode, V of the last observation after a time-limit cut
    (NEXT_STEP: states[t + 1]; SAME_STEP: final_observations) and after the rollout's last step,
    and 0 after a termination; without bootstrap, 0 after every end and the last step."""
    states = np.arange(4 * 2, dtype=float).reshape(4, 2, 1)
    values = 10.0 * states[..., 0]  # V(s_t) = 10 · s_t
    dones = np.array([[False, True], [True, False], [False, False], [False, False]])
    terminated = np.array([[False, True], [False, False], [False, False], [False, False]])  # env 0 at t=1: a cut
    buffers = {"states": states, "dones": dones, "terminated": terminated,
               "last_observations": np.array([[100.0], [200.0]]), "final_observations": {}}
    bootstrapped = following_values(values, buffers, StateSumValue(), bootstrap=True)
    np.testing.assert_array_equal(bootstrapped, [[20.0, 0.0], [40.0, 50.0], [60.0, 70.0], [1000.0, 2000.0]])
    cut = following_values(values, buffers, StateSumValue(), bootstrap=False)
    np.testing.assert_array_equal(cut, [[20.0, 0.0], [0.0, 50.0], [60.0, 70.0], [0.0, 0.0]])
    # SAME_STEP: states[2, 0] already starts the next episode; the cut episode's last state was kept
    buffers["final_observations"] = {1: (np.array([0]), np.array([[-7.0]]))}
    bootstrapped = following_values(values, buffers, StateSumValue(), bootstrap=True)
    assert bootstrapped[1, 0] == -70.0


@pytest.mark.parametrize("bootstrap", [True, False])
def test_following_values_take_the_terminal_value_after_a_termination_only(bootstrap):
    states = np.arange(3 * 2, dtype=float).reshape(3, 2, 1)
    values = 10.0 * states[..., 0]
    dones = np.array([[True, True], [False, False], [False, False]])
    terminated = np.array([[False, True], [False, False], [False, False]])  # env 0 at t=0: a cut
    buffers = {"states": states, "dones": dones, "terminated": terminated,
               "last_observations": np.array([[100.0], [200.0]]), "final_observations": {}}
    default = following_values(values, buffers, StateSumValue(), bootstrap)
    following = following_values(values, buffers, StateSumValue(), bootstrap, terminal_value=-200.0)
    assert default[0, 1] == 0.0 and following[0, 1] == -200.0
    terminated_mask = np.zeros_like(terminated)
    terminated_mask[0, 1] = True
    np.testing.assert_array_equal(following[~terminated_mask], default[~terminated_mask])


def test_terminal_value_enters_the_advantages_through_delta():
    """A one-step episode that terminates: δ = r + γ·terminal_value − V(s) (λ = 0)."""
    env = Corridor([1], NEXT_STEP)
    agent = make_agent(env)
    baseline = make_baseline("value", agent, 0.9, bootstrap=True, steps=1, hidden=(3,))
    buffers = rollout_buffers(env, agent, 2)
    collect_rollout(env, agent, buffers, env.reset(seed=0)[0])
    assert buffers["terminated"][0, 0]
    advantages, _ = advantages_and_targets(buffers, 0.9, baseline, False, 0.0, True, terminal_value=-50.0)
    values = baseline(buffers["states"])
    assert advantages[0, 0] == pytest.approx(buffers["rewards"][0, 0] + 0.9 * -50.0 - values[0, 0])
    default, _ = advantages_and_targets(buffers, 0.9, baseline, False, 0.0, True)  # V = 0 after the end
    assert default[0, 0] == pytest.approx(buffers["rewards"][0, 0] - values[0, 0])


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_rollout_keeps_terminations_and_the_last_observations(mode):
    """Corridor ends even envs by termination, odd ones by truncation; SAME_STEP keeps each ended
    episode's last observation [length]."""
    env = Corridor(LENGTHS, mode)
    agent = make_agent(env)
    buffers = rollout_buffers(env, agent, T)
    observations, _ = env.reset(seed=0)
    collect_rollout(env, agent, buffers, observations)
    even = np.arange(len(LENGTHS)) % 2 == 0
    np.testing.assert_array_equal(buffers["terminated"], buffers["dones"] & even)
    assert buffers["last_observations"].shape == (len(LENGTHS), 1)
    if mode == SAME_STEP:
        assert buffers["final_observations"]
        for t, (envs, last) in buffers["final_observations"].items():
            np.testing.assert_array_equal(envs, np.flatnonzero(buffers["dones"][t]))
            np.testing.assert_array_equal(last[:, 0], np.asarray(LENGTHS)[envs])
    else:
        assert buffers["final_observations"] == {}
