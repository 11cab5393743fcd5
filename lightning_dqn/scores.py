"""How sure we are that a variant helped: robust aggregates over seeds with bootstrap intervals.

A handful of seeds per variant is the norm in deep RL, and their mean is dragged by one outlier
while their median ignores most of them. Following Agarwal et al., "Deep RL at the Edge of the
Statistical Precipice" (NeurIPS 2021), a variant is summarised by its **interquartile mean** (IQM:
the mean of the middle half of its runs) with a **percentile bootstrap 95% interval** over runs,
and two variants are compared by the **probability of improvement** P(X > Y): the chance that a
random run of one beats a random run of the other (ties count half).

Across several tasks (games), scores are first normalised per task and arranged as rliable's
``(runs, tasks)`` matrix; the same aggregates then run over every run of every task, the
bootstrap resamples runs within each task (rliable's stratified bootstrap), P(X > Y) is averaged
over tasks, and the **optimality gap** (how far the runs fall short of a normalised score of 1, on
average) and **performance profiles** (the fraction of runs above each score) complete the picture.

The statistics are the paper's own library, ``rliable`` (its ``metrics`` and its stratified
bootstrap, ``library.get_interval_estimates``); these wrappers take one score per run (a list, for
one task) or a ``(runs, tasks)`` matrix, and give a seeded, printable ``Estimate``. rliable is
imported on first use: it costs seconds, and only reports need it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

Aggregate = Callable[[np.ndarray], float]


def _runs(scores) -> np.ndarray:
    """Scores as rliable's ``(runs, tasks)`` matrix: a matrix stays, a list is one task's runs."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        scores = scores.ravel()[:, None]
    if scores.size == 0:
        raise ValueError("no scores")
    return scores


def interquartile_mean(scores) -> float:
    """Mean of the scores left after cutting ``int(n / 4)`` from each end (rliable's
    ``aggregate_iqm``: ``scipy.stats.trim_mean`` with ``proportiontocut=0.25``).

    >>> interquartile_mean([1, 2, 3, 4, 100])   # cuts 1 and 100
    3.0
    >>> interquartile_mean([0, 1, 2, 3, 4, 5, 6, 7])   # cuts 0, 1 and 6, 7
    3.5
    """
    from rliable import metrics

    return float(metrics.aggregate_iqm(_runs(scores)))


def mean(scores) -> float:
    """The mean over every run (of every task).

    >>> mean([[1, 2], [3, 6]])
    3.0
    """
    from rliable import metrics

    return float(metrics.aggregate_mean(_runs(scores)))


def median(scores) -> float:
    """rliable's median: of the per-task means over runs (so one task's seeds count once).

    >>> median([[1, 2, 9], [3, 6, 9]])   # task means 2, 4, 9
    4.0
    """
    from rliable import metrics

    return float(metrics.aggregate_median(_runs(scores)))


def optimality_gap(scores, gamma: float = 1.0) -> float:
    """How far below ``gamma`` the runs fall on average, scores above it counting as ``gamma``
    (rliable's ``aggregate_optimality_gap``); lower is better.

    >>> optimality_gap([[0.5, 1.5], [0.0, 1.0]])   # clipped 0.5, 1, 0, 1: mean 0.625
    0.375
    """
    from rliable import metrics

    return float(metrics.aggregate_optimality_gap(_runs(scores), gamma))


def probability_of_improvement(x, y) -> float:
    """P(X > Y) + P(X = Y) / 2 over every pair of a run of ``x`` and a run of ``y`` (rliable's: the
    Mann-Whitney U statistic divided by ``len(x) * len(y)``); 0.5 means no difference. For
    ``(runs, tasks)`` matrices, pairs are made within each task and the tasks averaged.

    >>> probability_of_improvement([3, 4], [1, 3])   # pairs: 3>1, 3=3, 4>1, 4>3
    0.875
    >>> probability_of_improvement([[3, 0], [4, 0]], [[1, 1], [3, 1]])   # 0.875 on one task, 0 on the other
    0.4375
    """
    from rliable import metrics

    x, y = _runs(x), _runs(y)
    with warnings.catch_warnings():  # scipy warns about its p-value when every score ties; U is still exact
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(metrics.probability_of_improvement(x, y))


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


class _SeededNumpy:
    """numpy's global generator seeded for a ``with`` block and put back as it was after it."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self):
        self.saved = np.random.get_state()
        np.random.seed(self.seed)

    def __exit__(self, *exc):
        np.random.set_state(self.saved)


def _interval(score_arrays, func, samples: int, confidence: float, seed: int) -> Estimate:
    """rliable's percentile bootstrap: resample runs (independently per array, and within each task
    of a ``(runs, tasks)`` matrix), apply ``func``.

    rliable 1.2's stratified bootstraps draw their resamples with ``np.random.choice``, numpy's
    global generator, whatever ``random_state`` says (found here: the same seed gave different
    intervals; with it, arch also warns that it is deprecated). So the global generator is seeded for
    the call and put back as it was after it.
    """
    from rliable import library

    with _SeededNumpy(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point, interval = library.get_interval_estimates(
            {"x": score_arrays},
            lambda *arrays: np.array([func(*arrays)]),
            reps=samples,
            confidence_interval_size=confidence,
        )
    (low,), (high,) = interval["x"]
    return Estimate(float(point["x"][0]), float(low), float(high))


def bootstrap(
    scores, aggregate: Aggregate = interquartile_mean, samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """``aggregate(scores)`` with a percentile bootstrap interval: ``samples`` resamples of the runs,
    drawn with replacement, each aggregated; the interval holds the central ``confidence`` of them.
    Seeded, so a report is the same every time it is made."""
    return _interval(_runs(scores), aggregate, samples, confidence, seed)


def bootstrap_improvement(x, y, samples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """``probability_of_improvement(x, y)`` with a bootstrap interval (both sides resampled)."""
    return _interval([_runs(x), _runs(y)], probability_of_improvement, samples, confidence, seed)


def bootstrap_curve(
    values, samples: int = 500, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IQM over runs at each point of a curve, ``values[run, point]``, with a bootstrap band in
    which each resample draws whole runs (rliable's way for sample-efficiency curves: one
    stratified bootstrap over a ``(runs, 1, points)`` array). Returns ``(iqm, low, high)``.

    >>> iqm, low, high = bootstrap_curve([[0, 10], [1, 11], [2, 12], [3, 13]], samples=50)
    >>> iqm.tolist(), bool((low <= iqm).all() and (iqm <= high).all())
    ([1.5, 11.5], True)
    """
    from rliable import library
    from scipy.stats import trim_mean

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"need a (runs, points) array of scores, got shape {values.shape}")
    # rliable's aggregate_iqm is trim_mean(scores, 0.25, axis=None); axis=0 takes it at every point at once
    per_point = lambda scores: trim_mean(scores[:, 0, :], proportiontocut=0.25, axis=0)  # noqa: E731
    with _SeededNumpy(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point, interval = library.get_interval_estimates(
            {"x": values[:, None, :]}, per_point, reps=samples, confidence_interval_size=confidence
        )
    low, high = interval["x"]
    return np.asarray(point["x"]), np.asarray(low), np.asarray(high)


AGGREGATES: dict[str, Aggregate] = {
    "iqm": interquartile_mean,
    "mean": mean,
    "median": median,
    "optimality_gap": optimality_gap,
}


def performance_profile(
    scores, taus, samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fraction of runs (of every task) whose score is above each ``tau``, with a stratified
    bootstrap band: rliable's ``create_performance_profile``. Returns ``(profile, low, high)``.

    >>> profile, _, _ = performance_profile([[0.2, 1.4], [0.6, 0.9]], [0.0, 0.5, 1.0], samples=10)
    >>> profile.tolist()
    [1.0, 0.75, 0.25]
    """
    from rliable import library

    with _SeededNumpy(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        profiles, bands = library.create_performance_profile(
            {"x": _runs(scores)}, np.asarray(taus, dtype=np.float64), reps=samples, confidence_interval_size=confidence
        )
    low, high = bands["x"]
    return np.asarray(profiles["x"]), np.asarray(low), np.asarray(high)


__all__ = [
    "AGGREGATES",
    "Estimate",
    "bootstrap",
    "bootstrap_curve",
    "bootstrap_improvement",
    "interquartile_mean",
    "mean",
    "median",
    "optimality_gap",
    "performance_profile",
    "probability_of_improvement",
]
