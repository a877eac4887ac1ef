"""What a failing seed's policy does: docs/failures.png (docs/seeds.md).

    python docs/failures.py SWINGUP_FAILED SWINGUP_SOLVED MCC_FAILED MCC_SOLVED MCC_FAILED_CSV MCC_SOLVED_CSV

The first four are checkpoints (--save), the last two the --csv learning curves of the two
MountainCarContinuous runs.  Each checkpoint's policy acts with its mean (as the evaluation
does) from the evaluation's own first start (seed S + 10,000, as `--eval` seeds it); for the
swing-up the worst of its first 100 episodes is drawn, for MountainCarContinuous the first.
"""

import sys

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minipg.envs import make_env
from minipg.tools.checkpoint import load_checkpoint, load_policy
from minipg.tools.run import EVAL_SEED_OFFSET


def episodes(path, count):
    """Deterministic episodes of the checkpoint at `path`, as `--eval count` runs them: (observations
    (steps, count, D), actions (steps, count), returns (count,), lengths (count,))."""
    checkpoint = load_checkpoint(path)
    options = checkpoint.options
    policy, normalizer = load_policy(path)
    env = make_env(options.env, count, options.vectorization)
    observations, _ = env.reset(seed=checkpoint.config["seed"] + EVAL_SEED_OFFSET)
    seen, actions = [], []
    returns, lengths = np.zeros(count), np.zeros(count, dtype=int)
    running = np.ones(count, dtype=bool)
    while running.any():
        action = policy.act_deterministic(observations if normalizer is None else normalizer(observations))
        seen.append(observations)
        actions.append(np.clip(action[:, 0], -1, 1))
        observations, rewards, terminated, truncated, _ = env.step(action)
        returns += np.where(running, rewards, 0.0)
        lengths += running
        running &= ~(terminated | truncated)
    env.close()
    return np.array(seen), np.array(actions), returns, lengths


def swingup_panels(axes, path, label, color):
    observations, actions, returns, lengths = episodes(path, 100)
    worst = int(np.argmin(returns))
    steps = lengths[worst]
    t = np.arange(steps) * 0.01
    x = observations[:steps, worst, 0]
    theta = np.unwrap(np.arctan2(observations[:steps, worst, 3], observations[:steps, worst, 2]))
    text = f"{label}: worst of 100 episodes ({returns[worst]:.0f}; mean {returns.mean():.0f})"
    axes[0].plot(t, x, color=color, label=text)
    axes[1].plot(t, np.degrees(theta), color=color)
    axes[2].plot(t, actions[:steps, worst], color=color, linewidth=0.6)


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__.split("\n\n")[1].strip())
    swing_failed, swing_solved, mcc_failed, mcc_solved, csv_failed, csv_solved = argv
    fig = Figure(figsize=(11, 8.5))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3, 2)
    left = [fig.add_subplot(grid[row, 0]) for row in range(3)]
    for path, color in ((swing_solved, "tab:blue"), (swing_failed, "tab:red")):
        seed = load_checkpoint(path).config["seed"]
        swingup_panels(left, path, f"seed {seed}", color)
    left[0].axhline(2.4, color="black", linestyle=":", linewidth=0.8)
    left[0].axhline(-2.4, color="black", linestyle=":", linewidth=0.8)
    left[0].set_ylabel("cart x (m); track ±2.4")
    left[0].legend(fontsize=7, loc="lower left")
    left[0].set_title("CartPoleSwingUp-v0, preset solve", fontsize=9)
    left[1].set_ylabel("pole angle θ (°; 0 up)")
    for k in range(-2, 3):
        left[1].axhline(360 * k, color="black", linestyle=":", linewidth=0.6)
    left[2].set_ylabel("action (force / F_max)")
    left[2].set_xlabel("time (s)")

    right = [fig.add_subplot(grid[row, 1]) for row in range(3)]
    for path, csv, color in ((mcc_solved, csv_solved, "tab:blue"), (mcc_failed, csv_failed, "tab:red")):
        checkpoint = load_checkpoint(path)
        label = f"seed {checkpoint.config['seed']}, β {checkpoint.options.count_bonus:g}"
        observations, actions, returns, lengths = episodes(path, 1)
        steps = lengths[0]
        right[0].plot(observations[:steps, 0, 0], color=color,
                      label=f"{label}: first evaluation episode ({returns[0]:.1f})")
        right[1].plot(actions[:steps, 0], color=color, linewidth=0.8)
        data = np.genfromtxt(csv, delimiter=",", names=True)
        right[2].plot(data["env_steps"], data["log_std"], color=color, label=f"{label}: log σ")
        reached = np.flatnonzero(data["mean_return"] > 0)
        if len(reached):
            right[2].axvline(data["env_steps"][reached[0]], color=color, linestyle="--", linewidth=0.8,
                             label=f"{label}: first epoch with a mean return > 0")
    right[0].axhline(0.45, color="black", linestyle=":", linewidth=0.8)
    right[0].set_ylabel("car position (flag at 0.45)")
    right[0].set_title("MountainCarContinuous-v0: no bonus (the former preset) and β = 2", fontsize=9)
    right[0].legend(fontsize=7, loc="lower right")
    right[1].set_ylabel("action")
    right[1].set_xlabel("step")
    right[2].set_ylabel("log σ after each epoch")
    right[2].set_xlabel("env steps of training")
    right[2].ticklabel_format(axis="x", style="sci", scilimits=(3, 3))
    right[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("docs/failures.png", dpi=90)
    print("docs/failures.png")


if __name__ == "__main__":
    main(sys.argv[1:])
