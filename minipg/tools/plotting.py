"""Learning-curve figures with matplotlib's object API (no pyplot global state, works headless)."""

import os
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CURVES = (
    ("mean_return", "mean episode return"),
    ("avg_reward", "Σ rewards / Σ dones (the post's metric)"),
)


def _save(figure, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def plot_learning_curves(histories, path, title, reference=None):
    """Plot one or more runs' per-epoch metrics into the PNG `path`.

    histories: {label: history dict} (history as returned by `reinforce`).  With one run its
    curves are drawn as lines; with several, the mean over runs ± one standard deviation as a
    band (what the post's seaborn lineplot shows over repeated runs).
    reference: optional {label: per-epoch avg_reward list}, e.g. the original PyTorch curves,
    drawn dashed on the post's metric panel for comparison.
    """
    figure = Figure(figsize=(10, 4))
    axes = figure.subplots(1, len(CURVES))
    for ax, (key, label) in zip(axes, CURVES):
        runs = [np.asarray(h[key], dtype=float) for h in histories.values() if len(h[key])]
        if runs:
            length = min(len(r) for r in runs)
            values = np.stack([r[:length] for r in runs])
            epochs = np.arange(length)
            if len(runs) == 1:
                ax.plot(epochs, values[0], label=next(iter(histories)))
            else:
                with warnings.catch_warnings():  # an epoch where no run finished an episode is NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
                ax.plot(epochs, mean, label=f"minipg, mean of {len(runs)} runs")
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.3, label="± 1 std")
        if reference and key == "avg_reward":
            for ref_label, curve in reference.items():
                ax.plot(np.arange(len(curve)), curve, "--", alpha=0.7, label=ref_label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(title)
    _save(figure, path)
    return path
