"""What several processes agree on, in one collective, and how often they ask.

Under DDP every rank plays its own envs; a decision (stop at the bound, a new best model) must be
taken by all ranks at the same step, or the one that stops first leaves the others waiting in the
next gradient all-reduce. Each agreement is a collective, and a collective per step costs more
than a small MLP's update on a CPU, so the callbacks agree only every ``decision_interval`` steps
(a step number every rank knows), and pack what they need into one tensor. With one process
nothing is communicated and every step decides, so single-process runs are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch


def decision_interval(trainer: pl.Trainer) -> int:
    """Optimizer steps between two agreements: 1 in one process, ``log_every_n_steps`` with several."""
    return 1 if trainer.world_size == 1 else max(1, trainer.log_every_n_steps)


def summed_over_ranks(trainer: pl.Trainer, values: Sequence[float]) -> list[float]:
    """Each value summed over all ranks, in one all-reduce (the values themselves with one process)."""
    if trainer.world_size == 1:
        return [float(v) for v in values]
    packed = torch.tensor([float(v) for v in values], dtype=torch.float64, device=trainer.strategy.root_device)
    return trainer.strategy.reduce(packed, reduce_op="sum").tolist()


def any_rank(trainer: pl.Trainer, flags: Sequence[bool]) -> list[bool]:
    """For each flag, whether any rank raised it, in one all-reduce."""
    return [total > 0 for total in summed_over_ranks(trainer, [float(bool(f)) for f in flags])]


__all__ = ["any_rank", "decision_interval", "summed_over_ranks"]
