"""The lecture's tabular methods for small discrete envs, and the ground truth they give DQN.

- Value iteration, Q-function variant, on transition probabilities *estimated* from observed random
  transitions: ``Q(s,a) <- sum_s' p(s'|s,a) [r(s,a,s') + gamma max_a' Q(s',a')]``.
- Tabular Q-learning, the Bellman update with momentum:
  ``Q(s,a) <- (1 - alpha) Q(s,a) + alpha [r + gamma max_a' Q(s',a')]``.
- The exact success rate of a policy under a step limit, from the env's own transition table
  (``env.unwrapped.P``): the number a DQN policy on FrozenLake is compared with.

Numpy only; states and actions are the env's integers (no one-hot here).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class TransitionCounts:
    """Observed ``(s, a, r, s')`` tallies, turned into estimated ``p(s'|s,a)`` and ``r(s,a,s')``."""

    def __init__(self, n_states: int, n_actions: int):
        self.counts = np.zeros((n_states, n_actions, n_states))
        self.reward_sums = np.zeros((n_states, n_actions, n_states))

    def observe(self, state: int, action: int, reward: float, next_state: int) -> None:
        self.counts[state, action, next_state] += 1
        self.reward_sums[state, action, next_state] += reward

    def play_random(self, env: gym.Env, steps: int, seed: int = 0) -> None:
        """The lecture's "take a series of random steps": uniformly random actions for ``steps`` steps."""
        rng = np.random.default_rng(seed)
        state, _ = env.reset(seed=seed)
        for _ in range(steps):
            action = int(rng.integers(env.action_space.n))
            next_state, reward, terminated, truncated, _ = env.step(action)
            self.observe(state, action, float(reward), next_state)
            state = env.reset()[0] if terminated or truncated else next_state

    def model(self) -> tuple[np.ndarray, np.ndarray]:
        """``(p, r)``, both ``[S, A, S]``; unvisited ``(s, a)`` pairs get all-zero probabilities."""
        totals = self.counts.sum(axis=2, keepdims=True)
        p = np.divide(self.counts, totals, out=np.zeros_like(self.counts), where=totals > 0)
        r = np.divide(self.reward_sums, self.counts, out=np.zeros_like(self.counts), where=self.counts > 0)
        return p, r


def exact_model(env: gym.Env) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, r, terminal)`` from a toy-text env's own table ``env.unwrapped.P``.

    ``terminal[s]`` marks states whose every transition ends the episode (holes and goal).
    """
    table = env.unwrapped.P
    n_states, n_actions = len(table), len(table[0])
    p = np.zeros((n_states, n_actions, n_states))
    r = np.zeros((n_states, n_actions, n_states))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s2, reward, done in table[s][a]:
                p[s, a, s2] += prob
                r[s, a, s2] = reward
                terminal[s2] |= done
    return p, r, terminal


def q_value_iteration(
    p: np.ndarray,
    r: np.ndarray,
    gamma: float,
    terminal: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iters: int = 100_000,
) -> np.ndarray:
    """Iterate ``Q(s,a) <- sum_s' p(s'|s,a) [r(s,a,s') + gamma max_a' Q(s',a')]`` until it stops changing.

    ``terminal`` states contribute no future value (their episodes are over). Example: on the
    deterministic 4x4 lake with gamma 0.9 the start state's value is ``0.9**5``, the goal being six
    steps away with its reward of 1 on the last one.
    """
    q = np.zeros(p.shape[:2])
    alive = np.ones(p.shape[0]) if terminal is None else (~terminal).astype(float)
    for _ in range(max_iters):
        next_value = q.max(axis=1) * alive
        new_q = (p * (r + gamma * next_value[None, None, :])).sum(axis=2)
        if np.abs(new_q - q).max() < tol:
            return new_q
        q = new_q
    return q


def q_learning(
    env: gym.Env, steps: int, alpha: float = 0.2, gamma: float = 0.9, epsilon: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Tabular Q-learning: for ``steps`` env steps, ``Q(s,a) <- (1-alpha) Q(s,a) + alpha [r + gamma max Q(s')]``.

    Actions are epsilon-greedy (the lecture samples them at random: ``epsilon=1``); a terminated
    transition's target is the reward alone.
    """
    rng = np.random.default_rng(seed)
    q = np.zeros((env.observation_space.n, env.action_space.n))
    state, _ = env.reset(seed=seed)
    for _ in range(steps):
        if rng.random() < epsilon:
            action = int(rng.integers(env.action_space.n))
        else:
            action = int(q[state].argmax())
        next_state, reward, terminated, truncated, _ = env.step(action)
        target = reward + (0.0 if terminated else gamma * q[next_state].max())
        q[state, action] = (1 - alpha) * q[state, action] + alpha * target
        state = env.reset()[0] if terminated or truncated else next_state
    return q


def success_probability(p: np.ndarray, r: np.ndarray, terminal: np.ndarray, policy: np.ndarray, steps: int) -> float:
    """Exact probability that ``policy`` (one action per state) collects the reward within ``steps``.

    Propagates the state distribution from state 0 through ``p``; mass that reaches a rewarding
    transition counts as success, mass in any terminal state stops. FrozenLake 4x4 slippery, the
    best fixed policy (value iteration, gamma -> 1): 0.740 within gymnasium's 100-step limit, 0.824
    with no limit.
    """
    n_states = p.shape[0]
    chosen_p = p[np.arange(n_states), policy]  # [S, S]
    chosen_r = r[np.arange(n_states), policy]
    dist = np.zeros(n_states)
    dist[0] = 1.0
    success = 0.0
    for _ in range(steps):
        success += float((dist[:, None] * chosen_p * (chosen_r > 0)).sum())
        dist = dist @ chosen_p
        dist[terminal] = 0.0
    return success


def time_limited_optimum(p: np.ndarray, r: np.ndarray, terminal: np.ndarray, steps: int) -> float:
    """Best achievable success probability from state 0 within ``steps``, by a policy that may also
    look at the time left (finite-horizon value iteration). FrozenLake 4x4 slippery, 100 steps:
    0.744. A policy of the state alone, like a DQN's, can reach 0.740 (``success_probability``).
    """
    value = np.zeros(p.shape[0])
    for _ in range(steps):
        value = (p * (r + value[None, None, :] * ~terminal[None, None, :])).sum(axis=2).max(axis=1)
    return float(value[0])


def greedy_success_rate(env: gym.Env, q: np.ndarray, episodes: int, seed: int = 0) -> float:
    """Fraction of ``episodes`` greedy episodes that end with a positive reward (Monte Carlo)."""
    wins = 0
    state, _ = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(q[state].argmax()))
            done = terminated or truncated
        wins += reward > 0
        state, _ = env.reset()
    return wins / episodes


__all__ = [
    "TransitionCounts",
    "exact_model",
    "greedy_success_rate",
    "q_learning",
    "q_value_iteration",
    "success_probability",
    "time_limited_optimum",
]
