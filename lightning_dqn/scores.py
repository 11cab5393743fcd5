"""How sure we are that a variant helped: robust aggregates over seeds with bootstrap intervals.

A handful of seeds per variant is the norm in deep RL, and their mean is dragged by one outlier
while their median ignores most of them. Following Agarwal et al., "Deep RL at the Edge of the
Statistical Precipice" (NeurIPS 2021, the ``rliable`` library), a variant is summarised by its
**interquartile mean** (IQM: the mean of the middle half of its runs) with a **percentile bootstrap
95% interval** over runs, and two variants are compared by the **probability of improvement**
P(X > Y): the chance that a random run of one beats a random run of the other (ties count half).
All of it is plain numpy on one score per run, so the tests check it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Aggregate = Callable[[np.ndarray], float]


def interquartile_mean(scores) -> float:
    """Mean of the scores left after cutting ``int(n / 4)`` from each end (``scipy.stats.trim_mean``
    with ``proportiontocut=0.25``, as ``rliable`` computes it).

    >>> interquartile_mean([1, 2, 3, 4, 100])   # cuts 1 and 100
    3.0
    >>> interquartile_mean([0, 1, 2, 3, 4, 5, 6, 7])   # cuts 0, 1 and 6, 7
    3.5
    """
    ordered = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if ordered.size == 0:
        raise ValueError("no scores")
    cut = int(0.25 * ordered.size)
    return float(ordered[cut : ordered.size - cut].mean())


def probability_of_improvement(x, y) -> float:
    """P(X > Y) + P(X = Y) / 2 over every pair of a run of ``x`` and a run of ``y`` (the
    Mann-Whitney U statistic divided by ``len(x) * len(y)``); 0.5 means no difference.

    >>> probability_of_improvement([3, 4], [1, 3])   # pairs: 3>1, 3=3, 4>1, 4>3
    0.875
    """
    x = np.asarray(x, dtype=np.float64).ravel()[:, None]
    y = np.asarray(y, dtype=np.float64).ravel()[None, :]
    if x.size == 0 or y.size == 0:
        raise ValueError("no scores")
    return float(((x > y) + 0.5 * (x == y)).mean())


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap(
    scores, aggregate: Aggregate = interquartile_mean, samples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """``aggregate(scores)`` with a percentile bootstrap interval: ``samples`` resamples of the runs,
    drawn with replacement, each aggregated; the interval holds the central ``confidence`` of them.
    Seeded, so a report is the same every time it is made."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("no scores")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, scores.size, size=(samples, scores.size))
    resampled = np.array([aggregate(scores[row]) for row in picks])
    return Estimate(aggregate(scores), *_percentile_interval(resampled, confidence))


def bootstrap_improvement(x, y, samples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Estimate:
    """``probability_of_improvement(x, y)`` with a bootstrap interval (both sides resampled)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    resampled = np.array(
        [
            probability_of_improvement(x[rng.integers(0, x.size, x.size)], y[rng.integers(0, y.size, y.size)])
            for _ in range(samples)
        ]
    )
    return Estimate(probability_of_improvement(x, y), *_percentile_interval(resampled, confidence))


__all__ = [
    "Estimate",
    "bootstrap",
    "bootstrap_improvement",
    "interquartile_mean",
    "probability_of_improvement",
]
