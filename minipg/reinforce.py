"""REINFORCE: the training loop of the post, on gymnasium vector environments.

One epoch = one policy update:

    1. reset the E environments;
    2. roll out T steps: a_t ~ π(·|s_t), (s_{t+1}, r_t, d_t) = env.step(a_t), stored in
       preallocated (T, E, ...) buffers;
    3. G = calculate_returns(rewards, dones, γ)              (returns.py)
       (or, with options, advantages A = G − b or GAE(λ)      (baselines.py, returns.py))
    4. one Adam step on L = −mean(log π(a|s) · G)            (policies.py)
       (or, with clip_ratio, several on the clipped surrogate  (ppo.py))

d_t is 1 when an episode ended at t, by termination or by the time limit (the post treats
both as the end of the episode; `bootstrap` values a time-limit cut by V instead).  With a
NEXT_STEP-autoreset env (see envs/vector.py) the step after an episode ends is a reset, not a
transition: it is masked out of the loss and the counts.
"""

import time

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from .baselines import ValueBaseline, compute_advantages, make_baseline, normalize
from .envs import autoreset_mode
from .policies import NonFiniteError, single_spaces
from .ppo import ppo_update
from .returns import calculate_returns, episode_returns, gae_advantages

def check_finite(epoch, what, values):
    """Raise NonFiniteError naming the epoch if `values` holds a NaN or an infinity."""
    if not np.isfinite(values).all():
        raise NonFiniteError(f"epoch {epoch + 1}: the environment returned a non-finite {what}")


HISTORY_KEYS = ("avg_reward", "mean_return", "episodes", "loss", "entropy", "env_steps", "seconds")


def rollout_buffers(env, agent, T):
    """Preallocated buffers for one rollout, reused every epoch, in the agent's float dtype.

    states: (T, E, obs_dim); actions: (T, E) ints (Discrete) or (T, E, M) floats (Box);
    rewards: (T, E); dones: (T, E) bools (the episode ended at t, terminated or truncated);
    terminated: (T, E) bools (it ended in a terminal state: no value after it);
    valid: (T, E) bools (False on autoreset steps).  collect_rollout also leaves there
    last_observations: (E, obs_dim), the observations after step T − 1, and final_observations:
    {t: (env indices, their last observations)} of episodes a SAME_STEP env ended at step t.
    """
    E, dtype = env.num_envs, agent.dtype
    if isinstance(single_spaces(env)[1], spaces.Discrete):
        actions = np.empty((T, E), dtype=np.int64)
    else:
        actions = np.empty((T, E, agent.M), dtype=dtype)
    return {
        "states": np.empty((T, E, agent.N), dtype=dtype),
        "actions": actions,
        "rewards": np.empty((T, E), dtype=dtype),
        "dones": np.empty((T, E), dtype=bool),
        "terminated": np.empty((T, E), dtype=bool),
        "valid": np.ones((T, E), dtype=bool),
    }


def collect_rollout(env, agent, buffers, observations, should_stop=None):
    """Run T steps of `agent` in `env` from `observations`: (E, obs_dim), the observations
    env.reset() just returned, filling `buffers`.

    In NEXT_STEP mode, valid[t, e] is False when env e's episode ended at t − 1 (step t is
    its reset).  should_stop: optional callable checked after every step; when it returns
    True the rollout is abandoned.  Returns True if all T steps were collected.
    """
    states, actions, rewards = buffers["states"], buffers["actions"], buffers["rewards"]
    dones, terminals, valid = buffers["dones"], buffers["terminated"], buffers["valid"]
    next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
    final_observations = buffers["final_observations"] = {}
    noise = agent.sampling_noise(dones.shape)  # (T, E, ...): all of the rollout's sampling noise
    for t in range(len(states)):
        states[t] = observations
        actions[t] = agent.act(states[t], noise[t])
        observations, rewards[t], terminals[t], truncated, info = env.step(actions[t])
        np.logical_or(terminals[t], truncated, out=dones[t])
        if not next_step_reset and "final_obs" in info:
            # SAME_STEP: `observations` already starts the next episode; keep the last one
            ended = np.flatnonzero(info["_final_obs"])
            final_observations[t] = (ended, np.stack(info["final_obs"][ended]))
        if should_stop is not None and should_stop():
            return False
    buffers["last_observations"] = observations
    valid[0] = True  # the rollout starts from a reset
    if next_step_reset:
        np.logical_not(dones[:-1], out=valid[1:])
    else:
        valid[1:] = True
    return True


def following_values(values, buffers, baseline, bootstrap, terminal_value=0.0):
    """V'_t of GAE (returns.py), the value of the state after step t: (T, E).

    values: V(s_t), (T, E).  The state after step t is states[t + 1], or last_observations
    after the last step.  bootstrap=True: V'_t = V(that state), and terminal_value where the
    episode terminated at t; an episode cut by its time limit takes V of its last observation,
    which in NEXT_STEP mode is states[t + 1] itself (the reset comes one step later) and in
    SAME_STEP mode was kept in final_observations.  bootstrap=False (the post's treatment of the
    ends): V'_t = 0 wherever an episode was cut and after the last step, terminal_value where it
    terminated.
    """
    following = np.empty_like(values)
    following[:-1] = values[1:]
    if bootstrap:
        dtype = buffers["states"].dtype
        following[-1] = baseline.of_states(np.asarray(buffers["last_observations"], dtype=dtype))
        for t, (envs, observations) in buffers["final_observations"].items():
            following[t, envs] = baseline.of_states(np.asarray(observations, dtype=dtype))
    else:
        following[-1] = 0.0
        following[buffers["dones"]] = 0.0
    following[buffers["terminated"]] = terminal_value
    return following


def advantages_and_targets(buffers, gamma, baseline, normalize_advantages, gae_lambda, bootstrap,
                           terminal_value=0.0):
    """The advantages the update weights log π by, and the value fit's targets: each (T, E).

    gae_lambda None: A = G − b with the post's returns G (baselines.compute_advantages), target G.
    gae_lambda = λ: A = GAE(λ) from the ValueBaseline `baseline`, target the λ-return A + V,
    with V = terminal_value after a termination (see following_values).
    """
    rewards, dones, valid, states = buffers["rewards"], buffers["dones"], buffers["valid"], buffers["states"]
    if gae_lambda is None:
        returns = calculate_returns(rewards, dones, gamma)
        return compute_advantages(returns, valid, baseline, normalize_advantages, states), returns
    values = baseline(states)
    following = following_values(values, buffers, baseline, bootstrap, terminal_value)
    advantages = gae_advantages(rewards, values, following, dones, gamma, gae_lambda)
    targets = advantages + values
    if normalize_advantages:
        advantages = normalize(advantages, valid)
    return advantages, targets


def check_positive_integers(**values):
    """Raise ValueError naming the first of the keyword arguments that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")


def check_clipped_updates(clip_ratio, update_epochs, minibatch_size):
    """Raise ValueError naming a bad clip_ratio, update_epochs or minibatch_size of `reinforce`."""
    if clip_ratio is not None and not (np.isfinite(clip_ratio) and clip_ratio > 0):
        raise ValueError(f"clip_ratio must be a positive finite number, got clip_ratio={clip_ratio}")
    check_positive_integers(update_epochs=update_epochs)
    if minibatch_size is not None:
        check_positive_integers(minibatch_size=minibatch_size)
    if clip_ratio is None and (update_epochs != 1 or minibatch_size is not None):
        raise ValueError("update_epochs and minibatch_size need clip_ratio: more than one step on a "
                         "rollout needs the clipped surrogate (REINFORCE's estimate holds at the "
                         "policy that acted only)")


def new_history(agent):
    """Empty per-epoch lists for every key `reinforce` records (log_std only for a Gaussian)."""
    keys = HISTORY_KEYS + (("log_std",) if hasattr(agent, "log_std") else ())
    return {key: [] for key in keys}


def epoch_metrics(buffers):
    """The per-epoch figures of a filled rollout.

    avg_reward  = Σ rewards / Σ dones, the post's metric (it also counts rewards of episodes
                  still running when the rollout stops, so it overstates long episodes);
    mean_return = mean undiscounted return of the episodes that ended in the rollout;
    episodes    = how many episodes ended.  Both averages are NaN when no episode ended.
    """
    rewards, dones = buffers["rewards"], buffers["dones"]
    finished = episode_returns(rewards, dones)
    episodes = int(len(finished))
    return {
        "avg_reward": float(rewards.sum() / episodes) if episodes else float("nan"),
        "mean_return": float(finished.mean()) if episodes else float("nan"),
        "episodes": episodes,
    }


def epoch_seed(seed, epoch):
    """The env seed of one epoch, derived from (seed, epoch) alone.

    Every epoch resets all envs; seeding that reset from (seed, epoch) makes each epoch's env
    randomness independent of what ran before, so a run resumed at epoch k continues exactly
    as the uninterrupted run would.  None (unseeded) stays None.
    """
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def reinforce(env, agent, gamma=0.99, epochs=100, T=1000, seed=None, callback=None,
              baseline="none", normalize_advantages=False, lr_decay=False, max_grad_norm=None,
              log_std_final=None, gae_lambda=None, bootstrap=False, terminal_value=0.0, clip_ratio=None,
              update_epochs=1, minibatch_size=None, start_epoch=0, history=None, should_stop=None):
    """Train `agent` on the vector env `env` with REINFORCE; return the per-epoch history.

    env: a gymnasium VectorEnv with E = env.num_envs copies (NEXT_STEP or SAME_STEP autoreset);
    agent: a Policy (policies.py); gamma in [0, 1]; epochs, T: positive integers;
    seed: seeds each epoch's env.reset (see epoch_seed; the agent has its own generator);
    callback(epoch, history): called after every epoch, e.g. to print progress or save.
    start_epoch, history: resume a run at epoch `start_epoch`, appending to `history`.
    should_stop: optional callable polled after every env step (e.g. set by Ctrl-C); when it
    returns True the unfinished epoch is dropped and the history so far is returned.

    The defaults are the post's algorithm.  Options, each off by default:
    baseline ("none" | "time" | "value", or a ValueBaseline to continue with) and
    normalize_advantages: see baselines.py;
    lr_decay: the learning rate falls linearly from its initial value to 0 over the epochs;
    max_grad_norm: rescale the gradient to this global L2 norm when it is larger;
    log_std_final (Gaussian policies): after each update, cap log σ by a bound that moves
    linearly from the policy's log_std_init to log_std_final over the epochs, so exploration
    noise shrinks on schedule while the policy can still lower σ faster by itself;
    gae_lambda: advantages by GAE(λ) from the learned value baseline (returns.py), which is then
    fitted to the λ-returns; needs baseline "value";
    bootstrap: an episode cut by its time limit or by the end of the rollout is worth V of its
    last state, not 0 (a cut is not a failure); needs gae_lambda (λ = 1: Monte-Carlo returns);
    terminal_value: what a terminated episode is worth after its last step, in units of return
    (0 in the MDP); needs gae_lambda.  r_min / (1 − γ), the worst any continuation could score,
    removes the incentive to end an episode early to escape negative rewards, and changes
    nothing for a policy that never terminates (so not the optimum, when that never does);
    clip_ratio ε: instead of the one REINFORCE step, `update_epochs` passes over the rollout in
    minibatches of `minibatch_size` samples (None: all), one Adam step each on the clipped
    surrogate of ppo.py (PPO); update_epochs and minibatch_size need it.

    Returns a dict of per-epoch lists: avg_reward, mean_return, episodes, loss, entropy,
    env_steps (cumulative), seconds (wall time of the epoch), and log_std (its mean) for a
    Gaussian policy.

    Raises NonFiniteError naming the epoch if an observation, reward, the loss, a gradient or
    a parameter is NaN or infinite; `history` (when passed in) then holds every good epoch.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got gamma={gamma}")
    check_positive_integers(epochs=epochs, T=T)
    if log_std_final is not None and not hasattr(agent, "limit_log_std"):
        raise ValueError("log_std_final needs a Gaussian policy (one with a log_std)")
    if gae_lambda is not None:
        if not 0.0 <= gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must lie in [0, 1], got gae_lambda={gae_lambda}")
        if not (baseline == "value" or isinstance(baseline, ValueBaseline)):
            raise ValueError(f"gae_lambda needs the value baseline (baseline='value'), got {baseline!r}")
    if bootstrap and gae_lambda is None:
        raise ValueError("bootstrap needs gae_lambda (1.0 for Monte-Carlo returns with bootstrapped cuts)")
    if not np.isfinite(terminal_value):
        raise ValueError(f"terminal_value must be a finite number, got terminal_value={terminal_value}")
    if terminal_value != 0.0 and gae_lambda is None:
        raise ValueError("terminal_value needs gae_lambda (it is V after a termination, in GAE's δ)")
    check_clipped_updates(clip_ratio, update_epochs, minibatch_size)
    if bootstrap and isinstance(baseline, ValueBaseline) and baseline.time_feature:
        raise ValueError("bootstrap needs a ValueBaseline without the time feature (time_feature=False)")
    mode = autoreset_mode(env)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"reinforce needs a NEXT_STEP or SAME_STEP autoreset vector env, got {mode}")

    buffers = rollout_buffers(env, agent, T)
    if isinstance(baseline, str):
        baseline = make_baseline(baseline, agent, gamma, bootstrap)
    if history is None:
        history = new_history(agent)
    env_steps = history["env_steps"][-1] if history["env_steps"] else 0
    for epoch in range(start_epoch, epochs):
        start = time.perf_counter()
        observations, _ = env.reset(seed=epoch_seed(seed, epoch))
        try:
            if not collect_rollout(env, agent, buffers, observations, should_stop):
                break
        except NonFiniteError as error:  # the policy met a NaN/inf observation
            raise NonFiniteError(f"epoch {epoch + 1}: {error}") from None
        check_finite(epoch, "reward", buffers["rewards"])
        advantages, targets = advantages_and_targets(buffers, gamma, baseline, normalize_advantages,
                                                     gae_lambda, bootstrap, terminal_value)
        if isinstance(baseline, ValueBaseline):
            baseline.fit(buffers["states"], targets, buffers["valid"])
        if lr_decay:
            agent.opt.lr = agent.lr * (1.0 - epoch / epochs)
        try:
            if clip_ratio is None:
                stats = agent.update(buffers["states"], buffers["actions"], advantages,
                                     mask=buffers["valid"], max_grad_norm=max_grad_norm)
            else:
                stats = ppo_update(agent, buffers["states"], buffers["actions"], advantages,
                                   buffers["valid"], clip_ratio, update_epochs, minibatch_size,
                                   max_grad_norm)
        except NonFiniteError as error:
            raise NonFiniteError(f"epoch {epoch + 1}: {error}") from None
        if log_std_final is not None:
            progress = (epoch + 1) / epochs
            agent.limit_log_std(agent.log_std_init + (log_std_final - agent.log_std_init) * progress)
        env_steps += T * env.num_envs

        for key, value in epoch_metrics(buffers).items():
            history[key].append(value)
        history["loss"].append(stats["loss"])
        history["entropy"].append(stats["entropy"])
        history["env_steps"].append(env_steps)
        history["seconds"].append(time.perf_counter() - start)
        if "log_std" in history:
            history["log_std"].append(float(np.mean(agent.log_std)))
        if callback is not None:
            callback(epoch, history)
    return history
