"""n-step transitions made as the agent plays, for the ``transitions`` layout.

The ``frames`` layout keeps one row per step and rebuilds n-step windows each time it samples;
that costs ~0.5 ms per batch of 128 here against ~0.1 ms for stored transitions, which on
CartPole's small MLP is more than the frames n-step saves. Here each env's last ``n_step`` steps
wait in a small ring; a transition is written once its window is complete (``n_step`` steps
later, or when the episode ends first), so sampling stays the plain uniform draw.

A written transition has the same keys as the frames layout's: ``("next", "reward")`` holds the
``n_step`` rewards (zeros after the end), ``("next", "steps")`` the m <= ``n_step`` steps they
span, ``("next", "observation")`` the observation m steps on, and ``terminated``/``truncated``
the flags of the window's last step, so the loss bootstraps with ``gamma^m`` unless it ended.

Why not TorchRL's ``MultiStepTransform``: it sums the rewards (the loss here takes them one by
one, as the frames layout gives them), leaves the done flags of the window's *first* step on
the transition, and wants ``[env, time]`` batches with a mask for gymnasium's autoreset steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the agent's module imports this one
    from lightning_dqn.agent import AgentStep

# (obs, action, rewards [k, n], next_obs, terminated, truncated, steps [k]) of k transitions, in the
# order ``agent.transitions_to_tensordict`` takes them
NStepArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class NStepTransitions:
    """Per env, the steps whose n-step windows are still open; ``push`` returns those it closes.

    One env, 2-step windows, an episode of three steps (rewards 1, 2, 3; the third terminates):

    >>> from lightning_dqn.agent import AgentStep
    >>> def step(t, done=False, real=True):
    ...     return AgentStep(obs=np.array([[t]]), obs_step=np.array([t]), action=np.array([0]),
    ...         reward=np.array([t + 1.0]), next_obs=np.array([[t + 1]]), terminated=np.array([done]),
    ...         truncated=np.array([False]), real=np.array([real]))
    >>> windows = NStepTransitions(n_step=2)
    >>> windows.push(step(0)) is None    # the window of step 0 is open
    True
    >>> obs, _, rewards, next_obs, terminated, _, steps = windows.push(step(1))
    >>> obs.ravel().tolist(), rewards.tolist(), steps.tolist(), next_obs.ravel().tolist()
    ([0], [[1.0, 2.0]], [2], [2])
    >>> obs, _, rewards, next_obs, terminated, _, steps = windows.push(step(2, done=True))
    >>> obs.ravel().tolist(), rewards.tolist(), steps.tolist(), next_obs.ravel().tolist(), terminated.tolist()
    ([1, 2], [[2.0, 3.0], [3.0, 0.0]], [2, 1], [3, 3], [True, True])
    """

    def __init__(self, n_step: int):
        self.n_step = n_step
        self._t = 0  # steps pushed: the ring slot of a step is its number modulo n_step
        # allocated at the first push, from its shapes: [n_step, num_envs, ...] rings and, per env,
        # how many of its latest steps have an open window
        self._obs = self._action = self._reward = self._open = None

    def drop_open(self) -> None:
        """Forget the open windows: the envs start fresh episodes (a second ``fit``)."""
        if self._open is not None:
            self._open[:] = 0

    def push(self, step: AgentStep) -> NStepArrays | None:
        """Adds one step of every env; returns the transitions it completes (None if none)."""
        n, slot = self.n_step, self._t % self.n_step
        self._t += 1
        if self._obs is None:
            self._obs = np.zeros((n, *step.obs.shape), dtype=step.obs.dtype)
            self._action = np.zeros((n, *step.action.shape), dtype=step.action.dtype)
            self._reward = np.zeros((n, *step.reward.shape), dtype=np.float64)
            self._open = np.zeros(len(step.real), dtype=np.int64)
        self._obs[slot], self._action[slot], self._reward[slot] = step.obs, step.action, step.reward
        # an autoreset step (not real) is no transition: its env has no open window after it
        self._open = np.where(step.real, self._open + 1, 0)
        ended = step.real & (step.terminated | step.truncated)
        chunks = []
        full = np.flatnonzero((self._open == n) & ~ended)
        if len(full):  # the oldest open window of these envs now spans n steps
            chunks.append(self._close(step, full, np.full(len(full), n)))
            self._open[full] -= 1
        for env in np.flatnonzero(ended):  # every open window of the env ends with its episode
            opened = int(self._open[env])
            chunks.append(self._close(step, np.full(opened, env), np.arange(opened, 0, -1)))
            self._open[env] = 0
        if not chunks:
            return None
        return chunks[0] if len(chunks) == 1 else tuple(np.concatenate(parts) for parts in zip(*chunks))

    def _close(self, step: AgentStep, envs: np.ndarray, spans: np.ndarray) -> NStepArrays:
        """Transitions of ``envs`` whose windows began ``spans`` steps ago (this step included)."""
        n, slot = self.n_step, (self._t - 1) % self.n_step
        starts = (slot - spans + 1) % n
        rewards = np.zeros((len(envs), n), dtype=np.float32)
        for k in range(n):  # the k-th reward of each window, where its window reaches that far
            within = spans > k
            rewards[within, k] = self._reward[(starts[within] + k) % n, envs[within]]
        return (
            self._obs[starts, envs],
            self._action[starts, envs],
            rewards,
            step.next_obs[envs],
            step.terminated[envs],
            step.truncated[envs],
            spans.astype(np.int64),
        )


__all__ = ["NStepArrays", "NStepTransitions"]
