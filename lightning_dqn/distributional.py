"""Distributional (C51) value learning as pure functions (Bellemare et al. 2017; torch only).

C51 learns, for each action, a probability over a fixed *support* of ``N`` return values
``z_1 < ... < z_N`` (51 atoms on [-10, 10] in the paper) instead of one expected value. The target
is the distribution of ``r + gamma^m * Z(s', a*)``: each target atom ``r + gamma^m z_j`` carries the
probability of ``z_j`` and is shared between the two support points around it, in proportion to
how close it lies. The loss is the cross-entropy between that projected target and the predicted
distribution. ``Q(s, a)``, for acting and for double-Q selection, is the distribution's mean.

The projection is Dopamine's dense form: support point ``z_i`` receives
``sum_j clip(1 - |clip(Tz_j) - z_i| / dz, 0, 1) * p_j``. A target atom that lands exactly on a
support point gives it all its mass; the floor/ceil form many tutorials copied loses that mass
(``l == u`` gives both neighbours a weight of 0). Here every projected row sums to 1.
"""

from __future__ import annotations

import torch
from torch import Tensor


def categorical_support(v_min: float, v_max: float, atoms: int) -> Tensor:
    """The ``atoms`` evenly spaced return values from ``v_min`` to ``v_max``.

    >>> categorical_support(-10.0, 10.0, 5)
    tensor([-10.,  -5.,   0.,   5.,  10.])
    """
    return torch.linspace(v_min, v_max, atoms)


def expected_value(logits: Tensor, support: Tensor) -> Tensor:
    """The mean of each categorical distribution: logits ``[..., N]`` and support ``[N]`` -> ``[...]``.

    >>> expected_value(torch.log(torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])), torch.tensor([0.0, 1.0, 2.0]))
    tensor([0.5000, 2.0000])
    """
    return (torch.softmax(logits, dim=-1) * support).sum(dim=-1)


def target_support(reward: Tensor, terminated: Tensor, discount: float | Tensor, support: Tensor) -> Tensor:
    """Where each support point lands under the Bellman update: ``r + discount * z``, ``[B, N]``.

    ``reward`` and ``terminated`` are ``[B]``; ``discount`` is gamma or a per-sample ``[B]`` gamma**m
    (n-step). A terminated sample does not bootstrap: all its atoms land on ``r``.

    Example (gamma 0.5, support [-2, 0, 2])::

        reward [1, 3], terminated [False, True]
        -> [[1 - 1, 1 + 0, 1 + 1], [3, 3, 3]] = [[0, 1, 2], [3, 3, 3]]
    """
    alive = (~terminated.bool()).to(support.dtype)
    discount = torch.as_tensor(discount, dtype=support.dtype, device=support.device)
    return reward.to(support.dtype).reshape(-1, 1) + (discount * alive).reshape(-1, 1) * support


def project_distribution(atoms: Tensor, probabilities: Tensor, support: Tensor) -> Tensor:
    """Projects the distributions on ``atoms`` ``[B, M]`` with ``probabilities`` ``[B, M]`` onto ``support`` ``[N]``.

    Atoms outside ``[support[0], support[-1]]`` are first moved to the nearest end; each then shares
    its probability between its two neighbouring support points, by distance. The support must be
    evenly spaced. Returns ``[B, N]``, each row summing to its row of ``probabilities``.

    Dopamine's worked example (``project_distribution``): atoms ``[[0, 2, 4, 6, 8], [1, 3, 4, 5, 6]]``
    with probabilities ``[[.1, .6, .1, .1, .1], [.1, .2, .5, .1, .1]]`` onto support ``[4, 5, 6, 7, 8]``
    give ``[[.8, 0, .1, 0, .1], [.8, .1, .1, 0, 0]]``. An atom between two points splits:

    >>> project_distribution(torch.tensor([[0.5, 2.0]]), torch.tensor([[0.6, 0.4]]), torch.tensor([0.0, 1.0, 2.0]))
    tensor([[0.3000, 0.3000, 0.4000]])
    """
    spacing = support[1] - support[0]
    clipped = atoms.clamp(support[0], support[-1])  # [B, M]
    # weight of support point i for atom j: 1 at distance 0, falling to 0 at one spacing away
    distance = (clipped.unsqueeze(1) - support.view(1, -1, 1)).abs() / spacing  # [B, N, M]
    weights = (1.0 - distance).clamp(0.0, 1.0)
    return (weights * probabilities.unsqueeze(1)).sum(dim=2)


def categorical_cross_entropy(target_probabilities: Tensor, logits: Tensor) -> Tensor:
    """Per-sample ``-sum_i m_i log p_i`` between a fixed target ``[B, N]`` and predicted logits ``[B, N]``.

    >>> categorical_cross_entropy(torch.tensor([[0.0, 1.0]]), torch.log(torch.tensor([[0.5, 0.5]])))
    tensor([0.6931])
    """
    return -(target_probabilities.detach() * torch.log_softmax(logits, dim=-1)).sum(dim=-1)


__all__ = [
    "categorical_cross_entropy",
    "categorical_support",
    "expected_value",
    "project_distribution",
    "target_support",
]
