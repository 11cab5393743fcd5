"""A study's figures, written as PNGs by the report and drawn by notebook 04.

- ``curves``: per task, each variant's IQM over seeds against frames, with its bootstrap band;
- ``aggregates``: each variant's IQM, mean, median (and, across tasks, optimality gap) with their
  95% intervals, drawn by rliable's ``plot_interval_estimates``;
- ``profile``: the performance profile (fraction of runs scoring above each tau), drawn by
  rliable's ``plot_performance_profiles``.

Each function returns the matplotlib figure; ``save`` writes and closes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightning_dqn.ablation.across_tasks import AcrossTasks, ScoreMatrix
from lightning_dqn.scores import performance_profile

PROFILE_POINTS = 61


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")  # a report run from a terminal or CI has no display
    import matplotlib.pyplot as plt

    return plt


def curves(
    rows: list[dict], metric: str, variants: list[str], baseline: str, tasks: list[str], bands_of, title: str = ""
):
    """One panel per task: ``bands_of(rows_of_task, metric)`` gives each variant's
    ``(frames, iqm, low, high)`` (``report.curve_bands``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks) + 1, 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        bands = bands_of([row for row in rows if row.get("task", "") == task], metric)
        for variant in variants:
            if variant not in bands:
                continue
            frames, iqm, low, high = bands[variant]
            (line,) = ax.plot(frames, iqm, label=variant, linewidth=2.2 if variant == baseline else 1.2)
            ax.fill_between(frames, low, high, color=line.get_color(), alpha=0.15)
        ax.set_title(task or title or metric)
        ax.set_xlabel("frames")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric}, IQM over seeds")
    drawn = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]  # a task with no finished run has no lines
    if drawn:
        drawn[-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def aggregates(summaries: list[AcrossTasks], names: tuple[str, ...], xlabel: str):
    """Each variant's aggregates (``names`` of ``AcrossTasks.aggregates``) with 95% intervals."""
    from rliable import plot_utils

    _pyplot()
    points = {s.variant: np.array([s.aggregates[name].value for name in names]) for s in summaries}
    intervals = {
        s.variant: np.array([[s.aggregates[n].low for n in names], [s.aggregates[n].high for n in names]])
        for s in summaries
    }
    labels = {"iqm": "IQM", "mean": "Mean", "median": "Median", "optimality_gap": "Optimality gap"}
    fig, _ = plot_utils.plot_interval_estimates(
        points, intervals, metric_names=[labels[n] for n in names], algorithms=list(points), xlabel=xlabel,
        xlabel_y_coordinate=-0.25 if len(points) < 4 else -0.1,
    )  # fmt: skip
    return fig


def profile(matrices: dict[str, ScoreMatrix], xlabel: str, samples: int = 500):
    """The performance profile of each variant's runs (all tasks pooled), with bootstrap bands."""
    from rliable import plot_utils

    plt = _pyplot()
    pooled = np.concatenate([m.scores.ravel() for m in matrices.values()])
    low, high = float(pooled.min()), float(pooled.max())
    taus = np.linspace(low - 0.05 * abs(high - low), high, PROFILE_POINTS)
    profiles, bands = {}, {}
    for variant, matrix in matrices.items():
        values, lower, upper = performance_profile(matrix.scores, taus, samples=samples)
        profiles[variant], bands[variant] = values, np.stack([lower, upper])
    fig, ax = plt.subplots(figsize=(6, 3.6))
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=bands, ax=ax, xlabel=xlabel, ylabel="fraction of runs > tau",
        labelsize="medium", ticklabelsize="small",
    )  # fmt: skip
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def save(fig, path: Path) -> Path:
    """Writes ``fig`` to ``path`` (a PNG) and closes it."""
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


__all__ = ["aggregates", "curves", "profile", "save"]
