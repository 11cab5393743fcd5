"""The optimizer behind ``model.optimizer``: Adam, or the centered RMSProp of the DQN papers.

``model.lr`` is the one learning rate of either. Each optimizer's constants are named after it
(``model.adam_eps``; ``model.rmsprop_alpha``, ``model.rmsprop_eps``, ``model.rmsprop_centered``),
so a config says which optimizer a number belongs to. The defaults are PyTorch's for Adam and the
MinAtar paper's for RMSProp (Young & Tian 2019: alpha 0.95, eps 0.01, centered, the constants of
its PyTorch code).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lightning_dqn.errors import require

OPTIMIZERS = ("adam", "rmsprop")


def check_optimizer(name: str, adam_eps: float, rmsprop_alpha: float, rmsprop_eps: float) -> None:
    """A ``ConfigError`` naming the field, for an unknown optimizer or a constant out of range."""
    require(name in OPTIMIZERS, "model.optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    require(adam_eps > 0.0, "model.adam_eps", f"must be > 0, got {adam_eps}")
    require(0.0 <= rmsprop_alpha < 1.0, "model.rmsprop_alpha", f"must be in [0, 1), got {rmsprop_alpha}")
    require(rmsprop_eps > 0.0, "model.rmsprop_eps", f"must be > 0, got {rmsprop_eps}")


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    adam_eps: float,
    rmsprop_alpha: float,
    rmsprop_eps: float,
    rmsprop_centered: bool,
    fused: bool,
) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``torch.optim.RMSprop`` over ``params`` (``fused``: Adam in one kernel).

    Centered RMSProp divides by ``sqrt(E[g^2] - E[g]^2) + eps``. That is PyTorch's form and the one
    MinAtar's code ran (DeepMind's Lua DQN put ``eps`` inside the root).
    """
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=rmsprop_alpha, eps=rmsprop_eps, centered=rmsprop_centered)
    return torch.optim.Adam(params, lr=lr, eps=adam_eps, fused=fused)


__all__ = ["OPTIMIZERS", "check_optimizer", "make_optimizer"]
