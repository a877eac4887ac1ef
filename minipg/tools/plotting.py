"""Learning-curve figures with matplotlib's object API (no pyplot global state, works headless)."""

import os
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CURVES = (
    ("mean_return", "mean episode return"),
    ("avg_reward", "Σ rewards / Σ dones (the post's metric)"),
)
FIGSIZE = (10, 4)  # inches
# Up to this many epochs with a value, each is marked: a point between two epochs without one
# (NaN) has no segment to draw, so without a marker a short run's panel would be blank.
MARKED_POINTS = 30


def _save(figure, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def _plot_finite(ax, epochs, values, *style, **kwargs):
    """Plot values over epochs, joining the finite ones: an epoch in which no episode ended has
    no return (NaN), and the line goes on from the epochs before it to those after it."""
    finite = np.isfinite(values)
    marker = "o" if finite.sum() <= MARKED_POINTS else None
    return ax.plot(epochs[finite], values[finite], *style, marker=marker, markersize=3, **kwargs)


def learning_curves_figure(histories, title, reference=None):
    """The figure `plot_learning_curves` saves (its arguments but the path): a matplotlib Figure
    of FIGSIZE inches with one panel per metric of CURVES, epochs numbered from 1 as the progress
    log numbers them."""
    # Constrained layout makes room for each panel's tick labels and y label, and for the title.
    figure = Figure(figsize=FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(CURVES))
    for ax, (key, label) in zip(axes, CURVES):
        runs = [np.asarray(h[key], dtype=float) for h in histories.values() if len(h[key])]
        drawn, last = False, 0
        if runs:
            length = min(len(r) for r in runs)
            values = np.stack([r[:length] for r in runs])
            epochs = np.arange(1, length + 1)
            if len(runs) == 1:
                _plot_finite(ax, epochs, values[0], label=next(iter(histories)))
            else:
                with warnings.catch_warnings():  # an epoch where no run finished an episode is NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
                _plot_finite(ax, epochs, mean, label=f"minipg, mean of {len(runs)} runs")
                finite = np.isfinite(mean)
                ax.fill_between(epochs[finite], (mean - std)[finite], (mean + std)[finite], alpha=0.3,
                                label="± 1 std")
            drawn, last = bool(np.isfinite(values).any()), length
        if reference and key == "avg_reward":
            for ref_label, curve in reference.items():
                curve = np.asarray(curve, dtype=float)
                _plot_finite(ax, np.arange(1, len(curve) + 1), curve, "--", alpha=0.7, label=ref_label)
                last = max(last, len(curve))
        if runs and not drawn:
            ax.text(0.5, 0.5, "no episode ended in these epochs", transform=ax.transAxes, ha="center",
                    va="center", color="0.4")
            ax.set_yticks([])
        if last:  # every epoch in view, not only those with a value (matplotlib's 5% margins)
            margin = max(0.5, 0.05 * (last - 1))
            ax.set_xlim(1 - margin, last + margin)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1, 2, 3, not 0.5, 1.0, ...
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    figure.suptitle(title)
    return figure


def plot_learning_curves(histories, path, title, reference=None):
    """Plot one or more runs' per-epoch metrics into the PNG `path`; return `path`.

    histories: {label: history dict} (history as returned by `reinforce`).  With one run its
    curves are drawn as lines; with several, the mean over runs ± one standard deviation as a
    band (what the post's seaborn lineplot shows over repeated runs).  An epoch in which no
    episode ended (NaN) is skipped by the line; a run of few epochs has its points marked.
    reference: optional {label: per-epoch avg_reward list}, e.g. the original PyTorch curves,
    drawn dashed on the post's metric panel for comparison.  Raises OSError if `path` cannot
    be written.
    """
    _save(learning_curves_figure(histories, title, reference), path)
    return path
