"""The learning-curve picture (tools/plotting.py): never blank when few epochs end an episode,
epochs numbered from 1 as the progress log numbers them, and no label over another at the
figure's size."""

import math

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from minipg.tools.run import format_progress
from minipg.tools.plotting import CURVES, FIGSIZE, learning_curves_figure, plot_learning_curves

NAN = math.nan


def history(mean_returns, avg_rewards=None):
    """A history (reinforce's keys) of len(mean_returns) epochs, avg_reward the same numbers unless given."""
    epochs = len(mean_returns)
    return {"mean_return": list(mean_returns), "avg_reward": list(mean_returns if avg_rewards is None else avg_rewards),
            "episodes": [0 if math.isnan(value) else 1 for value in mean_returns], "loss": [0.5] * epochs,
            "entropy": [0.7] * epochs, "env_steps": [100 * (i + 1) for i in range(epochs)], "seconds": [0.1] * epochs}


def drawn(ax):
    """[(x, y, marked)] of the axes' lines, as arrays: what the panel shows of its data."""
    return [(np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float),
             line.get_marker() not in ("None", "", " ", None) and line.get_markersize() > 0)
            for line in ax.get_lines() if line.get_visible()]


def test_a_point_between_epochs_without_episodes_is_marked():
    """3 epochs, one episode ended in the second: a line has no segment to draw, a marker shows it."""
    figure = learning_curves_figure({"seed 0": history([NAN, 12.0, NAN])}, "3 epochs")
    for ax in figure.axes:
        [(x, y, marked)] = drawn(ax)
        np.testing.assert_array_equal(x, [2.0])
        np.testing.assert_array_equal(y, [12.0])
        assert marked
    # and the rendered picture has the line's colour where the point is
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3] / 255
    colour = np.array(to_rgba(figure.axes[0].get_lines()[0].get_color())[:3])
    for ax in figure.axes:
        column, row = ax.transData.transform((2.0, 12.0))
        row = pixels.shape[0] - row  # display y counts from the bottom, the image's rows from the top
        around = pixels[int(row) - 1:int(row) + 2, int(column) - 1:int(column) + 2]
        assert (np.abs(around - colour).max(axis=-1) < 0.1).any()


def test_the_line_joins_the_epochs_that_have_a_value():
    figure = learning_curves_figure({"seed 0": history([10.0, NAN, NAN, 20.0, 30.0])}, "5 epochs")
    for ax in figure.axes:
        [(x, y, _)] = drawn(ax)
        np.testing.assert_array_equal(x, [1.0, 4.0, 5.0])
        np.testing.assert_array_equal(y, [10.0, 20.0, 30.0])


def test_the_mean_of_several_runs_skips_epochs_where_no_run_ended_an_episode():
    runs = {"seed 0": history([NAN, 10.0, NAN, 30.0]), "seed 1": history([NAN, 20.0, NAN, NAN])}
    mean_return = learning_curves_figure(runs, "2 seeds").axes[0]
    [(x, y, marked)] = drawn(mean_return)
    np.testing.assert_array_equal(x, [2.0, 4.0])
    np.testing.assert_array_equal(y, [15.0, 30.0])
    assert marked
    [band] = mean_return.collections  # ± 1 std over the same epochs: finite, so drawn
    assert np.isfinite(band.get_paths()[0].vertices).all()


def test_a_run_in_which_no_episode_ended_says_so():
    figure = learning_curves_figure({"seed 0": history([NAN, NAN])}, "2 epochs")
    for ax in figure.axes:
        assert [text.get_text() for text in ax.texts] == ["no episode ended in these epochs"]


def test_the_plot_numbers_epochs_from_1_as_the_progress_log_does():
    run = history([5.0, 6.0, 7.0])
    figure = learning_curves_figure({"seed 0": run}, "3 epochs", reference={"PyTorch": [4.0, 5.0, 6.0]})
    logged = [int(format_progress(epoch, 3, run).split()[1].split("/")[0]) for epoch in range(3)]
    assert logged == [1, 2, 3]
    for ax in figure.axes:
        for x, _, _ in drawn(ax):
            np.testing.assert_array_equal(x, logged)
    figure.canvas.draw()
    ticks = [tick for tick in figure.axes[0].get_xticks() if figure.axes[0].get_xlim()[0] <= tick
             <= figure.axes[0].get_xlim()[1]]
    assert ticks == [1, 2, 3]


def visible_tick_labels(axis, limits):
    return [tick.label1 for tick in axis.get_major_ticks()
            if limits[0] <= tick.get_loc() <= limits[1] and tick.label1.get_visible() and tick.label1.get_text()]


@pytest.mark.parametrize("histories, reference", [
    # wide tick labels (−1000) beside the long y label of the post's metric
    ({"seed 0": history(list(np.linspace(-1000.0, 2000.0, 150)))}, None),
    ({f"seed {seed}": history(list(np.linspace(-1000.0, 2000.0 + seed, 150))) for seed in range(3)},
     {"PyTorch": list(np.linspace(-900.0, 1500.0, 150))}),
    ({"seed 0": history([NAN, 12.0, NAN])}, None),
])
def test_no_label_overlaps_another_at_the_figures_size(histories, reference):
    figure = learning_curves_figure(histories, "LunarLanderContinuous-v3: PPO-style solver, 3 seeds (16 envs, "
                                               "T=1000)", reference)
    assert tuple(figure.get_size_inches()) == FIGSIZE
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    extent = lambda artist: artist.get_window_extent(renderer)
    [title] = figure.texts
    panels = [ax.get_tightbbox(renderer) for ax in figure.axes]
    assert len(panels) == len(CURVES)
    assert not panels[0].overlaps(panels[1]), "a panel's labels run into the other panel"
    for ax, panel in zip(figure.axes, panels):
        assert not extent(title).overlaps(panel), "the title runs into a panel"
        assert figure.bbox.contains(panel.x0, panel.y0) and figure.bbox.contains(panel.x1, panel.y1), \
            "a label is cut off by the figure's edge"
        for label, axis, limits in ((ax.yaxis.label, ax.yaxis, ax.get_ylim()),
                                    (ax.xaxis.label, ax.xaxis, ax.get_xlim())):
            for tick_label in visible_tick_labels(axis, limits):
                assert not extent(label).overlaps(extent(tick_label)), \
                    f"{label.get_text()!r} runs into the tick label {tick_label.get_text()!r}"


def test_plot_learning_curves_writes_the_png_it_returns(tmp_path):
    path = tmp_path / "plots" / "curve.png"
    assert plot_learning_curves({"seed 0": history([NAN, 12.0, NAN])}, str(path), "3 epochs") == str(path)
    assert path.read_bytes().startswith(b"\x89PNG")
