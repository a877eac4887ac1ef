"""One training run as a function: `train_run(Run(options, seed, outputs, ...))` → RunResult.

A run makes its env and policy from its Options (or resumes a checkpoint), trains with the
post's `reinforce` or the solver's `train` (with Options.learners > 1, several learners at once,
keeping one: `train_run`), writes the files its OutputPaths name, evaluates, and returns what
happened: its history, the evaluation's returns, the files written and an
exit status.  It never parses anything: the command line (cli.py) builds the Run, the sweep
(sweep.py) submits the same function to a process pool or a Dask cluster.

Errors found before training (an env that cannot be made, spaces the policy cannot use, a
checkpoint that does not fit) raise RunError.  What happens once training has started is an
outcome, not an exception: the result's status says how the run ended, and what was done is
always written first —

- Ctrl-C or SIGTERM (as sent by `timeout`, Slurm, systemd) stops after the current env step;
  the complete epochs' outputs are written (status 130 or 143), and the checkpoint gets the
  generator's state after the last complete epoch, so a resumed run samples what the
  uninterrupted one would;
- a NaN or inf (the loss, a gradient, a parameter, an observation, a reward) stops training
  naming the epoch (status 1); the outputs keep the good epochs, the last checkpoint is kept;
- a write that fails (a full disk, a lost permission) stops training; the other outputs are
  written and one line names the file, the reason and what is intact (status 74).
"""

import csv
import functools
import io
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace

import gymnasium
import numpy as np
from gymnasium import spaces

from ..envs import env_spec, make_env, make_single_env
from ..options import Options, OptionsError, flag
from ..policies import DEFAULT_CHUNK_SIZE, NonFiniteError
from ..reinforce import reinforce
from ..solver import make_policy, new_state, train
from .checkpoint import Checkpoint, CheckpointError, restore, save_checkpoint, write_atomically
from .evaluation import evaluate
from .plotting import plot_learning_curves
from .render import render_episode_gif

# Exit statuses besides 0 and a usage error's 2.
EXIT_NON_FINITE = 1
EXIT_IO_ERROR = 74  # EX_IOERR of sysexits.h: an output file could not be written
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process ended by Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a scheduler (timeout, Slurm, systemd) sends

EVAL_SEED_OFFSET = 10_000  # evaluation episodes are seeded apart from training's epoch seeds
CSV_COLUMNS = ("epoch", "avg_reward", "mean_return", "episodes", "loss", "entropy", "log_std",
               "env_steps", "steps_per_s", "wall_seconds")


class RunError(Exception):
    """A run that cannot start: the env cannot be made, its spaces do not fit the policy, the
    checkpoint to resume does not fit.  The message says why in one line."""


@dataclass(frozen=True)
class OutputPaths:
    """The files a run writes (None: not written).  save: a checkpoint at the end (and every
    save_every epochs); csv: one row per epoch; plot: the learning-curve PNG; gif: one
    deterministic episode."""

    save: str = None
    save_every: int = None
    csv: str = None
    plot: str = None
    gif: str = None


@dataclass(frozen=True)
class Run:
    """Everything a run is a function of.

    options: its Options; seed: seeds the policy and the envs (with options.learners > 1, learner
    0's; the others' are derived from it: learner_seeds); preset: the name its options came
    from (saved in checkpoints); outputs: OutputPaths; evaluation: episodes evaluated after
    training (0: none); resume: a loaded Checkpoint to continue (its options' fixed fields must
    be `options`'); policy: "categorical" or "gaussian" to require one (None: the action
    space decides); reference: {label: per-epoch curve} drawn dashed on the plot; prog: the
    name messages start with.
    """

    options: Options
    seed: int = 0
    preset: str = None
    outputs: OutputPaths = OutputPaths()
    evaluation: int = 100
    resume: Checkpoint = None
    policy: str = None
    reference: dict = None
    prog: str = "minipg"


@dataclass
class RunResult:
    """How a run ended.  status: 0, EXIT_NON_FINITE, EXIT_IO_ERROR, EXIT_INTERRUPTED or
    EXIT_TERMINATED; history: per-epoch lists; policy: the trained policy; evaluation: the
    deterministic evaluation's returns (evaluation,) or None; written: {path: what it holds};
    wall: seconds of training and evaluation; learner_seed: the seed of the learner kept (the
    run's seed unless options.learners > 1)."""

    seed: int
    status: int
    history: dict
    policy: object
    evaluation: np.ndarray = None
    written: dict = field(default_factory=dict)
    wall: float = 0.0
    learner_seed: int = None


# ---------------------------------------------------------------- several learners
LAST_EPOCHS = 10  # the last epochs whose mean return a run quotes, and its learners are chosen by


def learner_seeds(seed, learners):
    """The seeds of a run's learners: the run's own seed, then one derived from it per further
    learner (NumPy's SeedSequence(seed) with spawn key (k,)), each a 32-bit integer: learner k of
    a run is the one-learner run of its seed, bit for bit."""
    return [seed] + [int(np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1)[0])
                     for k in range(1, learners)]


def last_mean_return(history, epochs=LAST_EPOCHS):
    """The mean return of the finished episodes over the last `epochs` epochs (NaN if none ended):
    the figure the progress summary, the seed table, --results and the learners' choice quote."""
    return nan_reduce(np.mean, history["mean_return"][-epochs:])


def learner_score(history):
    """last_mean_return over the last LAST_EPOCHS epochs, −inf if no episode ended."""
    score = last_mean_return(history)
    return -np.inf if np.isnan(score) else score


def kept_learner(histories, failed=()):
    """Index of the learner to keep: the highest learner_score among those not in `failed`
    (a NaN stopped them), each over the epochs all of them completed (a stop can leave one an
    epoch ahead), the lowest index on a tie; training returns only, never an evaluation."""
    candidates = [k for k in range(len(histories)) if k not in failed] or list(range(len(histories)))
    common = min(len(histories[k]["mean_return"]) for k in candidates)
    return max(candidates, key=lambda k: (learner_score({"mean_return": histories[k]["mean_return"][:common]}), -k))


@dataclass
class Learner:
    """One learner of a run: its seed, env and SolverState; rng_after_epoch: its generator's state
    after its last complete epoch; error: the NonFiniteError that stopped it, if one did."""

    seed: int
    env: object
    state: object
    rng_after_epoch: dict = None
    error: Exception = None
    crash: BaseException = None  # anything else it raised (a bug), raised again by the main thread
    retired: bool = False  # not chosen after options.select_after epochs: it stopped there
    shown: int = 0  # epochs whose progress line was printed


def train_run(run):
    """Train (or resume, or only evaluate a finished) run and write its outputs; see the module
    docstring.  Returns a RunResult; raises RunError if the run cannot start.

    With options.learners = n > 1, n learners (seeds: learner_seeds) train at once, each on its
    own thread, in step: after each epoch the progress shows every learner, and the CSV and
    checkpoints hold the one kept_learner keeps then.  With options.select_after = K, after epoch K
    only that one goes on (the others stop there).  At the end it is the run's policy,
    plotted, evaluated and saved as the one-learner run of its own seed (`--seed` of that learner
    alone gives the same run, evaluation included), so `--load` resumes it alone.  A learner
    stopped by a NaN is dropped, with a warning, and the others go on (status 1 if none is
    left); Ctrl-C stops them all after their current env step.
    """
    started = time.perf_counter()
    options = run.options
    if run.resume is not None and options.learners > 1:
        raise RunError(f"{flag('learners')} {options.learners}: a checkpoint holds one learner, so a "
                       f"resumed run has {flag('learners')} 1")
    learners = []
    try:
        for seed in learner_seeds(run.seed, options.learners):
            learners.append(Learner(seed, *start(replace(run, seed=seed))))
    except RunError:
        for learner in learners:
            learner.env.close()
        raise
    several = len(learners) > 1
    start_epoch = len(learners[0].state.history["loss"])
    outputs = Outputs(run.prog)
    paths = run.outputs
    if run.resume is not None:
        print(f"loaded {run.resume.path}: {start_epoch} epochs done", flush=True)
        changed = run.resume.options.changes(options)
        if changed:
            print(f"changed against the checkpoint, from epoch {start_epoch + 1}: " + ", ".join(
                f"{flag(name)} {old} → {new}" for name, (old, new) in changed.items()), flush=True)
        if paths.save and os.path.abspath(run.resume.path) == os.path.abspath(paths.save):
            outputs.complete[paths.save] = ("checkpoint", start_epoch)
    for learner in learners:
        # The generator as it was after the last complete epoch: an interrupted epoch has drawn
        # from it already, and the checkpoint must hold the state a resumed run starts from.
        learner.rng_after_epoch = learner.state.policy.rng.bit_generator.state
        learner.shown = start_epoch

    def kept():
        active = [learner for learner in learners if not learner.retired]  # after select_after, the chosen one
        return active[kept_learner([learner.state.history for learner in active],
                                   [k for k, learner in enumerate(active) if learner.error])]

    def choice_line(learner, epochs, early=False):
        """Which learner is kept, with every learner's score over the `epochs` all completed
        (early: chosen after options.select_after epochs, to go on alone)."""
        window = min(LAST_EPOCHS, epochs)
        scores = [learner_score({"mean_return": other.state.history["mean_return"][:epochs]}) for other in learners]
        shown = ", ".join("dropped" if other.error else "no episode ended" if score == -np.inf else f"{score:.2f}"
                          for other, score in zip(learners, scores))
        after = f" after epoch {epochs}; it alone goes on" if early else ""
        return (f"kept learner {learners.index(learner)} (seed {learner.seed}){after}: its training episodes' mean "
                f"return over the last {window} epochs was the highest (learners 0–{len(learners) - 1}: {shown})")

    def save(epochs):
        learner = kept()  # saved as the one-learner run of its seed, which --load resumes
        config = {**options.replace(learners=1, select_after=None).asdict(), "seed": learner.seed,
                  "preset": run.preset}
        if several:
            config["learner_of"] = {"seed": run.seed, "learners": len(learners), "learner": learners.index(learner)}
        return outputs.write(paths.save, lambda: save_checkpoint(paths.save, learner.state, config),
                             "checkpoint", epochs)

    def log():
        history = kept().state.history
        return outputs.write(paths.csv, lambda: write_csv(history, paths.csv), "CSV", len(history["loss"]))

    def show_progress():
        """The progress lines of the epochs each learner completed since the last call."""
        for k, learner in enumerate(learners):
            history = learner.state.history
            for epoch in range(learner.shown, len(history["loss"])):
                prefix = f"learner {k}: " if several else ""
                print(prefix + format_progress(epoch, options.epochs, slice_history(history, epoch + 1)), flush=True)
            learner.shown = len(history["loss"])

    def report():
        show_progress()
        epochs = len(kept().state.history["loss"])
        if several and epochs == options.select_after:
            chosen = kept()
            print(choice_line(chosen, epochs, early=True), flush=True)
            for learner in learners:
                learner.retired = learner is not chosen
        if paths.csv:
            log()
        if paths.save and paths.save_every and epochs % paths.save_every == 0:
            save(epochs)

    # The learners meet after each epoch; the last to arrive reports it for all of them.
    step = threading.Barrier(len(learners), action=report)

    def after_epoch(learner, epoch, history):
        learner.rng_after_epoch = learner.state.policy.rng.bit_generator.state
        if not several:
            report()
            return
        try:
            step.wait()
        except threading.BrokenBarrierError:  # another learner stopped (Ctrl-C, a failed write): so does this one
            raise Stopped from None
        if learner.retired:
            raise Retired

    def train_learner(learner):
        watched = Watched(learner.env, lambda: interrupt() or outputs.failed or step.broken)
        try:
            # Overflows and NaNs are caught by the loops' own checks and reported in one line;
            # NumPy's warnings before that line would only repeat it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run_loop(watched, learner.state.policy, options, learner.seed,
                         functools.partial(after_epoch, learner), learner.state)
        except Stopped:
            step.abort()  # the others stop after their current env step
        except Retired:
            drop(learner)
        except NonFiniteError as error:
            learner.error = error
            if several:
                drop(learner)
        except Exception as error:  # a bug: raised again by the main thread
            if not several:
                raise
            learner.crash = error
            step.abort()

    def drop(learner):
        """A learner stopped by a NaN or retired: while another goes on, it still meets them after
        each of their epochs (the barrier counts it), so that they can finish."""
        try:
            for _ in range(len(learner.state.history["loss"]), options.epochs):
                if all(other.error is not None for other in learners if not other.retired):
                    step.abort()
                    return
                step.wait()
        except threading.BrokenBarrierError:
            pass

    print(f"{run.prog}: {options.env}, {options.num_envs} envs × T {options.T}, {options.epochs} epochs, "
          f"lr {options.lr}, γ {options.gamma}, seed {run.seed}", flush=True)
    if several:
        when = "its" if options.select_after is None else f"epoch {options.select_after}'s"
        print(f"{len(learners)} learners at once (seeds {', '.join(str(learner.seed) for learner in learners)}); "
              f"kept: the highest mean return of its training episodes over {when} last {LAST_EPOCHS} epochs"
              + ("" if options.select_after is None else ", and only it goes on from there"), flush=True)
    time_limit = env_spec(options.env).max_episode_steps
    if time_limit is not None and options.T < time_limit:
        # Every rollout resets the envs (the post's loop), so steps past T are never trained on.
        print(f"note: T {options.T} is shorter than {options.env}'s time limit of {time_limit} steps: each "
              f"rollout starts new episodes, so only their first {options.T} steps are trained on", flush=True)
    with Interrupt() as interrupt:
        if several:
            # Daemon threads: a second Ctrl-C ends the process without waiting for their learn steps
            # (only for a value fit running beside one, parallel.beside: its steps, ≈ 0.1 s for solve).
            threads = [threading.Thread(target=train_learner, args=(learner,), daemon=True,
                                        name=f"learner {k}") for k, learner in enumerate(learners)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # joined in slices, so that the main thread runs the signal handlers
                    thread.join(0.1)
            for learner in learners:
                if learner.crash is not None:
                    raise learner.crash
            show_progress()  # an epoch a stop left unreported (one learner ahead of another)
        else:
            train_learner(learners[0])
    for learner in learners:
        learner.env.close()
    learner = kept()
    state, policy, history = learner.state, learner.state.policy, learner.state.history
    done = len(history["loss"])
    ok = learner.error is None
    for k, failed in enumerate(learners):
        if ok and failed.error:  # a learner dropped, the run kept another
            print(f"warning: learner {k} (seed {failed.seed}) stopped in epoch "
                  f"{len(failed.state.history['loss']) + 1}: {failed.error}; dropped, the others went on",
                  file=sys.stderr, flush=True)
    if not ok:  # one line, naming each learner where there are several
        print("stopped: " + "; ".join(
            ("learner {k}: " if several else "").format(k=k) + f"epoch {len(failed.state.history['loss']) + 1}: "
            f"{failed.error}" for k, failed in enumerate(learners) if failed.error) +
            f". Outputs keep the {done} good epochs; the last checkpoint written before this epoch is kept.",
            file=sys.stderr, flush=True)
    stopped = interrupt.requested or outputs.failed
    if stopped:
        policy.rng.bit_generator.state = learner.rng_after_epoch
    if interrupt.requested:
        print(f"interrupted after {done} complete epochs; writing what was done", flush=True)
    if several and ok and not any(other.retired for other in learners):  # else chosen after select_after
        print(choice_line(learner, done), flush=True)
    if done > start_epoch or run.resume is None:
        summarize_training(history, start_epoch)
    if paths.save and ok and save(done):  # each output is written if it still can be
        print(f"checkpoint: {paths.save}" + (f" (learner {learners.index(learner)}: --seed {learner.seed})"
                                             if several else ""))
    if paths.csv and log():
        print(f"csv: {paths.csv}")
    label = f"minipg seed {run.seed}"
    if several:
        label += f" (learner {learners.index(learner)}, seed {learner.seed})"
    if paths.plot and done and outputs.write(paths.plot, lambda: plot_learning_curves(
            {label: history}, paths.plot, reference=run.reference,
            title=f"{algorithm_name(options)} on {options.env} ({options.num_envs} envs, T={options.T})"), "plot"):
        print(f"learning curve: {paths.plot}")
    evaluation = None
    if ok and not stopped:
        eval_seed = learner.seed + EVAL_SEED_OFFSET  # the kept learner's: its own run's evaluation
        if run.evaluation:
            evaluation = report_evaluation(policy, options, run.evaluation, eval_seed, state.observation_normalizer)
        if paths.gif:
            try:
                gif = outputs.write(paths.gif, lambda: render_episode_gif(
                    policy, options.env, paths.gif, seed=eval_seed, normalizer=state.observation_normalizer), "GIF")
            except ValueError as error:  # a task that cannot draw itself here
                gif = None
                print(f"warning: --gif {paths.gif} not written: {error}", file=sys.stderr, flush=True)
            if gif:
                print(f"gif: {paths.gif} (one deterministic episode, return {gif[1]:.1f})")
    if outputs.failed:
        print(outputs.report(done), file=sys.stderr, flush=True)
    status = interrupt.status if interrupt.requested else 0  # the most serious reason decides
    if outputs.failed:
        status = EXIT_IO_ERROR
    if not ok:
        status = EXIT_NON_FINITE
    return RunResult(run.seed, status, history, policy, evaluation, outputs.written, time.perf_counter() - started,
                     learner.seed)


def slice_history(history, epochs):
    """The history's first `epochs` entries of each metric (format_progress of an earlier epoch)."""
    return {key: values[:epochs] for key, values in history.items()}


def start(run):
    """(env, SolverState) of the run: made from its options, or resumed from its checkpoint.
    Raises RunError naming what does not fit."""
    options = run.options
    check_memory(options)
    try:
        env = make_env(options.env, options.num_envs, options.vectorization)
    except ValueError as error:  # a missing optional dependency, a vectorization the env lacks
        raise RunError(str(error)) from None
    except Exception as error:  # whatever else an env's constructor raises (an env id is the user's)
        raise RunError(f"{options.env}: cannot make the environment ({type(error).__name__}: {error})") from None
    try:
        policy = make_policy(env, options, run.seed, run.policy)
    except OptionsError as error:  # a Gaussian-only option for discrete actions
        env.close()
        raise RunError(f"{error.command_line()}; {options.env} has discrete actions (a CategoricalPolicy)") from None
    except (TypeError, ValueError) as error:  # e.g. a Box action space for a categorical policy
        env.close()
        raise RunError(f"{options.env}: {error}") from None
    # A resumed run is built as it was saved, then goes on with the new options (SolverState.continued).
    state = new_state(policy, options if run.resume is None else run.resume.options)
    if run.resume is not None:
        try:
            restore(run.resume, state)
        except CheckpointError as error:
            env.close()
            raise RunError(f"--load: {error}") from None
    return env, state


def memory_needed(options, observation_space, action_space):
    """A rough estimate of the bytes a run's arrays take at once, by the flags that size them:
    {(what, its flags): bytes}.

    - rollout buffers: T·E·(obs_dim + act + 4) float64 (observations, actions, rewards, returns,
      advantages, mask; act: 1 for a Discrete action, act_dim for a Box);
    - networks: 3 × their parameters (the parameters and Adam's two moments), in --dtype;
    - activations of one learn chunk: 2 × rows × (obs_dim + the layers' widths), in --dtype
      (pre-activations and activations), rows = min(T·E, --chunk-size).
    It leaves out what is small beside these (the envs, gradients of one chunk, the history).
    Each of --learners N learners has all of these: N > 1 multiplies them.
    """
    obs_dim = int(np.prod(observation_space.shape))
    discrete = isinstance(action_space, spaces.Discrete)
    act, outputs = (1, int(action_space.n)) if discrete else (int(np.prod(action_space.shape)),) * 2
    itemsize = np.dtype(options.dtype).itemsize
    rows = options.T * options.num_envs  # Python ints: no overflow for any size a flag accepts
    layers = [(obs_dim, *options.hidden, outputs)]
    if options.baseline == "value":
        layers.append((obs_dim, *options.value_hidden, 1))
    parameters = sum((a + 1) * b for sizes in layers for a, b in zip(sizes, sizes[1:]))
    widths = sum(sum(sizes[1:]) for sizes in layers)
    chunk = min(rows, options.chunk_size or DEFAULT_CHUNK_SIZE)
    networks = ", ".join(shown_sizes(name, getattr(options, name))
                         for name in ("hidden", "value_hidden")[:len(layers)])
    learners = f" × --learners {options.learners}" if options.learners > 1 else ""
    return {("rollout buffers", f"--T {options.T} × --num-envs {options.num_envs}{learners}"):
            rows * (obs_dim + act + 4) * 8 * options.learners,
            ("networks and Adam's moments", networks + learners): 3 * parameters * itemsize * options.learners,
            ("activations of a learn chunk", f"{chunk} rows (--chunk-size) × {networks}{learners}"):
            2 * chunk * (obs_dim + widths) * itemsize * options.learners}


def shown_sizes(name, sizes):
    return f"{flag(name)} {' '.join(map(str, sizes)) if sizes else 'none'}"


def physical_memory():
    """The machine's memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(options):
    """Raise RunError naming the flags if memory_needed (for the env's spaces, from one env made
    alone) exceeds the machine's memory: refused before any array is allocated."""
    available = physical_memory()
    if available is None:
        return
    try:
        env = make_single_env(options.env)
    except Exception:  # start() makes the env next and says why it cannot
        return
    env.close()
    if not (isinstance(env.observation_space, spaces.Box) and isinstance(env.action_space, (spaces.Discrete,
                                                                                           spaces.Box))):
        return  # spaces no policy takes: make_policy says so
    needed = memory_needed(options, env.observation_space, env.action_space)
    total = sum(needed.values())
    if total > available:
        (what, flags), largest = max(needed.items(), key=lambda item: item[1])
        raise RunError(f"{options.env}: the run would need about {gibibytes(total)} of memory, more than this "
                       f"machine's {gibibytes(available)}; most of it {what} ({flags}: {gibibytes(largest)})")


def gibibytes(count):
    """A byte count for people: '74.5 GiB', or '3.2e+12 GiB' for what no machine has."""
    value = count / 2**30
    return f"{value:.1f} GiB" if value < 1e6 else f"{value:.2g} GiB"


def run_loop(env, policy, options, seed, callback, state):
    """The post's REINFORCE itself (reinforce.py) when no addition of the solver is on, else the
    solver (solver.py), which gives the same history in that case (tested)."""
    if options.is_posts_algorithm():
        return reinforce(env, policy, options.gamma, options.epochs, options.T, seed, callback, state.history)
    return train(env, policy, options, seed, callback, state)


def algorithm_name(options):
    """What trains the policy, for plot titles: REINFORCE's one step, or the clipped surrogate's passes."""
    return "REINFORCE" if options.clip_ratio is None else f"PPO (clipped surrogate, ε {options.clip_ratio})"


# ---------------------------------------------------------------- reporting
def format_progress(epoch, epochs, history):
    """One line per epoch: the post's metric (avg_reward: the rollout's rewards over its finished
    episodes, unfinished ones' rewards included), the mean return of the finished episodes,
    loss, entropy, speed and ETA."""
    seconds = history["seconds"]
    steps_per_epoch = history["env_steps"][-1] / (epoch + 1)
    rate = steps_per_epoch / seconds[-1] if seconds[-1] > 0 else float("inf")
    eta = (epochs - epoch - 1) * float(np.median(seconds))
    return (f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}"
            f"  avg_reward (post's metric) {history['avg_reward'][-1]:8.2f}"
            f"  mean_return (finished episodes) {history['mean_return'][-1]:8.2f}"
            f"  episodes {history['episodes'][-1]:5d}"
            f"  loss {history['loss'][-1]:10.4g}"
            f"  entropy {history['entropy'][-1]:7.3f}"
            f"  {rate / 1000:7.1f}k steps/s  ETA {eta:5.1f}s")


def nan_reduce(reduce, values):
    """reduce() over the non-NaN values, NaN if there are none — without NumPy's RuntimeWarning
    (a short swing-up rollout often ends no episode, so every mean_return is NaN)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(reduce(values)) if values.size else float("nan")


def summarize_training(history, start_epoch):
    """The line after training: epochs, seconds per epoch and the last epochs' mean return."""
    if not history["loss"]:  # stopped (NaN, Ctrl-C) before the first epoch ended
        print("no epoch completed", flush=True)
        return
    seconds = history["seconds"][start_epoch:] or history["seconds"]
    last = min(LAST_EPOCHS, len(history["mean_return"]))
    mean = last_mean_return(history)
    returns = (f"mean episode return over the last {last} epochs: {mean:.2f}" if not np.isnan(mean) else
               f"no episode ended in the last {last} epochs (T shorter than an episode?)")
    print(f"done: {len(history['loss'])} epochs ({np.median(seconds):.3f}s per epoch, median); {returns}")


def report_evaluation(policy, options, episodes, seed, normalizer=None):
    """Print sampled-action and deterministic evaluations of `episodes` episodes, the
    deterministic one last; return its returns: (episodes,)."""
    for deterministic in (False, True):
        returns = evaluate(policy, options.env, episodes, deterministic=deterministic, seed=seed,
                           vectorization=options.vectorization, normalizer=normalizer)
        kind = "deterministic" if deterministic else "sampled"
        print(f"eval ({kind}): min {returns.min():.1f}, max {returns.max():.1f}")
        print(f"eval: mean return {returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} episodes ({kind})")
    return returns


def write_csv(history, path):
    """One row per epoch (see CSV_COLUMNS); rewritten whole and atomically each time."""
    epochs = len(history["loss"])
    log_std = history.get("log_std", [""] * epochs)
    wall = np.cumsum(history["seconds"])
    steps_per_epoch = np.diff(np.concatenate(([0], history["env_steps"])))
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for i in range(epochs):
        seconds = history["seconds"][i]
        writer.writerow([i + 1, history["avg_reward"][i], history["mean_return"][i], history["episodes"][i],
                         history["loss"][i], history["entropy"][i], log_std[i], history["env_steps"][i],
                         steps_per_epoch[i] / seconds if seconds > 0 else "", wall[i]])
    write_atomically(path, lambda file: file.write(text.getvalue().encode("utf-8")))
    return path


# ---------------------------------------------------------------- stopping cleanly
class Retired(Exception):
    """Raised after an epoch in a learner that was not chosen after options.select_after epochs."""


class Stopped(Exception):
    """Raised by Watched's step when the run must stop (Ctrl-C, SIGTERM, a failed write)."""


class Watched(gymnasium.vector.VectorWrapper):
    """The training env as a run sees it: after every step, a non-finite reward stops the run
    with NonFiniteError, and `should_stop()` (polled like a Ctrl-C flag) with Stopped, so a run
    stops after the current env step, never in the middle of an update."""

    def __init__(self, env, should_stop):
        super().__init__(env)
        self.should_stop = should_stop

    def step(self, actions):
        result = self.env.step(actions)
        if not np.isfinite(result[1]).all():
            raise NonFiniteError("the environment returned a non-finite reward")
        if self.should_stop():
            raise Stopped
        return result


class Interrupt:
    """Ctrl-C or SIGTERM asks the run to stop after the current env step, not mid-update.

    A context manager around training: the first signal sets `requested` and `signum`; a
    second one ends the process at once (Ctrl-C as KeyboardInterrupt) for a user who really
    wants out now.  Only the main thread may set signal handlers: elsewhere (a run on a Dask
    worker's thread) none is set, and `requested` stays False.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested, self.signum, self._previous = False, None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        if self.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(EXIT_TERMINATED)
        self.requested, self.signum = True, signum
        print(f"\n{self.notice(signum)}", flush=True)

    def notice(self, signum):
        """The line printed on the first signal."""
        return ("interrupted: stopping after this step (Ctrl-C again to abort)" if signum == signal.SIGINT
                else f"{signal.Signals(signum).name}: stopping after this step")

    def __call__(self):
        return self.requested

    @property
    def status(self):
        """The exit status a shell reports for a process ended by the signal: 128 + its number."""
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED


class Outputs:
    """Writes a run's files so that an I/O error ends the run cleanly.

    A full disk, a removed directory or a lost permission makes a writer raise OSError; `write`
    records it (the file is not tried again), `failed` stops training after the current env
    step, the other outputs are still written, and `report` says in one line what failed, why,
    and what is intact.  Checkpoints and CSVs are written atomically, so a failed write leaves
    their previous complete version: `complete` remembers what it holds.
    """

    def __init__(self, prog):
        self.prog = prog
        self.failures = {}  # path -> the OSError its writer raised
        self.complete = {}  # path -> (kind, epochs) of its last complete version (atomic writes)
        self.written = {}  # path -> kind

    @property
    def failed(self):
        return bool(self.failures)

    def write(self, path, write, kind=None, epochs=None):
        """write()'s result, or None if it raised OSError (now or for this path before).
        kind, epochs: what the file then holds, e.g. ("checkpoint", 7)."""
        if path in self.failures:
            return None
        try:
            result = write()
        except OSError as error:
            self.failures[path] = error
            return None
        if kind is not None:
            self.written[path] = kind
        if epochs is not None:
            self.complete[path] = (kind, epochs)
        return result

    def report(self, epochs=None):
        """'prog: error: cannot write runs/x.safetensors: No space left on device. Epochs trained:
        8; last complete checkpoint: epoch 7 at runs/x.safetensors' (what is intact, given `epochs`)."""
        message = f"{self.prog}: error: " + "; ".join(f"cannot write {path}: {error.strerror or error}"
                                                      for path, error in self.failures.items())
        if epochs is None:
            return message
        intact = "; ".join(f"last complete {kind}: epoch {done} at {path}"
                           for path, (kind, done) in self.complete.items()
                           if os.path.exists(path))  # not if its directory was removed
        return f"{message}. Epochs trained: {epochs}; {intact or 'no complete checkpoint or CSV'}"
