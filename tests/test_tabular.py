"""The lecture's tabular methods, checked against values known exactly."""

import gymnasium as gym
import numpy as np
import pytest

from lightning_dqn.tabular import (
    TransitionCounts,
    exact_model,
    greedy_success_rate,
    q_learning,
    q_value_iteration,
    success_probability,
    time_limited_optimum,
)


def lake(slippery: bool) -> gym.Env:
    return gym.make("FrozenLake-v1", is_slippery=slippery)


def estimated(env: gym.Env, steps: int) -> TransitionCounts:
    counts = TransitionCounts(16, 4)
    counts.play_random(env, steps=steps, seed=0)
    return counts


def test_value_iteration_reaches_the_known_optimal_values_on_the_deterministic_lake():
    p, r, terminal = exact_model(lake(False))
    q = q_value_iteration(p, r, gamma=0.9, terminal=terminal)
    v = q.max(axis=1)
    assert v[0] == pytest.approx(0.9**5)  # six steps to the goal, reward on the last
    assert v[14] == pytest.approx(1.0)  # next to the goal
    assert v[10] == pytest.approx(0.9)
    assert v[[5, 7, 11, 12, 15]].tolist() == [0.0] * 5  # holes and goal: nothing more to collect


def test_value_iteration_on_estimated_transitions_matches_the_exact_model():
    env = lake(False)
    counts = estimated(env, steps=5000)
    p_hat, r_hat = counts.model()
    p, r, terminal = exact_model(env)
    visited = counts.counts.sum(axis=2) > 0
    assert np.allclose(p_hat[visited], p[visited])  # deterministic: one observation suffices
    q_hat = q_value_iteration(p_hat, r_hat, gamma=0.9, terminal=terminal)
    assert q_hat.max(axis=1)[0] == pytest.approx(0.9**5)


def test_slippery_lake_ground_truth():
    p, r, terminal = exact_model(lake(True))
    policy = q_value_iteration(p, r, gamma=1.0, terminal=terminal, tol=1e-12).argmax(axis=1)
    assert success_probability(p, r, terminal, policy, steps=100) == pytest.approx(0.7402, abs=1e-4)
    assert success_probability(p, r, terminal, policy, steps=10_000) == pytest.approx(0.8235, abs=1e-4)
    # a policy that also knows the time left does a little better within the 100-step limit
    assert time_limited_optimum(p, r, terminal, steps=100) == pytest.approx(0.7442, abs=1e-4)


def test_estimated_value_iteration_finds_a_near_optimal_slippery_policy():
    env = lake(True)
    p_hat, r_hat = estimated(env, steps=50_000).model()
    p, r, terminal = exact_model(env)
    policy = q_value_iteration(p_hat, r_hat, gamma=0.99, terminal=terminal).argmax(axis=1)
    assert success_probability(p, r, terminal, policy, steps=100) == pytest.approx(0.7402, abs=1e-4)
    rate = greedy_success_rate(env, np.eye(4)[policy], episodes=1000, seed=1)
    assert abs(rate - 0.740) < 0.045  # 1000 episodes: standard error ~0.014


def test_q_learning_converges_on_the_deterministic_lake():
    env = lake(False)
    q = q_learning(env, steps=20_000, alpha=0.5, gamma=0.9, epsilon=1.0, seed=0)
    assert greedy_success_rate(env, q, episodes=5) == 1.0
    assert q.max(axis=1)[0] == pytest.approx(0.9**5, abs=1e-3)
