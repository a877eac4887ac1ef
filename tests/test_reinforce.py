"""The post's REINFORCE loop: its history and update traced by hand on the corridor env under
both autoreset modes, resuming, argument checks, a short CartPole learning run, determinism,
that it stays on one screen, and that the solver with default options is exactly it.
"""

import ast
import inspect
import time
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import minipg
from conftest import relative_error
from corridor import EXPECTED, LENGTHS, MODE_IDS, MODES, NEXT_STEP, SAME_STEP, T, Corridor, make_policy
from minipg.policies import CategoricalPolicy, DiagonalGaussianPolicy
from minipg.reinforce import HISTORY_KEYS, reinforce, rollout_buffers
from minipg.returns import calculate_returns
from minipg.solver import collect_rollout


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_history_matches_hand_count(mode):
    """Every epoch resets the envs, so both epochs see the hand-traced rollout: its episode
    count, mean finished-episode return and avg_reward = Σ rewards / Σ dones."""
    env = Corridor(LENGTHS, mode)
    epochs = 2
    history = reinforce(env, make_policy(env), gamma=0.9, epochs=epochs, T=T, seed=0)
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
    """reinforce's loss and parameter update equal those of a twin policy updated by hand on
    the hand-traced states, rewards and valid transitions alone, so NEXT_STEP reset steps
    contribute nothing.  The twin has the same seed, so it samples the same actions."""
    gamma = 0.9
    env = Corridor(LENGTHS, mode)
    policy, twin = make_policy(env, seed=1), make_policy(env, seed=1)
    history = reinforce(env, policy, gamma=gamma, epochs=1, T=T, seed=0)

    expected = EXPECTED[mode]
    valid = expected["valid"]
    states = expected["states"][..., None]
    actions = np.array([twin.act(states[t]) for t in range(T)])
    returns = calculate_returns(expected["rewards"], expected["dones"], gamma)
    # The valid transitions only, as an (N, 1) batch with no mask.
    stats = twin.update(states[valid][:, None], actions[valid][:, None], returns[valid][:, None])

    assert relative_error(history["loss"][0], stats["loss"]) <= 1e-12
    assert relative_error(history["entropy"][0], stats["entropy"]) <= 1e-12
    for param, twin_param in zip(policy.parameters(), twin.parameters()):
        assert relative_error(param, twin_param) <= 1e-12


def test_resumed_run_continues_the_uninterrupted_run():
    """3 epochs, then reinforce(history=...) up to 5: the same history (env_steps keep counting
    from its last entry) and parameters as 5 epochs in one go."""
    env = Corridor(LENGTHS, NEXT_STEP)
    policy, resumed = make_policy(env, seed=4), make_policy(env, seed=4)
    history = reinforce(env, policy, epochs=5, T=T, seed=0)
    resumed_history = reinforce(env, resumed, epochs=3, T=T, seed=0)
    resumed_history = reinforce(env, resumed, epochs=5, T=T, seed=0, history=resumed_history)
    for key in HISTORY_KEYS:
        if key != "seconds":  # wall time
            assert resumed_history[key] == history[key], key
    assert resumed_history["env_steps"] == [T * len(LENGTHS) * k for k in range(1, 6)]
    for param, resumed_param in zip(policy.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(resumed_param, param)


def test_gaussian_policy_rollout_on_box_actions():
    """The loop also runs a DiagonalGaussianPolicy (actions buffer (T, E, act_dim) floats) and
    counts the same episodes, since the corridor ignores actions."""
    env = Corridor(LENGTHS, NEXT_STEP, action_space=spaces.Box(-np.inf, np.inf, shape=(2,)))
    policy = DiagonalGaussianPolicy(env, hidden=(5,), seed=0)
    assert rollout_buffers(env, policy, T)["actions"].shape == (T, len(LENGTHS), 2)
    history = reinforce(env, policy, epochs=1, T=T, seed=0)
    assert history["episodes"] == [EXPECTED[NEXT_STEP]["episodes"]]
    np.testing.assert_allclose(history["mean_return"], EXPECTED[NEXT_STEP]["mean_return"], rtol=1e-15)
    assert history["log_std"] == [float(np.mean(policy.log_std))]


@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.Box(-np.inf, np.inf, shape=(2,))],
                         ids=["discrete", "box"])
def test_actions_are_those_of_step_by_step_sampling(action_space):
    """The loop draws an epoch's sampling noise at once; the actions it learns from must be
    exactly those a twin (same seed) picks calling act(s_t) step by step, as the post's loop
    does: then both take the same update.  The solver's rollout records the same actions."""
    env = Corridor(LENGTHS, NEXT_STEP, action_space=action_space)
    policy_class = CategoricalPolicy if isinstance(action_space, spaces.Discrete) else DiagonalGaussianPolicy
    policy, twin, solver = (policy_class(env, seed=3, hidden=(5,)) for _ in range(3))
    reinforce(env, policy, gamma=0.9, epochs=1, T=T, seed=0)

    states = EXPECTED[NEXT_STEP]["states"][..., None].astype(np.float64)
    actions = np.array([twin.act(states[t]) for t in range(T)])
    buffers = rollout_buffers(env, solver, T)
    collect_rollout(env, solver, buffers, env.reset(seed=0)[0])
    np.testing.assert_array_equal(buffers["actions"], actions)
    returns = calculate_returns(EXPECTED[NEXT_STEP]["rewards"], EXPECTED[NEXT_STEP]["dones"], 0.9)
    twin.update(states, actions, returns, mask=EXPECTED[NEXT_STEP]["valid"])
    for param, twin_param in zip(policy.parameters(), twin.parameters()):
        np.testing.assert_array_equal(param, twin_param)
    assert policy.rng.bit_generator.state == twin.rng.bit_generator.state


def test_env_without_declared_mode_is_treated_as_next_step():
    """gymnasium's default autoreset mode is NEXT_STEP, so an env that declares none gets masking."""
    declared, undeclared = Corridor(LENGTHS, NEXT_STEP), Corridor(LENGTHS, NEXT_STEP)
    del undeclared.metadata["autoreset_mode"]  # it still resets on the next step, but says nothing
    histories = [reinforce(env, make_policy(env), epochs=1, T=T, seed=0) for env in (declared, undeclared)]
    assert histories[0]["loss"] == histories[1]["loss"]


def test_callback_sees_each_epoch():
    """callback(epoch, history) runs after every epoch with that epoch already recorded."""
    env = Corridor(LENGTHS, SAME_STEP)
    seen = []
    reinforce(env, make_policy(env), epochs=3, T=T, callback=lambda epoch, h: seen.append((epoch, len(h["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_the_learning_rate_is_the_policys():
    """The post's loop never changes Adam's rate: every step uses the policy's lr."""
    env = Corridor(LENGTHS, SAME_STEP)
    policy = make_policy(env)
    rates = []
    reinforce(env, policy, epochs=3, T=T, callback=lambda epoch, h: rates.append(policy.opt.lr))
    assert rates == [0.01] * 3 and policy.lr == 0.01


def test_history_seconds_are_each_epochs_wall_time():
    """seconds[k] is the wall time of epoch k: positive, and together at most the whole call."""
    env = Corridor(LENGTHS, SAME_STEP)
    start = time.perf_counter()
    history = reinforce(env, make_policy(env), epochs=3, T=T, seed=0)
    elapsed = time.perf_counter() - start
    assert all(seconds > 0 for seconds in history["seconds"])
    assert sum(history["seconds"]) <= elapsed


def test_epoch_without_a_finished_episode_reports_nan_quietly():
    """No episode ends within T steps: episodes = 0, avg_reward and mean_return NaN (not inf),
    and no NumPy warning about an empty mean or a division by zero."""
    env = Corridor((T + 5, T + 9), SAME_STEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = reinforce(env, make_policy(env), epochs=1, T=T, seed=0)
    assert history["episodes"] == [0]
    assert np.isnan(history["avg_reward"][0]) and np.isnan(history["mean_return"][0])


class Enough(Exception):
    """Raised by a callback to end a run early."""


def test_default_run_is_100_epochs_of_1000_steps():
    """reinforce(env, policy) runs the post's T = 1000 steps per epoch, over 100 epochs (a few
    seconds on one corridor)."""
    env = Corridor((3,), SAME_STEP)
    history = reinforce(env, CategoricalPolicy(env, lr=0.1, seed=0))
    assert history["env_steps"] == [1000 * (epoch + 1) for epoch in range(100)]
    assert inspect.signature(reinforce).parameters["gamma"].default == 0.99
    # the solver without options: Options(), the same 100 epochs of 1000 steps, the same run
    solver_history = minipg.train(env, CategoricalPolicy(env, lr=0.1, seed=0))
    assert solver_history["env_steps"] == history["env_steps"] and solver_history["loss"] == history["loss"]


# ------------------------------------------------------------------------ bad arguments


def test_disabled_autoreset_is_rejected():
    """Without autoreset, finished envs would keep stepping past their end: refuse to run."""
    env = Corridor(LENGTHS, AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="the training loops need a NEXT_STEP or SAME_STEP autoreset vector env, got"):
        reinforce(env, make_policy(env), epochs=1, T=T)


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
        reinforce(env, make_policy(env), **{"epochs": 1, "T": T, **kwargs})


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_gamma_accepts_both_ends(gamma):
    env = Corridor(LENGTHS, SAME_STEP)
    assert np.isfinite(reinforce(env, make_policy(env), gamma=gamma, epochs=1, T=T)["loss"]).all()


# --------------------------------------------------------------- CartPole: learning, determinism


def test_cartpole_learns():
    """The post's setup (linear softmax policy, lr 0.1) on 16 CartPole-v0 copies: after 8
    updates of T = 500 steps the mean episode return is clearly above the first epoch's
    (≈21 → ≈50 with these seeds; we ask for 1.5×)."""
    env = minipg.make_env("CartPole-v0", 16)
    policy = CategoricalPolicy(env, lr=0.1, seed=0)
    history = reinforce(env, policy, gamma=0.99, epochs=8, T=500, seed=0)
    returns = history["mean_return"]
    assert np.isfinite(returns).all()
    assert returns[-1] >= 1.5 * returns[0]


def short_cartpole_run(seed):
    env = minipg.make_env("CartPole-v0", 4)
    policy = CategoricalPolicy(env, lr=0.1, seed=seed)
    history = reinforce(env, policy, epochs=3, T=100, seed=seed)
    del history["seconds"]  # wall time, the one thing allowed to differ
    return history, policy.parameters()


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


# --------------------------------------------------------------- the post's algorithm, and only it


@pytest.mark.parametrize("env_id, options", [
    ("CartPole-v0", dict(num_envs=4, T=60, epochs=3, lr=0.1, gamma=0.99)),
    ("CartPoleSwingUp-v0", dict(num_envs=4, T=60, epochs=2, lr=1e-2, gamma=0.999, hidden=(8, 8))),
    ("CartPoleSwingUp-v0", dict(num_envs=4, T=60, epochs=2, lr=1e-2, gamma=0.999, hidden=(8,), dtype="float32")),
    ("Pendulum-v1", dict(num_envs=3, T=250, epochs=2, lr=1e-2, gamma=0.9, hidden=(6,))),
], ids=["cartpole", "swingup", "swingup-float32", "pendulum-sync"])
def test_the_solver_with_default_options_is_reinforce_bit_for_bit(env_id, options):
    """minipg.train with no addition on (Options' defaults for everything but the experiment)
    gives reinforce's history and parameters, bit for bit: the solver repeats the post's loop."""
    options = minipg.Options(env=env_id, **options)
    assert options.is_posts_algorithm()
    runs = []
    for loop in ("reinforce", "train"):
        env = minipg.make_env(options.env, options.num_envs, options.vectorization)
        policy = minipg.make_policy(env, options, seed=5)
        if loop == "reinforce":
            history = reinforce(env, policy, options.gamma, options.epochs, options.T, seed=5)
        else:
            history = minipg.train(env, policy, options, seed=5)
        del history["seconds"]
        runs.append((history, policy.parameters(), policy.opt.m))
    (history, params, moments), (solver_history, solver_params, solver_moments) = runs
    assert solver_history.keys() == history.keys()
    for key in history:  # NaN (no episode ended) equals NaN here
        assert np.asarray(solver_history[key]).tobytes() == np.asarray(history[key]).tobytes(), key
    for a, b in zip(params + moments, solver_params + solver_moments):
        assert a.tobytes() == b.tobytes()


def test_reinforce_reads_on_one_screen():
    """The post's algorithm: at most 40 lines of code below the docstring and 8 arguments (the
    post's env, policy, γ, epochs, T, seed, and a callback and a history to continue)."""
    source = inspect.getsource(reinforce)
    function = ast.parse(source).body[0]
    body = function.body[1:]  # after the docstring
    lines = source.splitlines()
    code = {i for node in body for i in range(node.lineno, node.end_lineno + 1)
            if lines[i - 1].strip() and not lines[i - 1].strip().startswith("#")}
    assert len(code) <= 40, len(code)
    assert [a.arg for a in function.args.args] == ["env", "policy", "gamma", "epochs", "T", "seed", "callback",
                                                   "history"]
    for step in ("env.reset", "policy.act", "env.step", "calculate_returns", "policy.update"):
        assert step in source, step
