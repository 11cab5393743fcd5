"""The statistics behind an ablation report, checked against values worked out by hand."""

import numpy as np
import pytest

from lightning_dqn.scores import (
    bootstrap,
    bootstrap_improvement,
    interquartile_mean,
    probability_of_improvement,
)


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([7.0], 7.0),  # one run: nothing to cut
        ([1, 3], 2.0),  # int(2 / 4) = 0 cut
        ([1, 2, 3, 4, 100], 3.0),  # int(5 / 4) = 1 cut from each end: mean of 2, 3, 4
        ([0, 1, 2, 3, 4, 5, 6, 7], 3.5),  # 2 cut from each end: mean of 2, 3, 4, 5
        ([10, -50, 0, 10, 500, 10, 20, 10], 10.0),  # order does not matter; outliers are cut
    ],
)
def test_interquartile_mean_is_the_mean_of_the_middle_half(scores, expected):
    assert interquartile_mean(scores) == pytest.approx(expected)


def test_interquartile_mean_lies_between_median_and_mean_for_a_skewed_sample():
    scores = [0, 0, 1, 1, 1, 2, 2, 50]
    assert np.median(scores) <= interquartile_mean(scores) < np.mean(scores)


def test_probability_of_improvement_counts_pairs_and_half_ties():
    assert probability_of_improvement([3, 4], [1, 3]) == pytest.approx(0.875)  # 3>1, 3=3, 4>1, 4>3
    assert probability_of_improvement([5, 6], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [5, 6]) == 0.0
    assert probability_of_improvement([2, 2], [2, 2]) == 0.5
    x, y = [1, 4, 6], [2, 3, 5, 7]
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_bootstrap_is_seeded_and_brackets_its_estimate():
    rng = np.random.default_rng(1)
    scores = rng.normal(100.0, 20.0, size=10)
    first = bootstrap(scores, samples=1000, seed=3)
    assert first == bootstrap(scores, samples=1000, seed=3), "a report is the same every time"
    assert first.value == pytest.approx(interquartile_mean(scores))
    assert first.low < first.value < first.high
    assert bootstrap(scores, aggregate=np.mean, samples=1000).value == pytest.approx(scores.mean())


def test_bootstrap_leaves_numpys_global_generator_as_it_found_it():
    np.random.seed(5)
    expected = np.random.rand(3)
    np.random.seed(5)
    bootstrap([1.0, 2.0, 5.0, 9.0], samples=300, seed=11)
    bootstrap_improvement([1.0, 2.0], [3.0, 0.5], samples=300, seed=11)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_bootstrap_interval_narrows_with_more_runs_and_vanishes_without_spread():
    rng = np.random.default_rng(0)
    few = bootstrap(rng.normal(0.0, 1.0, size=5), samples=2000)
    many = bootstrap(rng.normal(0.0, 1.0, size=200), samples=2000)
    assert many.high - many.low < (few.high - few.low) / 2
    constant = bootstrap([4.0, 4.0, 4.0], samples=200)
    assert (constant.value, constant.low, constant.high) == (4.0, 4.0, 4.0)


def test_bootstrap_interval_covers_the_true_mean_about_as_often_as_it_claims():
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(200):
        sample = rng.normal(0.0, 1.0, size=30)
        estimate = bootstrap(sample, aggregate=np.mean, samples=400, seed=int(rng.integers(1 << 30)))
        covered += estimate.low <= 0.0 <= estimate.high
    assert 0.85 <= covered / 200 <= 0.99  # a percentile interval under-covers a little at n = 30


def test_bootstrap_improvement_is_certain_only_for_separated_samples():
    separated = bootstrap_improvement([10, 11, 12], [1, 2, 3], samples=500)
    assert (separated.value, separated.low, separated.high) == (1.0, 1.0, 1.0)
    overlapping = bootstrap_improvement([1, 2, 3, 4, 5], [2, 3, 4, 5, 6], samples=2000)
    assert overlapping.low < 0.5 < overlapping.high, "overlapping samples cannot exclude 'no difference'"
    assert overlapping.value == pytest.approx(probability_of_improvement([1, 2, 3, 4, 5], [2, 3, 4, 5, 6]))


def test_no_scores_is_an_error():
    with pytest.raises(ValueError):
        interquartile_mean([])
    with pytest.raises(ValueError):
        probability_of_improvement([], [1.0])

