"""The solver (solver.py): its rollout traced by hand on the corridor env, each option reaching
the update as a twin computes it by hand, GAE and bootstrapping, the terminal value, the
schedules (and how they continue when a resumed run changes its options), resuming.
"""

import numpy as np
import pytest
from gymnasium import spaces

import minipg
from conftest import exactly, relative_error
from corridor import EXPECTED, LENGTHS, MODE_IDS, MODES, NEXT_STEP, SAME_STEP, T, Corridor, make_policy, per_env
from minipg import Options, OptionsError
from minipg.baselines import ValueBaseline, make_baseline, normalize, time_baseline
from minipg.reinforce import HISTORY_KEYS, new_history, rollout_buffers
from minipg.returns import calculate_returns, gae_advantages
from minipg.solver import (Schedules, SolverState, advantages_and_targets, collect_rollout, following_values, new_state,
                           train)


def options(**fields):
    """Corridor-sized Options (T steps, the corridor's env count)."""
    return Options(num_envs=len(LENGTHS), T=T, **fields)


def hand_rollout(env, policy):
    """One rollout of T steps from a reset, as the solver's first epoch does it."""
    buffers = rollout_buffers(env, policy, T)
    observations, _ = env.reset(seed=0)
    collect_rollout(env, policy, buffers, observations)
    return buffers


# ---------------------------------------------------------------- the rollout
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_rollout_buffers_match_hand_trace(mode):
    """collect_rollout records the states, rewards, dones (terminated or truncated) and valid
    steps traced by hand in corridor.py."""
    env = Corridor(LENGTHS, mode)
    buffers = hand_rollout(env, make_policy(env))
    for key in ("states", "rewards", "dones", "valid"):
        expected = EXPECTED[mode][key]
        actual = buffers[key][..., 0] if key == "states" else buffers[key]
        np.testing.assert_array_equal(actual, expected, err_msg=key)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_returns_do_not_cross_episode_boundaries(mode):
    """With γ = 1 on the recorded rollout, each valid step's return is the reward-to-go of its
    own episode (cut at the rollout's end), never including the next episode's rewards."""
    env = Corridor(LENGTHS, mode)
    buffers = hand_rollout(env, make_policy(env))
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma=1.0)
    valid = EXPECTED[mode]["valid"]
    np.testing.assert_array_equal(returns[valid], EXPECTED[mode]["returns"][valid])


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_rollout_keeps_terminations_and_the_last_observations(mode):
    """Corridor ends even envs by termination, odd ones by truncation; SAME_STEP keeps each ended
    episode's last observation [length]."""
    env = Corridor(LENGTHS, mode)
    buffers = hand_rollout(env, make_policy(env))
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


def test_rollout_sets_every_valid_entry_whatever_the_buffers_held():
    """The buffers are reused from epoch to epoch.  A NEXT_STEP rollout with one-step episodes
    masks out every other step from step 1 on (its reset steps); a SAME_STEP rollout into the
    same buffers must mark every step valid again, and a NEXT_STEP one re-derive its mask."""
    lengths = (1, 3)
    next_step_env, same_step_env = Corridor(lengths, NEXT_STEP), Corridor(lengths, SAME_STEP)
    policy = make_policy(same_step_env)
    buffers = rollout_buffers(same_step_env, policy, T)
    next_step_valid = per_env([1, 0, 1, 0, 1, 0, 1], [1, 1, 1, 0, 1, 1, 1], dtype=bool)  # 0: a reset step
    for env, expected in ((next_step_env, next_step_valid), (same_step_env, np.ones((T, 2), dtype=bool)),
                          (next_step_env, next_step_valid)):
        observations, _ = env.reset(seed=0)
        collect_rollout(env, policy, buffers, observations)
        np.testing.assert_array_equal(buffers["valid"], expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-1.0, 1.0, shape=(2,))],
                         ids=["discrete", "box"])
def test_rollout_buffers_are_in_the_policys_dtype(action_space, dtype):
    """Float buffers take the policy's dtype (a float32 policy learns on float32 arrays); discrete
    actions are int64; dones, terminated and valid are bools; shapes are (T, E, ...)."""
    env = Corridor(LENGTHS, SAME_STEP, action_space=action_space)
    discrete = isinstance(action_space, spaces.Discrete)
    policy_class = minipg.CategoricalPolicy if discrete else minipg.DiagonalGaussianPolicy
    buffers = rollout_buffers(env, policy_class(env, seed=0, hidden=(5,), dtype=dtype), T)
    E = len(LENGTHS)
    expected = {"states": ((T, E, 1), dtype), "rewards": ((T, E), dtype), "dones": ((T, E), bool),
                "terminated": ((T, E), bool), "valid": ((T, E), bool),
                "actions": ((T, E), np.int64) if isinstance(action_space, spaces.Discrete) else ((T, E, 2), dtype)}
    assert {key: (buffers[key].shape, buffers[key].dtype) for key in expected} == expected


# ---------------------------------------------------------------- options reaching the update
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_time_baseline_normalization_and_clipping_reach_the_update(mode):
    """baseline "time", normalize_advantages and max_grad_norm: the solver's update is a twin's
    update on normalize(G − b_time) over the valid steps, clipped to the same norm."""
    gamma, max_grad_norm = 0.9, 1e-3
    env = Corridor(LENGTHS, mode)
    policy, twin = make_policy(env, seed=1), make_policy(env, seed=1)
    history = train(env, policy, options(epochs=1, gamma=gamma, lr=0.01, baseline="time",
                                         normalize_advantages=True, max_grad_norm=max_grad_norm), seed=0)

    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    valid = buffers["valid"]
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    advantages = normalize(returns - time_baseline(returns, valid), valid)
    stats = twin.update(buffers["states"], buffers["actions"], advantages, mask=valid, max_grad_norm=max_grad_norm)
    assert stats["grad_norm"] > max_grad_norm  # so the clipping mattered
    # The loss (before clipping) scales with the advantages; Adam's first moment, (1 − β₁)·g,
    # holds the clipped gradient; the parameters follow from both.
    assert relative_error(history["loss"][0], stats["loss"]) <= 1e-12
    for moment, twin_moment in zip(policy.opt.m, twin.opt.m):
        assert relative_error(moment, twin_moment) <= 1e-12
    for param, twin_param in zip(policy.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_value_baseline_is_built_subtracted_then_fitted(mode):
    """baseline "value": the solver builds V_φ(s, t) (with the time feature) from the policy's
    generator, weights log π by A = G − V computed before V is fitted (value_steps Adam steps)
    to G, then updates: as a twin does by hand in that order."""
    gamma = 0.9
    env = Corridor(LENGTHS, mode)
    policy, twin = make_policy(env, seed=1), make_policy(env, seed=1)
    state = new_state(policy, options(epochs=1, gamma=gamma, lr=0.01, baseline="value", value_steps=3))
    train(env, policy, state.options, seed=0, state=state)

    baseline = make_baseline("value", twin, gamma, T=T)  # T·(1 − γ) < 1: returns scaled by 1/T
    assert baseline.time_feature and baseline.scale == state.baseline.scale == 1 / T
    buffers = hand_rollout(Corridor(LENGTHS, mode), twin)
    returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
    advantages = returns - baseline(buffers["states"])
    baseline.fit(buffers["states"], returns, buffers["valid"], steps=3)
    twin.update(buffers["states"], buffers["actions"], advantages, mask=buffers["valid"])
    for param, twin_param in zip(policy.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12
    assert policy.rng.bit_generator.state == twin.rng.bit_generator.state  # the fit drew its minibatches
    assert baseline.opt.t == 3
    for param, twin_param in zip(state.baseline.net.params, baseline.net.params):
        assert relative_error(param, twin_param) <= 1e-12  # fitted to the same scaled targets


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_gae_lambda_one_without_bootstrap_is_the_value_baseline(mode):
    """GAE(1) with V' = 0 at every end telescopes to A = G − V and the λ-return target to G:
    the same run as baseline "value" without GAE (value fit included), up to rounding."""
    runs = []
    for gae_lambda in (None, 1.0):
        env = Corridor(LENGTHS, mode)
        policy = make_policy(env, seed=2)
        history = train(env, policy, options(epochs=3, gamma=0.9, lr=0.01, baseline="value", gae_lambda=gae_lambda),
                        seed=0)
        runs.append((history, policy.parameters()))
    (history, params), (history_gae, params_gae) = runs
    np.testing.assert_allclose(history_gae["loss"], history["loss"], rtol=1e-9)
    for param, param_gae in zip(params, params_gae):
        assert relative_error(param_gae, param) <= 1e-9


class FixedValue(ValueBaseline):
    """A ValueBaseline on the state alone with V(s) = 0.1·s/(1 − γ), never refitted."""

    def __init__(self, gamma):
        super().__init__(1, gamma, np.random.default_rng(0), hidden=(), time_feature=False)
        weight, bias = self.net.params
        weight[:], bias[:] = 0.1, 0.0

    def fit(self, *args, **kwargs):
        return float("nan")


def fixed_value_state(policy, run_options, gamma):
    """A new run's SolverState whose baseline is FixedValue (new_state would draw a value net's
    initial weights from the policy's generator, which the twin does not)."""
    return SolverState(new_history(policy), FixedValue(gamma), Schedules(0, run_options.lr), run_options, policy)


@pytest.mark.parametrize("gae_lambda, normalize_advantages", [(1.0, False), (0.5, False), (0.5, True)])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_gae_with_bootstrap_updates_on_hand_made_advantages(mode, gae_lambda, normalize_advantages):
    """With a fixed V(s) = 0.2·s (γ = 0.5), the solver's update is a twin's update on GAE(λ)
    advantages whose V' is written out by hand for the corridor: after step t the episode has
    taken states[t] + 1 steps, so that is the observation V' sees after a time-limit cut (odd
    envs) and after the rollout's last step; V' = 0 after a termination (even envs) and
    V(s_{t+1}) inside an episode."""
    gamma = 0.5
    env = Corridor(LENGTHS, mode)
    policy, twin = make_policy(env, seed=1), make_policy(env, seed=1)
    run_options = options(epochs=1, gamma=gamma, lr=0.01, baseline="value", gae_lambda=gae_lambda, bootstrap=True,
                          normalize_advantages=normalize_advantages)
    history = train(env, policy, run_options, seed=0, state=fixed_value_state(policy, run_options, gamma))

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
    for param, twin_param in zip(policy.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


def test_bootstrap_builds_a_value_baseline_without_the_time_feature():
    """baseline "value" with bootstrap: V of a state alone is needed at the cuts, so the solver
    builds V_φ(s) without the time feature."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    run_options = options(epochs=2, baseline="value", gae_lambda=0.9, bootstrap=True)
    state = new_state(policy, run_options)
    assert not state.baseline.time_feature
    history = train(env, policy, run_options, seed=0, state=state)
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2


def test_clipped_passes_reach_ppo_update(monkeypatch):
    """clip_ratio, update_epochs, minibatch_size, max_grad_norm and entropy_coef go to ppo_update
    with the rollout and its (normalized) advantages."""
    import minipg.solver as solver

    calls = []
    real = solver.ppo_update

    def spy(policy, states, actions, advantages, mask, *settings):
        calls.append(settings)
        assert abs(advantages[mask].mean()) < 1e-12 and abs(advantages[mask].std() - 1) < 1e-12
        return real(policy, states, actions, advantages, mask, *settings)

    monkeypatch.setattr(solver, "ppo_update", spy)
    env = Corridor(LENGTHS, SAME_STEP)
    train(env, make_policy(env), options(epochs=2, lr=0.01, clip_ratio=0.3, update_epochs=3, minibatch_size=5,
                                         max_grad_norm=2.0, normalize_advantages=True, entropy_coef=0.05), seed=0)
    assert calls == [(0.3, 3, 5, 2.0, 0.05)] * 2


# ---------------------------------------------------------------- following values, terminal value
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
    policy = make_policy(env)
    baseline = make_baseline("value", policy, 0.9, bootstrap=True, steps=1, hidden=(3,))
    buffers = rollout_buffers(env, policy, 2)
    collect_rollout(env, policy, buffers, env.reset(seed=0)[0])
    assert buffers["terminated"][0, 0]
    run_options = Options(gamma=0.9, baseline="value", gae_lambda=0.0, bootstrap=True)
    advantages, _ = advantages_and_targets(buffers, run_options.replace(terminal_value=-50.0), baseline)
    values = baseline(buffers["states"])
    assert advantages[0, 0] == pytest.approx(buffers["rewards"][0, 0] + 0.9 * -50.0 - values[0, 0])
    default, _ = advantages_and_targets(buffers, run_options, baseline)  # V = 0 after the end
    assert default[0, 0] == pytest.approx(buffers["rewards"][0, 0] - values[0, 0])


# ---------------------------------------------------------------- schedules
def test_learning_rate_schedule():
    """By default Adam's rate stays lr; with lr_decay, epoch k of K steps with lr·(1 − k/K),
    falling linearly towards 0."""
    for lr_decay, expected in ((False, [0.01] * 4), (True, [0.01, 0.0075, 0.005, 0.0025])):
        env = Corridor(LENGTHS, SAME_STEP)
        policy = make_policy(env)
        rates = []
        train(env, policy, options(epochs=4, lr=0.01, lr_decay=lr_decay),
              callback=lambda epoch, h: rates.append(policy.opt.lr))
        np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_log_std_final_caps_log_std_on_a_linear_schedule():
    """log_std_final: after epoch k of K, log σ ≤ log_std_init + (final − init)·(k + 1)/K."""
    env = Corridor(LENGTHS, SAME_STEP, action_space=spaces.Box(-np.inf, np.inf, shape=(2,)))
    policy = minipg.DiagonalGaussianPolicy(env, hidden=(4,), seed=0, log_std_init=0.0, lr=1e-6)
    caps = []
    train(env, policy, options(epochs=4, lr=1e-6, log_std_init=0.0, log_std_final=-2.0),
          callback=lambda epoch, h: caps.append(policy.log_std.max()))
    np.testing.assert_allclose(caps, [-0.5, -1.0, -1.5, -2.0], atol=1e-6)


def test_schedules_start_again_where_a_changed_run_joins():
    """Schedules.rejoined: unchanged options keep the start (a plain resume computes exactly
    what the run would have); a new length or rate starts again at the join from the values
    reached, so nothing jumps and the final values are reached with the new last epoch."""
    old = Options(env="CartPoleSwingUp-v0", epochs=10, lr=0.05, lr_decay=True, log_std_init=0.0, log_std_final=-2.0)
    policy = type("Gaussian", (), {"log_std": np.array([0.3, -0.2])})()
    start = Schedules(0, 0.05, 0.0)
    assert start.rejoined(old, old.replace(num_envs=8, gamma=0.9), 4, policy) is start
    extended = old.replace(epochs=20)
    joined = start.rejoined(old, extended, 10, policy)
    assert joined.epoch == 10
    assert joined.learning_rate(10, extended) == pytest.approx(start.learning_rate(10, old)) == pytest.approx(0.0)
    assert joined.log_std_cap == pytest.approx(-2.0)  # where the cap had got to after epoch 10
    # shortened at epoch 4: continuous at the join, 0 and -2 reached with epoch 6
    shortened = old.replace(epochs=6)
    joined = start.rejoined(old, shortened, 4, policy)
    assert joined.learning_rate(4, shortened) == pytest.approx(start.learning_rate(4, old))
    assert joined.cap(3, shortened) == pytest.approx(start.cap(3, old))
    assert joined.learning_rate(6, shortened) == pytest.approx(0.0)
    assert joined.cap(5, shortened) == pytest.approx(-2.0)
    # a new rate takes effect from the join and decays from there
    faster = old.replace(lr=0.2)
    joined = start.rejoined(old, faster, 5, policy)
    assert joined.learning_rate(5, faster) == 0.2
    assert joined.learning_rate(9, faster) == pytest.approx(0.2 * (1 - 4 / 5))
    # a cap switched on mid-run starts from the largest log σ the policy has
    no_cap = old.replace(log_std_final=None)
    assert start.rejoined(no_cap, old, 5, policy).log_std_cap == pytest.approx(0.3)


def test_a_state_continued_with_new_options_applies_them_from_the_next_epoch():
    """train(state=...) with other options: a new learning rate is Adam's from the first resumed
    epoch, and the schedules continue from where they were."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    first = options(epochs=2, lr=0.01, lr_decay=True)
    state = new_state(policy, first)
    train(env, policy, first, seed=0, state=state)
    rates = []
    train(env, policy, first.replace(epochs=4, lr=0.002), seed=0, state=state,
          callback=lambda epoch, h: rates.append(policy.opt.lr))
    np.testing.assert_allclose(rates, [0.002, 0.001], rtol=1e-12)
    assert state.options.lr == 0.002 and len(state.history["loss"]) == 4


class Enough(Exception):
    """Raised by a callback to interrupt a run."""


def test_interrupted_solver_run_continues_as_the_uninterrupted_run():
    """4 epochs in one go, or interrupted after 2 and continued with the same state and options
    (with the value baseline, GAE, bootstrapping, the clipped passes and both schedules): the
    same history and parameters, bit for bit."""
    run_options = options(epochs=4, lr=0.01, baseline="value", gae_lambda=0.9, bootstrap=True, lr_decay=True,
                          clip_ratio=0.2, update_epochs=2, minibatch_size=7, normalize_advantages=True)
    env = Corridor(LENGTHS, SAME_STEP)
    policy, resumed = make_policy(env, seed=4), make_policy(env, seed=4)
    history = train(env, policy, run_options, seed=0)
    state = new_state(resumed, run_options)

    def stop_after_two(epoch, history):
        if epoch == 1:
            raise Enough
    with pytest.raises(Enough):
        train(env, resumed, run_options, seed=0, state=state, callback=stop_after_two)
    resumed_history = train(env, resumed, run_options, seed=0, state=state)
    for key in HISTORY_KEYS:
        if key != "seconds":
            assert resumed_history[key] == history[key], key
    for param, resumed_param in zip(policy.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(resumed_param, param)


# ---------------------------------------------------------------- options that do not fit
@pytest.mark.parametrize("fields, message", [
    ({"mirror": True}, "mirror needs a Gaussian policy"),
    ({"log_std_final": -1.0}, "log_std_final needs a Gaussian policy"),
])
def test_gaussian_options_need_a_gaussian_policy(fields, message):
    env = Corridor(LENGTHS, SAME_STEP)
    with pytest.raises(OptionsError, match=exactly(message)):
        train(env, make_policy(env), options(epochs=1, **fields))


def test_make_policy_picks_the_policy_from_the_action_space():
    discrete = Corridor(LENGTHS, SAME_STEP)
    box = Corridor(LENGTHS, SAME_STEP, action_space=spaces.Box(-1.0, 1.0, shape=(3,)))
    assert isinstance(minipg.make_policy(discrete, Options()), minipg.CategoricalPolicy)
    gaussian = minipg.make_policy(box, Options(hidden=(4,), log_std_init=-1.0, dtype="float32"), seed=0)
    assert isinstance(gaussian, minipg.DiagonalGaussianPolicy)
    assert gaussian.hidden == (4,) and gaussian.dtype == np.float32 and gaussian.log_std_init == -1.0
    assert gaussian.act_dim == 3 and gaussian.lr == Options().lr
    with pytest.raises(OptionsError, match="mirror needs a Gaussian policy"):
        minipg.make_policy(discrete, Options(mirror=True))
    with pytest.raises(TypeError, match="CategoricalPolicy needs a Discrete action space"):
        minipg.make_policy(box, Options(), kind="categorical")


@pytest.mark.parametrize("action_space, named", [
    (spaces.MultiDiscrete([2, 3]), "MultiDiscrete([2 3])"),
    (spaces.MultiBinary(3), "MultiBinary(3)"),
    (spaces.Box(-1.0, 1.0, shape=(2, 3)), "Box(-1.0, 1.0, (2, 3), float32)"),
])
def test_make_policy_names_an_action_space_no_policy_fits(action_space, named):
    env = Corridor(LENGTHS, SAME_STEP, action_space=action_space)
    with pytest.raises(TypeError, match=exactly(
            f"minipg's policies need a Discrete or a flat Box action space, got {named}")):
        minipg.make_policy(env, Options())


def test_the_value_fit_takes_the_options_steps_even_in_a_continued_state():
    """value_steps is read every epoch: a state made with 3 goes on with the 5 of new options."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    first = options(epochs=1, baseline="value", value_steps=3)
    state = new_state(policy, first)
    assert state.options is first and state.policy is policy
    train(env, policy, first, seed=0, state=state)
    assert state.baseline.opt.t == 3
    train(env, policy, first.replace(epochs=2, value_steps=5), seed=0, state=state)
    assert state.baseline.opt.t == 3 + 5


def test_an_entropy_bonus_reaches_the_one_step_update(monkeypatch):
    from minipg.policies import Policy

    seen, update = [], Policy.update
    monkeypatch.setattr(Policy, "update", lambda self, *args: seen.append(args[-1]) or update(self, *args))
    env = Corridor(LENGTHS, SAME_STEP)
    train(env, make_policy(env), options(epochs=1, lr=0.01, entropy_coef=0.02, normalize_advantages=True), seed=0)
    assert seen == [0.02]


def test_make_policy_gives_a_gaussian_the_mirror_of_its_task():
    from minipg.envs.vector import observation_mirror

    env = minipg.make_env("CartPoleSwingUp-v0", 2)
    mirrored = minipg.make_policy(env, Options(env="CartPoleSwingUp-v0", hidden=(4,), mirror=True), seed=0)
    np.testing.assert_array_equal(mirrored.mirror, observation_mirror("CartPoleSwingUp-v0"))
    assert minipg.make_policy(env, Options(env="CartPoleSwingUp-v0", hidden=(4,)), seed=0).mirror is None
    with pytest.raises(ValueError, match="kind must be 'categorical', 'gaussian' or None, got 'softmax'"):
        minipg.make_policy(env, Options(), kind="softmax")


def test_switching_the_decay_on_mid_run_starts_the_schedule_at_the_join():
    constant = Options(env="CartPoleSwingUp-v0", epochs=10, lr=0.05)
    start = Schedules(0, 0.05, None)  # a categorical policy: no cap
    joined = start.rejoined(constant, constant.replace(lr_decay=True), 4, None)
    assert (joined.epoch, joined.lr) == (4, 0.05)
    assert joined.learning_rate(7, constant.replace(lr_decay=True)) == pytest.approx(0.05 * (1 - 3 / 6))


def test_a_continued_state_switching_the_cap_on_starts_it_at_the_policys_largest_log_std():
    env = Corridor(LENGTHS, SAME_STEP, action_space=spaces.Box(-np.inf, np.inf, shape=(2,)))
    policy = minipg.DiagonalGaussianPolicy(env, hidden=(4,), seed=0, log_std_init=0.0, lr=1e-6)
    first = options(epochs=1, lr=1e-6, log_std_init=0.0)
    state = new_state(policy, first)
    train(env, policy, first, seed=0, state=state)
    policy.log_std[:] = [0.4, -0.1]
    state.continued(first.replace(epochs=3, log_std_final=-2.0))
    assert state.schedules.epoch == 1 and state.schedules.log_std_cap == pytest.approx(0.4)


def test_a_new_run_whose_policy_has_another_rate_than_its_options_is_refused():
    env = Corridor(LENGTHS, SAME_STEP)
    with pytest.raises(OptionsError, match=exactly(
            "the policy was made with lr=0.01 but lr=0.5: make it with make_policy(env, options), or give the "
            "options its rate")):
        train(env, make_policy(env), options(epochs=1, lr=0.5))


def test_the_value_network_has_the_options_hidden_sizes():
    env = Corridor(LENGTHS, SAME_STEP)
    state = new_state(make_policy(env), options(baseline="value", value_hidden=(7,)))
    assert state.baseline.net.sizes == (2, 7, 1)  # the observation, the time feature; one output
    assert new_state(make_policy(env), options(baseline="value")).baseline.net.sizes == (2, 64, 64, 1)


@pytest.mark.parametrize("clip_ratio", [None, 0.2], ids=["one-step", "clipped-passes"])
def test_the_value_fit_beside_the_update_gives_the_same_bits_as_one_thread(clip_ratio):
    """The value fit runs on a second thread beside the policy's update (parallel.beside), both
    drawing on the policy's generator: the fit's minibatches are drawn before the update's
    shuffles, so the run is the same to the bit on one thread or two."""
    passes = {} if clip_ratio is None else {"clip_ratio": clip_ratio, "update_epochs": 2, "minibatch_size": 7}
    run_options = options(epochs=3, lr=0.01, baseline="value", value_steps=4, gae_lambda=0.9, bootstrap=True,
                          **passes)
    runs = []
    for threads in (1, 2):
        env = Corridor(LENGTHS, SAME_STEP)
        policy = make_policy(env, seed=3)
        policy.threads = threads
        state = new_state(policy, run_options)
        history = train(env, policy, run_options, seed=0, state=state)
        runs.append((history, policy, state.baseline))
    (history, policy, baseline), (history2, policy2, baseline2) = runs
    for key in HISTORY_KEYS:
        if key != "seconds":
            assert history2[key] == history[key], key
    for a, b in zip(policy.parameters() + baseline.net.params, policy2.parameters() + baseline2.net.params):
        np.testing.assert_array_equal(a, b)
    assert policy2.rng.bit_generator.state == policy.rng.bit_generator.state
