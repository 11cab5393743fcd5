"""How sure we are that a variant helped: robust aggregates over seeds with bootstrap intervals.

A handful of seeds per variant is the norm in deep RL, and their mean is dragged by one outlier
while their median ignores most of them. Following Agarwal et al., "Deep RL at the Edge of the
Statistical Precipice" (NeurIPS 2021), a variant is summarised by its **interquartile mean** (IQM:
the mean of the middle half of its runs) with a **percentile bootstrap 95% interval** over runs,
and two variants are compared by the **probability of improvement** P(X > Y): the chance that a
random run of one beats a random run of the other (ties count half).

The statistics are the paper's own library, ``rliable`` (its ``metrics`` and its stratified
bootstrap, ``library.get_interval_estimates``); these wrappers take one score per run of one
task, as an ablation on one environment has, and give a seeded, printable ``Estimate``. rliable is
imported on first use: it costs seconds, and only reports need it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

Aggregate = Callable[[np.ndarray], float]


def _runs(scores) -> np.ndarray:
    """One score per run as rliable's ``(runs, tasks)`` matrix with one task."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("no scores")
    return scores[:, None]


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


def probability_of_improvement(x, y) -> float:
    """P(X > Y) + P(X = Y) / 2 over every pair of a run of ``x`` and a run of ``y`` (rliable's: the
    Mann-Whitney U statistic divided by ``len(x) * len(y)``); 0.5 means no difference.

    >>> probability_of_improvement([3, 4], [1, 3])   # pairs: 3>1, 3=3, 4>1, 4>3
    0.875
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


def _interval(score_arrays, func, samples: int, confidence: float, seed: int) -> Estimate:
    """rliable's percentile bootstrap: resample runs (independently per array), apply ``func``.

    rliable 1.2's stratified bootstraps draw their resamples with ``np.random.choice``, numpy's
    global generator, whatever ``random_state`` says (found here: the same seed gave different
    intervals; with it, arch also warns that it is deprecated). So the global generator is seeded for
    the call and put back as it was after it.
    """
    from rliable import library

    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            point, interval = library.get_interval_estimates(
                {"x": score_arrays},
                lambda *arrays: np.array([func(*arrays)]),
                reps=samples,
                confidence_interval_size=confidence,
            )
    finally:
        np.random.set_state(saved)
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


__all__ = [
    "Estimate",
    "bootstrap",
    "bootstrap_improvement",
    "interquartile_mean",
    "probability_of_improvement",
]
