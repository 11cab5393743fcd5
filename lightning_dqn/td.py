"""Temporal-difference math of DQN as pure functions (torch only, no Lightning, no envs).

Kept apart from the module so each formula can be checked by hand in a unit test and reused by
every variant (double Q, n-step, ...) without copying a training step.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

LOSSES = ("mse", "huber")


def td_target(reward: Tensor, terminated: Tensor, next_value: Tensor, discount: float | Tensor) -> Tensor:
    """Bellman target ``r + discount * V(s')`` with ``V(s')`` zeroed where the episode terminated.

    Shapes: ``reward``, ``terminated``, ``next_value`` are ``[B]``; ``discount`` is a float
    (gamma) or a per-sample ``[B]`` tensor (gamma**k for k-step returns). A *truncated* episode
    (time limit) is not terminated: it bootstraps from the true last observation.

    Example (gamma 0.9)::

        reward     = [1.0, 0.0, 2.0]
        terminated = [False, True, False]
        next_value = [10.0, 10.0, -1.0]
        -> [1 + 0.9 * 10, 0 + 0, 2 + 0.9 * -1] = [10.0, 0.0, 1.1]
    """
    alive = (~terminated.bool()).to(next_value.dtype)
    return reward.to(next_value.dtype) + discount * alive * next_value


def n_step_return(rewards: Tensor, steps: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """Discounted sum of up to n rewards and the discount ``gamma**m`` for the bootstrap after them.

    ``rewards`` is ``[B, n]`` with zeros after each sample's last step; ``steps`` ``[B]`` holds m,
    the steps actually taken (fewer than n when the episode ended first). The bootstrap discount is
    per sample: an episode that ended after 2 of 3 steps bootstraps (if truncated) with gamma**2,
    not gamma**3.

    Example (gamma 0.5)::

        rewards = [[1.0, 1.0, 1.0], [2.0, 4.0, 0.0]]
        steps   = [3, 2]
        -> returns [1 + 0.5 + 0.25, 2 + 0.5 * 4] = [1.75, 4.0], discounts [0.125, 0.25]
    """
    powers = gamma ** torch.arange(rewards.shape[1], dtype=rewards.dtype, device=rewards.device)
    return (rewards * powers).sum(dim=1), gamma ** steps.to(rewards.dtype)


def max_next_value(target_q_next: Tensor) -> Tensor:
    """``max_a' Q*(s', a')`` from the target network's ``[B, A]`` output; never differentiated."""
    return target_q_next.detach().max(dim=1).values


def double_q_next_value(online_q_next: Tensor, target_q_next: Tensor) -> Tensor:
    """Double DQN's ``Q*(s', argmax_a' Q(s', a'))``: the online net picks, the target net values.

    Taking the max of one noisy estimate overestimates (van Hasselt et al., 2016); splitting the
    choice from the valuation removes most of that bias. Both inputs are ``[B, A]``; returns ``[B]``.

    Example::

        online = [[1.0, 3.0], [5.0, 2.0]]   # picks actions 1 and 0
        target = [[7.0, 4.0], [6.0, 9.0]]
        -> [4.0, 6.0]                       # where max_next_value(target) gives [7.0, 9.0]
    """
    best = online_q_next.argmax(dim=1, keepdim=True)
    return target_q_next.detach().gather(1, best).squeeze(1)


def chosen_q(q: Tensor, action: Tensor) -> Tensor:
    """``Q(s, a)`` for the taken actions: ``q`` is ``[B, A]``, ``action`` ``[B]`` ints -> ``[B]``."""
    return q.gather(1, action.long().view(-1, 1)).squeeze(1)


def td_loss(q_sa: Tensor, target: Tensor, kind: str = "mse", weight: Tensor | None = None) -> Tensor:
    """Mean regression loss between ``Q(s, a)`` and a fixed target, each sample scaled by ``weight``.

    ``mse`` is the seed's ``nn.MSELoss``; ``huber`` (smooth L1 with delta 1, as in the Nature DQN
    paper's error clipping) keeps large early errors from blowing up the gradients. ``weight``
    ([B]) is prioritized replay's importance weight.

    >>> td_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), weight=torch.tensor([1.0, 0.5]))
    tensor(1.5000)
    """
    target = target.detach()
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    elementwise = F.mse_loss if kind == "mse" else F.smooth_l1_loss
    if weight is None:
        return elementwise(q_sa, target)
    return (weight * elementwise(q_sa, target, reduction="none")).mean()


__all__ = [
    "LOSSES",
    "chosen_q",
    "double_q_next_value",
    "max_next_value",
    "n_step_return",
    "td_loss",
    "td_target",
]
