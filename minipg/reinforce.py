"""REINFORCE: the training loop of the post, on gymnasium vector environments.

One epoch = one policy update:

    1. reset the E environments;
    2. roll out T steps: a_t ~ π(·|s_t), (s_{t+1}, r_t, d_t) = env.step(a_t), stored in
       preallocated (T, E, ...) buffers;
    3. G = calculate_returns(rewards, dones, γ)              (returns.py)
    4. one Adam step on L = −mean(log π(a|s) · G)            (policies.py)

d_t is 1 when an episode ended at t, by termination or by the time limit (the post treats
both as the end of the episode).  With a NEXT_STEP-autoreset env (see envs/vector.py) the step after
an episode ends is a reset, not a transition: it is masked out of the loss and the counts.
"""

import time

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from .baselines import ValueBaseline, compute_advantages, make_baseline
from .envs import autoreset_mode
from .policies import NonFiniteError, single_spaces
from .returns import calculate_returns, episode_returns

def check_finite(epoch, what, values):
    """Raise NonFiniteError naming the epoch if `values` holds a NaN or an infinity."""
    if not np.isfinite(values).all():
        raise NonFiniteError(f"epoch {epoch + 1}: the environment returned a non-finite {what}")


HISTORY_KEYS = ("avg_reward", "mean_return", "episodes", "loss", "entropy", "env_steps", "seconds")


def rollout_buffers(env, agent, T):
    """Preallocated buffers for one rollout, reused every epoch, in the agent's float dtype.

    states: (T, E, obs_dim); actions: (T, E) ints (Discrete) or (T, E, M) floats (Box);
    rewards: (T, E); dones: (T, E) bools; valid: (T, E) bools (False on autoreset steps).
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
    dones, valid = buffers["dones"], buffers["valid"]
    next_step_reset = autoreset_mode(env) == AutoresetMode.NEXT_STEP
    noise = agent.sampling_noise(dones.shape)  # (T, E, ...): all of the rollout's sampling noise
    for t in range(len(states)):
        states[t] = observations
        actions[t] = agent.act(states[t], noise[t])
        observations, rewards[t], terminated, truncated, _ = env.step(actions[t])
        np.logical_or(terminated, truncated, out=dones[t])
        if should_stop is not None and should_stop():
            return False
    valid[0] = True  # the rollout starts from a reset
    if next_step_reset:
        np.logical_not(dones[:-1], out=valid[1:])
    else:
        valid[1:] = True
    return True


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
              log_std_final=None, start_epoch=0, history=None,
              should_stop=None):
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
    noise shrinks on schedule while the policy can still lower σ faster by itself.

    Returns a dict of per-epoch lists: avg_reward, mean_return, episodes, loss, entropy,
    env_steps (cumulative), seconds (wall time of the epoch), and log_std (its mean) for a
    Gaussian policy.

    Raises NonFiniteError naming the epoch if an observation, reward, the loss, a gradient or
    a parameter is NaN or infinite; `history` (when passed in) then holds every good epoch.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got gamma={gamma}")
    for name, value in (("epochs", epochs), ("T", T)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    if log_std_final is not None and not hasattr(agent, "limit_log_std"):
        raise ValueError("log_std_final needs a Gaussian policy (one with a log_std)")
    mode = autoreset_mode(env)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"reinforce needs a NEXT_STEP or SAME_STEP autoreset vector env, got {mode}")

    buffers = rollout_buffers(env, agent, T)
    if isinstance(baseline, str):
        baseline = make_baseline(baseline, agent, gamma)
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
        returns = calculate_returns(buffers["rewards"], buffers["dones"], gamma)
        advantages = compute_advantages(returns, buffers["valid"], baseline, normalize_advantages,
                                        buffers["states"])
        if isinstance(baseline, ValueBaseline):
            baseline.fit(buffers["states"], returns, buffers["valid"])
        if lr_decay:
            agent.opt.lr = agent.lr * (1.0 - epoch / epochs)
        try:
            stats = agent.update(buffers["states"], buffers["actions"], advantages,
                                 mask=buffers["valid"], max_grad_norm=max_grad_norm)
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
