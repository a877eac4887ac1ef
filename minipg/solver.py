"""The solver: the post's loop with what harder tasks need, each piece an option (options.py).

    for each epoch:
        reset, and T steps of act, step, store           collect_rollout (reinforce.py's steps, and
                                                         what bootstrapping needs: terminations,
                                                         the last observations; observations
                                                         normalized, normalization.py)
        an exploration bonus added to the rewards         exploration.py (count_bonus)
        rewards scaled                                    normalization.py (normalize_rewards)
        advantages A and the value fit's targets          G − b (baselines.py) or GAE(λ) (returns.py)
        fit the value baseline V to the targets           baselines.py (on a second thread,
                                                          beside the policy's update: parallel.py)
        the learning rate of the epoch                    Schedules (lr_decay)
        one REINFORCE step on −mean(log π · A),            policies.py (and an entropy bonus)
          or clipped-surrogate passes                     ppo.py (clip_ratio)
        cap log σ                                         Schedules (log_std_final)
        merge the rollout into the normalization's        normalization.py
          running statistics
        the epoch's metrics (of the unscaled rewards)     reinforce.py

With `Options()`'s defaults every piece is off, and `train` gives exactly `reinforce`'s history
(tested bit for bit).  What a run carries besides the policy (its history, the learned value,
where the schedules start, the normalization's statistics) is a SolverState, which checkpoints
save and a resumed run continues.
"""

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from .baselines import ValueBaseline, compute_advantages, make_baseline, normalize
from .envs.vector import autoreset_mode, observation_mirror, single_spaces
from .exploration import StateCounter
from .normalization import ObservationNormalizer, RewardScaler
from .options import Options, OptionsError
from .parallel import beside
from .policies import CategoricalPolicy, DiagonalGaussianPolicy
from .ppo import ppo_update
from .reinforce import (check_loop_arguments, epoch_seed, new_history, record_epoch, rollout_buffers,
                        transitions)
from .returns import calculate_returns, gae_advantages


def train(env, policy, options=None, seed=None, callback=None, state=None):
    """Train `policy` on `env` as `options` say; return the per-epoch history (as reinforce's).

    env: a gymnasium VectorEnv (NEXT_STEP or SAME_STEP autoreset), e.g. make_env(options.env,
    options.num_envs, options.vectorization); policy: e.g. make_policy(env, options, seed);
    options: an Options (default: Options(), the post's algorithm); seed: seeds each epoch's
    env.reset; callback(epoch, history): called after every epoch; state: a SolverState to
    continue (a resumed run, from epoch len(state.history["loss"])), else a new one; pass one made
    by new_state(policy, options) to keep what training builds besides the policy (the value
    baseline, the observation normalizer an evaluation needs).  options.env, num_envs and
    vectorization say how to make `env`; train reads the env it is given.  When
    `options` differ from those the state was trained with, they take effect from the next
    epoch, and the schedules continue from the values they had reached (Schedules.rejoined).

    Raises OptionsError if the options do not fit the policy (a Gaussian-only option, or a new
    run whose policy has another learning rate than options.lr, the rate the solver sets every
    epoch), ValueError for an env the loop cannot use, NonFiniteError (policies.py) if an
    observation, the loss, a gradient or a parameter is NaN or infinite; the state's history
    then holds the good epochs.
    """
    options = Options() if options is None else options
    options.check_policy(gaussian=hasattr(policy, "log_std"))
    check_loop_arguments(env, options.gamma, options.epochs, options.T)
    if state is None and policy.lr != options.lr:  # the options set Adam's rate: not silently
        raise OptionsError(f"the policy was made with lr={policy.lr} but {{lr}}={options.lr}: make it "
                           "with make_policy(env, options), or give the options its rate")
    state = new_state(policy, options) if state is None else state.continued(options)
    buffers = rollout_buffers(env, policy, options.T)
    history, baseline, schedules = state.history, state.baseline, state.schedules
    for epoch in range(len(history["loss"]), options.epochs):
        start = time.perf_counter()
        observations, _ = env.reset(seed=epoch_seed(seed, epoch))
        collect_rollout(env, policy, buffers, observations, state.observation_normalizer)
        rewards = buffers["rewards"]
        if state.state_counter is not None:  # the raw observations: float64 kept beside a normalizer's
            # output, or else the states themselves (the policy's dtype; float32 rounds them alike every epoch)
            bonus = state.state_counter.bonus(buffers.get("observations", buffers["states"]), buffers["valid"],
                                              options.count_bonus)
            rewards = (rewards + bonus).astype(rewards.dtype)
        if state.reward_scaler is not None:
            rewards = state.reward_scaler.scale(rewards, buffers["dones"], options.gamma)
        advantages, targets = advantages_and_targets(buffers, options, baseline, rewards)
        fit = fit_work = None  # the value fit's steps, their minibatches drawn now (before the update's shuffles)
        if isinstance(baseline, ValueBaseline):
            fit = baseline.prepare_fit(buffers["states"], targets, buffers["valid"], options.value_steps)
            fit_work = baseline.step_multiply_adds(buffers["valid"])
        policy.opt.lr = schedules.learning_rate(epoch, options)
        with beside(fit, policy.threads, fit_work):  # the update needs the advantages, not the fitted V: both at once
            if options.clip_ratio is None:
                stats = policy.update(buffers["states"], buffers["actions"], advantages, buffers["valid"],
                                      options.max_grad_norm, options.entropy_coef)
            else:
                stats = ppo_update(policy, buffers["states"], buffers["actions"], advantages, buffers["valid"],
                                   options.clip_ratio, options.update_epochs, options.minibatch_size,
                                   options.max_grad_norm, options.entropy_coef)
        if options.log_std_final is not None:
            policy.limit_log_std(schedules.cap(epoch, options))
        if state.observation_normalizer is not None:
            state.observation_normalizer.update(buffers["observations"])
        record_epoch(history, buffers["rewards"], buffers["dones"], stats, policy, start)
        if callback is not None:
            callback(epoch, history)
    return history


# ---------------------------------------------------------------- building a run
def make_policy(env, options, seed=None, kind=None):
    """The policy `options` describe for `env`: kind "categorical" (CategoricalPolicy) or
    "gaussian" (DiagonalGaussianPolicy), by default the one that fits the env's action space
    (Discrete or a flat Box).  Raises TypeError if kind is None and the action space is neither
    (MultiDiscrete, MultiBinary, a Box of shape (2, 3)...), TypeError or ValueError (from the
    policy) if the env's spaces do not fit it, OptionsError if the options set a Gaussian-only
    field for a categorical policy."""
    if kind is None:
        action_space = single_spaces(env)[1]
        if isinstance(action_space, spaces.Discrete):
            kind = "categorical"
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            kind = "gaussian"
        else:  # named here: the Gaussian's "needs a Box" would blame a policy nobody asked for
            raise TypeError(f"minipg's policies need a Discrete or a flat Box action space, got {action_space}")
    if kind not in ("categorical", "gaussian"):
        raise ValueError(f"kind must be 'categorical', 'gaussian' or None, got {kind!r}")
    options.check_policy(gaussian=kind == "gaussian")
    common = {"lr": options.lr, "hidden": options.hidden, "seed": seed, "dtype": options.dtype,
              "chunk_size": options.chunk_size, "output_scale": options.output_scale}
    if kind == "categorical":
        return CategoricalPolicy(env, **common)
    mirror = observation_mirror(options.env) if options.mirror else None
    return DiagonalGaussianPolicy(env, log_std_init=options.log_std_init, mirror=mirror, **common)


@dataclass
class Schedules:
    """Where the linear schedules start: at `epoch`, the learning rate is `lr` and the cap on
    log σ is `log_std_cap` (None for a policy without log σ); from there both move linearly to
    their final values, 0 (with lr_decay) and log_std_final, reached with the last epoch.

    A new run starts them at epoch 0 from options.lr and the policy's log_std_init.  When a
    resumed run changes what they depend on (epochs, lr, lr_decay, log_std_final), they start
    again where it joins, from the values they had reached (`rejoined`): extending or shortening
    a run moves nothing abruptly, and a plain resume computes exactly what the run would have.
    """

    epoch: int
    lr: float
    log_std_cap: float = None

    def learning_rate(self, epoch, options):
        """The learning rate of `epoch`: constant, or falling linearly to 0 at options.epochs (lr_decay)."""
        if not options.lr_decay:
            return self.lr
        return self.lr * (1.0 - (epoch - self.epoch) / (options.epochs - self.epoch))

    def cap(self, epoch, options):
        """The cap on log σ after `epoch`'s update: from log_std_cap to options.log_std_final,
        reached after the last epoch."""
        progress = (epoch + 1 - self.epoch) / (options.epochs - self.epoch)
        return self.log_std_cap + (options.log_std_final - self.log_std_cap) * progress

    def rejoined(self, old, new, epoch, policy):
        """The schedules of a run that trained with Options `old` up to `epoch` and goes on with
        `new`: unchanged if none of epochs, lr, lr_decay, log_std_final changed; else starting at
        `epoch` from the values reached: the learning rate `old` would have used (or new.lr if
        the rate itself changed), and the cap `old` had set (or the policy's largest log σ if it
        set none)."""
        changed = old.changes(new)
        if not changed.keys() & {"epochs", "lr", "lr_decay", "log_std_final"}:
            return self
        lr = new.lr if "lr" in changed else self.learning_rate(epoch, old)
        cap = self.log_std_cap
        if cap is not None:
            cap = self.cap(epoch - 1, old) if old.log_std_final is not None else float(np.max(policy.log_std))
        return Schedules(epoch, lr, cap)


# History entries that count (episodes, env steps): integers, the others floats.
COUNT_KEYS = ("episodes", "env_steps")


@dataclass
class SolverState:
    """What a run carries besides the policy: its history, the baseline (a ValueBaseline or the
    name of one, see baselines.py), where the schedules start, the options it trained with, and
    the normalization's statistics and the exploration bonus's visit counts (None where off)."""

    history: dict
    baseline: object
    schedules: Schedules
    options: Options
    policy: object
    observation_normalizer: ObservationNormalizer = None
    reward_scaler: RewardScaler = None
    state_counter: StateCounter = None

    def parts(self):
        """{name: the object or None} of what the run learns or counts besides its history."""
        return {"policy": self.policy, "baseline": self.baseline if isinstance(self.baseline, ValueBaseline) else None,
                "observation_normalizer": self.observation_normalizer, "reward_scaler": self.reward_scaler,
                "state_counter": self.state_counter}

    def state_dict(self):
        """The run's state (state.py's protocol): {"history": {metric: (epochs,) array},
        "schedules": {"epoch", "lr", "log_std_cap"}, and each of `parts()`'s state_dict() or None}.
        The options are the run's configuration, saved beside it (tools/checkpoint.py)."""
        history = {key: np.array(values, dtype=np.int64 if key in COUNT_KEYS else np.float64)
                   for key, values in self.history.items()}
        return {"history": history, "schedules": dataclasses.asdict(self.schedules),
                **{name: None if part is None else part.state_dict() for name, part in self.parts().items()}}

    def load_state_dict(self, state):
        """Take back a `state_dict()` of a run with the same options' fixed fields.  Raises
        ValueError naming the part that does not fit (a part saved where this state has none, or
        the reverse, or one of other shapes), KeyError for one missing; a part is changed only
        once it is checked, but an error in a later part leaves the earlier ones loaded: make a
        new state to try again."""
        for name, part in self.parts().items():
            if (state.get(name) is None) != (part is None):
                raise ValueError(f"{name}: {'missing' if part is not None else 'saved, but this run has none'}")
            if part is not None:
                try:
                    part.load_state_dict(state[name])
                except ValueError as error:
                    raise ValueError(f"{name}: {error}") from None
        history = {key: state["history"][key] for key in self.history}
        if len({len(np.ravel(values)) for values in history.values()}) != 1 or any(
                np.ndim(values) != 1 for values in history.values()):
            raise ValueError("history: one value per epoch expected for every metric")
        schedules = Schedules(**state["schedules"])
        self.history = {key: [int(value) if key in COUNT_KEYS else float(value) for value in values]
                        for key, values in history.items()}
        self.schedules = schedules

    def continued(self, options):
        """This state, going on with `options` from the next epoch (see Schedules.rejoined)."""
        epoch = len(self.history["loss"])
        if epoch:
            self.schedules = self.schedules.rejoined(self.options, options, epoch, self.policy)
        self.options = options
        return self


def new_state(policy, options):
    """The SolverState of a new run: an empty history, a new baseline, schedules from epoch 0,
    normalization statistics and visit counts of nothing seen yet."""
    baseline = make_baseline(options.baseline, policy, options.gamma, options.bootstrap, options.T,
                             hidden=options.value_hidden)  # only a value baseline has a network
    schedules = Schedules(0, options.lr, getattr(policy, "log_std_init", None))
    observation_normalizer = ObservationNormalizer((policy.obs_dim,)) if options.normalize_observations else None
    reward_scaler = RewardScaler() if options.normalize_rewards else None
    # The hyperplanes are drawn from the policy's generator, after the value network's weights.
    state_counter = StateCounter(policy.obs_dim, options.count_bits, policy.rng) if options.count_bonus else None
    return SolverState(new_history(policy), baseline, schedules, options, policy, observation_normalizer,
                       reward_scaler, state_counter)


# ---------------------------------------------------------------- one epoch's pieces
def collect_rollout(env, policy, buffers, observations, normalizer=None):
    """T steps of `policy` in `env` from `observations`: (E, obs_dim), the observations
    env.reset() just returned, filling `buffers` (see reinforce.rollout_buffers): reinforce's
    steps, and what bootstrapping needs: which episodes terminated (not only ended), the
    observations after the last step, and in SAME_STEP mode the last observation of every
    episode that ended (the env's info["final_obs"]: its returned observation already starts
    the next episode).

    normalizer: an ObservationNormalizer, or None.  With one, the policy acts on (and the
    buffers hold) observations normalized by its statistics as they stand, the last ones
    included; the raw ones are kept in buffers["observations"], (T, E, obs_dim), to update the
    statistics after the epoch, so that every state of a rollout is normalized alike.
    """
    states, actions, rewards = buffers["states"], buffers["actions"], buffers["rewards"]
    dones, terminals = buffers["dones"], buffers["terminated"]
    same_step = autoreset_mode(env) == AutoresetMode.SAME_STEP
    final_observations = buffers["final_observations"] = {}
    if normalizer is not None:
        raw = buffers.setdefault("observations", np.empty(states.shape))  # float64
    noise = policy.sampling_noise(dones.shape)  # all of the epoch's sampling noise, in one call
    for t in range(len(states)):
        if normalizer is None:
            states[t] = observations
        else:
            raw[t] = observations
            states[t] = normalizer(observations)
        actions[t] = policy.act(states[t], noise[t])
        observations, rewards[t], terminals[t], truncated, info = env.step(actions[t])
        np.logical_or(terminals[t], truncated, out=dones[t])
        if same_step and "final_obs" in info:
            ended = np.flatnonzero(info["_final_obs"])
            final = np.stack(info["final_obs"][ended])
            final_observations[t] = (ended, final if normalizer is None else normalizer(final))
    buffers["last_observations"] = observations if normalizer is None else normalizer(observations)
    transitions(env, dones, out=buffers["valid"])


def following_values(values, buffers, baseline, bootstrap, terminal_value=0.0):
    """V'_t of GAE (returns.py), the value of the state after step t: (T, E).

    values: V(s_t), (T, E).  The state after step t is states[t + 1], or last_observations
    after the last step.  bootstrap=True: V'_t = V(that state), and terminal_value where the
    episode terminated at t; an episode cut by its time limit takes V of its last observation,
    which in NEXT_STEP mode is states[t + 1] itself (the reset comes one step later) and in
    SAME_STEP mode was kept in final_observations.  bootstrap=False (the post's treatment of the
    ends): V'_t = 0 wherever an episode was cut and after the last step, terminal_value where it
    terminated.

    terminal_value: what the state after a termination is worth, 0 in the MDP.  r_min / (1 − γ),
    the worst any continuation could score, removes the incentive to end an episode early to
    escape negative rewards (the swing-up's cart leaving the track), and changes nothing for a
    policy that never terminates, so not the optimum when that never does.
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


def advantages_and_targets(buffers, options, baseline, rewards=None):
    """The advantages the update weights log π by, and the value fit's targets: each (T, E).

    options.gae_lambda None: A = G − b with the post's returns G (baselines.compute_advantages),
    target G.  gae_lambda = λ: A = GAE(λ) from the ValueBaseline `baseline`, target the λ-return
    A + V, with V = options.terminal_value after a termination (see following_values).
    Normalized over the valid samples with options.normalize_advantages.  rewards: (T, E), the
    rewards to learn from (default: the rollout's; scaled ones with normalize_rewards).
    """
    rewards = buffers["rewards"] if rewards is None else rewards
    dones, valid, states = buffers["dones"], buffers["valid"], buffers["states"]
    if options.gae_lambda is None:
        returns = calculate_returns(rewards, dones, options.gamma)
        return compute_advantages(returns, valid, baseline, options.normalize_advantages, states), returns
    values = baseline(states)
    following = following_values(values, buffers, baseline, options.bootstrap, options.terminal_value)
    advantages = gae_advantages(rewards, values, following, dones, options.gamma, options.gae_lambda)
    targets = advantages + values
    if options.normalize_advantages:
        advantages = normalize(advantages, valid)
    return advantages, targets
