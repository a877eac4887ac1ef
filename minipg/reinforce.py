"""REINFORCE: the post's training loop, on a gymnasium vector environment.

One epoch = one policy update:

    1. reset the E environments;
    2. T steps: a_t ~ π(·|s_t), then (s_{t+1}, r_t, d_t) = env.step(a_t), each stored in a
       (T, E, ...) buffer;
    3. G = calculate_returns(rewards, dones, γ)              (returns.py)
    4. one Adam step on L = −mean(log π(a|s) · G)            (policies.py)
    5. the epoch's metrics.

d_t is 1 when an episode ended at t, by termination or by its time limit (the post treats both
as the end of the episode).  gymnasium's vector envs restart a finished episode by themselves;
with NEXT_STEP autoreset, their default (see envs/vector.py), the step after an episode ends is
the reset, not a transition, and `transitions` masks it out of the loss.

Below `reinforce`: the helpers it shares with the solver (solver.py), which adds baselines, GAE,
clipped passes and schedules as options and, with none of them on, gives this loop's history.
"""

import time

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from .envs.vector import autoreset_mode, single_spaces
from .returns import calculate_returns, episode_returns


def reinforce(env, policy, gamma=0.99, epochs=100, T=1000, seed=None, callback=None, history=None):
    """Train `policy` on the vector env `env` with the post's REINFORCE; return the per-epoch history.

    env: a gymnasium VectorEnv of E = env.num_envs copies (NEXT_STEP or SAME_STEP autoreset)
    with a flat Box observation (obs_dim,); policy: a Policy (policies.py), which holds its
    learning rate and is updated in place; gamma: γ in [0, 1]; epochs: updates, one per rollout;
    T: steps per env per rollout (T × E transitions); seed: seeds each epoch's env.reset (see
    epoch_seed; the policy has its own generator); callback(epoch, history): called after every
    epoch; history: a history to continue (a resumed run), from epoch len(history["loss"]),
    extended in place.

    Returns the history: per-epoch lists of avg_reward (the post's metric: the rollout's rewards
    over its finished episodes), mean_return (of the episodes that ended in the rollout),
    episodes, loss (the surrogate L, not the return J), entropy (nats, the mean over the
    rollout's valid states), env_steps (cumulative), seconds (the epoch's wall time), and log_std (its
    mean) for a Gaussian policy.  The algorithm: the post, "Policy Gradient Theorem and
    REINFORCE" (Williams 1992).
    Raises ValueError for bad arguments; NonFiniteError (policies.py) if an observation, the
    loss, a gradient or a parameter is NaN or infinite, `history` then holding the good epochs.
    """
    check_loop_arguments(env, gamma, epochs, T)
    buffers = rollout_buffers(env, policy, T)
    states, actions, rewards, dones = (buffers[key] for key in ("states", "actions", "rewards", "dones"))
    history = new_history(policy) if history is None else history
    for epoch in range(len(history["loss"]), epochs):
        start = time.perf_counter()
        observations, _ = env.reset(seed=epoch_seed(seed, epoch))
        noise = policy.sampling_noise(dones.shape)  # all of the epoch's sampling noise, in one call
        for t in range(T):
            states[t] = observations
            actions[t] = policy.act(states[t], noise[t])  # a_t ~ π(·|s_t)
            observations, rewards[t], terminated, truncated, _ = env.step(actions[t])
            dones[t] = terminated | truncated
        G = calculate_returns(rewards, dones, gamma)  # G_t = r_t + γ(1 − d_t) G_{t+1}
        stats = policy.update(states, actions, G, mask=transitions(env, dones))  # one step on L
        record_epoch(history, rewards, dones, stats, policy, start)
        if callback is not None:
            callback(epoch, history)
    return history


# ---------------------------------------------------------------- shared with the solver
HISTORY_KEYS = ("avg_reward", "mean_return", "episodes", "loss", "entropy", "env_steps", "seconds")


def check_loop_arguments(env, gamma, epochs, T):
    """ValueError naming the first of gamma, epochs, T or the env's autoreset mode that a loop cannot use."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got gamma={gamma}")
    for name, value in (("epochs", epochs), ("T", T)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    mode = autoreset_mode(env)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"the training loops need a NEXT_STEP or SAME_STEP autoreset vector env, got {mode}")


def rollout_buffers(env, policy, T):
    """Preallocated buffers for one rollout, reused every epoch, in the policy's float dtype.

    states: (T, E, obs_dim); actions: (T, E) ints (Discrete) or (T, E, act_dim) floats (Box);
    rewards: (T, E); dones: (T, E) bools (the episode ended at t, terminated or truncated);
    terminated: (T, E) bools (it ended in a terminal state: no value after it);
    valid: (T, E) bools (False on autoreset steps).  The solver's collect_rollout also leaves
    there last_observations: (E, obs_dim), the observations after step T − 1, and
    final_observations: {t: (env indices, their last observations)} of episodes a SAME_STEP
    env ended at step t.
    """
    E, dtype = env.num_envs, policy.dtype
    if isinstance(single_spaces(env)[1], spaces.Discrete):
        actions = np.empty((T, E), dtype=np.int64)
    else:
        actions = np.empty((T, E, policy.act_dim), dtype=dtype)
    return {
        "states": np.empty((T, E, policy.obs_dim), dtype=dtype),
        "actions": actions,
        "rewards": np.empty((T, E), dtype=dtype),
        "dones": np.empty((T, E), dtype=bool),
        "terminated": np.empty((T, E), dtype=bool),
        "valid": np.ones((T, E), dtype=bool),
    }


def transitions(env, dones, out=None):
    """valid: (T, E) bools, False where step t is not a transition but a NEXT_STEP env's reset
    (its episode ended at t − 1); all True for a SAME_STEP env.  The rollout starts from a reset."""
    valid = np.empty(dones.shape, dtype=bool) if out is None else out
    valid[0] = True
    if autoreset_mode(env) == AutoresetMode.NEXT_STEP:
        np.logical_not(dones[:-1], out=valid[1:])
    else:
        valid[1:] = True
    return valid


def new_history(policy):
    """Empty per-epoch lists for every key the loops record (log_std only for a Gaussian)."""
    keys = HISTORY_KEYS + (("log_std",) if hasattr(policy, "log_std") else ())
    return {key: [] for key in keys}


def epoch_metrics(rewards, dones):
    """The per-epoch figures of a rollout's rewards and dones: (T, E) each.

    avg_reward  = Σ rewards / Σ dones, the post's metric (it also counts rewards of episodes
                  still running when the rollout stops, so it overstates long episodes);
    mean_return = mean undiscounted return of the episodes that ended in the rollout;
    episodes    = how many episodes ended.  Both averages are NaN when no episode ended.
    """
    finished = episode_returns(rewards, dones)
    episodes = int(len(finished))
    return {
        "avg_reward": float(rewards.sum() / episodes) if episodes else float("nan"),
        "mean_return": float(finished.mean()) if episodes else float("nan"),
        "episodes": episodes,
    }


def record_epoch(history, rewards, dones, stats, policy, start):
    """Append one epoch to `history`: its metrics, the update's loss and entropy (`stats`), the
    cumulative env steps, the wall seconds since `start` (time.perf_counter) and mean log σ."""
    for key, value in epoch_metrics(rewards, dones).items():
        history[key].append(value)
    history["loss"].append(stats["loss"])
    history["entropy"].append(stats["entropy"])
    history["env_steps"].append((history["env_steps"][-1] if history["env_steps"] else 0) + rewards.size)
    history["seconds"].append(time.perf_counter() - start)
    if "log_std" in history:
        history["log_std"].append(float(np.mean(policy.log_std)))


def epoch_seed(seed, epoch):
    """The env seed of one epoch, derived from (seed, epoch) alone.

    Every epoch resets all envs; seeding that reset from (seed, epoch) makes each epoch's env
    randomness independent of what ran before, so a run resumed at epoch k continues exactly
    as the uninterrupted run would.  None (unseeded) stays None.
    """
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
