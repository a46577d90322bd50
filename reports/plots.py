"""The two figures of the suite: a task x task heatmap and average-accuracy curves.

Both the report and the W&B logger draw matrices with `heatmap`, so a matrix looks the
same in a paper draft and on a W&B run page. Figures are built without pyplot (no global
state, no display needed): callers save them or hand them to `wandb.Image`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter


def evaluated_cells(R, joint: bool) -> list[list[float | None]]:
    """R with None where nothing was evaluated: in a sequential run, tasks after row i had no head yet.

    The harness stores 0.0 there by construction; a heatmap should not show it as a result.
    """
    return [[v if joint or j <= i else None for j, v in enumerate(row)] for i, row in enumerate(R)]


def heatmap(matrix, title: str, row_labels=None, vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis") -> Figure:
    """Row i: after training task i; column j: evaluated on task j. Values are fractions, annotated in %.

    None cells stay blank. Task indices are 1-based, as in the console log.
    """
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    rows, cols = values.shape
    row_labels = row_labels or [str(i + 1) for i in range(rows)]
    fig = Figure(figsize=(2.0 + 0.55 * cols, 1.6 + 0.5 * rows), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(image, ax=ax, format=PercentFormatter(xmax=1.0))
    fontsize = 8 if cols <= 10 else 6
    for i in range(rows):
        for j in range(cols):
            if not np.isnan(values[i, j]):
                r, g, b, _ = image.cmap(image.norm(values[i, j]))
                color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(j, i, f"{100 * values[i, j]:.1f}", ha="center", va="center", fontsize=fontsize, color=color)
    ax.set_xticks(range(cols), [str(j + 1) for j in range(cols)])
    ax.set_yticks(range(rows), row_labels)
    ax.set_xlabel("evaluated on task j")
    ax.set_ylabel("after training task i")
    ax.set_title(title)
    return fig


def accuracy_curves(curves: dict[str, list[float]], num_tasks: int, title: str, stds: dict | None = None) -> Figure:
    """Average accuracy over the seen tasks after each task, one line per method.

    `stds[method]`, where given (not None), is drawn as a ±1 std band: whether two lines
    differ by more than the seeds make them wobble. A one-point curve (joint training,
    evaluated once on all tasks) is drawn as a dashed horizontal reference line.
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    tasks = list(range(1, num_tasks + 1))
    stds = stds or {}
    for method, curve in curves.items():
        values = np.array([100 * v for v in curve])
        std = None if stds.get(method) is None else 100 * np.array(stds[method])
        if len(values) == 1 and num_tasks > 1:
            ax.axhline(values[0], linestyle="--", color="grey", label=method)
            if std is not None:
                ax.axhspan(values[0] - std[0], values[0] + std[0], color="grey", alpha=0.15)
        else:
            x = tasks[: len(values)]
            (line,) = ax.plot(x, values, marker="o", label=method)
            if std is not None:
                ax.fill_between(x, values - std, values + std, color=line.get_color(), alpha=0.2)
    ax.set_xticks(tasks)
    ax.set_xlabel("after training task")
    ax.set_ylabel("average accuracy over seen tasks (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return fig


def against_budget(series: dict[str, dict[str, dict[int, list[float]]]], title: str) -> Figure:
    """One panel per metric: its mean against epochs per task, one line per method, with the 95% interval
    of the mean over seeds (Student t) as a band; a single seed gets no band."""
    from scipy import stats

    fig = Figure(figsize=(4.2 * len(series), 3.8), layout="constrained")
    axes = fig.subplots(1, len(series), squeeze=False)[0]
    for ax, (metric, methods) in zip(axes, series.items()):
        for method, by_epochs in methods.items():
            epochs = sorted(by_epochs)
            means = np.array([np.mean(by_epochs[e]) for e in epochs])
            (line,) = ax.plot(epochs, means, marker="o", label=method)
            half = [stats.t.ppf(0.975, len(by_epochs[e]) - 1) * np.std(by_epochs[e], ddof=1) / np.sqrt(len(by_epochs[e]))
                    if len(by_epochs[e]) > 1 else 0.0 for e in epochs]
            ax.fill_between(epochs, means - half, means + half, color=line.get_color(), alpha=0.2)
        all_epochs = sorted({e for by_epochs in methods.values() for e in by_epochs})
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_epochs, [str(e) for e in all_epochs])
        ax.set_xlabel("epochs per task")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig
